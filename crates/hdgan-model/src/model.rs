use crate::{Latent, LogCosh, Loss, ModelConfig, MomentPoint, Regularizer};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LambdaValue, LogisticQuadratic, LossConfig, MAX_STEP_SCALE};

    fn fig1() -> ModelConfig {
        ModelConfig::figure1(1000, 2.0)
    }

    /// `with` on the validated config equals validating the config changed by `change`:
    /// the same model when valid, the same error when not.
    fn same_as_config(
        with: impl Fn(&Model) -> Result<Model, ParamError>,
        change: impl Fn(&mut ModelConfig),
    ) -> Result<Model, ParamError> {
        let base = fig1().validate("model").unwrap();
        let mut c = fig1();
        change(&mut c);
        let want = c.validate("model");
        let got = with(&base);
        match (&got, &want) {
            (Ok(g), Ok(w)) => {
                assert_eq!(g, w);
                assert_eq!(g.config(), &c, "the new model keeps the changed config");
            }
            // (Compared as text: an error may hold a NaN.)
            (Err(g), Err(w)) => assert_eq!(g.to_string(), w.to_string()),
            _ => panic!("with_* gave {got:?}, validating the changed config {want:?}"),
        }
        got
    }

    /// Accepted when valid (with the value set), refused naming `key` when not.
    #[track_caller]
    fn refused(r: Result<Model, ParamError>, key: &str) {
        let e = r.expect_err("the changed model should be refused");
        assert_eq!(e.key(), key, "{e}");
    }

    #[test]
    fn with_n() {
        let m = same_as_config(|m| m.with_n(40), |c| c.n = 40).unwrap();
        assert_eq!(m.n(), 40);
        refused(same_as_config(|m| m.with_n(4), |c| c.n = 4), "model.n");
        refused(same_as_config(|m| m.with_n(2), |c| c.n = 2), "model.d");
    }

    #[test]
    fn with_rates() {
        let m = same_as_config(|m| m.with_tau(0.5), |c| c.tau = 0.5).unwrap();
        assert_eq!((m.tau(), m.tau_tilde()), (0.5, 0.04));
        refused(
            same_as_config(|m| m.with_tau(0.0), |c| c.tau = 0.0),
            "model.tau",
        );
        refused(
            same_as_config(|m| m.with_tau(f64::INFINITY), |c| c.tau = f64::INFINITY),
            "model.tau",
        );
        let m = same_as_config(|m| m.with_tau_tilde(0.1), |c| c.tau_tilde = 0.1).unwrap();
        assert_eq!(m.tau_tilde().to_bits(), 0.1f64.to_bits());
        refused(
            same_as_config(|m| m.with_tau_tilde(-1.0), |c| c.tau_tilde = -1.0),
            "model.tau_tilde",
        );
        let set = |c: &mut ModelConfig| {
            c.tau = 0.3;
            c.tau_tilde = 0.6;
        };
        let m = same_as_config(|m| m.with_rates(0.3, 0.6), set).unwrap();
        assert_eq!((m.tau(), m.tau_tilde(), m.alpha()), (0.3, 0.6, 2.0));
        let set = |c: &mut ModelConfig| {
            c.tau = 0.3;
            c.tau_tilde = f64::NAN;
        };
        refused(
            same_as_config(|m| m.with_rates(0.3, f64::NAN), set),
            "model.tau_tilde",
        );
    }

    #[test]
    fn with_noise() {
        let m = same_as_config(|m| m.with_eta_t(0.5), |c| c.eta_t = 0.5).unwrap();
        assert_eq!((m.eta_t(), m.eta_g()), (0.5, 2.0));
        refused(
            same_as_config(|m| m.with_eta_t(-0.1), |c| c.eta_t = -0.1),
            "model.eta_t",
        );
        let m = same_as_config(|m| m.with_eta_g(0.0), |c| c.eta_g = 0.0).unwrap();
        assert_eq!(m.eta_g().to_bits(), 0.0f64.to_bits());
        refused(
            same_as_config(|m| m.with_eta_g(f64::NAN), |c| c.eta_g = f64::NAN),
            "model.eta_g",
        );
        let set = |c: &mut ModelConfig| {
            c.eta_t = 1.0;
            c.eta_g = 3.0;
        };
        let m = same_as_config(|m| m.with_noise(1.0, 3.0), set).unwrap();
        assert_eq!((m.eta_t(), m.eta_g(), m.eta_sq()), (1.0, 3.0, 5.0));
        let set = |c: &mut ModelConfig| {
            c.eta_t = 1.0;
            c.eta_g = -3.0;
        };
        refused(
            same_as_config(|m| m.with_noise(1.0, -3.0), set),
            "model.eta_g",
        );
    }

    /// The step-size bound is checked again for the changed rate or variance, naming
    /// the key validation names.
    #[test]
    fn with_keeps_the_step_scale_bound() {
        // Lam = diag(5, 3): the largest second moment is 5.
        let ok = MAX_STEP_SCALE / 5.0;
        same_as_config(|m| m.with_tau(ok), |c| c.tau = ok).unwrap();
        let big = 2.0 * ok;
        refused(
            same_as_config(|m| m.with_tau(big), |c| c.tau = big),
            "model.latent.cov",
        );
        refused(
            same_as_config(|m| m.with_tau_tilde(big), |c| c.tau_tilde = big),
            "model.latent.cov",
        );
        let eta = 10.0 * MAX_STEP_SCALE;
        refused(
            same_as_config(|m| m.with_eta_t(eta), |c| c.eta_t = eta),
            "model.eta_t",
        );
        refused(
            same_as_config(|m| m.with_eta_g(eta), |c| c.eta_g = eta),
            "model.eta_g",
        );
        // A pair is validated once: a large tau with a large variance is refused even
        // though each alone passes.
        let m = fig1().validate("model").unwrap();
        let m = m.with_eta_t(1e100).unwrap();
        refused(m.with_rates(1e60, 0.04), "model.eta_t");
    }

    #[test]
    fn with_lambda_loss_l1() {
        let m = same_as_config(
            |m| m.with_lambda(Lambda::Finite(2.0)),
            |c| c.lambda = LambdaValue::Number(2.0),
        )
        .unwrap();
        assert_eq!(m.lambda(), Lambda::Finite(2.0));
        let back = m.with_lambda(Lambda::Infinite).unwrap();
        assert_eq!(back, fig1().validate("model").unwrap());
        refused(
            same_as_config(
                |m| m.with_lambda(Lambda::Finite(-1.0)),
                |c| c.lambda = LambdaValue::Number(-1.0),
            ),
            "model.lambda",
        );
        // The orthonormal constraint needs lambda = inf: a rule on another key.
        let mut ortho = fig1();
        ortho.constraint = Constraint::Orthonormal;
        let ortho = ortho.validate("model").unwrap();
        refused(ortho.with_lambda(Lambda::Finite(1.0)), "model.constraint");

        let logistic = Loss::Logistic(LogisticQuadratic { bias: 0.5 });
        let m = same_as_config(
            |m| m.with_loss(logistic),
            |c| c.loss = LossConfig::from(logistic),
        )
        .unwrap();
        assert_eq!(m.loss(), logistic);
        assert_eq!(
            m.with_loss(Loss::Quadratic).unwrap(),
            fig1().validate("model").unwrap()
        );
        let bad = Loss::Logistic(LogisticQuadratic { bias: f64::NAN });
        refused(
            same_as_config(|m| m.with_loss(bad), |c| c.loss = LossConfig::from(bad)),
            "model.loss.bias",
        );

        let m = same_as_config(|m| m.with_l1(0.3), |c| c.l1 = 0.3).unwrap();
        assert_eq!(m.l1().to_bits(), 0.3f64.to_bits());
        refused(
            same_as_config(|m| m.with_l1(-0.3), |c| c.l1 = -0.3),
            "model.l1",
        );
        let mut multi = fig1();
        multi.p = 2;
        let multi = multi.validate("model").unwrap();
        refused(multi.with_l1(0.3), "model.l1");
    }

    /// Errors name keys under the prefix the model was validated with.
    #[test]
    fn with_keeps_the_prefix() {
        let m = fig1().validate("phase.sim").unwrap();
        refused(m.with_tau(0.0), "phase.sim.tau");
        refused(m.with_n(3), "phase.sim.n");
        let m = fig1().validate("").unwrap();
        refused(m.with_eta_t(-1.0), "eta_t");
    }

    /// Equality is that of the problem: a latent given as `cov` equals the same law
    /// derived with `from_data`.
    #[test]
    fn equality_ignores_the_source() {
        let a = fig1().validate("model").unwrap();
        let mut c = fig1();
        c.latent_tilde = Some(crate::LatentConfig {
            cov: Vec::new(),
            mean: None,
            classes: Vec::new(),
            from_data: Some(crate::FromData::Informed),
        });
        let b = c.validate("other").unwrap();
        assert_eq!(a, b);
        assert_ne!(a.config(), b.config());
        assert_ne!(a, a.with_tau(0.3).unwrap());
    }
}
