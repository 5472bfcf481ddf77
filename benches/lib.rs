//! Shared setup for the benchmarks and the timing harness: Figure 1's model and initial
//! state at any n.

use hdgan_micro_sim::DEFAULT_BLOWUP;
use hdgan_micro_sim::{GramEngine, InitConfig, Sgda, StepMode};
use hdgan_model::Model;
use hdgan_model::random::stream_rng;

/// Figure 1's success model (d = 2, projected) at dimension n.
pub fn fig1_model(n: usize) -> Model {
    hdgan_experiments::reference::figure1(n, 2.0).expect("Figure 1 model is valid")
}

/// An SGDA engine on Figure 1's model at dimension n, started at P0 = 0.1 I, q0 = 0.1.
pub fn fig1_engine(n: usize, mode: StepMode, seed: u64) -> Sgda {
    let m = fig1_model(n);
    let init = InitConfig::diagonal(2, 0.1, 0.1)
        .validate("init", &m)
        .expect("valid init");
    Sgda::new(
        &m,
        init.build(n, &mut stream_rng(seed, 0)),
        mode,
        DEFAULT_BLOWUP,
    )
    .expect("Figure 1 runs with both steps")
}

/// The Gram engine on Figure 1's model at dimension n, from P0 = 0.1 I, q0 = 0.1.
pub fn fig1_gram(n: usize) -> GramEngine {
    let m = fig1_model(n);
    let init = InitConfig::diagonal(2, 0.1, 0.1)
        .validate("init", &m)
        .expect("valid init");
    GramEngine::from_macro(&m, &init.macro_state(), DEFAULT_BLOWUP)
}

/// The Gram engine on Figure 1's rates and noise with d features (latent second moment
/// diag(5, 4, 3, 2, ...)), from P0 = 0.1 I, q0 = 0.1: the d-dependence of the Gram step.
pub fn gram_with_d(n: usize, d: usize) -> GramEngine {
    let mut c = hdgan_model::ModelConfig::figure1(n, 2.0);
    c.d = d;
    let lam: Vec<f64> = (0..d).map(|k| (5.0 - k as f64).max(1.0)).collect();
    c.latent = hdgan_model::LatentConfig::diagonal(&lam);
    let m = c.validate("model").expect("valid model");
    let init = InitConfig::diagonal(d, 0.1, 0.1)
        .validate("init", &m)
        .expect("valid init");
    GramEngine::from_macro(&m, &init.macro_state(), DEFAULT_BLOWUP)
}
