//! Tabulated Gaussian averages of a loss for zero-mean latent classes.
//!
//! For a class with mean zero the score `x = c^T q + e sqrt(z eta)` is `N(0, s^2)` and the
//! averages the ODE needs reduce to two functions of `s` alone, `B(s) = E[f'(s T)]` and
//! `C(s) = E[f(s T)^2]` (`E[f]` is multiplied by the zero mean). They are tabulated once per
//! loss and thread as piecewise Chebyshev interpolants on geometric intervals of `s`, each
//! verified against the quadrature at points between its nodes to [`TABLE_TOL`]; an interval
//! that misses it is halved. Outside `[S_MIN, S_MAX]` the caller uses the quadrature.
//!
//! The averages are analytic in `s` in a sector around the positive axis (the poles of `f`
//! bound its angle), so an interval `[s0, 1.25 s0]` is inside a Bernstein ellipse of ratio
//! 5..10 and 24 nodes reach round-off.

use crate::quadrature::{QUADRATURE, gaussian_average};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Smallest tabulated `s` (below it, the quadrature).
pub(crate) const S_MIN: f64 = 1e-3;
/// Largest tabulated `s`.
pub(crate) const S_MAX: f64 = 100.0;
/// Ratio of the geometric intervals before any halving.
const RATIO: f64 = 1.25;
/// Chebyshev nodes per interval.
const NODES: usize = 24;
/// Largest error allowed at the check points, relative to `1 + |value|`.
pub(crate) const TABLE_TOL: f64 = 1e-13;
/// Most halvings of an interval.
const MAX_DEPTH: usize = 6;

/// One interval's Chebyshev coefficients of `B` and `C`.
#[derive(Clone, Debug)]
struct Piece {
    lo: f64,
    hi: f64,
    coef: [[f64; NODES]; 2],
}

impl Piece {
    /// Interpolates `phi` at the Chebyshev points of `[lo, hi]`.
    fn fit(phi: &dyn Fn(f64) -> [f64; 2], lo: f64, hi: f64) -> Self {
        let n = NODES;
        let mut vals = [[0.0; NODES]; 2];
        for k in 0..n {
            let t = (std::f64::consts::PI * (k as f64 + 0.5) / n as f64).cos();
            let v = phi(0.5 * (lo + hi) + 0.5 * (hi - lo) * t);
            vals[0][k] = v[0];
            vals[1][k] = v[1];
        }
        let mut coef = [[0.0; NODES]; 2];
        for (c, v) in coef.iter_mut().zip(&vals) {
            for (j, cj) in c.iter_mut().enumerate() {
                let s: f64 = (0..n)
                    .map(|k| {
                        v[k] * (std::f64::consts::PI * j as f64 * (k as f64 + 0.5) / n as f64).cos()
                    })
                    .sum();
                *cj = s * 2.0 / n as f64;
            }
            c[0] *= 0.5;
        }
        Piece { lo, hi, coef }
    }

    fn eval(&self, s: f64) -> [f64; 2] {
        let t = (2.0 * s - self.lo - self.hi) / (self.hi - self.lo);
        self.coef.map(|c| {
            // Clenshaw.
            let (mut b1, mut b2) = (0.0, 0.0);
            for &ck in c.iter().rev().take(NODES - 1) {
                let b0 = 2.0 * t * b1 - b2 + ck;
                b2 = b1;
                b1 = b0;
            }
            t * b1 - b2 + c[0]
        })
    }

    /// Largest error against `phi` at the midpoints between neighbouring nodes.
    fn error(&self, phi: &dyn Fn(f64) -> [f64; 2]) -> f64 {
        let n = NODES;
        (0..n)
            .step_by(3)
            .map(|k| {
                let t = (std::f64::consts::PI * (k as f64 + 1.0) / n as f64).cos();
                let s = 0.5 * (self.lo + self.hi) + 0.5 * (self.hi - self.lo) * t;
                let (a, b) = (self.eval(s), phi(s));
                (0..2)
                    .map(|i| (a[i] - b[i]).abs() / (1.0 + b[i].abs()))
                    .fold(0.0, f64::max)
            })
            .fold(0.0, f64::max)
    }
}

/// `B(s) = E[f'(s T)]` and `C(s) = E[f(s T)^2]` of one function `f` on `[S_MIN, S_MAX]`.
#[derive(Clone, Debug)]
pub(crate) struct SideTable {
    /// For each geometric interval, its pieces (more than one where it was halved).
    intervals: Vec<Vec<Piece>>,
}

impl SideTable {
    /// Tabulates `f` (with derivative `fp`); None if an interval cannot reach
    /// [`TABLE_TOL`] after [`MAX_DEPTH`] halvings (averages not smooth enough in `s`: the
    /// quadrature is then used throughout).
    pub(crate) fn build(f: &dyn Fn(f64) -> f64, fp: &dyn Fn(f64) -> f64) -> Option<Self> {
        let phi = |s: f64| {
            let [b, c] = gaussian_average(
                &|x| {
                    let v = f(x);
                    [fp(x), v * v]
                },
                0.0,
                s,
                QUADRATURE,
            );
            [b, c]
        };
        let count = ((S_MAX / S_MIN).ln() / RATIO.ln()).ceil() as usize;
        let intervals = (0..count)
            .map(|k| {
                let lo = S_MIN * RATIO.powi(k as i32);
                let hi = (lo * RATIO).min(S_MAX * (1.0 + 1e-12));
                let mut out = Vec::new();
                fit_into(&phi, lo, hi, 0, &mut out).then_some(out)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(SideTable { intervals })
    }

    /// `[B(s), C(s)]`, or None outside `[S_MIN, S_MAX]`.
    pub(crate) fn eval(&self, s: f64) -> Option<[f64; 2]> {
        if !(S_MIN..=S_MAX).contains(&s) {
            return None;
        }
        let k = (((s / S_MIN).ln() / RATIO.ln()) as usize).min(self.intervals.len() - 1);
        let pieces = &self.intervals[k];
        // Rounding of the logarithm may land on a neighbour; the pieces cover [lo, hi].
        let piece = pieces
            .iter()
            .find(|p| s <= p.hi)
            .unwrap_or(&pieces[pieces.len() - 1]);
        Some(piece.eval(s))
    }
}

/// Fits `[lo, hi]` into `out`, halving where the check fails; false if it still fails at
/// [`MAX_DEPTH`].
fn fit_into(
    phi: &dyn Fn(f64) -> [f64; 2],
    lo: f64,
    hi: f64,
    depth: usize,
    out: &mut Vec<Piece>,
) -> bool {
    let p = Piece::fit(phi, lo, hi);
    if p.error(phi) <= TABLE_TOL {
        out.push(p);
        true
    } else if depth < MAX_DEPTH {
        let mid = 0.5 * (lo + hi);
        fit_into(phi, lo, mid, depth + 1, out) && fit_into(phi, mid, hi, depth + 1, out)
    } else {
        false
    }
}

/// The tables of one loss: `f` on the real side, `f~` on the generated side.
#[derive(Debug)]
pub(crate) struct LossTables {
    pub(crate) real: SideTable,
    pub(crate) fake: SideTable,
}

/// Tables by [`crate::DiscriminatorLoss::table_key`] (None: the loss could not be
/// tabulated).
type Cache = HashMap<(u8, u64), Option<Rc<LossTables>>>;

thread_local! {
    /// This thread's tables.
    static TABLES: RefCell<Cache> = RefCell::default();
}

/// The tables of the loss with `key`, built by `build` on this thread's first request.
pub(crate) fn tables_for(
    key: (u8, u64),
    build: impl FnOnce() -> Option<LossTables>,
) -> Option<Rc<LossTables>> {
    if let Some(t) = TABLES.with(|m| m.borrow().get(&key).cloned()) {
        return t;
    }
    let t = build().map(Rc::new);
    TABLES.with(|m| m.borrow_mut().insert(key, t.clone()));
    t
}
