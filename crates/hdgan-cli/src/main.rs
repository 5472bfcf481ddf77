//! `hdgan`: simulate and analyse the solvable high-dimensional GAN model.

use anyhow::Result;
use clap::{Parser, Subcommand};
use hdgan_cli::InputError;
use hdgan_cli::run::{Progress, RunRequest, execute, execute_multi, prepare};
use hdgan_cli::train_data::TrainDataRequest;
use hdgan_data::{Colour, Dataset};
use hdgan_micro_sim::EngineKind;
use hdgan_model::FromData;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hdgan",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HDGAN_GIT_REVISION"), ")"),
    about = "Simulate online SGDA training of the solvable high-dimensional GAN model \
             (Wang, Hu & Lu 2019) and compare it with its limiting ODE",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Refuse requests whose estimated memory exceeds this size (e.g. 4G, 512MiB;
    /// default: the memory available on this machine).
    #[arg(long, global = true, value_parser = hdgan_cli::resources::parse_bytes)]
    max_memory: Option<u64>,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate SGDA, solve the limiting ODE from the simulation's initial overlaps, and
    /// write trajectories (CSV, NPY), run.json and a Figure 1 style plot (SVG, PNG).
    Run {
        /// TOML config (see configs/reference.toml). Default: the embedded Figure 1
        /// success config.
        #[arg(conflicts_with = "resume")]
        config: Option<PathBuf>,
        /// Output folder (default: [output] dir of the config, else out/<config name>).
        #[arg(long, conflicts_with = "resume")]
        out: Option<PathBuf>,
        /// Replace the folder named by --out (or [output] dir) if it is an earlier hdgan
        /// output folder holding only hdgan's files. Never a file, a link, the current
        /// folder or a folder holding an input.
        #[arg(long)]
        overwrite: bool,
        /// Seed of the random streams (overrides the config's `seed`).
        #[arg(long, conflicts_with = "resume", allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Worker threads for ensembles (default: one per core). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Engine: "full" (n-dimensional) or "gram" (exact law of M_k, O(d^3) per step).
        #[arg(long, value_parser = parse_engine, conflicts_with = "resume")]
        engine: Option<EngineKind>,
        /// Save the run's state (engines, random streams, recorded states) every DT units
        /// of time t into <out>.checkpoint/, so that a killed run can be continued with
        /// --resume; the folder is removed when the run completes.
        #[arg(
            long,
            value_name = "DT",
            conflicts_with = "resume",
            allow_hyphen_values = true
        )]
        checkpoint_every: Option<f64>,
        /// Continue a killed run from its checkpoint folder (<out>.checkpoint, or <out>);
        /// the config, seed, engine and output folder come from the checkpoint. The outputs
        /// are byte-identical to an uninterrupted run's (run.json aside).
        #[arg(long, value_name = "DIR")]
        resume: Option<PathBuf>,
        /// No progress output (default: a bar on terminals, a line every 10% otherwise).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Validate a config without running it; prints what it describes.
    Check {
        /// TOML config to validate.
        config: PathBuf,
    },
    /// Phase diagram over a grid of two parameters: Claim 1's prediction and the ODE's
    /// classification at every point (and optionally simulations on a coarser grid);
    /// writes phase.csv/.npy, the grids as .npy, phase.svg/.png and agreement.svg/.png.
    Phase {
        /// TOML phase config (see configs/phase-eta-alpha.toml).
        config: PathBuf,
        /// Output folder (default: [output] dir of the config, else out/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the folder named by --out (or [output] dir) if it is an earlier hdgan
        /// output folder holding only hdgan's files. Never a file, a link, the current
        /// folder or a folder holding an input.
        #[arg(long)]
        overwrite: bool,
        /// Worker threads (default: one per core). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Figure 2: snapshots of the scaled rows (v^, w^) of a d = 1 simulation with constant
    /// features, against the Gaussian solution of PDE (12); writes the snapshots (.npy),
    /// moments.csv (moments and distances) and figure2.svg/.png.
    Measure {
        /// TOML measure config (see configs/fig2.toml).
        config: PathBuf,
        /// Output folder (default: [output] dir of the config, else out/<config name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the folder named by --out (or [output] dir) if it is an earlier hdgan
        /// output folder holding only hdgan's files. Never a file, a link, the current
        /// folder or a folder holding an input.
        #[arg(long)]
        overwrite: bool,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Effective modes (SPEC §8): the latents' effective second moments M and M~, their
    /// eigenpairs and each mode's solvable interval (learnable, in the interval, too
    /// strong), as a table, modes.csv/.json and spectrum.svg/.png. With --run, also the
    /// simulation and the ODE seen mode by mode (sim_modes.csv, ode_modes.csv,
    /// modes_figure.svg) and their phases by mode.
    Modes {
        /// TOML config with a [model] table (a full run config for --run).
        config: PathBuf,
        /// Output folder (default: [output] dir of the config, else out/<name>-modes).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the folder named by --out (or [output] dir) if it is an earlier hdgan
        /// output folder holding only hdgan's files. Never a file, a link, the current
        /// folder or a folder holding an input.
        #[arg(long)]
        overwrite: bool,
        /// Also simulate and solve the limiting ODE, and classify both by mode.
        #[arg(long)]
        run: bool,
        /// Seed (with --run; overrides the config's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads (with --run). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Train the linear GAN on a stream of real images (SPEC §8, real data): alignment of
    /// span(V) with the data's top-d principal subspace over time (principal angles,
    /// Grassmann distance) for an informed and an isotropic generator covariance, several
    /// seeds, and the reduced ODE computed from the estimated spectrum beside them. Writes
    /// alignment.csv, ode_alignment.csv, spectrum.csv, summary.json, alignment.svg/.png,
    /// spectrum.svg/.png.
    TrainData {
        /// Dataset: mnist, fashion-mnist or cifar10.
        #[arg(long, value_parser = parse_dataset)]
        dataset: Dataset,
        /// Its image file (IDX, raw or .gz; CIFAR-10 batch .bin) or a folder holding it.
        #[arg(long)]
        path: PathBuf,
        /// Reference dimension d (generator columns).
        #[arg(long, default_value_t = 2)]
        d: usize,
        /// Discriminator learning rate tau.
        #[arg(long, default_value_t = 0.2, allow_hyphen_values = true)]
        tau: f64,
        /// tau~ / tau (default: tau eta^2 / Lam_1, mid-interval for the informed generator).
        #[arg(long, allow_hyphen_values = true)]
        alpha: Option<f64>,
        /// Generator noise variance eta_G (the data's bulk is scaled to eta_T = 1).
        #[arg(long, default_value_t = 3.0, allow_hyphen_values = true)]
        eta_g: f64,
        /// Final time T = steps / n (default: 40 / (tau~ Lam_d)).
        #[arg(long, allow_hyphen_values = true)]
        t_end: Option<f64>,
        /// Seeds per generator covariance.
        #[arg(long, default_value_t = 5)]
        seeds: usize,
        /// Base seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Generator covariance: informed (diag Lam), isotropic ((tr Lam / d) I), standard
        /// (I), both (informed and isotropic) or all.
        #[arg(long, default_value = "all", value_parser = parse_covariances)]
        covariance: Covariances,
        /// CIFAR-10 in colour (n = 3072) instead of greyscale (n = 1024).
        #[arg(long)]
        colour: bool,
        /// Use only the first N images.
        #[arg(long)]
        max_images: Option<usize>,
        /// Output folder (default: out/train-<dataset>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the folder named by --out (or [output] dir) if it is an earlier hdgan
        /// output folder holding only hdgan's files. Never a file, a link, the current
        /// folder or a folder holding an input.
        #[arg(long)]
        overwrite: bool,
        /// Worker threads (default: one per core). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// List the fixed points of the reduced ODE (13) for a config's [model], with their
    /// Jacobian eigenvalues and a stable / marginal / unstable verdict.
    FixedPoints {
        /// Any TOML config with a [model] table (lambda = "inf").
        config: PathBuf,
    },
}

/// The generator covariances to train with.
#[derive(Clone, Debug)]
struct Covariances(Vec<FromData>);

fn parse_covariances(s: &str) -> Result<Covariances, String> {
    match s {
        "informed" => Ok(Covariances(vec![FromData::Informed])),
        "isotropic" => Ok(Covariances(vec![FromData::Isotropic])),
        "standard" => Ok(Covariances(vec![FromData::Standard])),
        "both" => Ok(Covariances(vec![FromData::Informed, FromData::Isotropic])),
        "all" => Ok(Covariances(vec![
            FromData::Informed,
            FromData::Isotropic,
            FromData::Standard,
        ])),
        other => Err(format!(
            "must be \"informed\", \"isotropic\", \"standard\", \"both\" (informed and isotropic) or \"all\", got \"{other}\""
        )),
    }
}

fn parse_dataset(s: &str) -> Result<Dataset, String> {
    match s {
        "mnist" => Ok(Dataset::Mnist),
        "fashion-mnist" => Ok(Dataset::FashionMnist),
        "cifar10" => Ok(Dataset::Cifar10),
        other => Err(format!(
            "must be \"mnist\", \"fashion-mnist\" or \"cifar10\", got \"{other}\""
        )),
    }
}

fn parse_engine(s: &str) -> Result<EngineKind, String> {
    match s {
        "full" => Ok(EngineKind::Full),
        "gram" => Ok(EngineKind::Gram),
        other => Err(format!("must be \"full\" or \"gram\", got \"{other}\"")),
    }
}

/// Progress on stderr: none with `--quiet`, a bar on terminals, lines otherwise.
fn progress_mode(quiet: bool) -> Progress {
    if quiet {
        Progress::Silent
    } else if std::io::stderr().is_terminal() {
        Progress::Bar
    } else {
        Progress::Lines
    }
}

/// On SIGINT / SIGTERM: stop, remove this process's staging folders (a checkpoint folder
/// stays), and exit with 128 + the signal number (130, 143).
fn install_signal_handlers() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        hdgan_cli::note("warning: cannot install the SIGINT/SIGTERM handlers");
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            hdgan_cli::CANCEL.store(true, std::sync::atomic::Ordering::SeqCst);
            hdgan_cli::output::cleanup_registered();
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            hdgan_cli::note(&format!(
                "interrupted by {name}: stopped; no output folder was written{}",
                hdgan_cli::checkpoint_hint()
            ));
            std::process::exit(128 + sig);
        }
    });
}

fn main() -> ExitCode {
    install_signal_handlers();
    let cli = Cli::parse();
    hdgan_cli::resources::set_max_memory(cli.max_memory);
    let code = match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ie) = e.downcast_ref::<InputError>() {
                hdgan_cli::note(&format!("error: {ie}"));
                ExitCode::from(2)
            } else {
                hdgan_cli::note(&format!("error: {}", hdgan_cli::one_line(&e)));
                ExitCode::from(1)
            }
        }
    };
    if let Some(e) = hdgan_cli::stdout_error() {
        hdgan_cli::note(&format!("error: cannot write to standard output: {e}"));
        return ExitCode::from(1);
    }
    code
}

fn dispatch(cmd: Command) -> Result<()> {
    match cmd {
        Command::Run {
            config,
            out,
            seed,
            threads,
            engine,
            quiet,
            overwrite,
            checkpoint_every,
            resume,
        } => {
            let resume = resume
                .map(|d| hdgan_cli::checkpoint::CheckpointDir::open(&d))
                .transpose()?;
            let req = RunRequest {
                config,
                out,
                seed,
                threads,
                engine,
                progress: progress_mode(quiet),
                overwrite,
                checkpoint_every,
                resume,
            };
            if prepare(&req)?.model.p > 1 {
                let (dir, run) = execute_multi(&req)?;
                hdgan_cli::outln!("wrote {}", dir.display());
                hdgan_cli::outln!("simulation: {:.2} s", run.sim_seconds);
                if let (Some(s), Some(t)) = (run.sim[0].last(), run.sim[0].times.last()) {
                    let o = run.ode.as_ref().and_then(|o| o.last());
                    for i in 0..s.d() {
                        let ode = o
                            .map(|o| format!(", ODE {:.4}", o.p_cosine(i, i)))
                            .unwrap_or_default();
                        hdgan_cli::outln!(
                            "t = {t}: P{0}{0}/sqrt(S{0}{0}) sim {1:.4}{ode}",
                            i + 1,
                            s.p_cosine(i, i)
                        );
                    }
                }
                return Ok(());
            }
            let outcome = execute(&req)?;
            let d = outcome.sim[0].d().unwrap_or(0);
            hdgan_cli::outln!("wrote {}", outcome.out_dir.display());
            hdgan_cli::outln!("simulation: {:.2} s", outcome.sim_seconds);
            let last_sim = outcome.sim[0].last();
            let last_ode = outcome.ode.as_ref().and_then(|o| o.last());
            if let Some(s) = last_sim {
                let t = outcome.sim[0].times.last().copied().unwrap_or(0.0);
                for i in 0..d {
                    let ode = last_ode
                        .map(|o| format!(", ODE {:.4}", o.p_cosine(i, i)))
                        .unwrap_or_default();
                    hdgan_cli::outln!(
                        "t = {t}: P{0}{0}/sqrt(S{0}{0}) sim {1:.4}{ode}",
                        i + 1,
                        s.p_cosine(i, i)
                    );
                }
            }
            if let Some(p) = &outcome.phases.0 {
                hdgan_cli::outln!("phase (simulation, member 0): {}", p.phase);
            }
            if let Some(p) = &outcome.phases.1 {
                hdgan_cli::outln!("phase (ODE): {}", p.phase);
            }
            Ok(())
        }
        Command::TrainData {
            dataset,
            path,
            d,
            tau,
            alpha,
            eta_g,
            t_end,
            seeds,
            seed,
            covariance,
            colour,
            max_images,
            out,
            threads,
            quiet,
            overwrite,
        } => {
            let mut req = TrainDataRequest::new(dataset, path);
            req.d = d;
            req.tau = tau;
            req.alpha = alpha;
            req.eta_g = eta_g;
            req.t_end = t_end;
            req.seeds = seeds;
            req.seed = seed;
            req.covariances = covariance.0;
            req.colour = if colour { Colour::Rgb } else { Colour::Grey };
            req.max_images = max_images;
            req.out = out;
            req.overwrite = overwrite;
            req.threads = threads;
            req.progress = progress_mode(quiet);
            let o = hdgan_cli::train_data::execute(&req)?;
            if let Some(dir) = &o.out_dir {
                hdgan_cli::outln!("wrote {}", dir.display());
            }
            let p = &o.prepared;
            hdgan_cli::outln!(
                "{}: {} images, n = {}, scale {:.3}; estimated effective spectrum Lam = {:?}",
                dataset.name(),
                o.images,
                p.n,
                p.scale,
                p.effective()
                    .iter()
                    .map(|x| (x * 100.0).round() / 100.0)
                    .collect::<Vec<_>>()
            );
            hdgan_cli::outln!(
                "tau = {tau}, alpha = {:.3e}, tau~ = {:.3e}, eta_T = 1, eta_G = {eta_g}, T = {:.1} ({} steps per run), {:.1} s",
                o.alpha,
                o.alpha * tau,
                o.t_end,
                (p.n as f64 * o.t_end).round(),
                o.seconds
            );
            for r in &o.runs {
                let (ms, ss) = hdgan_cli::train_data::mean_sd(&r.final_sim);
                let (mo, so) = hdgan_cli::train_data::mean_sd(&r.final_ode);
                hdgan_cli::outln!(
                    "final alignment (mean cos of principal angles, last 10%), {:?} (alpha {:.3e}): data {ms:.4} +- {ss:.4}, ODE {mo:.4} +- {so:.4} ({} seeds)",
                    r.covariance,
                    r.alpha,
                    r.final_sim.len()
                );
            }
            Ok(())
        }
        Command::Phase {
            config,
            out,
            threads,
            quiet,
            overwrite,
        } => {
            let o = hdgan_cli::phase::execute_phase(
                &config,
                out.as_deref(),
                threads,
                !quiet,
                overwrite,
            )?;
            hdgan_cli::outln!("wrote {}", o.out_dir.display());
            hdgan_cli::outln!(
                "{} x {} grid, ODE map in {:.2} s; Claim 1 and ODE agree at {} of {} points",
                o.map.x.count,
                o.map.y.count,
                o.seconds,
                o.agreement.1,
                o.agreement.0
            );
            if let Some((n, a)) = o.sim_agreement {
                hdgan_cli::outln!("simulation and ODE agree at {a} of {n} simulated points");
            }
            Ok(())
        }
        Command::Measure {
            config,
            out,
            quiet,
            overwrite,
        } => {
            let dir =
                hdgan_cli::measure::execute_measure(&config, out.as_deref(), !quiet, overwrite)?;
            hdgan_cli::outln!("wrote {}", dir.display());
            Ok(())
        }
        Command::Modes {
            config,
            out,
            run,
            seed,
            threads,
            quiet,
            overwrite,
        } => {
            let o = hdgan_cli::modes::execute_modes(&hdgan_cli::modes::ModesRequest {
                config,
                out,
                run,
                seed,
                threads,
                progress: progress_mode(quiet),
                overwrite,
            })?;
            hdgan_cli::outln!("wrote {}", o.out_dir.display());
            Ok(())
        }
        Command::FixedPoints { config } => {
            hdgan_cli::phase::execute_fixed_points(&config)?;
            Ok(())
        }
        Command::Check { config } => {
            let req = RunRequest {
                config: Some(config.clone()),
                ..RunRequest::default()
            };
            let v = prepare(&req)?;
            let m = &v.model;
            hdgan_cli::outln!("{}: valid", config.display());
            hdgan_cli::outln!(
                "  n = {}, d = {}, tau = {}, tau~ = {}, eta_T = {}, eta_G = {}, lambda = {}",
                m.n,
                m.d,
                m.tau,
                m.tau_tilde,
                m.eta_t,
                m.eta_g,
                m.lambda.value()
            );
            hdgan_cli::outln!(
                "  {} steps to T = {}, {} member(s), recording every {} steps, {:?} engine ({:?} step)",
                v.schedule.steps,
                v.config.sim.t_end,
                v.config.sim.members,
                v.schedule.record_every,
                v.config.sim.engine,
                v.config.sim.mode
            );
            hdgan_cli::outln!("  resources: {}", hdgan_cli::run::estimate(&v, None));
            if let Some(r) = hdgan_cli::run::rounding_note(&v) {
                hdgan_cli::outln!("  note: {r}");
            }
            if m.p > 1 {
                hdgan_cli::outln!(
                    "  p = {} discriminator features: multi-feature engine (literal step) and multi-feature ODE; \
                     Claim 1 and the modes below are the single-feature (p = 1) predictions",
                    m.p
                );
            }
            if let Some(c) = hdgan_stability::claim1(m) {
                hdgan_cli::outln!(
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
            hdgan_cli::outln!(
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
    }
}
