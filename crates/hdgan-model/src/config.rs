use crate::{Constraint, Latent, Loss, Model};
use hdgan_core::{DMat, Lambda, ParamError, SymPsd, check_non_negative, check_positive};
use serde::{Deserialize, Serialize};

/// The `[model]` table of a configuration: the problem of THEORY §1 as the user writes it.
/// Unknown keys are rejected. [`ModelConfig::validate`] turns it into a [`Model`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Ambient dimension n.
    pub n: usize,
    /// Number of features d (columns of U and V).
    pub d: usize,
    /// Discriminator learning rate tau (> 0).
    pub tau: f64,
    /// Generator learning rate tau~ (> 0).
    pub tau_tilde: f64,
    /// Variance of the real data's noise, eta_T (>= 0).
    pub eta_t: f64,
    /// Variance of the generator's noise, eta_G (>= 0).
    pub eta_g: f64,
    /// Regularisation strength lambda: a number >= 0, or `"inf"` (also TOML's `inf`) for
    /// the constrained problem solved by projected SGDA. Default `"inf"`.
    #[serde(default)]
    pub lambda: LambdaValue,
    /// Law of the real latent `c`.
    pub latent: LatentConfig,
    /// Law of the generator's latent `c~`; defaults to the same law as `c`.
    #[serde(default)]
    pub latent_tilde: Option<LatentConfig>,
    /// Discriminator loss: a name, `"quadratic"` (Example 1, the default), `"logistic"` (the
    /// standard GAN value with `D = sigmoid((y^T w)^2 / 2 - b)`) or `"logistic-linear"`
    /// (`D = sigmoid(y^T w)`); or a table with the name and the loss's parameters,
    /// `{ name = "logistic", bias = 1.0 }` (see [`LossConfig`]).
    #[serde(default)]
    pub loss: LossConfig,
    /// Deprecated (write `loss = { name = "logistic", bias = b }`): the bias `b` of
    /// `loss = "logistic"` (finite; default 1). Refused with another loss and with a loss
    /// table. Still read as before; [`ModelConfig::deprecations`] says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_bias: Option<f64>,
    /// Elementwise L1 penalty on w (THEORY §5, last sentence), default 0: the w-update gets
    /// `-(l1 / sqrt(n)) sign(w_i)` inside its bracket, i.e. `-tau l1 sign(w^)` in the drift of
    /// the scaled rows. With `l1 > 0` the macroscopic ODE no longer closes; only the
    /// particle description (hdgan-pde-measure) and the literal step handle it.
    #[serde(default)]
    pub l1: f64,
    /// Number of discriminator features p (columns of `W`, THEORY §8), default 1. With
    /// p > 1 the discriminator's energy is `||W^T y||^2 / 2` (quadratic loss only, no
    /// `l1`), simulated by the multi-feature engine and described by the multi-feature ODE.
    #[serde(default = "one")]
    pub p: usize,
    /// How `lambda = inf` constrains `W` and `V` (THEORY §8): `"columns"` (the default: each
    /// column normalised on its own, the paper's projection) or `"orthonormal"` (`W^T W = I`,
    /// `V^T V = I`, kept by Gram-Schmidt in column order after every step, as in Bond &
    /// Dogan's code). With `p = d = 1` the two are the same model.
    #[serde(default, skip_serializing_if = "Constraint::is_columns")]
    pub constraint: Constraint,
}

fn one() -> usize {
    1
}

/// lambda as written in a config: a number or the string `"inf"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LambdaValue {
    /// A number (TOML `inf` is accepted and means infinity).
    Number(f64),
    /// `"inf"` or `"infinity"`.
    Text(String),
}

impl Default for LambdaValue {
    fn default() -> Self {
        LambdaValue::Text("inf".to_owned())
    }
}

impl From<Lambda> for LambdaValue {
    /// The config value of a validated lambda (`"inf"` for infinity).
    fn from(l: Lambda) -> Self {
        match l {
            Lambda::Finite(x) => LambdaValue::Number(x),
            Lambda::Infinite => LambdaValue::default(),
        }
    }
}

/// `model.loss` in a config: a loss name (`loss = "logistic"`, whose bias is then the
/// deprecated flat key `loss_bias`), or a table naming the loss and its parameters
/// (`loss = { name = "logistic", bias = 1.0 }`, `loss = { name = "quadratic" }`). Written
/// back the way it was read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LossConfig {
    /// A name alone.
    Name(LossName),
    /// A table: the name and the loss's parameters.
    Table(LossTable),
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig::Name(LossName::default())
    }
}

impl LossConfig {
    /// The loss's name, in either form.
    pub fn name(&self) -> LossName {
        match self {
            LossConfig::Name(n) => *n,
            LossConfig::Table(t) => t.name,
        }
    }
}

impl From<LossName> for LossConfig {
    fn from(name: LossName) -> Self {
        LossConfig::Name(name)
    }
}

impl From<Loss> for LossConfig {
    /// The config of a validated loss: its name, in a table with the bias for
    /// `"logistic"`.
    fn from(loss: Loss) -> Self {
        match loss {
            Loss::Quadratic => LossConfig::Name(LossName::Quadratic),
            Loss::LogisticLinear => LossConfig::Name(LossName::LogisticLinear),
            Loss::Logistic(l) => LossConfig::Table(LossTable {
                name: LossName::Logistic,
                bias: Some(l.bias),
            }),
        }
    }
}

impl<'de> Deserialize<'de> for LossConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{self, value};
        struct Form;
        impl<'de> de::Visitor<'de> for Form {
            type Value = LossConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a loss name in quotes or a table such as { name = \"logistic\", bias = 1.0 }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LossConfig, E> {
                LossName::deserialize(value::StrDeserializer::<E>::new(v)).map(LossConfig::Name)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<LossConfig, A::Error> {
                LossTable::deserialize(value::MapAccessDeserializer::new(map))
                    .map(LossConfig::Table)
            }
        }
        deserializer.deserialize_any(Form)
    }
}

/// The table form of `model.loss`: `{ name = "logistic", bias = 1.0 }`. Unknown keys are
/// rejected.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossTable {
    /// The loss (see [`LossName`]).
    pub name: LossName,
    /// The bias `b` of `"logistic"` (finite; default 1). Refused with another loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias: Option<f64>,
}

/// Loss names accepted in configs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossName {
    /// Example 1, `f = identity`.
    #[default]
    Quadratic,
    /// `f(x) = x sigmoid(b - x^2 / 2)`, `f~(x) = x sigmoid(x^2 / 2 - b)`.
    Logistic,
    /// `f(x) = sigmoid(-x)`, `f~(x) = sigmoid(x)`.
    LogisticLinear,
}

impl LossName {
    /// The name as a config writes it (`"logistic-linear"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LossName::Quadratic => "quadratic",
            LossName::Logistic => "logistic",
            LossName::LogisticLinear => "logistic-linear",
        }
    }
}

/// A latent law in a config: either a Gaussian with covariance `cov` (d x d, symmetric
/// PSD) and optional `mean` (default zero), or a mixture of classes (`classes`, THEORY §8):
/// draw class k with probability `prob`, then `N(mean_k, cov_k)`. Only the effective second
/// moment `M = sum_k prob_k (cov_k + mean_k mean_k^T)` enters the quadratic model's ODE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatentConfig {
    /// Covariance matrix, as a list of rows (leave out when `classes` is given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cov: Vec<Vec<f64>>,
    /// Mean vector (default zero).
    #[serde(default)]
    pub mean: Option<Vec<f64>>,
    /// Mixture classes (instead of `cov` and `mean`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassConfig>,
    /// Only in `latent_tilde`, instead of `cov`/`classes`: a generator law derived from the
    /// data's effective second moment `M` (THEORY §8): `"informed"` is the zero-mean Gaussian
    /// with `diag(eigenvalues of M)` (largest first), `"isotropic"` the one with
    /// `(tr M / d) I` (the same total power, no preferred direction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_data: Option<FromData>,
}

/// A generator latent derived from the data latent (see [`LatentConfig::from_data`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FromData {
    /// `N(0, diag(eig M))`, eigenvalues in decreasing order.
    Informed,
    /// `N(0, (tr M / d) I)`: isotropic with the data's total latent power.
    Isotropic,
    /// `N(0, I)`: the standard isotropic latent of common GAN practice, blind to the
    /// data's scale.
    Standard,
}

impl FromData {
    /// The generator latent this choice derives from the data latent.
    pub fn derive(self, key: &str, data: &Latent) -> Result<Latent, ParamError> {
        let m = data.second_moment();
        let d = m.dim();
        let diag: Vec<f64> = match self {
            FromData::Informed => m.eigenvalues().iter().rev().map(|x| x.max(0.0)).collect(),
            FromData::Isotropic => vec![m.matrix().diag().iter().sum::<f64>() / d as f64; d],
            FromData::Standard => vec![1.0; d],
        };
        Latent::gaussian(key, vec![0.0; d], SymPsd::new(key, DMat::from_diag(&diag))?)
    }
}

impl LatentConfig {
    /// The key that sets this law's scale: `cov` for a Gaussian, `classes` for a mixture,
    /// `from_data` for a derived law.
    fn scale_key(&self, key: &str) -> String {
        if self.from_data.is_some() {
            format!("{key}.from_data")
        } else if self.classes.is_empty() {
            format!("{key}.cov")
        } else {
            format!("{key}.classes")
        }
    }
}

/// One class of a mixture latent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// Probability of the class (> 0; all sum to 1).
    pub prob: f64,
    /// Class mean (default zero).
    #[serde(default)]
    pub mean: Option<Vec<f64>>,
    /// Class covariance (d x d, symmetric PSD).
    pub cov: Vec<Vec<f64>>,
}

impl LatentConfig {
    /// A zero-mean Gaussian with diagonal covariance.
    pub fn diagonal(diag: &[f64]) -> Self {
        Self {
            cov: DMat::from_diag(diag).to_rows(),
            mean: None,
            classes: Vec::new(),
            from_data: None,
        }
    }

    /// Validates into a [`Latent`] of dimension d; `key` is the config path (e.g.
    /// `model.latent`).
    pub fn validate(&self, key: &str, d: usize) -> Result<Latent, ParamError> {
        if self.from_data.is_some() {
            return Err(ParamError::rule(
                format!("{key}.from_data"),
                "is only allowed in model.latent_tilde",
            ));
        }
        match (self.cov.is_empty(), self.classes.is_empty()) {
            (false, true) => {
                let cov = psd_matrix(&format!("{key}.cov"), &self.cov, d)?;
                let mean = self.mean.clone().unwrap_or_else(|| vec![0.0; d]);
                Latent::gaussian(key, mean, cov)
            }
            (true, false) => {
                if self.mean.is_some() {
                    return Err(ParamError::rule(
                        format!("{key}.mean"),
                        "must be given per class when `classes` is used",
                    ));
                }
                let mut parts = Vec::with_capacity(self.classes.len());
                for (k, c) in self.classes.iter().enumerate() {
                    let ck = format!("{key}.classes[{k}]");
                    check_positive(&format!("{ck}.prob"), c.prob)?;
                    let cov = psd_matrix(&format!("{ck}.cov"), &c.cov, d)?;
                    let mean = c.mean.clone().unwrap_or_else(|| vec![0.0; d]);
                    if mean.len() != d {
                        return Err(ParamError::Shape {
                            key: format!("{ck}.mean"),
                            expected: format!("a vector of length d = {d}"),
                            found: format!("length {}", mean.len()),
                        });
                    }
                    parts.push((c.prob, mean, cov));
                }
                Latent::mixture(&format!("{key}.classes"), parts)
            }
            (false, false) => Err(ParamError::rule(
                key,
                "must give either `cov` (and `mean`) or `classes`, not both",
            )),
            (true, true) => Err(ParamError::rule(
                key,
                "must give `cov` (and optionally `mean`) or `classes`",
            )),
        }
    }
}

/// A d x d symmetric PSD matrix from config rows, with errors naming `key`.
fn psd_matrix(key: &str, rows: &[Vec<f64>], d: usize) -> Result<SymPsd, ParamError> {
    let shape_err = |found: String| ParamError::Shape {
        key: key.to_owned(),
        expected: format!("{d} x {d} (d = {d})"),
        found,
    };
    let m = DMat::from_rows(rows).ok_or_else(|| shape_err("ragged rows".to_owned()))?;
    if m.rows() != d || m.cols() != d {
        return Err(shape_err(format!("{} x {}", m.rows(), m.cols())));
    }
    SymPsd::new(key, m)
}

/// The validated loss `name` with bias `bias`; `key` names the bias in errors, `rule`
/// says it is refused with a loss other than the logistic one.
fn loss_of(name: LossName, bias: Option<f64>, key: &str, rule: &str) -> Result<Loss, ParamError> {
    Ok(match (name, bias) {
        (LossName::Quadratic, None) => Loss::Quadratic,
        (LossName::LogisticLinear, None) => Loss::LogisticLinear,
        (LossName::Logistic, b) => {
            let bias = b.unwrap_or(1.0);
            if !bias.is_finite() {
                return Err(ParamError::rule(
                    key,
                    format!("must be a finite number, got {bias}"),
                ));
            }
            Loss::Logistic(crate::LogisticQuadratic { bias })
        }
        (_, Some(_)) => return Err(ParamError::rule(key, rule)),
    })
}

/// The largest `rate x scale` a step may form: one SGDA step multiplies a score
/// (`w . y`, of order `sqrt(scale)`) by a sample (order `sqrt(scale)`) and a rate, and the
/// engines and the ODE square the result (squared norms, fourth moments), so
/// `(rate x scale)^2` must stay below `f64::MAX` (1.8e308, i.e. `rate x scale` below
/// 1.3e154); 1e150 leaves four orders of magnitude for the sums over d and p in those
/// norms. (The noise's n-dimensional part enters a step as `(tau / n)^2 eta^2 n`, so n
/// does not raise the bound.)
pub const MAX_STEP_SCALE: f64 = 1e150;

/// Refuses, naming the key, a second moment or noise variance whose first step overflows
/// f64 at the largest rate `rate` (see [`MAX_STEP_SCALE`]).
fn check_step_scale(scales: &[(String, &[f64])], rate: f64) -> Result<(), ParamError> {
    for (key, values) in scales {
        let top = values.iter().copied().fold(0.0, f64::max);
        if rate.max(1.0) * top > MAX_STEP_SCALE {
            return Err(ParamError::rule(
                key,
                format!(
                    "is too large: a second moment or variance of {top:e} at rate {rate} overflows f64 within one step (rate x scale must be <= {MAX_STEP_SCALE:e}: the step squares quantities of that size)"
                ),
            ));
        }
    }
    Ok(())
}

impl ModelConfig {
    /// The setting of the paper's Figure 1 at dimension n and noise variance
    /// `eta = eta_T = eta_G`: d = 2, `Lam = Lam~ = diag(5, 3)`, tau = 0.2, tau~ = 0.04,
    /// lambda = infinity, quadratic loss (eta = 2, 1, 4: success, oscillation, collapse).
    pub fn figure1(n: usize, eta: f64) -> Self {
        Self {
            n,
            d: 2,
            tau: 0.2,
            tau_tilde: 0.04,
            eta_t: eta,
            eta_g: eta,
            lambda: LambdaValue::default(),
            latent: LatentConfig::diagonal(&[5.0, 3.0]),
            latent_tilde: None,
            loss: LossConfig::default(),
            loss_bias: None,
            l1: 0.0,
            p: 1,
            constraint: Constraint::Columns,
        }
    }

    /// Validates every rule once (THEORY §1): `1 <= d` and `2d + 1 <= n` (U, V and w need
    /// independent directions), learning rates > 0, noise variances >= 0, lambda >= 0 or
    /// infinite, latent covariances d x d symmetric PSD, every number finite. `prefix` is
    /// the table's path in the config file (`model`), used in error keys.
    pub fn validate(&self, prefix: &str) -> Result<Model, ParamError> {
        let k = |name: &str| {
            if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            }
        };
        if self.d == 0 {
            return Err(ParamError::rule(k("d"), "must be >= 1"));
        }
        if self.d >= self.n {
            return Err(ParamError::rule(
                k("d"),
                format!("must be < n (got d = {} and n = {})", self.d, self.n),
            ));
        }
        if 2 * self.d + 1 > self.n {
            return Err(ParamError::rule(
                k("n"),
                format!(
                    "must be >= 2d + 1 = {} so that U, V and w can be independent (got n = {})",
                    2 * self.d + 1,
                    self.n
                ),
            ));
        }
        let tau = check_positive(&k("tau"), self.tau)?;
        let tau_tilde = check_positive(&k("tau_tilde"), self.tau_tilde)?;
        let eta_t = check_non_negative(&k("eta_t"), self.eta_t)?;
        let eta_g = check_non_negative(&k("eta_g"), self.eta_g)?;
        let lambda = match &self.lambda {
            LambdaValue::Number(x) => Lambda::new(&k("lambda"), *x)?,
            LambdaValue::Text(s)
                if matches!(s.to_ascii_lowercase().as_str(), "inf" | "infinity") =>
            {
                Lambda::Infinite
            }
            LambdaValue::Text(s) => {
                return Err(ParamError::rule(
                    k("lambda"),
                    format!("must be a number >= 0 or \"inf\", got \"{s}\""),
                ));
            }
        };
        let l1 = check_non_negative(&k("l1"), self.l1)?;
        let loss = match (self.loss, self.loss_bias) {
            (LossConfig::Name(name), bias) => loss_of(
                name,
                bias,
                &k("loss_bias"),
                "applies to loss = \"logistic\" only",
            )?,
            (LossConfig::Table(t), None) => loss_of(
                t.name,
                t.bias,
                &k("loss.bias"),
                "applies to name = \"logistic\" only",
            )?,
            (LossConfig::Table(_), Some(_)) => {
                return Err(ParamError::rule(
                    k("loss_bias"),
                    format!(
                        "cannot be combined with a loss table: give the bias in the table as {}",
                        k("loss.bias")
                    ),
                ));
            }
        };
        if self.p == 0 {
            return Err(ParamError::rule(k("p"), "must be >= 1"));
        }
        if self.p > 1 && l1 > 0.0 {
            return Err(ParamError::rule(
                k("l1"),
                "must be 0 with a multi-feature discriminator (p > 1)",
            ));
        }
        if self.constraint == Constraint::Orthonormal && !lambda.is_infinite() {
            return Err(ParamError::rule(
                k("constraint"),
                "must be \"columns\" with a finite lambda (\"orthonormal\" is a constraint: lambda = \"inf\")",
            ));
        }
        if 2 * self.d + self.p > self.n {
            return Err(ParamError::rule(
                k("n"),
                format!(
                    "must be >= 2d + p = {} so that U, V and W can be independent (got n = {})",
                    2 * self.d + self.p,
                    self.n
                ),
            ));
        }
        let latent = self.latent.validate(&k("latent"), self.d)?;
        let latent_tilde = match &self.latent_tilde {
            Some(l) => match l.from_data {
                Some(f) if l.cov.is_empty() && l.classes.is_empty() && l.mean.is_none() => {
                    f.derive(&k("latent_tilde.from_data"), &latent)?
                }
                Some(_) => {
                    return Err(ParamError::rule(
                        k("latent_tilde.from_data"),
                        "cannot be combined with `cov`, `mean` or `classes`",
                    ));
                }
                None => l.validate(&k("latent_tilde"), self.d)?,
            },
            None => latent.clone(),
        };
        check_step_scale(
            &[
                (
                    self.latent.scale_key(&k("latent")),
                    latent.second_moment().eigenvalues(),
                ),
                (
                    self.latent_tilde
                        .as_ref()
                        .map_or(k("latent"), |l| l.scale_key(&k("latent_tilde"))),
                    latent_tilde.second_moment().eigenvalues(),
                ),
                (k("eta_t"), &[eta_t]),
                (k("eta_g"), &[eta_g]),
            ],
            tau.max(tau_tilde),
        )?;
        Ok(Model {
            n: self.n,
            d: self.d,
            tau,
            tau_tilde,
            eta_t,
            eta_g,
            lambda,
            latent,
            latent_tilde,
            loss,
            l1,
            p: self.p,
            constraint: self.constraint,
            source: self.clone(),
            prefix: prefix.to_owned(),
        })
    }

    /// One line per deprecated key this config uses (none for a config in today's form),
    /// for the front ends to show; `prefix` as in [`ModelConfig::validate`]. Deprecated
    /// keys are read exactly as before.
    pub fn deprecations(&self, prefix: &str) -> Vec<String> {
        let k = |name: &str| {
            if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}.{name}")
            }
        };
        let mut notes = Vec::new();
        if let (LossConfig::Name(name), Some(bias)) = (self.loss, self.loss_bias) {
            notes.push(format!(
                "config key `{}` is deprecated: write {} = {{ name = \"{}\", bias = {bias:?} }} instead",
                k("loss_bias"),
                k("loss"),
                name.as_str()
            ));
        }
        notes
    }

    /// The same config with lambda written canonically (`"inf"` rather than a float
    /// infinity, which JSON cannot hold).
    pub fn normalized(&self) -> Self {
        let mut c = self.clone();
        if let LambdaValue::Number(x) = c.lambda
            && x == f64::INFINITY
        {
            c.lambda = LambdaValue::default();
        }
        c
    }
}

/// A [`Model`]'s config and the `with_*` methods that change it and validate it again
/// (here, beside the validation they run).
impl Model {
    /// The config this model was validated from (as given, lambda not normalised).
    pub fn config(&self) -> &ModelConfig {
        &self.source
    }

    /// One line per deprecated key of the config this model was validated from
    /// ([`ModelConfig::deprecations`], keys under the prefix it was validated with), for
    /// the front ends to show.
    pub fn deprecations(&self) -> Vec<String> {
        self.source.deprecations(&self.prefix)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fig1() -> ModelConfig {
        ModelConfig::figure1(5000, 2.0)
    }

    /// One helper per rule: mutate the valid config, expect an error naming `key`.
    fn check_rejected(mutate: impl FnOnce(&mut ModelConfig), key: &str) {
        let mut c = fig1();
        mutate(&mut c);
        let e = c.validate("model").expect_err("config should be rejected");
        assert_eq!(e.key(), key, "{e}");
    }

    #[test]
    fn figure1_config_is_valid() {
        let m = fig1().validate("model").unwrap();
        assert!(m.lambda.is_infinite());
        assert!((m.eta_sq() - 4.0).abs() < 1e-15);
        assert!((m.alpha() - 0.2).abs() < 1e-15);
    }

    #[test]
    fn each_rule_names_its_key() {
        check_rejected(|c| c.tau = 0.0, "model.tau");
        check_rejected(|c| c.tau_tilde = -1.0, "model.tau_tilde");
        check_rejected(|c| c.eta_t = -0.1, "model.eta_t");
        check_rejected(|c| c.eta_g = f64::NAN, "model.eta_g");
        check_rejected(|c| c.d = 0, "model.d");
        check_rejected(|c| c.n = 2, "model.d");
        check_rejected(|c| c.n = 4, "model.n");
        check_rejected(|c| c.p = 0, "model.p");
        check_rejected(
            |c| {
                c.p = 2;
                c.l1 = 0.5
            },
            "model.l1",
        );
        check_rejected(|c| c.lambda = LambdaValue::Number(-1.0), "model.lambda");
        check_rejected(
            |c| c.lambda = LambdaValue::Text("big".into()),
            "model.lambda",
        );
        check_rejected(
            |c| c.latent.cov = vec![vec![1.0, 0.5], vec![0.0, 1.0]],
            "model.latent.cov",
        );
        check_rejected(
            |c| c.latent.cov = vec![vec![1.0, 2.0], vec![2.0, 1.0]],
            "model.latent.cov",
        );
        check_rejected(|c| c.latent.cov = vec![vec![1.0]], "model.latent.cov");
        check_rejected(|c| c.latent.mean = Some(vec![0.0]), "model.latent.mean");
        check_rejected(
            |c| c.latent_tilde = Some(LatentConfig::diagonal(&[1.0, f64::INFINITY])),
            "model.latent_tilde.cov[1][1]",
        );
        let derived = LatentConfig {
            cov: Vec::new(),
            mean: None,
            classes: Vec::new(),
            from_data: Some(FromData::Informed),
        };
        let d2 = derived.clone();
        check_rejected(|c| c.latent = d2, "model.latent.from_data");
        let mut both = derived.clone();
        both.cov = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        check_rejected(
            |c| c.latent_tilde = Some(both),
            "model.latent_tilde.from_data",
        );
    }

    /// `from_data`: informed = diag(eig M), largest first; isotropic = (tr M / d) I.
    #[test]
    fn generator_from_data() {
        let mut c = fig1();
        c.latent.cov = vec![vec![2.0, 1.0], vec![1.0, 2.0]];
        for (f, want) in [
            (FromData::Informed, [3.0, 1.0]),
            (FromData::Isotropic, [2.0, 2.0]),
            (FromData::Standard, [1.0, 1.0]),
        ] {
            c.latent_tilde = Some(LatentConfig {
                cov: Vec::new(),
                mean: None,
                classes: Vec::new(),
                from_data: Some(f),
            });
            let m = c.validate("model").unwrap();
            let got = m.latent_tilde.second_moment().matrix().clone();
            assert!(
                got.max_abs_diff(&DMat::from_diag(&want)) < 1e-12,
                "{f:?}: {got:?}"
            );
        }
    }
}
