use crate::Latent;

/// The expectations of THEORY §4 that the limiting ODE needs from a discriminator loss, at
/// given overlaps `(q, r, z)`; `e ~ N(0, 1)`, `x = c^T q + e sqrt(z eta_T)`,
/// `x~ = c~^T r + e sqrt(z eta_G)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LossMoments {
    /// `g = < c f(x) >`.
    pub g: Vec<f64>,
    /// `g~ = < c~ f~(x~) >`.
    pub g_tilde: Vec<f64>,
    /// `< f'(x) >`.
    pub f_prime_mean: f64,
    /// `< f~'(x~) >`.
    pub f_tilde_prime_mean: f64,
    /// `< f(x)^2 >`.
    pub f_sq_mean: f64,
    /// `< f~(x~)^2 >`.
    pub f_tilde_sq_mean: f64,
}

/// A discriminator loss family: `f(x) = d/dx F(D^(x))` and `f~(x) = d/dx F~(D^(x))` of
/// THEORY §1, their derivatives, and the Gaussian expectations of them that the ODE needs.
///
/// The simulator calls [`DiscriminatorLoss::f`] and [`DiscriminatorLoss::f_tilde`]; the
/// general ODE calls [`DiscriminatorLoss::moments`]. A new loss gives `f`, `f~`, `f'` and
/// `f~'`; `moments` then comes by quadrature ([`quadrature_moments`]) unless the loss has
/// a closed form (as [`Quadratic`] does).
pub trait DiscriminatorLoss: Sync {
    /// `f(x)`, applied to the real sample's score `y^T w`.
    fn f(&self, x: f64) -> f64;
    /// `f~(x)`, applied to a fake sample's score `y~^T w`.
    fn f_tilde(&self, x: f64) -> f64;
    /// `f'(x)`.
    fn f_prime(&self, x: f64) -> f64;
    /// `f~'(x)`.
    fn f_tilde_prime(&self, x: f64) -> f64;
    /// The expectations of THEORY §4 at `(q, r, z)` (default: [`quadrature_moments`]).
    #[allow(clippy::too_many_arguments)]
    fn moments(
        &self,
        latent: &Latent,
        latent_tilde: &Latent,
        q: &[f64],
        r: &[f64],
        z: f64,
        eta_t: f64,
        eta_g: f64,
    ) -> LossMoments {
        quadrature_moments(self, latent, latent_tilde, q, r, z, eta_t, eta_g)
    }
}

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
}

/// What [`quadrature_moments`] uses: adaptive to 1e-14.
pub const QUADRATURE: Quadrature = Quadrature::Adaptive(1e-14);

/// `(E[f(X)], E[f'(X)], E[f(X)^2])` for `X ~ N(m, s^2)`.
fn gaussian_averages(
    f: &dyn Fn(f64) -> f64,
    fp: &dyn Fn(f64) -> f64,
    m: f64,
    s: f64,
    quad: Quadrature,
) -> (f64, f64, f64) {
    if s == 0.0 {
        let v = f(m);
        return (v, fp(m), v * v);
    }
    const T_MAX: f64 = 9.0;
    let norm = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let eval = |t: f64| -> [f64; 3] {
        let x = m + s * t;
        let v = f(x);
        let w = norm * (-0.5 * t * t).exp();
        [w * v, w * fp(x), w * v * v]
    };
    // Sum over the grid points t = (first + 2 j) h0, |t| <= T_MAX, for j >= 0 and mirrored.
    let add = |sum: &mut [f64; 3], h0: f64, first: usize| {
        let mut k = first;
        while (k as f64) * h0 <= T_MAX {
            let t = k as f64 * h0;
            for (a, b) in sum.iter_mut().zip(eval(t)) {
                *a += b;
            }
            if k > 0 {
                for (a, b) in sum.iter_mut().zip(eval(-t)) {
                    *a += b;
                }
            }
            k += if first == 0 && h0 > 0.0 { 1 } else { 2 };
        }
    };
    let done = |sum: &[f64; 3], h: f64| (sum[0] * h, sum[1] * h, sum[2] * h);
    match quad {
        Quadrature::Step(h) => {
            let mut sum = [0.0; 3];
            add(&mut sum, h, 0);
            done(&sum, h)
        }
        Quadrature::Adaptive(tol) => {
            let mut h = 0.5;
            let mut sum = [0.0; 3];
            add(&mut sum, h, 0);
            let mut prev = done(&sum, h);
            while h > 1.0 / 1024.0 {
                // The midpoints of the current grid: odd multiples of h / 2.
                h /= 2.0;
                add(&mut sum, h, 1);
                let next = done(&sum, h);
                let scale = 1.0 + next.0.abs().max(next.1.abs()).max(next.2.abs());
                let diff = (next.0 - prev.0)
                    .abs()
                    .max((next.1 - prev.1).abs())
                    .max((next.2 - prev.2).abs());
                prev = next;
                if diff <= tol * scale {
                    break;
                }
            }
            prev
        }
    }
}

/// One side of THEORY §4's averages for a latent mixture: for class k the score
/// `x = c^T q + e sqrt(z eta)` is `N(mu_k^T q, q^T Sigma_k q + z eta)`, and by Stein's lemma
/// `E[c f(x)] = mu_k E[f(x)] + Sigma_k q E[f'(x)]`. Returns `(g, <f'>, <f^2>)`.
fn side(
    f: &dyn Fn(f64) -> f64,
    fp: &dyn Fn(f64) -> f64,
    latent: &Latent,
    (q, z, eta): (&[f64], f64, f64),
    quad: Quadrature,
) -> (Vec<f64>, f64, f64) {
    let d = q.len();
    let (mut g, mut mfp, mut mf2) = (vec![0.0; d], 0.0, 0.0);
    for (pi, mu, cov) in latent.components() {
        let sq = cov.matrix().mul_vec(q);
        let m: f64 = mu.iter().zip(q).map(|(a, b)| a * b).sum();
        let var: f64 = q.iter().zip(&sq).map(|(a, b)| a * b).sum::<f64>() + z * eta;
        let (ef, efp, ef2) = gaussian_averages(f, fp, m, var.max(0.0).sqrt(), quad);
        for i in 0..d {
            g[i] += pi * (mu[i] * ef + sq[i] * efp);
        }
        mfp += pi * efp;
        mf2 += pi * ef2;
    }
    (g, mfp, mf2)
}

/// THEORY §4's expectations for any loss, by one-dimensional quadrature ([`QUADRATURE`])
/// over each latent class's Gaussian score: Example 1's closed forms to 1e-12 and the
/// logistic losses within 1e-12 of a fine fixed-step reference (tests).
#[allow(clippy::too_many_arguments)]
pub fn quadrature_moments<L: DiscriminatorLoss + ?Sized>(
    loss: &L,
    latent: &Latent,
    latent_tilde: &Latent,
    q: &[f64],
    r: &[f64],
    z: f64,
    eta_t: f64,
    eta_g: f64,
) -> LossMoments {
    moments_with_quadrature(
        loss,
        (latent, q, eta_t),
        (latent_tilde, r, eta_g),
        z,
        QUADRATURE,
    )
}

/// [`quadrature_moments`] with a given quadrature; the sides are `(latent, overlaps,
/// noise)`.
pub fn moments_with_quadrature<L: DiscriminatorLoss + ?Sized>(
    loss: &L,
    (latent, q, eta_t): (&Latent, &[f64], f64),
    (latent_tilde, r, eta_g): (&Latent, &[f64], f64),
    z: f64,
    quad: Quadrature,
) -> LossMoments {
    let (g, f_prime_mean, f_sq_mean) = side(
        &|x| loss.f(x),
        &|x| loss.f_prime(x),
        latent,
        (q, z, eta_t),
        quad,
    );
    let (g_tilde, f_tilde_prime_mean, f_tilde_sq_mean) = side(
        &|x| loss.f_tilde(x),
        &|x| loss.f_tilde_prime(x),
        latent_tilde,
        (r, z, eta_g),
        quad,
    );
    LossMoments {
        g,
        g_tilde,
        f_prime_mean,
        f_tilde_prime_mean,
        f_sq_mean,
        f_tilde_sq_mean,
    }
}

fn sigmoid(u: f64) -> f64 {
    if u >= 0.0 {
        1.0 / (1.0 + (-u).exp())
    } else {
        let e = u.exp();
        e / (1.0 + e)
    }
}

/// The standard GAN value `log D(y) + log(1 - D(y~))` with a discriminator on the quadratic
/// energy, `D(y) = sigmoid((y^T w)^2 / 2 - b)`: `F(D) = log D`, `F~(D) = -log(1 - D)`, so
/// `f(x) = x sigmoid(b - x^2 / 2)` and `f~(x) = x sigmoid(x^2 / 2 - b)` (`model.loss =
/// "logistic"`, `b = model.loss_bias`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogisticQuadratic {
    /// The bias `b`.
    pub bias: f64,
}

impl DiscriminatorLoss for LogisticQuadratic {
    fn f(&self, x: f64) -> f64 {
        x * sigmoid(self.bias - 0.5 * x * x)
    }
    fn f_tilde(&self, x: f64) -> f64 {
        x * sigmoid(0.5 * x * x - self.bias)
    }
    fn f_prime(&self, x: f64) -> f64 {
        let s = sigmoid(self.bias - 0.5 * x * x);
        s - x * x * s * (1.0 - s)
    }
    fn f_tilde_prime(&self, x: f64) -> f64 {
        let s = sigmoid(0.5 * x * x - self.bias);
        s + x * x * s * (1.0 - s)
    }
}

/// The standard GAN value with a linear logit, `D(y) = sigmoid(y^T w)`:
/// `f(x) = sigmoid(-x)`, `f~(x) = sigmoid(x)` (`model.loss = "logistic-linear"`). An odd
/// logit sees the latents' means, not their covariances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogisticLinear;

impl DiscriminatorLoss for LogisticLinear {
    fn f(&self, x: f64) -> f64 {
        sigmoid(-x)
    }
    fn f_tilde(&self, x: f64) -> f64 {
        sigmoid(x)
    }
    fn f_prime(&self, x: f64) -> f64 {
        let s = sigmoid(-x);
        -s * (1.0 - s)
    }
    fn f_tilde_prime(&self, x: f64) -> f64 {
        let s = sigmoid(x);
        s * (1.0 - s)
    }
}

/// Example 1: `F = F~ = x^2 / 2`, so `f = f~ = identity`. Its expectations are closed form
/// in the latent second moments `Lam`, `Lam~`: `g = Lam q`, `g~ = Lam~ r`, `<f'> = 1`,
/// `<f^2> = q^T Lam q + eta_T z`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quadratic;

impl DiscriminatorLoss for Quadratic {
    #[inline]
    fn f(&self, x: f64) -> f64 {
        x
    }
    #[inline]
    fn f_tilde(&self, x: f64) -> f64 {
        x
    }
    fn f_prime(&self, _: f64) -> f64 {
        1.0
    }
    fn f_tilde_prime(&self, _: f64) -> f64 {
        1.0
    }
    fn moments(
        &self,
        latent: &Latent,
        latent_tilde: &Latent,
        q: &[f64],
        r: &[f64],
        z: f64,
        eta_t: f64,
        eta_g: f64,
    ) -> LossMoments {
        let lam = latent.second_moment().matrix();
        let lam_t = latent_tilde.second_moment().matrix();
        let g = lam.mul_vec(q);
        let g_tilde = lam_t.mul_vec(r);
        let qlq: f64 = q.iter().zip(&g).map(|(a, b)| a * b).sum();
        let rlr: f64 = r.iter().zip(&g_tilde).map(|(a, b)| a * b).sum();
        LossMoments {
            g,
            g_tilde,
            f_prime_mean: 1.0,
            f_tilde_prime_mean: 1.0,
            f_sq_mean: qlq + eta_t * z,
            f_tilde_sq_mean: rlr + eta_g * z,
        }
    }
}

/// The discriminator losses hdgan knows; [`DiscriminatorLoss`] is the extension point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Loss {
    /// Example 1, `f = f~ = identity`.
    #[default]
    Quadratic,
    /// [`LogisticQuadratic`].
    Logistic(LogisticQuadratic),
    /// [`LogisticLinear`].
    LogisticLinear,
}

/// A `Loss` is used as its functions: `model.loss.f(x)`, `model.loss.moments(...)` reach
/// the [`DiscriminatorLoss`] of the chosen variant (one match, here).
impl std::ops::Deref for Loss {
    type Target = dyn DiscriminatorLoss;

    fn deref(&self) -> &Self::Target {
        match self {
            Loss::Quadratic => &Quadratic,
            Loss::Logistic(l) => l,
            Loss::LogisticLinear => &LogisticLinear,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClassConfig, LatentConfig};
    use crate::random::stream_rng;

    /// Three correlated, non-zero-mean classes in d = 2.
    fn mixture() -> Latent {
        LatentConfig {
            cov: Vec::new(),
            mean: None,
            classes: vec![
                ClassConfig {
                    prob: 0.5,
                    mean: Some(vec![1.0, -0.5]),
                    cov: vec![vec![2.0, 0.4], vec![0.4, 1.0]],
                },
                ClassConfig {
                    prob: 0.3,
                    mean: Some(vec![-1.5, 0.0]),
                    cov: vec![vec![1.0, 0.0], vec![0.0, 3.0]],
                },
                ClassConfig {
                    prob: 0.2,
                    mean: None,
                    cov: vec![vec![0.5, -0.2], vec![-0.2, 0.5]],
                },
            ],
            from_data: None,
        }
        .validate("latent", 2)
        .unwrap()
    }

    #[test]
    fn quadrature_reproduces_the_quadratic_closed_form() {
        let lat = mixture();
        let (q, r, z) = ([0.3, -0.7], [0.5, 0.2], 1.3);
        let exact = Quadratic.moments(&lat, &lat, &q, &r, z, 2.0, 0.5);
        let quad = quadrature_moments(&Quadratic, &lat, &lat, &q, &r, z, 2.0, 0.5);
        for (a, b) in exact
            .g
            .iter()
            .zip(&quad.g)
            .chain(exact.g_tilde.iter().zip(&quad.g_tilde))
        {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        assert!((exact.f_sq_mean - quad.f_sq_mean).abs() < 1e-12);
        assert!((exact.f_tilde_sq_mean - quad.f_tilde_sq_mean).abs() < 1e-12);
        assert!((quad.f_prime_mean - 1.0).abs() < 1e-13);
    }

    fn flat(m: &LossMoments) -> Vec<f64> {
        let mut v = m.g.clone();
        v.extend(&m.g_tilde);
        v.extend([
            m.f_prime_mean,
            m.f_tilde_prime_mean,
            m.f_sq_mean,
            m.f_tilde_sq_mean,
        ]);
        v
    }

    /// The quadrature converges: for each logistic loss (three biases) on a correlated,
    /// non-zero-mean mixture at small and large scores, the fixed-step sums approach a
    /// fine reference (h = 1/200) as h halves, and the adaptive rule used by
    /// [`quadrature_moments`] is within 1e-12 of it (below 1e-14 both sit at round-off).
    #[test]
    fn quadrature_converges_to_1e_12_on_the_logistic_losses() {
        let lat = mixture();
        let losses: [&dyn DiscriminatorLoss; 4] = [
            &LogisticQuadratic { bias: 1.0 },
            &LogisticQuadratic { bias: 3.0 },
            &LogisticQuadratic { bias: -1.0 },
            &LogisticLinear,
        ];
        for loss in losses {
            for (q, z) in [([0.1, 0.05], 1.0), ([0.6, -0.4], 0.8), ([1.5, 1.0], 2.0)] {
                let at = |quad: Quadrature| {
                    flat(&moments_with_quadrature(
                        loss,
                        (&lat, &q, 1.5),
                        (&lat, &q, 0.7),
                        z,
                        quad,
                    ))
                };
                let exact = at(Quadrature::Step(1.0 / 200.0));
                let err = |quad: Quadrature| {
                    at(quad)
                        .iter()
                        .zip(&exact)
                        .map(|(a, b)| (a - b).abs())
                        .fold(0.0f64, f64::max)
                };
                let steps: Vec<f64> = [0.5, 0.25, 0.125]
                    .iter()
                    .map(|&h| err(Quadrature::Step(h)))
                    .collect();
                assert!(
                    steps[1] <= steps[0].max(1e-14) && steps[2] <= steps[1].max(1e-14),
                    "errors at h = 1/2, 1/4, 1/8: {steps:?}"
                );
                let adaptive = err(QUADRATURE);
                assert!(adaptive < 1e-12, "adaptive: {adaptive:e} at q = {q:?}");
            }
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let losses: [&dyn DiscriminatorLoss; 3] = [
            &LogisticQuadratic { bias: 1.0 },
            &LogisticQuadratic { bias: -0.5 },
            &LogisticLinear,
        ];
        let h = 1e-6;
        for l in losses {
            for &x in &[-3.0, -1.2, -0.1, 0.0, 0.4, 1.7, 4.0] {
                let fd = (l.f(x + h) - l.f(x - h)) / (2.0 * h);
                let fdt = (l.f_tilde(x + h) - l.f_tilde(x - h)) / (2.0 * h);
                assert!((fd - l.f_prime(x)).abs() < 1e-8, "f' at {x}");
                assert!((fdt - l.f_tilde_prime(x)).abs() < 1e-8, "f~' at {x}");
            }
        }
    }

    /// The quadrature against a Monte Carlo average of the same expectations: every
    /// component within 5 standard errors (N = 200000 draws; a wrong Stein term or a wrong
    /// variance of the score moves them by many).
    #[test]
    fn logistic_moments_match_monte_carlo() {
        let lat = mixture();
        let (q, z, eta) = ([0.6, -0.4], 0.8, 1.5);
        let loss = LogisticQuadratic { bias: 1.0 };
        let quad = quadrature_moments(&loss, &lat, &lat, &q, &q, z, eta, eta);
        let n = 200_000;
        let mut rng = stream_rng(11, 0);
        let mut c = [0.0; 2];
        // Samples of c_1 f(x), c_2 f(x), f'(x), f(x)^2.
        let mut sums = [[0.0f64; 2]; 4];
        for _ in 0..n {
            lat.sample(&mut rng, &mut c);
            let x = c[0] * q[0] + c[1] * q[1] + rng.normal() * (z * eta).sqrt();
            let (f, fp) = (loss.f(x), loss.f_prime(x));
            for (k, v) in [c[0] * f, c[1] * f, fp, f * f].into_iter().enumerate() {
                sums[k][0] += v;
                sums[k][1] += v * v;
            }
        }
        let expected = [quad.g[0], quad.g[1], quad.f_prime_mean, quad.f_sq_mean];
        for (k, s) in sums.iter().enumerate() {
            let mean = s[0] / n as f64;
            let se = ((s[1] / n as f64 - mean * mean) / n as f64).sqrt();
            assert!(
                (mean - expected[k]).abs() < 5.0 * se,
                "component {k}: Monte Carlo {mean} +- {se}, quadrature {}",
                expected[k]
            );
        }
    }
}
