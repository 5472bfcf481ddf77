//! How close a basis is to a reference subspace, and how well its span reconstructs
//! samples.

use hdgan_core::{DMat, grassmann_distance, principal_cosines};

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosines of the principal angles (descending) between `span(reference)` (orthonormal,
/// `n x r`, column-major) and `span(basis)` (`n x d`, column-major, independent columns),
/// and the Grassmann distance `sqrt(sum theta_i^2)`. None when the basis is rank-deficient
/// or the lengths disagree with `n`.
pub fn alignment(reference: &[f64], basis: &[f64], n: usize, d: usize) -> Option<(Vec<f64>, f64)> {
    if n == 0 || d == 0 || basis.len() != n * d || !reference.len().is_multiple_of(n) {
        return None;
    }
    let r = reference.len() / n;
    fn col(m: &[f64], n: usize, j: usize) -> &[f64] {
        &m[j * n..(j + 1) * n]
    }
    let mut p = DMat::zeros(r, d);
    for i in 0..r {
        for j in 0..d {
            p[(i, j)] = dot(col(reference, n, i), col(basis, n, j));
        }
    }
    let mut s = DMat::zeros(d, d);
    for i in 0..d {
        for j in 0..=i {
            let v = dot(col(basis, n, i), col(basis, n, j));
            s[(i, j)] = v;
            s[(j, i)] = v;
        }
    }
    let cos = principal_cosines(&p, &s)?;
    let dist = grassmann_distance(&cos);
    Some((cos, dist))
}

/// Orthonormalises the columns of `basis` (`n x d`, column-major) in place by modified
/// Gram-Schmidt, twice (so the columns are orthonormal to round-off even when nearly
/// dependent). Returns false, leaving the basis unusable, when a column is dependent on the
/// ones before it.
pub fn orthonormalize(basis: &mut [f64], n: usize) -> bool {
    let d = basis.len() / n;
    for j in 0..d {
        let (done, rest) = basis.split_at_mut(j * n);
        let c = &mut rest[..n];
        let before = dot(c, c).sqrt();
        for _ in 0..2 {
            for k in 0..j {
                let q = &done[k * n..(k + 1) * n];
                let r = dot(q, c);
                c.iter_mut().zip(q).for_each(|(x, y)| *x -= r * y);
            }
        }
        let norm = dot(c, c).sqrt();
        if !(norm > 1e-12 * before && norm.is_finite()) {
            return false;
        }
        c.iter_mut().for_each(|x| *x /= norm);
    }
    true
}

/// Mean relative reconstruction error `||x - Pi x||^2 / ||x||^2` over `samples` (each of
/// length n), `Pi` the orthogonal projection on `span(basis)`; `basis` need not be
/// orthonormal (it is orthonormalised in a copy). None when the basis is rank-deficient or
/// there are no samples.
pub fn reconstruction_error<'a>(
    basis: &[f64],
    n: usize,
    samples: impl IntoIterator<Item = &'a [f64]>,
) -> Option<f64> {
    let mut q = basis.to_vec();
    if !orthonormalize(&mut q, n) {
        return None;
    }
    let (mut total, mut count) = (0.0, 0usize);
    for x in samples {
        let xx = dot(x, x);
        if xx == 0.0 {
            continue;
        }
        let kept: f64 = q.chunks_exact(n).map(|c| dot(c, x).powi(2)).sum();
        total += (xx - kept).max(0.0) / xx;
        count += 1;
    }
    (count > 0).then(|| total / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_of_known_subspaces() {
        // Reference e1, e2 in R^4; basis (e1, cos a e2 + sin a e3): angles 0 and a.
        let n = 4;
        let reference = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let a: f64 = 0.3;
        let basis = [2.0, 0.0, 0.0, 0.0, 0.0, a.cos(), a.sin(), 0.0];
        let (cos, dist) = alignment(&reference, &basis, n, 2).unwrap();
        assert!((cos[0] - 1.0).abs() < 1e-12 && (cos[1] - a.cos()).abs() < 1e-12);
        assert!((dist - a).abs() < 1e-7);
        assert!(alignment(&reference, &[1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0], n, 2).is_none());
        // Reconstruction on span(e1, e2): x = e2 + e3 keeps half its squared norm.
        let x = [0.0, 1.0, 1.0, 0.0];
        let e = reconstruction_error(&reference, n, [&x[..]]).unwrap();
        assert!((e - 0.5).abs() < 1e-12);
        let mut dependent = [1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0];
        assert!(!orthonormalize(&mut dependent, n));
    }
}
