//! Standard normal draws for the simulators (the vectorised ziggurat of
//! [`hdgan_model::random`]).

use hdgan_model::random::SimRng;

/// One standard normal.
#[inline]
pub fn normal(rng: &mut SimRng) -> f64 {
    rng.normal()
}

/// Fills `out` with independent standard normals.
#[inline]
pub fn fill_normals(rng: &mut SimRng, out: &mut [f64]) {
    rng.fill_normals(out);
}
