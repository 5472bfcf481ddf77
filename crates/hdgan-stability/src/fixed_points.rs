//! Fixed points of the reduced ODE (13)-(14) and their linear stability.

use crate::jacobian::{ReducedCoords, reduced_jacobian, reduced_rhs_coords};
use hdgan_core::{DMat, MacroState};
use hdgan_model::{Loss, Model};
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
    /// None of the above (possible for a loss whose averages do not vanish at
    /// `q = r = 0`, e.g. a linear logit with latent means).
    Other,
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
    let scale = model.tau()
        * (model.latent().second_moment().matrix().max_abs()
            + model.latent_tilde().second_moment().matrix().max_abs()
            + model.tau() * model.eta_sq());
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

/// Every fixed point of the d = 1 reduced ODE, for any loss: in closed form for the
/// quadratic loss ([`fixed_points_d1_closed_form`]), by a Newton search otherwise
/// ([`fixed_points_d1_search`]).
pub fn fixed_points_d1(model: &Model, line_samples: &[f64]) -> Vec<FixedPoint> {
    if model.loss() == Loss::Quadratic {
        fixed_points_d1_closed_form(model, line_samples)
    } else {
        fixed_points_d1_search(model, line_samples)
    }
}

/// Largest absolute entry of a vector.
fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m: f64, x| m.max(x.abs()))
}

/// Solves the small dense system `a x = b` by Gaussian elimination with partial pivoting;
/// None if a pivot vanishes.
pub(crate) fn solve_small(mut a: DMat, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[(i, col)].abs().total_cmp(&a[(j, col)].abs()))?;
        if a[(piv, col)].abs() < 1e-300 {
            return None;
        }
        for k in 0..n {
            let t = a[(col, k)];
            a[(col, k)] = a[(piv, k)];
            a[(piv, k)] = t;
        }
        b.swap(col, piv);
        for i in (col + 1)..n {
            let f = a[(i, col)] / a[(col, col)];
            for k in col..n {
                a[(i, k)] -= f * a[(col, k)];
            }
            b[i] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = ((i + 1)..n).map(|k| a[(i, k)] * x[k]).sum();
        x[i] = (b[i] - s) / a[(i, i)];
    }
    Some(x)
}

/// Residual below which a searched point counts as a fixed point.
const SEARCH_RESIDUAL: f64 = 1e-11;

/// Levenberg-Marquardt on the reduced right-hand side in free coordinates from `x`, with
/// the analytic Jacobian: the step solves `(J^T J + mu I) dx = -J^T f`, mu shrinking after
/// a step that lowers |f| and growing after one that does not (the resting line is a
/// family, where J is singular). Returns the end point if its residual is below
/// [`SEARCH_RESIDUAL`].
pub(crate) fn newton_from(model: &Model, c: ReducedCoords, mut x: Vec<f64>) -> Option<Vec<f64>> {
    let n = c.len();
    let mut f = reduced_rhs_coords(model, c, &x);
    let mut mu = 1e-6;
    for _ in 0..200 {
        if max_abs(&f) < 1e-14 {
            break;
        }
        let j = reduced_jacobian(model, &c.to_state(&x));
        let jt = j.transpose();
        let mut a = jt.matmul(&j);
        let g = jt.mul_vec(&f);
        let scale = (0..n).map(|i| a[(i, i)]).fold(0.0, f64::max).max(1e-300);
        for i in 0..n {
            a[(i, i)] += mu * scale;
        }
        let step = solve_small(a, g.iter().map(|v| -v).collect())?;
        let trial: Vec<f64> = x.iter().zip(&step).map(|(a, b)| a + b).collect();
        if max_abs(&trial) > 2.0 {
            return None;
        }
        let ft = reduced_rhs_coords(model, c, &trial);
        if max_abs(&ft) < max_abs(&f) {
            (x, f) = (trial, ft);
            mu = (mu * 0.1).max(1e-15);
        } else {
            mu *= 10.0;
            if mu > 1e6 {
                break;
            }
        }
    }
    (max_abs(&f) < SEARCH_RESIDUAL).then_some(x)
}

/// The fixed points of the d = 1 reduced ODE by search, for any loss: Levenberg-Marquardt
/// (`newton_from`) from the 7^3 starts `P, q, r` in {0, +-0.25, +-0.6, +-0.95}, the roots
/// with `|P|, |q|, |r| <= 1` and not within 1e-4 of `q = r = 0` kept once each (entries
/// below 1e-9 set to zero) and named by their pattern of zeros; plus the resting line at `line_samples` when `q = r = 0` is a
/// fixed point for this loss (it is not, e.g., for a linear logit with latent means). For
/// the quadratic loss it finds the closed form's points (tests).
pub fn fixed_points_d1_search(model: &Model, line_samples: &[f64]) -> Vec<FixedPoint> {
    assert_eq!(model.d(), 1, "fixed_points_d1_search needs d = 1");
    let c = ReducedCoords { d: 1 };
    let mut out = Vec::new();
    if max_abs(&reduced_rhs_coords(model, c, &[0.0, 0.0, 0.0])) < SEARCH_RESIDUAL {
        for &p in line_samples {
            out.push(analyse(
                model,
                FixedPointKind::Resting,
                state_d1(p, 0.0, 0.0),
            ));
        }
    }
    const STARTS: [f64; 7] = [0.0, 0.25, -0.25, 0.6, -0.6, 0.95, -0.95];
    let mut roots: Vec<[f64; 3]> = Vec::new();
    for &p in &STARTS {
        for &q in &STARTS {
            for &r in &STARTS {
                let Some(x) = newton_from(model, c, vec![p, q, r]) else {
                    continue;
                };
                let x: Vec<f64> = x
                    .iter()
                    .map(|&v| if v.abs() < 1e-9 { 0.0 } else { v })
                    .collect();
                let root = [x[0], x[1], x[2]];
                let inside = root.iter().all(|v| v.abs() <= 1.0 + 1e-12);
                // Near the resting line's critical points J is doubly singular and the
                // search stalls at |q|, |r| ~ 1e-6 with a tiny residual: such points are
                // the resting line's, which is listed separately.
                let resting = root[1].abs() < 1e-4 && root[2].abs() < 1e-4;
                let seen = roots
                    .iter()
                    .any(|o| o.iter().zip(&root).all(|(a, b)| (a - b).abs() < 1e-7));
                if inside && !resting && !seen {
                    roots.push(root);
                }
            }
        }
    }
    roots.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .fold(std::cmp::Ordering::Equal, |o, (x, y)| {
                o.then(x.total_cmp(y))
            })
    });
    for [p, q, r] in roots {
        let kind = match (p == 0.0, q == 0.0, r == 0.0) {
            (true, false, true) => FixedPointKind::DiscriminatorOnly,
            (true, true, false) => FixedPointKind::GeneratorTracking,
            _ if (q - p * r).abs() < 1e-9 => FixedPointKind::Coupled,
            _ => FixedPointKind::Other,
        };
        out.push(analyse(model, kind, state_d1(p, q, r)));
    }
    out
}

/// Every fixed point of the d = 1 reduced ODE for the quadratic loss (THEORY §6), with
/// `Lam`, `Lam~` the scalars of the model. Writing `f_P = tau~ Lam~ r (q - P r)`:
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
pub fn fixed_points_d1_closed_form(model: &Model, line_samples: &[f64]) -> Vec<FixedPoint> {
    assert_eq!(model.d(), 1, "fixed_points_d1_closed_form needs d = 1");
    let lam = model.latent().second_moment().matrix()[(0, 0)];
    let lt = model.latent_tilde().second_moment().matrix()[(0, 0)];
    let (tau, tt) = (model.tau(), model.tau_tilde());
    let te = tau * model.eta_sq();
    let a_g = 1.0 - 0.5 * tau * model.eta_g();
    let a_t = 1.0 + 0.5 * tau * model.eta_t();
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

/// The critical overlap `p*` of the d = 1 resting line for any loss: the `|P|` above which
/// the resting point `(P, q = 0, r = 0)` is stable, found by bisection (to 1e-12) on the
/// verdict of its Jacobian's spectrum. None when `q = r = 0` is not a fixed point, or the
/// line is not unstable at `P = 0` and stable at `P = 1` (no single threshold). For the
/// quadratic loss it is Claim 1's `p*` (tests).
pub fn critical_overlap(model: &Model) -> Option<f64> {
    if model.d() != 1 {
        return None;
    }
    let stable = |p: f64| {
        let fp = resting_point(model, &DMat::from_diag(&[p]), &DMat::identity(1));
        (fp.residual < SEARCH_RESIDUAL).then_some(fp.stability != Stability::Unstable)
    };
    if stable(0.0)? || !stable(1.0)? {
        return None;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if stable(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(0.5 * (lo + hi))
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

    /// The resting line's threshold found from the spectrum is Claim 1's p* (to 1e-9) for
    /// the quadratic loss.
    #[test]
    fn critical_overlap_is_claim1_pstar_for_the_quadratic_loss() {
        for (lam, eta) in [(5.0, 2.0), (3.0, 1.0), (5.0, 0.5), (2.0, 1.5)] {
            let m = d1(lam, eta);
            let c = crate::claim1(&m).unwrap();
            let found = critical_overlap(&m);
            if c.modes[0] == crate::ModeStatus::Stable {
                let a = c.p_star[0].unwrap();
                let b = found.unwrap();
                assert!((a - b).abs() < 1e-9, "Lam {lam}, eta {eta}: {a} vs {b}");
            } else {
                // An oscillating or unlearnable mode has no stable box.
                assert_eq!(found, None, "Lam {lam}, eta {eta}: {:?}", c.modes[0]);
            }
        }
    }

    /// The search (Levenberg-Marquardt from a grid of starts) finds exactly the closed
    /// form's fixed points for the quadratic loss, each to 1e-8, and no others.
    #[test]
    fn search_finds_the_closed_form_points_for_the_quadratic_loss() {
        let key = |f: &FixedPoint| (f.kind, f.state.p[(0, 0)], f.state.q[0], f.state.r[0]);
        // (Not eta = 0: there the coupled branch meets the resting line at p* and the
        // closed form lists a point within 1e-8 of it.)
        for (lam, eta) in [(5.0, 2.0), (3.0, 1.0), (5.0, 0.5), (2.0, 3.0), (5.0, 0.1)] {
            let m = d1(lam, eta);
            let exact: Vec<_> = fixed_points_d1_closed_form(&m, &[])
                .iter()
                .map(key)
                .collect();
            let found: Vec<_> = fixed_points_d1_search(&m, &[]).iter().map(key).collect();
            assert!(!exact.is_empty());
            let same = |a: &(FixedPointKind, f64, f64, f64),
                        b: &(FixedPointKind, f64, f64, f64)| {
                a.0 == b.0
                    && (a.1 - b.1).abs() < 1e-8
                    && (a.2 - b.2).abs() < 1e-8
                    && (a.3 - b.3).abs() < 1e-8
            };
            for e in &exact {
                assert!(
                    found.iter().any(|f| same(e, f)),
                    "Lam {lam}, eta {eta}: {e:?} not found in {found:?}"
                );
            }
            for f in &found {
                assert!(
                    exact.iter().any(|e| same(e, f)),
                    "Lam {lam}, eta {eta}: {f:?} is not in the closed form {exact:?}"
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
