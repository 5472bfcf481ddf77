//! `hdgan fluctuations` and the band of `hdgan run` (THEORY §10): the files, their shapes,
//! and the refusals (exit 2, nothing written).

mod common;
use common::hdgan;
use std::fs;
use std::path::Path;

fn fig1(dir: &Path, n: usize, t_end: f64, extra: &str) -> String {
    let mut text = hdgan_experiments::reference::figure1_text("f", 7, n, t_end, 1.0, 1);
    text.push_str(extra);
    let p = dir.join("f.toml");
    fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn fluctuations_writes_sigma_and_the_band_for_the_chosen_n() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fig1(dir.path(), 500, 20.0, "");
    let o = hdgan(
        &["fluctuations", &cfg, "--n", "2000", "--out", "f"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = dir.path().join("f");
    for name in [
        "ode.csv",
        "sigma.csv",
        "sigma.npy",
        "ode_sd.csv",
        "figure.png",
        "fluctuations.json",
    ] {
        assert!(f.join(name).is_file(), "{name} missing");
    }
    let sigma = fs::read_to_string(f.join("sigma.csv")).unwrap();
    let header = sigma.lines().next().unwrap().split(',').count();
    assert_eq!(header, 1 + 13 * 13);
    assert_eq!(sigma.lines().count(), 1 + 21);
    // ode_sd = sqrt(Sigma_ii / n) at n = 2000, entry by entry (q2 at the last time).
    let last = |text: &str| -> Vec<f64> {
        text.lines()
            .last()
            .unwrap()
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect()
    };
    let s = last(&sigma);
    let sd = last(&fs::read_to_string(f.join("ode_sd.csv")).unwrap());
    let q2 = 6; // t, P11, P12, P21, P22, q1, q2
    let sigma_q2 = s[1 + (q2 - 1) * 13 + (q2 - 1)];
    assert!((sd[q2] - (sigma_q2 / 2000.0).sqrt()).abs() <= 1e-15 + 1e-12 * sd[q2]);
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(f.join("fluctuations.json")).unwrap()).unwrap();
    assert_eq!(meta["n"], 2000);
}

#[test]
fn fluctuations_refuses_what_the_theory_does_not_cover() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fig1(dir.path(), 500, 20.0, "");
    let o = hdgan(
        &["fluctuations", &cfg, "--n", "0", "--out", "a"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--n"));
    assert!(!dir.path().join("a").exists());
    let text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("[model]\n", "[model]\nconstraint = \"orthonormal\"\n");
    fs::write(&cfg, text).unwrap();
    let o = hdgan(&["fluctuations", &cfg, "--out", "b"], dir.path());
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("model.constraint"));
    assert!(!dir.path().join("b").exists());
}

#[test]
fn run_writes_the_band_unless_turned_off_and_refuses_it_where_it_does_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fig1(dir.path(), 300, 5.0, "");
    let o = hdgan(&["run", &cfg, "--out", "on"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.path().join("on/ode_sd.npy").is_file());
    let off = fig1(dir.path(), 300, 5.0, "\n[ode]\nband = false\n");
    let o = hdgan(&["run", &off, "--out", "off"], dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!dir.path().join("off/ode_sd.npy").exists());
    let text = fs::read_to_string(&off)
        .unwrap()
        .replace("band = false", "band = true\nenabled = false");
    fs::write(&off, text).unwrap();
    let o = hdgan(&["run", &off, "--out", "bad"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ode.band"));
    assert!(!dir.path().join("bad").exists());
}
