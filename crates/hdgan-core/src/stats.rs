//! Small statistics helpers (sample moments, a least-squares line, two-sample tests) used
//! by tests and validation checks.

/// Sample mean.
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (n - 1 in the denominator).
pub fn sd(x: &[f64]) -> f64 {
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() as f64 - 1.0).max(1.0)).sqrt()
}

/// Standard error of the mean.
pub fn se(x: &[f64]) -> f64 {
    sd(x) / (x.len() as f64).sqrt()
}

/// Least-squares line `y = a + b x`: returns `(a, b, se_b)`.
pub fn linear_fit(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (mean(x), mean(y));
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let b = sxy / sxx;
    let a = my - b * mx;
    let resid: f64 = x.iter().zip(y).map(|(u, v)| (v - a - b * u).powi(2)).sum();
    let se_b = if n > 2.0 {
        (resid / (n - 2.0) / sxx).sqrt()
    } else {
        f64::NAN
    };
    (a, b, se_b)
}

/// The standard normal quantile `Phi^{-1}(p)`: P. J. Acklam's rational approximation
/// (relative error 1.15e-9), refined by one Halley step on the double-precision
/// [`normal_cdf`], which brings it to about 1e-15 (tested against known quantiles to 1e-12).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    if p > 0.5 {
        // Phi^{-1}(p) = -Phi^{-1}(1 - p), and 1 - p is exact here: the lower tail keeps
        // full relative accuracy where Phi(x) - p would cancel.
        return -normal_quantile(1.0 - p);
    }
    let plow = 0.02425;
    let x = if p < plow {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // One Halley step on Phi(x) - p.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (0.5 * x * x).exp();
    x - u / (1.0 + 0.5 * x * u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [3.0, 5.0, 7.0, 9.0];
        let (a, b, s) = linear_fit(&x, &y);
        assert!((a - 1.0).abs() < 1e-12 && (b - 2.0).abs() < 1e-12 && s.abs() < 1e-12);
        assert!((sd(&[1.0, 3.0]) - 2f64.sqrt()).abs() < 1e-12);
    }
}

/// Two-sample Kolmogorov-Smirnov statistic D and its asymptotic p-value
/// `Q_KS((sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) D)`, `ne = n m / (n + m)` (Stephens' correction).
pub fn ks_two_sample(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut x = a.to_vec();
    let mut y = b.to_vec();
    x.sort_by(f64::total_cmp);
    y.sort_by(f64::total_cmp);
    let (n, m) = (x.len(), y.len());
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < n && j < m {
        let v = x[i].min(y[j]);
        while i < n && x[i] <= v {
            i += 1;
        }
        while j < m && y[j] <= v {
            j += 1;
        }
        d = d.max((i as f64 / n as f64 - j as f64 / m as f64).abs());
    }
    let ne = (n * m) as f64 / (n + m) as f64;
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    (d, kolmogorov_q(lambda))
}

/// The Kolmogorov distribution's survival function `Q(l) = 2 sum_k (-1)^(k-1) exp(-2 k^2 l^2)`.
pub fn kolmogorov_q(l: f64) -> f64 {
    if l < 0.2 {
        return 1.0;
    }
    let mut s = 0.0;
    for k in 1..=100 {
        let term = (-2.0 * (k * k) as f64 * l * l).exp();
        s += if k % 2 == 1 { term } else { -term };
        if term < 1e-16 {
            break;
        }
    }
    (2.0 * s).clamp(0.0, 1.0)
}

/// z-score of the difference of two sample means.
pub fn z_means(a: &[f64], b: &[f64]) -> f64 {
    let s = (se(a).powi(2) + se(b).powi(2)).sqrt();
    if s == 0.0 {
        0.0
    } else {
        (mean(a) - mean(b)) / s
    }
}

/// z-score of a difference of spread (Brown-Forsythe): the z of the difference of the
/// means of the absolute deviations from each sample's median. Unlike a z on sample
/// standard deviations it does not assume normal data (skewed or heavy-tailed entries
/// inflate the naive one).
pub fn z_sds(a: &[f64], b: &[f64]) -> f64 {
    let dev = |x: &[f64]| -> Vec<f64> {
        let mut s = x.to_vec();
        s.sort_by(f64::total_cmp);
        let med = if s.len() % 2 == 1 {
            s[s.len() / 2]
        } else {
            0.5 * (s[s.len() / 2 - 1] + s[s.len() / 2])
        };
        x.iter().map(|v| (v - med).abs()).collect()
    };
    z_means(&dev(a), &dev(b))
}

#[cfg(test)]
mod ks_tests {
    use super::*;

    #[test]
    fn ks_detects_a_shift_and_accepts_equal_samples() {
        let a: Vec<f64> = (0..1000).map(|k| (k as f64 + 0.5) / 1000.0).collect();
        let b: Vec<f64> = (0..1000).map(|k| (k as f64 + 0.25) / 1000.0).collect();
        let (d, p) = ks_two_sample(&a, &b);
        assert!(d < 0.01 && p > 0.99);
        let c: Vec<f64> = a.iter().map(|x| x + 0.1).collect();
        let (d, p) = ks_two_sample(&a, &c);
        // ne = 500: lambda = (sqrt(500) + 0.125) 0.101 = 2.27, Q = 2 exp(-2 lambda^2) = 6.6e-5.
        assert!((d - 0.1).abs() < 0.002 && p < 1e-4, "{d} {p}");
        assert!((kolmogorov_q(1.36) - 0.049).abs() < 0.002);
    }
}

/// The outcome of comparing two ensembles of trajectories entry by entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LawComparison {
    /// Largest |z| of a difference of means, and where (`entry at t`).
    pub z_mean: (f64, String),
    /// Largest |z| of a difference of spread (Brown-Forsythe), and where.
    pub z_sd: (f64, String),
    /// Smallest two-sample KS p-value, and where.
    pub ks_p: (f64, String),
    /// Number of (time, entry) pairs compared.
    pub tests: usize,
}

/// Compares two ensembles sampled at the same times: for every time after the first and
/// every entry of the flat state that varies (sample sd above 1e-12 in either ensemble),
/// the z-scores of the differences of means and of standard deviations, and the
/// two-sample KS p-value.
pub fn compare_ensembles(a: &[crate::Trajectory], b: &[crate::Trajectory]) -> LawComparison {
    let names = a
        .first()
        .and_then(crate::Trajectory::d)
        .map(crate::MacroState::column_names)
        .unwrap_or_default();
    let mut out = LawComparison {
        z_mean: (0.0, String::new()),
        z_sd: (0.0, String::new()),
        ks_p: (1.0, String::new()),
        tests: 0,
    };
    let times = a.first().map(|t| t.times.clone()).unwrap_or_default();
    for (ti, t) in times.iter().enumerate().skip(1) {
        for (e, name) in names.iter().enumerate() {
            let xa: Vec<f64> = a.iter().map(|p| p.states[ti].pack()[e]).collect();
            let xb: Vec<f64> = b.iter().map(|p| p.states[ti].pack()[e]).collect();
            if sd(&xa) < 1e-12 && sd(&xb) < 1e-12 {
                continue;
            }
            out.tests += 1;
            let at = format!("{name} at t = {t}");
            let zm = z_means(&xa, &xb).abs();
            if zm > out.z_mean.0 {
                out.z_mean = (zm, at.clone());
            }
            let zs = z_sds(&xa, &xb).abs();
            if zs > out.z_sd.0 {
                out.z_sd = (zs, at.clone());
            }
            let (_, p) = ks_two_sample(&xa, &xb);
            if p < out.ks_p.0 {
                out.ks_p = (p, at);
            }
        }
    }
    out
}

impl LawComparison {
    /// Whether the two laws are indistinguishable at family-wise level `alpha`
    /// (Bonferroni over the three statistics of every test: each |z| below the two-sided
    /// normal quantile of `alpha / (3 tests)`, each KS p-value above `alpha / (3 tests)`).
    pub fn same_law(&self, alpha: f64) -> bool {
        let per = alpha / (3.0 * self.tests.max(1) as f64);
        let zcrit = normal_two_sided_quantile(per);
        self.z_mean.0 < zcrit && self.z_sd.0 < zcrit && self.ks_p.0 > per
    }
}

/// `z` with `P(|Z| > z) = p` for a standard normal Z (bisection on [`erfc`]; accurate to
/// about 1e-14 in z for p >= 1e-300).
pub fn normal_two_sided_quantile(p: f64) -> f64 {
    // P(|Z| > z) = erfc(z / sqrt 2); bisection on [0, 40].
    let tail = |z: f64| erfc(z / std::f64::consts::SQRT_2);
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if tail(mid) > p { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// Complementary error function to double precision (the `libm` crate's port of FreeBSD's
/// msun `erfc`, relative error below 1e-15 over the whole line).
pub fn erfc(x: f64) -> f64 {
    libm::erfc(x)
}

/// The standard normal CDF `Phi(x) = erfc(-x / sqrt 2) / 2`, to double precision.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}
