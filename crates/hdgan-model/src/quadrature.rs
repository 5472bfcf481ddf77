//! One-dimensional Gaussian averages `E[phi(m + s T)]`, `T ~ N(0, 1)`: the quadrature behind
//! the loss averages of THEORY §4 ([`crate::DiscriminatorLoss`]) and their tables
//! (`score_table`).

/// How a one-dimensional Gaussian average `E[phi(m + s T)]`, `T ~ N(0, 1)`, is computed:
/// the trapezoidal rule on `t = k h`, `|t| <= 9` (the weight beyond is below 3e-18).
///
/// For an integrand analytic in a strip `|Im t| < a` the trapezoidal rule's error falls
/// like `exp(-2 pi a / h)`; the logistic losses have poles at `|Im t|` of order `0.8 / s`,
/// which is why a Gauss-Hermite rule of practical order (64: ~1e-8; 160: ~3e-11) stops short
/// of double precision on them while halving `h` gets there in a few steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Quadrature {
    /// Halve `h` from 1/2 until two successive sums agree to `tol` (relative to 1 + the
    /// largest average); at most 1/1024.
    Adaptive(f64),
    /// A fixed step `h`.
    Step(f64),
    /// Five-node Gauss-Hermite: exact for polynomials of degree up to 9 (the quadratic
    /// loss's averages of products of scores), and only for them.
    Hermite5,
}

/// The nodes and weights of the five-node Gauss-Hermite rule for `N(0, 1)`: the roots of
/// `He_5(t) = t^5 - 10 t^3 + 15 t` (0, `+-sqrt(5 -+ sqrt 10)`), weights
/// `5! / (25 He_4(t)^2)`.
fn hermite5() -> [(f64, f64); 5] {
    let he4 = |t: f64| t.powi(4) - 6.0 * t * t + 3.0;
    let a = (5.0 - 10f64.sqrt()).sqrt();
    let b = (5.0 + 10f64.sqrt()).sqrt();
    [0.0, a, -a, b, -b].map(|t| (t, 120.0 / (25.0 * he4(t).powi(2))))
}

/// What [`crate::quadrature_moments`] uses: adaptive to 1e-14.
pub const QUADRATURE: Quadrature = Quadrature::Adaptive(1e-14);

/// `E[phi(X)]` componentwise for `X ~ N(m, s^2)`, by the rule `quad` (`s = 0`: `phi(m)`).
pub fn gaussian_average<const N: usize>(
    phi: &dyn Fn(f64) -> [f64; N],
    m: f64,
    s: f64,
    quad: Quadrature,
) -> [f64; N] {
    if s == 0.0 {
        return phi(m);
    }
    const T_MAX: f64 = 9.0;
    let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    // Sum over the grid points t = (first + 2 j) h0, |t| <= T_MAX, for j >= 0 and mirrored.
    let add = |sum: &mut [f64; N], h0: f64, first: usize| {
        let mut k = first;
        while (k as f64) * h0 <= T_MAX {
            let t = k as f64 * h0;
            let w = norm * (-0.5 * t * t).exp();
            for (a, b) in sum.iter_mut().zip(phi(m + s * t)) {
                *a += w * b;
            }
            if k > 0 {
                for (a, b) in sum.iter_mut().zip(phi(m - s * t)) {
                    *a += w * b;
                }
            }
            k += if first == 0 { 1 } else { 2 };
        }
    };
    let done = |sum: &[f64; N], h: f64| sum.map(|x| x * h);
    match quad {
        Quadrature::Hermite5 => {
            let mut sum = [0.0; N];
            for (t, w) in hermite5() {
                for (a, b) in sum.iter_mut().zip(phi(m + s * t)) {
                    *a += w * b;
                }
            }
            sum
        }
        Quadrature::Step(h) => {
            let mut sum = [0.0; N];
            add(&mut sum, h, 0);
            done(&sum, h)
        }
        Quadrature::Adaptive(tol) => {
            let mut h = 0.5;
            let mut sum = [0.0; N];
            add(&mut sum, h, 0);
            let mut prev = done(&sum, h);
            while h > 1.0 / 1024.0 {
                // The midpoints of the current grid: odd multiples of h / 2.
                h /= 2.0;
                add(&mut sum, h, 1);
                let next = done(&sum, h);
                let scale = 1.0 + next.iter().fold(0.0f64, |a, x| a.max(x.abs()));
                let diff = next
                    .iter()
                    .zip(&prev)
                    .fold(0.0f64, |a, (x, y)| a.max((x - y).abs()));
                prev = next;
                if diff <= tol * scale {
                    break;
                }
            }
            prev
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermite5_is_exact_to_degree_nine() {
        // E[(m + s T)^k] against the binomial sum of the standard normal's moments.
        let (m, sd) = (0.7, 1.9);
        let double_fact = |k: usize| (1..k).step_by(2).map(|j| j as f64).product::<f64>();
        for k in 0..=9usize {
            let got =
                gaussian_average(&|x: f64| [x.powi(k as i32)], m, sd, Quadrature::Hermite5)[0];
            let mut exact = 0.0;
            let mut binom = 1.0;
            for j in 0..=k {
                if j % 2 == 0 {
                    exact += binom * m.powi((k - j) as i32) * sd.powi(j as i32) * double_fact(j);
                }
                binom = binom * (k - j) as f64 / (j + 1) as f64;
            }
            assert!(
                (got - exact).abs() <= 1e-12 * (1.0 + exact.abs()),
                "k = {k}: {got} vs {exact}"
            );
        }
        // ... and not beyond: degree 10 misses.
        let ten = gaussian_average(&|x: f64| [x.powi(10)], 0.0, 1.0, Quadrature::Hermite5)[0];
        assert!((ten - 945.0).abs() > 1.0);
    }
}
