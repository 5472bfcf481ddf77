//! Where hdgan's own random-number code stands against the `rand` ecosystem, so the choice
//! is visible from the repository: 1e5 standard normals per iteration from
//!
//! - `SimRng::fill_normals`: hdgan's xoshiro256++ with the 256-layer ziggurat, generator
//!   state kept in registers over the buffer (what the literal step and the engines use);
//! - `rand_distr::StandardNormal` sampled from the same `SimRng` (through `rand::Rng`);
//! - `rand_distr::StandardNormal` sampled from `rand_xoshiro::Xoshiro256PlusPlus`;
//!
//! and 1e5 raw `u64` from `SimRng` and from `rand_xoshiro` (the scalar streams). Run with
//! `cargo bench -p hdgan-benches --bench normals`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hdgan_model::random::stream_rng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::hint::black_box;

const N: usize = 100_000;

fn xoshiro_from(state: [u64; 4]) -> Xoshiro256PlusPlus {
    let mut bytes = [0u8; 32];
    for (k, w) in state.iter().enumerate() {
        bytes[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
    }
    Xoshiro256PlusPlus::from_seed(bytes)
}

fn normals(c: &mut Criterion) {
    let mut g = c.benchmark_group("normals_1e5");
    g.throughput(Throughput::Elements(N as u64));
    let mut buf = vec![0.0f64; N];
    let mut own = stream_rng(3, 0);
    g.bench_function("simrng_fill_normals_ziggurat", |b| {
        b.iter(|| {
            own.fill_normals(&mut buf);
            black_box(buf[N - 1])
        })
    });
    let mut own = stream_rng(3, 1);
    g.bench_function("rand_distr_standard_normal_on_simrng", |b| {
        b.iter(|| {
            for x in buf.iter_mut() {
                *x = own.sample(StandardNormal);
            }
            black_box(buf[N - 1])
        })
    });
    let mut xo = xoshiro_from(stream_rng(3, 2).state());
    g.bench_function("rand_distr_standard_normal_on_rand_xoshiro", |b| {
        b.iter(|| {
            for x in buf.iter_mut() {
                *x = xo.sample(StandardNormal);
            }
            black_box(buf[N - 1])
        })
    });
    g.finish();

    let mut g = c.benchmark_group("u64_1e5");
    g.throughput(Throughput::Elements(N as u64));
    let mut own = stream_rng(4, 0);
    g.bench_function("simrng", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..N {
                acc ^= own.next_u64();
            }
            black_box(acc)
        })
    });
    let mut xo = xoshiro_from(stream_rng(4, 0).state());
    g.bench_function("rand_xoshiro", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for _ in 0..N {
                acc ^= xo.next_u64();
            }
            black_box(acc)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = normals
}
criterion_main!(benches);
