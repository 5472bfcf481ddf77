//! The n-dimensional simulation of online SGDA (SPEC §2, eq. 5).
//!
//! - [`MicroState`]: `U`, `V` and `w` as n-vectors, built by [`InitState`] to hit prescribed
//!   overlaps `(P0, q0)` with otherwise random directions in O(n d^2).
//! - [`Sgda`]: the training step, finite lambda or projected (lambda = infinity), in two
//!   modes: [`StepMode::Literal`] draws the three samples `y_k`, `y~_2k`, `y~_2k+1` as full
//!   n-vectors exactly as eq. 5 reads; [`StepMode::Fast`] draws the same law from one
//!   n-vector of normals (see [`Sgda`]). Both cost O(n d) per step and never form an n x n
//!   object.
//! - [`run`] / [`run_ensemble`]: the run loop (stop time, recording cadence, progress,
//!   cancellation) shared by every engine; ensembles run in parallel with one random
//!   stream per member derived from `(seed, member)`.
//!
//! **Invariant:** one SGDA step is O(n d); nothing n x n is formed.

mod config;
mod error;
mod init;
mod normal;
mod run;
mod sgda;

pub use config::{Features, InitConfig, SimConfig, StepMode};
pub use error::SimError;
pub use init::{InitState, MicroState};
pub use normal::{fill_normals, normal};
pub use run::{Engine, RunControl, Schedule, run, run_ensemble};
pub use sgda::Sgda;
