//! The n-dimensional simulation of online SGDA (THEORY §2, eq. 5).
//!
//! - [`MicroState`]: `U`, `V` and `w` as n-vectors, built by [`InitState`] to hit prescribed
//!   overlaps `(P0, q0)` with otherwise random directions in O(n d^2).
//! - [`Sgda`]: the training step, finite lambda or projected (lambda = infinity), in two
//!   modes: [`StepMode::Literal`] draws the three samples `y_k`, `y~_2k`, `y~_2k+1` as full
//!   n-vectors exactly as eq. 5 reads; [`StepMode::Fast`] draws the same law from one
//!   n-vector of normals (see [`Sgda`]). Both cost O(n d) per step and never form an n x n
//!   object.
//! - [`MultiSgda`]: the literal step with a p-feature discriminator `W` (THEORY §8),
//!   recording the [`hdgan_core::MultiState`] `(P, Q, R, S, Z)`.
//! - [`GramEngine`]: the exact law of the macroscopic chain at O(m^3) per step, any n
//!   (THEORY §7).
//! - [`run`] / [`run_ensemble`]: the run loop (stop time, recording cadence, progress,
//!   cancellation) shared by every engine; ensembles run in parallel with one random
//!   stream per member derived from `(seed, member)`.
//!
//! **Invariant:** one SGDA step is O(n d); nothing n x n is formed.
//!
//! # Example
//!
//! An ensemble of four Figure 1 runs with the exact Gram engine (the same law as the
//! n-dimensional simulation, at O(d^3) per step), in parallel and independent of the thread
//! count:
//!
//! ```
//! use hdgan_core::MacroState;
//! use hdgan_micro_sim::{GramEngine, RunControl, Schedule, run_ensemble, DEFAULT_BLOWUP};
//! use hdgan_model::ModelConfig;
//!
//! let model = ModelConfig::figure1(2000, 2.0).validate("model")?;
//! let start = MacroState::diagonal_start(2, 0.1, 0.1);
//! let schedule = Schedule::from_times(model.n, 20.0, 5.0)?;
//! let runs = run_ensemble(
//!     4,
//!     7, // seed: member i draws from stream (7, i)
//!     |_, _| Ok(GramEngine::from_macro(&model, &start, DEFAULT_BLOWUP)),
//!     &schedule,
//!     RunControl::default(),
//! )?;
//! assert_eq!(runs.len(), 4);
//! assert_eq!(runs[0].times, vec![0.0, 5.0, 10.0, 15.0, 20.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
mod gram;
mod gram_lanes;
mod init;
mod multi;

mod normal;
mod pass;

mod run;
mod sgda;

pub use config::{EngineKind, Features, InitConfig, SimConfig, SimSettings, StepMode};
pub use error::SimError;
pub use gram::{GramEngine, GramVariant};
pub use gram_lanes::{GramLanes, LANES};
pub use init::{InitState, MicroState};
pub use multi::{MultiSgda, RealSamples};
pub use normal::{fill_normals, normal};
pub use pass::{CHUNK, LaneRng, PassRng, SPLIT_N};
pub use run::{
    Checkpoint, Engine, Member, RunControl, Schedule, advance, full_ensemble, gram_ensemble, run,
    run_ensemble, run_gram_ensemble,
};
pub use sgda::Sgda;

/// The default divergence bound of every engine: a squared norm (`z`, `S_jj`, a column
/// norm of W) above it, or a NaN, stops a run with [`SimError::Diverged`] naming the time
/// and the quantity. `sim.blowup` in a config overrides it.
pub const DEFAULT_BLOWUP: f64 = 1e8;

use hdgan_core::MacroState;
use hdgan_model::random::SimRng;

/// Either engine, for code that picks one at run time.
#[derive(Clone, Debug)]
pub enum AnyEngine {
    /// The n-dimensional simulation.
    Full(Box<Sgda>),
    /// The Gram engine.
    Gram(Box<GramEngine>),
}

impl AnyEngine {
    /// Builds the engine `kind` for `model` from a fresh initial state drawn from `rng`
    /// (the Gram engine starts from that state's exact Gram matrix, so both engines start
    /// from the same law). Refuses, naming the key, a model the engine does not simulate
    /// (see [`SimConfig::settings`]).
    pub fn build(
        kind: EngineKind,
        model: &hdgan_model::Model,
        init: &InitState,
        mode: StepMode,
        blowup: f64,
        rng: &mut SimRng,
    ) -> Result<Self, SimError> {
        Ok(match kind {
            EngineKind::Full => AnyEngine::Full(Box::new(Sgda::new(
                model,
                init.build(model.n, rng),
                mode,
                blowup,
            )?)),
            EngineKind::Gram => {
                if model.l1 > 0.0 || model.p > 1 {
                    return Err(hdgan_core::ParamError::rule(
                        "sim.engine",
                        "must be \"full\" when model.l1 > 0 or model.p > 1 (the Gram engine has one discriminator column and no elementwise penalty)",
                    )
                    .into());
                }
                let g = if init.row_cov.is_some() {
                    GramEngine::from_micro(model, &init.build(model.n, rng), blowup)
                } else {
                    GramEngine::from_macro(model, &init.macro_state(), blowup)
                };
                AnyEngine::Gram(Box::new(g))
            }
        })
    }
}

/// Calls the same method on whichever engine an [`AnyEngine`] holds.
macro_rules! each_engine {
    ($self:expr, $e:ident => $body:expr) => {
        match $self {
            AnyEngine::Full($e) => $body,
            AnyEngine::Gram($e) => $body,
        }
    };
}

impl Engine for AnyEngine {
    type State = MacroState;

    fn n(&self) -> usize {
        each_engine!(self, e => e.n())
    }
    fn steps_done(&self) -> u64 {
        each_engine!(self, e => e.steps_done())
    }
    fn step(&mut self, rng: &mut SimRng) -> Result<(), SimError> {
        each_engine!(self, e => e.step(rng))
    }
    fn macro_state(&self) -> MacroState {
        each_engine!(self, e => e.macro_state())
    }
}

impl Checkpoint for AnyEngine {
    fn save_state(&self) -> Vec<u8> {
        let (tag, inner) = match self {
            AnyEngine::Full(e) => (0u8, e.save_state()),
            AnyEngine::Gram(e) => (1u8, e.save_state()),
        };
        run::encode(&(tag, inner))
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        let (tag, inner): (u8, Vec<u8>) = run::decode(bytes)?;
        match (self, tag) {
            (AnyEngine::Full(e), 0) => e.restore_state(&inner),
            (AnyEngine::Gram(e), 1) => e.restore_state(&inner),
            _ => Err(SimError::BadCheckpoint {
                reason: "the checkpoint was made with another engine (sim.engine)".into(),
            }),
        }
    }
}
