use crate::{Latent, LogCosh, Loss, MomentPoint, Regularizer};
use hdgan_core::{Lambda, MacroState, ParamError};
use serde::{Deserialize, Serialize};

/// A validated problem (THEORY §1). Engines only ever see this type: every float is finite,
/// learning rates are positive, noise variances non-negative, latent moments symmetric PSD
/// and `2d + 1 <= n`. Build it with [`crate::ModelConfig::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Ambient dimension n.
    pub n: usize,
    /// Number of features d.
    pub d: usize,
    /// Discriminator learning rate tau.
    pub tau: f64,
    /// Generator learning rate tau~.
    pub tau_tilde: f64,
    /// Real-data noise variance eta_T.
    pub eta_t: f64,
    /// Generator noise variance eta_G.
    pub eta_g: f64,
    /// Regularisation strength.
    pub lambda: Lambda,
    /// Law of the real latent c.
    pub latent: Latent,
    /// Law of the generator's latent c~.
    pub latent_tilde: Latent,
    /// Discriminator loss family.
    pub loss: Loss,
    /// Elementwise L1 penalty on w (see [`crate::ModelConfig::l1`]); 0 means none.
    pub l1: f64,
    /// Number of discriminator features p (1: the paper's single feature `w`).
    pub p: usize,
    /// The constraint of lambda = inf on `W` and `V` (p > 1).
    pub constraint: Constraint,
}

/// The constraint of `lambda = inf` on the columns of `W` and `V` (`model.constraint`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Constraint {
    /// Every column of `W` and of `V` normalised on its own (the paper's projection).
    #[default]
    Columns,
    /// `W` and `V` orthonormal (Gram-Schmidt in column order), as in Bond & Dogan's code.
    Orthonormal,
}

impl Constraint {
    /// Whether this is the default.
    pub fn is_columns(&self) -> bool {
        *self == Constraint::Columns
    }
}

/// Which form of `h` the general ODE uses (THEORY §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HForm {
    /// `h = eta_T <f'> - eta_G <f~'> - lambda H'(z)`, from Stein's lemma (THEORY §4).
    #[default]
    Corrected,
    /// The paper's printed `h = <f'> - <f~'> - lambda H'(z)`, without the noise variances.
    /// Kept only so that validation can show it disagrees with simulation.
    AsPrinted,
}

/// The coefficients `(g, g~, h, L, b)` of the limiting ODE (8)-(9) at one macroscopic state.
#[derive(Clone, Debug, PartialEq)]
pub struct OdeCoefficients {
    /// `g = < c f(c^T q + e sqrt(z eta_T)) >`.
    pub g: Vec<f64>,
    /// `g~ = < c~ f~(c~^T r + e sqrt(z eta_G)) >`.
    pub g_tilde: Vec<f64>,
    /// `h = eta_T <f'> - eta_G <f~'> - lambda H'(z)`.
    pub h: f64,
    /// Diagonal of `L = -lambda diag(H'(S_11), .., H'(S_dd))`.
    pub l: Vec<f64>,
    /// `b = eta_T <f^2> + eta_G <f~^2>`.
    pub b: f64,
}

impl Model {
    /// Refuses a loss other than the quadratic one (Example 1) for a tool derived for it
    /// alone (the reduced ODE, the Gram engine, the multi-feature engine and ODE,
    /// stability, the PDE coefficients, the effective-covariance modes); `what` names the
    /// tool in the error, which names `model.loss`.
    pub fn require_quadratic(&self, what: &str) -> Result<(), ParamError> {
        if self.loss != crate::Loss::Quadratic {
            return Err(ParamError::rule(
                "model.loss",
                format!(
                    "must be \"quadratic\" for {what}, got {:?} (it is derived for the quadratic loss of Example 1 only)",
                    self.loss
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a multi-feature model (`p > 1`) for a tool that describes the single-feature
    /// discriminator only; `what` names the tool in the error.
    pub fn require_single_feature(&self, what: &str) -> Result<(), ParamError> {
        if self.p > 1 {
            return Err(ParamError::rule(
                "model.p",
                format!(
                    "must be 1 for {what}, got {} (it describes one discriminator feature; a p-feature config runs with `hdgan run`)",
                    self.p
                ),
            ));
        }
        Ok(())
    }

    /// [`Model::require_single_feature`], and refuses the orthonormal constraint with
    /// `d > 1` (where it differs from the paper's column-normalised generator): for the
    /// tools built on the paper's single-feature equations (the reduced and general ODEs,
    /// their fixed points and the row SDE); `what` names the tool in the error.
    pub fn require_paper_model(&self, what: &str) -> Result<(), ParamError> {
        self.require_single_feature(what)?;
        if self.constraint == Constraint::Orthonormal && self.d > 1 {
            return Err(ParamError::rule(
                "model.constraint",
                format!(
                    "must be \"columns\" for {what} with d = {} > 1 (it describes the paper's column-normalised model; the orthonormal model runs with `hdgan run` and `hdgan modes --run`)",
                    self.d
                ),
            ));
        }
        Ok(())
    }

    /// Whether this model is simulated by the multi-feature engine and described by the
    /// multi-feature ODE: `p > 1`, or the orthonormal constraint (whose Gram-Schmidt step
    /// only the literal multi-feature step performs).
    pub fn needs_multi_engine(&self) -> bool {
        self.p > 1 || self.constraint == Constraint::Orthonormal
    }

    /// `eta^2 = (eta_T^2 + eta_G^2) / 2` (eq. 14).
    pub fn eta_sq(&self) -> f64 {
        0.5 * (self.eta_t * self.eta_t + self.eta_g * self.eta_g)
    }

    /// `alpha = tau~ / tau` (Claim 1).
    pub fn alpha(&self) -> f64 {
        self.tau_tilde / self.tau
    }

    /// The regulariser `H` (Example 1's log-cosh).
    pub fn regularizer(&self) -> LogCosh {
        LogCosh
    }

    /// The coefficients of ODE (8)-(9) at `state`, for finite lambda (for infinite lambda
    /// the regulariser terms are dropped; the reduced ODE replaces them by multipliers).
    pub fn ode_coefficients(&self, state: &MacroState, form: HForm) -> OdeCoefficients {
        self.ode_coefficients_with(&*self.loss, state, form)
    }

    /// Where the loss's averages are taken at overlaps `(q, r, z)` of this model: its
    /// latent laws and noise variances.
    pub fn moment_point<'a>(&'a self, q: &'a [f64], r: &'a [f64], z: f64) -> MomentPoint<'a> {
        MomentPoint {
            latent: &self.latent,
            latent_tilde: &self.latent_tilde,
            q,
            r,
            z,
            eta_t: self.eta_t,
            eta_g: self.eta_g,
        }
    }

    /// [`Model::ode_coefficients`] with the averages of `loss` in place of the model's
    /// (e.g. [`crate::ByQuadrature`]).
    pub fn ode_coefficients_with(
        &self,
        loss: &dyn crate::DiscriminatorLoss,
        state: &MacroState,
        form: HForm,
    ) -> OdeCoefficients {
        let m = loss.moments(self.moment_point(&state.q, &state.r, state.z));
        let lambda = match self.lambda {
            Lambda::Finite(l) => l,
            Lambda::Infinite => 0.0,
        };
        let reg = self.regularizer();
        let (wt, wg) = match form {
            HForm::Corrected => (self.eta_t, self.eta_g),
            HForm::AsPrinted => (1.0, 1.0),
        };
        let h = wt * m.f_prime_mean - wg * m.f_tilde_prime_mean - lambda * reg.h_prime(state.z);
        let l = (0..self.d)
            .map(|j| -lambda * reg.h_prime(state.s[(j, j)]))
            .collect();
        let b = self.eta_t * m.f_sq_mean + self.eta_g * m.f_tilde_sq_mean;
        OdeCoefficients {
            g: m.g,
            g_tilde: m.g_tilde,
            h,
            l,
            b,
        }
    }
}
