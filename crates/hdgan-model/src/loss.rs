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
/// THEORY §1, and the Gaussian expectations of them that the ODE needs.
///
/// The simulator calls [`DiscriminatorLoss::f`] and [`DiscriminatorLoss::f_tilde`]; the ODE
/// calls [`DiscriminatorLoss::moments`]. A new loss supplies both (closed form, or
/// quadrature over `e` and the latent law).
pub trait DiscriminatorLoss {
    /// `f(x)`, applied to the real sample's score `y^T w`.
    fn f(&self, x: f64) -> f64;
    /// `f~(x)`, applied to a fake sample's score `y~^T w`.
    fn f_tilde(&self, x: f64) -> f64;
    /// The expectations of THEORY §4 at `(q, r, z)`.
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
    ) -> LossMoments;
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

/// The discriminator losses hdgan knows (one so far; the enum keeps configs and outputs
/// serialisable while [`DiscriminatorLoss`] stays the extension point).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loss {
    /// Example 1, `f = f~ = identity`.
    #[default]
    Quadratic,
}

/// A `Loss` is used as its functions: `model.loss.f(x)`, `model.loss.moments(...)` reach
/// the [`DiscriminatorLoss`] of the chosen variant (one match, here).
impl std::ops::Deref for Loss {
    type Target = dyn DiscriminatorLoss;

    fn deref(&self) -> &Self::Target {
        match self {
            Loss::Quadratic => &Quadratic,
        }
    }
}
