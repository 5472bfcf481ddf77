//! The hdgan problem (THEORY §1): dimensions, learning rates, noise variances, lambda, the
//! latent distributions of `c` and `c~`, the discriminator loss family and the regulariser
//! `H`, validated once into a [`Model`] that the engines accept.
//!
//! Also the random streams every engine draws from ([`random`]): each one comes from an
//! explicit seed and, for ensembles, from `(seed, member)`.
//!
//! # Example
//!
//! Figure 1's problem, validated once; what the quadratic discriminator sees of the latent
//! law is its second moment:
//!
//! ```
//! use hdgan_model::ModelConfig;
//! use hdgan_model::random::stream_rng;
//!
//! let model = ModelConfig::figure1(5000, 2.0).validate("model")?;
//! let lam = model.latent().second_moment().matrix().diag();
//! assert_eq!(lam, vec![5.0, 3.0]);
//! // Ensemble member 3 of a run with seed 1 always draws the same numbers.
//! let (mut a, mut b) = (stream_rng(1, 3), stream_rng(1, 3));
//! assert_eq!(a.normal().to_bits(), b.normal().to_bits());
//! # Ok::<(), hdgan_core::ParamError>(())
//! ```

mod config;
mod latent;
mod loss;
mod model;
mod quadrature;
pub mod random;
mod regularizer;
mod score_table;
mod zig_tables;

pub use config::{
    ClassConfig, FromData, LambdaValue, LatentConfig, LossConfig, LossName, LossTable,
    MAX_STEP_SCALE, ModelConfig,
};
pub use latent::Latent;
pub use loss::{
    ByQuadrature, DiscriminatorLoss, LogisticLinear, LogisticQuadratic, Loss, LossMoments,
    MomentDerivatives, MomentPoint, Quadratic, moments_with_quadrature,
    quadrature_moment_derivatives, quadrature_moments, tabulated_moments,
};
pub use model::{Constraint, HForm, Model, OdeCoefficients};
pub use quadrature::{QUADRATURE, Quadrature, gaussian_average};
pub use regularizer::{LogCosh, Regularizer};
