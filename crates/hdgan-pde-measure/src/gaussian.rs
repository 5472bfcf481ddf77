//! The Gaussian closed form of SDE (10) for d = 1: given `u^ = u` the SDE
//!
//! ```text
//! dv^ = tau~ ( g~ w^ + L v^ ) dt
//! dw^ = tau  ( g u - g~ v^ + h w^ ) dt + tau sqrt(b) dB
//! ```
//!
//! is linear in `x = (v^, w^)`: `dx = (A x + c) dt + [0, tau sqrt b] dB` with
//! `A = [[tau~ L, tau~ g~], [-tau g~, tau h]]`, `c = (0, tau g u)`. A Gaussian initial law
//! stays Gaussian with `m' = A m + c`, `C' = A C + C A^T + diag(0, tau^2 b)`.

use crate::CoefficientPath;
use crate::coefficients::SdeCoefficients;
use hdgan_core::MacroState;
use hdgan_model::Model;

/// A 2-D Gaussian law of `(v^, w^)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gaussian2 {
    /// Mean.
    pub mean: [f64; 2],
    /// Covariance.
    pub cov: [[f64; 2]; 2],
}

impl Gaussian2 {
    /// The conditional law given `u^ = 1` when every row has `u^ = 1` (constant features,
    /// Figure 2): mean `(P, q)`, covariance `[[S - P^2, r - P q], [r - P q, z - q^2]]`.
    pub fn from_macro_constant_features(s: &MacroState) -> Self {
        let (p, q) = (s.p[(0, 0)], s.q[0]);
        Self {
            mean: [p, q],
            cov: [
                [s.s[(0, 0)] - p * p, s.r[0] - p * q],
                [s.r[0] - p * q, s.z - q * q],
            ],
        }
    }

    /// Points on the ellipse of `k` standard deviations (Mahalanobis radius k).
    pub fn ellipse(&self, k: f64, points: usize) -> Vec<(f64, f64)> {
        let (a, b, c) = (self.cov[0][0], self.cov[0][1], self.cov[1][1]);
        // Cholesky factor of the covariance (positive semi-definite; clamp round-off).
        let l11 = a.max(0.0).sqrt();
        let l21 = if l11 > 0.0 { b / l11 } else { 0.0 };
        let l22 = (c - l21 * l21).max(0.0).sqrt();
        (0..=points)
            .map(|i| {
                let t = 2.0 * std::f64::consts::PI * i as f64 / points as f64;
                let (x, y) = (k * t.cos(), k * t.sin());
                (self.mean[0] + l11 * x, self.mean[1] + l21 * x + l22 * y)
            })
            .collect()
    }
}

/// `A` and `c` of the linear SDE at one set of coefficients (d = 1).
pub(crate) fn linear_drift(
    model: &Model,
    c: &SdeCoefficients,
    u: f64,
) -> ([[f64; 2]; 2], [f64; 2]) {
    let (tau, tt) = (model.tau(), model.tau_tilde());
    (
        [
            [tt * c.l[0], tt * c.g_tilde[0]],
            [-tau * c.g_tilde[0], tau * c.h],
        ],
        [0.0, tau * c.g[0] * u],
    )
}

fn moment_rhs(model: &Model, c: &SdeCoefficients, u: f64, g: &Gaussian2) -> Gaussian2 {
    let (a, cc) = linear_drift(model, c, u);
    let m = g.mean;
    let mean = [
        a[0][0] * m[0] + a[0][1] * m[1] + cc[0],
        a[1][0] * m[0] + a[1][1] * m[1] + cc[1],
    ];
    let mut cov = [[0.0; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                cov[i][j] += a[i][k] * g.cov[k][j] + g.cov[i][k] * a[j][k];
            }
        }
    }
    cov[1][1] += model.tau() * model.tau() * c.b;
    Gaussian2 { mean, cov }
}

fn axpy(g: &Gaussian2, h: f64, d: &Gaussian2) -> Gaussian2 {
    let mut out = *g;
    for i in 0..2 {
        out.mean[i] += h * d.mean[i];
        for j in 0..2 {
            out.cov[i][j] += h * d.cov[i][j];
        }
    }
    out
}

/// Integrates the mean and covariance ODE with classical RK4 (coefficients at the step's
/// start, midpoint and end from `path`), from `init` at t = 0; returns the law at every
/// step `k dt`, k = 0..=steps.
pub fn gaussian_path(
    model: &Model,
    path: &CoefficientPath,
    u: f64,
    init: Gaussian2,
) -> Vec<(f64, Gaussian2)> {
    let dt = path.dt();
    let mut g = init;
    let mut out = vec![(0.0, g)];
    for k in 0..path.steps() {
        let (c0, c1, c2) = (
            path.at_half(2 * k),
            path.at_half(2 * k + 1),
            path.at_half(2 * k + 2),
        );
        let k1 = moment_rhs(model, c0, u, &g);
        let k2 = moment_rhs(model, c1, u, &axpy(&g, dt / 2.0, &k1));
        let k3 = moment_rhs(model, c1, u, &axpy(&g, dt / 2.0, &k2));
        let k4 = moment_rhs(model, c2, u, &axpy(&g, dt, &k3));
        for i in 0..2 {
            g.mean[i] += dt / 6.0 * (k1.mean[i] + 2.0 * k2.mean[i] + 2.0 * k3.mean[i] + k4.mean[i]);
            for j in 0..2 {
                g.cov[i][j] += dt / 6.0
                    * (k1.cov[i][j] + 2.0 * k2.cov[i][j] + 2.0 * k3.cov[i][j] + k4.cov[i][j]);
            }
        }
        out.push(((k + 1) as f64 * dt, g));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::{LatentConfig, ModelConfig};

    /// With constant features the closed form must reproduce the macroscopic ODE's
    /// moments: mean (P, q) and second moments (S, r, z), at every time.
    #[test]
    fn moment_ode_matches_the_macroscopic_ode() {
        let mut c = ModelConfig::figure1(1000, 2.0);
        c.d = 1;
        c.latent = LatentConfig::diagonal(&[5.0]);
        let m = c.validate("model").unwrap();
        let mut s = MacroState::diagonal_start(1, 0.1, 0.1);
        s.r[0] = 0.01;
        let path = CoefficientPath::new(&m, &s, 60.0, 0.05).unwrap();
        let g = gaussian_path(&m, &path, 1.0, Gaussian2::from_macro_constant_features(&s));
        for (k, (_, law)) in g.iter().enumerate().step_by(100) {
            let want = Gaussian2::from_macro_constant_features(path.state_at_half(2 * k));
            for i in 0..2 {
                assert!(
                    (law.mean[i] - want.mean[i]).abs() < 1e-6,
                    "step {k}: {law:?} vs {want:?}"
                );
                for j in 0..2 {
                    assert!(
                        (law.cov[i][j] - want.cov[i][j]).abs() < 1e-6,
                        "step {k}: {law:?} vs {want:?}"
                    );
                }
            }
        }
    }
}
