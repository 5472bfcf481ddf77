//! Properties of the n-dimensional simulator.

use hdgan_micro_sim::DEFAULT_BLOWUP;
use hdgan_micro_sim::{Engine, InitConfig, RunControl, Schedule, Sgda, StepMode, run_ensemble};
use hdgan_model::random::stream_rng;
use hdgan_model::{LambdaValue, LatentConfig, Model, ModelConfig};
use proptest::prelude::*;

fn model(n: usize, d: usize, lambda: LambdaValue) -> Model {
    let diag: Vec<f64> = (0..d).map(|i| 5.0 - i as f64).collect();
    ModelConfig {
        n,
        d,
        tau: 0.2,
        tau_tilde: 0.04,
        eta_t: 2.0,
        eta_g: 1.0,
        lambda,
        latent: LatentConfig::diagonal(&diag),
        latent_tilde: None,
        // loss, l1, p: Example 1 defaults.
        ..ModelConfig::figure1(n, 2.0)
    }
    .validate("model")
    .unwrap()
}

fn engine(m: &Model, mode: StepMode, seed: u64) -> Sgda {
    let init = InitConfig::diagonal(m.d(), 0.2, 0.1)
        .validate("init", m)
        .unwrap();
    Sgda::new(m, init.build(m.n(), &mut stream_rng(seed, 0)), mode, 1e12).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Projected SGDA keeps |w| = 1 and |V_j| = 1 (to rounding) in both modes, for any
    /// d and n, and the tracked state of the fast mode equals the exact one.
    #[test]
    fn projection_preserves_norms(d in 1usize..5, extra in 0usize..60, seed in any::<u64>(), fast in any::<bool>()) {
        let m = model(2 * d + 1 + extra, d, LambdaValue::default());
        let mode = if fast { StepMode::Fast } else { StepMode::Literal };
        let mut e = engine(&m, mode, seed);
        let mut rng = stream_rng(seed, 1);
        for _ in 0..50 {
            e.step(&mut rng).unwrap();
        }
        let s = e.macro_state();
        prop_assert!((s.z - 1.0).abs() < 1e-12, "z = {}", s.z);
        for j in 0..d {
            prop_assert!((s.s[(j, j)] - 1.0).abs() < 1e-12);
        }
        let g = s.gram();
        prop_assert!(g.max_abs_diff(&g.transpose()) < 1e-12);
        prop_assert!(e.tracked_macro_state().gram_distance(&s) < 1e-10);
    }
}

/// Between resyncs (every 256 steps) the fast mode tracks M by algebra; after 255 steps
/// it must still equal the exact Gram matrix of the vectors, for finite lambda too.
#[test]
fn tracked_state_equals_exact_state_before_resync() {
    for lambda in [LambdaValue::default(), LambdaValue::Number(1.5)] {
        let m = model(300, 2, lambda);
        let mut e = engine(&m, StepMode::Fast, 3);
        let mut rng = stream_rng(3, 1);
        for _ in 0..255 {
            e.step(&mut rng).unwrap();
        }
        let dist = e.tracked_macro_state().gram_distance(&e.macro_state());
        assert!(dist < 1e-11, "tracked vs exact: {dist}");
    }
}

#[test]
fn finite_lambda_keeps_norms_near_one() {
    // lambda = 5 pulls |w|^2 and |V_j|^2 towards 1; they must stay within O(1) of it.
    let m = model(300, 2, LambdaValue::Number(5.0));
    let mut e = engine(&m, StepMode::Fast, 4);
    let mut rng = stream_rng(4, 1);
    for _ in 0..3000 {
        e.step(&mut rng).unwrap();
    }
    let s = e.macro_state();
    assert!(s.z > 0.5 && s.z < 2.0, "z = {}", s.z);
    assert!((s.s[(0, 0)] - 1.0).abs() < 0.5);
}

#[test]
fn ensembles_do_not_depend_on_the_thread_count() {
    let m = model(120, 2, LambdaValue::default());
    let init = InitConfig::diagonal(2, 0.1, 0.1)
        .validate("init", &m)
        .unwrap();
    let schedule = Schedule::from_times(m.n(), 2.0, 0.5).unwrap();
    let go = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                run_ensemble(
                    5,
                    11,
                    |_, rng| Sgda::new(&m, init.build(m.n(), rng), StepMode::Fast, DEFAULT_BLOWUP),
                    &schedule,
                    RunControl::default(),
                )
                .unwrap()
            })
    };
    let (a, b) = (go(1), go(2));
    assert_eq!(a, b);
    assert_ne!(a[0], a[1], "members must differ");
}
