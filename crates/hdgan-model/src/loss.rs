use crate::Latent;
use crate::quadrature::{QUADRATURE, Quadrature, gaussian_average};
use crate::score_table::{LossTables, SideTable, tables_for};
use hdgan_core::DMat;

/// Where the expectations of THEORY §4 are taken: the two latent laws, the overlaps
/// `(q, r, z)` and the noise variances. A real sample's score is `x = c^T q + e sqrt(z eta_T)`,
/// a generated one's `x~ = c~^T r + e sqrt(z eta_G)`, `e ~ N(0, 1)`.
/// [`crate::Model::moment_point`] gives the model's at a state.
#[derive(Clone, Copy, Debug)]
pub struct MomentPoint<'a> {
    /// The law of the real latent `c`.
    pub latent: &'a Latent,
    /// The law of the generated latent `c~`.
    pub latent_tilde: &'a Latent,
    /// `q = U^T w`: the discriminator's overlaps with the true features (length d).
    pub q: &'a [f64],
    /// `r = V^T w`: its overlaps with the generator's columns (length d).
    pub r: &'a [f64],
    /// `z = w^T w`.
    pub z: f64,
    /// `eta_T`: the noise variance of the real samples.
    pub eta_t: f64,
    /// `eta_G`: the noise variance of the generated samples.
    pub eta_g: f64,
}

impl<'a> MomentPoint<'a> {
    /// The real side's score: `(latent, q, eta_T)`.
    fn real(&self) -> (&'a Latent, &'a [f64], f64) {
        (self.latent, self.q, self.eta_t)
    }

    /// The generated side's score: `(latent~, r, eta_G)`.
    fn fake(&self) -> (&'a Latent, &'a [f64], f64) {
        (self.latent_tilde, self.r, self.eta_g)
    }
}

/// The expectations of THEORY §4 that the limiting ODE needs from a discriminator loss, at
/// a [`MomentPoint`] (overlaps `(q, r, z)`); `e ~ N(0, 1)`, `x = c^T q + e sqrt(z eta_T)`,
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

/// The derivatives of [`LossMoments`] with respect to the overlaps at fixed `z`: what the
/// Jacobian of the reduced ODE needs ([`DiscriminatorLoss::moment_derivatives`]).
#[derive(Clone, Debug, PartialEq)]
pub struct MomentDerivatives {
    /// `dg_i / dq_j`.
    pub dg: DMat,
    /// `dg~_i / dr_j`.
    pub dg_tilde: DMat,
    /// `d<f(x)^2> / dq`.
    pub d_f_sq: Vec<f64>,
    /// `d<f~(x~)^2> / dr`.
    pub d_f_tilde_sq: Vec<f64>,
}

/// Relative step of the central differences behind the default second and third
/// derivatives.
const DIFF_STEP: f64 = 1e-4;

/// `(phi''(x), phi'''(x))` from `phi'` by central differences with step `1e-4 (1 + |x|)`:
/// errors of order 1e-8 of `phi'`'s scale.
fn differences(dphi: &dyn Fn(f64) -> f64, x: f64) -> (f64, f64) {
    let h = DIFF_STEP * (1.0 + x.abs());
    let (a, b, c) = (dphi(x - h), dphi(x), dphi(x + h));
    ((c - a) / (2.0 * h), (c - 2.0 * b + a) / (h * h))
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
    /// `f''(x)`, for the Jacobian (default: central differences of `f'`, error ~1e-8).
    fn f_second(&self, x: f64) -> f64 {
        differences(&|u| self.f_prime(u), x).0
    }
    /// `f'''(x)`, for the Jacobian (default: central differences of `f'`, error ~1e-8).
    fn f_third(&self, x: f64) -> f64 {
        differences(&|u| self.f_prime(u), x).1
    }
    /// `f~''(x)` (default: central differences of `f~'`).
    fn f_tilde_second(&self, x: f64) -> f64 {
        differences(&|u| self.f_tilde_prime(u), x).0
    }
    /// `f~'''(x)` (default: central differences of `f~'`).
    fn f_tilde_third(&self, x: f64) -> f64 {
        differences(&|u| self.f_tilde_prime(u), x).1
    }
    /// A key naming this loss's `f` and `f~` (equal keys, equal functions) under which
    /// hdgan tabulates the averages of zero-mean latent classes once per thread (verified
    /// against the quadrature to 1e-13 when built); None (the default) keeps every average on
    /// the quadrature. Keys with first entry below 16 are hdgan's.
    fn table_key(&self) -> Option<(u8, u64)> {
        None
    }
    /// The expectations of THEORY §4 at `at` (default: [`tabulated_moments`]: the
    /// quadrature, through tables for zero-mean classes when [`table_key`] gives a key).
    ///
    /// [`table_key`]: DiscriminatorLoss::table_key
    fn moments(&self, at: MomentPoint<'_>) -> LossMoments {
        tabulated_moments(self, at)
    }
    /// The derivatives of [`moments`] in `q` and `r` at fixed `z` (default: by quadrature,
    /// [`quadrature_moment_derivatives`]).
    ///
    /// [`moments`]: DiscriminatorLoss::moments
    fn moment_derivatives(&self, at: MomentPoint<'_>) -> MomentDerivatives {
        quadrature_moment_derivatives(self, at)
    }
}

/// The classes of a latent law as seen by the score `x = c^T q + e sqrt(z eta)`: for each,
/// `(probability, mean mu, covariance Sigma, Sigma q, mu^T q, sd of x)`: given the class, x is
/// `N(mu^T q, q^T Sigma q + z eta)`.
fn class_scores<'a>(
    latent: &'a Latent,
    (q, z, eta): (&'a [f64], f64, f64),
) -> impl Iterator<Item = (f64, &'a [f64], &'a DMat, Vec<f64>, f64, f64)> + 'a {
    latent.components().map(move |(pi, mu, cov)| {
        let sq = cov.matrix().mul_vec(q);
        let m: f64 = mu.iter().zip(q).map(|(a, b)| a * b).sum();
        let var: f64 = q.iter().zip(&sq).map(|(a, b)| a * b).sum::<f64>() + z * eta;
        (pi, mu, cov.matrix(), sq, m, var.max(0.0).sqrt())
    })
}

/// One side of THEORY §4's averages for a latent mixture: by Stein's lemma
/// `E[c f(x)] = mu_k E[f(x)] + Sigma_k q E[f'(x)]` per class. `phi(x) = [f, f', f^2]`.
/// Returns `(g, <f'>, <f^2>)`.
fn side(
    phi: &dyn Fn(f64) -> [f64; 3],
    table: Option<&SideTable>,
    latent: &Latent,
    score: (&[f64], f64, f64),
    quad: Quadrature,
) -> (Vec<f64>, f64, f64) {
    let d = score.0.len();
    let (mut g, mut mfp, mut mf2) = (vec![0.0; d], 0.0, 0.0);
    for (pi, mu, _, sq, m, sd) in class_scores(latent, score) {
        // A zero-mean class needs only E[f'] and E[f^2] at sd, which a table may hold.
        let tabulated = table
            .filter(|_| mu.iter().all(|&x| x == 0.0))
            .and_then(|t| t.eval(sd));
        let [ef, efp, ef2] = match tabulated {
            Some([b, c]) => [0.0, b, c],
            None => gaussian_average(phi, m, sd, quad),
        };
        for i in 0..d {
            g[i] += pi * (mu[i] * ef + sq[i] * efp);
        }
        mfp += pi * efp;
        mf2 += pi * ef2;
    }
    (g, mfp, mf2)
}

/// The derivatives of one side in its overlaps: with `v = q^T Sigma q + z eta` the score's
/// variance, `d/dm E[phi(x)] = E[phi']` and `d/dv E[phi(x)] = E[phi''] / 2`, so per class
/// (`e_k = E[f^(k)(x)]`)
///
/// ```text
/// dg_i/dq_j     = sum pi ( mu_i (e1 mu_j + e2 (Sigma q)_j) + Sigma_ij e1
///                        + (Sigma q)_i (e2 mu_j + e3 (Sigma q)_j) )
/// d<f^2>/dq_j   = sum pi ( 2 E[f f'] mu_j + 2 E[f'^2 + f f''] (Sigma q)_j )
/// ```
///
/// `phi(x) = [f', f'', f''', f f', f'^2 + f f'']`. Returns `(dg, d<f^2>/dq)`.
fn side_derivatives(
    phi: &dyn Fn(f64) -> [f64; 5],
    latent: &Latent,
    score: (&[f64], f64, f64),
) -> (DMat, Vec<f64>) {
    let d = score.0.len();
    let (mut dg, mut df2) = (DMat::zeros(d, d), vec![0.0; d]);
    for (pi, mu, cov, sq, m, sd) in class_scores(latent, score) {
        let [e1, e2, e3, ffp, f2pp] = gaussian_average(phi, m, sd, QUADRATURE);
        for i in 0..d {
            for j in 0..d {
                dg[(i, j)] += pi
                    * (mu[i] * (e1 * mu[j] + e2 * sq[j])
                        + cov[(i, j)] * e1
                        + sq[i] * (e2 * mu[j] + e3 * sq[j]));
            }
            df2[i] += pi * 2.0 * (ffp * mu[i] + f2pp * sq[i]);
        }
    }
    (dg, df2)
}

/// [`DiscriminatorLoss::moment_derivatives`] by quadrature ([`QUADRATURE`]) over each latent
/// class's Gaussian score, from `f`, `f'`, `f''`, `f'''` (and the same for `f~`). Example 1's
/// closed forms to 1e-12 and central differences of [`quadrature_moments`] for the logistic
/// losses (tests).
pub fn quadrature_moment_derivatives<L: DiscriminatorLoss + ?Sized>(
    loss: &L,
    at: MomentPoint<'_>,
) -> MomentDerivatives {
    let ((latent, q, eta_t), (latent_tilde, r, eta_g), z) = (at.real(), at.fake(), at.z);
    let (dg, d_f_sq) = side_derivatives(
        &|x| {
            let (f, f1, f2) = (loss.f(x), loss.f_prime(x), loss.f_second(x));
            [f1, f2, loss.f_third(x), f * f1, f1 * f1 + f * f2]
        },
        latent,
        (q, z, eta_t),
    );
    let (dg_tilde, d_f_tilde_sq) = side_derivatives(
        &|x| {
            let (f, f1, f2) = (
                loss.f_tilde(x),
                loss.f_tilde_prime(x),
                loss.f_tilde_second(x),
            );
            [f1, f2, loss.f_tilde_third(x), f * f1, f1 * f1 + f * f2]
        },
        latent_tilde,
        (r, z, eta_g),
    );
    MomentDerivatives {
        dg,
        dg_tilde,
        d_f_sq,
        d_f_tilde_sq,
    }
}

/// THEORY §4's expectations for any loss, by one-dimensional quadrature ([`QUADRATURE`])
/// over each latent class's Gaussian score: Example 1's closed forms to 1e-12 and the
/// logistic losses within 1e-12 of a fine fixed-step reference (tests).
pub fn quadrature_moments<L: DiscriminatorLoss + ?Sized>(
    loss: &L,
    at: MomentPoint<'_>,
) -> LossMoments {
    moments_with_quadrature(loss, at, QUADRATURE)
}

/// [`quadrature_moments`] with a given quadrature.
pub fn moments_with_quadrature<L: DiscriminatorLoss + ?Sized>(
    loss: &L,
    at: MomentPoint<'_>,
    quad: Quadrature,
) -> LossMoments {
    moments_from(loss, at.real(), at.fake(), at.z, quad, None)
}

/// The expectations of THEORY §4 as [`DiscriminatorLoss::moments`] computes them by
/// default: zero-mean latent classes from this thread's tables of the loss (when it has a
/// [`DiscriminatorLoss::table_key`]: piecewise Chebyshev in the score's standard deviation,
/// built once and verified against the quadrature to 1e-13), every other class by
/// quadrature ([`QUADRATURE`]). Within 1e-12 of [`quadrature_moments`] (tests).
pub fn tabulated_moments<L: DiscriminatorLoss + ?Sized>(
    loss: &L,
    at: MomentPoint<'_>,
) -> LossMoments {
    let tables = loss.table_key().and_then(|key| {
        tables_for(key, || {
            Some(LossTables {
                real: SideTable::build(&|x| loss.f(x), &|x| loss.f_prime(x))?,
                fake: SideTable::build(&|x| loss.f_tilde(x), &|x| loss.f_tilde_prime(x))?,
            })
        })
    });
    moments_from(
        loss,
        at.real(),
        at.fake(),
        at.z,
        QUADRATURE,
        tables.as_deref(),
    )
}

fn moments_from<L: DiscriminatorLoss + ?Sized>(
    loss: &L,
    (latent, q, eta_t): (&Latent, &[f64], f64),
    (latent_tilde, r, eta_g): (&Latent, &[f64], f64),
    z: f64,
    quad: Quadrature,
    tables: Option<&LossTables>,
) -> LossMoments {
    let (g, f_prime_mean, f_sq_mean) = side(
        &|x| {
            let f = loss.f(x);
            [f, loss.f_prime(x), f * f]
        },
        tables.map(|t| &t.real),
        latent,
        (q, z, eta_t),
        quad,
    );
    let (g_tilde, f_tilde_prime_mean, f_tilde_sq_mean) = side(
        &|x| {
            let f = loss.f_tilde(x);
            [f, loss.f_tilde_prime(x), f * f]
        },
        tables.map(|t| &t.fake),
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

/// `[sigma(u), sigma'(u), sigma''(u), sigma'''(u)]` of the logistic function.
fn sigmoid_derivatives(u: f64) -> [f64; 4] {
    let s = sigmoid(u);
    let s1 = s * (1.0 - s);
    [
        s,
        s1,
        s1 * (1.0 - 2.0 * s),
        s1 * (1.0 - 6.0 * s + 6.0 * s * s),
    ]
}

/// The standard GAN value `log D(y) + log(1 - D(y~))` with a discriminator on the quadratic
/// energy, `D(y) = sigmoid((y^T w)^2 / 2 - b)`: `F(D) = log D`, `F~(D) = -log(1 - D)`, so
/// `f(x) = x sigmoid(b - x^2 / 2)` and `f~(x) = x sigmoid(x^2 / 2 - b)` (`model.loss =
/// { name = "logistic", bias = b }`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogisticQuadratic {
    /// The bias `b`.
    pub bias: f64,
}

impl DiscriminatorLoss for LogisticQuadratic {
    fn table_key(&self) -> Option<(u8, u64)> {
        Some((1, self.bias.to_bits()))
    }
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
    // With sigma at u = b - x^2/2: f'' = -3 x s' + x^3 s'', f''' = -3 s' + 6 x^2 s'' - x^4 s'''.
    fn f_second(&self, x: f64) -> f64 {
        let [_, s1, s2, _] = sigmoid_derivatives(self.bias - 0.5 * x * x);
        -3.0 * x * s1 + x * x * x * s2
    }
    fn f_third(&self, x: f64) -> f64 {
        let [_, s1, s2, s3] = sigmoid_derivatives(self.bias - 0.5 * x * x);
        let x2 = x * x;
        -3.0 * s1 + 6.0 * x2 * s2 - x2 * x2 * s3
    }
    // With sigma at u = x^2/2 - b: f~'' = 3 x s' + x^3 s'', f~''' = 3 s' + 6 x^2 s'' + x^4 s'''.
    fn f_tilde_second(&self, x: f64) -> f64 {
        let [_, s1, s2, _] = sigmoid_derivatives(0.5 * x * x - self.bias);
        3.0 * x * s1 + x * x * x * s2
    }
    fn f_tilde_third(&self, x: f64) -> f64 {
        let [_, s1, s2, s3] = sigmoid_derivatives(0.5 * x * x - self.bias);
        let x2 = x * x;
        3.0 * s1 + 6.0 * x2 * s2 + x2 * x2 * s3
    }
}

/// The standard GAN value with a linear logit, `D(y) = sigmoid(y^T w)`:
/// `f(x) = sigmoid(-x)`, `f~(x) = sigmoid(x)` (`model.loss = "logistic-linear"`). An odd
/// logit sees the latents' means, not their covariances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogisticLinear;

impl DiscriminatorLoss for LogisticLinear {
    fn table_key(&self) -> Option<(u8, u64)> {
        Some((2, 0))
    }
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
    fn f_second(&self, x: f64) -> f64 {
        sigmoid_derivatives(-x)[2]
    }
    fn f_third(&self, x: f64) -> f64 {
        -sigmoid_derivatives(-x)[3]
    }
    fn f_tilde_second(&self, x: f64) -> f64 {
        sigmoid_derivatives(x)[2]
    }
    fn f_tilde_third(&self, x: f64) -> f64 {
        sigmoid_derivatives(x)[3]
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
    fn f_second(&self, _: f64) -> f64 {
        0.0
    }
    fn f_third(&self, _: f64) -> f64 {
        0.0
    }
    fn f_tilde_second(&self, _: f64) -> f64 {
        0.0
    }
    fn f_tilde_third(&self, _: f64) -> f64 {
        0.0
    }
    /// Closed form: `dg/dq = Lam`, `dg~/dr = Lam~`, `d<f^2>/dq = 2 Lam q`,
    /// `d<f~^2>/dr = 2 Lam~ r`.
    fn moment_derivatives(&self, at: MomentPoint<'_>) -> MomentDerivatives {
        let (q, r) = (at.q, at.r);
        let lam = at.latent.second_moment().matrix();
        let lam_t = at.latent_tilde.second_moment().matrix();
        MomentDerivatives {
            dg: lam.clone(),
            dg_tilde: lam_t.clone(),
            d_f_sq: lam.mul_vec(q).iter().map(|x| 2.0 * x).collect(),
            d_f_tilde_sq: lam_t.mul_vec(r).iter().map(|x| 2.0 * x).collect(),
        }
    }
    fn moments(&self, at: MomentPoint<'_>) -> LossMoments {
        let MomentPoint {
            latent,
            latent_tilde,
            q,
            r,
            z,
            eta_t,
            eta_g,
        } = at;
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

/// A loss with its closed-form averages switched off: `f`, `f~` and their derivatives are
/// `L`'s, [`DiscriminatorLoss::moments`] and [`DiscriminatorLoss::moment_derivatives`] go by
/// quadrature. With [`Quadratic`] it checks the general machinery against Example 1's
/// closed forms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ByQuadrature<L>(pub L);

impl<L: DiscriminatorLoss> DiscriminatorLoss for ByQuadrature<L> {
    fn f(&self, x: f64) -> f64 {
        self.0.f(x)
    }
    fn f_tilde(&self, x: f64) -> f64 {
        self.0.f_tilde(x)
    }
    fn f_prime(&self, x: f64) -> f64 {
        self.0.f_prime(x)
    }
    fn f_tilde_prime(&self, x: f64) -> f64 {
        self.0.f_tilde_prime(x)
    }
    fn f_second(&self, x: f64) -> f64 {
        self.0.f_second(x)
    }
    fn f_third(&self, x: f64) -> f64 {
        self.0.f_third(x)
    }
    fn f_tilde_second(&self, x: f64) -> f64 {
        self.0.f_tilde_second(x)
    }
    fn f_tilde_third(&self, x: f64) -> f64 {
        self.0.f_tilde_third(x)
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

impl Loss {
    /// The loss's config name (`model.loss`, or `name` in its table form).
    pub fn name(&self) -> crate::LossName {
        match self {
            Loss::Quadratic => crate::LossName::Quadratic,
            Loss::Logistic(_) => crate::LossName::Logistic,
            Loss::LogisticLinear => crate::LossName::LogisticLinear,
        }
    }
}

/// The config name of the loss, with its parameter: `quadratic`, `logistic (bias 1)`,
/// `logistic-linear`.
impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loss::Quadratic => write!(f, "quadratic"),
            Loss::Logistic(l) => write!(f, "logistic (bias {})", l.bias),
            Loss::LogisticLinear => write!(f, "logistic-linear"),
        }
    }
}

/// A `Loss` is used as its functions: `model.loss().f(x)`, `model.loss().moments(..)` reach
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
    use crate::random::stream_rng;
    use crate::score_table::{S_MAX, S_MIN};
    use hdgan_core::SymPsd;

    /// Three correlated, non-zero-mean classes in d = 2.
    fn mixture() -> Latent {
        let cov = |rows: [[f64; 2]; 2]| {
            SymPsd::new("cov", DMat::from_rows(&rows.map(Vec::from)).unwrap()).unwrap()
        };
        Latent::mixture(
            "latent.classes",
            vec![
                (0.5, vec![1.0, -0.5], cov([[2.0, 0.4], [0.4, 1.0]])),
                (0.3, vec![-1.5, 0.0], cov([[1.0, 0.0], [0.0, 3.0]])),
                (0.2, vec![0.0, 0.0], cov([[0.5, -0.2], [-0.2, 0.5]])),
            ],
        )
        .unwrap()
    }

    /// `(q, r, z)` with the same latent law on both sides and noise variances `eta_t`,
    /// `eta_g`.
    fn point<'a>(
        lat: &'a Latent,
        (q, r, z): (&'a [f64], &'a [f64], f64),
        (eta_t, eta_g): (f64, f64),
    ) -> MomentPoint<'a> {
        MomentPoint {
            latent: lat,
            latent_tilde: lat,
            q,
            r,
            z,
            eta_t,
            eta_g,
        }
    }

    #[test]
    fn quadrature_reproduces_the_quadratic_closed_form() {
        let lat = mixture();
        let (q, r, z) = ([0.3, -0.7], [0.5, 0.2], 1.3);
        let at = point(&lat, (&q, &r, z), (2.0, 0.5));
        let exact = Quadratic.moments(at);
        let quad = quadrature_moments(&Quadratic, at);
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
                        point(&lat, (&q, &q, z), (1.5, 0.7)),
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

    /// The analytic second and third derivatives against central differences of `f'` and
    /// `f~'` (step 1e-5: truncation ~1e-10, round-off ~1e-11 for the second; the third by a
    /// difference of second derivatives, same order).
    #[test]
    fn higher_derivatives_match_finite_differences() {
        let losses: [&dyn DiscriminatorLoss; 3] = [
            &LogisticQuadratic { bias: 1.0 },
            &LogisticQuadratic { bias: -0.5 },
            &LogisticLinear,
        ];
        let h = 1e-5;
        let close = |a: f64, b: f64, what: &str, x: f64| {
            assert!(
                (a - b).abs() < 1e-8 * (1.0 + b.abs()),
                "{what} at {x}: {a} vs {b}"
            );
        };
        for l in losses {
            for &x in &[-3.0, -1.2, -0.1, 0.0, 0.4, 1.7, 4.0] {
                let d = |g: &dyn Fn(f64) -> f64| (g(x + h) - g(x - h)) / (2.0 * h);
                close(l.f_second(x), d(&|u| l.f_prime(u)), "f''", x);
                close(l.f_third(x), d(&|u| l.f_second(u)), "f'''", x);
                close(l.f_tilde_second(x), d(&|u| l.f_tilde_prime(u)), "f~''", x);
                close(l.f_tilde_third(x), d(&|u| l.f_tilde_second(u)), "f~'''", x);
            }
        }
        // The trait's defaults (differences of f') agree with the analytic forms to ~1e-8.
        struct Plain(LogisticQuadratic);
        impl DiscriminatorLoss for Plain {
            fn f(&self, x: f64) -> f64 {
                self.0.f(x)
            }
            fn f_tilde(&self, x: f64) -> f64 {
                self.0.f_tilde(x)
            }
            fn f_prime(&self, x: f64) -> f64 {
                self.0.f_prime(x)
            }
            fn f_tilde_prime(&self, x: f64) -> f64 {
                self.0.f_tilde_prime(x)
            }
        }
        let (a, b) = (
            LogisticQuadratic { bias: 1.0 },
            Plain(LogisticQuadratic { bias: 1.0 }),
        );
        for &x in &[-2.5, -0.3, 0.0, 0.9, 3.0] {
            assert!((a.f_second(x) - b.f_second(x)).abs() < 1e-7);
            assert!((a.f_third(x) - b.f_third(x)).abs() < 1e-6);
            assert!((a.f_tilde_third(x) - b.f_tilde_third(x)).abs() < 1e-6);
        }
    }

    fn flat_derivatives(m: &MomentDerivatives) -> Vec<f64> {
        let mut v = m.dg.as_slice().to_vec();
        v.extend(m.dg_tilde.as_slice());
        v.extend(&m.d_f_sq);
        v.extend(&m.d_f_tilde_sq);
        v
    }

    /// The quadrature route to the derivatives gives Example 1's closed form (`Lam`,
    /// `Lam~`, `2 Lam q`, `2 Lam~ r`) to 1e-12 on a correlated non-zero-mean mixture.
    #[test]
    fn quadrature_derivatives_reproduce_the_quadratic_closed_form() {
        let lat = mixture();
        let (q, r, z) = ([0.3, -0.7], [0.5, 0.2], 1.3);
        let at = point(&lat, (&q, &r, z), (2.0, 0.5));
        let exact = Quadratic.moment_derivatives(at);
        let quad = quadrature_moment_derivatives(&Quadratic, at);
        for (a, b) in flat_derivatives(&exact).iter().zip(flat_derivatives(&quad)) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    /// For the logistic losses the derivatives equal central differences (step 1e-5) of
    /// the moments themselves, to 1e-7 (difference truncation ~1e-10 times the third
    /// derivative, quadrature noise 1e-14 / 1e-5).
    #[test]
    fn quadrature_derivatives_match_differences_of_the_moments() {
        let lat = mixture();
        let losses: [&dyn DiscriminatorLoss; 3] = [
            &LogisticQuadratic { bias: 1.0 },
            &LogisticQuadratic { bias: 2.5 },
            &LogisticLinear,
        ];
        let (z, et, eg) = (1.0, 1.5, 0.7);
        let h = 1e-5;
        for loss in losses {
            for (q, r) in [([0.1, 0.05], [0.2, -0.3]), ([0.6, -0.4], [0.9, 0.3])] {
                let der = loss.moment_derivatives(point(&lat, (&q, &r, z), (et, eg)));
                let at = |q: &[f64], r: &[f64]| loss.moments(point(&lat, (q, r, z), (et, eg)));
                for j in 0..2 {
                    let (mut qp, mut qm, mut rp, mut rm) = (q, q, r, r);
                    qp[j] += h;
                    qm[j] -= h;
                    rp[j] += h;
                    rm[j] -= h;
                    let (a, b) = (at(&qp, &r), at(&qm, &r));
                    let (c, e) = (at(&q, &rp), at(&q, &rm));
                    let check = |analytic: f64, fd: f64, what: &str| {
                        assert!(
                            (analytic - fd).abs() < 1e-7,
                            "{what}[{j}]: {analytic} vs {fd}"
                        );
                    };
                    for i in 0..2 {
                        check(der.dg[(i, j)], (a.g[i] - b.g[i]) / (2.0 * h), "dg");
                        let fd = (c.g_tilde[i] - e.g_tilde[i]) / (2.0 * h);
                        check(der.dg_tilde[(i, j)], fd, "dg~");
                    }
                    check(
                        der.d_f_sq[j],
                        (a.f_sq_mean - b.f_sq_mean) / (2.0 * h),
                        "d<f^2>",
                    );
                    let fd = (c.f_tilde_sq_mean - e.f_tilde_sq_mean) / (2.0 * h);
                    check(der.d_f_tilde_sq[j], fd, "d<f~^2>");
                }
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
        let quad = quadrature_moments(&loss, point(&lat, (&q, &q, z), (eta, eta)));
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

    /// Every score table (`score_table`) matches the quadrature to 1e-12 (relative to 1 + |value|) at 300
    /// log-spaced points of `[S_MIN, S_MAX]` that are not its nodes, for the logistic loss at
    /// four biases and the linear logit, both sides.
    #[test]
    fn tables_match_the_quadrature() {
        let losses: [&dyn DiscriminatorLoss; 5] = [
            &LogisticQuadratic { bias: 1.0 },
            &LogisticQuadratic { bias: -1.0 },
            &LogisticQuadratic { bias: 3.0 },
            &LogisticQuadratic { bias: 6.0 },
            &LogisticLinear,
        ];
        for loss in losses {
            type Side<'a> = (&'a dyn Fn(f64) -> f64, &'a dyn Fn(f64) -> f64);
            let sides: [Side; 2] = [
                (&|x| loss.f(x), &|x| loss.f_prime(x)),
                (&|x| loss.f_tilde(x), &|x| loss.f_tilde_prime(x)),
            ];
            for (f, fp) in sides {
                let table = SideTable::build(f, fp).expect("tabulated");
                let mut worst = 0.0f64;
                for k in 0..300 {
                    let s = S_MIN * (S_MAX / S_MIN).powf((k as f64 + 0.37) / 300.0);
                    let exact = gaussian_average(
                        &|x| {
                            let v = f(x);
                            [fp(x), v * v]
                        },
                        0.0,
                        s,
                        QUADRATURE,
                    );
                    let t = table.eval(s).unwrap();
                    for i in 0..2 {
                        worst = worst.max((t[i] - exact[i]).abs() / (1.0 + exact[i].abs()));
                    }
                }
                assert!(worst < 1e-12, "worst error {worst:e}");
            }
        }
        assert!(
            SideTable::build(&|x| x, &|_| 1.0)
                .unwrap()
                .eval(S_MAX * 1.01)
                .is_none()
        );
    }
}
