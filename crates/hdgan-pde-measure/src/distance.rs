//! Distances between measures: 1-D Wasserstein-1 and Kolmogorov-Smirnov of samples
//! against a Gaussian or another sample, and sliced Wasserstein-1 in 2-D.

use crate::gaussian::Gaussian2;
use crate::measure::Row;

pub use hdgan_core::stats::{normal_cdf, normal_quantile};

fn sorted(mut x: Vec<f64>) -> Vec<f64> {
    x.sort_by(f64::total_cmp);
    x
}

/// W1 between the empirical law of `x` and `N(mean, sd^2)`:
/// `(1/N) sum_i |x_(i) - mean - sd Phi^{-1}((i - 1/2) / N)|` (midpoint quantiles).
pub fn w1_gaussian(x: &[f64], mean: f64, sd: f64) -> f64 {
    let s = sorted(x.to_vec());
    let n = s.len() as f64;
    s.iter()
        .enumerate()
        .map(|(i, v)| (v - mean - sd * normal_quantile((i as f64 + 0.5) / n)).abs())
        .sum::<f64>()
        / n
}

/// W1 between two empirical laws of equal size (mean absolute difference of order
/// statistics).
pub fn w1_samples(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "w1_samples needs equal sizes");
    let (a, b) = (sorted(x.to_vec()), sorted(y.to_vec()));
    a.iter().zip(&b).map(|(p, q)| (p - q).abs()).sum::<f64>() / a.len() as f64
}

/// Kolmogorov-Smirnov distance between the empirical law of `x` and `N(mean, sd^2)`.
pub fn ks_gaussian(x: &[f64], mean: f64, sd: f64) -> f64 {
    let s = sorted(x.to_vec());
    let n = s.len() as f64;
    s.iter()
        .enumerate()
        .map(|(i, v)| {
            let f = normal_cdf((v - mean) / sd);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

/// Directions of the sliced distances: `k` angles evenly spread over [0, pi).
fn directions(k: usize) -> Vec<[f64; 2]> {
    (0..k)
        .map(|i| {
            let a = std::f64::consts::PI * (i as f64 + 0.5) / k as f64;
            [a.cos(), a.sin()]
        })
        .collect()
}

/// Sliced W1 between 2-D samples and a 2-D Gaussian: the mean over `k` fixed directions of
/// the 1-D W1 of the projections (a Gaussian projects to a Gaussian).
pub fn sliced_w1_gaussian(rows: &[Row], g: &Gaussian2, k: usize) -> f64 {
    directions(k)
        .iter()
        .map(|t| {
            let proj: Vec<f64> = rows.iter().map(|r| t[0] * r[0] + t[1] * r[1]).collect();
            let mean = t[0] * g.mean[0] + t[1] * g.mean[1];
            let var = t[0] * t[0] * g.cov[0][0]
                + 2.0 * t[0] * t[1] * g.cov[0][1]
                + t[1] * t[1] * g.cov[1][1];
            w1_gaussian(&proj, mean, var.max(0.0).sqrt())
        })
        .sum::<f64>()
        / k as f64
}

/// Sliced W1 between two 2-D samples of equal size.
pub fn sliced_w1_samples(a: &[Row], b: &[Row], k: usize) -> f64 {
    directions(k)
        .iter()
        .map(|t| {
            let pa: Vec<f64> = a.iter().map(|r| t[0] * r[0] + t[1] * r[1]).collect();
            let pb: Vec<f64> = b.iter().map(|r| t[0] * r[0] + t[1] * r[1]).collect();
            w1_samples(&pa, &pb)
        })
        .sum::<f64>()
        / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_cdf() {
        for &p in &[1e-6, 0.01, 0.3, 0.5, 0.77, 0.999] {
            let x = normal_quantile(p);
            assert!((normal_cdf(x) - p).abs() < 1e-14 * p.max(1e-3), "p = {p}");
        }
    }

    #[test]
    fn quantile_matches_known_values_to_1e_12() {
        // Phi^{-1}(p) from mpmath at 30 digits (-sqrt(2) erfinv(1 - 2p)), rounded to f64. Points
        // where the f64 rounding of p alone moves the quantile by > 1e-13 are left out.
        let known = [
            (1e-10, -6.361340902404057),
            (1e-6, -4.753424308822899),
            (0.01, -2.326347874040841),
            (0.3, -0.5244005127080408),
            (0.5, 0.0),
            (0.77, 0.7388468491852136),
            (0.9, 1.2815515655446006),
            (0.975, 1.9599639845400543),
            (0.999, 3.0902323061678136),
        ];
        for (p, q) in known {
            let x = normal_quantile(p);
            assert!(
                (x - q).abs() < 1e-12,
                "p = {p}: {x} vs {q} (error {:e})",
                x - q
            );
        }
    }

    #[test]
    fn distances_vanish_on_exact_quantiles() {
        let n = 1000;
        let x: Vec<f64> = (0..n)
            .map(|i| 2.0 + 3.0 * normal_quantile((i as f64 + 0.5) / n as f64))
            .collect();
        assert!(w1_gaussian(&x, 2.0, 3.0) < 1e-9);
        assert!(ks_gaussian(&x, 2.0, 3.0) <= 0.5 / n as f64 + 1e-7);
        assert!(w1_gaussian(&x, 2.5, 3.0) > 0.49);
    }
}
