//! hdgan's experiments as a library: every request the `hdgan` command line serves, as
//! validated types and pipelines that return typed results. Configs are read and checked
//! here (with errors naming the key and the rule), resources are estimated before any
//! work, and the science runs on the engines of `hdgan-micro-sim`, the ODEs of
//! `hdgan-macro-ode`, `hdgan-stability` and `hdgan-pde-measure`. Nothing here writes a
//! file, prints or draws: `hdgan-report` writes outputs and figures, `hdgan-cli` is the
//! command line.
//!
//! | module | experiment |
//! |---|---|
//! | [`run`] | a simulation ensemble and the limiting ODE (Figure 1, any config) |
//! | [`phase`] | the phase map over two parameters, Claim 1 against the ODE; fixed points |
//! | [`measure`] | snapshots of the weights' rows against the Gaussian PDE solution (Figure 2) |
//! | [`modes`] | the effective second moments' modes and solvable intervals |
//! | [`fluctuations`] | the linear-noise covariance and band along the ODE |
//! | [`escape`] | the noise-driven escape time from a saddle as a function of n |
//! | [`train_data`] | training on MNIST, Fashion-MNIST, CIFAR-10 |
//! | [`reference`](mod@reference) | the reference problems tests, benchmarks and validation share |
//!
//! # Example
//!
//! Figure 1's successful run at a small size, the simulation against its ODE:
//!
//! ```
//! use hdgan_experiments::run::{ConfigSource, RunSource, prepare, run_phases, simulate};
//! use hdgan_experiments::{Control, reference};
//!
//! let text = reference::figure1_config(400, 10.0);
//! let valid = prepare(&RunSource {
//!     config: ConfigSource::Text { name: "fig1".into(), origin: "example".into(), text },
//!     ..RunSource::default()
//! })?;
//! let run = simulate(&valid, Some(1), Control::default())?;
//! let (sim, ode) = (run.sim[0].last().unwrap(), run.ode.as_ref().unwrap().last().unwrap());
//! // The simulation follows the ODE to O(1/sqrt n).
//! assert!((sim.p_cosine(0, 0) - ode.p_cosine(0, 0)).abs() < 0.2);
//! let (_sim_phase, _ode_phase) = run_phases(&valid, &run);
//! # Ok::<(), hdgan_experiments::Error>(())
//! ```

pub mod config;
pub mod error;
pub mod escape;
pub mod fluctuations;
pub mod fuzzing;
pub mod measure;
pub mod modes;
pub mod phase;
pub mod reference;
pub mod resources;
pub mod run;
pub mod sweep;
pub mod train_data;

use std::sync::atomic::AtomicBool;

pub use config::ValidRun;
pub use error::{Error, ErrorKind, Key, Result};

/// Runs `work` on a pool of `threads` workers (`None`: rayon's global pool, one worker per
/// core). Results of hdgan's parallel code do not depend on the count.
pub fn with_threads<R: Send>(threads: Option<usize>, work: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(match threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()?
            .install(work),
        None => work(),
    })
}

/// What a pipeline reports while it works (see [`Control`]).
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A stage begins: `total` units of `unit` (steps, grid points, snapshots, runs).
    Begin {
        /// What is being done.
        what: &'a str,
        /// How many units it takes.
        total: u64,
        /// The unit.
        unit: &'a str,
    },
    /// `k` more units are done (from any worker thread).
    Advance(u64),
    /// The stage begun last is over.
    End,
    /// A remark worth a line (a rounding, an estimate).
    Note(&'a str),
}

/// How a caller follows and stops a pipeline: a progress callback (called from any worker
/// thread) and a cancellation flag checked at every record.
#[derive(Clone, Copy, Default)]
pub struct Control<'a> {
    /// Receives [`Event`]s.
    pub progress: Option<&'a (dyn Fn(Event<'_>) + Sync)>,
    /// When set, run loops stop at their next record with an error.
    pub cancel: Option<&'a AtomicBool>,
}

impl Control<'_> {
    /// Reports the start of a stage.
    pub fn begin(&self, what: &str, total: u64, unit: &str) {
        if let Some(p) = self.progress {
            p(Event::Begin { what, total, unit });
        }
    }
    /// Reports `k` more units done.
    pub fn advance(&self, k: u64) {
        if let Some(p) = self.progress {
            p(Event::Advance(k));
        }
    }
    /// Reports the end of the current stage.
    pub fn end(&self) {
        if let Some(p) = self.progress {
            p(Event::End);
        }
    }
    /// Reports a remark.
    pub fn note(&self, text: &str) {
        if let Some(p) = self.progress {
            p(Event::Note(text));
        }
    }
    /// Whether the caller asked to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}
