//! The reduced ODE in its free coordinates and its analytic Jacobian, for any loss.
//!
//! On the constraint `z = 1`, `S_jj = 1` the reduced ODE moves
//! `x = (P (d x d, row-major), q (d), r (d), S_ij for i < j)`: `d^2 + 2d + d(d-1)/2`
//! numbers for d features. [`ReducedCoords`] converts between these and [`MacroState`];
//! [`reduced_jacobian`] is the exact derivative of [`hdgan_macro_ode::reduced_rhs`] in them,
//! for any loss.

use hdgan_core::{DMat, MacroState};
use hdgan_macro_ode::reduced_coefficients;
use hdgan_model::{DiscriminatorLoss, Model};

/// The free coordinates of the reduced ODE for d features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReducedCoords {
    /// Number of features.
    pub d: usize,
}

impl ReducedCoords {
    /// Number of free coordinates: `d^2 + 2d + d(d-1)/2`.
    pub fn len(&self) -> usize {
        let d = self.d;
        d * d + 2 * d + d * (d - 1) / 2
    }

    /// Always false (d >= 1).
    pub fn is_empty(&self) -> bool {
        false
    }

    fn p(&self, i: usize, j: usize) -> usize {
        i * self.d + j
    }
    fn q(&self, i: usize) -> usize {
        self.d * self.d + i
    }
    fn r(&self, i: usize) -> usize {
        self.d * self.d + self.d + i
    }
    /// Index of `S_ij`, i < j.
    fn s(&self, i: usize, j: usize) -> usize {
        let d = self.d;
        // Rows of the strict upper triangle before row i: sum_{a < i} (d - 1 - a).
        let before = i * (2 * d - i - 1) / 2;
        d * d + 2 * d + before + (j - i - 1)
    }

    /// Names of the coordinates (`P11`, .., `q1`, .., `r1`, .., `S12`, ..).
    pub fn names(&self) -> Vec<String> {
        let d = self.d;
        let mut v = Vec::with_capacity(self.len());
        for i in 1..=d {
            for j in 1..=d {
                v.push(format!("P{i}{j}"));
            }
        }
        v.extend((1..=d).map(|i| format!("q{i}")));
        v.extend((1..=d).map(|i| format!("r{i}")));
        for i in 1..=d {
            for j in (i + 1)..=d {
                v.push(format!("S{i}{j}"));
            }
        }
        v
    }

    /// The free coordinates of a state on the constraint.
    pub fn from_state(&self, s: &MacroState) -> Vec<f64> {
        let d = self.d;
        let mut x = vec![0.0; self.len()];
        for i in 0..d {
            for j in 0..d {
                x[self.p(i, j)] = s.p[(i, j)];
            }
            x[self.q(i)] = s.q[i];
            x[self.r(i)] = s.r[i];
            for j in (i + 1)..d {
                x[self.s(i, j)] = s.s[(i, j)];
            }
        }
        x
    }

    /// The state with `z = 1`, `S_jj = 1` and the given free coordinates.
    pub fn to_state(&self, x: &[f64]) -> MacroState {
        let d = self.d;
        let mut s = MacroState::zeros(d);
        s.z = 1.0;
        s.s = DMat::identity(d);
        for i in 0..d {
            for j in 0..d {
                s.p[(i, j)] = x[self.p(i, j)];
            }
            s.q[i] = x[self.q(i)];
            s.r[i] = x[self.r(i)];
            for j in (i + 1)..d {
                s.s[(i, j)] = x[self.s(i, j)];
                s.s[(j, i)] = x[self.s(i, j)];
            }
        }
        s
    }
}

/// The Jacobian `J[a][b] = d f_a / d x_b` of the reduced ODE at `state` (on the constraint)
/// for the model's loss, in the free coordinates of [`ReducedCoords`], row-major.
/// Analytic: from the averages `g, g~, b` and their derivatives
/// ([`DiscriminatorLoss::moment_derivatives`]: closed form for the quadratic loss, where it
/// is the derivative of (13)-(14); quadrature for the others), with
/// `h = -(q^T g - r^T g~) - tau b / 2` and `L_j = -r_j g~_j`; checked against finite
/// differences in the tests.
pub fn reduced_jacobian(model: &Model, state: &MacroState) -> DMat {
    reduced_jacobian_with(model, &*model.loss(), state)
}

/// [`reduced_jacobian`] with the averages of `loss` in place of the model's (e.g.
/// [`hdgan_model::ByQuadrature`] to check the quadrature route against the closed form).
pub fn reduced_jacobian_with(
    model: &Model,
    loss: &dyn DiscriminatorLoss,
    state: &MacroState,
) -> DMat {
    let d = state.d();
    let c = ReducedCoords { d };
    let n = c.len();
    let coef = reduced_coefficients(model, loss, state);
    let der = loss.moment_derivatives(model.moment_point(&state.q, &state.r, 1.0));
    let (tau, tt) = (model.tau(), model.tau_tilde());
    let (p, q, r, s) = (&state.p, &state.q, &state.r, &state.s);
    let (g, gam, l, h) = (&coef.g, &coef.g_tilde, &coef.l, coef.h);
    // dg_i/dq_k and dg~_i/dr_k.
    let (dg, dgt) = (&der.dg, &der.dg_tilde);
    // dh/dq = -(g + dg^T q) - tau eta_T d<f^2>/dq / 2, dh/dr = g~ + dg~^T r - tau eta_G d<f~^2>/dr / 2.
    let dgt_q = dg.t_mul_vec(q);
    let dgt_r = dgt.t_mul_vec(r);
    let dh_dq: Vec<f64> = (0..d)
        .map(|k| -(g[k] + dgt_q[k]) - 0.5 * tau * model.eta_t() * der.d_f_sq[k])
        .collect();
    let dh_dr: Vec<f64> = (0..d)
        .map(|k| gam[k] + dgt_r[k] - 0.5 * tau * model.eta_g() * der.d_f_tilde_sq[k])
        .collect();
    // dL_j / dr_k = -(delta_jk g~_j + r_j dg~_jk)
    let dl = |j: usize, k: usize| -((if j == k { gam[j] } else { 0.0 }) + r[j] * dgt[(j, k)]);
    let p_dgt = p.matmul(dgt);
    let pt_dg = p.transpose().matmul(dg);
    let s_dgt = s.matmul(dgt);
    let delta = |a: usize, b: usize| if a == b { 1.0 } else { 0.0 };
    let mut jm = DMat::zeros(n, n);
    // f_P[i][j] = tau~ (q_i g~_j + P_ij L_j)
    for i in 0..d {
        for j in 0..d {
            let row = c.p(i, j);
            jm[(row, c.p(i, j))] += tt * l[j];
            jm[(row, c.q(i))] += tt * gam[j];
            for k in 0..d {
                jm[(row, c.r(k))] += tt * (q[i] * dgt[(j, k)] + p[(i, j)] * dl(j, k));
            }
        }
    }
    // f_q[i] = tau (g_i - (P g~)_i + h q_i)
    for i in 0..d {
        let row = c.q(i);
        for b in 0..d {
            jm[(row, c.p(i, b))] += -tau * gam[b];
        }
        for k in 0..d {
            jm[(row, c.q(k))] += tau * (dg[(i, k)] + h * delta(i, k) + q[i] * dh_dq[k]);
            jm[(row, c.r(k))] += tau * (-p_dgt[(i, k)] + q[i] * dh_dr[k]);
        }
    }
    // f_r[i] = tau ((P^T g)_i - (S g~)_i + h r_i) + tau~ (g~_i + L_i r_i)
    for i in 0..d {
        let row = c.r(i);
        for a in 0..d {
            jm[(row, c.p(a, i))] += tau * g[a];
        }
        for k in 0..d {
            jm[(row, c.q(k))] += tau * (pt_dg[(i, k)] + r[i] * dh_dq[k]);
            jm[(row, c.r(k))] += tau * (-s_dgt[(i, k)] + h * delta(i, k) + r[i] * dh_dr[k])
                + tt * (dgt[(i, k)] + delta(i, k) * l[i] + r[i] * dl(i, k));
        }
        for a in 0..d {
            for b in (a + 1)..d {
                jm[(row, c.s(a, b))] += -tau * (delta(i, a) * gam[b] + delta(i, b) * gam[a]);
            }
        }
    }
    // f_S[i][j] (i < j) = tau~ (r_i g~_j + g~_i r_j + S_ij (L_i + L_j))
    for i in 0..d {
        for j in (i + 1)..d {
            let row = c.s(i, j);
            for k in 0..d {
                jm[(row, c.r(k))] += tt
                    * (delta(i, k) * gam[j]
                        + r[i] * dgt[(j, k)]
                        + dgt[(i, k)] * r[j]
                        + gam[i] * delta(j, k)
                        + s[(i, j)] * (dl(i, k) + dl(j, k)));
            }
            jm[(row, c.s(i, j))] += tt * (l[i] + l[j]);
        }
    }
    jm
}

/// The reduced ODE's right-hand side in free coordinates.
pub fn reduced_rhs_coords(model: &Model, coords: ReducedCoords, x: &[f64]) -> Vec<f64> {
    reduced_rhs_coords_with(model, &*model.loss(), coords, x)
}

/// [`reduced_rhs_coords`] with the averages of `loss`.
pub fn reduced_rhs_coords_with(
    model: &Model,
    loss: &dyn DiscriminatorLoss,
    coords: ReducedCoords,
    x: &[f64],
) -> Vec<f64> {
    let s = coords.to_state(x);
    coords.from_state_derivative(&hdgan_macro_ode::reduced_rhs_with(model, loss, &s))
}

impl ReducedCoords {
    /// The free-coordinate part of a state derivative (drops `dz`, `dS_jj`, and `dS_ji`).
    pub fn from_state_derivative(&self, ds: &MacroState) -> Vec<f64> {
        self.from_state(ds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::{ByQuadrature, LatentConfig, LossName, ModelConfig, Quadratic};
    use proptest::prelude::*;

    /// A d-feature model with correlated latents; `loss` 0: quadratic, 1: logistic (bias
    /// 1), 2: logistic-linear; `means` gives the latents non-zero means.
    fn model(d: usize, eta_t: f64, eta_g: f64, loss: usize, means: bool) -> Model {
        let mut c = ModelConfig::figure1(1000, 1.0);
        c.d = d;
        c.eta_t = eta_t;
        c.eta_g = eta_g;
        c.loss = [
            LossName::Quadratic,
            LossName::Logistic,
            LossName::LogisticLinear,
        ][loss]
            .into();
        let mut cov = DMat::zeros(d, d);
        for i in 0..d {
            cov[(i, i)] = 5.0 - i as f64;
            if i + 1 < d {
                cov[(i, i + 1)] = 0.3;
                cov[(i + 1, i)] = 0.3;
            }
        }
        let mean = |shift: f64| means.then(|| (0..d).map(|i| shift - 0.4 * i as f64).collect());
        c.latent = LatentConfig {
            cov: cov.to_rows(),
            mean: mean(0.8),
            classes: Vec::new(),
            from_data: None,
        };
        let mut lt =
            LatentConfig::diagonal(&(0..d).map(|i| 4.0 - 0.5 * i as f64).collect::<Vec<_>>());
        lt.mean = mean(-0.3);
        c.latent_tilde = Some(lt);
        c.validate("model").unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The analytic Jacobian equals central finite differences of the right-hand side,
        /// for every loss, with and without latent means (step 1e-6: truncation ~1e-12 times
        /// third derivatives, round-off ~1e-10, the quadrature's 1e-14 noise / 1e-6 = 1e-8).
        #[test]
        fn jacobian_equals_finite_differences(
            d in 1usize..4,
            eta_t in 0.0f64..4.0,
            eta_g in 0.0f64..4.0,
            loss in 0usize..3,
            means in any::<bool>(),
            seed in prop::collection::vec(-0.9f64..0.9, 30),
        ) {
            let m = model(d, eta_t, eta_g, loss, means);
            let c = ReducedCoords { d };
            let x: Vec<f64> = seed[..c.len()].to_vec();
            let state = c.to_state(&x);
            let jm = reduced_jacobian(&m, &state);
            let eps = 1e-6;
            for b in 0..c.len() {
                let mut xp = x.clone();
                let mut xm = x.clone();
                xp[b] += eps;
                xm[b] -= eps;
                let fp = reduced_rhs_coords(&m, c, &xp);
                let fm = reduced_rhs_coords(&m, c, &xm);
                for a in 0..c.len() {
                    let fd = (fp[a] - fm[a]) / (2.0 * eps);
                    prop_assert!((fd - jm[(a, b)]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "d = {d}, loss {loss}, J[{}][{}] = {} vs finite difference {fd}", c.names()[a], c.names()[b], jm[(a, b)]);
                }
            }
        }
    }

    /// For the quadratic loss the Jacobian from the quadrature route equals the closed form
    /// to 1e-10 (d = 3, correlated latents with means).
    #[test]
    fn quadrature_jacobian_is_the_closed_form_for_the_quadratic_loss() {
        let m = model(3, 1.5, 0.7, 0, true);
        let c = ReducedCoords { d: 3 };
        let x: Vec<f64> = (0..c.len())
            .map(|k| 0.7 * ((k as f64) * 1.3).sin())
            .collect();
        let state = c.to_state(&x);
        let a = reduced_jacobian(&m, &state);
        let b = reduced_jacobian_with(&m, &ByQuadrature(Quadratic), &state);
        for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
            assert!((x - y).abs() < 1e-10, "{x} vs {y}");
        }
    }

    #[test]
    fn coordinates_round_trip() {
        let c = ReducedCoords { d: 3 };
        assert_eq!(c.len(), 9 + 6 + 3);
        assert_eq!(c.names()[15..], ["S12", "S13", "S23"]);
        let x: Vec<f64> = (0..c.len()).map(|k| k as f64 / 10.0).collect();
        assert_eq!(c.from_state(&c.to_state(&x)), x);
    }
}
