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

/// Gauss-Hermite nodes and weights for `E[phi(X)]`, `X ~ N(0, 1)`: `sum_i w_i phi(x_i)`
/// (probabilists' form, weights summing to 1), by Newton's method on the Hermite
/// polynomials (Numerical Recipes' `gauher`), computed once.
pub fn gauss_hermite() -> &'static (Vec<f64>, Vec<f64>) {
    static NODES: std::sync::OnceLock<(Vec<f64>, Vec<f64>)> = std::sync::OnceLock::new();
    NODES.get_or_init(|| {
        const N: usize = 64;
        let pim4 = std::f64::consts::PI.powf(-0.25);
        let mut x = vec![0.0; N];
        let mut w = vec![0.0; N];
        let m = N.div_ceil(2);
        let mut z = 0.0f64;
        for i in 0..m {
            z = match i {
                0 => {
                    (2.0 * N as f64 + 1.0).sqrt() - 1.85575 * (2.0 * N as f64 + 1.0).powf(-0.16667)
                }
                1 => z - 1.14 * (N as f64).powf(0.426) / z,
                2 => 1.86 * z - 0.86 * x[0],
                3 => 1.91 * z - 0.91 * x[1],
                _ => 2.0 * z - x[i - 2],
            };
            let mut pp = 0.0;
            for _ in 0..100 {
                let (mut p1, mut p2) = (pim4, 0.0);
                for j in 0..N {
                    let p3 = p2;
                    p2 = p1;
                    p1 = z * (2.0 / (j as f64 + 1.0)).sqrt() * p2
                        - (j as f64 / (j as f64 + 1.0)).sqrt() * p3;
                }
                pp = (2.0 * N as f64).sqrt() * p2;
                let z1 = z;
                z = z1 - p1 / pp;
                if (z - z1).abs() <= 1e-15 * z.abs().max(1.0) {
                    break;
                }
            }
            x[i] = z;
            x[N - 1 - i] = -z;
            w[i] = 2.0 / (pp * pp);
            w[N - 1 - i] = w[i];
        }
        // Physicists' nodes and weights (weight exp(-t^2)) -> standard normal.
        let sqrt_pi = std::f64::consts::PI.sqrt();
        let nodes = x.iter().map(|t| std::f64::consts::SQRT_2 * t).collect();
        let weights = w.iter().map(|v| v / sqrt_pi).collect();
        (nodes, weights)
    })
}

/// `(E[f(X)], E[f'(X)], E[f(X)^2])` for `X ~ N(m, s^2)` by [`gauss_hermite`].
fn gaussian_averages(
    f: &dyn Fn(f64) -> f64,
    fp: &dyn Fn(f64) -> f64,
    m: f64,
    s: f64,
) -> (f64, f64, f64) {
    let (nodes, weights) = gauss_hermite();
    let mut acc = (0.0, 0.0, 0.0);
    for (t, w) in nodes.iter().zip(weights) {
        let x = m + s * t;
        let v = f(x);
        acc.0 += w * v;
        acc.1 += w * fp(x);
        acc.2 += w * v * v;
    }
    acc
}

/// One side of THEORY §4's averages for a latent mixture: for class k the score
/// `x = c^T q + e sqrt(z eta)` is `N(mu_k^T q, q^T Sigma_k q + z eta)`, and by Stein's lemma
/// `E[c f(x)] = mu_k E[f(x)] + Sigma_k q E[f'(x)]`. Returns `(g, <f'>, <f^2>)`.
fn side(
    f: &dyn Fn(f64) -> f64,
    fp: &dyn Fn(f64) -> f64,
    latent: &Latent,
    q: &[f64],
    z: f64,
    eta: f64,
) -> (Vec<f64>, f64, f64) {
    let d = q.len();
    let (mut g, mut mfp, mut mf2) = (vec![0.0; d], 0.0, 0.0);
    for (pi, mu, cov) in latent.components() {
        let sq = cov.matrix().mul_vec(q);
        let m: f64 = mu.iter().zip(q).map(|(a, b)| a * b).sum();
        let var: f64 = q.iter().zip(&sq).map(|(a, b)| a * b).sum::<f64>() + z * eta;
        let (ef, efp, ef2) = gaussian_averages(f, fp, m, var.max(0.0).sqrt());
        for i in 0..d {
            g[i] += pi * (mu[i] * ef + sq[i] * efp);
        }
        mfp += pi * efp;
        mf2 += pi * ef2;
    }
    (g, mfp, mf2)
}

/// THEORY §4's expectations for any loss by Gauss-Hermite quadrature (64 nodes) over each
/// latent class's Gaussian score; exact for polynomials of degree <= 127.
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
    let (g, f_prime_mean, f_sq_mean) =
        side(&|x| loss.f(x), &|x| loss.f_prime(x), latent, q, z, eta_t);
    let (g_tilde, f_tilde_prime_mean, f_tilde_sq_mean) = side(
        &|x| loss.f_tilde(x),
        &|x| loss.f_tilde_prime(x),
        latent_tilde,
        r,
        z,
        eta_g,
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
    fn gauss_hermite_integrates_normal_moments() {
        let (x, w) = gauss_hermite();
        let m = |k: i32| x.iter().zip(w).map(|(x, w)| w * x.powi(k)).sum::<f64>();
        assert!((m(0) - 1.0).abs() < 1e-13);
        assert!(m(1).abs() < 1e-13);
        assert!((m(2) - 1.0).abs() < 1e-12);
        assert!((m(4) - 3.0).abs() < 1e-11);
        assert!((m(8) - 105.0).abs() < 1e-8);
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
            assert!((a - b).abs() < 1e-11, "{a} vs {b}");
        }
        assert!((exact.f_sq_mean - quad.f_sq_mean).abs() < 1e-11);
        assert!((exact.f_tilde_sq_mean - quad.f_tilde_sq_mean).abs() < 1e-11);
        assert!((quad.f_prime_mean - 1.0).abs() < 1e-13);
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
