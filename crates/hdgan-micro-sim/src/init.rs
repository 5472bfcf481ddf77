use crate::normal::fill_normals;
use hdgan_core::{DMat, MacroState, MultiState, SymPsd};
use hdgan_model::random::SimRng;
use serde::{Deserialize, Serialize};

/// How the true features `U` are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Features {
    /// A uniformly random orthonormal n x d matrix.
    #[default]
    Random,
    /// d = 1 only: every entry of U equals `1/sqrt(n)` (Figure 2's setting, `u^ = 1`).
    Constant,
}

/// A validated initial state, prescribed through its overlaps (build it with
/// [`crate::InitConfig::validate`]).
#[derive(Clone, Debug, PartialEq)]
pub struct InitState {
    /// `P0 = U^T V_0`.
    pub p0: DMat,
    /// `q0 = U^T w_0`.
    pub q0: Vec<f64>,
    /// Squared column norms of `V_0`.
    pub s0_diag: Vec<f64>,
    /// Squared norm of `w_0`.
    pub z0: f64,
    /// How `U` is drawn.
    pub features: Features,
    /// Covariance of the Gaussian initial rows (see [`crate::InitConfig::row_cov`]).
    pub row_cov: Option<SymPsd>,
    /// `Q0 = U^T W_0` (d x p) for a p-feature discriminator (see
    /// [`crate::InitConfig::q0_cols`]); `None` for p = 1.
    pub q0_cols: Option<DMat>,
}

/// The microscopic state `X = [U, V, w]`: `U` and `V` are n x d, stored column by column
/// (column j of U is `u[j*n..(j+1)*n]`), `w` is an n-vector.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MicroState {
    /// Ambient dimension.
    pub n: usize,
    /// Number of features.
    pub d: usize,
    /// True features, column-major, `U^T U = I_d`.
    pub u: Vec<f64>,
    /// Generator weights, column-major.
    pub v: Vec<f64>,
    /// Discriminator weights.
    pub w: Vec<f64>,
}

impl InitState {
    /// The macroscopic state that [`InitState::build`] produces (exactly, up to round-off):
    /// `P = P0`, `q = q0`, `r = P0^T q0`, `S_jj = S0_jj`, `S_jk = P0[:, j] . P0[:, k]`, `z = z0`.
    /// This is the natural initial condition of the ODE for this initial state.
    /// With Gaussian rows these are the expected overlaps: `r = P0^T q0 + C_vw`,
    /// `S = P0^T P0 + C_vv`, `z = |q0|^2 + C_ww`.
    pub fn macro_state(&self) -> MacroState {
        let mut s =
            MacroState::from_overlaps(self.p0.clone(), self.q0.clone(), &self.s0_diag, self.z0);
        if let Some(c) = &self.row_cov {
            let (cm, d) = (c.matrix(), self.q0.len());
            for j in 0..d {
                s.r[j] += cm[(j, d)];
                for k in 0..d {
                    if j != k {
                        s.s[(j, k)] += cm[(j, k)];
                    }
                }
            }
        }
        s
    }

    /// Builds `X_0` in O(n d^2): draw `2d + 1` Gaussian n-vectors (or the constant vector
    /// for U), orthonormalise them (Gram-Schmidt, twice), take the first d as `U` and the
    /// others as directions `e_j`, `e_w` orthogonal to `U` and to each other, then
    ///
    /// `V_j = U P0[:, j] + sqrt(S0_jj - |P0[:, j]|^2) e_j`,  `w = U q0 + sqrt(z0 - |q0|^2) e_w`.
    ///
    /// Hence `P = P0`, `q = q0`, `diag S = S0`, `z = z0` exactly (to round-off), and
    /// `r = P0^T q0`, `S_jk = P0[:, j] . P0[:, k]` for j != k.
    pub fn build(&self, n: usize, rng: &mut SimRng) -> MicroState {
        if let Some(c) = &self.row_cov {
            return self.build_gaussian_rows(n, c, rng);
        }
        let q0 = DMat::from_row_major(self.q0.len(), 1, self.q0.clone());
        let (u, v, w) = self.frame(n, &q0, rng);
        let d = self.q0.len();
        MicroState { n, d, u, v, w }
    }
}

impl InitState {
    /// `U^T W_0` for a p-feature discriminator: `q0_cols` when given, else `q0` as one
    /// column.
    pub fn q0_matrix(&self) -> DMat {
        self.q0_cols
            .clone()
            .unwrap_or_else(|| DMat::from_row_major(self.q0.len(), 1, self.q0.clone()))
    }

    /// The multi-feature state that [`InitState::build_multi`] produces: `P = P0`,
    /// `Q = Q0`, `R = P0^T Q0`, `S_jk = P0[:, j] . P0[:, k]` (j != k), `diag S = S0`,
    /// `Z_kl = Q0[:, k] . Q0[:, l]` (k != l), `diag Z = z0`.
    pub fn multi_state(&self) -> MultiState {
        let mut s = MultiState::from_overlaps(self.p0.clone(), self.q0_matrix());
        for (j, &sj) in self.s0_diag.iter().enumerate() {
            s.s[(j, j)] = sj;
        }
        for k in 0..s.p_features() {
            s.z[(k, k)] = self.z0;
        }
        s
    }

    /// Builds `U`, `V` and the p columns of `W_0` (column-major) exactly as
    /// [`InitState::build`] builds `w`, column by column: `W_k = U Q0[:, k] +
    /// sqrt(z0 - |Q0[:, k]|^2) f_k` with `f_k` orthonormal and orthogonal to `U` and the
    /// generator's directions. Hits [`InitState::multi_state`] to round-off.
    pub fn build_multi(&self, n: usize, rng: &mut SimRng) -> (MicroState, Vec<f64>) {
        let (u, v, w) = self.frame(n, &self.q0_matrix(), rng);
        let d = self.q0.len();
        let w0 = w[..n].to_vec();
        (MicroState { n, d, u, v, w: w0 }, w)
    }

    /// The shared frame of [`InitState::build`] and [`InitState::build_multi`]: draw
    /// `2d + p` Gaussian n-vectors (the first one constant for `features = "constant"`),
    /// orthonormalise (Gram-Schmidt, twice), and place `V_j`, `W_k` on them.
    fn frame(&self, n: usize, q0: &DMat, rng: &mut SimRng) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (d, p) = (q0.rows(), q0.cols());
        let m = 2 * d + p;
        assert!(
            n >= m,
            "InitState::build: n = {n} < 2d + p = {m} (validated configs never do this)"
        );
        let mut basis = vec![0.0; n * m];
        for (k, col) in basis.chunks_exact_mut(n).enumerate() {
            if k == 0 && self.features == Features::Constant {
                col.fill(1.0);
            } else {
                fill_normals(rng, col);
            }
        }
        orthonormalize(&mut basis, n, m);
        let col = |k: usize| &basis[k * n..(k + 1) * n];
        // Column j of `target` = U coef[:, j] + sqrt(norm_sq_j - |coef[:, j]|^2) e_{first + j}.
        let place = |coef: &DMat, norm_sq: &[f64], first: usize| -> Vec<f64> {
            let mut out = vec![0.0; coef.cols() * n];
            for (j, vj) in out.chunks_exact_mut(n).enumerate() {
                let cj: Vec<f64> = (0..d).map(|i| coef[(i, j)]).collect();
                let rest = (norm_sq[j] - cj.iter().map(|x| x * x).sum::<f64>())
                    .max(0.0)
                    .sqrt();
                for (i, &ci) in cj.iter().enumerate() {
                    for (a, b) in vj.iter_mut().zip(col(i)) {
                        *a += ci * b;
                    }
                }
                for (a, b) in vj.iter_mut().zip(col(first + j)) {
                    *a += rest * b;
                }
            }
            out
        };
        let u = basis[..d * n].to_vec();
        let v = place(&self.p0, &self.s0_diag, d);
        let w = place(q0, &vec![self.z0; p], 2 * d);
        (u, v, w)
    }
}

impl InitState {
    /// Gaussian rows: U as usual, then `(v^_i, w^_i) = (P0^T u^_i, q0 . u^_i) + A xi_i` with
    /// `A A^T = row_cov`; for lambda = inf the caller's validation guarantees unit expected
    /// norms and [`crate::Sgda`] works with whatever norms are drawn (the projection is
    /// applied after the first step); here the columns and w are rescaled to the expected
    /// norms `s0_diag`, `z0` exactly.
    fn build_gaussian_rows(&self, n: usize, c: &SymPsd, rng: &mut SimRng) -> MicroState {
        let d = self.q0.len();
        let mut u = vec![0.0; d * n];
        if self.features == Features::Constant {
            u.fill(1.0 / (n as f64).sqrt());
        } else {
            fill_normals(rng, &mut u);
            orthonormalize(&mut u, n, d);
        }
        let a = c.sqrt_factor();
        let sq = (n as f64).sqrt();
        let mut v = vec![0.0; d * n];
        let mut w = vec![0.0; n];
        let mut xi = vec![0.0; d + 1];
        for i in 0..n {
            fill_normals(rng, &mut xi);
            let uhat: Vec<f64> = (0..d).map(|k| u[k * n + i] * sq).collect();
            for j in 0..=d {
                let noise: f64 = (0..=d).map(|k| a[(j, k)] * xi[k]).sum();
                let mean: f64 = if j < d {
                    (0..d).map(|k| self.p0[(k, j)] * uhat[k]).sum()
                } else {
                    (0..d).map(|k| self.q0[k] * uhat[k]).sum()
                };
                let value = (mean + noise) / sq;
                if j < d {
                    v[j * n + i] = value;
                } else {
                    w[i] = value;
                }
            }
        }
        for j in 0..d {
            let col = &mut v[j * n..(j + 1) * n];
            let norm = dot(col, col).sqrt();
            let target = self.s0_diag[j].sqrt();
            for x in col {
                *x *= target / norm;
            }
        }
        let norm = dot(&w, &w).sqrt();
        let target = self.z0.sqrt();
        for x in w.iter_mut() {
            *x *= target / norm;
        }
        MicroState { n, d, u, v, w }
    }
}

/// Modified Gram-Schmidt, applied twice ("twice is enough"), on `m` columns of length `n`.
fn orthonormalize(a: &mut [f64], n: usize, m: usize) {
    for _pass in 0..2 {
        for k in 0..m {
            let (done, rest) = a.split_at_mut(k * n);
            let ck = &mut rest[..n];
            for prev in done.chunks_exact(n) {
                let proj: f64 = prev.iter().zip(ck.iter()).map(|(x, y)| x * y).sum();
                for (c, p) in ck.iter_mut().zip(prev) {
                    *c -= proj * p;
                }
            }
            let norm = ck.iter().map(|x| x * x).sum::<f64>().sqrt();
            for c in ck.iter_mut() {
                *c /= norm;
            }
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl MicroState {
    /// Column j of U.
    pub fn u_col(&self, j: usize) -> &[f64] {
        &self.u[j * self.n..(j + 1) * self.n]
    }

    /// Column j of V.
    pub fn v_col(&self, j: usize) -> &[f64] {
        &self.v[j * self.n..(j + 1) * self.n]
    }

    /// The macroscopic state `M = X^T X` (Definitions 1-2), in O(n d^2).
    pub fn macro_state(&self) -> MacroState {
        macro_state_of(self.n, self.d, &self.u, &self.v, &self.w)
    }

    /// `U^T U`, which must be `I_d` (used by tests and checks).
    pub fn feature_gram(&self) -> DMat {
        let mut g = DMat::zeros(self.d, self.d);
        for i in 0..self.d {
            for j in 0..self.d {
                g[(i, j)] = dot(self.u_col(i), self.u_col(j));
            }
        }
        g
    }
}

/// [`MicroState::macro_state`] of the vectors `u` (n x d, column-major), `v` (n x d) and
/// `w` (n), without owning them.
pub(crate) fn macro_state_of(n: usize, d: usize, u: &[f64], v: &[f64], w: &[f64]) -> MacroState {
    let col = |x: &'_ [f64], j: usize| -> std::ops::Range<usize> {
        debug_assert!(x.len() >= (j + 1) * n);
        j * n..(j + 1) * n
    };
    let mut s = MacroState::zeros(d);
    for i in 0..d {
        for j in 0..d {
            s.p[(i, j)] = dot(&u[col(u, i)], &v[col(v, j)]);
        }
        s.q[i] = dot(&u[col(u, i)], w);
        s.r[i] = dot(&v[col(v, i)], w);
        for j in i..d {
            let x = dot(&v[col(v, i)], &v[col(v, j)]);
            s.s[(i, j)] = x;
            s.s[(j, i)] = x;
        }
    }
    s.z = dot(w, w);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::random::stream_rng;

    #[test]
    fn builder_hits_the_prescribed_overlaps() {
        let init = InitState {
            p0: DMat::from_rows(&[vec![0.3, -0.1], vec![0.2, 0.5]]).unwrap(),
            q0: vec![0.1, -0.4],
            s0_diag: vec![1.0, 2.0],
            z0: 1.5,
            features: Features::Random,
            row_cov: None,
            q0_cols: None,
        };
        let x = init.build(400, &mut stream_rng(1, 0));
        let s = x.macro_state();
        assert!(x.feature_gram().max_abs_diff(&DMat::identity(2)) < 1e-12);
        assert!(s.p.max_abs_diff(&init.p0) < 1e-12);
        assert!((s.q[0] - 0.1).abs() < 1e-12 && (s.q[1] + 0.4).abs() < 1e-12);
        assert!((s.s[(0, 0)] - 1.0).abs() < 1e-12 && (s.s[(1, 1)] - 2.0).abs() < 1e-12);
        assert!((s.z - 1.5).abs() < 1e-12);
        let r = init.p0.t_mul_vec(&init.q0);
        assert!((s.r[0] - r[0]).abs() < 1e-12 && (s.r[1] - r[1]).abs() < 1e-12);
        assert!(init.macro_state().gram_distance(&s) < 1e-12);
        assert!((s.s[(0, 1)] - (0.3 * -0.1 + 0.2 * 0.5)).abs() < 1e-12);
    }

    #[test]
    fn constant_features_are_flat() {
        let init = InitState {
            p0: DMat::from_diag(&[0.2]),
            q0: vec![0.1],
            s0_diag: vec![1.0],
            z0: 1.0,
            features: Features::Constant,
            row_cov: None,
            q0_cols: None,
        };
        let x = init.build(100, &mut stream_rng(2, 0));
        assert!(x.u.iter().all(|&u| (u - 0.1).abs() < 1e-12));
        assert!((x.macro_state().p[(0, 0)] - 0.2).abs() < 1e-12);
    }
}

#[cfg(test)]
mod gaussian_rows_tests {
    use super::*;
    use hdgan_model::random::stream_rng;

    /// Rows drawn from N((P0, q0), C) with u^ = 1: the sample moments of (v^, w^) match
    /// (P0, q0) and C + mean mean^T within 5 standard errors (SE <= 2 / sqrt(n)), and the
    /// norms are exactly the expected ones.
    #[test]
    fn gaussian_rows_have_the_prescribed_law() {
        let n = 40_000;
        let c = SymPsd::new(
            "c",
            DMat::from_rows(&[vec![0.96, 0.1], vec![0.1, 0.99]]).unwrap(),
        )
        .unwrap();
        let init = InitState {
            p0: DMat::from_diag(&[0.2]),
            q0: vec![0.1],
            s0_diag: vec![1.0],
            z0: 1.0,
            features: Features::Constant,
            row_cov: Some(c),
            q0_cols: None,
        };
        let x = init.build(n, &mut stream_rng(4, 0));
        let s = x.macro_state();
        let tol = 5.0 * 2.0 / (n as f64).sqrt();
        assert!((s.p[(0, 0)] - 0.2).abs() < tol && (s.q[0] - 0.1).abs() < tol);
        assert!((s.r[0] - (0.02 + 0.1)).abs() < tol, "r = {}", s.r[0]);
        assert!((s.s[(0, 0)] - 1.0).abs() < 1e-12 && (s.z - 1.0).abs() < 1e-12);
        assert!(init.macro_state().gram_distance(&s) < 3.0 * tol);
    }
}
