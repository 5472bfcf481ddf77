use crate::DMat;
use crate::matrix::dot;
use serde::{Deserialize, Serialize};

/// The macroscopic state of Definitions 1-2: with `X = [U, V, w]` and `U^T U = I_d`,
/// `M = X^T X` holds `P = U^T V` (d x d), `q = U^T w`, `r = V^T w` (d), `S = V^T V` (d x d)
/// and `z = w^T w`.
///
/// Flat layout ([`MacroState::pack`]): `P` row-major, `q`, `r`, `S` row-major, `z`; its length
/// is `2 d^2 + 2 d + 1` and its names are [`MacroState::column_names`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MacroState {
    /// `P = U^T V`: `P[(i, j)]` is the overlap of true feature i with generator column j.
    pub p: DMat,
    /// `q = U^T w`.
    pub q: Vec<f64>,
    /// `r = V^T w`.
    pub r: Vec<f64>,
    /// `S = V^T V`.
    pub s: DMat,
    /// `z = w^T w`.
    pub z: f64,
}

impl MacroState {
    /// The all-zero state of dimension d.
    pub fn zeros(d: usize) -> Self {
        Self {
            p: DMat::zeros(d, d),
            q: vec![0.0; d],
            r: vec![0.0; d],
            s: DMat::zeros(d, d),
            z: 0.0,
        }
    }

    /// The state of vectors with prescribed overlaps `P` (d x d) and `q` whose other
    /// directions are orthogonal (what `hdgan_micro_sim::InitState::build` makes):
    /// `r = P^T q`, `S_jj = s_diag[j]`, `S_jk = P[:, j] . P[:, k]` (j != k), `z = z`.
    pub fn from_overlaps(p: DMat, q: Vec<f64>, s_diag: &[f64], z: f64) -> Self {
        let d = q.len();
        let r = p.t_mul_vec(&q);
        let mut s = p.transpose().matmul(&p);
        for j in 0..d {
            s[(j, j)] = s_diag[j];
        }
        Self { p, q, r, s, z }
    }

    /// [`MacroState::from_overlaps`] with unit norms and `P = p I`, `q = (q, .., q)`: the
    /// start of the Figure 1 runs for p = q = 0.1.
    pub fn diagonal_start(d: usize, p: f64, q: f64) -> Self {
        Self::from_overlaps(DMat::from_diag(&vec![p; d]), vec![q; d], &vec![1.0; d], 1.0)
    }

    /// Number of features d.
    pub fn d(&self) -> usize {
        self.q.len()
    }

    /// Length of the flat layout, `2 d^2 + 2 d + 1`.
    pub fn packed_len(d: usize) -> usize {
        2 * d * d + 2 * d + 1
    }

    /// The feature count d of a flat vector of length `len`, if `len` is a valid length.
    pub fn d_from_packed_len(len: usize) -> Option<usize> {
        (0..=len).find(|&d| Self::packed_len(d) == len)
    }

    /// Writes the flat layout into `out` (length [`MacroState::packed_len`]).
    pub fn pack_into(&self, out: &mut [f64]) {
        let d = self.d();
        assert_eq!(
            out.len(),
            Self::packed_len(d),
            "MacroState::pack_into: wrong length"
        );
        let (p, rest) = out.split_at_mut(d * d);
        p.copy_from_slice(self.p.as_slice());
        let (q, rest) = rest.split_at_mut(d);
        q.copy_from_slice(&self.q);
        let (r, rest) = rest.split_at_mut(d);
        r.copy_from_slice(&self.r);
        let (s, rest) = rest.split_at_mut(d * d);
        s.copy_from_slice(self.s.as_slice());
        rest[0] = self.z;
    }

    /// The flat layout as a new vector.
    pub fn pack(&self) -> Vec<f64> {
        let mut v = vec![0.0; Self::packed_len(self.d())];
        self.pack_into(&mut v);
        v
    }

    /// Reads a state of dimension d from its flat layout. Panics on a length mismatch (a
    /// programming error).
    pub fn unpack(d: usize, flat: &[f64]) -> Self {
        assert_eq!(
            flat.len(),
            Self::packed_len(d),
            "MacroState::unpack: wrong length"
        );
        let dd = d * d;
        Self {
            p: DMat::from_row_major(d, d, flat[..dd].to_vec()),
            q: flat[dd..dd + d].to_vec(),
            r: flat[dd + d..dd + 2 * d].to_vec(),
            s: DMat::from_row_major(d, d, flat[dd + 2 * d..2 * dd + 2 * d].to_vec()),
            z: flat[2 * dd + 2 * d],
        }
    }

    /// Names of the flat-layout entries, 1-based as in the paper: `P11, P12, .., q1, .., r1,
    /// .., S11, .., z`.
    pub fn column_names(d: usize) -> Vec<String> {
        let mut names = Vec::with_capacity(Self::packed_len(d));
        for i in 1..=d {
            for j in 1..=d {
                names.push(format!("P{i}{}", sep(d, j)));
            }
        }
        names.extend((1..=d).map(|i| format!("q{i}")));
        names.extend((1..=d).map(|i| format!("r{i}")));
        for i in 1..=d {
            for j in 1..=d {
                names.push(format!("S{i}{}", sep(d, j)));
            }
        }
        names.push("z".to_owned());
        names
    }

    /// Cosine between true feature i and generator column j: `P_ij / sqrt(S_jj)` (Figure 1).
    pub fn p_cosine(&self, i: usize, j: usize) -> f64 {
        self.p[(i, j)] / self.s[(j, j)].sqrt()
    }

    /// Cosine between true feature i and the discriminator: `q_i / sqrt(z)` (Figure 1).
    pub fn q_cosine(&self, i: usize) -> f64 {
        self.q[i] / self.z.sqrt()
    }

    /// The full Gram matrix `M = X^T X` ((2d+1) x (2d+1)), with `U^T U = I_d`.
    pub fn gram(&self) -> DMat {
        let d = self.d();
        let m = 2 * d + 1;
        let mut g = DMat::zeros(m, m);
        for i in 0..d {
            g[(i, i)] = 1.0;
            for j in 0..d {
                g[(i, d + j)] = self.p[(i, j)];
                g[(d + j, i)] = self.p[(i, j)];
                g[(d + i, d + j)] = self.s[(i, j)];
            }
            g[(i, 2 * d)] = self.q[i];
            g[(2 * d, i)] = self.q[i];
            g[(d + i, 2 * d)] = self.r[i];
            g[(2 * d, d + i)] = self.r[i];
        }
        g[(2 * d, 2 * d)] = self.z;
        g
    }

    /// Frobenius norm of `M - other` over the whole Gram matrix (the norm of Theorem 1).
    pub fn gram_distance(&self, other: &MacroState) -> f64 {
        let a = self.gram();
        let b = other.gram();
        a.as_slice()
            .iter()
            .zip(b.as_slice())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt()
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.p.as_slice().iter().all(|x| x.is_finite())
            && self.q.iter().all(|x| x.is_finite())
            && self.r.iter().all(|x| x.is_finite())
            && self.s.as_slice().iter().all(|x| x.is_finite())
            && self.z.is_finite()
    }

    /// `q^T A q` for a d x d matrix A (e.g. `q^T Lam q`).
    pub fn q_form(&self, a: &DMat) -> f64 {
        dot(&self.q, &a.mul_vec(&self.q))
    }
}

/// Separator for two-index names: none while every index is one digit, `_` otherwise, so
/// that `P1_12` and `P11_2` cannot be confused.
fn sep(d: usize, j: usize) -> String {
    if d < 10 {
        j.to_string()
    } else {
        format!("_{j}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_state(d: usize) -> impl Strategy<Value = MacroState> {
        prop::collection::vec(-10.0f64..10.0, MacroState::packed_len(d)).prop_map(move |v| {
            let mut s = MacroState::unpack(d, &v);
            s.s = DMat::from_row_major(
                d,
                d,
                (0..d * d)
                    .map(|k| s.s[(k / d, k % d)] + s.s[(k % d, k / d)])
                    .collect(),
            );
            s
        })
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trip(d in 1usize..5, seed in any::<u64>()) {
            let len = MacroState::packed_len(d);
            let v: Vec<f64> = (0..len).map(|k| ((seed.wrapping_add(k as u64)) % 1000) as f64 / 7.0).collect();
            let s = MacroState::unpack(d, &v);
            prop_assert_eq!(s.pack(), v);
            prop_assert_eq!(MacroState::d_from_packed_len(len), Some(d));
            prop_assert_eq!(MacroState::column_names(d).len(), len);
        }

        #[test]
        fn gram_is_symmetric_and_holds_the_blocks(s in arb_state(3)) {
            let g = s.gram();
            prop_assert!(g.max_abs_diff(&g.transpose()) == 0.0);
            prop_assert!((g[(1, 3 + 2)] - s.p[(1, 2)]).abs() == 0.0);
            prop_assert!((g[(6, 0)] - s.q[0]).abs() == 0.0);
            prop_assert!(s.gram_distance(&s) == 0.0);
        }
    }

    #[test]
    fn names_follow_the_paper() {
        assert_eq!(
            MacroState::column_names(2),
            [
                "P11", "P12", "P21", "P22", "q1", "q2", "r1", "r2", "S11", "S12", "S21", "S22", "z"
            ]
        );
        assert_eq!(MacroState::column_names(1), ["P11", "q1", "r1", "S11", "z"]);
    }

    #[test]
    fn cosines_normalise_by_norms() {
        let mut s = MacroState::zeros(1);
        s.p[(0, 0)] = 1.0;
        s.s[(0, 0)] = 4.0;
        s.q[0] = 3.0;
        s.z = 9.0;
        assert!((s.p_cosine(0, 0) - 0.5).abs() < 1e-15);
        assert!((s.q_cosine(0) - 1.0).abs() < 1e-15);
    }
}
