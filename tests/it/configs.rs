//! Repository checks: every shipped config validates, and the documentation mentions it.

use hdgan_experiments::config::{DEFAULT_CONFIG, load, parse};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn config_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

/// Run configs validate as run configs, phase configs (with a `[phase]` table) as phase
/// configs, measure configs (`[measure]`) as measure configs, sweeps (`[[axis]]`) as sweeps.
#[test]
fn every_shipped_config_validates() {
    let files = config_files();
    assert!(files.len() >= 5, "configs/ has {} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if text.lines().any(|l| l.trim() == "[[axis]]") {
            // A sweep: every cell's config validates.
            hdgan_experiments::sweep::load(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        } else if text.lines().any(|l| l.trim() == "[phase]") {
            hdgan_experiments::phase::prepare_phase(&f)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        } else if text.lines().any(|l| l.trim() == "[measure]") {
            let cfg: hdgan_experiments::measure::MeasureConfig =
                hdgan_experiments::config::parse_toml(&text, "measure")
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            cfg.validate("measure")
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        } else {
            let (name, cfg) = load(Some(&f)).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            cfg.validate(&name)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
    }
}

#[test]
fn embedded_default_is_the_figure1_success_file() {
    let on_disk = std::fs::read_to_string(repo().join("configs/fig1-success.toml")).unwrap();
    assert_eq!(DEFAULT_CONFIG, on_disk);
    let c = parse(DEFAULT_CONFIG, "default").unwrap();
    assert_eq!((c.model.n, c.model.d, c.sim.t_end), (5000, 2, 200.0));
}

/// The reference config documents every key: all optional keys are set in it, so parsing
/// it and serialising back must not lose or add keys.
#[test]
fn reference_config_sets_every_key() {
    let text = std::fs::read_to_string(repo().join("configs/reference.toml")).unwrap();
    let cfg = parse(&text, "reference").unwrap();
    let json = serde_json::to_value(&cfg).unwrap();
    fn keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let Some(map) = v.as_object() {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(key.clone());
                keys(v, &key, out);
            }
        }
    }
    let mut all = Vec::new();
    keys(&json, "", &mut all);
    for key in all {
        let leaf = key.rsplit('.').next().unwrap();
        let documented = text.lines().any(|l| {
            let t = l.trim_start_matches('#').trim();
            t.starts_with(&format!("{leaf} =")) || t == format!("[{key}]")
        });
        assert!(
            documented,
            "configs/reference.toml does not document `{key}`"
        );
    }
}

#[test]
fn readme_lists_every_config() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for f in config_files() {
        let name = format!("configs/{}", f.file_name().unwrap().to_string_lossy());
        assert!(readme.contains(&name), "README.md does not mention {name}");
    }
}
