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
    let xtx = x.transpose().matmul(&x);
    let sym = SymPsd::new("principal_cosines", xtx).ok()?;
    let mut c: Vec<f64> = sym
        .eigenvalues()
        .iter()
        .rev()
        .map(|e| e.max(0.0).sqrt().min(1.0))
        .collect();
    c.truncate(d.min(k));
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
