use crate::{DMat, MacroState};
use serde::{Deserialize, Serialize};

/// The macroscopic state with a p-feature discriminator `W` (n x p, THEORY §8): with
/// `X = [U, V, W]` and `U^T U = I_d`, `X^T X` holds `P = U^T V` (d x d), `Q = U^T W`
/// (d x p), `R = V^T W` (d x p), `S = V^T V` (d x d) and `Z = W^T W` (p x p). For p = 1 it
/// is [`MacroState`] (`Q = q`, `R = r`, `Z = z`).
///
/// Flat layout ([`MultiState::pack`]): `P`, `Q`, `R`, `S`, `Z`, each row-major; length
/// `2 d^2 + 2 d p + p^2`; names from [`MultiState::column_names`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiState {
    /// `P = U^T V`.
    pub p: DMat,
    /// `Q = U^T W`: `Q[(i, k)]` is the overlap of true feature i with discriminator
    /// feature k.
    pub q: DMat,
    /// `R = V^T W`.
    pub r: DMat,
    /// `S = V^T V`.
    pub s: DMat,
    /// `Z = W^T W`.
    pub z: DMat,
}

/// The inverse of the upper Cholesky factor `R` (`R^T R = a`, `R` upper triangular with
/// positive diagonal) of a symmetric positive definite `a`; None if `a` is not.
fn inverse_cholesky_upper(a: &DMat) -> Option<DMat> {
    let n = a.rows();
    let mut r = DMat::zeros(n, n);
    for i in 0..n {
        for j in i..n {
            let s: f64 = a[(i, j)] - (0..i).map(|k| r[(k, i)] * r[(k, j)]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                r[(i, i)] = s.sqrt();
            } else {
                r[(i, j)] = s / r[(i, i)];
            }
        }
    }
    // Back substitution for R^-1 (upper triangular).
    let mut inv = DMat::zeros(n, n);
    for j in 0..n {
        inv[(j, j)] = 1.0 / r[(j, j)];
        for i in (0..j).rev() {
            let s: f64 = ((i + 1)..=j).map(|k| r[(i, k)] * inv[(k, j)]).sum();
            inv[(i, j)] = -s / r[(i, i)];
        }
    }
    Some(inv)
}

impl MultiState {
    /// The overlaps after Gram-Schmidt of the columns of `V` and of `W` in column order
    /// (the Q factors of their QR decompositions, whose R factors are the upper Cholesky
    /// factors of `S` and `Z`): `P R_V^-1`, `Q R_W^-1`, `R_V^-T R R_W^-1`, `S = Z = I`.
    /// None if `S` or `Z` is not positive definite.
    pub fn orthonormalized(&self) -> Option<Self> {
        let iv = inverse_cholesky_upper(&self.s)?;
        let iw = inverse_cholesky_upper(&self.z)?;
        Some(Self {
            p: self.p.matmul(&iv),
            q: self.q.matmul(&iw),
            r: iv.transpose().matmul(&self.r).matmul(&iw),
            s: DMat::identity(self.d()),
            z: DMat::identity(self.p_features()),
        })
    }

    /// The all-zero state with d features and p discriminator features.
    pub fn zeros(d: usize, p: usize) -> Self {
        Self {
            p: DMat::zeros(d, d),
            q: DMat::zeros(d, p),
            r: DMat::zeros(d, p),
            s: DMat::zeros(d, d),
            z: DMat::zeros(p, p),
        }
    }

    /// The state of vectors with prescribed overlaps `P0` (d x d) and `Q0` (d x p), unit
    /// column norms and otherwise orthogonal random directions: `R = P0^T Q0`,
    /// `S = P0^T P0` off the diagonal, `Z = Q0^T Q0` off the diagonal, unit diagonals.
    pub fn from_overlaps(p0: DMat, q0: DMat) -> Self {
        let r = p0.transpose().matmul(&q0);
        let mut s = p0.transpose().matmul(&p0);
        let mut z = q0.transpose().matmul(&q0);
        for j in 0..s.rows() {
            s[(j, j)] = 1.0;
        }
        for k in 0..z.rows() {
            z[(k, k)] = 1.0;
        }
        Self {
            p: p0,
            q: q0,
            r,
            s,
            z,
        }
    }

    /// The p = 1 state as a [`MultiState`].
    pub fn from_single(m: &MacroState) -> Self {
        let d = m.d();
        Self {
            p: m.p.clone(),
            q: DMat::from_row_major(d, 1, m.q.clone()),
            r: DMat::from_row_major(d, 1, m.r.clone()),
            s: m.s.clone(),
            z: DMat::from_row_major(1, 1, vec![m.z]),
        }
    }

    /// The single-feature state, when p = 1.
    pub fn to_single(&self) -> Option<MacroState> {
        (self.p_features() == 1).then(|| MacroState {
            p: self.p.clone(),
            q: self.q.as_slice().to_vec(),
            r: self.r.as_slice().to_vec(),
            s: self.s.clone(),
            z: self.z[(0, 0)],
        })
    }

    /// Number of features d.
    pub fn d(&self) -> usize {
        self.p.rows()
    }

    /// Number of discriminator features p.
    pub fn p_features(&self) -> usize {
        self.z.rows()
    }

    /// Length of the flat layout, `2 d^2 + 2 d p + p^2`.
    pub fn packed_len(d: usize, p: usize) -> usize {
        2 * d * d + 2 * d * p + p * p
    }

    /// The flat layout.
    pub fn pack(&self) -> Vec<f64> {
        let mut v = Vec::with_capacity(Self::packed_len(self.d(), self.p_features()));
        for m in [&self.p, &self.q, &self.r, &self.s, &self.z] {
            v.extend_from_slice(m.as_slice());
        }
        v
    }

    /// Reads a state from its flat layout. Panics on a length mismatch (a programming
    /// error).
    pub fn unpack(d: usize, p: usize, flat: &[f64]) -> Self {
        assert_eq!(
            flat.len(),
            Self::packed_len(d, p),
            "MultiState::unpack: wrong length"
        );
        let mut at = 0;
        let mut take = |r: usize, c: usize| {
            let m = DMat::from_row_major(r, c, flat[at..at + r * c].to_vec());
            at += r * c;
            m
        };
        Self {
            p: take(d, d),
            q: take(d, p),
            r: take(d, p),
            s: take(d, d),
            z: take(p, p),
        }
    }

    /// Names of the flat-layout entries, 1-based: `P11, .., Q11, .., R11, .., S11, ..,
    /// Z11, ..` (with `_` between indices once one of them has two digits).
    pub fn column_names(d: usize, p: usize) -> Vec<String> {
        let two = |name: &str, r: usize, c: usize| -> Vec<String> {
            let sep = if r < 10 && c < 10 { "" } else { "_" };
            (1..=r)
                .flat_map(|i| (1..=c).map(move |j| (i, j)))
                .map(|(i, j)| format!("{name}{i}{sep}{j}"))
                .collect()
        };
        let mut v = two("P", d, d);
        v.extend(two("Q", d, p));
        v.extend(two("R", d, p));
        v.extend(two("S", d, d));
        v.extend(two("Z", p, p));
        v
    }

    /// Cosine between true feature i and generator column j, `P_ij / sqrt(S_jj)`.
    pub fn p_cosine(&self, i: usize, j: usize) -> f64 {
        self.p[(i, j)] / self.s[(j, j)].sqrt()
    }

    /// Cosine between true feature i and discriminator feature k, `Q_ik / sqrt(Z_kk)`.
    pub fn q_cosine(&self, i: usize, k: usize) -> f64 {
        self.q[(i, k)] / self.z[(k, k)].sqrt()
    }

    /// The Gram matrix `X^T X` ((2d + p) x (2d + p)), with `U^T U = I_d`.
    pub fn gram(&self) -> DMat {
        let (d, p) = (self.d(), self.p_features());
        let m = 2 * d + p;
        let mut g = DMat::zeros(m, m);
        let mut put = |r0: usize, c0: usize, b: &DMat| {
            for i in 0..b.rows() {
                for j in 0..b.cols() {
                    g[(r0 + i, c0 + j)] = b[(i, j)];
                    g[(c0 + j, r0 + i)] = b[(i, j)];
                }
            }
        };
        put(0, 0, &DMat::identity(d));
        put(0, d, &self.p);
        put(0, 2 * d, &self.q);
        put(d, d, &self.s);
        put(d, 2 * d, &self.r);
        put(2 * d, 2 * d, &self.z);
        g
    }

    /// Frobenius norm of the difference of the Gram matrices.
    pub fn gram_distance(&self, other: &Self) -> f64 {
        self.gram()
            .as_slice()
            .iter()
            .zip(other.gram().as_slice())
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f64>()
            .sqrt()
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.pack().iter().all(|x| x.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column-major n x k vectors from a deterministic sequence.
    fn vectors(n: usize, k: usize, seed: f64) -> Vec<f64> {
        // A quadratic phase: a plain sinusoid would put every column in one plane.
        (0..n * k)
            .map(|i| ((i * i) as f64 * seed + i as f64).sin())
            .collect()
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Gram-Schmidt of the vectors themselves (in column order) and `orthonormalized` of
    /// their overlaps agree to 1e-12 (d = 3, p = 2, n = 40).
    #[test]
    fn orthonormalized_is_gram_schmidt_of_the_vectors() {
        let n = 40;
        let gs = |a: &mut Vec<f64>| {
            let k = a.len() / n;
            for j in 0..k {
                for i in 0..j {
                    let (lo, hi) = a.split_at_mut(j * n);
                    let c = dot(&lo[i * n..(i + 1) * n], &hi[..n]);
                    for t in 0..n {
                        hi[t] -= c * lo[i * n + t];
                    }
                }
                let nn = dot(&a[j * n..(j + 1) * n], &a[j * n..(j + 1) * n]).sqrt();
                for t in 0..n {
                    a[j * n + t] /= nn;
                }
            }
        };
        let mut u = vectors(n, 3, 0.7);
        gs(&mut u);
        let (mut v, mut w) = (vectors(n, 3, 1.3), vectors(n, 2, 2.9));
        let overlaps = |v: &[f64], w: &[f64]| {
            let g = |a: &[f64], b: &[f64], ra: usize, cb: usize| {
                let mut m = DMat::zeros(ra, cb);
                for i in 0..ra {
                    for j in 0..cb {
                        m[(i, j)] = dot(&a[i * n..(i + 1) * n], &b[j * n..(j + 1) * n]);
                    }
                }
                m
            };
            MultiState {
                p: g(&u, v, 3, 3),
                q: g(&u, w, 3, 2),
                r: g(v, w, 3, 2),
                s: g(v, v, 3, 3),
                z: g(w, w, 2, 2),
            }
        };
        let before = overlaps(&v, &w);
        gs(&mut v);
        gs(&mut w);
        let after = overlaps(&v, &w);
        let got = before.orthonormalized().unwrap();
        assert!(got.gram().max_abs_diff(&after.gram()) < 1e-12);
    }

    #[test]
    fn round_trips_and_names() {
        let (d, p) = (2, 3);
        let v: Vec<f64> = (0..MultiState::packed_len(d, p))
            .map(|k| k as f64)
            .collect();
        let s = MultiState::unpack(d, p, &v);
        assert_eq!(s.pack(), v);
        let names = MultiState::column_names(d, p);
        assert_eq!(names.len(), v.len());
        assert_eq!(&names[4..7], ["Q11", "Q12", "Q13"]);
        assert_eq!(names.last().unwrap(), "Z33");
        assert_eq!((s.d(), s.p_features()), (2, 3));
    }

    #[test]
    fn single_feature_round_trip_and_gram() {
        let m = MacroState::diagonal_start(2, 0.1, 0.2);
        let s = MultiState::from_single(&m);
        assert_eq!(s.to_single().unwrap(), m);
        assert!(s.gram().max_abs_diff(&m.gram()) < 1e-15);
        assert!(s.gram_distance(&s) < 1e-15);
        let o = MultiState::from_overlaps(
            DMat::from_diag(&[0.1, 0.1]),
            DMat::from_row_major(2, 1, m.q.clone()),
        );
        assert!(o.gram().max_abs_diff(&m.gram()) < 1e-15);
    }
}
