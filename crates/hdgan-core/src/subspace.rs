//! Principal angles between a reference subspace and the span of the generator's columns.

use crate::{DMat, SymPsd};

/// Cosines of the principal angles between `span(U)` (U orthonormal, d columns) and
/// `span(V)` (k columns, linearly independent), from the overlaps `P = U^T V` (d x k) and
/// `S = V^T V` (k x k): the singular values of `P S^{-1/2}`, in decreasing order, clamped
/// to [0, 1]. Computed as the square roots of the eigenvalues of `L^{-1} P^T P L^{-T}` with
/// `S = L L^T` (Cholesky). `None` if `S` is not positive definite or the shapes disagree.
pub fn principal_cosines(p: &DMat, s: &DMat) -> Option<Vec<f64>> {
    let k = s.rows();
    if s.cols() != k || p.cols() != k || k == 0 {
        return None;
    }
    // Cholesky S = L L^T.
    let mut l = DMat::zeros(k, k);
    for i in 0..k {
        for j in 0..=i {
            let mut sum = s[(i, j)];
            for m in 0..j {
                sum -= l[(i, m)] * l[(j, m)];
            }
            if i == j {
                if sum.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return None;
                }
                l[(i, i)] = sum.sqrt();
            } else {
                l[(i, j)] = sum / l[(j, j)];
            }
        }
    }
    // X = P L^{-T}: solve X L^T = P row by row (forward substitution).
    let d = p.rows();
    let mut x = DMat::zeros(d, k);
    for r in 0..d {
        for j in 0..k {
            let mut sum = p[(r, j)];
            for m in 0..j {
                sum -= x[(r, m)] * l[(j, m)];
            }
            x[(r, j)] = sum / l[(j, j)];
        }
    }
    singular_values(&x, d.min(k))
}

/// The `count` largest singular values of `x` (square roots of the eigenvalues of
/// `x^T x`), decreasing, clamped to [0, 1]: the principal cosines once `x` expresses P in an
/// orthonormal basis of span(V).
fn singular_values(x: &DMat, count: usize) -> Option<Vec<f64>> {
    let sym = SymPsd::new("principal_cosines", x.transpose().matmul(x)).ok()?;
    let mut c: Vec<f64> = sym
        .eigenvalues()
        .iter()
        .rev()
        .map(|e| e.max(0.0).sqrt().min(1.0))
        .collect();
    c.truncate(count);
    Some(c)
}

/// [`principal_cosines`] that also accepts a rank-deficient `V` (columns collapsed onto
/// fewer directions, as a generator that loses modes does): the directions of `S` with
/// eigenvalue at most `rel_tol` times its largest are dropped, the cosines are those of
/// the r remaining directions of `span(V)`, and each of the `min(d, k) - r` missing
/// dimensions counts as orthogonal to `span(U)` (cosine 0). When `S` has full rank at that
/// tolerance this is [`principal_cosines`] itself. `None` for mismatched shapes, non-finite
/// entries or `S` that is not symmetric PSD to round-off.
pub fn principal_cosines_ranked(p: &DMat, s: &DMat, rel_tol: f64) -> Option<Vec<f64>> {
    let k = s.rows();
    if s.cols() != k || p.cols() != k || k == 0 {
        return None;
    }
    let eig = SymPsd::new("principal_cosines_ranked", s.clone()).ok()?;
    let top = eig.eigenvalues()[k - 1];
    if top <= 0.0 {
        return Some(vec![0.0; p.rows().min(k)]);
    }
    let kept: Vec<usize> = (0..k)
        .filter(|&i| eig.eigenvalues()[i] > rel_tol * top)
        .collect();
    if kept.len() == k {
        return principal_cosines(p, s);
    }
    // X = P E_r diag(sigma_r)^{-1/2}: P in an orthonormal basis of span(V)'s range.
    let d = p.rows();
    let mut x = DMat::zeros(d, kept.len());
    for (c, &i) in kept.iter().enumerate() {
        let e = eig.eigenvector(i);
        let scale = eig.eigenvalues()[i].sqrt();
        for r in 0..d {
            x[(r, c)] = (0..k).map(|m| p[(r, m)] * e[m]).sum::<f64>() / scale;
        }
    }
    let mut c = singular_values(&x, d.min(kept.len()))?;
    c.resize(d.min(k), 0.0);
    Some(c)
}

/// Grassmann (geodesic) distance `sqrt(sum_i theta_i^2)` from the cosines of the principal
/// angles (see [`principal_cosines`]).
pub fn grassmann_distance(cosines: &[f64]) -> f64 {
    cosines
        .iter()
        .map(|c| c.clamp(-1.0, 1.0).acos().powi(2))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two planes in R^3 at a known angle: span(e1, e2) and span(e1, cos t e2 + sin t e3),
    /// with a non-orthonormal basis of the second (columns scaled and mixed).
    /// A V whose two columns are equal spans a line: one cosine of that line, then 0 for
    /// the missing dimension; with independent columns the ranked version is the plain one.
    #[test]
    fn ranked_cosines_of_a_collapsed_basis() {
        let t: f64 = 0.4;
        // U = [e1, e2] in R^3; both columns of V are cos t e1 + sin t e3.
        let p = DMat::from_rows(&[vec![t.cos(), t.cos()], vec![0.0, 0.0]]).unwrap();
        let s = DMat::from_rows(&[vec![1.0, 1.0], vec![1.0, 1.0]]).unwrap();
        assert!(principal_cosines(&p, &s).is_none());
        let c = principal_cosines_ranked(&p, &s, 1e-10).unwrap();
        assert_eq!(c.len(), 2);
        assert!((c[0] - t.cos()).abs() < 1e-12 && c[1] == 0.0, "{c:?}");
        // Independent columns: identical to principal_cosines.
        let p = DMat::from_rows(&[vec![0.9, 0.1], vec![0.2, 0.7]]).unwrap();
        let s = DMat::from_rows(&[vec![1.0, 0.3], vec![0.3, 1.0]]).unwrap();
        assert_eq!(
            principal_cosines_ranked(&p, &s, 1e-10),
            principal_cosines(&p, &s)
        );
    }

    #[test]
    fn known_angles() {
        let t: f64 = 0.7;
        // V columns: a = 2 e1, b = e1 + 3 (cos t e2 + sin t e3).
        let a = [2.0, 0.0, 0.0];
        let b = [1.0, 3.0 * t.cos(), 3.0 * t.sin()];
        let dot = |x: &[f64; 3], y: &[f64; 3]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
        let p = DMat::from_rows(&[vec![a[0], b[0]], vec![a[1], b[1]]]).unwrap();
        let s = DMat::from_rows(&[
            vec![dot(&a, &a), dot(&a, &b)],
            vec![dot(&b, &a), dot(&b, &b)],
        ])
        .unwrap();
        let c = principal_cosines(&p, &s).unwrap();
        assert!(
            (c[0] - 1.0).abs() < 1e-12 && (c[1] - t.cos()).abs() < 1e-12,
            "{c:?}"
        );
        assert!((grassmann_distance(&c) - t).abs() < 1e-6);
    }

    #[test]
    fn singular_gram_is_none() {
        let p = DMat::from_rows(&[vec![1.0, 1.0]]).unwrap();
        let s = DMat::from_rows(&[vec![1.0, 1.0], vec![1.0, 1.0]]).unwrap();
        assert!(principal_cosines(&p, &s).is_none());
    }
}
