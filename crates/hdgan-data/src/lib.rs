//! Real-image data for hdgan (THEORY §8, real data): readers for IDX files (MNIST,
//! Fashion-MNIST; raw or gzip) and CIFAR-10 binary batches (colour 3072 or greyscale 1024),
//! the preparation that makes images look like the model's samples (centred, scaled so
//! the covariance's noise bulk has unit variance; top-d principal subspace as the
//! reference; estimated effective spectrum), and a shuffled image stream that feeds the
//! multi-feature engine ([`hdgan_micro_sim::MultiSgda::with_real_data`]).
//!
//! **Invariant:** malformed files (wrong magic, truncated, wrong sizes) give a
//! [`DataError`] naming the file and the problem, never a panic.
//!
//! # Example
//!
//! Reading an IDX image file (here a two-image file made in memory):
//!
//! ```
//! use hdgan_data::parse_idx;
//! use std::path::Path;
//!
//! // IDX: magic (0, 0, type 0x08 = u8, 3 dimensions), the dimensions, then the bytes.
//! let mut bytes = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2];
//! bytes.extend([0u8, 255, 255, 0, 10, 20, 30, 40]);
//! let a = parse_idx(&bytes, Path::new("two.idx"))?;
//! assert_eq!(a.dims, vec![2, 2, 2]);
//! // A truncated file is an error naming the file, never a panic.
//! assert!(parse_idx(&bytes[..20], Path::new("two.idx")).is_err());
//! # Ok::<(), hdgan_data::DataError>(())
//! ```

mod error;
mod prep;
mod read;
mod stream;

pub use error::DataError;
pub use prep::Prepared;
pub use read::{
    CIFAR_RECORD, Colour, Dataset, GZIP_LIMIT, IdxArray, ImageSet, decode_maybe_gzip, idx_files,
    parse_cifar10, parse_idx, read_cifar10, read_idx_images, read_maybe_gzip,
};
pub use stream::ImageStream;
