//! Replays the fuzz corpora in `fuzz/corpus/` (kept in the repository; grown by
//! `cargo fuzz run`) through the same entry points the fuzz targets use, so every
//! `cargo test` checks that no input the fuzzer has seen panics.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            // A fuzzer running beside the tests may remove an input it has minimised.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        let started = std::time::Instant::now();
        run(&data);
        assert!(
            started.elapsed().as_secs_f64() < 10.0,
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
        count += 1;
    }
    count
}

#[test]
fn fuzz_corpora_replay_without_panics() {
    let n = replay("config", hdgan_experiments::fuzzing::config)
        + replay("idx", hdgan_experiments::fuzzing::idx)
        + replay("cifar", hdgan_experiments::fuzzing::cifar);
    assert!(n >= 15, "corpora present ({n} inputs)");
    println!("replayed {n} corpus inputs");
}
