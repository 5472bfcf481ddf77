//! The hdgan problem (THEORY §1): dimensions, learning rates, noise variances, lambda, the
//! latent distributions of `c` and `c~`, the discriminator loss family and the regulariser
//! `H`, validated once into a [`Model`] that the engines accept.
//!
//! Also the random streams every engine draws from ([`random`]): each one comes from an
//! explicit seed and, for ensembles, from `(seed, member)`.

mod config;
mod latent;
mod loss;
mod model;
pub mod random;
mod regularizer;
mod zig_tables;

pub use config::{ClassConfig, FromData, LambdaValue, LatentConfig, LossName, ModelConfig};
pub use latent::Latent;
pub use loss::{DiscriminatorLoss, Loss, LossMoments, Quadratic};
pub use model::{HForm, Model, OdeCoefficients};
pub use regularizer::{LogCosh, Regularizer};
