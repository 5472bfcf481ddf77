//! `hdgan`: simulate and analyse the solvable high-dimensional GAN model.

// The doc comments of the argument types are the `--help` texts: `[model]` and `<name>`
// there are config tables and placeholders, not links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod commands;
mod error;
mod print;
mod progress;

use clap::{ArgAction, Parser, Subcommand};
use commands::OutArgs;
use commands::run::RunArgs;
use error::Result;
use hdgan_data::{Colour, Dataset};
use hdgan_experiments::train_data::TrainDataRequest;
use hdgan_micro_sim::EngineKind;
use hdgan_model::{Constraint, FromData};
use hdgan_subspace::TrackerKind;
use progress::Progress;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hdgan",
    version = hdgan_report::provenance::VERSION,
    about = "Simulate online SGDA training of the solvable high-dimensional GAN model \
             (Wang, Hu & Lu 2019) and compare it with its limiting ODE",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Refuse requests whose estimated memory exceeds this size (e.g. 4G, 512MiB;
    /// default: the memory available on this machine).
    #[arg(long, global = true, value_parser = hdgan_experiments::resources::parse_bytes)]
    max_memory: Option<u64>,
    /// No progress output and only errors in the log (default: a progress bar on
    /// terminals, a line every 10% otherwise).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// More log output on stderr: -v info, -vv debug (spans of runs, members, ODE solves),
    /// -vvv trace. RUST_LOG (e.g. RUST_LOG=hdgan_experiments=debug) overrides it.
    #[arg(long, short, global = true, action = ArgAction::Count)]
    verbose: u8,
}

/// What `hdgan sweep` does besides running cells.
#[derive(Subcommand)]
enum SweepAction {
    /// Build table.csv and timings.csv from a sweep folder whose cells have all finished.
    Merge {
        /// The sweep folder.
        dir: PathBuf,
    },
    /// Count the done, running (or interrupted) and missing cells of a sweep folder.
    Status {
        /// The sweep folder.
        dir: PathBuf,
    },
    /// Write a Slurm job-array script (one task per shard; each task runs `hdgan sweep`
    /// on its shard, logging to <out>/logs/shard-<k>.log) into the sweep folder and submit
    /// it with sbatch; with --dry-run, print the script and write nothing.
    Submit(commands::sweep::Submit),
}

#[derive(Subcommand)]
enum Command {
    /// Simulate SGDA, solve the limiting ODE from the simulation's initial overlaps, and
    /// write trajectories (CSV, NPY), run.json and a Figure 1 style plot (SVG, PNG).
    Run {
        /// TOML config (see configs/reference.toml). Default: the embedded Figure 1
        /// success config.
        config: Option<PathBuf>,
        #[command(flatten)]
        output: OutArgs,
        /// Seed of the random streams (overrides the config's `seed`).
        #[arg(long, allow_hyphen_values = true)]
        seed: Option<u64>,
        /// Worker threads for ensembles (default: one per core). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Engine (overrides `sim.engine`): full, gram or multi (`--help` says what each
        /// simulates).
        #[arg(long, value_parser = parse_engine, long_help = engine_help())]
        engine: Option<EngineKind>,
        /// Save the run's state (engines, random streams, recorded states) every DT units
        /// of time t into <out>.checkpoint/, so that a killed run can be continued with
        /// --resume; the folder is removed when the run completes.
        #[arg(long, value_name = "DT", allow_hyphen_values = true)]
        checkpoint_every: Option<f64>,
        /// Continue a killed run from its checkpoint folder (<out>.checkpoint, or <out>);
        /// the config, seed, engine and output folder come from the checkpoint. The outputs
        /// are byte-identical to an uninterrupted run's (run.json aside).
        #[arg(
            long,
            value_name = "DIR",
            conflicts_with_all = ["config", "out", "seed", "engine", "checkpoint_every"]
        )]
        resume: Option<PathBuf>,
    },
    /// Sweep a run config over axes of its keys and seeds (see configs/sweep-fig1-seeds.toml):
    /// each cell is one simulation and its ODE, summarised by the sweep's metrics; cells are
    /// saved one file each as they finish (a rerun skips them), and table.csv holds one row
    /// per cell once all have finished. `--shard K/N` (or Slurm's SLURM_ARRAY_TASK_ID /
    /// SLURM_ARRAY_TASK_COUNT) runs cells i with i mod N = K; `hdgan sweep merge DIR` builds
    /// the table, `hdgan sweep status DIR` counts the cells.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Sweep {
        #[command(subcommand)]
        action: Option<SweepAction>,
        /// The sweep file (TOML).
        #[arg(required = true)]
        file: Option<PathBuf>,
        /// Output folder (default out/<sweep file stem>); a rerun with the same folder
        /// resumes.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only cells i with i mod N = K ("K/N").
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Worker threads (default: one per core); one cell per worker. Results do not
        /// depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Validate a config without running it; prints what it describes.
    Check {
        /// TOML config to validate: a run, phase, measure or sweep config.
        config: PathBuf,
        /// The kind of config (default: detected from its tables: `[phase]`, `[measure]`,
        /// a sweep's `base`/`[[axis]]`/`metrics`, else a run config).
        #[arg(long, value_enum)]
        kind: Option<commands::check::ConfigKind>,
    },
    /// Phase diagram over a grid of two parameters: Claim 1's prediction and the ODE's
    /// classification at every point (and optionally simulations on a coarser grid);
    /// writes phase.csv/.npy, the grids as .npy, phase.svg/.png and agreement.svg/.png.
    Phase {
        /// TOML phase config (see configs/phase-eta-alpha.toml).
        config: PathBuf,
        #[command(flatten)]
        output: OutArgs,
        /// Worker threads (default: one per core). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Figure 2: snapshots of the scaled rows (v^, w^) of a d = 1 simulation with constant
    /// features, against the Gaussian solution of PDE (12); writes the snapshots (.npy),
    /// moments.csv (moments and distances) and figure2.svg/.png.
    Measure {
        /// TOML measure config (see configs/fig2.toml).
        config: PathBuf,
        #[command(flatten)]
        output: OutArgs,
    },
    /// Effective modes (THEORY §8): the latents' effective second moments M and M~, their
    /// eigenpairs and each mode's solvable interval (learnable, in the interval, too
    /// strong), as a table, modes.csv/.json and spectrum.svg/.png. With --run, also the
    /// simulation and the ODE seen mode by mode (sim_modes.csv, ode_modes.csv,
    /// modes_figure.svg) and their phases by mode.
    Modes {
        /// TOML config with a [model] table (a full run config for --run).
        config: PathBuf,
        #[command(flatten)]
        output: OutArgs,
        /// Also simulate and solve the limiting ODE, and classify both by mode.
        #[arg(long)]
        run: bool,
        /// Seed (with --run; overrides the config's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads (with --run). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Train the linear GAN on a stream of real images (THEORY §8, real data): alignment of
    /// span(V) with the data's top-d principal subspace over time (principal angles,
    /// Grassmann distance) for an informed and an isotropic generator covariance, several
    /// seeds, and the reduced ODE computed from the estimated spectrum beside them, with
    /// optional subspace-tracking baselines on the same streams. Writes alignment.csv,
    /// ode_alignment.csv, methods.csv, spectrum.csv, summary.json, alignment.svg/.png,
    /// methods.svg/.png, spectrum.svg/.png and the learned bases as images (bases/*.png).
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
        /// Generator constraint: "columns" (each column of V normalised on its own, the
        /// paper's model) or "orthonormal" (V kept orthonormal by Gram-Schmidt, THEORY §8).
        #[arg(long, default_value = "columns", value_parser = parse_constraint)]
        constraint: Constraint,
        /// Discriminator features p (the multi-feature model for p > 1; 2 d + p <= n).
        #[arg(long, default_value_t = 1)]
        p: usize,
        /// Subspace-tracking baselines on each seed's image stream, comma-separated: oja,
        /// grouse, past, petrels; or "all", or "none".
        #[arg(long, default_value = "none", value_parser = parse_baselines)]
        baselines: Baselines,
        /// Images held out of training for the reconstruction error (default: a tenth, at
        /// most 1000).
        #[arg(long)]
        holdout: Option<usize>,
        /// Times at which the learned bases are drawn as images (evenly spaced, first and
        /// last included).
        #[arg(long, default_value_t = 5)]
        pictures: usize,
        #[command(flatten)]
        output: OutArgs,
        /// Worker threads (default: one per core). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// The finite-n fluctuations of a run config without simulating (linear-noise
    /// approximation, THEORY section 10): the covariance Sigma(t) of sqrt(n) (M_k - M(k/n))
    /// along the ODE, the band ODE +- 2 sd at size n (figure, ode_sd.csv) and the ODE's
    /// switching time between Figure 1's two learning stages.
    Fluctuations {
        /// TOML run config (default: the embedded Figure 1 success config).
        config: Option<PathBuf>,
        /// The n the band is drawn for (default: the config's model.n).
        #[arg(long)]
        n: Option<usize>,
        #[command(flatten)]
        output: OutArgs,
    },
    /// When the discriminator escapes from a feature it has not learned yet (Figure 1's
    /// second stage), as a function of n, without simulating the n-dimensional chain
    /// (THEORY section 10): escape times of the macroscopic diffusion
    /// dM = F dt + sqrt(D/n) dW at each n, with the large-n saddle law (mean growing like
    /// ln(n) / (2 kappa), constant spread) when the config starts with no overlap with the
    /// feature, or the ODE's own escape time when it starts with one. Writes escape.csv,
    /// escape_times.csv, escape.json and figure.svg/.png.
    Escape {
        /// TOML run config (default: the embedded Figure 1 success config).
        config: Option<PathBuf>,
        /// Sizes, comma-separated (any real >= 1: the cost does not depend on n).
        #[arg(long, value_delimiter = ',', default_values_t = [1e3, 1e4, 1e5, 1e6])]
        n: Vec<f64>,
        /// Diffusion paths per size.
        #[arg(long, default_value_t = 400)]
        paths: usize,
        /// The escaping feature, 1-based (default: the last, model.d).
        #[arg(long)]
        feature: Option<usize>,
        /// The level of |q_feature| that counts as escaped.
        #[arg(long, default_value_t = 0.5)]
        threshold: f64,
        /// The diffusion's time step.
        #[arg(long, default_value_t = 0.01)]
        dt: f64,
        #[command(flatten)]
        output: OutArgs,
        /// Worker threads (default: one per core). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
    },
    /// List the fixed points of the reduced ODE (13) for a config's [model], with their
    /// Jacobian eigenvalues and a stable / marginal / unstable verdict.
    FixedPoints {
        /// Any TOML config with a [model] table (lambda = "inf").
        config: PathBuf,
    },
}

fn parse_constraint(s: &str) -> Result<Constraint, String> {
    match s {
        "columns" => Ok(Constraint::Columns),
        "orthonormal" => Ok(Constraint::Orthonormal),
        _ => Err(format!(
            "unknown constraint `{s}`: expected \"columns\" or \"orthonormal\""
        )),
    }
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

/// `--baselines`: the trackers to run.
#[derive(Clone, Debug)]
struct Baselines(Vec<TrackerKind>);

fn parse_baselines(s: &str) -> Result<Baselines, String> {
    match s {
        "none" => Ok(Baselines(Vec::new())),
        "all" => Ok(Baselines(TrackerKind::ALL.to_vec())),
        list => {
            let mut kinds = Vec::new();
            for name in list.split(',') {
                let k = TrackerKind::parse(name.trim())?;
                if kinds.contains(&k) {
                    return Err(format!("{name:?} is listed twice"));
                }
                kinds.push(k);
            }
            Ok(Baselines(kinds))
        }
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

/// `--engine`: the names of `sim.engine` in a config (the engine registry's).
fn parse_engine(s: &str) -> Result<EngineKind, String> {
    EngineKind::from_name(s)
        .ok_or_else(|| format!("`{s}` is not an engine (one of: {})", EngineKind::names()))
}

/// `--engine`'s long help: every engine of the registry and what it simulates.
fn engine_help() -> String {
    format!(
        "Engine (overrides the config's `sim.engine`):\n{}",
        EngineKind::help()
    )
}

/// Log output on stderr through `tracing`: RUST_LOG when set, else by `-v` / `-q`
/// (warnings by default). Spans (a run, a member, an ODE solve) show from `debug` on.
fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .try_init();
}

/// On SIGINT / SIGTERM: stop, remove this process's staging folders (a checkpoint folder
/// stays), and exit with 128 + the signal number (130, 143).
fn install_signal_handlers() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        print::note("warning: cannot install the SIGINT/SIGTERM handlers");
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            print::CANCEL.store(true, std::sync::atomic::Ordering::SeqCst);
            hdgan_report::output::cleanup_registered();
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            print::note(&format!(
                "interrupted by {name}: stopped; no output folder was written{}",
                print::checkpoint_hint()
            ));
            std::process::exit(128 + sig);
        }
    });
}

fn main() -> ExitCode {
    install_signal_handlers();
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    print::QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    hdgan_experiments::resources::set_max_memory(cli.max_memory);
    let progress = Progress::for_stderr(cli.quiet);
    let code = match dispatch(cli.command, progress) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print::note(&format!("error: {}", print::one_line(&e)));
            ExitCode::from(e.exit_code())
        }
    };
    if let Some(e) = print::stdout_error() {
        print::note(&format!("error: cannot write to standard output: {e}"));
        return ExitCode::from(1);
    }
    code
}

fn dispatch(cmd: Command, progress: Progress) -> Result<()> {
    match cmd {
        Command::Run {
            config,
            output,
            seed,
            threads,
            engine,
            checkpoint_every,
            resume,
        } => {
            let resume = resume
                .map(|d| hdgan_report::checkpoint::CheckpointDir::open(&d))
                .transpose()?;
            commands::run::execute(&RunArgs {
                config,
                output,
                seed,
                threads,
                engine,
                progress,
                checkpoint_every,
                resume,
            })
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
            constraint,
            p,
            baselines,
            holdout,
            pictures,
            output,
            threads,
        } => {
            let mut req = TrainDataRequest::new(dataset, path);
            req.p = p;
            req.baselines = baselines.0;
            req.holdout = holdout;
            req.pictures = pictures;
            req.d = d;
            req.tau = tau;
            req.alpha = alpha;
            req.eta_g = eta_g;
            req.t_end = t_end;
            req.seeds = seeds;
            req.seed = seed;
            req.covariances = covariance.0;
            req.constraint = constraint;
            req.colour = if colour { Colour::Rgb } else { Colour::Grey };
            req.max_images = max_images;
            req.threads = threads;
            commands::train_data::execute(&req, &output, progress)
        }
        Command::Phase {
            config,
            output,
            threads,
        } => commands::phase::execute(&config, &output, threads, progress),
        Command::Measure { config, output } => {
            commands::measure::execute(&config, &output, progress)
        }
        Command::Modes {
            config,
            output,
            run,
            seed,
            threads,
        } => commands::modes::execute(&config, &output, run, seed, threads, progress),
        Command::FixedPoints { config } => commands::phase::fixed_points(&config),
        Command::Fluctuations { config, n, output } => {
            commands::fluctuations::execute(config.as_deref(), n, &output)
        }
        Command::Escape {
            config,
            n,
            paths,
            feature,
            threshold,
            dt,
            output,
            threads,
        } => commands::escape::execute(
            config.as_deref(),
            commands::escape::Flags {
                sizes: n,
                paths,
                feature,
                threshold,
                dt,
            },
            &output,
            threads,
            progress,
        ),
        Command::Check { config, kind } => commands::check::execute(&config, kind),
        Command::Sweep {
            action,
            file,
            out,
            shard,
            threads,
        } => match (action, file) {
            (Some(SweepAction::Merge { dir }), _) => commands::sweep::merge_dir(&dir),
            (Some(SweepAction::Status { dir }), _) => commands::sweep::status_dir(&dir),
            (Some(SweepAction::Submit(args)), _) => commands::sweep::submit(&args),
            (None, Some(file)) => {
                commands::sweep::execute(&file, out, shard.as_deref(), threads, progress)
            }
            (None, None) => unreachable!("clap requires the sweep file"),
        },
    }
}
