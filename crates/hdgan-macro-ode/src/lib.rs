//! The limiting ODEs of the macroscopic state (THEORY §4): the general ODE (8)-(9) for
//! finite lambda, with `h` in its corrected form, and the reduced ODE (13)-(14) for
//! lambda = infinity; adaptive Dormand-Prince integration (ode_solvers) with output at
//! given times, and divergence reported as an error naming the time and the quantity.
//!
//! # Example
//!
//! Figure 1's limiting ODE: the reduced ODE (lambda = inf) from `P = 0.1 I`, `q = 0.1`; the
//! generator ends near the corner `P = diag(p*)` of Claim 1's box:
//!
//! ```
//! use hdgan_core::MacroState;
//! use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
//! use hdgan_model::ModelConfig;
//!
//! let model = ModelConfig::figure1(5000, 2.0).validate("model")?;
//! let times: Vec<f64> = (0..=200).map(f64::from).collect();
//! let path = solve(
//!     &model,
//!     OdeKind::Reduced,
//!     &MacroState::diagonal_start(2, 0.1, 0.1),
//!     &times,
//!     &OdeOptions::default(),
//! )?;
//! let end = path.last().unwrap();
//! // p* = 0.898 and 0.884 for this model (see hdgan-stability).
//! assert!(end.p_cosine(0, 0) > 0.85 && end.p_cosine(1, 1) > 0.8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod multi;
mod rhs;
mod solve;

pub use batch::{BatchMap, UpdateOrder, general_rhs_batch, reduced_rhs_batch};
pub use hdgan_model::HForm;
pub use multi::{MultiForm, multi_rhs, solve_multi};
pub use rhs::{
    ReducedParams, general_rhs, general_rhs_with, reduced_coefficients, reduced_h, reduced_rhs,
    reduced_rhs_general, reduced_rhs_with,
};
pub use solve::{OdeError, OdeKind, OdeOptions, integrate, packed_rhs, solve, solve_packed};
