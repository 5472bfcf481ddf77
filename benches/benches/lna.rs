//! Criterion benchmarks of the finite-size theory (THEORY §10) on Figure 1: the step
//! covariance `D(M)` at one state, `Sigma(t)` along the ODE to T = 200 (the target:
//! under 50 ms), the saddle law, and one path of the macroscopic diffusion to its escape.
//! Run with `cargo bench -p hdgan-benches --bench lna`.

use criterion::{Criterion, criterion_group, criterion_main};
use hdgan_benches::fig1_model;
use hdgan_core::MacroState;
use hdgan_stability::{
    DiffusionEscape, DiffusionOptions, LNA_OPTIONS, diffusion_escape_times, fluctuations,
    noise_covariance, saddle_law,
};
use std::hint::black_box;

/// Figure 1's start with the discriminator's overlap with feature 2 set to `q2`.
fn start(q2: f64) -> MacroState {
    let mut s = MacroState::diagonal_start(2, 0.1, 0.1);
    s.q = vec![0.1, q2];
    s.r = vec![0.01, 0.1 * q2];
    s
}

fn lna(c: &mut Criterion) {
    let m = fig1_model(5000);
    let s = start(0.1);
    c.bench_function("noise_covariance_fig1", |b| {
        b.iter(|| noise_covariance(&m, black_box(&s)).expect("D"))
    });
    let times: Vec<f64> = (0..=200).map(f64::from).collect();
    c.bench_function("sigma_fig1_T200_201_outputs", |b| {
        b.iter(|| fluctuations(&m, black_box(&s), &times, &LNA_OPTIONS).expect("Sigma"))
    });
    let s0 = start(0.0);
    c.bench_function("saddle_law_fig1", |b| {
        b.iter(|| saddle_law(&m, black_box(&s0), 1, 0.5).expect("law"))
    });
    let opts = DiffusionOptions {
        dt: 0.01,
        t_max: 150.0,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    c.bench_function("diffusion_path_fig1_n1e4_to_escape", |b| {
        b.iter(|| {
            pool.install(|| {
                let escape = DiffusionEscape {
                    n: 1e4,
                    paths: 1,
                    seed: 3,
                    feature: 1,
                    threshold: 0.5,
                };
                diffusion_escape_times(&m, black_box(&s0), &escape, &opts).expect("path")
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = lna
}
criterion_main!(benches);
