//! `hdgan sweep`: shards merge to the unsharded table byte for byte, a killed shard
//! resumes, bad sweeps are refused before any work, a diverging cell is a row.

mod common;
use common::hdgan;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Writes the base config (Figure 1's model, `n`, horizon `t_end`) and a sweep over n and
/// tau with two seeds (12 cells), `extra` appended to the sweep's top-level keys.
fn fixture(dir: &Path, t_end: f64, engine: &str, extra: &str) -> PathBuf {
    fs::write(
        dir.join("base.toml"),
        hdgan_experiments::reference::figure1_text("base", 7, 200, t_end, 0.5, 1),
    )
    .unwrap();
    let p = dir.join("grid.toml");
    fs::write(
        &p,
        format!(
            r#"seed = 9
seeds = 2
base = "base.toml"
engine = "{engine}"
metrics = ["ode_error", "end", "tail", "ode_end", "phase", "alignment", "divergence_time"]
{extra}
[[axis]]
key = "model.n"
values = [100, 200]

[[axis]]
key = "model.tau"
linspace = [0.1, 0.3, 3]
"#
        ),
    )
    .unwrap();
    p
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn shards_in_any_order_merge_to_the_unsharded_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), 3.0, "gram", "");
    let f = file.to_str().unwrap();
    ok(&hdgan(&["sweep", f, "--out", "whole", "-q"], dir.path()));
    for k in ["2/3", "0/3", "1/3"] {
        ok(&hdgan(
            &[
                "sweep",
                f,
                "--out",
                "parts",
                "--shard",
                k,
                "-q",
                "--threads",
                "1",
            ],
            dir.path(),
        ));
    }
    ok(&hdgan(&["sweep", "merge", "parts", "-q"], dir.path()));
    let whole = fs::read_to_string(dir.path().join("whole/table.csv")).unwrap();
    assert_eq!(
        whole,
        fs::read_to_string(dir.path().join("parts/table.csv")).unwrap()
    );
    let mut lines = whole.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("cell,model.n,model.tau,seed_index,seed,status,ode_error,end_P11")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 12);
    // Cross order (n outermost, seeds innermost), distinct seeds, every cell ran.
    assert_eq!((rows[0][1], rows[0][2], rows[0][3]), ("100", "0.1", "0"));
    assert_eq!((rows[11][1], rows[11][2], rows[11][3]), ("200", "0.3", "1"));
    let seeds: std::collections::BTreeSet<&str> = rows.iter().map(|r| r[4]).collect();
    assert_eq!(seeds.len(), 12);
    assert!(
        rows.iter()
            .all(|r| r[5] == "ok" && r[6].parse::<f64>().unwrap() > 0.0)
    );
    let st = hdgan(&["sweep", "status", "parts"], dir.path());
    ok(&st);
    assert!(String::from_utf8_lossy(&st.stdout).contains("12 cells: 12 done"));
}

#[test]
fn a_killed_shard_resumes_and_gives_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    // The full engine, so that a cell lasts long enough to be killed in the middle.
    let file = fixture(dir.path(), 40.0, "full", "");
    let f = file.to_str().unwrap();
    let cells = dir.path().join("killed/cells");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hdgan"))
        .args(["sweep", f, "--out", "killed", "-q", "--threads", "1"])
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    // Kill it once a cell has finished and another has started.
    let start = Instant::now();
    let has = |suffix: &str| {
        fs::read_dir(&cells).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(suffix))
        })
    };
    while !(has(".json") && has(".started")) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no cell finished"
        );
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended first");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let st = hdgan(&["sweep", "status", "killed"], dir.path());
    ok(&st);
    let text = String::from_utf8_lossy(&st.stdout).into_owned();
    assert!(text.contains("1 running or interrupted"), "{text}");
    assert!(!dir.path().join("killed/table.csv").exists());
    let merge = hdgan(&["sweep", "merge", "killed"], dir.path());
    assert_eq!(merge.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&merge.stderr).contains("have not finished"));
    ok(&hdgan(&["sweep", f, "--out", "killed", "-q"], dir.path()));
    ok(&hdgan(&["sweep", f, "--out", "clean", "-q"], dir.path()));
    assert_eq!(
        fs::read(dir.path().join("killed/table.csv")).unwrap(),
        fs::read(dir.path().join("clean/table.csv")).unwrap()
    );
}

/// Runs `hdgan sweep` on the fixture with `from` replaced by `to` in the sweep file and
/// checks: exit 2, one stderr line naming `key`, no output folder.
fn refused(from: &str, to: &str, key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), 3.0, "gram", "");
    let text = fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "fixture lacks {from:?}");
    fs::write(&file, text.replacen(from, to, 1)).unwrap();
    let o = hdgan(
        &["sweep", file.to_str().unwrap(), "--out", "r", "-q"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{to}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(key), "{to}: {stderr}");
    assert!(!dir.path().join("r").exists(), "{to}: folder written");
}

#[test]
fn bad_sweeps_are_refused_before_any_work() {
    refused("key = \"model.tau\"", "key = \"model.tua\"", "tua");
    refused("values = [100, 200]", "values = []", "model.n");
    refused(
        "linspace = [0.1, 0.3, 3]",
        "linspace = [0.1, 0.3, 0]",
        "model.tau",
    );
    refused("linspace = [0.1, 0.3, 3]", "values = [0.2, -1.0]", "tau");
    refused("seeds = 2", "seeds = 0", "seeds");
    refused("\"ode_error\",", "\"ode_eror\",", "metrics");
    refused("engine = \"gram\"", "engine = \"warp\"", "engine");
    refused("seed = 9", "seed = 9\ncombine = \"zip\"", "zipped");
    refused("key = \"model.tau\"", "key = \"seed\"", "seeds");
}

#[test]
fn shards_out_of_range_and_mixed_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), 3.0, "gram", "");
    let f = file.to_str().unwrap();
    for shard in ["3/3", "1/0", "x"] {
        let o = hdgan(&["sweep", f, "--shard", shard, "--out", "s"], dir.path());
        assert_eq!(o.status.code(), Some(2), "{shard}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("--shard"));
        assert!(!dir.path().join("s").exists());
    }
    ok(&hdgan(&["sweep", f, "--out", "a", "-q"], dir.path()));
    // Another sweep (another seed): refused in a's folder; a cell of it copied into a
    // makes a's merge fail.
    let other = dir.path().join("other.toml");
    fs::write(
        &other,
        fs::read_to_string(&file)
            .unwrap()
            .replacen("seed = 9", "seed = 10", 1),
    )
    .unwrap();
    let o = hdgan(
        &["sweep", other.to_str().unwrap(), "--out", "a", "-q"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another sweep"));
    ok(&hdgan(
        &["sweep", other.to_str().unwrap(), "--out", "b", "-q"],
        dir.path(),
    ));
    fs::copy(
        dir.path().join("b/cells/0000003.json"),
        dir.path().join("a/cells/0000003.json"),
    )
    .unwrap();
    let o = hdgan(&["sweep", "merge", "a"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another sweep"));
    // A folder that is not a sweep's is neither merged nor used.
    fs::create_dir(dir.path().join("mine")).unwrap();
    fs::write(dir.path().join("mine/notes.txt"), "keep").unwrap();
    let o = hdgan(&["sweep", f, "--out", "mine", "-q"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        fs::read_to_string(dir.path().join("mine/notes.txt")).unwrap(),
        "keep"
    );
    assert_eq!(
        hdgan(&["sweep", "merge", "mine"], dir.path()).status.code(),
        Some(2)
    );
}

#[test]
fn a_diverging_cell_is_a_row() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("base.toml"),
        hdgan_experiments::reference::figure1_text("base", 7, 200, 50.0, 0.5, 1)
            .replace("tau = 0.2", "tau = 40.0")
            .replace("[sim]", "[sim]\nblowup = 1e6"),
    )
    .unwrap();
    let file = dir.path().join("div.toml");
    fs::write(
        &file,
        "base = \"base.toml\"\nmetrics = [\"end\", \"divergence_time\"]\n[[axis]]\nkey = \"model.lambda\"\nvalues = [\"inf\", 0.0]\n",
    )
    .unwrap();
    ok(&hdgan(
        &["sweep", file.to_str().unwrap(), "--out", "d", "-q"],
        dir.path(),
    ));
    let table = fs::read_to_string(dir.path().join("d/table.csv")).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!((rows[0][1], rows[1][1]), ("inf", "0.0"));
    assert_eq!(rows[0][4], "ok");
    assert_eq!(rows[0].last(), Some(&""));
    assert_eq!(rows[1][4], "diverged");
    let t: f64 = rows[1].last().unwrap().parse().unwrap();
    assert!(t > 0.0 && t < 50.0, "{t}");
}

#[test]
fn submit_dry_run_prints_the_array_script_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), 3.0, "gram", "");
    let o = hdgan(
        &[
            "sweep",
            "submit",
            file.to_str().unwrap(),
            "--slurm",
            "--shards",
            "4",
            "--cpus",
            "2",
            "--time",
            "00:10:00",
            "--out",
            "sl",
            "--dry-run",
        ],
        dir.path(),
    );
    ok(&o);
    let script = String::from_utf8_lossy(&o.stdout);
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --time=00:10:00",
        "/sl/logs/shard-%a.log",
        "--threads 2",
        "grid.toml",
    ] {
        assert!(script.contains(line), "{line}: {script}");
    }
    assert!(!dir.path().join("sl").exists());
    for (flag, bad) in [("--shards", "0"), ("--cpus", "0"), ("--time", "1 h")] {
        let o = hdgan(
            &[
                "sweep",
                "submit",
                file.to_str().unwrap(),
                "--slurm",
                flag,
                bad,
                "--dry-run",
            ],
            dir.path(),
        );
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(flag));
    }
}

#[test]
fn kept_trajectories_merge_in_cell_order_and_end_where_the_table_ends() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture(dir.path(), 2.0, "gram", "trajectories = true");
    let f = file.to_str().unwrap();
    ok(&hdgan(&["sweep", f, "--out", "whole", "-q"], dir.path()));
    for k in ["1/2", "0/2"] {
        ok(&hdgan(
            &["sweep", f, "--out", "parts", "--shard", k, "-q"],
            dir.path(),
        ));
    }
    ok(&hdgan(&["sweep", "merge", "parts", "-q"], dir.path()));
    for name in [
        "trajectories_sim.csv",
        "trajectories_sim.npy",
        "trajectories_ode.csv",
        "trajectories_ode.npy",
    ] {
        let whole = fs::read(dir.path().join("whole").join(name)).unwrap();
        let parts = fs::read(dir.path().join("parts").join(name)).unwrap();
        assert!(whole == parts, "{name} differs between the splits");
    }
    // Every cell's last simulated row is the table's end state, bit for bit, and its last
    // ODE row the table's ode_end.
    let read = |name: &str| fs::read_to_string(dir.path().join("whole").join(name)).unwrap();
    let table = read("table.csv");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (which, prefix) in [("sim", "end_"), ("ode", "ode_end_")] {
        let traj = read(&format!("trajectories_{which}.csv"));
        let mut tl = traj.lines();
        let th: Vec<&str> = tl.next().unwrap().split(',').collect();
        assert_eq!(&th[..3], &["cell", "t", "P11"]);
        let rows: Vec<Vec<&str>> = tl.map(|l| l.split(',').collect()).collect();
        for row in table.lines().skip(1) {
            let row: Vec<&str> = row.split(',').collect();
            let cell = row[0];
            let last = rows
                .iter()
                .rfind(|r| r[0] == cell)
                .unwrap_or_else(|| panic!("cell {cell} has no {which} rows"));
            for name in &th[2..] {
                let j = th.iter().position(|h| h == name).unwrap();
                let num = |s: &str| s.parse::<f64>().unwrap();
                assert_eq!(
                    num(last[j]).to_bits(),
                    num(row[col(&format!("{prefix}{name}"))]).to_bits(),
                    "cell {cell}, {which} {name}"
                );
            }
        }
    }
}

/// SplitMix64: the chaos test's own small random source (its seed is printed, so a failure
/// can be replayed with `HDGAN_CHAOS_SEED`).
struct Chaos(u64);

impl Chaos {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, k: u64) -> u64 {
        self.next() % k
    }
}

#[test]
fn chaos_random_kills_and_restarts_of_three_shards_give_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    // 24 cells of the full engine (each lasts tens of milliseconds here), three shards
    // running side by side.
    let file = fixture(dir.path(), 20.0, "full", "");
    let text = fs::read_to_string(&file).unwrap();
    fs::write(&file, text.replacen("seeds = 2", "seeds = 4", 1)).unwrap();
    let f = file.to_str().unwrap();
    let seed = std::env::var("HDGAN_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_208_u64);
    println!("chaos seed {seed} (replay with HDGAN_CHAOS_SEED={seed})");
    let mut rng = Chaos(seed);
    let shard = |k: usize| {
        Command::new(env!("CARGO_BIN_EXE_hdgan"))
            .args(["sweep", f, "--out", "parts", "-q", "--threads", "1"])
            .args(["--shard", &format!("{k}/3")])
            .current_dir(dir.path())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut running: Vec<Option<std::process::Child>> = (0..3).map(|k| Some(shard(k))).collect();
    let mut done = [false; 3];
    let (mut kills, mut restarts) = (0, 0);
    let start = Instant::now();
    // Random SIGKILLs at random moments (a restart right away or after a pause), until 12
    // kills have landed on a running shard or 60 s have passed.
    while kills < 12 && start.elapsed() < Duration::from_secs(60) && done.contains(&false) {
        std::thread::sleep(Duration::from_millis(20 + rng.below(300)));
        let k = rng.below(3) as usize;
        for (j, slot) in running.iter_mut().enumerate() {
            if let Some(c) = slot
                && let Some(status) = c.try_wait().unwrap()
            {
                let err = c.stderr.take().map(std::io::read_to_string);
                assert!(status.success(), "shard {j}: {err:?}");
                done[j] = true;
                *slot = None;
            }
        }
        if let Some(mut c) = running[k].take() {
            c.kill().unwrap();
            c.wait().unwrap();
            kills += 1;
            if rng.below(2) == 0 {
                std::thread::sleep(Duration::from_millis(rng.below(100)));
            }
            running[k] = Some(shard(k));
            restarts += 1;
        }
    }
    println!(
        "{kills} kills, {restarts} restarts in {:?}",
        start.elapsed()
    );
    assert!(
        kills >= 4,
        "only {kills} kills landed: the cells are too short"
    );
    // Then every shard runs to its end (a shard killed after its last cell restarts too).
    for (k, slot) in running.iter_mut().enumerate() {
        if let Some(c) = slot.take() {
            let o = c.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "shard {k}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        ok(&hdgan(
            &[
                "sweep",
                f,
                "--out",
                "parts",
                "-q",
                "--shard",
                &format!("{k}/3"),
            ],
            dir.path(),
        ));
    }
    ok(&hdgan(&["sweep", "merge", "parts", "-q"], dir.path()));
    ok(&hdgan(&["sweep", f, "--out", "whole", "-q"], dir.path()));
    assert!(
        fs::read(dir.path().join("parts/table.csv")).unwrap()
            == fs::read(dir.path().join("whole/table.csv")).unwrap(),
        "the table after {kills} kills differs from the uninterrupted run's (seed {seed})"
    );
    // No staging file or stray cell file is left among the cells.
    for e in fs::read_dir(dir.path().join("parts/cells")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(name.ends_with(".json"), "left behind: {name}");
    }
}
