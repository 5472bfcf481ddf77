//! `hdgan escape` (THEORY §10, escape from the saddle): the files, the saddle law's
//! presence exactly when the start has no overlap with the feature, reproducibility across
//! thread counts, and the refusals (exit 2, nothing written).

mod common;
use common::hdgan;
use std::fs;
use std::path::Path;

/// Figure 1's config to t = 120, with the discriminator's start overlap with feature 2 `q2`.
fn fig1(dir: &Path, q2: f64) -> String {
    let text = hdgan_experiments::reference::figure1_text("f", 7, 1000, 120.0, 1.0, 1);
    assert!(text.contains("q0 = [0.1, 0.1]"));
    let text = text.replace("q0 = [0.1, 0.1]", &format!("q0 = [0.1, {q2}]"));
    let p = dir.join(format!("f{q2}.toml"));
    fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn rows(path: &Path) -> Vec<Vec<f64>> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect()
}

const FAST: [&str; 6] = ["--n", "1e3,1e12", "--paths", "4", "--dt", "0.05"];

#[test]
fn escape_from_a_start_without_residual_has_the_saddle_law() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fig1(dir.path(), 0.0);
    let mut args = vec!["escape", &cfg, "--out", "e", "--threads", "1"];
    args.extend(FAST);
    let o = hdgan(&args, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = dir.path().join("e");
    for name in [
        "escape.csv",
        "escape.npy",
        "escape_times.csv",
        "escape_times.npy",
        "figure.png",
        "escape.json",
        "config.toml",
    ] {
        assert!(e.join(name).is_file(), "{name} missing");
    }
    let table = rows(&e.join("escape.csv"));
    assert_eq!(table.len(), 2);
    // Columns: n, mean, mean_se, sd, sd_se, escaped, censored, law_mean, law_sd.
    for r in &table {
        assert_eq!((r[5], r[6]), (4.0, 0.0), "every path escapes by t = 120");
        assert!(
            r[7].is_finite() && r[8].is_finite(),
            "the law applies: {r:?}"
        );
    }
    // n = 1e12 escapes later than n = 1e3 (9 decades at 2.64 per decade).
    assert!(table[1][1] > table[0][1] + 15.0, "{table:?}");
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(e.join("escape.json")).unwrap()).unwrap();
    let kappa = meta["saddle_law"]["kappa"].as_f64().unwrap();
    assert!((kappa - 0.4367).abs() < 1e-3, "{kappa}");
    assert_eq!(meta["feature"], 2);
    assert_eq!(rows(&e.join("escape_times.csv")).len(), 8);
    // The same numbers on two threads.
    let mut args2 = vec!["escape", &cfg, "--out", "e2", "--threads", "2"];
    args2.extend(FAST);
    assert!(hdgan(&args2, dir.path()).status.success());
    assert_eq!(
        fs::read(e.join("escape_times.csv")).unwrap(),
        fs::read(dir.path().join("e2/escape_times.csv")).unwrap()
    );
}

#[test]
fn escape_with_a_residual_tends_to_the_ode_and_has_no_saddle_law() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fig1(dir.path(), 0.1);
    let args = [
        "escape", &cfg, "--out", "e", "--n", "1e3,1e20", "--paths", "4", "--dt", "0.05",
    ];
    let o = hdgan(&args, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e = dir.path().join("e");
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(e.join("escape.json")).unwrap()).unwrap();
    let t_ode = meta["ode_escape_time"].as_f64().unwrap();
    assert!(
        meta["saddle_law"]["absent"]
            .as_str()
            .unwrap()
            .contains("residual")
    );
    let table = rows(&e.join("escape.csv"));
    assert!(table[0][7].is_nan(), "no law: {:?}", table[0]);
    // At n = 1e20 the noise is 1e-10: the ODE's time, to the step's interpolation.
    assert!(
        (table[1][1] - t_ode).abs() < 0.01,
        "{} vs {t_ode}",
        table[1][1]
    );
}

#[test]
fn escape_refuses_bad_flags_and_configs_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fig1(dir.path(), 0.0);
    let multi = dir.path().join("multi.toml");
    let text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("[model]\n", "[model]\np = 2\n");
    fs::write(&multi, text).unwrap();
    let multi = multi.to_str().unwrap();
    for (args, needle) in [
        (vec!["escape", &cfg, "--n", "0"], "--n"),
        (vec!["escape", &cfg, "--n", "inf"], "--n"),
        (vec!["escape", &cfg, "--paths", "1"], "--paths"),
        (vec!["escape", &cfg, "--feature", "3"], "--feature"),
        (vec!["escape", &cfg, "--threshold", "1"], "--threshold"),
        (vec!["escape", &cfg, "--dt", "0"], "--dt"),
        (vec!["escape", multi], "model.p"),
    ] {
        let mut a = args.clone();
        a.extend(["--out", "bad"]);
        let o = hdgan(&a, dir.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!dir.path().join("bad").exists(), "{args:?} wrote output");
    }
}
