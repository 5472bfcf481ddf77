//! `hdgan run` and `hdgan check`: output folder and checkpoint folder chosen and checked
//! before any work, the experiment run by `hdgan-experiments`, its files written by
//! `hdgan-report`, a summary printed.

use super::OutArgs;
use crate::error::Result;
use crate::print::open_output;
use crate::progress::{Progress, with_control};
use crate::{errln, outln};
use hdgan_core::Trajectory;
use hdgan_experiments::config::{self, ValidRun};
use hdgan_experiments::run::{
    ConfigSource, RunSource, Simulation, estimate, prepare, rounding_note, run_any,
};
use hdgan_experiments::{Control, Error};
use hdgan_micro_sim::EngineKind;
use hdgan_report::checkpoint::{CheckpointDir, Checkpointing, FORMAT, ResumeInfo};
use hdgan_report::output::{OutSource, OutputRequest, StagedDir};
use hdgan_report::{build_info, write};
use std::path::PathBuf;

/// What `hdgan run` was asked to do.
#[derive(Debug, Default)]
pub struct RunArgs {
    /// Config file (None: the embedded default, Figure 1's successful run).
    pub config: Option<PathBuf>,
    /// `--out` and `--overwrite`.
    pub output: OutArgs,
    /// Seed override.
    pub seed: Option<u64>,
    /// Worker threads.
    pub threads: Option<usize>,
    /// Engine override.
    pub engine: Option<EngineKind>,
    /// Progress on stderr.
    pub progress: Progress,
    /// `--checkpoint-every DT`.
    pub checkpoint_every: Option<f64>,
    /// `--resume`: the checkpoint to continue.
    pub resume: Option<CheckpointDir>,
}

impl RunArgs {
    /// The experiment's source: the config (or the checkpoint's), seed, engine, threads.
    fn source(&self) -> RunSource {
        match &self.resume {
            Some(ck) => {
                let i = &ck.info;
                RunSource {
                    config: match &i.config_text {
                        Some(t) => ConfigSource::Text {
                            name: i.name.clone(),
                            origin: format!("{} (from the checkpoint)", i.name),
                            text: t.clone(),
                        },
                        None => ConfigSource::Default,
                    },
                    seed: i.seed,
                    engine: i.engine,
                    threads: self.threads,
                }
            }
            None => RunSource {
                config: self
                    .config
                    .clone()
                    .map_or(ConfigSource::Default, ConfigSource::File),
                seed: self.seed,
                engine: self.engine,
                threads: self.threads,
            },
        }
    }
}

/// Opens the output folder and, with `--checkpoint-every`, the checkpoint folder, before
/// any work.
fn open_outputs(args: &RunArgs, valid: &ValidRun) -> Result<(StagedDir, Option<CheckpointDir>)> {
    if let Some(ck) = &args.resume {
        let staged = open_output(&OutputRequest {
            path: ck.info.out.clone(),
            source: OutSource::Flag,
            overwrite: ck.info.overwrite,
            inputs: Vec::new(),
        })?;
        return Ok((staged, None));
    }
    let staged = args
        .output
        .open(valid.output_dir(), valid.name(), args.config.as_deref())?;
    let ck = match args.checkpoint_every {
        None => None,
        Some(every) => {
            if !(every.is_finite() && every > 0.0) {
                return Err(Error::arg(
                    "--checkpoint-every",
                    format!("must be a finite time > 0, got {every}"),
                )
                .into());
            }
            let (version, revision) = build_info();
            let config_text = match &args.config {
                Some(p) => Some(config::read_file(p)?.1),
                None => None,
            };
            Some(CheckpointDir::create(ResumeInfo {
                format: FORMAT,
                hdgan_version: version.to_owned(),
                git_revision: revision.to_owned(),
                name: valid.name().to_owned(),
                config_text,
                config_path: args.config.clone(),
                seed: args.seed,
                engine: args.engine,
                out: staged.target().to_path_buf(),
                overwrite: args.output.overwrite,
                every,
            })?)
        }
    };
    Ok((staged, ck))
}

/// The whole `hdgan run`: prepare, open outputs, simulate, solve, classify, write, print.
pub fn execute(args: &RunArgs) -> Result<()> {
    let valid = prepare(&args.source())?;
    crate::print::deprecations(valid.name(), valid.model());
    let (staged, made) = open_outputs(args, &valid)?;
    let store_dir = args.resume.as_ref().or(made.as_ref());
    if let Some(d) = store_dir {
        crate::print::set_checkpoint_hint(Some(d.path()));
    }
    let store = store_dir.map(|d| Checkpointing::new(d, args.resume.is_some()));
    if args.progress != Progress::Silent {
        errln!("{}: {}", valid.name(), estimate(&valid, args.threads));
        if let Some(r) = rounding_note(&valid) {
            errln!("{}: {r}", valid.name());
        }
    }
    let threads = args.threads;
    let sim = with_control(args.progress, |ctl: Control<'_>| {
        run_any(&valid, threads, ctl, store.as_ref())
    })?;
    write::write_simulation(&valid, &sim, threads, &staged)?;
    let out_dir = staged.commit()?;
    finish_checkpoint(args, made);
    outln!("wrote {}", out_dir.display());
    outln!("simulation: {:.2} s", sim.sim_seconds());
    let d = valid.model().d();
    match &sim {
        Simulation::Multi(run) => {
            print_final_cosines(&run.sim[0], run.ode.as_ref(), d, |s, i| s.p_cosine(i, i));
        }
        Simulation::Single { run, phases } => {
            print_final_cosines(&run.sim[0], run.ode.as_ref(), d, |s, i| s.p_cosine(i, i));
            if let Some(p) = &phases.0 {
                outln!("phase (simulation, member 0): {}", p.phase);
            }
            if let Some(p) = &phases.1 {
                outln!("phase (ODE): {}", p.phase);
            }
        }
    }
    Ok(())
}

/// Prints the generator cosines `P_ii / sqrt(S_ii)` of member 0 and of the ODE at the
/// last recorded time.
fn print_final_cosines<S>(
    sim: &Trajectory<S>,
    ode: Option<&Trajectory<S>>,
    d: usize,
    cosine: impl Fn(&S, usize) -> f64,
) {
    let (Some(s), Some(t)) = (sim.states.last(), sim.times.last()) else {
        return;
    };
    let o = ode.and_then(|o| o.states.last());
    for i in 0..d {
        let ode = o
            .map(|o| format!(", ODE {:.4}", cosine(o, i)))
            .unwrap_or_default();
        outln!(
            "t = {t}: P{0}{0}/sqrt(S{0}{0}) sim {1:.4}{ode}",
            i + 1,
            cosine(s, i)
        );
    }
}

/// Removes the checkpoint folder of a completed run.
fn finish_checkpoint(args: &RunArgs, made: Option<CheckpointDir>) {
    crate::print::set_checkpoint_hint(None);
    if let Some(d) = made {
        d.finish();
    } else if let Some(d) = &args.resume {
        CheckpointDir::open(d.path())
            .map(CheckpointDir::finish)
            .ok();
    }
}

/// `hdgan check`: validates a config and prints what it would run.
pub fn check(config: PathBuf) -> Result<()> {
    let v = prepare(&RunSource::file(Some(config.clone())))?;
    crate::print::deprecations(v.name(), v.model());
    let m = v.model();
    outln!("{}: valid", config.display());
    outln!(
        "  n = {}, d = {}, tau = {}, tau~ = {}, eta_T = {}, eta_G = {}, lambda = {}",
        m.n(),
        m.d(),
        m.tau(),
        m.tau_tilde(),
        m.eta_t(),
        m.eta_g(),
        m.lambda().value()
    );
    // The engine asked for, and the one the registry runs it on when that differs.
    let runner = if v.sim().requested == v.sim().engine {
        String::new()
    } else {
        format!(", run by the {} engine", v.sim().engine.name())
    };
    outln!(
        "  {} steps to T = {}, {} member(s), recording every {} steps, {:?} engine{runner} ({:?} step)",
        v.schedule().steps,
        v.sim().t_end,
        v.sim().members,
        v.schedule().record_every,
        v.sim().requested,
        v.sim().mode
    );
    outln!("  resources: {}", estimate(&v, None));
    if let Some(r) = rounding_note(&v) {
        outln!("  note: {r}");
    }
    if m.p() > 1 {
        outln!(
            "  p = {} discriminator features: multi-feature engine (literal step) and multi-feature ODE; \
             Claim 1 and the modes below are the single-feature (p = 1) predictions",
            m.p()
        );
    }
    if m.loss() != hdgan_model::Loss::Quadratic {
        outln!(
            "  model.loss = {:?}: Claim 1 and the effective modes describe the quadratic loss only",
            m.loss().name()
        );
        return Ok(());
    }
    if let Some(c) = hdgan_stability::claim1(m) {
        outln!(
            "  Claim 1: (1/2) max(Lam - Lam~ + alpha Lam~) = {:.4} {} tau eta^2 = {:.4} {} min Lam = {:.4}; predicted phase: {}",
            c.left,
            if c.left_holds { "<=" } else { ">" },
            c.tau_eta_sq,
            if c.right_holds { "<" } else { ">=" },
            c.right,
            c.predicted
        );
    }
    let modes = hdgan_stability::effective_modes(m);
    outln!(
        "  effective modes: lam = {:.4?}, lam~ = {:.4?}; predicted phase: {}{}",
        modes.modes.iter().map(|x| x.lam).collect::<Vec<_>>(),
        modes.modes.iter().map(|x| x.lam_tilde).collect::<Vec<_>>(),
        modes.predicted,
        if modes.generator_mismatch > 0.0 {
            " (approximate: M~ is not diagonal; see `hdgan modes`)"
        } else {
            ""
        }
    );
    Ok(())
}
