//! Tests of the `hdgan` binary itself: exit codes, one-line errors, no partial output,
//! thread-count independence. (They live beside the binary because Cargo exposes a
//! binary's path, `CARGO_BIN_EXE_hdgan`, only to its own package's integration tests; the
//! workspace-wide integration tests are in `tests/`.)

mod common;
use common::hdgan;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small valid config: n = 200, d = 2, T = 3, three members.
fn small() -> String {
    hdgan_experiments::reference::figure1_text("small", 7, 200, 3.0, 0.5, 3)
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

/// Runs `hdgan run` on [`small`] with `from` replaced by `to` and checks: exit code 2, a
/// single stderr line mentioning `key` and `rule`, and no output folder (nor temporary).
fn check_rejected(from: &str, to: &str, key: &str, rule: &str) {
    assert!(small().contains(from), "fixture lacks {from:?}");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "bad.toml", &small().replacen(from, to, 1));
    let out = hdgan(
        &["run", cfg.to_str().unwrap(), "--out", "result", "-q"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.contains(key), "key {key:?} not named: {stderr}");
    assert!(stderr.contains(rule), "rule {rule:?} not stated: {stderr}");
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "bad.toml")
        .collect();
    assert!(left.is_empty(), "output left behind: {left:?}");
    // `check` rejects it the same way.
    let out = hdgan(&["check", cfg.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn non_symmetric_covariance() {
    check_rejected(
        "cov = [[5.0, 0.0], [0.0, 3.0]]",
        "cov = [[5.0, 1.0], [0.0, 3.0]]",
        "model.latent.cov",
        "symmetric",
    );
}

#[test]
fn non_psd_covariance() {
    check_rejected(
        "cov = [[5.0, 0.0], [0.0, 3.0]]",
        "cov = [[1.0, 2.0], [2.0, 1.0]]",
        "model.latent.cov",
        "positive semi-definite",
    );
}

#[test]
fn negative_noise_variance() {
    check_rejected("eta_t = 2.0", "eta_t = -2.0", "model.eta_t", ">= 0");
}

#[test]
fn non_positive_learning_rate() {
    check_rejected("tau = 0.2", "tau = 0.0", "model.tau", "> 0");
    check_rejected(
        "tau_tilde = 0.04",
        "tau_tilde = -0.04",
        "model.tau_tilde",
        "> 0",
    );
}

#[test]
fn d_not_below_n() {
    check_rejected("n = 200", "n = 2", "model.d", "must be < n");
}

#[test]
fn nan_and_inf_values() {
    check_rejected("eta_g = 2.0", "eta_g = nan", "model.eta_g", "finite");
    check_rejected("tau = 0.2", "tau = inf", "model.tau", "finite");
    check_rejected(
        "q0 = [0.1, 0.1]",
        "q0 = [0.1, -inf]",
        "init.q0[1]",
        "finite",
    );
}

#[test]
fn unknown_key() {
    check_rejected(
        "eta_g = 2.0",
        "eta_g = 2.0\nbeta = 1.0",
        "model.beta",
        "unknown field",
    );
    check_rejected(
        "t_end = 3.0",
        "t_end = 3.0\nsteps = 10",
        "sim.steps",
        "unknown field",
    );
}

#[test]
fn unreachable_initial_overlap() {
    check_rejected(
        "q0 = [0.1, 0.1]",
        "q0 = [0.9, 0.9]",
        "init.q0",
        "cannot be longer",
    );
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = hdgan(&["run", "nope.toml", "-q"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("nope.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn zero_threads_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "small.toml", &small());
    let out = hdgan(
        &["run", cfg.to_str().unwrap(), "--threads", "0", "-q"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--threads"));
}

#[test]
fn same_seed_gives_identical_files_with_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "small.toml", &small());
    let c = cfg.to_str().unwrap();
    for (t, out) in [("1", "one"), ("2", "two")] {
        let o = hdgan(&["run", c, "--threads", t, "--out", out, "-q"], dir.path());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for f in ["sim.csv", "ode.csv", "sim.npy", "ode.npy"] {
        let a = fs::read(dir.path().join("one").join(f)).unwrap();
        let b = fs::read(dir.path().join("two").join(f)).unwrap();
        assert!(a == b, "{f} differs between 1 and 2 threads");
    }
    // A different seed gives different numbers.
    let o = hdgan(
        &["run", c, "--seed", "8", "--out", "other", "-q"],
        dir.path(),
    );
    assert!(o.status.success());
    assert_ne!(
        fs::read(dir.path().join("one/sim.csv")).unwrap(),
        fs::read(dir.path().join("other/sim.csv")).unwrap()
    );
}

#[test]
fn run_writes_every_output_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "small.toml", &small());
    let o = hdgan(&["run", cfg.to_str().unwrap(), "-q"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("out/small");
    for f in [
        "sim.csv",
        "sim.npy",
        "ode.csv",
        "ode.npy",
        "run.json",
        "figure.svg",
        "figure.png",
        "config.toml",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(meta["seed"], 7);
    assert_eq!(meta["config"]["model"]["n"], 200);
    assert_eq!(meta["config"]["model"]["lambda"], "inf");
    assert!(meta["git_revision"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(meta["hdgan_version"], env!("CARGO_PKG_VERSION"));
    // CSV: header + 3 members x 7 records (t = 0, 0.5, .., 3).
    let csv = fs::read_to_string(out.join("sim.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("member,t,P11,P12,P21,P22,q1,q2")
    );
    assert_eq!(lines.count(), 21);
    // The written config runs again and reproduces the same numbers.
    let o = hdgan(
        &[
            "run",
            out.join("config.toml").to_str().unwrap(),
            "--out",
            "again",
            "-q",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        fs::read(out.join("sim.csv")).unwrap(),
        fs::read(dir.path().join("again/sim.csv")).unwrap()
    );
}

#[test]
fn divergence_is_an_error_naming_time_and_quantity() {
    // Finite lambda = 0 with a huge discriminator rate: |w| grows without bound.
    let dir = tempfile::tempdir().unwrap();
    let text = small()
        .replace("lambda = \"inf\"", "lambda = 0.0")
        .replace("tau = 0.2", "tau = 40.0")
        .replace("t_end = 3.0", "t_end = 50.0")
        .replace("[sim]", "[sim]\nblowup = 1e6");
    let cfg = write_config(dir.path(), "div.toml", &text);
    let o = hdgan(
        &["run", cfg.to_str().unwrap(), "-q", "--out", "x"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("diverged at t =") && stderr.contains("|w|^2"),
        "{stderr}"
    );
    assert!(!dir.path().join("x").exists());
}

#[test]
fn check_prints_claim1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "small.toml", &small());
    let o = hdgan(&["check", cfg.to_str().unwrap()], dir.path());
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("valid") && s.contains("predicted phase: success"),
        "{s}"
    );
}

/// The flat key `loss_bias` still works, with one deprecation line on stderr (none with
/// `-q`, none for the table form); stdout is that of the table form.
#[test]
fn flat_loss_bias_prints_a_deprecation_note() {
    let dir = tempfile::tempdir().unwrap();
    let flat = small().replacen(
        "[model]\n",
        "[model]\nloss = \"logistic\"\nloss_bias = 0.5\n",
        1,
    );
    let table = small().replacen(
        "[model]\n",
        "[model]\nloss = { name = \"logistic\", bias = 0.5 }\n",
        1,
    );
    let flat = write_config(dir.path(), "flat.toml", &flat);
    let table = write_config(dir.path(), "table.toml", &table);
    let f = hdgan(&["check", flat.to_str().unwrap()], dir.path());
    let t = hdgan(&["check", table.to_str().unwrap()], dir.path());
    assert!(f.status.success() && t.status.success());
    let err = String::from_utf8_lossy(&f.stderr);
    assert_eq!(
        err.trim(),
        "flat: config key `model.loss_bias` is deprecated: write model.loss = { name = \"logistic\", bias = 0.5 } instead"
    );
    assert!(
        t.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&t.stderr)
    );
    let (so_f, so_t) = (
        String::from_utf8_lossy(&f.stdout),
        String::from_utf8_lossy(&t.stdout),
    );
    assert_eq!(
        so_f.replace("flat.toml", "X"),
        so_t.replace("table.toml", "X")
    );
    let q = hdgan(&["-q", "check", flat.to_str().unwrap()], dir.path());
    assert!(q.status.success() && q.stderr.is_empty());
}

/// A tiny phase diagram: every output is written, Claim 1 and the ODE agree at the four
/// corners of a grid well inside the success region, and the grids load as (ny, nx).
#[test]
fn phase_writes_grids_and_figures() {
    let dir = tempfile::tempdir().unwrap();
    let text = small().replace("[sim]\nt_end = 3.0\nrecord_dt = 0.5\nmembers = 3\n", "")
        + "[phase]\nx = { param = \"tau_eta_sq\", min = 0.8, max = 1.2, count = 3 }\ny = { param = \"alpha\", min = 0.15, max = 0.25, count = 2 }\n";
    let cfg = write_config(dir.path(), "ph.toml", &text);
    let o = hdgan(
        &["phase", cfg.to_str().unwrap(), "-q", "--out", "ph"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("agree at 6 of 6 points"), "{stdout}");
    for f in [
        "phase.csv",
        "phase.npy",
        "ode_phase_grid.npy",
        "claim1_phase_grid.npy",
        "phase.svg",
        "phase.png",
        "agreement.png",
        "run.json",
    ] {
        assert!(dir.path().join("ph").join(f).is_file(), "{f} missing");
    }
    let npy = fs::read(dir.path().join("ph/ode_phase_grid.npy")).unwrap();
    assert!(String::from_utf8_lossy(&npy[..80]).contains("'shape': (2, 3"));
    // Bad axis: same parameter twice.
    let bad = write_config(
        dir.path(),
        "bad.toml",
        &text.replace("param = \"alpha\"", "param = \"tau_eta_sq\""),
    );
    let o = hdgan(
        &["phase", bad.to_str().unwrap(), "-q", "--out", "bad"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("phase.y.param"));
    assert!(!dir.path().join("bad").exists());
}

#[test]
fn fixed_points_lists_spectra() {
    let dir = tempfile::tempdir().unwrap();
    let text = small()
        .replace("d = 2", "d = 1")
        .replace("cov = [[5.0, 0.0], [0.0, 3.0]]", "cov = [[5.0]]")
        .replace("p0 = [[0.1, 0.0], [0.0, 0.1]]", "p0 = [[0.1]]")
        .replace("q0 = [0.1, 0.1]", "q0 = [0.1]");
    let cfg = write_config(dir.path(), "d1.toml", &text);
    let o = hdgan(&["fixed-points", cfg.to_str().unwrap()], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("Resting")
            && s.contains("DiscriminatorOnly")
            && s.contains("marginal")
            && s.contains("unstable"),
        "{s}"
    );
}

#[test]
fn measure_writes_snapshots_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
seed = 3
[model]
n = 400
d = 1
tau = 0.2
tau_tilde = 0.04
eta_t = 2.0
eta_g = 2.0
[model.latent]
cov = [[5.0]]
[init]
p0 = [[0.1]]
q0 = [0.1]
features = "constant"
row_cov = [[0.99, 0.0], [0.0, 0.99]]
[measure]
times = [0.0, 2.0]
"#;
    let cfg = write_config(dir.path(), "m.toml", text);
    let o = hdgan(
        &["measure", cfg.to_str().unwrap(), "-q", "--out", "m"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "snapshot_t0.npy",
        "snapshot_t2.npy",
        "moments.csv",
        "figure2.svg",
        "figure2.png",
        "run.json",
    ] {
        assert!(dir.path().join("m").join(f).is_file(), "{f} missing");
    }
    let csv = fs::read_to_string(dir.path().join("m/moments.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    // Random features are refused with the key named.
    let bad = write_config(
        dir.path(),
        "b.toml",
        &text.replace("features = \"constant\"", "features = \"random\""),
    );
    let o = hdgan(
        &["measure", bad.to_str().unwrap(), "-q", "--out", "b"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("init.features"));
}

/// `hdgan modes`: a rotated, boosted M with the informed generator. The table names both
/// modes with their intervals, the files load, `--run` adds the mode-basis trajectories,
/// and a bad generator spec is refused with its key.
#[test]
fn modes_reports_intervals_and_runs_by_mode() {
    let dir = tempfile::tempdir().unwrap();
    let text = small()
        .replace(
            "cov = [[5.0, 0.0], [0.0, 3.0]]",
            "cov = [[7.5, 1.5], [1.5, 1.9]]\n[model.latent_tilde]\nfrom_data = \"informed\"",
        )
        .replace("eta_t = 2.0", "eta_t = 2.2360679774997896")
        .replace("eta_g = 2.0", "eta_g = 2.2360679774997896");
    let cfg = write_config(dir.path(), "boost.toml", &text);
    let o = hdgan(&["modes", cfg.to_str().unwrap(), "--out", "m"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    // Eigenvalues of [[7.5, 1.5], [1.5, 1.9]]: 7.8765 and 1.5235, both in (1, ...].
    assert!(s.contains("7.8765") && s.contains("1.5235"), "{s}");
    assert!(s.contains("predicted: success"), "{s}");
    let csv = fs::read_to_string(dir.path().join("m/modes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    for f in ["modes.json", "spectrum.svg", "spectrum.png"] {
        assert!(dir.path().join("m").join(f).is_file(), "{f} missing");
    }
    let o = hdgan(
        &["modes", cfg.to_str().unwrap(), "--run", "-q", "--out", "r"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("phase by mode (ODE)"));
    for f in [
        "sim_modes.csv",
        "ode_modes.npy",
        "modes_figure.png",
        "sim.csv",
    ] {
        assert!(dir.path().join("r").join(f).is_file(), "{f} missing");
    }
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join("r/modes.json")).unwrap())
            .unwrap();
    assert!(json["git_revision"].is_string() && json["run"]["seed"] == 7);
    let bad = write_config(
        dir.path(),
        "bad.toml",
        &text.replace(
            "from_data = \"informed\"",
            "from_data = \"informed\"\ncov = [[1.0, 0.0], [0.0, 1.0]]",
        ),
    );
    let o = hdgan(&["modes", bad.to_str().unwrap(), "--out", "b"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("model.latent_tilde.from_data"));
    assert!(!dir.path().join("b").exists());
}

/// [`small`] with a p = 2 discriminator (literal step, init.q0_cols).
fn small_multi() -> String {
    small()
        .replacen("d = 2\n", "d = 2\np = 2\n", 1)
        .replacen(
            "q0 = [0.1, 0.1]\n",
            "q0 = [0.1, 0.1]\nq0_cols = [[0.1, 0.2], [0.1, 0.0]]\n",
            1,
        )
        .replacen("members = 3\n", "members = 2\nmode = \"literal\"\n", 1)
}

#[test]
fn multi_feature_run_writes_p_feature_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "multi.toml", &small_multi());
    let out = hdgan(
        &["run", cfg.to_str().unwrap(), "--out", "m", "-q"],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ode = fs::read_to_string(dir.path().join("m/ode.csv")).unwrap();
    let header: Vec<&str> = ode.lines().next().unwrap().split(',').collect();
    // t + P (4) + Q (4) + R (4) + S (4) + Z (4)
    assert_eq!(header.len(), 21, "{header:?}");
    assert!(header.contains(&"Z12") && header.contains(&"Q21"));
    let first: Vec<f64> = ode
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    let z12 = header.iter().position(|h| *h == "Z12").unwrap();
    // Z12 starts at Q0[:, 0] . Q0[:, 1] = 0.1 * 0.2 + 0.1 * 0.0.
    assert!((first[z12] - 0.02).abs() < 1e-12);
    let sim = fs::read_to_string(dir.path().join("m/sim.csv")).unwrap();
    assert_eq!(sim.lines().next().unwrap().split(',').count(), 22);
    for f in [
        "sim.npy",
        "ode.npy",
        "figure.svg",
        "figure.png",
        "run.json",
        "config.toml",
    ] {
        assert!(dir.path().join("m").join(f).exists(), "missing {f}");
    }
    let meta = fs::read_to_string(dir.path().join("m/run.json")).unwrap();
    assert!(meta.contains("git_revision") && meta.contains("MultiSgda"));
}

#[test]
fn multi_feature_rules_name_their_keys() {
    let cases = [
        (
            small_multi().replacen("mode = \"literal\"\n", "", 1),
            "sim.mode",
            "literal",
        ),
        (
            small_multi().replacen(
                "mode = \"literal\"\n",
                "mode = \"literal\"\nengine = \"gram\"\n",
                1,
            ),
            "sim.engine",
            "full",
        ),
        (
            small_multi().replacen("q0_cols = [[0.1, 0.2], [0.1, 0.0]]\n", "", 1),
            "init.q0_cols",
            "required",
        ),
        (
            small_multi().replacen("[[0.1, 0.2], [0.1, 0.0]]", "[[0.1, 0.9], [0.1, 0.9]]", 1),
            "init.q0_cols",
            "squared norm",
        ),
    ];
    for (text, key, rule) in cases {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write_config(dir.path(), "bad.toml", &text);
        let out = hdgan(
            &["run", cfg.to_str().unwrap(), "--out", "r", "-q"],
            dir.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(rule),
            "{key}: {stderr}"
        );
        assert!(!dir.path().join("r").exists());
    }
    // Single-feature tools refuse a p > 1 config, naming model.p.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "multi.toml", &small_multi());
    let out = hdgan(&["modes", cfg.to_str().unwrap(), "--out", "r"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("model.p"));
}

/// An IDX image file (raw) of `count` 8 x 8 images with a planted two-dimensional spike.
fn planted_idx(dir: &Path, count: usize) -> PathBuf {
    let mut bytes = vec![0u8, 0, 0x08, 3];
    for d in [count as u32, 8, 8] {
        bytes.extend(d.to_be_bytes());
    }
    let mut state = 12345u64;
    let mut unif = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    for _ in 0..count {
        let (a, b) = (unif() - 0.5, unif() - 0.5);
        for i in 0..64 {
            let spike = if i < 8 {
                120.0 * a
            } else if i < 16 {
                80.0 * b
            } else {
                0.0
            };
            let v = 128.0 + spike + 20.0 * (unif() - 0.5);
            bytes.push(v.round().clamp(0.0, 255.0) as u8);
        }
    }
    let p = dir.join("toy-images-idx3-ubyte");
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn train_data_writes_alignment_files() {
    let dir = tempfile::tempdir().unwrap();
    let img = planted_idx(dir.path(), 400);
    let out = hdgan(
        &[
            "train-data",
            "--dataset",
            "mnist",
            "--path",
            img.to_str().unwrap(),
            "--seeds",
            "2",
            "--t-end",
            "20",
            "--out",
            "t",
            "-q",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "alignment.csv",
        "ode_alignment.csv",
        "spectrum.csv",
        "summary.json",
        "alignment.svg",
        "alignment.png",
        "spectrum.svg",
    ] {
        assert!(dir.path().join("t").join(f).exists(), "missing {f}");
    }
    let csv = fs::read_to_string(dir.path().join("t/alignment.csv")).unwrap();
    assert!(csv.starts_with("covariance,seed,t,cos1,cos2,mean_cos,grassmann"));
    // 3 covariances x 2 seeds, the same recorded times each; cosines in [0, 1].
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert!(
        rows.len().is_multiple_of(6) && rows.len() / 6 >= 50,
        "{} rows",
        rows.len()
    );
    assert!(rows.iter().all(|r| (0.0..=1.0).contains(&r[5])));
    let summary = fs::read_to_string(dir.path().join("t/summary.json")).unwrap();
    assert!(summary.contains("git_revision") && summary.contains("estimated_effective_spectrum"));
    // Same request on one thread: byte-identical curves.
    let out = hdgan(
        &[
            "train-data",
            "--dataset",
            "mnist",
            "--path",
            img.to_str().unwrap(),
            "--seeds",
            "2",
            "--t-end",
            "20",
            "--out",
            "t1",
            "--threads",
            "1",
            "-q",
        ],
        dir.path(),
    );
    assert!(out.status.success());
    for f in ["alignment.csv", "ode_alignment.csv", "spectrum.csv"] {
        assert_eq!(
            fs::read(dir.path().join("t").join(f)).unwrap(),
            fs::read(dir.path().join("t1").join(f)).unwrap(),
            "{f} depends on the thread count"
        );
    }
}

/// The baselines and a two-feature discriminator on the planted fixture: every method's
/// rows in methods.csv, the baselines find the planted subspace (final Grassmann distance
/// far below the random start's), the pictures are written, and the numbers do not depend
/// on the thread count. Data-dependent refusals name their flag.
#[test]
fn train_data_runs_the_baselines_beside_the_gan() {
    let dir = tempfile::tempdir().unwrap();
    let img = planted_idx(dir.path(), 400);
    let run = |out: &str, threads: &str, extra: &[&str]| {
        let mut args = vec![
            "train-data",
            "--dataset",
            "mnist",
            "--path",
            img.to_str().unwrap(),
            "--seeds",
            "2",
            "--t-end",
            "10",
            "--covariance",
            "informed",
            "--baselines",
            "all",
            "--p",
            "2",
            "--out",
            out,
            "--threads",
            threads,
            "-q",
        ];
        args.extend_from_slice(extra);
        hdgan(&args, dir.path())
    };
    let out = run("b", "2", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = fs::read_to_string(dir.path().join("b/methods.csv")).unwrap();
    assert!(csv.starts_with("method,seed,t,cos1,cos2,mean_cos,grassmann,recon_error"));
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    for m in ["gan-informed", "oja", "grouse", "past", "petrels"] {
        let mine: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == m).collect();
        assert!(!mine.is_empty(), "no rows for {m}");
        if m != "gan-informed" {
            let g = |r: &Vec<&str>| r[6].parse::<f64>().unwrap();
            let (first, last) = (g(mine[0]), g(mine[mine.len() / 2 - 1]));
            assert!(
                last < 0.3 * first,
                "{m}: Grassmann distance {first} -> {last}"
            );
        }
    }
    for f in [
        "methods.svg",
        "methods.png",
        "bases-pca.png",
        "bases-oja.png",
        "bases-gan-informed-over-time.png",
    ] {
        assert!(dir.path().join("b").join(f).exists(), "missing {f}");
    }
    let summary = fs::read_to_string(dir.path().join("b/summary.json")).unwrap();
    assert!(summary.contains("\"holdout_images\": 40") && summary.contains("us_per_sample"));
    assert!(run("b1", "1", &[]).status.success());
    for f in ["methods.csv", "alignment.csv", "ode_alignment.csv"] {
        assert_eq!(
            fs::read(dir.path().join("b").join(f)).unwrap(),
            fs::read(dir.path().join("b1").join(f)).unwrap(),
            "{f} depends on the thread count"
        );
    }
    for (extra, flag) in [
        (&["--d", "40"][..], "--d"),
        (&["--holdout", "400"][..], "--holdout"),
    ] {
        let out = run("bad", "1", extra);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{extra:?}"
        );
        assert!(!dir.path().join("bad").exists());
    }
}

/// A CIFAR-10 binary batch of `count` records with two planted colour spikes (a red
/// patch and a blue patch varying independently) over pixel noise.
fn planted_cifar(dir: &Path, count: usize) -> PathBuf {
    let mut state = 777u64;
    let mut unif = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let mut bytes = Vec::with_capacity(count * 3073);
    for k in 0..count {
        bytes.push((k % 10) as u8);
        let (a, b) = (unif() - 0.5, unif() - 0.5);
        for plane in 0..3 {
            for i in 0..1024 {
                let spike = match (plane, i) {
                    (0, 0..96) => 150.0 * a,
                    (2, 500..596) => 100.0 * b,
                    _ => 0.0,
                };
                let v = 128.0 + spike + 20.0 * (unif() - 0.5);
                bytes.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    let p = dir.join("data_batch_1.bin");
    fs::write(&p, bytes).unwrap();
    p
}

/// CIFAR-10 in colour end to end: n = 3072, the multi-feature GAN and a baseline, the
/// bases drawn as 32 x 32 colour images, the shape recorded; greyscale gives n = 1024.
#[test]
fn train_data_reads_cifar10_in_colour_and_grey() {
    let dir = tempfile::tempdir().unwrap();
    let batch = planted_cifar(dir.path(), 2300);
    for (out, colour, n, channels) in [("c", true, 3072, 3), ("g", false, 1024, 1)] {
        let mut args = vec![
            "train-data",
            "--dataset",
            "cifar10",
            "--path",
            batch.to_str().unwrap(),
            "--d",
            "2",
            "--p",
            "2",
            "--constraint",
            "orthonormal",
            "--seeds",
            "1",
            "--t-end",
            "1",
            "--covariance",
            "informed",
            "--baselines",
            "oja",
            "--out",
            out,
            "-q",
        ];
        if colour {
            args.push("--colour");
        }
        let run = hdgan(&args, dir.path());
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let summary: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join(out).join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(summary["n"], n);
        assert_eq!(summary["image_shape"]["height"], 32);
        assert_eq!(summary["image_shape"]["channels"], channels);
        assert_eq!(summary["holdout_images"], 230);
        for f in [
            "bases-pca.png",
            "bases-oja.png",
            "bases-gan-informed-over-time.png",
        ] {
            assert!(dir.path().join(out).join(f).exists(), "{out}: missing {f}");
        }
    }
}

#[test]
fn train_data_bad_files_are_input_errors_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let img = planted_idx(dir.path(), 400);
    let mut bytes = fs::read(&img).unwrap();
    bytes.truncate(bytes.len() - 10);
    let cut = dir.path().join("cut-images-idx3-ubyte");
    fs::write(&cut, &bytes).unwrap();
    bytes[0] = 7;
    let magic = dir.path().join("magic-images-idx3-ubyte");
    fs::write(&magic, &bytes).unwrap();
    let cifar = dir.path().join("data_batch_1.bin");
    fs::write(&cifar, vec![0u8; 3073 * 2 - 5]).unwrap();
    for (ds, path, rule) in [
        ("mnist", &cut, "truncated"),
        ("fashion-mnist", &magic, "wrong magic"),
        ("cifar10", &cifar, "multiple"),
    ] {
        let out = hdgan(
            &[
                "train-data",
                "--dataset",
                ds,
                "--path",
                path.to_str().unwrap(),
                "--out",
                "r",
                "-q",
            ],
            dir.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{ds}: {stderr}");
        assert!(
            stderr.contains(rule) && stderr.contains(path.file_name().unwrap().to_str().unwrap()),
            "{ds}: {stderr}"
        );
        assert!(!dir.path().join("r").exists());
    }
}

/// Names in `dir` (sorted).
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn output_folders_are_never_replaced_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "small.toml", &small());
    let cfg = cfg.to_str().unwrap();
    // A user's folder with content: refused, untouched, with or without --overwrite.
    let mine = dir.path().join("mine");
    fs::create_dir(&mine).unwrap();
    fs::write(mine.join("notes.md"), "keep me").unwrap();
    for extra in [&[][..], &["--overwrite"][..]] {
        let mut args = vec!["run", cfg, "--out", "mine", "-q"];
        args.extend_from_slice(extra);
        let out = hdgan(&args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
        assert_eq!(
            fs::read_to_string(mine.join("notes.md")).unwrap(),
            "keep me"
        );
    }
    // The config file, the current folder and a device are never replaced.
    for target in ["small.toml", ".", "/dev/null"] {
        let out = hdgan(
            &["run", cfg, "--out", target, "--overwrite", "-q"],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(2), "{target}: {out:?}");
    }
    assert_eq!(
        fs::read_to_string(dir.path().join("small.toml")).unwrap(),
        small()
    );
    // An unusable place is found before any work and exits 2, leaving nothing.
    let out = hdgan(&["run", cfg, "--out", "small.toml/sub", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    // hdgan's own folder: refused without --overwrite, replaced with it.
    assert!(
        hdgan(&["run", cfg, "--out", "r", "-q"], dir.path())
            .status
            .success()
    );
    let out = hdgan(&["run", cfg, "--out", "r", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let out = hdgan(&["run", cfg, "--out", "r", "-q", "--overwrite"], dir.path());
    assert!(out.status.success(), "{out:?}");
    // With no folder named, reruns get numbered folders.
    for _ in 0..2 {
        assert!(hdgan(&["run", cfg, "-q"], dir.path()).status.success());
    }
    assert_eq!(names_in(&dir.path().join("out")), vec!["small", "small-2"]);
    assert_eq!(
        names_in(dir.path()),
        vec!["mine", "out", "r", "small.toml"],
        "no staging folder left"
    );
}

#[test]
fn closed_or_full_stdout_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "small.toml", &small());
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hdgan"))
        .args(["check", cfg.to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("standard output") && !stderr.contains("panicked"),
        "{stderr}"
    );
    // A closed pipe: the run still writes its folder.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hdgan"))
        .args(["run", cfg.to_str().unwrap(), "--out", "piped", "-q"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("piped/sim.csv").exists());
}

#[test]
fn memory_estimates_refuse_oversized_requests() {
    let dir = tempfile::tempdir().unwrap();
    let big = small().replace("t_end = 3.0", "t_end = 1e9");
    let cfg = write_config(dir.path(), "big.toml", &big);
    for cmd in ["check", "run"] {
        let out = hdgan(
            &[cmd, cfg.to_str().unwrap(), "--max-memory", "1G"],
            dir.path(),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("sim.t_end") && stderr.contains("--max-memory"),
            "{stderr}"
        );
    }
    assert_eq!(names_in(dir.path()), vec!["big.toml"]);
    let ok = write_config(dir.path(), "ok.toml", &small());
    let out = hdgan(&["check", ok.to_str().unwrap()], dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("resources: about"));
}

/// Runs `args` to completion, then again with a fault after `k` checkpoints and a resume,
/// and requires identical CSV/NPY/figure files.
fn check_resume_is_identical(config: &str, extra: &[&str], every: &str, threads: [&str; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "c.toml", config);
    let cfg = cfg.to_str().unwrap();
    let mut whole = vec!["run", cfg, "--out", "whole", "-q", "--threads", threads[0]];
    whole.extend_from_slice(extra);
    assert!(hdgan(&whole, dir.path()).status.success());
    let mut killed = vec![
        "run",
        cfg,
        "--out",
        "cut",
        "-q",
        "--threads",
        threads[0],
        "--checkpoint-every",
        every,
    ];
    killed.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_hdgan"))
        .args(&killed)
        .current_dir(dir.path())
        .env("HDGAN_FAULT_AFTER_CHECKPOINTS", "2")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fault was injected");
    assert!(!dir.path().join("cut").exists());
    assert!(dir.path().join("cut.checkpoint/state.bin").exists());
    let out = hdgan(
        &[
            "run",
            "--resume",
            "cut.checkpoint",
            "-q",
            "--threads",
            threads[1],
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "sim.csv",
        "sim.npy",
        "ode.csv",
        "ode.npy",
        "figure.svg",
        "config.toml",
    ] {
        let a = fs::read(dir.path().join("whole").join(f)).unwrap();
        let b = fs::read(dir.path().join("cut").join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs after resume ({extra:?}, threads {threads:?})"
        );
    }
    assert!(
        !dir.path().join("cut.checkpoint").exists(),
        "removed when done"
    );
    assert!(
        names_in(dir.path()).iter().all(|n| !n.starts_with('.')),
        "staging left: {:?}",
        names_in(dir.path())
    );
}

#[test]
fn resume_after_a_kill_gives_identical_outputs() {
    check_resume_is_identical(&small(), &[], "0.5", ["1", "2"]);
    check_resume_is_identical(&small(), &["--engine", "gram"], "0.5", ["2", "1"]);
    // Five Gram members: four step together in SIMD lanes and the fifth alone; with
    // checkpoints the lanes stop and restart at every save. Same bytes.
    let five = small().replace("members = 3", "members = 5");
    check_resume_is_identical(&five, &["--engine", "gram"], "0.5", ["1", "2"]);
    let literal = small().replace("members = 3", "members = 2\nmode = \"literal\"");
    check_resume_is_identical(&literal, &[], "0.7", ["2", "2"]);
    check_resume_is_identical(&small_multi(), &[], "0.5", ["1", "2"]);
}

#[test]
fn a_second_checkpointed_run_does_not_clobber_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "c.toml", &small());
    fs::create_dir(dir.path().join("x.checkpoint")).unwrap();
    fs::write(dir.path().join("x.checkpoint/mine"), "1").unwrap();
    let out = hdgan(
        &[
            "run",
            cfg.to_str().unwrap(),
            "--out",
            "x",
            "--checkpoint-every",
            "1",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    assert!(dir.path().join("x.checkpoint/mine").exists());
    let out = hdgan(&["run", "--resume", "nothing-here"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

/// Runs `hdgan run CFG --out OUT --checkpoint-every 0.5 EXTRA` and kills it (like
/// `kill -9`) right after its second checkpoint; returns the checkpoint folder.
fn killed_after_two_checkpoints(dir: &Path, cfg: &str, out: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["run", cfg, "--out", out, "-q", "--checkpoint-every", "0.5"];
    args.extend_from_slice(extra);
    let status = Command::new(env!("CARGO_BIN_EXE_hdgan"))
        .args(&args)
        .current_dir(dir)
        .env("HDGAN_FAULT_AFTER_CHECKPOINTS", "2")
        .output()
        .unwrap()
        .status;
    assert!(!status.success(), "the fault was injected");
    dir.join(format!("{out}.checkpoint"))
}

/// `hdgan run --resume cut.checkpoint` must be refused (exit 2, one line with `why`,
/// no output folder, the checkpoint left as it was).
fn check_resume_refused(dir: &Path, why: &str) {
    let before: Vec<Vec<u8>> = ["request.json", "state.bin"]
        .iter()
        .map(|f| fs::read(dir.join("cut.checkpoint").join(f)).unwrap())
        .collect();
    let names = names_in(dir);
    let out = hdgan(&["run", "--resume", "cut.checkpoint", "-q"], dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(why), "expected {why:?}: {stderr}");
    assert!(!dir.join("cut").exists(), "no output folder");
    assert_eq!(names_in(dir), names, "nothing made, nothing removed");
    for (f, b) in ["request.json", "state.bin"].iter().zip(&before) {
        assert_eq!(&fs::read(dir.join("cut.checkpoint").join(f)).unwrap(), b);
    }
}

/// The reliability issue's case: a bit flipped in the middle of `state.bin` or of
/// `request.json`, a truncated state, another run's state, an older format: each refused
/// with one line naming the file and the reason; the intact checkpoint then resumes to the
/// uninterrupted run's bytes.
#[test]
fn corrupted_and_foreign_checkpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = write_config(d, "c.toml", &small());
    let cfg = cfg.to_str().unwrap();
    assert!(
        hdgan(&["run", cfg, "--out", "whole", "-q"], d)
            .status
            .success()
    );
    let ck = killed_after_two_checkpoints(d, cfg, "cut", &[]);
    let other = killed_after_two_checkpoints(d, cfg, "other", &["--seed", "8"]);
    let state = ck.join("state.bin");
    let request = ck.join("request.json");
    let good_state = fs::read(&state).unwrap();
    let good_request = fs::read(&request).unwrap();

    let mut flipped = good_state.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    fs::write(&state, &flipped).unwrap();
    check_resume_refused(d, "state.bin is corrupted");

    fs::write(&state, &good_state[..good_state.len() * 2 / 3]).unwrap();
    check_resume_refused(d, "state.bin is truncated");

    fs::write(&state, fs::read(other.join("state.bin")).unwrap()).unwrap();
    check_resume_refused(d, "belongs to another request");
    fs::write(&state, &good_state).unwrap();

    // A digit of the config text (inside the JSON string) and a byte of the JSON syntax.
    let text = String::from_utf8(good_request.clone()).unwrap();
    let digit = text.find("t_end = 3").unwrap() + "t_end = ".len();
    for at in [digit, good_request.len() / 2] {
        let mut flipped = good_request.clone();
        flipped[at] ^= 0x01;
        fs::write(&request, &flipped).unwrap();
        check_resume_refused(d, "request.json is corrupted");
    }
    let v1 = text.replacen("\"format\": 2", "\"format\": 1", 1);
    assert_ne!(v1, text);
    fs::write(&request, v1).unwrap();
    check_resume_refused(d, "checkpoint format 1");

    fs::write(&request, &good_request).unwrap();
    let out = hdgan(&["run", "--resume", "cut.checkpoint", "-q"], d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["sim.csv", "sim.npy", "ode.csv", "ode.npy"] {
        assert!(
            fs::read(d.join("whole").join(f)).unwrap() == fs::read(d.join("cut").join(f)).unwrap(),
            "{f} differs after resume"
        );
    }
}

/// `hdgan check` reads every kind of config hdgan reads (detected from its tables, or
/// given by `--kind`), prints what it describes and its estimates, and refuses a wrong
/// `--kind` naming the unknown key.
#[test]
fn check_reads_every_kind_of_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    for (file, says) in [
        ("phase-eta-alpha.toml", "valid (phase map)"),
        ("fig2.toml", "valid (measure"),
        ("sweep-fig1-seeds.toml", "valid (sweep)"),
        ("fig1-success.toml", "valid"),
    ] {
        let path = root.join(file);
        let out = hdgan(&["check", path.to_str().unwrap()], dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(says), "{file}: {stdout}");
        assert!(stdout.contains("resources:"), "{file}: {stdout}");
    }
    let phase = root.join("phase-eta-alpha.toml");
    let out = hdgan(
        &["check", phase.to_str().unwrap(), "--kind", "run"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`phase`"));
    assert!(names_in(dir.path()).is_empty(), "check writes nothing");
}

/// Runs `hdgan run small.toml --out res` inside a tmpfs of `size` mounted at `dir` in a
/// private mount namespace (`unshare -rm`), and returns (exit status, stderr, the names left
/// in the tmpfs after the run). `None` when this machine cannot make such a namespace.
fn run_in_tmpfs(dir: &Path, size: &str) -> Option<(i32, String, String)> {
    let config = write_config(dir, "small.toml", &small());
    let disk = dir.join("disk");
    fs::create_dir(&disk).unwrap();
    let script = format!(
        "mount -t tmpfs -o size={size} tmpfs '{d}' || exit 90; cd '{d}'; \
         '{bin}' run '{c}' --out res -q 2>'{e}' >/dev/null; echo $?; ls -A",
        d = disk.display(),
        bin = env!("CARGO_BIN_EXE_hdgan"),
        c = config.display(),
        e = dir.join("stderr").display(),
    );
    let o = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .ok()?;
    if o.status.code() == Some(90) || !o.status.success() {
        println!(
            "skipped: cannot mount a tmpfs in a private namespace here ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        );
        return None;
    }
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines = out.lines();
    let code = lines.next()?.trim().parse().ok()?;
    let left = lines.collect::<Vec<_>>().join(" ");
    let stderr = fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    Some((code, stderr, left))
}

#[test]
fn a_full_disk_is_an_error_naming_the_folder_and_leaves_nothing() {
    // The run writes about 200 kB in eleven files; each size fills the disk at another file
    // (tmpfs counts whole 4 kB pages), the last one has room.
    for size in ["8k", "20k", "40k", "100k", "160k"] {
        let dir = tempfile::tempdir().unwrap();
        let Some((code, stderr, left)) = run_in_tmpfs(dir.path(), size) else {
            return;
        };
        assert_eq!(code, 1, "{size}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{size}: {stderr}");
        assert!(
            stderr.contains("No space left on device"),
            "{size}: {stderr}"
        );
        assert!(
            stderr.contains("`res`"),
            "{size}: does not name the folder: {stderr}"
        );
        assert!(left.is_empty(), "{size}: left behind: {left}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, left) = run_in_tmpfs(dir.path(), "1m").unwrap();
    assert_eq!((code, left.as_str()), (0, "res"), "{stderr}");
}

#[test]
fn two_runs_into_one_folder_one_writes_it_the_other_is_refused() {
    // Each run waits at the output claim until its file appears, so the test chooses who
    // comes first: A then B, B then A, and both at once. The runs last about a second here.
    let text = hdgan_experiments::reference::figure1_text("race", 7, 200, 20.0, 0.5, 3);
    for order in ["a-first", "b-first", "together"] {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), "race.toml", &text);
        let start = |who: &str| {
            Command::new(env!("CARGO_BIN_EXE_hdgan"))
                .args(["run", config.to_str().unwrap(), "--out", "X", "-q"])
                .env(
                    "HDGAN_TEST_HOLD_OUTPUT",
                    dir.path().join(format!("go-{who}")),
                )
                .current_dir(dir.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start("a"), start("b"));
        let go = |who: &str| fs::write(dir.path().join(format!("go-{who}")), "").unwrap();
        let claimed = || dir.path().join(".X.hdgan-lock").exists();
        let wait_claim = || {
            let t = std::time::Instant::now();
            while !claimed() {
                assert!(t.elapsed().as_secs() < 60, "{order}: nobody claimed X");
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        };
        match order {
            "a-first" => {
                go("a");
                wait_claim();
                go("b");
            }
            "b-first" => {
                go("b");
                wait_claim();
                go("a");
            }
            _ => {
                go("a");
                go("b");
            }
        }
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let codes = (a.status.code(), b.status.code());
        let (winner, loser) = match (order, codes) {
            ("a-first", _) | ("together", (Some(0), _)) => (&a, &b),
            _ => (&b, &a),
        };
        let err = String::from_utf8_lossy(&loser.stderr);
        assert_eq!(winner.status.code(), Some(0), "{order}: {codes:?} {err}");
        assert_eq!(loser.status.code(), Some(2), "{order}: {codes:?} {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{order}: {err}");
        assert!(err.contains("--out") && err.contains("X"), "{order}: {err}");
        if order != "together" {
            // The loser came while the winner ran.
            assert!(
                err.contains("being written by another hdgan"),
                "{order}: {err}"
            );
        }
        // X is the winner's alone: its manifest lists exactly the files there, and nothing
        // else (no staging folder, no lock) is left beside it.
        let manifest: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join("X/.hdgan-output.json")).unwrap(),
        )
        .unwrap();
        let mut listed: Vec<String> = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect();
        listed.push(".hdgan-output.json".into());
        listed.sort();
        assert_eq!(names_in(&dir.path().join("X")), listed, "{order}");
        let mut beside = names_in(dir.path());
        beside.retain(|n| !n.starts_with("go-"));
        assert_eq!(beside, ["X", "race.toml"], "{order}");
    }
}
