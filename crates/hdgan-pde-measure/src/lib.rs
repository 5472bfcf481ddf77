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
//!
//! # Example
//!
//! Distances between a sample and a Gaussian, the building blocks of the Figure 2 checks:
//!
//! ```
//! use hdgan_pde_measure::distance::{ks_gaussian, normal_quantile, w1_gaussian};
//!
//! // 1000 exact midpoint quantiles of N(2, 9): W1 and KS at their floor.
//! let x: Vec<f64> = (0..1000)
//!     .map(|i| 2.0 + 3.0 * normal_quantile((i as f64 + 0.5) / 1000.0))
//!     .collect();
//! assert!(w1_gaussian(&x, 2.0, 3.0) < 1e-9);
//! assert!(ks_gaussian(&x, 2.0, 3.0) <= 0.5 / 1000.0 + 1e-12);
//! assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
//! ```

pub mod coefficients;
pub mod distance;
pub mod gaussian;
pub mod grid;
pub mod measure;
pub mod particles;

pub use coefficients::{CoefficientPath, SdeCoefficients, sde_coefficients};
pub use gaussian::{Gaussian2, gaussian_path};
pub use measure::{EmpiricalMeasure, Row};
