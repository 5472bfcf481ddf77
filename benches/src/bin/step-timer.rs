//! Times SGDA steps on Figure 1's model: `step-timer --n 5000 --steps 20000 --mode fast`
//! (modes: fast, literal, gram; and `normals`: the fast step's normals alone, one n-vector
//! from its eight-lane generator per "step", the bound the fused step is measured against).
//! Prints one JSON line like `baseline/sgda_numpy.py`, for `baseline/compare.py`.
//! `--threads T` runs on a pool of T threads (default: one per core); the line carries a
//! digest of the final macroscopic state, equal for every T.

use hdgan_benches::{fig1_engine, fig1_gram, gram_with_d};
use hdgan_micro_sim::{Engine, StepMode};
use hdgan_model::random::stream_rng;
use std::time::Instant;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--threads T`: the pool the step runs on (a split pass, n >= 65536, uses all of it).
    let threads: usize = arg(&args, "--threads", "0")
        .parse()
        .expect("--threads: integer");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| timed(&args));
}

fn timed(args: &[String]) {
    let args = args.to_vec();
    let n: usize = arg(&args, "--n", "5000").parse().expect("--n: integer");
    let steps: u64 = arg(&args, "--steps", "20000")
        .parse()
        .expect("--steps: integer");
    let label = arg(&args, "--mode", "fast");
    // `--d D` (gram and gram-lanes only): D features instead of Figure 1's 2.
    let d: usize = arg(&args, "--d", "2").parse().expect("--d: integer");
    let gram = |n: usize| {
        if d == 2 {
            fig1_gram(n)
        } else {
            gram_with_d(n, d)
        }
    };
    if label == "normals" {
        let mut lanes = hdgan_micro_sim::LaneRng::new(&stream_rng(1, 1));
        let mut buf = vec![0.0; n];
        for _ in 0..steps / 100 {
            lanes.fill(&mut buf);
        }
        let t0 = Instant::now();
        let mut acc = 0.0;
        for _ in 0..steps {
            lanes.fill(&mut buf);
            acc += buf[n - 1];
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{{\"impl\": \"hdgan-normals-only\", \"n\": {n}, \"d\": 2, \"steps\": {steps}, \"seconds\": {secs}, \"us_per_step\": {}, \"checksum\": {acc}}}",
            secs / steps as f64 * 1e6
        );
        return;
    }
    if label == "gram-lanes" {
        // Four members of the Gram engine stepped together; us per member-step.
        let mut engines: Vec<_> = (0..hdgan_micro_sim::LANES).map(|_| gram(n)).collect();
        let mut batch = hdgan_micro_sim::GramLanes::new(engines.iter_mut().collect());
        let mut rngs: Vec<_> = (0..hdgan_micro_sim::LANES)
            .map(|i| stream_rng(1, i as u64))
            .collect();
        for _ in 0..steps / 100 {
            batch.step(&mut rngs).expect("step");
        }
        let t0 = Instant::now();
        for _ in 0..steps {
            batch.step(&mut rngs).expect("step");
        }
        let secs = t0.elapsed().as_secs_f64();
        let member_steps = steps as f64 * hdgan_micro_sim::LANES as f64;
        println!(
            "{{\"impl\": \"hdgan-gram-lanes\", \"n\": {n}, \"d\": {d}, \"steps\": {steps}, \"members\": {}, \"seconds\": {secs}, \"us_per_step\": {}}}",
            hdgan_micro_sim::LANES,
            secs / member_steps * 1e6
        );
        return;
    }
    let mut e: Box<dyn Engine<State = hdgan_core::MacroState>> = match label.as_str() {
        "fast" => Box::new(fig1_engine(n, StepMode::Fast, 1)),
        "literal" => Box::new(fig1_engine(n, StepMode::Literal, 1)),
        "gram" => Box::new(gram(n)),
        other => panic!("--mode must be fast, literal, gram, gram-lanes or normals, got {other}"),
    };
    let mut rng = stream_rng(1, 1);
    // Warm-up: 1% of the steps.
    for _ in 0..steps / 100 {
        e.step(&mut rng).expect("step");
    }
    let t0 = Instant::now();
    for _ in 0..steps {
        e.step(&mut rng).expect("step");
    }
    let secs = t0.elapsed().as_secs_f64();
    let m = e.macro_state();
    let d = m.d();
    // FNV-1a over the bits of the final macroscopic state: equal digests, equal numbers.
    let digest = m.pack().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ x.to_bits()).wrapping_mul(0x100_0000_01b3)
    });
    println!(
        "{{\"impl\": \"hdgan-{label}\", \"n\": {n}, \"d\": {d}, \"steps\": {steps}, \"threads\": {}, \"seconds\": {secs}, \"us_per_step\": {}, \"P_diag\": [{}, {}], \"state_digest\": \"{digest:016x}\"}}",
        rayon::current_num_threads(),
        secs / steps as f64 * 1e6,
        m.p[(0, 0)],
        m.p[(1, 1)]
    );
}
