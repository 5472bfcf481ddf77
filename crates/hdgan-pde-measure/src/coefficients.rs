//! The coefficients `(g, g~, h, L, b)` of SDE (10) along the macroscopic ODE solution.

use hdgan_core::{MacroState, Trajectory};
use hdgan_macro_ode::{OdeError, OdeKind, OdeOptions, reduced_h, solve};
use hdgan_model::{HForm, Model};

/// The coefficients of SDE (10) at one time (d = `g.len()`).
#[derive(Clone, Debug, PartialEq)]
pub struct SdeCoefficients {
    /// `g`.
    pub g: Vec<f64>,
    /// `g~`.
    pub g_tilde: Vec<f64>,
    /// `h`.
    pub h: f64,
    /// Diagonal of `L`.
    pub l: Vec<f64>,
    /// `b`.
    pub b: f64,
}

/// The coefficients at `state`: for finite lambda those of eq. (9)
/// ([`Model::ode_coefficients`], corrected h); for lambda = infinity the quadratic-loss
/// values with the multipliers of the reduced ODE (14): `h` from [`reduced_h`] and
/// `L = -diag(r_j (Lam~ r)_j)`, which keep `z = 1`, `S_jj = 1`.
pub fn sde_coefficients(model: &Model, state: &MacroState) -> SdeCoefficients {
    let c = model.ode_coefficients(state, HForm::Corrected);
    if model.lambda.is_infinite() {
        let l = state
            .r
            .iter()
            .zip(&c.g_tilde)
            .map(|(r, g)| -r * g)
            .collect();
        SdeCoefficients {
            h: reduced_h(model, state),
            l,
            g: c.g,
            g_tilde: c.g_tilde,
            b: c.b,
        }
    } else {
        SdeCoefficients {
            g: c.g,
            g_tilde: c.g_tilde,
            h: c.h,
            l: c.l,
            b: c.b,
        }
    }
}

/// The macroscopic ODE solved on a uniform grid of step `dt / 2` over `[0, t_end]`, so
/// that coefficients are available at every step, half step and end of a solver with step
/// `dt`.
#[derive(Clone, Debug)]
pub struct CoefficientPath {
    dt: f64,
    /// The ODE path at times `k dt / 2`.
    pub path: Trajectory,
    coefficients: Vec<SdeCoefficients>,
}

impl CoefficientPath {
    /// Solves the model's ODE (reduced for lambda = inf, general otherwise) from `init`
    /// over `[0, t_end]` with output every `dt / 2`.
    pub fn new(model: &Model, init: &MacroState, t_end: f64, dt: f64) -> Result<Self, OdeError> {
        let steps = (t_end / dt).round().max(1.0) as usize;
        let times: Vec<f64> = (0..=2 * steps).map(|k| k as f64 * dt / 2.0).collect();
        let path = solve(
            model,
            OdeKind::for_model(model),
            init,
            &times,
            &OdeOptions::default(),
        )?;
        let coefficients = path
            .states
            .iter()
            .map(|s| sde_coefficients(model, s))
            .collect();
        Ok(Self {
            dt,
            path,
            coefficients,
        })
    }

    /// The solver step `dt`.
    pub fn dt(&self) -> f64 {
        self.dt
    }

    /// Number of solver steps.
    pub fn steps(&self) -> usize {
        (self.coefficients.len() - 1) / 2
    }

    /// Coefficients at half-step index `k` (time `k dt / 2`).
    pub fn at_half(&self, k: usize) -> &SdeCoefficients {
        &self.coefficients[k.min(self.coefficients.len() - 1)]
    }

    /// Coefficients at any time in `[0, t_end]`, linearly interpolated between the
    /// half-step grid points (clamped at the ends).
    pub fn at_time(&self, t: f64) -> SdeCoefficients {
        let h = self.dt / 2.0;
        let x = (t / h).max(0.0);
        let k = (x.floor() as usize).min(self.coefficients.len() - 1);
        let k1 = (k + 1).min(self.coefficients.len() - 1);
        let f = (x - k as f64).clamp(0.0, 1.0);
        let (a, b) = (&self.coefficients[k], &self.coefficients[k1]);
        let mix = |p: f64, q: f64| p + f * (q - p);
        let mixv = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(x, y)| mix(*x, *y)).collect();
        SdeCoefficients {
            g: mixv(&a.g, &b.g),
            g_tilde: mixv(&a.g_tilde, &b.g_tilde),
            h: mix(a.h, b.h),
            l: mixv(&a.l, &b.l),
            b: mix(a.b, b.b),
        }
    }

    /// The macroscopic state at half-step index `k`.
    pub fn state_at_half(&self, k: usize) -> &MacroState {
        &self.path.states[k.min(self.path.states.len() - 1)]
    }
}
