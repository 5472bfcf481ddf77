//! Stability and phases of the training dynamics (SPEC §6): Claim 1's condition (15) and
//! critical overlaps `p*_l`, and the one rule that classifies a trajectory (from the ODE
//! or from a simulation) as success, failure, oscillation or mode collapse.

mod claim1;
mod phase;

pub use claim1::{Claim1, ModeStatus, claim1};
pub use phase::{Phase, PhaseRule, PhaseSummary, classify};
