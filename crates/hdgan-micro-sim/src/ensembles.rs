//! The ensembles the statistical checks compare: every member of one engine from one
//! start, through the run loop.

use crate::{RunControl, Schedule, SimError, run_ensemble};
use hdgan_core::Trajectory;

/// `members` runs of the full engine with step `mode` from `init` (fresh random rows per
/// member, stream `(seed, i)`), recorded per `schedule`: the ensemble the statistical
/// checks compare.
pub fn full_ensemble(
    model: &hdgan_model::Model,
    init: &crate::InitState,
    mode: crate::StepMode,
    members: usize,
    seed: u64,
    schedule: &Schedule,
) -> Result<Vec<Trajectory>, SimError> {
    run_ensemble(
        members,
        seed,
        |_, rng| {
            crate::Sgda::new(
                model,
                init.build(model.n(), rng),
                mode,
                crate::DEFAULT_BLOWUP,
            )
        },
        schedule,
        RunControl::default(),
    )
}

/// `members` runs of the Gram engine (`variant`: the exact one, or a deliberately wrong
/// control) from the overlaps `start`, recorded per `schedule` (four members at a time in
/// SIMD lanes).
pub fn gram_ensemble(
    model: &hdgan_model::Model,
    start: &hdgan_core::MacroState,
    variant: crate::GramVariant,
    members: usize,
    seed: u64,
    schedule: &Schedule,
) -> Result<Vec<Trajectory>, SimError> {
    run_ensemble(
        members,
        seed,
        |_, _| {
            Ok(
                crate::GramEngine::from_macro(model, start, crate::DEFAULT_BLOWUP)
                    .with_variant(variant),
            )
        },
        schedule,
        RunControl::default(),
    )
}
