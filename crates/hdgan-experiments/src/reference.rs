//! Reference problems: the settings of the papers' figures that hdgan's tests, benchmarks
//! and validation checks share (in the manner of diffsol's reference problems), so that
//! "Figure 1 at n = 2000" means the same thing everywhere.
//!
//! | problem | model | start |
//! |---|---|---|
//! | [`figure1`] | d = 2, `Lam = Lam~ = diag(5, 3)`, tau = 0.2, tau~ = 0.04, lambda = inf; eta = 2, 1, 4: success, oscillation, collapse | [`figure1_init`]: `P = 0.1 I`, `q = 0.1` |
//! | [`figure2`] | Figure 1's rates, d = 1, `Lam = Lam~ = 5`, eta = 2 | [`figure2_init`]: constant features, rows `(v^, w^)` with covariance `0.99 I` |
//! | [`finite_lambda`] | Figure 1 with lambda = 5 and eta_T = 2 != eta_G = 1 (where the corrected `h` matters) | [`figure1_init`] |

use hdgan_core::ParamError;
use hdgan_micro_sim::{Features, InitConfig, InitState};
use hdgan_model::{LambdaValue, LatentConfig, Model, ModelConfig};

/// Figure 1's successful run (eta = 2) as run-config text at dimension `n` and horizon
/// `t_end`, one member, recorded every unit of time.
pub fn figure1_config(n: usize, t_end: f64) -> String {
    figure1_text("Figure 1, success", 1, n, t_end, 1.0, 1)
}

/// Figure 1's successful run as run-config text with every run setting given: the title,
/// seed, dimension, horizon, recording interval and ensemble size (the fixture of the
/// command-line tests, which edit it line by line).
pub fn figure1_text(
    title: &str,
    seed: u64,
    n: usize,
    t_end: f64,
    record_dt: f64,
    members: usize,
) -> String {
    format!(
        r#"title = "{title}"
seed = {seed}
[model]
n = {n}
d = 2
tau = 0.2
tau_tilde = 0.04
eta_t = 2.0
eta_g = 2.0
lambda = "inf"
[model.latent]
cov = [[5.0, 0.0], [0.0, 3.0]]
[init]
p0 = [[0.1, 0.0], [0.0, 0.1]]
q0 = [0.1, 0.1]
[sim]
t_end = {t_end:?}
record_dt = {record_dt:?}
members = {members}
"#
    )
}

/// Figure 1's model at dimension `n` and noise variance `eta = eta_T = eta_G` (2: success,
/// 1: oscillation, 4: mode collapse).
pub fn figure1(n: usize, eta: f64) -> Result<Model, ParamError> {
    ModelConfig::figure1(n, eta).validate("model")
}

/// Figure 1's start: `P = 0.1 I`, `q = 0.1`, `S = I`, `z = 1`, `r = 0`, random rows.
pub fn figure1_init(m: &Model) -> Result<InitState, ParamError> {
    InitConfig::diagonal(m.d(), 0.1, 0.1).validate("init", m)
}

/// Figure 2's model (d = 1, `Lam = Lam~ = 5`, Figure 1's rates and eta = 2) with the given
/// lambda and L1 penalty.
pub fn figure2(n: usize, lambda: LambdaValue, l1: f64) -> Result<Model, ParamError> {
    let mut c = ModelConfig::figure1(n, 2.0);
    c.d = 1;
    c.latent = LatentConfig::diagonal(&[5.0]);
    c.lambda = lambda;
    c.l1 = l1;
    c.validate("model")
}

/// Figure 2's start: constant features (`u^ = 1` in every row), `P = 0.1`, `q = 0.1`, rows
/// `(v^, w^)` drawn with covariance `0.99 I` around their means.
pub fn figure2_init(m: &Model) -> Result<InitState, ParamError> {
    let mut i = InitConfig::diagonal(1, 0.1, 0.1);
    i.features = Features::Constant;
    i.row_cov = Some(vec![vec![0.99, 0.0], vec![0.0, 0.99]]);
    i.validate("init", m)
}

/// Figure 1 with a finite regulariser (lambda = 5) and unequal noises `eta_T = 2`,
/// `eta_G = 1`: the case that tells the corrected `h` of the general ODE from the
/// printed one.
pub fn finite_lambda(n: usize) -> Result<Model, ParamError> {
    let mut c = ModelConfig::figure1(n, 2.0);
    c.eta_g = 1.0;
    c.lambda = LambdaValue::Number(5.0);
    c.validate("model")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_problems_are_valid() {
        let m = figure1(2000, 2.0).unwrap();
        figure1_init(&m).unwrap();
        let m2 = figure2(2000, LambdaValue::default(), 0.0).unwrap();
        figure2_init(&m2).unwrap();
        let f = finite_lambda(2000).unwrap();
        assert!(!f.lambda().is_infinite());
        let text = figure1_config(500, 10.0);
        crate::config::parse(&text, "reference")
            .unwrap()
            .validate("fig1")
            .unwrap();
    }
}
