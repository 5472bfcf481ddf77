//! Saving and restoring an engine's whole state, for checkpoints, and the byte codec the
//! engines use for it.

use crate::{Engine, SimError};

/// Engines whose whole state can be saved and restored bit for bit, for checkpoints: a
/// run restored from [`Checkpoint::save_state`] continues exactly as the uninterrupted
/// run would (same random draws, same rounding).
pub trait Checkpoint: Engine {
    /// Everything a step reads besides the model (vectors or Gram factor, scales, deferred
    /// updates, lane generators, scratch, step count), as bytes.
    fn save_state(&self) -> Vec<u8>;
    /// Restores a state saved by [`Checkpoint::save_state`] into an engine built for the
    /// same model and settings; refuses states of other shapes.
    fn restore_state(&mut self, bytes: &[u8]) -> Result<(), SimError>;
}

/// Serialises plain data (postcard: compact, exact for floats, infinities included).
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).expect("serialising in-memory numbers cannot fail")
}

/// Inverse of [`encode`]; corrupt bytes are a [`SimError::BadCheckpoint`].
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, SimError> {
    postcard::from_bytes(bytes).map_err(|e| SimError::BadCheckpoint {
        reason: format!("corrupt engine state ({e})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_in_pieces_records_what_one_run_records() {
        use crate::{
            AnyEngine, EngineKind, InitConfig, Member, RunControl, Schedule, StepMode, advance, run,
        };
        use hdgan_core::Trajectory;
        use hdgan_model::random::{SimRng, stream_rng};
        let model = hdgan_model::ModelConfig::figure1(300, 2.0)
            .validate("model")
            .unwrap();
        let init = InitConfig::diagonal(2, 0.1, 0.1)
            .validate("init", &model)
            .unwrap();
        let schedule = Schedule::from_times(300, 2.0, 0.3).unwrap();
        for kind in [EngineKind::Full, EngineKind::Gram] {
            for mode in [StepMode::Fast, StepMode::Literal] {
                let build = |rng: &mut SimRng| {
                    AnyEngine::build(kind, &model, &init, mode, crate::DEFAULT_BLOWUP, rng).unwrap()
                };
                let mut rng = stream_rng(3, 0);
                let mut e = build(&mut rng);
                let whole = run(&mut e, &mut rng, &schedule, RunControl::default()).unwrap();
                let mut rng = stream_rng(3, 0);
                let mut m = Member {
                    engine: build(&mut rng),
                    rng,
                    trajectory: Trajectory::new(),
                };
                for until in [0, 1, 77, 90, 300, 301, 599, 10_000] {
                    advance(&mut m, &schedule, until, RunControl::default()).unwrap();
                    // Save and restore through bytes on the way.
                    let bytes = Checkpoint::save_state(&m.engine);
                    let mut rng2 = stream_rng(99, 9);
                    let mut fresh = build(&mut rng2);
                    Checkpoint::restore_state(&mut fresh, &bytes).unwrap();
                    m.engine = fresh;
                }
                assert_eq!(m.trajectory, whole, "{kind:?} {mode:?}");
            }
        }
    }
}
