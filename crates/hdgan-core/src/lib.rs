//! Core types of hdgan: the macroscopic state `M = [U, V, w]^T [U, V, w]` of the paper
//! (Definitions 1-2), trajectories of it, small dense matrices, validated parameter types
//! and their errors.
//!
//! **Invariant:** this crate does no I/O and draws no random numbers.

mod error;
mod matrix;
mod multi_state;
mod params;
mod state;
mod subspace;

pub mod stats;
mod trajectory;

pub use error::ParamError;
pub use matrix::DMat;
pub use multi_state::MultiState;
pub use params::{
    Lambda, SymPsd, check_finite, check_finite_slice, check_non_negative, check_positive,
};
pub use state::MacroState;
pub use subspace::{grassmann_distance, principal_cosines};
pub use trajectory::{PackedState, Trajectory};
