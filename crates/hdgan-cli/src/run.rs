//! `hdgan run`: config -> validated parameters -> simulation ensemble and limiting ODE ->
//! trajectories -> CSV / NPY / JSON files and the Figure 1 style plot.

use crate::checkpoint::{CheckpointDir, ResumeInfo};
use crate::config::{self, ValidRun};
use crate::output::{OutputRequest, StagedDir, write_csv, write_json, write_npy};
use crate::plot::{Figure, PALETTE, Series, Style, render};
use crate::resources::Estimate;
use crate::{InputError, build_info};
use anyhow::{Context, Result};
use hdgan_core::{MacroState, MultiState, PackedState, Trajectory};
use hdgan_macro_ode::{MultiForm, solve, solve_multi};
use hdgan_micro_sim::{
    AnyEngine, Checkpoint, EngineKind, Member, MultiSgda, RunControl, SimError, advance,
    run_ensemble,
};
use hdgan_stability::{PhaseRule, PhaseSummary, classify};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// How a run reports progress on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    #[default]
    Silent,
    /// A progress bar with ETA (for terminals).
    Bar,
    /// A line at every 10% (for logs and pipes).
    Lines,
}

/// What `hdgan run` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    /// Config file (None: the embedded default, Figure 1's successful run).
    pub config: Option<PathBuf>,
    /// Output folder override.
    pub out: Option<PathBuf>,
    /// Seed override.
    pub seed: Option<u64>,
    /// Number of worker threads (None: rayon's default, one per core).
    pub threads: Option<usize>,
    /// Engine override (`--engine`).
    pub engine: Option<EngineKind>,
    /// Progress reporting on stderr.
    pub progress: Progress,
    /// `--overwrite`: an earlier hdgan output folder at the named output path may be
    /// replaced.
    pub overwrite: bool,
    /// `--checkpoint-every DT`: save the run's state every DT units of time.
    pub checkpoint_every: Option<f64>,
    /// `--resume`: the checkpoint to continue (the request comes from it).
    pub resume: Option<CheckpointDir>,
}

/// Checkpointing of one run: the folder, the interval in steps, and whether the run
/// continues from the folder's state.
struct Checkpointing<'a> {
    dir: &'a CheckpointDir,
    every_steps: u64,
    resume: bool,
}

/// Opens the output folder and, with `--checkpoint-every` or `--resume`, the checkpoint
/// folder, before any work.
fn open_run_outputs(
    req: &RunRequest,
    valid: &ValidRun,
) -> Result<(StagedDir, Option<CheckpointDir>), InputError> {
    if let Some(ck) = &req.resume {
        let staged = crate::open_output(&OutputRequest {
            path: ck.info.out.clone(),
            source: crate::output::OutSource::Flag,
            overwrite: ck.info.overwrite,
            inputs: Vec::new(),
        })?;
        return Ok((staged, None));
    }
    let staged = crate::open_output(&output_request(req, valid))?;
    let ck = match req.checkpoint_every {
        None => None,
        Some(every) => {
            if !(every.is_finite() && every > 0.0) {
                return Err(InputError(format!(
                    "`--checkpoint-every` must be a finite time > 0, got {every}"
                )));
            }
            let (version, revision) = build_info();
            let config_text = match &req.config {
                Some(p) => Some(config::read_file(p)?.1),
                None => None,
            };
            Some(CheckpointDir::create(ResumeInfo {
                format: crate::checkpoint::FORMAT,
                hdgan_version: version.to_owned(),
                git_revision: revision.to_owned(),
                name: valid.name.clone(),
                config_text,
                config_path: req.config.clone(),
                seed: req.seed,
                engine: req.engine,
                out: staged.target().to_path_buf(),
                overwrite: req.overwrite,
                every,
            })?)
        }
    };
    Ok((staged, ck))
}

fn checkpointing<'a>(
    req: &'a RunRequest,
    made: &'a Option<CheckpointDir>,
    n: usize,
) -> Option<Checkpointing<'a>> {
    let (dir, resume) = match (&req.resume, made) {
        (Some(d), _) => (d, true),
        (None, Some(d)) => (d, false),
        (None, None) => return None,
    };
    crate::set_checkpoint_hint(Some(dir.path()));
    Some(Checkpointing {
        dir,
        every_steps: ((dir.info.every * n as f64).round() as u64).max(1),
        resume,
    })
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The folder the files were written to.
    pub out_dir: PathBuf,
    /// One trajectory per ensemble member.
    pub sim: Vec<Trajectory>,
    /// The ODE solution at the same times (None when disabled).
    pub ode: Option<Trajectory>,
    /// Phase of member 0 and of the ODE under the default rule.
    pub phases: (Option<PhaseSummary>, Option<PhaseSummary>),
    /// Wall-clock seconds of the simulation.
    pub sim_seconds: f64,
}

/// Loads and validates the configuration of a request (no output is written).
pub fn prepare(req: &RunRequest) -> Result<ValidRun, InputError> {
    let (name, mut cfg) = match &req.resume {
        Some(ck) => {
            let i = &ck.info;
            let cfg = match &i.config_text {
                Some(t) => config::parse(t, &format!("{} (from the checkpoint)", i.name))?,
                None => config::load(None)?.1,
            };
            let mut cfg = cfg;
            if let Some(s) = i.seed {
                cfg.seed = s;
            }
            if let Some(e) = i.engine {
                cfg.sim.engine = e;
            }
            (i.name.clone(), cfg)
        }
        None => config::load(req.config.as_deref())?,
    };
    if let Some(seed) = req.seed {
        cfg.seed = seed;
    }
    if let Some(engine) = req.engine {
        cfg.sim.engine = engine;
    }
    crate::resources::check_threads(req.threads)?;
    let valid = cfg.validate(&name)?;
    estimate(&valid, req.threads).check()?;
    Ok(valid)
}

/// A remark when `sim.t_end` or `sim.record_dt` is not a whole number of steps (times
/// are `k / n`, so they are rounded to the nearest step; `run.json` records the effective
/// values).
pub fn rounding_note(valid: &ValidRun) -> Option<String> {
    let n = valid.model.n as f64;
    let sim = &valid.config.sim;
    let t = valid.schedule.steps as f64 / n;
    let r = valid.schedule.record_every as f64 / n;
    let off = |a: f64, b: f64| (a - b).abs() > 1e-12 * b.abs().max(1.0);
    let mut parts = Vec::new();
    if off(t, sim.t_end) {
        parts.push(format!(
            "sim.t_end = {} is rounded to {t} ({} steps)",
            sim.t_end, valid.schedule.steps
        ));
    }
    if off(r, sim.record_dt) {
        parts.push(format!(
            "sim.record_dt = {} is rounded to {r} ({} steps, a whole number of steps of 1/n)",
            sim.record_dt, valid.schedule.record_every
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The memory and steps a validated run needs (see [`crate::resources`]): the state
/// vectors of the members running at once, the recorded states of every member and of
/// the ODE, and the output rows built from them.
pub fn estimate(valid: &ValidRun, threads: Option<usize>) -> Estimate {
    let m = &valid.model;
    let sim = &valid.config.sim;
    let (n, d, p) = (m.n as f64, m.d, m.p);
    let members = sim.members as f64;
    let workers = threads
        .unwrap_or_else(rayon::current_num_threads)
        .min(sim.members) as f64;
    let records = (valid.schedule.steps / valid.schedule.record_every + 2) as f64;
    let (values, blocks) = if p > 1 {
        (MultiState::packed_len(d, p), 5)
    } else {
        (MacroState::packed_len(d), 4)
    };
    let literal = sim.mode == hdgan_micro_sim::StepMode::Literal || p > 1 || m.l1 > 0.0;
    // n-vectors per engine: U, V (d each), w (p), the normal buffers, and the initial
    // state's construction.
    let vectors = match sim.engine {
        EngineKind::Gram if p == 1 => 0.0,
        _ => (3 * d + 2 * p + if literal { 6 } else { 4 }) as f64,
    };
    let mut e = Estimate::default();
    e.add("n-dimensional state vectors", workers * vectors, 8.0 * n)
        .add(
            "recorded states",
            (members + 1.0) * records,
            crate::resources::state_bytes(values, blocks),
        )
        .add(
            "output rows and plot points",
            (members + 1.0) * records,
            crate::resources::row_bytes(values + 2) + 16.0 * values as f64,
        )
        .keys(&["model.n", "sim.members", "sim.t_end", "sim.record_dt"]);
    e.work = Some((
        valid.schedule.steps as f64 * members,
        "SGDA steps".to_owned(),
    ));
    e
}

/// The output folder of a run: `--out`, else `[output] dir`, else `out/<name>` (numbered
/// when taken); the config file is an input it may not replace.
pub fn output_request(req: &RunRequest, valid: &ValidRun) -> OutputRequest {
    OutputRequest::choose(
        req.out.as_deref(),
        valid.config.output.dir.as_deref(),
        PathBuf::from("out").join(&valid.name),
        req.overwrite,
    )
    .with_input(req.config.as_deref())
}

/// Runs a validated configuration: the simulation ensemble (in parallel, on `threads`
/// workers) and the limiting ODE from member 0's initial overlaps.
pub fn simulate(
    valid: &ValidRun,
    threads: Option<usize>,
    progress: Progress,
) -> Result<(Vec<Trajectory>, Option<Trajectory>, f64)> {
    simulate_with(valid, threads, progress, None)
}

fn simulate_with(
    valid: &ValidRun,
    threads: Option<usize>,
    progress: Progress,
    ck: Option<&Checkpointing<'_>>,
) -> Result<(Vec<Trajectory>, Option<Trajectory>, f64)> {
    let sim_cfg = &valid.config.sim;
    let model = &valid.model;
    let build = |_i: usize, rng: &mut hdgan_model::random::SimRng| -> Result<AnyEngine, SimError> {
        Ok(AnyEngine::build(
            sim_cfg.engine,
            model,
            &valid.init,
            sim_cfg.mode,
            sim_cfg.blowup,
            rng,
        ))
    };
    let (sim, sim_seconds) = run_members(valid, threads, progress, build, ck)?;
    let ode = match valid.ode {
        Some((kind, opts)) => {
            let first = &sim[0];
            Some(
                solve(model, kind, &first.states[0], &first.times, &opts)
                    .context("limiting ODE failed")?,
            )
        }
        None => None,
    };
    Ok((sim, ode, sim_seconds))
}

/// [`simulate`] for a p-feature discriminator (`model.p > 1`): the literal multi-feature
/// engine and the multi-feature ODE from the prescribed initial overlaps.
pub fn simulate_multi(
    valid: &ValidRun,
    threads: Option<usize>,
    progress: Progress,
) -> Result<MultiRun> {
    simulate_multi_with(valid, threads, progress, None)
}

fn simulate_multi_with(
    valid: &ValidRun,
    threads: Option<usize>,
    progress: Progress,
    ck: Option<&Checkpointing<'_>>,
) -> Result<MultiRun> {
    let model = &valid.model;
    let blowup = valid.config.sim.blowup;
    let build = |_i: usize, rng: &mut hdgan_model::random::SimRng| -> Result<MultiSgda, SimError> {
        Ok(MultiSgda::new(model, &valid.init, blowup, rng))
    };
    let (sim, sim_seconds) = run_members(valid, threads, progress, build, ck)?;
    let ode = match valid.ode {
        Some((_, opts)) => Some(
            solve_multi(
                model,
                MultiForm::Derived,
                &valid.init.multi_state(),
                &sim[0].times,
                &opts,
            )
            .context("limiting multi-feature ODE failed")?,
        ),
        None => None,
    };
    Ok(MultiRun {
        sim,
        ode,
        sim_seconds,
    })
}

/// The result of [`simulate_multi`].
#[derive(Clone, Debug)]
pub struct MultiRun {
    /// One trajectory per ensemble member.
    pub sim: Vec<Trajectory<MultiState>>,
    /// The multi-feature ODE at the same times (None when disabled).
    pub ode: Option<Trajectory<MultiState>>,
    /// Wall-clock seconds of the simulation.
    pub sim_seconds: f64,
}

/// Runs the ensemble of `valid` with engines from `build`, on `threads` workers, reporting
/// `progress`; returns the trajectories and the wall-clock seconds.
fn run_members<E, F>(
    valid: &ValidRun,
    threads: Option<usize>,
    progress: Progress,
    build: F,
    ck: Option<&Checkpointing<'_>>,
) -> Result<(Vec<Trajectory<E::State>>, f64)>
where
    E: Checkpoint + Send,
    E::State: Send + serde::Serialize + serde::de::DeserializeOwned,
    F: Fn(usize, &mut hdgan_model::random::SimRng) -> Result<E, SimError> + Sync + Send,
{
    let sim_cfg = &valid.config.sim;
    let total = valid.schedule.steps * sim_cfg.members as u64;
    if progress != Progress::Silent {
        crate::note(&format!("{}: {}", valid.name, estimate(valid, threads)));
        if let Some(r) = rounding_note(valid) {
            crate::note(&format!("{}: {r}", valid.name));
        }
    }
    let bar = if progress == Progress::Bar {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {wide_bar} {percent:>3}% (ETA {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_prefix(format!("simulating {}", valid.name));
        b
    } else {
        ProgressBar::hidden()
    };
    let done = AtomicU64::new(0);
    let tenths = AtomicU64::new(0);
    let started_at = Instant::now();
    let inc = |k: u64| {
        bar.inc(k);
        if progress == Progress::Lines {
            let now = done.fetch_add(k, Ordering::Relaxed) + k;
            let tenth = now * 10 / total.max(1);
            if tenths.fetch_max(tenth, Ordering::Relaxed) < tenth {
                crate::errln!(
                    "{}: {}% of {} steps, {:.1} s",
                    valid.name,
                    tenth * 10,
                    total,
                    started_at.elapsed().as_secs_f64()
                );
            }
        }
    };
    let control = RunControl {
        progress: Some(&inc),
        cancel: Some(&crate::CANCEL),
    };
    let started = Instant::now();
    let sim = match ck {
        None => {
            let work = || {
                run_ensemble(
                    sim_cfg.members,
                    valid.config.seed,
                    build,
                    &valid.schedule,
                    control,
                )
            };
            crate::with_threads(threads, work)?.context("simulation failed")?
        }
        Some(ck) => {
            let work = || run_checkpointed(valid, &build, control, ck, &inc);
            crate::with_threads(threads, work)??
        }
    };
    bar.finish_and_clear();
    Ok((sim, started.elapsed().as_secs_f64()))
}

/// [`run_ensemble`] in segments of `ck.every_steps`, saving every member after each
/// segment (and, on `--resume`, starting from the saved members). Member i's engine and
/// stream are built exactly as [`run_ensemble`] builds them, so the trajectories are the
/// same bits.
fn run_checkpointed<E, F>(
    valid: &ValidRun,
    build: &F,
    control: RunControl<'_>,
    ck: &Checkpointing<'_>,
    inc: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Trajectory<E::State>>>
where
    E: Checkpoint + Send,
    E::State: Send + serde::Serialize + serde::de::DeserializeOwned,
    F: Fn(usize, &mut hdgan_model::random::SimRng) -> Result<E, SimError> + Sync + Send,
{
    use rayon::prelude::*;
    let sim_cfg = &valid.config.sim;
    let mut members: Vec<Member<E>> = (0..sim_cfg.members)
        .into_par_iter()
        .map(|i| {
            let mut rng = hdgan_model::random::stream_rng(valid.config.seed, i as u64);
            let engine = build(i, &mut rng)?;
            Ok(Member {
                engine,
                rng,
                trajectory: Trajectory::new(),
            })
        })
        .collect::<Result<_, SimError>>()
        .context("simulation failed")?;
    let mut at = 0;
    if ck.resume {
        at = ck.dir.restore(&mut members)?;
        inc(at * sim_cfg.members as u64);
    }
    let steps = valid.schedule.steps;
    let fault_after: Option<u64> = std::env::var("HDGAN_FAULT_AFTER_CHECKPOINTS")
        .ok()
        .and_then(|v| v.parse().ok());
    let mut saved = 0u64;
    loop {
        let until = ((at / ck.every_steps + 1) * ck.every_steps).min(steps);
        members
            .par_iter_mut()
            .try_for_each(|m| advance(m, &valid.schedule, until, control))
            .context("simulation failed")?;
        at = until;
        if at >= steps {
            break;
        }
        ck.dir.save(&members)?;
        saved += 1;
        // Fault injection for the kill/resume tests: die like `kill -9` (no cleanup)
        // right after the k-th checkpoint.
        if fault_after.is_some_and(|k| saved >= k) {
            std::process::abort();
        }
    }
    Ok(members.into_iter().map(|m| m.trajectory).collect())
}

/// The Figure 1 plot: cosines `P_ii / sqrt(S_ii)` and `|q_i| / sqrt(z)` over time, ODE as
/// curves, simulation as dots. `q` is shown by magnitude: the ODE is symmetric under
/// `(q, r) -> (-q, -r)`, and when the discriminator leaves `q ~ 0` (between the learning of
/// two features) the sign it picks is set by O(1/sqrt n) fluctuations.
pub fn figure1(title: &str, sim: &[Trajectory], ode: Option<&Trajectory>) -> Figure {
    cosine_figure(title, sim, ode, &|i| {
        (
            format!("P{0}{0}/sqrt(S{0}{0})", i + 1),
            format!("|q{}|", i + 1),
        )
    })
}

/// [`figure1`] with other legend names: `names(i)` gives the labels of the i-th
/// (0-based) cosine `P_ii / sqrt(S_ii)` and of `|q_i| / sqrt(z)`.
pub fn cosine_figure(
    title: &str,
    sim: &[Trajectory],
    ode: Option<&Trajectory>,
    names: &dyn Fn(usize) -> (String, String),
) -> Figure {
    let d = sim
        .first()
        .and_then(Trajectory::d)
        .or_else(|| ode.and_then(Trajectory::d))
        .unwrap_or(0);
    let mut series = Vec::new();
    for i in 0..d {
        let color = PALETTE[i % PALETTE.len()];
        let p = move |s: &MacroState| s.p_cosine(i, i);
        let q = move |s: &MacroState| s.q_cosine(i).abs();
        let (pn, qn) = names(i);
        if let Some(o) = ode {
            series.push(Series {
                label: format!("{pn} ODE"),
                color,
                style: Style::Line,
                points: o.points(p),
            });
            series.push(Series {
                label: format!("{qn} ODE"),
                color,
                style: Style::Dashed,
                points: o.points(q),
            });
        }
        for (m, t) in sim.iter().enumerate() {
            let first = m == 0;
            series.push(Series {
                label: if first {
                    format!("{pn} sim")
                } else {
                    String::new()
                },
                color,
                style: Style::Dots,
                points: t.points(p),
            });
            series.push(Series {
                label: if first {
                    format!("{qn} sim")
                } else {
                    String::new()
                },
                color,
                style: Style::Crosses,
                points: t.points(q),
            });
        }
    }
    Figure {
        title: title.to_owned(),
        x_label: "t = k / n".into(),
        y_label: "cosine".into(),
        x_range: None,
        y_range: Some((-0.02, 1.02)),
        series,
    }
}

/// Writes the run's files into `staged` and commits it (atomically: all or nothing);
/// returns the final path.
pub fn write_outputs(
    valid: &ValidRun,
    sim: &[Trajectory],
    ode: Option<&Trajectory>,
    phases: &(Option<PhaseSummary>, Option<PhaseSummary>),
    sim_seconds: f64,
    threads: Option<usize>,
    staged: StagedDir,
) -> Result<PathBuf> {
    let meta = write_run_files(valid, sim, ode, phases, sim_seconds, threads, &staged)?;
    write_json(&staged.file("run.json"), &meta)?;
    staged.commit()
}

/// Writes a run's trajectories (sim.csv/.npy, ode.csv/.npy), its plot (figure.svg/.png)
/// and config.toml into `staged`; returns the metadata for `run.json`, which the caller
/// may extend before writing it.
pub fn write_run_files(
    valid: &ValidRun,
    sim: &[Trajectory],
    ode: Option<&Trajectory>,
    phases: &(Option<PhaseSummary>, Option<PhaseSummary>),
    sim_seconds: f64,
    threads: Option<usize>,
    staged: &StagedDir,
) -> Result<serde_json::Value> {
    let names = MacroState::column_names(valid.model.d);
    let sim_header = write_trajectories(staged, &names, sim, ode)?;
    let title = valid
        .config
        .title
        .clone()
        .unwrap_or_else(|| valid.name.clone());
    render(
        &figure1(&format!("{title} (n = {})", valid.model.n), sim, ode),
        &staged.file("figure.svg"),
        &staged.file("figure.png"),
    )?;
    let mut meta = run_meta(valid, threads, staged, &sim_header, &names, sim_seconds)?;
    meta["phase"] = json!({ "sim_member0": phases.0, "ode": phases.1 });
    Ok(meta)
}

/// Writes `sim.csv`/`.npy` (one row per member and recorded time) and, when given,
/// `ode.csv`/`.npy` into `staged`, with `names` as the state's columns; returns the
/// simulation's header.
pub fn write_trajectories<S: PackedState>(
    staged: &StagedDir,
    names: &[String],
    sim: &[Trajectory<S>],
    ode: Option<&Trajectory<S>>,
) -> Result<Vec<String>> {
    let mut sim_header = vec!["member".to_owned(), "t".to_owned()];
    sim_header.extend(names.iter().cloned());
    let sim_rows: Vec<Vec<f64>> = sim
        .iter()
        .enumerate()
        .flat_map(|(m, t)| {
            t.rows().into_iter().map(move |r| {
                let mut row = vec![m as f64];
                row.extend(r);
                row
            })
        })
        .collect();
    write_csv(&staged.file("sim.csv"), &sim_header, &sim_rows)?;
    write_npy(&staged.file("sim.npy"), &sim_rows)?;
    if let Some(o) = ode {
        let mut header = vec!["t".to_owned()];
        header.extend(names.iter().cloned());
        let rows = o.rows();
        write_csv(&staged.file("ode.csv"), &header, &rows)?;
        write_npy(&staged.file("ode.npy"), &rows)?;
    }
    Ok(sim_header)
}

/// Writes `config.toml` into `staged` and returns the run's provenance for `run.json`
/// (version, git revision, name, seed, threads, config, schedule, columns, files).
fn run_meta(
    valid: &ValidRun,
    threads: Option<usize>,
    staged: &StagedDir,
    sim_header: &[String],
    names: &[String],
    sim_seconds: f64,
) -> Result<serde_json::Value> {
    let toml_text = toml::to_string(&valid.config).context("cannot serialise the config")?;
    std::fs::write(staged.file("config.toml"), toml_text)?;
    let (version, revision) = build_info();
    let meta = json!({
        "hdgan_version": version,
        "git_revision": revision,
        "name": valid.name,
        "seed": valid.config.seed,
        "threads": threads,
        "config": valid.config,
        "steps": valid.schedule.steps,
        "record_every_steps": valid.schedule.record_every,
        "t_end_effective": valid.schedule.steps as f64 / valid.model.n as f64,
        "record_dt_effective": valid.schedule.record_every as f64 / valid.model.n as f64,
        "schedule_rounding": rounding_note(valid),
        "columns": { "sim": sim_header, "ode": std::iter::once("t".to_owned()).chain(names.iter().cloned()).collect::<Vec<_>>() },
        "files": {
            "sim.csv": "simulation: one row per (member, recorded time)",
            "sim.npy": "same as sim.csv, float64 array (rows x columns)",
            "ode.csv": "limiting ODE at the recorded times, from member 0's initial state",
            "ode.npy": "same as ode.csv, float64 array",
                        "figure.svg": "cosines over time (also figure.png)",
            "config.toml": "the configuration that made this run",
        },
        "sim_seconds": sim_seconds,
    });
    Ok(meta)
}

/// Removes the checkpoint folder of a completed run.
fn finish_checkpoint(req: &RunRequest, made: Option<CheckpointDir>) {
    crate::set_checkpoint_hint(None);
    if let Some(d) = made {
        d.finish();
    } else if let Some(d) = &req.resume {
        CheckpointDir::open(d.path())
            .map(CheckpointDir::finish)
            .ok();
    }
}

/// The whole `hdgan run`: prepare, simulate, solve, classify, write.
pub fn execute(req: &RunRequest) -> Result<RunOutcome> {
    let valid = prepare(req)?;
    if valid.model.p > 1 {
        anyhow::bail!(
            "model.p = {} > 1: a multi-feature run records (P, Q, R, S, Z); use run::execute_multi",
            valid.model.p
        );
    }
    let (staged, made) = open_run_outputs(req, &valid)?;
    let ck = checkpointing(req, &made, valid.model.n);
    let (sim, ode, sim_seconds) = simulate_with(&valid, req.threads, req.progress, ck.as_ref())?;
    // The simulation is classified with the threshold raised above its O(1/sqrt n)
    // fluctuations; the ODE's phase is its long-time phase, classified from the run's
    // horizon on and extended while unsettled (lambda = inf; otherwise over [0, T]).
    let ode_phase = match (&valid.ode, valid.model.lambda.is_infinite()) {
        (Some((_, opts)), true) => hdgan_stability::classify_ode(
            &valid.model,
            &sim[0].states[0],
            valid.config.sim.t_end,
            40,
            &PhaseRule::default(),
            opts,
        )
        .ok()
        .map(|(s, _, _)| s),
        _ => ode
            .as_ref()
            .and_then(|o| classify(o, &PhaseRule::default())),
    };
    let phases = (
        classify(&sim[0], &PhaseRule::for_dimension(valid.model.n)),
        ode_phase,
    );
    let out_dir = write_outputs(
        &valid,
        &sim,
        ode.as_ref(),
        &phases,
        sim_seconds,
        req.threads,
        staged,
    )?;
    finish_checkpoint(req, made);
    Ok(RunOutcome {
        out_dir,
        sim,
        ode,
        phases,
        sim_seconds,
    })
}

/// The multi-feature run plot: generator cosines `P_ii / sqrt(S_ii)`, discriminator
/// cosines `|Q_ik| / sqrt(Z_kk)` and the cosine between discriminator columns
/// `Z_kl / sqrt(Z_kk Z_ll)`; ODE as curves, simulation as dots.
pub fn multi_figure(
    title: &str,
    sim: &[Trajectory<MultiState>],
    ode: Option<&Trajectory<MultiState>>,
) -> Figure {
    let first = sim.first().or(ode).and_then(|t| t.states.first());
    let (d, p) = first.map_or((0, 0), |s| (s.d(), s.p_features()));
    type Quantity = (String, Box<dyn Fn(&MultiState) -> f64>);
    let mut quantities: Vec<Quantity> = Vec::new();
    for i in 0..d {
        quantities.push((
            format!("P{0}{0}/sqrt(S{0}{0})", i + 1),
            Box::new(move |s: &MultiState| s.p_cosine(i, i)),
        ));
    }
    for i in 0..d {
        for k in 0..p {
            quantities.push((
                format!("|Q{}{}|/sqrt(Z{2}{2})", i + 1, k + 1, k + 1),
                Box::new(move |s: &MultiState| s.q_cosine(i, k).abs()),
            ));
        }
    }
    for k in 0..p {
        for l in k + 1..p {
            quantities.push((
                format!("Z{}{}/sqrt(Z{0}{0} Z{1}{1})", k + 1, l + 1),
                Box::new(move |s: &MultiState| s.z[(k, l)] / (s.z[(k, k)] * s.z[(l, l)]).sqrt()),
            ));
        }
    }
    let mut series = Vec::new();
    for (qi, (name, f)) in quantities.iter().enumerate() {
        let color = PALETTE[qi % PALETTE.len()];
        if let Some(o) = ode {
            series.push(Series {
                label: format!("{name} ODE"),
                color,
                style: Style::Line,
                points: o.points(f),
            });
        }
        for (m, t) in sim.iter().enumerate() {
            series.push(Series {
                label: if m == 0 {
                    format!("{name} sim")
                } else {
                    String::new()
                },
                color,
                style: Style::Dots,
                points: t.points(f),
            });
        }
    }
    Figure {
        title: title.to_owned(),
        x_label: "t = k / n".into(),
        y_label: "cosine".into(),
        x_range: None,
        y_range: Some((-1.02, 1.02)),
        series,
    }
}

/// `hdgan run` for a p-feature discriminator (`model.p > 1`): simulate, solve, and write
/// sim.csv/.npy and ode.csv/.npy (columns of [`MultiState::column_names`]), figure.svg/.png
/// ([`multi_figure`]), config.toml and run.json, atomically.
pub fn execute_multi(req: &RunRequest) -> Result<(PathBuf, MultiRun)> {
    let valid = prepare(req)?;
    let (staged, made) = open_run_outputs(req, &valid)?;
    let ck = checkpointing(req, &made, valid.model.n);
    let run = simulate_multi_with(&valid, req.threads, req.progress, ck.as_ref())?;
    let names = MultiState::column_names(valid.model.d, valid.model.p);
    let header = write_trajectories(&staged, &names, &run.sim, run.ode.as_ref())?;
    let title = valid
        .config
        .title
        .clone()
        .unwrap_or_else(|| valid.name.clone());
    render(
        &multi_figure(
            &format!("{title} (n = {}, p = {})", valid.model.n, valid.model.p),
            &run.sim,
            run.ode.as_ref(),
        ),
        &staged.file("figure.svg"),
        &staged.file("figure.png"),
    )?;
    let mut meta = run_meta(
        &valid,
        req.threads,
        &staged,
        &header,
        &names,
        run.sim_seconds,
    )?;
    meta["engine"] = json!("multi-feature literal step (MultiSgda)");
    meta["ode_equation"] = json!("multi-feature ODE (hdgan_macro_ode::solve_multi)");
    write_json(&staged.file("run.json"), &meta)?;
    let dir = staged.commit()?;
    finish_checkpoint(req, made);
    Ok((dir, run))
}
