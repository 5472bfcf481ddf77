//! A stream with a known answer: `x = U c + sqrt(eta) a`, U a random orthonormal n x d
//! basis, `c ~ N(0, diag(lam))`, `a ~ N(0, I_n)` (the model's real samples, eq. 1).

use crate::metrics::orthonormalize;
use hdgan_model::random::SimRng;

/// Samples of a planted subspace.
#[derive(Clone, Debug)]
pub struct PlantedStream {
    n: usize,
    basis: Vec<f64>,
    sd: Vec<f64>,
    noise_sd: f64,
    c: Vec<f64>,
}

impl PlantedStream {
    /// A random planted subspace of dimension `lam.len()` in R^n with signal variances
    /// `lam` and noise variance `eta`, drawn from `rng`.
    ///
    /// # Panics
    /// If `lam` is empty or longer than n, or a variance is negative or not finite.
    pub fn new(n: usize, lam: &[f64], eta: f64, rng: &mut SimRng) -> Self {
        assert!(
            !lam.is_empty() && lam.len() <= n,
            "PlantedStream: 1 <= d <= n"
        );
        assert!(
            lam.iter().chain([&eta]).all(|v| v.is_finite() && *v >= 0.0),
            "PlantedStream: variances must be finite and >= 0"
        );
        let mut s = Self {
            n,
            basis: Vec::new(),
            sd: lam.iter().map(|v| v.sqrt()).collect(),
            noise_sd: eta.sqrt(),
            c: vec![0.0; lam.len()],
        };
        s.basis = s.random_basis(lam.len(), rng);
        s
    }

    /// The planted basis (orthonormal, column-major n x d).
    pub fn basis(&self) -> &[f64] {
        &self.basis
    }

    /// A random orthonormal n x k basis (a tracker's start).
    pub fn random_basis(&self, k: usize, rng: &mut SimRng) -> Vec<f64> {
        loop {
            let mut b = vec![0.0; self.n * k];
            rng.fill_normals(&mut b);
            if orthonormalize(&mut b, self.n) {
                return b;
            }
        }
    }

    /// One sample into `x` (length n).
    pub fn sample(&mut self, rng: &mut SimRng, x: &mut [f64]) {
        rng.fill_normals(x);
        x.iter_mut().for_each(|v| *v *= self.noise_sd);
        rng.fill_normals(&mut self.c);
        for (j, col) in self.basis.chunks_exact(self.n).enumerate() {
            let cj = self.sd[j] * self.c[j];
            x.iter_mut().zip(col).for_each(|(v, u)| *v += cj * u);
        }
    }
}
