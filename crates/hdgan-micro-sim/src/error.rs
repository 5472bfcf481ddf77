use hdgan_core::ParamError;
use thiserror::Error;

/// Failures of a simulation.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    /// A setting of the initial state or the schedule broke a rule.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// The weights left every reasonable range (NaN, infinity, or a squared norm above the
    /// blow-up bound): the run stops here.
    #[error("simulation diverged at t = {t:.6} (step {step}): {quantity} = {value:e}")]
    Diverged {
        /// Time `k / n` of the step.
        t: f64,
        /// Step index k.
        step: u64,
        /// What blew up (`z = w^T w`, `S_jj`, ...).
        quantity: String,
        /// Its value.
        value: f64,
    },
    /// A checkpoint could not be restored (corrupt, or made for another model, engine or
    /// hdgan version).
    #[error("checkpoint cannot be restored: {reason}")]
    BadCheckpoint {
        /// Why.
        reason: String,
    },
    /// The run was cancelled through [`crate::RunControl::cancel`].
    #[error("cancelled at t = {t:.6}")]
    Cancelled {
        /// Time reached.
        t: f64,
    },
}
