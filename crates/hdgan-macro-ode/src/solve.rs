use crate::rhs::{ReducedParams, general_rhs, reduced_rhs_general};
use hdgan_core::{MacroState, Trajectory};
use hdgan_model::{HForm, Model};
use ode_solvers::dop_shared::IntegrationError;
use ode_solvers::{DVector, Dopri5, OutputType, System};
use std::cell::Cell;
use thiserror::Error;

/// Which limiting ODE to integrate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OdeKind {
    /// The general ODE (8) (finite lambda), with the chosen form of `h`.
    General(HForm),
    /// The reduced ODE (13)-(14) (lambda = infinity, quadratic loss).
    Reduced,
}

impl OdeKind {
    /// The ODE that describes `model`: reduced for lambda = infinity, general (corrected h)
    /// otherwise.
    pub fn for_model(model: &Model) -> Self {
        if model.lambda().is_infinite() {
            OdeKind::Reduced
        } else {
            OdeKind::General(HForm::Corrected)
        }
    }
}

/// Integration settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OdeOptions {
    /// Relative tolerance of the step-size control.
    pub rtol: f64,
    /// Absolute tolerance of the step-size control.
    pub atol: f64,
    /// Largest number of steps per output interval.
    pub max_steps: u32,
    /// A state entry larger than this in absolute value counts as divergence.
    pub blowup: f64,
}

impl Default for OdeOptions {
    fn default() -> Self {
        Self {
            rtol: 1e-9,
            atol: 1e-11,
            max_steps: 50_000_000,
            blowup: 1e6,
        }
    }
}

/// Failures of an ODE solve.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OdeError {
    /// The solution left every reasonable range: an entry became non-finite or exceeded
    /// [`OdeOptions::blowup`].
    #[error("ODE diverged at t = {t:.6}: {quantity} = {value:e}")]
    Diverged {
        /// Time of the first step where it was seen.
        t: f64,
        /// The state entry (`P12`, `z`, ...).
        quantity: String,
        /// Its value.
        value: f64,
    },
    /// The model is outside what this ODE is derived for (the key and the rule).
    #[error("{0}")]
    Unsupported(#[from] hdgan_core::ParamError),
    /// The integrator gave up (step size underflow, too many steps).
    #[error("ODE integration failed at t = {t:.6}: {reason}")]
    Integration {
        /// Time reached.
        t: f64,
        /// The integrator's message.
        reason: String,
    },
    /// The requested output times are unusable.
    #[error("invalid output times: {0}")]
    BadTimes(String),
}

/// A right-hand side on the flat state, with divergence detection in `solout`.
struct FlatSystem<'a, F: Fn(&[f64], &mut [f64])> {
    f: &'a F,
    blowup: f64,
    diverged: &'a Cell<Option<(f64, usize, f64)>>,
}

impl<F: Fn(&[f64], &mut [f64])> System<f64, DVector<f64>> for FlatSystem<'_, F> {
    fn system(&self, _t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        (self.f)(y.as_slice(), dy.as_mut_slice());
    }

    fn solout(&mut self, t: f64, y: &DVector<f64>, _dy: &DVector<f64>) -> bool {
        let bad = y
            .iter()
            .position(|v| !v.is_finite() || v.abs() > self.blowup);
        if let Some(i) = bad {
            self.diverged.set(Some((t, i, y[i])));
            true
        } else {
            false
        }
    }
}

/// Integrates `dy/dt = f(y)` from `y0` at `times[0]` and returns the state at every time
/// in `times` (non-decreasing, finite). Between consecutive output times the solver runs a
/// fresh adaptive Dormand-Prince 5(4) integration and keeps its end point (the dense
/// output of ode_solvers 0.6.2 is wrong at the end point; a known defect of that version). `names` name the
/// entries of the flat state in divergence errors.
pub fn integrate(
    f: &impl Fn(&[f64], &mut [f64]),
    names: &[String],
    y0: &[f64],
    times: &[f64],
    opts: &OdeOptions,
) -> Result<Vec<Vec<f64>>, OdeError> {
    if times.is_empty() {
        return Err(OdeError::BadTimes("no output times".into()));
    }
    if times.iter().any(|t| !t.is_finite()) || times.windows(2).any(|w| w[1] < w[0]) {
        return Err(OdeError::BadTimes(
            "times must be finite and non-decreasing".into(),
        ));
    }
    let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| format!("y[{i}]"));
    let diverged = Cell::new(None);
    let mut y = DVector::from_vec(y0.to_vec());
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(OdeError::Diverged {
            t: times[0],
            quantity: name(i),
            value: y[i],
        });
    }
    let mut out = vec![y0.to_vec()];
    for w in times.windows(2) {
        let (t0, t1) = (w[0], w[1]);
        if t1 > t0 {
            let system = FlatSystem {
                f,
                blowup: opts.blowup,
                diverged: &diverged,
            };
            let mut solver = Dopri5::from_param(
                system,
                t0,
                t1,
                t1 - t0,
                y.clone(),
                opts.rtol,
                opts.atol,
                0.9,
                0.04,
                0.2,
                10.0,
                t1 - t0,
                0.0,
                opts.max_steps,
                u32::MAX,
                OutputType::Sparse,
            );
            let result = solver.integrate();
            if let Some((t, i, value)) = diverged.get() {
                return Err(OdeError::Diverged {
                    t,
                    quantity: name(i),
                    value,
                });
            }
            if let Err(e) = result {
                let t = match e {
                    IntegrationError::MaxNumStepReached { x, .. }
                    | IntegrationError::StepSizeUnderflow { x }
                    | IntegrationError::StiffnessDetected { x } => x,
                };
                return Err(OdeError::Integration {
                    t,
                    reason: e.to_string(),
                });
            }
            let last = solver.y_out().last().cloned();
            y = last.ok_or_else(|| OdeError::Integration {
                t: t0,
                reason: "solver returned no state".into(),
            })?;
        }
        out.push(y.as_slice().to_vec());
    }
    Ok(out)
}

/// The right-hand side of the ODE of `kind` for d features on the flat layout of
/// [`MacroState::pack`]: what [`solve`] integrates (Example 1's reduced ODE allocation-free,
/// any other case through [`general_rhs`] or [`reduced_rhs_general`]).
pub fn packed_rhs(model: &Model, kind: OdeKind, d: usize) -> impl Fn(&[f64], &mut [f64]) + '_ {
    let reduced = ReducedParams::new(model);
    let quadratic = model.loss() == hdgan_model::Loss::Quadratic;
    move |y: &[f64], dy: &mut [f64]| match kind {
        OdeKind::General(form) => {
            general_rhs(model, &MacroState::unpack(d, y), form).pack_into(dy);
        }
        // Example 1's closed form (13)-(14), allocation-free; any other loss through its
        // averages.
        OdeKind::Reduced if quadratic => reduced.rhs(y, dy),
        OdeKind::Reduced => reduced_rhs_general(model, &MacroState::unpack(d, y)).pack_into(dy),
    }
}

/// Integrates the ODE of `kind` from `init` at `times[0]` and returns the state at every
/// time in `times` (non-decreasing, finite), by [`integrate`].
pub fn solve(
    model: &Model,
    kind: OdeKind,
    init: &MacroState,
    times: &[f64],
    opts: &OdeOptions,
) -> Result<Trajectory, OdeError> {
    let _span = tracing::debug_span!("ode_solve", ?kind, t_end = times.last().copied()).entered();
    let d = init.d();
    let names = MacroState::column_names(d);
    let f = packed_rhs(model, kind, d);
    let flat = integrate(&f, &names, &init.pack(), times, opts)?;
    let mut out = Trajectory::new();
    for (t, y) in times.iter().zip(&flat) {
        out.push(*t, MacroState::unpack(d, y));
    }
    // The first state is the caller's own (exactly, not a round trip).
    out.states[0] = init.clone();
    Ok(out)
}

/// [`solve`] on a flat state (see [`MacroState::pack`]); returns the flat end state.
pub fn solve_packed(
    model: &Model,
    kind: OdeKind,
    d: usize,
    init: &[f64],
    t0: f64,
    t1: f64,
    opts: &OdeOptions,
) -> Result<Vec<f64>, OdeError> {
    let traj = solve(model, kind, &MacroState::unpack(d, init), &[t0, t1], opts)?;
    Ok(traj.states.last().map(MacroState::pack).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression test for the ode_solvers dense-output bug (a known defect of ode_solvers 0.6.2): y' = -y over
    /// [0, 10] with a single output interval (dx = t_end) must end at exp(-10) to the
    /// tolerance. Uses the same settings as [`solve`].
    #[test]
    fn end_point_is_not_extrapolated() {
        struct Decay;
        impl System<f64, DVector<f64>> for Decay {
            fn system(&self, _t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
                dy[0] = -y[0];
            }
        }
        let mut s = Dopri5::from_param(
            Decay,
            0.0,
            10.0,
            10.0,
            DVector::from_vec(vec![1.0]),
            1e-10,
            1e-12,
            0.9,
            0.04,
            0.2,
            10.0,
            10.0,
            0.0,
            1_000_000,
            u32::MAX,
            OutputType::Sparse,
        );
        s.integrate().unwrap();
        let (x, y) = (s.x_out().last().unwrap(), s.y_out().last().unwrap()[0]);
        assert!((x - 10.0).abs() < 1e-12);
        assert!((y / (-10.0f64).exp() - 1.0).abs() < 1e-8, "y = {y}");
    }

    /// The single-feature ODEs are symmetric by construction: with a symmetric `S`,
    /// `dS_ij` and `dS_ji` are the same products summed in the same order, so a symmetric
    /// start stays symmetric bit for bit (d = 3, correlated latents, T = 400; finite and
    /// infinite lambda, and the logistic loss's reduced ODE).
    #[test]
    fn single_feature_odes_keep_s_symmetric_bit_for_bit() {
        use hdgan_model::{LambdaValue, LatentConfig, ModelConfig};
        let cov = |v: [[f64; 3]; 3]| LatentConfig {
            cov: v.iter().map(|r| r.to_vec()).collect(),
            mean: None,
            classes: Vec::new(),
            from_data: None,
        };
        for (lambda, loss) in [
            (LambdaValue::default(), hdgan_model::LossName::Quadratic),
            (LambdaValue::Number(3.0), hdgan_model::LossName::Quadratic),
            (LambdaValue::default(), hdgan_model::LossName::Logistic),
        ] {
            let m = ModelConfig {
                d: 3,
                lambda,
                loss: loss.into(),
                latent: cov([[5.0, 0.3, 0.1], [0.3, 3.0, 0.2], [0.1, 0.2, 2.0]]),
                latent_tilde: Some(cov([[4.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 1.5]])),
                ..ModelConfig::figure1(1000, 2.0)
            }
            .validate("model")
            .unwrap();
            let mut s = MacroState::zeros(3);
            s.p = hdgan_core::DMat::from_row_major(
                3,
                3,
                vec![0.3, 0.1, 0.0, -0.1, 0.25, 0.05, 0.0, 0.05, 0.2],
            );
            s.q = vec![0.3, 0.1, -0.05];
            s.r = vec![0.05, 0.1, 0.02];
            s.s = hdgan_core::DMat::from_row_major(
                3,
                3,
                vec![1.0, 0.07, -0.03, 0.07, 1.0, 0.02, -0.03, 0.02, 1.0],
            );
            s.z = 1.0;
            let times: Vec<f64> = (0..=40).map(|k| 10.0 * k as f64).collect();
            let traj = solve(
                &m,
                OdeKind::for_model(&m),
                &s,
                &times,
                &OdeOptions::default(),
            )
            .unwrap();
            for st in &traj.states {
                for i in 0..3 {
                    for j in 0..3 {
                        assert_eq!(st.s[(i, j)].to_bits(), st.s[(j, i)].to_bits());
                    }
                }
            }
        }
    }
}
