//! Small statistics helpers for the validation checks.

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
