//! Stability and phases of the training dynamics (THEORY §6): Claim 1's condition (15) and
//! critical overlaps `p*_l`; the analytic Jacobian of the reduced ODE and its fixed points
//! with their spectra; the one rule that classifies a trajectory (from the ODE or from a
//! simulation) as success, failure, oscillation or mode collapse; phase diagrams. The
//! finite-size theory (THEORY §10): the linear-noise covariance along the ODE (`lna`) and
//! the noise-driven escape from a saddle (`escape`).
//!
//! # Example
//!
//! Claim 1 on Figure 1's three panels (noise variance 2, 1, 4: success, oscillation, mode
//! collapse):
//!
//! ```
//! use hdgan_model::ModelConfig;
//! use hdgan_stability::{Phase, claim1};
//!
//! let predict = |eta: f64| {
//!     let m = ModelConfig::figure1(5000, eta).validate("model").unwrap();
//!     claim1(&m).unwrap().predicted
//! };
//! assert_eq!(predict(2.0), Phase::Success);
//! assert_eq!(predict(1.0), Phase::Oscillation);
//! assert!(matches!(predict(4.0), Phase::ModeCollapse { .. }));
//! ```

mod claim1;
mod escape;
mod fixed_points;
mod jacobian;
mod lna;
mod modes;
mod phase;
mod phase_map;

pub use claim1::{Claim1, ModeStatus, claim1};
pub use escape::{
    DiffusionEscape, DiffusionOptions, ESCAPE_THRESHOLD, EscapeError, EscapeStats, SADDLE_HORIZON,
    SaddleLaw, diffusion_escape_times, escape_time, saddle_law,
};
pub use fixed_points::{
    FixedPoint, FixedPointKind, Stability, analyse, critical_overlap, eigenvalues, fixed_points_d1,
    fixed_points_d1_closed_form, fixed_points_d1_search, resting_point, stability_of,
};
pub use jacobian::{
    ReducedCoords, reduced_jacobian, reduced_jacobian_with, reduced_rhs_coords,
    reduced_rhs_coords_with,
};
pub use lna::{
    Fluctuations, LNA_OPTIONS, LnaError, NoiseForm, check_supported, fluctuations,
    fluctuations_with, noise_covariance, noise_covariance_with, switch_time,
};
pub use modes::{EffectiveModes, Mode, effective_modes, in_mode_basis};
pub use phase::{Phase, PhaseRule, PhaseSummary, classify};
pub use phase_map::{
    GridAxis, GridParam, PhaseCell, PhaseMap, PhaseMapSpec, check_grid, claim1_boundaries,
    claim1_interior, classification_times, classify_ode, classify_ode_viewed, horizon, model_at,
    phase_map,
};
