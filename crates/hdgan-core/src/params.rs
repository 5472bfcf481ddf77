use crate::{DMat, ParamError};
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

/// Checks that `value` is finite.
pub fn check_finite(key: &str, value: f64) -> Result<f64, ParamError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(ParamError::NotFinite {
            key: key.to_owned(),
            value,
        })
    }
}

/// Checks that every entry of `values` is finite; the key of an offending entry gets its
/// index appended (`key[3]`).
pub fn check_finite_slice(key: &str, values: &[f64]) -> Result<(), ParamError> {
    for (i, &v) in values.iter().enumerate() {
        check_finite(&format!("{key}[{i}]"), v)?;
    }
    Ok(())
}

/// Checks that `value` is finite and strictly positive (learning rates, tau).
pub fn check_positive(key: &str, value: f64) -> Result<f64, ParamError> {
    check_finite(key, value)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(ParamError::NotPositive {
            key: key.to_owned(),
            value,
        })
    }
}

/// Checks a relative tolerance of an ODE solver: finite, and at least `f64::EPSILON`
/// (2.2e-16), f64's relative precision. A tighter relative tolerance cannot be met: the
/// solver's own rounding of each stage is already that large, and the step size shrinks
/// until it underflows (tried: 1e-18 fails at t = 0 on Figure 1's ODE).
pub fn check_relative_tolerance(key: &str, value: f64) -> Result<f64, ParamError> {
    check_finite(key, value)?;
    if value >= f64::EPSILON {
        Ok(value)
    } else {
        Err(ParamError::rule(
            key,
            format!(
                "must be at least {:e} (f64's relative precision: a tighter relative tolerance cannot be met), got {value:e}",
                f64::EPSILON
            ),
        ))
    }
}

/// Checks that `value` is finite and non-negative (noise variances).
pub fn check_non_negative(key: &str, value: f64) -> Result<f64, ParamError> {
    check_finite(key, value)?;
    if value >= 0.0 {
        Ok(value)
    } else {
        Err(ParamError::Negative {
            key: key.to_owned(),
            value,
        })
    }
}

/// The regularisation strength lambda of the objective (THEORY §1): finite, or infinite, which
/// is the constrained problem `||w|| = 1`, `diag(V^T V) = I` solved by projected SGDA.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Lambda {
    /// A finite `lambda >= 0`.
    Finite(f64),
    /// `lambda = infinity`: projected SGDA and the reduced ODE (13)-(14).
    Infinite,
}

impl Lambda {
    /// Validates a raw value: finite and >= 0, or +infinity.
    pub fn new(key: &str, value: f64) -> Result<Self, ParamError> {
        if value == f64::INFINITY {
            Ok(Lambda::Infinite)
        } else {
            check_non_negative(key, value).map(Lambda::Finite)
        }
    }

    /// Whether this is the constrained (projected) problem.
    pub fn is_infinite(self) -> bool {
        matches!(self, Lambda::Infinite)
    }

    /// The value as a float (`f64::INFINITY` for [`Lambda::Infinite`]).
    pub fn value(self) -> f64 {
        match self {
            Lambda::Finite(l) => l,
            Lambda::Infinite => f64::INFINITY,
        }
    }
}

/// A validated symmetric positive semi-definite matrix (a latent second moment or
/// covariance), with its eigendecomposition.
///
/// Symmetry is required to relative accuracy `1e-12` (then the matrix is symmetrised
/// exactly); positive semi-definiteness allows eigenvalues down to `-1e-12 * max|eig|`
/// (round-off), which are clamped to zero in the square-root factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymPsd {
    matrix: DMat,
    eigenvalues: Vec<f64>,
    /// Column-major eigenvectors: column `k` is `eigenvectors[k*d..(k+1)*d]`.
    eigenvectors: Vec<f64>,
}

impl SymPsd {
    /// Validates `m` (named `key` in messages): square, finite, symmetric, PSD.
    pub fn new(key: &str, m: DMat) -> Result<Self, ParamError> {
        let d = m.rows();
        if m.cols() != d || d == 0 {
            return Err(ParamError::Shape {
                key: key.to_owned(),
                expected: "a non-empty square matrix".to_owned(),
                found: format!("{} x {}", m.rows(), m.cols()),
            });
        }
        for i in 0..d {
            for j in 0..d {
                check_finite(&format!("{key}[{i}][{j}]"), m[(i, j)])?;
            }
        }
        let scale = m.max_abs().max(f64::MIN_POSITIVE);
        for i in 0..d {
            for j in (i + 1)..d {
                if (m[(i, j)] - m[(j, i)]).abs() > 1e-12 * scale {
                    return Err(ParamError::NotSymmetric {
                        key: key.to_owned(),
                        i,
                        j,
                        a: m[(i, j)],
                        b: m[(j, i)],
                    });
                }
            }
        }
        let mut sym = m;
        for i in 0..d {
            for j in (i + 1)..d {
                let avg = 0.5 * (sym[(i, j)] + sym[(j, i)]);
                sym[(i, j)] = avg;
                sym[(j, i)] = avg;
            }
        }
        let (eigenvalues, eigenvectors) = sym_eigen(&sym);
        let min = eigenvalues.iter().copied().fold(f64::INFINITY, f64::min);
        let max = eigenvalues.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        if min < -1e-12 * max.max(f64::MIN_POSITIVE) {
            return Err(ParamError::NotPositiveSemiDefinite {
                key: key.to_owned(),
                min_eigenvalue: min,
            });
        }
        Ok(Self {
            matrix: sym,
            eigenvalues,
            eigenvectors,
        })
    }

    /// A diagonal matrix with non-negative diagonal.
    pub fn diagonal(key: &str, diag: &[f64]) -> Result<Self, ParamError> {
        Self::new(key, DMat::from_diag(diag))
    }

    /// The dimension d.
    pub fn dim(&self) -> usize {
        self.matrix.rows()
    }

    /// The matrix.
    pub fn matrix(&self) -> &DMat {
        &self.matrix
    }

    /// Eigenvalues in ascending order.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// Eigenvector `k` (unit norm), matching `eigenvalues()[k]`.
    pub fn eigenvector(&self, k: usize) -> &[f64] {
        let d = self.dim();
        &self.eigenvectors[k * d..(k + 1) * d]
    }

    /// Whether all off-diagonal entries are exactly zero.
    pub fn is_diagonal(&self) -> bool {
        let d = self.dim();
        (0..d).all(|i| (0..d).all(|j| i == j || self.matrix[(i, j)] == 0.0))
    }

    /// A factor `A` (row-major, d x d) with `A A^T = self`, namely `Q diag(sqrt(max(l, 0)))`,
    /// which exists for singular matrices too (unlike a Cholesky factor).
    pub fn sqrt_factor(&self) -> DMat {
        let d = self.dim();
        let mut a = DMat::zeros(d, d);
        for k in 0..d {
            let s = self.eigenvalues[k].max(0.0).sqrt();
            let v = self.eigenvector(k);
            for i in 0..d {
                a[(i, k)] = v[i] * s;
            }
        }
        a
    }
}

/// Eigendecomposition of a symmetric matrix with faer: ascending eigenvalues and the
/// eigenvectors stored column after column.
fn sym_eigen(m: &DMat) -> (Vec<f64>, Vec<f64>) {
    let d = m.rows();
    let a = Mat::<f64>::from_fn(d, d, |i, j| m[(i, j)]);
    match a.self_adjoint_eigen(Side::Lower) {
        Ok(eig) => {
            let s = eig.S();
            let u = eig.U();
            let values: Vec<f64> = (0..d).map(|k| s[k]).collect();
            let mut vectors = Vec::with_capacity(d * d);
            for k in 0..d {
                for i in 0..d {
                    vectors.push(u[(i, k)]);
                }
            }
            (values, vectors)
        }
        // faer reports non-convergence only for non-finite input, which was rejected before.
        Err(_) => (vec![f64::NAN; d], vec![f64::NAN; d * d]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rows: &[&[f64]]) -> DMat {
        DMat::from_rows(&rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn accepts_psd_and_factors_it() {
        let s = SymPsd::new("c", m(&[&[2.0, 1.0], &[1.0, 2.0]])).unwrap();
        assert!((s.eigenvalues()[0] - 1.0).abs() < 1e-12);
        assert!((s.eigenvalues()[1] - 3.0).abs() < 1e-12);
        let a = s.sqrt_factor();
        let aat = a.matmul(&a.transpose());
        assert!(aat.max_abs_diff(s.matrix()) < 1e-12);
    }

    #[test]
    fn singular_psd_is_accepted() {
        let s = SymPsd::new("c", m(&[&[1.0, 1.0], &[1.0, 1.0]])).unwrap();
        let a = s.sqrt_factor();
        assert!(a.matmul(&a.transpose()).max_abs_diff(s.matrix()) < 1e-12);
    }

    #[test]
    fn rejects_each_broken_rule_with_key() {
        let e = SymPsd::new("model.latent.cov", m(&[&[1.0, 0.5], &[0.0, 1.0]])).unwrap_err();
        assert!(matches!(e, ParamError::NotSymmetric { .. }), "{e}");
        assert_eq!(e.key(), "model.latent.cov");
        let e = SymPsd::new("k", m(&[&[1.0, 2.0], &[2.0, 1.0]])).unwrap_err();
        match e {
            ParamError::NotPositiveSemiDefinite { min_eigenvalue, .. } => {
                assert!((min_eigenvalue + 1.0).abs() < 1e-12)
            }
            other => panic!("{other}"),
        }
        let e = SymPsd::new("k", m(&[&[1.0, f64::NAN], &[f64::NAN, 1.0]])).unwrap_err();
        assert!(matches!(e, ParamError::NotFinite { .. }));
        assert!(e.to_string().contains("k[0][1]"), "{e}");
        let e = SymPsd::new("k", m(&[&[1.0, 0.0]])).unwrap_err();
        assert!(matches!(e, ParamError::Shape { .. }));
    }

    #[test]
    fn scalar_checks() {
        assert!(check_positive("tau", 0.0).is_err());
        assert!(check_positive("tau", -1.0).is_err());
        assert!(check_positive("tau", f64::INFINITY).is_err());
        assert!(check_non_negative("eta", -1e-9).is_err());
        assert!(check_non_negative("eta", 0.0).is_ok());
        assert_eq!(Lambda::new("l", f64::INFINITY).unwrap(), Lambda::Infinite);
        assert!(Lambda::new("l", f64::NAN).is_err());
        assert!(Lambda::new("l", -1.0).is_err());
    }
}
