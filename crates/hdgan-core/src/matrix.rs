use serde::{Deserialize, Serialize};

/// A small dense row-major matrix (the d x d blocks of the macroscopic state, latent
/// moments). Sizes here are the number of features, so plain loops are the right tool;
/// large linear algebra goes through faer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DMat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl DMat {
    /// The `rows x cols` zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// The `d x d` identity.
    pub fn identity(d: usize) -> Self {
        let mut m = Self::zeros(d, d);
        for i in 0..d {
            m[(i, i)] = 1.0;
        }
        m
    }

    /// A diagonal matrix with the given diagonal.
    pub fn from_diag(diag: &[f64]) -> Self {
        let mut m = Self::zeros(diag.len(), diag.len());
        for (i, &x) in diag.iter().enumerate() {
            m[(i, i)] = x;
        }
        m
    }

    /// Builds a matrix from row-major data. Panics if `data.len() != rows * cols` (a
    /// programming error, never user data: user arrays go through [`DMat::from_rows`]).
    pub fn from_row_major(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "DMat::from_row_major: wrong length"
        );
        Self { rows, cols, data }
    }

    /// Builds a matrix from a list of rows; `None` if the rows have unequal lengths.
    pub fn from_rows(rows: &[Vec<f64>]) -> Option<Self> {
        let r = rows.len();
        let c = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|row| row.len() != c) {
            return None;
        }
        Some(Self {
            rows: r,
            cols: c,
            data: rows.iter().flatten().copied().collect(),
        })
    }

    /// The rows as vectors (for serialisation).
    pub fn to_rows(&self) -> Vec<Vec<f64>> {
        self.data
            .chunks(self.cols.max(1))
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row-major entries.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// Mutable row-major entries.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// The diagonal.
    pub fn diag(&self) -> Vec<f64> {
        (0..self.rows.min(self.cols))
            .map(|i| self[(i, i)])
            .collect()
    }

    /// The transpose.
    pub fn transpose(&self) -> Self {
        let mut t = Self::zeros(self.cols, self.rows);
        for i in 0..self.rows {
            for j in 0..self.cols {
                t[(j, i)] = self[(i, j)];
            }
        }
        t
    }

    /// `A x`.
    pub fn mul_vec(&self, x: &[f64]) -> Vec<f64> {
        debug_assert_eq!(x.len(), self.cols);
        (0..self.rows)
            .map(|i| {
                self.data[i * self.cols..(i + 1) * self.cols]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect()
    }

    /// `A^T x`.
    pub fn t_mul_vec(&self, x: &[f64]) -> Vec<f64> {
        debug_assert_eq!(x.len(), self.rows);
        let mut y = vec![0.0; self.cols];
        for (i, &xi) in x.iter().enumerate() {
            for (j, yj) in y.iter_mut().enumerate() {
                *yj += self[(i, j)] * xi;
            }
        }
        y
    }

    /// `A B`.
    pub fn matmul(&self, b: &DMat) -> DMat {
        debug_assert_eq!(self.cols, b.rows);
        let mut c = DMat::zeros(self.rows, b.cols);
        let (n, m) = (self.cols, b.cols);
        if n == 0 || m == 0 {
            return c;
        }
        // Row by row on slices (vectorised, no bounds checks inside); each entry still sums
        // its products in k order, so the result is the plain triple loop's, bit for bit.
        for (ci, ai) in c.data.chunks_exact_mut(m).zip(self.data.chunks_exact(n)) {
            for (a, bk) in ai.iter().zip(b.data.chunks_exact(m)) {
                for (x, y) in ci.iter_mut().zip(bk) {
                    *x += a * y;
                }
            }
        }
        c
    }

    /// `x^T A x` for square `A`.
    pub fn quad_form(&self, x: &[f64]) -> f64 {
        dot(x, &self.mul_vec(x))
    }

    /// Largest absolute entry (0 for an empty matrix).
    pub fn max_abs(&self) -> f64 {
        self.data.iter().fold(0.0, |m, x| m.max(x.abs()))
    }

    /// A lower-triangular `L` with `L L^T = self` for a symmetric positive *semi*definite
    /// matrix (Cholesky, where a pivot at or below `1e-13` times the largest diagonal entry
    /// zeroes its column: the matrix is singular there, as a noise covariance with
    /// constrained directions is). None when the matrix is not square, not symmetric (to
    /// 1e-9 relative) or has a pivot below `-1e-9` times the largest diagonal entry (not
    /// PSD).
    pub fn psd_cholesky(&self) -> Option<DMat> {
        let k = self.rows;
        if self.cols != k {
            return None;
        }
        let scale = (0..k).fold(0.0_f64, |m, i| m.max(self[(i, i)].abs()));
        for i in 0..k {
            for j in 0..i {
                if (self[(i, j)] - self[(j, i)]).abs() > 1e-9 * scale.max(f64::MIN_POSITIVE) {
                    return None;
                }
            }
        }
        let mut l = DMat::zeros(k, k);
        for j in 0..k {
            let pivot = self[(j, j)] - (0..j).map(|c| l[(j, c)] * l[(j, c)]).sum::<f64>();
            if pivot < -1e-9 * scale {
                return None;
            }
            if pivot <= 1e-13 * scale {
                continue;
            }
            let root = pivot.sqrt();
            l[(j, j)] = root;
            for i in (j + 1)..k {
                let v = self[(i, j)] - (0..j).map(|c| l[(i, c)] * l[(j, c)]).sum::<f64>();
                l[(i, j)] = v / root;
            }
        }
        Some(l)
    }

    /// Largest absolute entry of `self - other` (shapes must agree).
    pub fn max_abs_diff(&self, other: &DMat) -> f64 {
        debug_assert_eq!((self.rows, self.cols), (other.rows, other.cols));
        self.data
            .iter()
            .zip(&other.data)
            .fold(0.0, |m, (a, b)| m.max((a - b).abs()))
    }
}

impl std::ops::Index<(usize, usize)> for DMat {
    type Output = f64;
    fn index(&self, (i, j): (usize, usize)) -> &f64 {
        &self.data[i * self.cols + j]
    }
}

impl std::ops::IndexMut<(usize, usize)> for DMat {
    fn index_mut(&mut self, (i, j): (usize, usize)) -> &mut f64 {
        &mut self.data[i * self.cols + j]
    }
}

/// Dot product of two equally long slices.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psd_cholesky_reproduces_definite_and_singular_matrices() {
        // B B^T with B 3 x 2: rank 2 of 3.
        let b = DMat::from_row_major(3, 2, vec![1.0, 2.0, -0.5, 0.3, 0.5, 1.3]);
        let singular = b.matmul(&b.transpose());
        let l = singular.psd_cholesky().expect("PSD");
        assert!(l.matmul(&l.transpose()).max_abs_diff(&singular) < 1e-12);
        let mut definite = singular.clone();
        for i in 0..3 {
            definite[(i, i)] += 0.7;
        }
        let l = definite.psd_cholesky().expect("PD");
        assert!(l.matmul(&l.transpose()).max_abs_diff(&definite) < 1e-12);
        assert!(
            (0..3).all(|i| (0..i).all(|j| l[(j, i)] == 0.0)),
            "lower triangular"
        );
        // Indefinite and asymmetric matrices are refused.
        let indefinite = DMat::from_row_major(2, 2, vec![1.0, 2.0, 2.0, 1.0]);
        assert!(indefinite.psd_cholesky().is_none());
        let asym = DMat::from_row_major(2, 2, vec![1.0, 0.1, 0.0, 1.0]);
        assert!(asym.psd_cholesky().is_none());
    }

    #[test]
    fn products_match_hand_computation() {
        let a = DMat::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]]).unwrap();
        assert_eq!(a.mul_vec(&[1.0, -1.0]), vec![-1.0, -1.0]);
        assert_eq!(a.t_mul_vec(&[1.0, -1.0]), vec![-2.0, -2.0]);
        let b = a.matmul(&DMat::identity(2));
        assert_eq!(b, a);
        assert_eq!(
            a.transpose().to_rows(),
            vec![vec![1.0, 3.0], vec![2.0, 4.0]]
        );
        assert!((a.quad_form(&[1.0, 1.0]) - 10.0).abs() < 1e-15);
    }

    #[test]
    fn ragged_rows_are_rejected() {
        assert!(DMat::from_rows(&[vec![1.0], vec![1.0, 2.0]]).is_none());
    }
}
