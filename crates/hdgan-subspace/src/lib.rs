//! Streaming subspace trackers: the classical baselines a GAN that learns a principal
//! subspace is measured against (docs/THEORY.md, "Subspace-tracking baselines"). Each sees the same stream of samples
//! `x_t in R^n`, one at a time, and keeps an n x d basis whose span estimates the top-d
//! principal subspace:
//!
//! - [`Oja`]: Oja's subspace rule (Oja 1982; Oja & Karhunen 1985), `V <- orth(V + eta x x^T V)`;
//! - [`Grouse`]: GROUSE (Balzano, Nowak & Recht 2010), a geodesic step on the Grassmannian;
//! - [`Past`]: PAST (Yang 1995), recursive least squares on the projection approximation;
//! - [`Petrels`]: PETRELS (Chi, Eldar & Calderbank 2013) with every entry observed,
//!   recursive least squares on the least-squares coefficients.
//!
//! All bases are column-major `n x d` (column j is `basis()[j * n..(j + 1) * n]`). A step
//! allocates nothing and costs O(n d + d^2): Oja's orthonormalisation of a rank-one update
//! is rank-one itself, and PETRELS' least-squares Gram matrix gets a rank-one Cholesky
//! update; both are redone from scratch (O(n d^2)) once every n steps against round-off. [`alignment`] gives the principal cosines
//! and Grassmann distance to a reference, [`reconstruction_error`] the relative error of
//! held-out samples projected on the span. The step sizes are documented on each
//! tracker's options.
//!
//! # Example
//!
//! A planted 2-dimensional subspace in R^60, recovered by PAST:
//!
//! ```
//! use hdgan_subspace::{Past, PlantedStream, Tracker, alignment};
//! use hdgan_model::random::stream_rng;
//!
//! let mut rng = stream_rng(1, 0);
//! let mut stream = PlantedStream::new(60, &[8.0, 5.0], 1.0, &mut rng);
//! let mut past = Past::new(&stream.random_basis(2, &mut rng), 60, 2, Default::default());
//! let mut x = vec![0.0; 60];
//! for _ in 0..6000 {
//!     stream.sample(&mut rng, &mut x);
//!     past.update(&x);
//! }
//! let (cosines, distance) = alignment(stream.basis(), past.basis(), 60, 2).unwrap();
//! assert!(distance < 0.3 && cosines[1] > 0.95);
//! ```

mod metrics;
mod planted;
mod trackers;

pub use metrics::{alignment, orthonormalize, reconstruction_error};
pub use planted::PlantedStream;
pub use trackers::{
    Grouse, GrouseOptions, Oja, OjaOptions, Past, PastOptions, Petrels, PetrelsOptions, Tracker,
    TrackerKind,
};
