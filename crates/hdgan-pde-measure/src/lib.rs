//! The microscopic description (THEORY §5): the empirical measure of the scaled rows
//! `(u^, v^, w^) = sqrt(n) ([U]_i, [V]_i, [w]_i)`, and three solvers of the SDE (10) /
//! PDE (12) that its limit obeys, all driven by the macroscopic coefficients
//! `(g, g~, h, L, b)` along the ODE solution:
//!
//! 1. [`gaussian`]: the closed form for Gaussian initial measures (mean and covariance
//!    ODE of the linear SDE);
//! 2. [`particles`]: an SDE particle solver (exponential integrator for the linear SDE; an
//!    interacting, mean-field version for regularisers under which the ODE does not close);
//! 3. [`grid`]: a conservative, positivity-preserving finite-volume solver of the
//!    Fokker-Planck equation for the 2-D density of `(v^, w^)` given `u^` (d = 1).
//!
//! [`distance`] holds the distances between measures (moments, 1-D Wasserstein and
//! Kolmogorov-Smirnov on marginals, sliced Wasserstein in 2-D).
//!
//! Conventions: d = 1 for the solvers; the conditional law given `u^ = u` is what they
//! evolve (Figure 2 has `u^ = 1` for every row).

pub mod coefficients;
pub mod distance;
pub mod gaussian;
pub mod grid;
pub mod measure;
pub mod particles;

pub use coefficients::{CoefficientPath, SdeCoefficients, sde_coefficients};
pub use gaussian::{Gaussian2, gaussian_path};
pub use measure::{EmpiricalMeasure, Row};
