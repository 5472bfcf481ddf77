//! Fixed points of the reduced ODE (13)-(14) and their linear stability.

use crate::jacobian::{ReducedCoords, reduced_jacobian, reduced_rhs_coords};
use hdgan_core::{DMat, MacroState};
use hdgan_model::Model;
use serde::Serialize;

/// Linear stability of a fixed point from its Jacobian spectrum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Stability {
    /// Every eigenvalue has real part < -tol.
    Stable,
    /// No eigenvalue has real part > tol, some are within tol of zero: stable except along
    /// neutral directions (a family of fixed points).
    Marginal,
    /// Some eigenvalue has real part > tol.
    Unstable,
}

/// What kind of fixed point (d = 1 names follow THEORY §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum FixedPointKind {
    /// `q = r = 0` with any `P` (and `S`): the generator rests, the discriminator is fooled.
    Resting,
    /// `P = 0`, `r = 0`, `q != 0`: the discriminator has learned a feature the generator
    /// has not.
    DiscriminatorOnly,
    /// `P = 0`, `q = 0`, `r != 0`: the discriminator tracks the generator only.
    GeneratorTracking,
    /// `P != 0`, `r != 0`, `q = P r`.
    Coupled,
}

/// One fixed point with its spectrum.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FixedPoint {
    /// Kind.
    pub kind: FixedPointKind,
    /// The state (on the constraint `z = 1`, `S_jj = 1`).
    pub state: MacroState,
    /// Largest absolute entry of the right-hand side there (0 up to round-off).
    pub residual: f64,
    /// Eigenvalues of the Jacobian in free coordinates, `(re, im)`, sorted by real part
    /// (largest first).
    pub eigenvalues: Vec<(f64, f64)>,
    /// Linear stability verdict.
    pub stability: Stability,
    /// Whether the Gram matrix of `[U, V, w]` is positive semi-definite there (a state some
    /// unit vectors can realise).
    pub physical: bool,
}

/// Eigenvalues of a square matrix with faer, `(re, im)`, largest real part first.
pub fn eigenvalues(m: &DMat) -> Vec<(f64, f64)> {
    let n = m.rows();
    let a = faer::Mat::<f64>::from_fn(n, n, |i, j| m[(i, j)]);
    let mut ev: Vec<(f64, f64)> = match a.eigenvalues() {
        Ok(v) => v.iter().map(|c| (c.re, c.im)).collect(),
        Err(_) => vec![(f64::NAN, f64::NAN); n],
    };
    ev.sort_by(|x, y| y.0.total_cmp(&x.0));
    ev
}

/// Stability from a spectrum with tolerance `tol` on the real parts.
pub fn stability_of(ev: &[(f64, f64)], tol: f64) -> Stability {
    let max = ev.iter().map(|e| e.0).fold(f64::NEG_INFINITY, f64::max);
    if max > tol {
        Stability::Unstable
    } else if max >= -tol {
        Stability::Marginal
    } else {
        Stability::Stable
    }
}

/// Tolerance on eigenvalue real parts: round-off of the Jacobian's entries (of size
/// tau Lam) times a safety factor.
fn tol(model: &Model) -> f64 {
    let scale = model.tau
        * (model.latent.second_moment().matrix().max_abs()
            + model.latent_tilde.second_moment().matrix().max_abs()
            + model.tau * model.eta_sq());
    1e-9 * scale.max(1.0)
}

/// Builds the [`FixedPoint`] record of a state: residual, spectrum, verdict, physicality.
pub fn analyse(model: &Model, kind: FixedPointKind, state: MacroState) -> FixedPoint {
    let c = ReducedCoords { d: state.d() };
    let x = c.from_state(&state);
    let residual = reduced_rhs_coords(model, c, &x)
        .iter()
        .fold(0.0, |m: f64, v| m.max(v.abs()));
    let eigenvalues = eigenvalues(&reduced_jacobian(model, &state));
    let stability = stability_of(&eigenvalues, tol(model));
    let gram = state.gram();
    let physical = eigenvalues_sym_min(&gram) >= -1e-12;
    FixedPoint {
        kind,
        state,
        residual,
        eigenvalues,
        stability,
        physical,
    }
}

fn eigenvalues_sym_min(m: &DMat) -> f64 {
    eigenvalues(m)
        .iter()
        .map(|e| e.0)
        .fold(f64::INFINITY, f64::min)
}

fn state_d1(p: f64, q: f64, r: f64) -> MacroState {
    let mut s = MacroState::zeros(1);
    s.p[(0, 0)] = p;
    s.q[0] = q;
    s.r[0] = r;
    s.s[(0, 0)] = 1.0;
    s.z = 1.0;
    s
}

/// Every fixed point of the d = 1 reduced ODE (THEORY §6), with `Lam`, `Lam~` the scalars of
/// the model. Writing `f_P = tau~ Lam~ r (q - P r)`:
///
/// - `r = 0` and `q = 0`: the resting line, any P in [-1, 1]; it is listed at the P values
///   in `line_samples` (the box `p* <= |P| <= 1` is its stable part);
/// - `r = 0`, `q != 0`: then `P = 0` and `q^2 = (Lam - tau eta^2) / (a_T Lam)`;
/// - `r != 0`, `P = 0` (so `q = 0`): `r^2 = (tau Lam~ + tau^2 eta^2 - tau~ Lam~) / (Lam~ (tau a_G - tau~))`;
/// - `r != 0`, `P != 0`, `q = P r`: then `h = Lam~ - Lam` and
///   `r^2 = 1 - kappa (1 - P^2)` with `kappa = tau Lam / (tau~ Lam~)`, which with
///   `r^2 (a_G Lam~ - a_T Lam P^2) = Lam~ - Lam + tau eta^2` is a quadratic in `P^2`.
///
/// Only real solutions with `0 < q^2, r^2 <= 1` and `P^2 <= 1` are kept (each sign
/// combination once); `physical` tells whether the Gram matrix is PSD.
pub fn fixed_points_d1(model: &Model, line_samples: &[f64]) -> Vec<FixedPoint> {
    assert_eq!(model.d, 1, "fixed_points_d1 needs d = 1");
    let lam = model.latent.second_moment().matrix()[(0, 0)];
    let lt = model.latent_tilde.second_moment().matrix()[(0, 0)];
    let (tau, tt) = (model.tau, model.tau_tilde);
    let te = tau * model.eta_sq();
    let a_g = 1.0 - 0.5 * tau * model.eta_g;
    let a_t = 1.0 + 0.5 * tau * model.eta_t;
    let mut out = Vec::new();
    for &p in line_samples {
        out.push(analyse(
            model,
            FixedPointKind::Resting,
            state_d1(p, 0.0, 0.0),
        ));
    }
    let q2 = (lam - te) / (a_t * lam);
    if q2 > 0.0 && q2 <= 1.0 {
        for sgn in [1.0, -1.0] {
            out.push(analyse(
                model,
                FixedPointKind::DiscriminatorOnly,
                state_d1(0.0, sgn * q2.sqrt(), 0.0),
            ));
        }
    }
    let den = lt * (tau * a_g - tt);
    if den.abs() > 1e-300 {
        let r2 = (tau * lt + tau * te - tt * lt) / den;
        if r2 > 0.0 && r2 <= 1.0 {
            for sgn in [1.0, -1.0] {
                out.push(analyse(
                    model,
                    FixedPointKind::GeneratorTracking,
                    state_d1(0.0, 0.0, sgn * r2.sqrt()),
                ));
            }
        }
    }
    // (1 - kappa + kappa x)(a_G Lam~ - a_T Lam x) = Lam~ - Lam + tau eta^2, x = P^2:
    // -kappa a_T Lam x^2 + (kappa a_G Lam~ - (1 - kappa) a_T Lam) x + (1 - kappa) a_G Lam~ - rhs = 0
    if lt > 0.0 && lam > 0.0 {
        let kappa = tau * lam / (tt * lt);
        let rhs = lt - lam + te;
        let qa = -kappa * a_t * lam;
        let qb = kappa * a_g * lt - (1.0 - kappa) * a_t * lam;
        let qc = (1.0 - kappa) * a_g * lt - rhs;
        let disc = qb * qb - 4.0 * qa * qc;
        if disc >= 0.0 {
            let sq = disc.sqrt();
            let mut roots = vec![(-qb + sq) / (2.0 * qa), (-qb - sq) / (2.0 * qa)];
            roots.dedup_by(|a, b| (*a - *b).abs() < 1e-14);
            for x in roots {
                let r2 = 1.0 - kappa * (1.0 - x);
                if x > 0.0 && x <= 1.0 && r2 > 0.0 && r2 <= 1.0 {
                    for (sp, sr) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                        let (p, r) = (sp * x.sqrt(), sr * r2.sqrt());
                        out.push(analyse(
                            model,
                            FixedPointKind::Coupled,
                            state_d1(p, p * r, r),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The `q = r = 0` fixed point with generator overlaps `P` and `S` (any d).
pub fn resting_point(model: &Model, p: &DMat, s: &DMat) -> FixedPoint {
    let mut st = MacroState::zeros(p.rows());
    st.p = p.clone();
    st.s = s.clone();
    st.z = 1.0;
    analyse(model, FixedPointKind::Resting, st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::{LatentConfig, ModelConfig};

    fn d1(lam: f64, eta: f64) -> Model {
        let mut c = ModelConfig::figure1(1000, eta);
        c.d = 1;
        c.latent = LatentConfig::diagonal(&[lam]);
        c.validate("model").unwrap()
    }

    #[test]
    fn every_d1_fixed_point_has_zero_residual() {
        for (lam, eta) in [(5.0, 2.0), (3.0, 1.0), (5.0, 0.5), (2.0, 3.0)] {
            let m = d1(lam, eta);
            let fps = fixed_points_d1(&m, &[0.0, 0.5, 0.95]);
            assert!(fps.len() >= 3);
            for fp in &fps {
                assert!(
                    fp.residual < 1e-12,
                    "{:?} residual {}",
                    fp.kind,
                    fp.residual
                );
            }
        }
    }

    /// THEORY §6: at q = r = 0 the (q, r) block of the Jacobian is
    /// tau [[Lam - tau eta^2, -P Lam~], [P Lam, -(1 - alpha) Lam~ - tau eta^2]]; the line
    /// is stable for |P| > p* and unstable for |P| < p* (Figure 1's feature 1: p* = 0.898).
    #[test]
    fn resting_line_is_stable_exactly_above_pstar() {
        let m = d1(5.0, 2.0);
        let pstar = (4.2f64 * 4.8 / 25.0).sqrt();
        let fps = fixed_points_d1(&m, &[0.5, pstar - 0.01, pstar + 0.01, 1.0]);
        let verdicts: Vec<Stability> = fps[..4].iter().map(|f| f.stability).collect();
        assert_eq!(
            verdicts,
            [
                Stability::Unstable,
                Stability::Unstable,
                Stability::Marginal,
                Stability::Marginal
            ]
        );
        // Trace and determinant of the (q, r) block against the theory page's formula at P = 1.
        let (lam, lt, te, alpha) = (5.0, 5.0, 0.8, 0.2);
        let tr = 0.2 * ((lam - te) - (1.0 - alpha) * lt - te);
        let det = 0.04 * ((lam - te) * (-(1.0 - alpha) * lt - te) + lam * lt);
        let ev = &fps[3].eigenvalues;
        let nonzero: Vec<&(f64, f64)> = ev
            .iter()
            .filter(|e| e.0.abs() > 1e-9 || e.1.abs() > 1e-9)
            .collect();
        let sum: f64 = nonzero.iter().map(|e| e.0).sum();
        assert!((sum - tr).abs() < 1e-9, "trace {sum} vs {tr}");
        let prod = if nonzero[0].1.abs() > 0.0 {
            nonzero[0].0 * nonzero[0].0 + nonzero[0].1 * nonzero[0].1
        } else {
            nonzero[0].0 * nonzero[1].0
        };
        assert!((prod - det).abs() < 1e-9, "det {prod} vs {det}");
    }
}
