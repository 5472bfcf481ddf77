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
//! let schedule = Schedule::from_times(model.n(), 20.0, 5.0)?;
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

mod checkpoint;
mod config;
mod ensembles;
mod error;
mod gram;
mod gram_lanes;
mod init;
mod multi;

mod normal;
mod pass;
mod registry;

mod run;
mod sgda;

pub use checkpoint::Checkpoint;
pub use config::{InitConfig, SimConfig, SimSettings};
pub use ensembles::{full_ensemble, gram_ensemble};
pub use error::SimError;
pub use gram::{GramEngine, GramVariant};
pub use gram_lanes::{GramLanes, LANES};
pub use init::{Features, InitState, MicroState};
pub use multi::{MultiSgda, RealSamples};
pub use normal::{fill_normals, normal};
pub use pass::{CHUNK, LaneRng, PassRng, SPLIT_N};
pub use registry::{
    EngineDecl, EngineKind, FeatureCount, LossSupport, Reasons, Records, Request, StepMode, resolve,
};
pub use run::{
    Engine, Member, RunControl, Schedule, advance, advance_all, build_members, run, run_ensemble,
    step_each,
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
    /// Builds the engine that runs `model` under `sim.engine = kind` (the registry's
    /// [`resolve`]) from a fresh initial state drawn from `rng` (the Gram engine starts
    /// from that state's exact Gram matrix, so both engines start from the same law).
    /// Refuses, naming the key, a model no engine simulates, and a model whose engine
    /// records p-feature overlaps (build [`MultiSgda`] for those).
    pub fn build(
        kind: EngineKind,
        model: &hdgan_model::Model,
        init: &InitState,
        mode: StepMode,
        blowup: f64,
        rng: &mut SimRng,
    ) -> Result<Self, SimError> {
        Ok(
            match resolve(kind, &Request::new(model, init, mode), "sim")? {
                EngineKind::Full => AnyEngine::Full(Box::new(Sgda::new(
                    model,
                    init.build(model.n(), rng),
                    mode,
                    blowup,
                )?)),
                EngineKind::Gram => {
                    let g = if init.row_cov.is_some() {
                        GramEngine::from_micro(model, &init.build(model.n(), rng), blowup)
                    } else {
                        GramEngine::from_macro(model, &init.macro_state(), blowup)
                    };
                    AnyEngine::Gram(Box::new(g))
                }
                EngineKind::Multi => {
                    return Err(hdgan_core::ParamError::rule(
                    "sim.engine",
                    format!(
                        "\"{}\" runs on the multi-feature engine, which records the p-feature overlaps (P, Q, R, S, Z): build it with MultiSgda::new",
                        kind.name()
                    ),
                )
                .into());
                }
            },
        )
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
    fn lanes(&self) -> usize {
        each_engine!(self, e => e.lanes())
    }
    fn step_together(
        engines: &mut [&mut Self],
        rngs: &mut [&mut SimRng],
        steps: u64,
    ) -> Result<(), SimError> {
        // Members built from one config hold the same engine: step them as that engine
        // steps a group.
        let gram: Option<Vec<&mut GramEngine>> = engines
            .iter_mut()
            .map(|e| match &mut **e {
                AnyEngine::Gram(g) => Some(&mut **g),
                AnyEngine::Full(_) => None,
            })
            .collect();
        match gram {
            Some(mut g) => GramEngine::step_together(&mut g, rngs, steps),
            None => run::step_each(engines, rngs, steps),
        }
    }
}

impl Checkpoint for AnyEngine {
    fn save_state(&self) -> Vec<u8> {
        let (kind, inner) = match self {
            AnyEngine::Full(e) => (EngineKind::Full, e.save_state()),
            AnyEngine::Gram(e) => (EngineKind::Gram, e.save_state()),
        };
        let tag = kind.decl().checkpoint_tag;
        checkpoint::encode(&(tag, inner))
    }

    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        let (tag, inner): (u8, Vec<u8>) = checkpoint::decode(bytes)?;
        let saved = EngineKind::from_checkpoint_tag(tag);
        match self {
            AnyEngine::Full(e) if saved == Some(EngineKind::Full) => e.restore_state(&inner),
            AnyEngine::Gram(e) if saved == Some(EngineKind::Gram) => e.restore_state(&inner),
            AnyEngine::Full(_) | AnyEngine::Gram(_) => Err(SimError::BadCheckpoint {
                reason: "the checkpoint was made with another engine (sim.engine)".into(),
            }),
        }
    }
}
