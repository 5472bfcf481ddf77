//! Criterion benchmarks: one SGDA step (fast and literal modes, and the Gram engine, one
//! member and four at a time) at n = 1e3 .. 1e6 and d = 2 (a large n runs its split pass on
//! the whole pool), drawing the step's normals alone (a lower bound for the fast step), and
//! the ODE integration of Figure 1. Run with `cargo bench -p hdgan-benches`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hdgan_benches::{fig1_engine, fig1_gram, fig1_model};
use hdgan_core::MacroState;
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_micro_sim::{Engine, StepMode};
use hdgan_model::random::stream_rng;
use std::hint::black_box;

fn sgda_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgda_step");
    for n in [1_000usize, 5_000, 10_000, 100_000, 1_000_000] {
        g.throughput(Throughput::Elements(n as u64));
        for (label, mode) in [("fast", StepMode::Fast), ("literal", StepMode::Literal)] {
            let mut e = fig1_engine(n, mode, 1);
            let mut rng = stream_rng(1, 1);
            g.bench_with_input(BenchmarkId::new(label, n), &n, |b, _| {
                b.iter(|| e.step(&mut rng).expect("step"))
            });
        }
        let mut gram = fig1_gram(n);
        let mut rng = stream_rng(1, 2);
        g.bench_with_input(BenchmarkId::new("gram", n), &n, |b, _| {
            b.iter(|| gram.step(&mut rng).expect("step"))
        });
        // Four Gram members stepped together (per batch step: four member-steps).
        let mut engines: Vec<_> = (0..hdgan_micro_sim::LANES).map(|_| fig1_gram(n)).collect();
        let mut batch = hdgan_micro_sim::GramLanes::new(engines.iter_mut().collect());
        let mut rngs: Vec<_> = (0..hdgan_micro_sim::LANES)
            .map(|i| stream_rng(3, i as u64))
            .collect();
        g.bench_with_input(BenchmarkId::new("gram_lanes_x4", n), &n, |b, _| {
            b.iter(|| batch.step(&mut rngs).expect("step"))
        });
        drop(batch);
        let mut rng = stream_rng(2, 0);
        let mut buf = vec![0.0; n];
        // The fast step's generator (eight xoshiro256++ lanes, AVX-512 where available).
        let mut lanes = hdgan_micro_sim::LaneRng::new(&rng);
        g.bench_with_input(BenchmarkId::new("normals_lanes", n), &n, |b, _| {
            b.iter(|| {
                lanes.fill(&mut buf);
                black_box(buf[0])
            })
        });
        g.bench_with_input(BenchmarkId::new("normals_only", n), &n, |b, _| {
            b.iter(|| {
                rng.fill_normals(&mut buf);
                black_box(buf[0])
            })
        });
    }
    g.finish();
}

fn ode_fig1(c: &mut Criterion) {
    let m = fig1_model(5000);
    let s = MacroState::diagonal_start(2, 0.1, 0.1);
    let times: Vec<f64> = (0..=200).map(f64::from).collect();
    c.bench_function("ode_fig1_reduced_T200_201_outputs", |b| {
        b.iter(|| {
            solve(
                &m,
                OdeKind::Reduced,
                black_box(&s),
                &times,
                &OdeOptions::default(),
            )
            .expect("solve")
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = sgda_step, ode_fig1
}
criterion_main!(benches);
