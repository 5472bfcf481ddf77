//! Statistics helpers: those of `hdgan_core::stats`.

pub use hdgan_core::stats::*;
