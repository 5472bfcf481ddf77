//! One SGDA step's mean change, times n, is the limiting ODE's right-hand side (the
//! generator behind Theorem 1): `n E[M_{k+1} - M_k | X_k] = phi(M_k) + O(1/n)`. Checked
//! for both step modes, projected and finite lambda, with the corrected `h` (THEORY §4); the
//! paper's printed `h` must fail the same test.
//!
//! Tolerance: each entry's sample mean over K independent steps has standard error
//! SE = sd / sqrt(K), estimated from the same samples. We accept
//! |mean - phi| <= 4.5 SE + 2 / n for every entry (13 entries for d = 2: family-wise
//! false-alarm rate about 13 x 7e-6), where 2/n bounds the O(1/n) bias of one step (second-order terms
//! of size tau^2 |c|^2 / n^2 per step, times n).

use hdgan_core::MacroState;
use hdgan_macro_ode::{HForm, general_rhs, reduced_rhs};
use hdgan_micro_sim::{Engine, InitConfig, MicroState, Sgda, StepMode};
use hdgan_model::random::stream_rng;
use hdgan_model::{LambdaValue, LatentConfig, Model, ModelConfig};

fn model(n: usize, lambda: LambdaValue, eta_t: f64, eta_g: f64) -> Model {
    ModelConfig {
        n,
        d: 2,
        tau: 0.2,
        tau_tilde: 0.04,
        eta_t,
        eta_g,
        lambda,
        latent: LatentConfig::diagonal(&[5.0, 3.0]),
        latent_tilde: Some(LatentConfig {
            cov: vec![vec![4.0, 1.0], vec![1.0, 2.0]],
            mean: None,
            classes: Vec::new(),
            from_data: None,
        }),
        // loss, l1, p: Example 1 defaults.
        ..ModelConfig::figure1(n, 2.0)
    }
    .validate("model")
    .unwrap()
}

/// A state away from every fixed point: P0 = [[0.5, 0.1], [-0.2, 0.4]], q0 = (0.5, -0.3).
fn start(m: &Model, s0: f64, z0: f64) -> MicroState {
    let mut init = InitConfig::diagonal(2, 0.0, 0.0);
    init.p0 = vec![vec![0.5, 0.1], vec![-0.2, 0.4]];
    init.q0 = vec![0.5, -0.3];
    init.v_norm_sq = Some(vec![s0, s0]);
    init.w_norm_sq = Some(z0);
    init.validate("init", m)
        .unwrap()
        .build(m.n(), &mut stream_rng(99, 0))
}

/// Mean and standard error of `n (M_1 - M_0)` over `k` independent single steps.
fn one_step_drift(
    m: &Model,
    x: &MicroState,
    mode: StepMode,
    k: usize,
) -> (Vec<f64>, Vec<f64>, MacroState) {
    let m0 = Sgda::new(m, x.clone(), mode, 1e12).unwrap().macro_state();
    let base = m0.pack();
    let len = base.len();
    let (mut s1, mut s2) = (vec![0.0; len], vec![0.0; len]);
    for rep in 0..k {
        let mut e = Sgda::new(m, x.clone(), mode, 1e12).unwrap();
        let mut rng = stream_rng(2024, rep as u64);
        e.step(&mut rng).unwrap();
        for (i, (a, b)) in e.macro_state().pack().iter().zip(&base).enumerate() {
            let v = (a - b) * m.n() as f64;
            s1[i] += v;
            s2[i] += v * v;
        }
    }
    let kf = k as f64;
    let mean: Vec<f64> = s1.iter().map(|s| s / kf).collect();
    let se = s2
        .iter()
        .zip(&mean)
        .map(|(s, mu)| ((s / kf - mu * mu).max(0.0) / kf).sqrt())
        .collect();
    (mean, se, m0)
}

/// Largest |mean - phi| / (4.5 SE + 2/n) over entries whose SE is not zero (entries held
/// fixed by projection have zero change and are compared exactly).
fn worst_ratio(mean: &[f64], se: &[f64], phi: &[f64], n: usize) -> (f64, String) {
    let names = MacroState::column_names(2);
    let mut worst = (0.0, String::new());
    for i in 0..mean.len() {
        let tol = 4.5 * se[i] + 2.0 / n as f64;
        let r = (mean[i] - phi[i]).abs() / tol;
        if r > worst.0 {
            worst = (
                r,
                format!(
                    "{}: mean {:.5} vs ODE {:.5} (SE {:.5})",
                    names[i], mean[i], phi[i], se[i]
                ),
            );
        }
    }
    worst
}

#[test]
fn projected_step_drift_is_the_reduced_ode() {
    let n = 400;
    let m = model(n, LambdaValue::default(), 1.5, 0.5);
    let x = start(&m, 1.0, 1.0);
    for mode in [StepMode::Fast, StepMode::Literal] {
        let (mean, se, m0) = one_step_drift(&m, &x, mode, 6000);
        let phi = reduced_rhs(&m, &m0).pack();
        let (r, what) = worst_ratio(&mean, &se, &phi, n);
        assert!(r <= 1.0, "{mode:?}: {what}");
    }
}

#[test]
fn finite_lambda_drift_needs_the_corrected_h() {
    let n = 400;
    let m = model(n, LambdaValue::Number(2.0), 1.5, 0.5);
    let x = start(&m, 1.2, 0.8);
    for mode in [StepMode::Fast, StepMode::Literal] {
        let (mean, se, m0) = one_step_drift(&m, &x, mode, 6000);
        let corrected = general_rhs(&m, &m0, HForm::Corrected).pack();
        let (r, what) = worst_ratio(&mean, &se, &corrected, n);
        assert!(r <= 1.0, "{mode:?} corrected h: {what}");
        let printed = general_rhs(&m, &m0, HForm::AsPrinted).pack();
        let (r, what) = worst_ratio(&mean, &se, &printed, n);
        assert!(
            r > 2.0,
            "{mode:?}: the printed h should be rejected, worst {what}"
        );
    }
}
