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
