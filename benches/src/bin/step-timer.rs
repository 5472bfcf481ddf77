//! Times SGDA steps on Figure 1's model: `step-timer --n 5000 --steps 20000 --mode fast`.
//! Prints one JSON line like `baseline/sgda_numpy.py`, for `baseline/compare.py`.

use hdgan_benches::fig1_engine;
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
    let n: usize = arg(&args, "--n", "5000").parse().expect("--n: integer");
    let steps: u64 = arg(&args, "--steps", "20000")
        .parse()
        .expect("--steps: integer");
    let mode = match arg(&args, "--mode", "fast").as_str() {
        "fast" => StepMode::Fast,
        "literal" => StepMode::Literal,
        other => panic!("--mode must be fast or literal, got {other}"),
    };
    let mut e = fig1_engine(n, mode, 1);
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
    let p = e.macro_state().p;
    println!(
        "{{\"impl\": \"hdgan-{}\", \"n\": {n}, \"d\": 2, \"steps\": {steps}, \"seconds\": {secs}, \"us_per_step\": {}, \"P_diag\": [{}, {}]}}",
        match mode {
            StepMode::Fast => "fast",
            StepMode::Literal => "literal",
        },
        secs / steps as f64 * 1e6,
        p[(0, 0)],
        p[(1, 1)]
    );
}
