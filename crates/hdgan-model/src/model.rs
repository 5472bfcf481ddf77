use crate::{
    LambdaValue, Latent, LogCosh, Loss, LossConfig, ModelConfig, MomentPoint, Regularizer,
};
use hdgan_core::{Lambda, MacroState, ParamError};
use serde::{Deserialize, Serialize};

/// A validated problem (THEORY §1). Engines only ever see this type: every float is finite,
/// learning rates are positive, noise variances non-negative, latent moments symmetric PSD
/// and `2d + 1 <= n`. Build it with [`crate::ModelConfig::validate`]; read it through its
/// getters ([`Model::tau`], [`Model::latent`], ...); change a parameter with a `with_*`
/// method ([`Model::with_tau`], [`Model::with_n`], ...), which runs the whole validation
/// again on the changed config, so a `Model` always satisfies every rule.
///
/// Two models are equal when they describe the same problem, whatever config they were
/// validated from (a latent written as `cov` or derived with `from_data`, say).
#[derive(Clone, Debug)]
pub struct Model {
    pub(crate) n: usize,
    pub(crate) d: usize,
    pub(crate) tau: f64,
    pub(crate) tau_tilde: f64,
    pub(crate) eta_t: f64,
    pub(crate) eta_g: f64,
    pub(crate) lambda: Lambda,
    pub(crate) latent: Latent,
    pub(crate) latent_tilde: Latent,
    pub(crate) loss: Loss,
    pub(crate) l1: f64,
    pub(crate) p: usize,
    pub(crate) constraint: Constraint,
    /// The config this model was validated from: the `with_*` methods change it and
    /// validate it again.
    pub(crate) source: ModelConfig,
    /// The key prefix it was validated under (`model`), for the errors of `with_*`.
    pub(crate) prefix: String,
}

impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        // Every field but `source` and `prefix`: equality is that of the problem.
        self.n == other.n
            && self.d == other.d
            && self.tau == other.tau
            && self.tau_tilde == other.tau_tilde
            && self.eta_t == other.eta_t
            && self.eta_g == other.eta_g
            && self.lambda == other.lambda
            && self.latent == other.latent
            && self.latent_tilde == other.latent_tilde
            && self.loss == other.loss
            && self.l1 == other.l1
            && self.p == other.p
            && self.constraint == other.constraint
    }
}

impl Model {
    /// Ambient dimension n.
    #[inline]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of features d.
    #[inline]
    pub fn d(&self) -> usize {
        self.d
    }

    /// Discriminator learning rate tau.
    #[inline]
    pub fn tau(&self) -> f64 {
        self.tau
    }

    /// Generator learning rate tau~.
    #[inline]
    pub fn tau_tilde(&self) -> f64 {
        self.tau_tilde
    }

    /// Real-data noise variance eta_T.
    #[inline]
    pub fn eta_t(&self) -> f64 {
        self.eta_t
    }

    /// Generator noise variance eta_G.
    #[inline]
    pub fn eta_g(&self) -> f64 {
        self.eta_g
    }

    /// Regularisation strength.
    #[inline]
    pub fn lambda(&self) -> Lambda {
        self.lambda
    }

    /// Law of the real latent c.
    #[inline]
    pub fn latent(&self) -> &Latent {
        &self.latent
    }

    /// Law of the generator's latent c~.
    #[inline]
    pub fn latent_tilde(&self) -> &Latent {
        &self.latent_tilde
    }

    /// Discriminator loss family.
    #[inline]
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Elementwise L1 penalty on w (see [`crate::ModelConfig::l1`]); 0 means none.
    #[inline]
    pub fn l1(&self) -> f64 {
        self.l1
    }

    /// Number of discriminator features p (1: the paper's single feature `w`).
    #[inline]
    pub fn p(&self) -> usize {
        self.p
    }

    /// The constraint of lambda = inf on `W` and `V` (p > 1).
    #[inline]
    pub fn constraint(&self) -> Constraint {
        self.constraint
    }

    /// The config this model was validated from (as given, lambda not normalised).
    pub fn config(&self) -> &ModelConfig {
        &self.source
    }

    /// This model's config changed by `change` and validated again under the same key
    /// prefix: every rule is checked once more, those involving the changed keys
    /// included, and an error names the key as validation does.
    pub fn with_config(&self, change: impl FnOnce(&mut ModelConfig)) -> Result<Model, ParamError> {
        let mut c = self.source.clone();
        change(&mut c);
        c.validate(&self.prefix)
    }

    /// This model at dimension `n` (validated again: `n >= 2d + p`).
    pub fn with_n(&self, n: usize) -> Result<Model, ParamError> {
        self.with_config(|c| c.n = n)
    }

    /// This model with discriminator rate `tau` (validated again: `tau > 0`, and the
    /// first step must not overflow, [`crate::MAX_STEP_SCALE`]).
    pub fn with_tau(&self, tau: f64) -> Result<Model, ParamError> {
        self.with_config(|c| c.tau = tau)
    }

    /// This model with generator rate `tau_tilde` (validated again, as [`Model::with_tau`]).
    pub fn with_tau_tilde(&self, tau_tilde: f64) -> Result<Model, ParamError> {
        self.with_config(|c| c.tau_tilde = tau_tilde)
    }

    /// This model with both rates changed at once (validated once, on the pair: a rule
    /// that involves both, such as [`crate::MAX_STEP_SCALE`], sees the new pair only).
    pub fn with_rates(&self, tau: f64, tau_tilde: f64) -> Result<Model, ParamError> {
        self.with_config(|c| {
            c.tau = tau;
            c.tau_tilde = tau_tilde;
        })
    }

    /// This model with real-data noise variance `eta_t` (validated again: `>= 0`, finite,
    /// and within [`crate::MAX_STEP_SCALE`] at the model's rates).
    pub fn with_eta_t(&self, eta_t: f64) -> Result<Model, ParamError> {
        self.with_config(|c| c.eta_t = eta_t)
    }

    /// This model with generator noise variance `eta_g` (validated again, as
    /// [`Model::with_eta_t`]).
    pub fn with_eta_g(&self, eta_g: f64) -> Result<Model, ParamError> {
        self.with_config(|c| c.eta_g = eta_g)
    }

    /// This model with both noise variances changed at once (validated once, on the pair).
    pub fn with_noise(&self, eta_t: f64, eta_g: f64) -> Result<Model, ParamError> {
        self.with_config(|c| {
            c.eta_t = eta_t;
            c.eta_g = eta_g;
        })
    }

    /// This model with regularisation strength `lambda` (validated again: `>= 0`, and the
    /// orthonormal constraint needs `lambda = inf`).
    pub fn with_lambda(&self, lambda: Lambda) -> Result<Model, ParamError> {
        self.with_config(|c| c.lambda = LambdaValue::from(lambda))
    }

    /// This model with discriminator loss `loss` (validated again: a finite bias).
    pub fn with_loss(&self, loss: Loss) -> Result<Model, ParamError> {
        self.with_config(|c| {
            c.loss = LossConfig::from(loss);
            c.loss_bias = None;
        })
    }

    /// This model with elementwise L1 penalty `l1` (validated again: `>= 0`, and 0 when
    /// `p > 1`).
    pub fn with_l1(&self, l1: f64) -> Result<Model, ParamError> {
        self.with_config(|c| c.l1 = l1)
    }
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
