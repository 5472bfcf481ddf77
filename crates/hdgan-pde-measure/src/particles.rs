//! SDE particle solvers for d = 1, conditional on `u^ = u`.
//!
//! - [`LinearParticles`]: the linear SDE (10) with coefficients from the ODE path, stepped by
//!   an exponential integrator with the coefficients frozen at each step's midpoint (the
//!   step's mean and covariance are exact for frozen coefficients; the error from freezing
//!   is O(dt^2)).
//! - [`MeanField`]: the interacting (McKean-Vlasov) particle system for an elementwise
//!   regulariser under which the ODE does not close: the coefficients are computed from the
//!   particles' own moments, and the drift of `w^` gets `-tau l1 sign(w^)`
//!   (Euler-Maruyama).
//!
//! Particles are processed in chunks of [`CHUNK`], chunk i drawing from
//! `stream_rng(seed, i)`, so results do not depend on the thread count.

use crate::CoefficientPath;
use crate::gaussian::linear_drift;
use crate::measure::Row;
use hdgan_core::MacroState;
use hdgan_model::Model;
use hdgan_model::random::{SimRng, stream_rng};
use rayon::prelude::*;

/// Particles per random stream.
pub const CHUNK: usize = 4096;

type M2 = [[f64; 2]; 2];

fn mat_mul(a: &M2, b: &M2) -> M2 {
    let mut c = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j];
        }
    }
    c
}

fn transpose(a: &M2) -> M2 {
    [[a[0][0], a[1][0]], [a[0][1], a[1][1]]]
}

/// For `dx = (A x + c) dt + noise with diffusion matrix D` frozen over `dt`: the
/// propagator `E = exp(A dt)`, the shift `e = int_0^dt exp(A s) c ds` and the noise
/// covariance `Q = int_0^dt exp(A s) D exp(A^T s) ds`, by Taylor series to total order 12
/// (for |A| dt <= 0.5 the truncation error is below (2 |A| dt)^13 / 13! < 2e-10 relative).
pub fn exact_step(a: &M2, c: [f64; 2], d: &M2, dt: f64) -> (M2, [f64; 2], M2) {
    const ORDER: usize = 12;
    // Powers A^j.
    let mut pow = vec![[[1.0, 0.0], [0.0, 1.0]]];
    for j in 1..=ORDER {
        let next = mat_mul(&pow[j - 1], a);
        pow.push(next);
    }
    let fact: Vec<f64> = (0..=2 * ORDER + 1)
        .scan(1.0, |f, k| {
            let out = *f;
            *f *= (k + 1) as f64;
            Some(out)
        })
        .collect();
    let mut e = [[0.0; 2]; 2];
    let mut shift = [0.0; 2];
    for j in 0..=ORDER {
        let s = dt.powi(j as i32) / fact[j];
        let s1 = dt.powi(j as i32 + 1) / fact[j + 1];
        for r in 0..2 {
            shift[r] += s1 * (pow[j][r][0] * c[0] + pow[j][r][1] * c[1]);
            for col in 0..2 {
                e[r][col] += s * pow[j][r][col];
            }
        }
    }
    let mut q = [[0.0; 2]; 2];
    for j in 0..=ORDER {
        for l in 0..=(ORDER - j) {
            let coef = dt.powi((j + l + 1) as i32) / ((j + l + 1) as f64 * fact[j] * fact[l]);
            let term = mat_mul(&mat_mul(&pow[j], d), &transpose(&pow[l]));
            for r in 0..2 {
                for col in 0..2 {
                    q[r][col] += coef * term[r][col];
                }
            }
        }
    }
    (e, shift, q)
}

/// Lower Cholesky factor of a 2 x 2 PSD matrix (round-off negatives clamped).
fn chol2(q: &M2) -> M2 {
    let l11 = q[0][0].max(0.0).sqrt();
    let l21 = if l11 > 0.0 { q[1][0] / l11 } else { 0.0 };
    let l22 = (q[1][1] - l21 * l21).max(0.0).sqrt();
    [[l11, 0.0], [l21, l22]]
}

/// Particles of the linear SDE (10), d = 1, given `u^ = u`.
pub struct LinearParticles {
    /// Particle positions `(v^, w^)`.
    pub x: Vec<Row>,
    rngs: Vec<SimRng>,
    u: f64,
}

impl LinearParticles {
    /// `count` particles drawn from the Gaussian `(mean, cov)`, seeded by `seed`.
    pub fn gaussian(count: usize, mean: [f64; 2], cov: [[f64; 2]; 2], u: f64, seed: u64) -> Self {
        let chunks = count.div_ceil(CHUNK);
        let mut rngs: Vec<SimRng> = (0..chunks).map(|c| stream_rng(seed, c as u64)).collect();
        let l = chol2(&cov);
        let mut x = vec![[0.0; 2]; count];
        x.par_chunks_mut(CHUNK)
            .zip(rngs.par_iter_mut())
            .for_each(|(part, rng)| {
                for p in part {
                    let (a, b) = (rng.normal(), rng.normal());
                    *p = [mean[0] + l[0][0] * a, mean[1] + l[1][0] * a + l[1][1] * b];
                }
            });
        Self { x, rngs, u }
    }

    /// Advances every particle from step `k` to `k + 1` of `path`.
    pub fn step(&mut self, model: &Model, path: &CoefficientPath, k: usize) {
        let c = path.at_half(2 * k + 1);
        let (a, shift) = linear_drift(model, c, self.u);
        let d = [[0.0, 0.0], [0.0, model.tau() * model.tau() * c.b]];
        let (e, s, q) = exact_step(&a, shift, &d, path.dt());
        let l = chol2(&q);
        self.x
            .par_chunks_mut(CHUNK)
            .zip(self.rngs.par_iter_mut())
            .for_each(|(part, rng)| {
                for p in part {
                    let (z1, z2) = (rng.normal(), rng.normal());
                    let (v, w) = (p[0], p[1]);
                    p[0] = e[0][0] * v + e[0][1] * w + s[0] + l[0][0] * z1;
                    p[1] = e[1][0] * v + e[1][1] * w + s[1] + l[1][0] * z1 + l[1][1] * z2;
                }
            });
    }

    /// Runs all of `path`'s steps, returning snapshots of the particles at the step
    /// indices in `snapshot_steps` (sorted).
    pub fn run(
        &mut self,
        model: &Model,
        path: &CoefficientPath,
        snapshot_steps: &[usize],
    ) -> Vec<(usize, Vec<Row>)> {
        let mut out = Vec::new();
        for k in 0..=path.steps() {
            if snapshot_steps.contains(&k) {
                out.push((k, self.x.clone()));
            }
            if k < path.steps() {
                self.step(model, path, k);
            }
        }
        out
    }
}

/// The interacting particle system for finite lambda plus an elementwise L1 penalty of
/// strength `l1` on w (THEORY §5, last sentence), d = 1 with `u^ = 1` for every particle.
pub struct MeanField {
    /// Particle positions `(v^, w^)`.
    pub x: Vec<Row>,
    rngs: Vec<SimRng>,
    l1: f64,
}

impl MeanField {
    /// Particles drawn from the Gaussian `(mean, cov)`.
    pub fn gaussian(count: usize, mean: [f64; 2], cov: [[f64; 2]; 2], l1: f64, seed: u64) -> Self {
        let p = LinearParticles::gaussian(count, mean, cov, 1.0, seed);
        Self {
            x: p.x,
            rngs: p.rngs,
            l1,
        }
    }

    /// The macroscopic state of the particles (u^ = 1): `P = <v^>`, `q = <w^>`,
    /// `r = <v^ w^>`, `S = <v^2>`, `z = <w^2>`, summed chunk by chunk in a fixed order.
    pub fn moments(&self) -> MacroState {
        let parts: Vec<[f64; 5]> = self
            .x
            .par_chunks(CHUNK)
            .map(|part| {
                let mut a = [0.0; 5];
                for p in part {
                    a[0] += p[0];
                    a[1] += p[1];
                    a[2] += p[0] * p[1];
                    a[3] += p[0] * p[0];
                    a[4] += p[1] * p[1];
                }
                a
            })
            .collect();
        let n = self.x.len() as f64;
        let mut t = [0.0; 5];
        for a in parts {
            for k in 0..5 {
                t[k] += a[k];
            }
        }
        let mut s = MacroState::zeros(1);
        s.p[(0, 0)] = t[0] / n;
        s.q[0] = t[1] / n;
        s.r[0] = t[2] / n;
        s.s[(0, 0)] = t[3] / n;
        s.z = t[4] / n;
        s
    }

    /// One Euler-Maruyama step of size `dt` with coefficients from the particles' moments
    /// (finite lambda: eq. 9 with the corrected h).
    pub fn step(&mut self, model: &Model, dt: f64) {
        let m = self.moments();
        let c = crate::sde_coefficients(model, &m);
        let (tau, tt, l1) = (model.tau(), model.tau_tilde(), self.l1);
        let (g, gt, h, l) = (c.g[0], c.g_tilde[0], c.h, c.l[0]);
        let noise = tau * (c.b * dt).sqrt();
        self.x
            .par_chunks_mut(CHUNK)
            .zip(self.rngs.par_iter_mut())
            .for_each(|(part, rng)| {
                for p in part {
                    let (v, w) = (p[0], p[1]);
                    p[0] = v + dt * tt * (gt * w + l * v);
                    p[1] = w
                        + dt * tau * (g - gt * v + h * w - l1 * w.signum())
                        + noise * rng.normal();
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For A = 0 and D = diag(0, s), Q = diag(0, s dt); for c only, shift = c dt.
    #[test]
    fn exact_step_reduces_to_brownian_motion() {
        let (e, s, q) = exact_step(&[[0.0; 2]; 2], [1.0, 2.0], &[[0.0, 0.0], [0.0, 3.0]], 0.1);
        assert!((e[0][0] - 1.0).abs() < 1e-15 && e[0][1].abs() < 1e-15);
        assert!((s[0] - 0.1).abs() < 1e-15 && (s[1] - 0.2).abs() < 1e-15);
        assert!((q[1][1] - 0.3).abs() < 1e-15 && q[0][0].abs() < 1e-15);
    }

    /// Scalar OU check: A = -k on the w component: Q = s (1 - e^{-2 k dt}) / (2k).
    #[test]
    fn exact_step_matches_the_ou_variance() {
        let (k, s, dt) = (2.0, 3.0, 0.2);
        let (e, _, q) = exact_step(
            &[[0.0, 0.0], [0.0, -k]],
            [0.0, 0.0],
            &[[0.0, 0.0], [0.0, s]],
            dt,
        );
        assert!((e[1][1] - (-k * dt).exp()).abs() < 1e-9);
        let want = s * (1.0 - (-2.0 * k * dt).exp()) / (2.0 * k);
        assert!((q[1][1] - want).abs() < 1e-9, "{} vs {want}", q[1][1]);
    }
}
