//! The empirical measure `mu_k` of the scaled rows `(u^_i, v^_i, w^_i)` (THEORY §5).

use hdgan_core::MacroState;
use hdgan_micro_sim::MicroState;

/// A sample `(v^, w^)` of the conditional law given `u^` (d = 1).
pub type Row = [f64; 2];

/// The scaled rows `sqrt(n) ([U]_i, [V]_i, [w]_i)` of a microscopic state, each of length
/// `2d + 1` (u^ first, then v^, then w^).
#[derive(Clone, Debug, PartialEq)]
pub struct EmpiricalMeasure {
    d: usize,
    rows: Vec<f64>,
}

impl EmpiricalMeasure {
    /// The measure of `x`'s rows.
    pub fn from_state(x: &MicroState) -> Self {
        let (n, d) = (x.n, x.d);
        let sq = (n as f64).sqrt();
        let m = 2 * d + 1;
        let mut rows = vec![0.0; n * m];
        for i in 0..n {
            for j in 0..d {
                rows[i * m + j] = sq * x.u[j * n + i];
                rows[i * m + d + j] = sq * x.v[j * n + i];
            }
            rows[i * m + 2 * d] = sq * x.w[i];
        }
        Self { d, rows }
    }

    /// Number of rows n.
    pub fn len(&self) -> usize {
        self.rows.len() / (2 * self.d + 1)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Row i: `(u^_1..u^_d, v^_1..v^_d, w^)`.
    pub fn row(&self, i: usize) -> &[f64] {
        let m = 2 * self.d + 1;
        &self.rows[i * m..(i + 1) * m]
    }

    /// The moments `<mu, u^ v^^T>`, `<mu, u^ w^>`, ... as a [`MacroState`]: they equal the
    /// macroscopic state of the rows' vectors (THEORY §5: `P = <mu, u^ v^^T>` etc.).
    pub fn moments(&self) -> MacroState {
        let d = self.d;
        let n = self.len() as f64;
        let mut s = MacroState::zeros(d);
        for i in 0..self.len() {
            let r = self.row(i);
            let (u, v, w) = (&r[..d], &r[d..2 * d], r[2 * d]);
            for a in 0..d {
                for b in 0..d {
                    s.p[(a, b)] += u[a] * v[b] / n;
                    s.s[(a, b)] += v[a] * v[b] / n;
                }
                s.q[a] += u[a] * w / n;
                s.r[a] += v[a] * w / n;
            }
            s.z += w * w / n;
        }
        s
    }

    /// d = 1: the samples `(v^, w^)` of rows with `|u^ - u| <= tol` (the conditional measure
    /// given `u^ = u`; with constant features every row has `u^ = 1`).
    pub fn conditional(&self, u: f64, tol: f64) -> Vec<Row> {
        assert_eq!(self.d, 1, "conditional() is for d = 1");
        (0..self.len())
            .map(|i| self.row(i))
            .filter(|r| (r[0] - u).abs() <= tol)
            .map(|r| [r[1], r[2]])
            .collect()
    }

    /// d = 1: the rows grouped by `u^` into the bins `[edges[k], edges[k + 1])`.
    pub fn binned(&self, edges: &[f64]) -> Vec<Vec<Row>> {
        assert_eq!(self.d, 1, "binned() is for d = 1");
        let mut out = vec![Vec::new(); edges.len().saturating_sub(1)];
        for i in 0..self.len() {
            let r = self.row(i);
            if let Some(k) = edges.windows(2).position(|e| r[0] >= e[0] && r[0] < e[1]) {
                out[k].push([r[1], r[2]]);
            }
        }
        out
    }
}

/// Mean and covariance of 2-D samples.
pub fn sample_moments(rows: &[Row]) -> ([f64; 2], [[f64; 2]; 2]) {
    let n = rows.len() as f64;
    let mut m = [0.0; 2];
    for r in rows {
        m[0] += r[0] / n;
        m[1] += r[1] / n;
    }
    let mut c = [[0.0; 2]; 2];
    for r in rows {
        let d = [r[0] - m[0], r[1] - m[1]];
        for a in 0..2 {
            for b in 0..2 {
                c[a][b] += d[a] * d[b] / n;
            }
        }
    }
    (m, c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_core::DMat;
    use hdgan_micro_sim::{Features, InitState};
    use hdgan_model::random::stream_rng;

    #[test]
    fn moments_are_the_macroscopic_state() {
        let init = InitState {
            p0: DMat::from_rows(&[vec![0.3, 0.1], vec![0.0, 0.2]]).unwrap(),
            q0: vec![0.2, -0.1],
            s0_diag: vec![1.0, 1.0],
            z0: 1.0,
            features: Features::Random,
            row_cov: None,
            q0_cols: None,
        };
        let x = init.build(300, &mut stream_rng(1, 0));
        let mu = EmpiricalMeasure::from_state(&x);
        assert!(mu.moments().gram_distance(&x.macro_state()) < 1e-12);
    }

    #[test]
    fn constant_features_condition_on_one() {
        let init = InitState {
            p0: DMat::from_diag(&[0.2]),
            q0: vec![0.1],
            s0_diag: vec![1.0],
            z0: 1.0,
            features: Features::Constant,
            row_cov: None,
            q0_cols: None,
        };
        let x = init.build(100, &mut stream_rng(1, 0));
        let mu = EmpiricalMeasure::from_state(&x);
        assert_eq!(mu.conditional(1.0, 1e-9).len(), 100);
        assert_eq!(mu.binned(&[0.5, 1.5]).first().map(Vec::len), Some(100));
    }
}
