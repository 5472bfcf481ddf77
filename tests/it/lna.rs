//! The linear-noise approximation's step covariance `D(M)` (THEORY §10) is the covariance
//! of one SGDA step: `Cov(n (M_1 - M_0) | M_0) = D(M_0) + O(1/sqrt n)`. The Gram engine
//! draws the exact law of a step at n = 1e6 (its equality in law with the literal step is
//! checked in `law.rs`); K independent steps from one state give a sample covariance.
//!
//! Tolerance: each entry's sample covariance over K steps has standard error
//! `SE = sd((xi_a - mean_a)(xi_b - mean_b)) / sqrt(K)`, estimated from the same samples. We
//! accept `|C_ab - D_ab| <= 5 SE` for every pair (at most 91 pairs for d = 2: family-wise
//! false-alarm rate below 91 x 6e-7); the O(1/sqrt n) = 1e-3 relative bias is far below
//! `SE` (about 1% relative at K = 40 000). The same samples must reject the `D` without
//! the Ito term (some entry beyond 5 SE): the check can fail.

use hdgan_core::{DMat, MacroState};
use hdgan_micro_sim::GramEngine;
use hdgan_model::random::stream_rng;
use hdgan_model::{ClassConfig, LambdaValue, LatentConfig, LossName, Model, ModelConfig};
use hdgan_stability::{NoiseForm, noise_covariance_with};

const K: usize = 40_000;

/// The overlaps of U = (e1, e2) and the given V columns and w in R^5 (columns and w
/// normalised when `unit`).
fn state(mut v: [[f64; 5]; 2], mut w: [f64; 5], unit: bool) -> MacroState {
    let dot = |a: &[f64; 5], b: &[f64; 5]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    if unit {
        for c in &mut v {
            let nrm = dot(c, c).sqrt();
            c.iter_mut().for_each(|x| *x /= nrm);
        }
        let nrm = dot(&w, &w).sqrt();
        w.iter_mut().for_each(|x| *x /= nrm);
    }
    let mut s = MacroState::zeros(2);
    for j in 0..2 {
        for i in 0..2 {
            s.p[(i, j)] = v[j][i];
            s.s[(i, j)] = dot(&v[i], &v[j]);
        }
        s.q[j] = w[j];
        s.r[j] = dot(&v[j], &w);
    }
    s.z = dot(&w, &w);
    s
}

fn model(lambda: LambdaValue, loss: LossName, mixture: bool) -> Model {
    let mut c = ModelConfig::figure1(1_000_000, 2.0);
    c.tau = 0.5;
    c.tau_tilde = 0.3;
    c.eta_t = 1.5;
    c.eta_g = 0.8;
    c.lambda = lambda;
    c.loss = loss.into();
    if mixture {
        c.latent = LatentConfig {
            cov: Vec::new(),
            mean: None,
            classes: vec![
                ClassConfig {
                    prob: 0.3,
                    mean: Some(vec![1.5, -0.5]),
                    cov: vec![vec![2.0, 0.3], vec![0.3, 1.0]],
                },
                ClassConfig {
                    prob: 0.7,
                    mean: Some(vec![-0.6, 0.2]),
                    cov: vec![vec![3.0, 0.0], vec![0.0, 2.0]],
                },
            ],
            from_data: None,
        };
    }
    c.latent_tilde = Some(LatentConfig {
        cov: vec![vec![4.0, 1.0], vec![1.0, 2.0]],
        mean: Some(vec![0.5, 0.0]),
        classes: Vec::new(),
        from_data: None,
    });
    c.validate("model").unwrap()
}

/// Samples of `n (M_1 - M_0)` on the flat layout over K independent steps from `s0`.
fn steps(m: &Model, s0: &MacroState, seed: u64) -> Vec<Vec<f64>> {
    let base = s0.pack();
    (0..K)
        .map(|k| {
            let mut e = GramEngine::from_macro(m, s0, 1e12);
            e.step(&mut stream_rng(seed, k as u64)).unwrap();
            e.macro_state()
                .pack()
                .iter()
                .zip(&base)
                .map(|(a, b)| (a - b) * m.n() as f64)
                .collect()
        })
        .collect()
}

/// The largest |C_ab - D_ab| / SE over the pairs with noise, and where.
fn worst(samples: &[Vec<f64>], d: &DMat) -> (f64, usize, usize) {
    let len = samples[0].len();
    let kf = samples.len() as f64;
    let mean: Vec<f64> = (0..len)
        .map(|a| samples.iter().map(|s| s[a]).sum::<f64>() / kf)
        .collect();
    let mut out = (0.0, 0, 0);
    for a in 0..len {
        for b in a..len {
            let prods: Vec<f64> = samples
                .iter()
                .map(|s| (s[a] - mean[a]) * (s[b] - mean[b]))
                .collect();
            let c = prods.iter().sum::<f64>() / kf;
            let var = prods.iter().map(|p| (p - c) * (p - c)).sum::<f64>() / kf;
            let se = (var / kf).sqrt();
            if se < 1e-9 && d[(a, b)].abs() < 1e-9 {
                continue; // a constrained entry: no noise in either
            }
            let z = (c - d[(a, b)]).abs() / se;
            if z > out.0 {
                out = (z, a, b);
            }
        }
    }
    out
}

fn check(m: &Model, s0: &MacroState, seed: u64) {
    let samples = steps(m, s0, seed);
    let names = MacroState::column_names(2);
    let full = noise_covariance_with(m, s0, NoiseForm::Full).unwrap();
    let (z, a, b) = worst(&samples, &full);
    assert!(
        z <= 5.0,
        "D[{}, {}] is {:.1} SE from the steps' covariance",
        names[a],
        names[b],
        z
    );
    eprintln!("right: {z:.2} at {} {}", names[a], names[b]);
    let wrong = noise_covariance_with(m, s0, NoiseForm::WithoutIto).unwrap();
    let (z, _, _) = worst(&samples, &wrong);
    eprintln!("wrong: {z:.2}");
    assert!(z > 5.0, "the D without the Ito term passes ({z:.1} SE)");
}

const V: [[f64; 5]; 2] = [[0.6, -0.2, 0.5, 0.3, 0.1], [0.1, 0.5, -0.4, 0.2, 0.6]];
const W: [f64; 5] = [0.4, -0.3, 0.3, 0.5, 0.2];

#[test]
fn projected_step_covariance_is_d() {
    let m = model(
        LambdaValue::Number(f64::INFINITY),
        LossName::Quadratic,
        false,
    );
    check(&m, &state(V, W, true), 11);
}

#[test]
fn finite_lambda_step_covariance_is_d_for_a_mixture_latent() {
    let m = model(LambdaValue::Number(2.0), LossName::Quadratic, true);
    check(&m, &state(V, W, false), 12);
}

#[test]
fn logistic_step_covariance_is_d() {
    let m = model(LambdaValue::Number(f64::INFINITY), LossName::Logistic, true);
    check(&m, &state(V, W, true), 13);
}
