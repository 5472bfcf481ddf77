//! Standard normal draws for the simulators.

use hdgan_model::random::{SimRng, fill_standard_normal, standard_normal};

/// One standard normal.
#[inline]
pub fn normal(rng: &mut SimRng) -> f64 {
    standard_normal(rng)
}

/// Fills `out` with independent standard normals.
#[inline]
pub fn fill_normals(rng: &mut SimRng, out: &mut [f64]) {
    fill_standard_normal(rng, out);
}
