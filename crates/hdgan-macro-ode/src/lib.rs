//! The limiting ODEs of the macroscopic state (THEORY §4): the general ODE (8)-(9) for
//! finite lambda, with `h` in its corrected form, and the reduced ODE (13)-(14) for
//! lambda = infinity; adaptive Dormand-Prince integration (ode_solvers) with output at
//! given times, and divergence reported as an error naming the time and the quantity.

mod multi;
mod rhs;
mod solve;

pub use hdgan_model::HForm;
pub use multi::{MultiForm, multi_rhs, solve_multi};
pub use rhs::{ReducedParams, general_rhs, reduced_h, reduced_rhs};
pub use solve::{OdeError, OdeKind, OdeOptions, integrate, solve, solve_packed};
