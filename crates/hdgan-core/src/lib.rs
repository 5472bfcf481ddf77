//! Core types of hdgan: the macroscopic state `M = [U, V, w]^T [U, V, w]` of the paper
//! (Definitions 1-2), trajectories of it, small dense matrices, validated parameter types
//! and their errors.
//!
//! **Invariant:** this crate does no I/O and draws no random numbers.
//!
//! # Example
//!
//! A macroscopic state, its cosines and its flat packing (the order of the CSV columns):
//!
//! ```
//! use hdgan_core::MacroState;
//!
//! // P = 0.1 I, q = 0.1, r = 0, S = I, z = 1: Figure 1's start.
//! let s = MacroState::diagonal_start(2, 0.1, 0.1);
//! assert!((s.p_cosine(0, 0) - 0.1).abs() < 1e-15);
//! assert_eq!(MacroState::column_names(2)[0], "P11");
//! let packed = s.pack();
//! assert_eq!(packed.len(), MacroState::packed_len(2));
//! assert_eq!(MacroState::unpack(2, &packed), s);
//! ```

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
    check_relative_tolerance,
};
pub use state::MacroState;
pub use subspace::{grassmann_distance, principal_cosines, principal_cosines_ranked};
pub use trajectory::{PackedState, Trajectory};
