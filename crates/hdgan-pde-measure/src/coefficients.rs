//! The coefficients `(g, g~, h, L, b)` of SDE (10) along the macroscopic ODE solution.

use hdgan_core::{MacroState, Trajectory};
use hdgan_macro_ode::{OdeError, OdeKind, OdeOptions, reduced_coefficients, solve};
use hdgan_model::{HForm, Model, OdeCoefficients};

/// The coefficients `(g, g~, h, L, b)` of SDE (10) at one time: those of the ODE.
pub type SdeCoefficients = OdeCoefficients;

/// The coefficients at `state`, for any loss: for finite lambda those of eq. (9)
/// ([`Model::ode_coefficients`], corrected h); for lambda = infinity the loss's averages
/// with the multipliers of the reduced ODE ([`reduced_coefficients`]), which keep `z = 1`,
/// `S_jj = 1`. The drift of SDE (10) is linear in the row variables whatever the loss (the
/// loss enters only through these averages), so the law stays Gaussian.
pub fn sde_coefficients(model: &Model, state: &MacroState) -> SdeCoefficients {
    if model.lambda().is_infinite() {
        reduced_coefficients(model, &*model.loss(), state)
    } else {
        model.ode_coefficients(state, HForm::Corrected)
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
