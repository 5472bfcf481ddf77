//! The bad-input corpus: configs, flags and data files that must be refused with a given
//! exit code and one error line naming a given key (or flag, or file), before any work and
//! without leaving any output behind. Each case is one row; the corpus runs on every
//! `cargo test`.

use std::fs;
use std::path::Path;
use std::process::Command;

/// A small valid run config (n = 200, d = 2, T = 3, two members).
fn run_config() -> String {
    hdgan_experiments::reference::figure1_text("small", 7, 200, 3.0, 0.5, 2)
}

/// A small phase config: Figure 1's model and start (the run config without its title,
/// seed and `[sim]` table) with a 4 x 4 grid.
fn phase_config() -> String {
    let run = hdgan_experiments::reference::figure1_text("small", 7, 5000, 3.0, 0.5, 1);
    let model = &run[run.find("[model]").unwrap()..run.find("[sim]").unwrap()];
    format!(
        "{model}[phase]\nx = {{ param = \"tau_eta_sq\", min = 0.05, max = 6.0, count = 4 }}\ny = {{ param = \"alpha\", min = 0.01, max = 1.0, count = 4 }}\nt_end = 40.0\n"
    )
}

const MEASURE: &str = r#"seed = 1
[model]
n = 500
d = 1
tau = 0.2
tau_tilde = 0.04
eta_t = 2.0
eta_g = 2.0
lambda = "inf"
[model.latent]
cov = [[5.0]]
[init]
p0 = [[0.1]]
q0 = [0.1]
features = "constant"
[measure]
times = [0.0, 1.0]
dt = 0.05
mode = "fast"
"#;

/// One bad input.
struct Case {
    /// Arguments; `{cfg}` is replaced by the config file's path.
    args: Vec<String>,
    /// Config text written to `cfg.toml` (None: no file).
    config: Option<String>,
    /// Expected exit code.
    code: i32,
    /// Text the error must contain (the key, flag or file).
    names: String,
}

fn case(args: &[&str], config: Option<String>, code: i32, names: &str) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        config,
        code,
        names: names.to_owned(),
    }
}

/// `base` with the first line starting with `prefix` replaced by `line` (or removed when
/// `line` is empty).
fn with_line(base: &str, prefix: &str, line: &str) -> String {
    let mut done = false;
    let mut out = String::new();
    for l in base.lines() {
        if !done && l.starts_with(prefix) {
            done = true;
            if !line.is_empty() {
                out.push_str(line);
                out.push('\n');
            }
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    assert!(done, "no line starts with {prefix:?}");
    out
}

/// `base` with `line` added at the end of table `[table]` (or at the top for "").
fn with_key(base: &str, table: &str, line: &str) -> String {
    if table.is_empty() {
        return format!("{line}\n{base}");
    }
    let header = format!("[{table}]\n");
    let at = base.find(&header).expect("table") + header.len();
    format!("{}{line}\n{}", &base[..at], &base[at..])
}

fn run_cases() -> Vec<Case> {
    let mut v = Vec::new();
    // (line prefix, key, bad values)
    let keys: &[(&str, &str, &[&str])] = &[
        ("seed", "seed", &["-1", "1.5", "\"x\"", "true"]),
        (
            "n =",
            "model.n",
            &["-1", "1.5", "\"x\"", "true", "[1]", "99999999999999999999"],
        ),
        ("d =", "model.d", &["-1", "0", "1.5", "\"x\"", "200"]),
        (
            "tau =",
            "model.tau",
            &["0.0", "-0.2", "nan", "inf", "\"x\"", "true"],
        ),
        (
            "tau_tilde",
            "model.tau_tilde",
            &["0.0", "-1.0", "nan", "inf", "\"x\""],
        ),
        ("eta_t", "model.eta_t", &["-2.0", "nan", "inf", "\"x\""]),
        (
            "eta_g",
            "model.eta_g",
            &["-2.0", "nan", "inf", "\"x\"", "1e300"],
        ),
        ("lambda", "model.lambda", &["\"x\"", "-1.0", "nan"]),
        (
            "cov",
            "model.latent.cov",
            &[
                "[[5.0, 1.0], [0.0, 3.0]]",
                "[[1.0, 2.0], [2.0, 1.0]]",
                "[[5.0]]",
                "\"x\"",
                "[[nan, 0.0], [0.0, 3.0]]",
                // PSD and finite, but one step would overflow f64.
                "[[1e300, 0.0], [0.0, 3.0]]",
                "[[inf, 0.0], [0.0, 3.0]]",
            ],
        ),
        (
            "p0",
            "init.p0",
            &["[[2.0, 0.0], [0.0, 0.1]]", "\"x\"", "[[0.1]]"],
        ),
        (
            "q0",
            "init.q0",
            &["[2.0, 0.1]", "\"x\"", "[0.1]", "[nan, 0.1]"],
        ),
        (
            "t_end",
            "sim.t_end",
            &["0.0", "-1.0", "nan", "inf", "\"x\"", "1e-9"],
        ),
        (
            "record_dt",
            "sim.record_dt",
            &["0.0", "-1.0", "nan", "100.0", "\"x\""],
        ),
        ("members", "sim.members", &["0", "-1", "1.5", "\"x\""]),
        ("title", "title", &["3", "[1]"]),
    ];
    for (prefix, key, bad) in keys {
        for b in *bad {
            let line = if *prefix == "n =" || *prefix == "d =" || *prefix == "tau =" {
                format!("{} {b}", prefix)
            } else {
                format!("{} = {b}", prefix.trim_end_matches(" ="))
            };
            v.push(case(
                &["check", "{cfg}"],
                Some(with_line(&run_config(), prefix, &line)),
                2,
                key,
            ));
        }
    }
    let added: &[(&str, &str, &str)] = &[
        ("", "bogus = 1", "bogus"),
        ("model", "extra = 1", "model.extra"),
        ("sim", "speed = 1", "sim.speed"),
        ("init", "foo = 1", "init.foo"),
        ("sim", "engine = \"x\"", "sim.engine"),
        ("sim", "mode = \"x\"", "sim.mode"),
        ("sim", "blowup = 0.0", "sim.blowup"),
        ("sim", "blowup = nan", "sim.blowup"),
        ("model", "l1 = -1.0", "model.l1"),
        ("model", "l1 = 1.0", "sim.mode"),
        ("model", "loss = \"x\"", "model.loss"),
        ("model", "p = 0", "model.p"),
        ("", "[ode]\nrtol = 0.0", "ode.rtol"),
        // Below f64's relative precision: a tolerance no solver can meet.
        ("", "[ode]\nrtol = 1e-300", "ode.rtol"),
        ("", "[ode]\nrtol = 1e-17", "ode.rtol"),
        ("", "[ode]\natol = -1.0", "ode.atol"),
        ("", "[ode]\nequation = \"x\"", "ode.equation"),
        ("", "[ode]\nequation = \"general\"", "ode.equation"),
        ("", "[ode]\nenabled = 3", "ode.enabled"),
        ("", "[output]\ndir = 3", "output.dir"),
        ("", "[output]\nwhere = \"x\"", "output.where"),
        ("init", "features = \"x\"", "init.features"),
        ("init", "row_cov = [[1.0]]", "init.row_cov"),
        ("model.latent", "mean = [1.0]", "model.latent.mean"),
    ];
    for (table, line, key) in added {
        let text = if table.is_empty() && line.starts_with('[') {
            format!("{}{line}\n", run_config())
        } else {
            with_key(&run_config(), table, line)
        };
        v.push(case(&["check", "{cfg}"], Some(text), 2, key));
    }
    // Missing tables and keys.
    for (prefix, name) in [("[sim]", "sim"), ("n =", "model.n"), ("t_end", "sim.t_end")] {
        let text = if prefix == "[sim]" {
            {
                let run = run_config();
                run[..run.find("[sim]").unwrap()].to_owned()
            }
        } else {
            with_line(&run_config(), prefix, "")
        };
        v.push(case(&["check", "{cfg}"], Some(text), 2, name));
    }
    // Too big for the memory limit.
    for (prefix, line, key) in [
        ("t_end", "t_end = 1e9", "sim.t_end"),
        ("members", "members = 1000000000", "sim.members"),
        ("n =", "n = 1000000000", "model.n"),
    ] {
        v.push(case(
            &["check", "{cfg}", "--max-memory", "1G"],
            Some(with_line(&run_config(), prefix, line)),
            2,
            key,
        ));
    }
    // The same refusals from `run`, which must not leave any folder.
    let n = v.len();
    for i in 0..n {
        let mut c = Case {
            args: v[i].args.clone(),
            config: v[i].config.clone(),
            code: v[i].code,
            names: v[i].names.clone(),
        };
        if i % 3 == 0 {
            c.args[0] = "run".into();
            c.args.extend(["--out".to_owned(), "result".to_owned()]);
            v.push(c);
        }
    }
    v
}

fn flag_cases() -> Vec<Case> {
    let ok = Some(run_config());
    let mut v = vec![
        case(
            &["run", "{cfg}", "--threads", "0"],
            ok.clone(),
            2,
            "--threads",
        ),
        case(
            &["run", "{cfg}", "--threads", "5000"],
            ok.clone(),
            2,
            "--threads",
        ),
        case(
            &["run", "{cfg}", "--threads", "x"],
            ok.clone(),
            2,
            "--threads",
        ),
        case(&["run", "{cfg}", "--seed", "-1"], ok.clone(), 2, "--seed"),
        case(
            &["run", "{cfg}", "--engine", "x"],
            ok.clone(),
            2,
            "--engine",
        ),
        case(
            &["run", "{cfg}", "--checkpoint-every", "0"],
            ok.clone(),
            2,
            "--checkpoint-every",
        ),
        case(
            &["run", "{cfg}", "--checkpoint-every", "-1"],
            ok.clone(),
            2,
            "--checkpoint-every",
        ),
        case(
            &["run", "{cfg}", "--checkpoint-every", "nan"],
            ok.clone(),
            2,
            "--checkpoint-every",
        ),
        case(
            &["run", "{cfg}", "--max-memory", "x"],
            ok.clone(),
            2,
            "--max-memory",
        ),
        case(
            &["run", "{cfg}", "--max-memory", "0"],
            ok.clone(),
            2,
            "--max-memory",
        ),
        case(&["run", "--resume", "nowhere"], None, 2, "--resume"),
        case(
            &["run", "{cfg}", "--resume", "x"],
            ok.clone(),
            2,
            "--resume",
        ),
        case(&["run", "{cfg}", "--out", ""], ok.clone(), 2, "--out"),
        case(
            &["run", "{cfg}", "--out", "cfg.toml"],
            ok.clone(),
            2,
            "--out",
        ),
        case(
            &["run", "{cfg}", "--out", "cfg.toml/sub"],
            ok.clone(),
            2,
            "--out",
        ),
        case(
            &["run", "{cfg}", "--out", ".", "--overwrite"],
            ok.clone(),
            2,
            "--out",
        ),
        case(
            &["run", "{cfg}", "--out", "/dev/null", "--overwrite"],
            ok.clone(),
            2,
            "--out",
        ),
        case(&["run", "{cfg}", "--bogus"], ok.clone(), 2, "--bogus"),
        case(&["run", "missing.toml"], None, 2, "missing.toml"),
        case(&["check", "missing.toml"], None, 2, "missing.toml"),
        case(&["phase", "missing.toml"], None, 2, "missing.toml"),
        case(&["measure", "missing.toml"], None, 2, "missing.toml"),
        case(&["modes", "missing.toml"], None, 2, "missing.toml"),
        case(&["fixed-points", "missing.toml"], None, 2, "missing.toml"),
        case(
            &["phase", "{cfg}", "--threads", "0"],
            Some(phase_config()),
            2,
            "--threads",
        ),
        case(&["frobnicate"], None, 2, "frobnicate"),
    ];
    let td = |extra: &[&str], names: &str| {
        let mut a = vec!["train-data", "--dataset", "mnist", "--path", "nowhere"];
        a.extend_from_slice(extra);
        case(&a, None, 2, names)
    };
    v.extend([
        td(&["--d", "0"], "--d"),
        td(&["--tau", "0"], "--tau"),
        td(&["--tau", "-1"], "--tau"),
        td(&["--tau", "nan"], "--tau"),
        td(&["--alpha", "0"], "--alpha"),
        td(&["--eta-g", "-1"], "--eta-g"),
        td(&["--t-end", "0"], "--t-end"),
        td(&["--seeds", "0"], "--seeds"),
        td(&["--threads", "0"], "--threads"),
        td(&["--colour"], "--colour"),
        td(&["--covariance", "x"], "--covariance"),
        td(&["--baselines", "sgd"], "--baselines"),
        td(&["--baselines", "oja,oja"], "--baselines"),
        td(&["--p", "0"], "--p"),
        td(&["--pictures", "1"], "--pictures"),
        td(&[], "nowhere"),
        case(
            &["train-data", "--dataset", "x", "--path", "."],
            None,
            2,
            "--dataset",
        ),
    ]);
    v
}

fn phase_measure_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let phase: &[(&str, &str, &str)] = &[
        (
            "x =",
            "x = { param = \"tau_eta_sq\", min = 6.0, max = 0.05, count = 4 }",
            "phase.x.min",
        ),
        (
            "x =",
            "x = { param = \"tau_eta_sq\", min = 1.0, max = 1.0, count = 4 }",
            "phase.x.min",
        ),
        (
            "x =",
            "x = { param = \"tau_eta_sq\", min = 0.05, max = 6.0, count = 1 }",
            "phase.x.count",
        ),
        (
            "y =",
            "y = { param = \"alpha\", min = 0.01, max = 1.0, count = 5000 }",
            "phase.y.count",
        ),
        (
            "y =",
            "y = { param = \"tau_eta_sq\", min = 0.01, max = 1.0, count = 4 }",
            "phase.y.param",
        ),
        (
            "y =",
            "y = { param = \"bogus\", min = 0.01, max = 1.0, count = 4 }",
            "phase.y",
        ),
        (
            "y =",
            "y = { param = \"alpha\", min = -1.0, max = 1.0, count = 4 }",
            "phase.y.min",
        ),
        // Axis ends where the model breaks a rule (here the first step would overflow,
        // MAX_STEP_SCALE): refused up front, naming the axis end.
        (
            "x =",
            "x = { param = \"tau_eta_sq\", min = 0.05, max = 1e300, count = 4 }",
            "phase.x.max",
        ),
        (
            "y =",
            "y = { param = \"tau\", min = 0.01, max = 1e200, count = 4 }",
            "phase.y.max",
        ),
        ("t_end", "t_end = 0.0", "phase.t_end"),
        ("t_end", "t_end = nan", "phase.t_end"),
        ("lambda", "lambda = \"inf\"\nl1 = 1.0", "model.l1"),
        ("d =", "d = 2\np = 2", "model.p"),
    ];
    for (prefix, line, key) in phase {
        v.push(case(
            &["phase", "{cfg}", "--out", "result"],
            Some(with_line(&phase_config(), prefix, line)),
            2,
            key,
        ));
    }
    // Simulations at a dimension the model does not allow (n < 2d + 1).
    v.push(case(
        &["phase", "{cfg}", "--out", "result"],
        Some(format!(
            "{}[phase.sim]\nn = 4\nstride = 2\n",
            phase_config()
        )),
        2,
        "phase.sim.n",
    ));
    v.push(case(
        &["phase", "{cfg}", "--out", "result"],
        Some(with_key(&phase_config(), "phase", "samples = 1")),
        2,
        "phase.samples",
    ));
    v.push(case(
        &["phase", "{cfg}", "--out", "result"],
        Some(with_key(&phase_config(), "phase", "rtol = 1e-300")),
        2,
        "phase.rtol",
    ));
    // Once an abort ("memory allocation of 8000000008 bytes failed"): now refused by the
    // estimate before any work.
    v.push(case(
        &["phase", "{cfg}", "--out", "result"],
        Some(with_key(&phase_config(), "phase", "samples = 1000000000")),
        2,
        "phase.samples",
    ));
    v.push(case(
        &["phase", "{cfg}", "--out", "result"],
        Some(with_key(&phase_config(), "phase", "bogus = 1")),
        2,
        "phase.bogus",
    ));
    v.push(case(
        &["phase", "{cfg}", "--max-memory", "1M"],
        Some(with_line(
            &phase_config(),
            "x =",
            "x = { param = \"tau_eta_sq\", min = 0.05, max = 6.0, count = 4000 }",
        )),
        2,
        "phase.x.count",
    ));
    let measure: &[(&str, &str, &str)] = &[
        ("dt", "dt = 0.0", "measure.dt"),
        ("dt", "dt = -1.0", "measure.dt"),
        ("times", "times = []", "measure.times"),
        ("times", "times = [2.0, 1.0]", "measure.times"),
        ("times", "times = [-1.0]", "measure.times"),
        ("mode", "mode = \"x\"", "measure.mode"),
        ("lambda", "lambda = \"inf\"\nl1 = 1.0", "model.l1"),
        ("features", "features = \"random\"", "init.features"),
    ];
    for (prefix, line, key) in measure {
        v.push(case(
            &["measure", "{cfg}", "--out", "result"],
            Some(with_line(MEASURE, prefix, line)),
            2,
            key,
        ));
    }
    let two = with_line(
        &with_line(
            &with_line(
                &with_line(MEASURE, "d =", "d = 2"),
                "cov",
                "cov = [[5.0, 0.0], [0.0, 3.0]]",
            ),
            "p0",
            "p0 = [[0.1, 0.0], [0.0, 0.1]]",
        ),
        "q0",
        "q0 = [0.1, 0.1]",
    );
    v.push(case(&["measure", "{cfg}"], Some(two), 2, "model.d"));
    v.push(case(
        &["measure", "{cfg}", "--max-memory", "1G"],
        Some(with_line(MEASURE, "dt", "dt = 1e-12")),
        2,
        "measure.dt",
    ));
    v.push(case(
        &["modes", "{cfg}"],
        Some(with_line(&run_config(), "d =", "d = 2\np = 2")),
        2,
        "model.p",
    ));
    v.push(case(
        &["modes", "{cfg}"],
        Some(with_line(
            &run_config(),
            "cov",
            "cov = [[1.0, 2.0], [2.0, 1.0]]",
        )),
        2,
        "model.latent.cov",
    ));
    // Losses: an unknown name, a parameter out of range or without its loss, and a loss
    // with a tool that cannot use it.
    let finite =
        |extra: &str| with_line(&run_config(), "lambda =", &format!("lambda = 2.0\n{extra}"));
    v.push(case(
        &["run", "{cfg}"],
        Some(finite("loss = \"hinge\"")),
        2,
        "model.loss",
    ));
    v.push(case(
        &["run", "{cfg}"],
        Some(finite("loss = \"logistic\"\nloss_bias = inf")),
        2,
        "model.loss_bias",
    ));
    v.push(case(
        &["run", "{cfg}"],
        Some(finite("loss_bias = 2.0")),
        2,
        "model.loss_bias",
    ));
    // The table form: a bias for a loss without one, a non-finite bias, both forms at
    // once, an unknown key.
    for (line, key) in [
        (
            "loss = { name = \"quadratic\", bias = 2.0 }",
            "model.loss.bias",
        ),
        (
            "loss = { name = \"logistic\", bias = nan }",
            "model.loss.bias",
        ),
        (
            "loss = { name = \"logistic\", bias = 1.0 }\nloss_bias = 1.0",
            "model.loss_bias",
        ),
        (
            "loss = { name = \"logistic\", bais = 1.0 }",
            "model.loss.bais",
        ),
    ] {
        v.push(case(&["run", "{cfg}"], Some(finite(line)), 2, key));
    }
    // The orthonormal constraint: only with lambda = inf; simulated by the literal step of
    // the full engine and described by its own ODE; the single-feature analyses describe the
    // column-normalised model only (d > 1); an unknown name.
    v.push(case(
        &["run", "{cfg}"],
        Some(finite("constraint = \"orthonormal\"")),
        2,
        "model.constraint",
    ));
    let unstepped = with_line(
        &run_config(),
        "lambda =",
        "lambda = \"inf\"\nconstraint = \"orthonormal\"",
    );
    let orthonormal = with_line(&unstepped, "members =", "members = 2\nmode = \"literal\"");
    v.push(case(&["run", "{cfg}"], Some(unstepped), 2, "sim.mode"));
    v.push(case(
        &["run", "{cfg}"],
        Some(format!("{orthonormal}engine = \"gram\"\n")),
        2,
        "sim.engine",
    ));
    v.push(case(
        &["run", "{cfg}"],
        Some(format!("{orthonormal}[ode]\nequation = \"reduced\"\n")),
        2,
        "ode.equation",
    ));
    v.push(case(
        &["fixed-points", "{cfg}"],
        Some(orthonormal),
        2,
        "model.constraint",
    ));
    v.push(case(
        &["phase", "{cfg}"],
        Some(with_line(
            &phase_config(),
            "lambda =",
            "lambda = \"inf\"\nconstraint = \"orthonormal\"",
        )),
        2,
        "model.constraint",
    ));
    v.push(case(
        &["run", "{cfg}"],
        Some(finite("constraint = \"stiefel\"")),
        2,
        "model.constraint",
    ));
    v.push(case(
        &["modes", "{cfg}"],
        Some(finite("loss = \"logistic\"")),
        2,
        "model.loss",
    ));
    v.push(case(
        &["run", "{cfg}"],
        Some(with_line(
            include_str!("../../../configs/multi-feature.toml"),
            "lambda =",
            "lambda = \"inf\"\nloss = \"logistic\"",
        )),
        2,
        "model.loss",
    ));
    v
}

/// Malformed IDX files for `train-data --path`.
fn data_cases(dir: &Path) -> Vec<Case> {
    let idx = |dims: &[u32], data: &[u8]| {
        let mut b = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    };
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("magic", vec![1, 2, 3, 4, 0, 0, 0, 1]),
        (
            "type",
            vec![0, 0, 9, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4],
        ),
        ("truncated", idx(&[3, 4, 4], &[0; 20])),
        ("too-long", idx(&[1, 4, 4], &[0; 40])),
        ("one-dim", idx(&[16], &[0; 16])),
        ("gzip-corrupt", vec![0x1f, 0x8b, 8, 0, 1, 2, 3]),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let p = dir.join(format!("{name}-images-idx3-ubyte"));
            fs::write(&p, bytes).unwrap();
            case(
                &[
                    "train-data",
                    "--dataset",
                    "mnist",
                    "--path",
                    p.to_str().unwrap(),
                ],
                None,
                2,
                name,
            )
        })
        .collect()
}

#[test]
fn every_bad_input_is_refused_naming_its_key() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut cases = run_cases();
    cases.extend(flag_cases());
    cases.extend(phase_measure_cases());
    cases.extend(data_cases(data_dir.path()));
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        if let Some(text) = &c.config {
            fs::write(dir.path().join("cfg.toml"), text).unwrap();
        }
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| a.replace("{cfg}", "cfg.toml"))
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_hdgan"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines = stderr
            .trim_end()
            .lines()
            .filter(|l| l.starts_with("error"))
            .count();
        let left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "cfg.toml")
            .collect();
        let problems = [
            (out.status.code() != Some(c.code)).then(|| format!("exit {:?}", out.status.code())),
            (!stderr.contains(&c.names)).then(|| format!("does not name `{}`", c.names)),
            (lines != 1).then(|| format!("{lines} error lines")),
            stderr.contains("panicked").then(|| "panicked".to_owned()),
            (!left.is_empty()).then(|| format!("left {left:?}")),
        ];
        let problems: Vec<String> = problems.into_iter().flatten().collect();
        if !problems.is_empty() {
            failures.push(format!(
                "case {i} {:?}: {}\n    stderr: {}",
                args,
                problems.join(", "),
                stderr.trim_end()
            ));
        }
    }
    println!("{} bad inputs checked", cases.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
