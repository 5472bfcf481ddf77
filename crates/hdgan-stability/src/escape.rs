//! The noise-driven escape from the plateau between Figure 1's two learning stages
//! (THEORY §10, "Escape from a saddle").
//!
//! While feature 1 is learned, the discriminator's overlap with feature 2, `q_2`, sits near
//! 0, close to an unstable direction. Along the ODE the residual `q_2(t)` and the linear
//! noise's spread `sqrt(Sigma_q2q2(t))` grow together, at the rate of the unstable mode:
//! their ratio `R` settles on the plateau. A run at size n therefore leaves the plateau as
//! the ODE would from a residual scaled by `1 + R G / sqrt(n)`, `G ~ N(0, 1)`: noise
//! dominates while `R / sqrt(n) >> 1`, where the switch comes `log(n) / (2 kappa)` earlier than
//! the ODE's with a spread `pi / (2 sqrt 2 kappa)`; for `R / sqrt(n) << 1` the switch tends to
//! the ODE's own (the ODE here starts from the runs' own initial overlaps, so its residual
//! is theirs).
//!
//! [`escape_law`] computes the law without the small-noise expansion: at the matching time
//! `t_m` where `R(t)` is smallest after `|q_2|` passed its minimum (the residual and the
//! noise have aligned with the unstable mode, and neither is large yet), the fluctuation is `(s / sqrt n) G v` along the leading eigenvector `v`
//! of `Sigma(t_m)` (variance `s^2`); the switching time of each such start is read off the
//! ODE from `M(t_m) + (s g / sqrt n) v`, at the `K` stratified quantiles `g` of `N(0, 1)`.
//! What it leaves out: the noise after `t_m`, the fluctuations across the leading
//! direction (the timing of feature 1's learning), and the nonlinearity before `t_m`.
//!
//! **Not yet validated; it misses.** Against Gram-engine ensembles on Figure 1 (the ODE
//! switches at t = 47.77; `R` = 169.5 at `t_m` = 37) it predicts mean / sd 46.67 / 1.72,
//! 47.88 / 1.35, 47.80 / 0.44 at n = 1e3, 1e4, 1e5, where 400, 400 and 100 runs give
//! 45.53 / 2.57 (SE of the mean 0.13), 47.24 / 1.35 (0.07), 47.86 / 0.74 (0.07). The
//! spread at n = 1e4 and the mean at n = 1e5 agree; the early switches at small n and the
//! spread at large n do not. No check relies on it.

use crate::lna::{Fluctuations, switch_time};
use hdgan_core::stats::normal_quantile;
use hdgan_core::{DMat, MacroState, Trajectory};
use hdgan_macro_ode::{OdeError, OdeKind, OdeOptions, solve};
use hdgan_model::Model;

/// The predicted law of the switching time at one n.
#[derive(Clone, Debug, PartialEq)]
pub struct EscapeLaw {
    /// The size.
    pub n: usize,
    /// The ODE's own switching time.
    pub ode_switch: f64,
    /// The matching time `t_m`.
    pub t_match: f64,
    /// `R = sqrt(Sigma_q2q2(t_m)) / |q_2(t_m)|`: the noise-to-residual ratio at n = 1
    /// (the runs' is `R / sqrt n`).
    pub ratio: f64,
    /// Spread `s` of the leading fluctuation direction at `t_m` (n = 1).
    pub spread: f64,
    /// Mean switching time.
    pub mean: f64,
    /// Its standard deviation.
    pub sd: f64,
    /// The switching times at the stratified quantiles (NaN where the start never switches
    /// within the horizon).
    pub samples: Vec<f64>,
}

/// How many stratified quantiles [`escape_law`] uses.
pub const ESCAPE_QUANTILES: usize = 400;

/// The leading eigenpair of a symmetric PSD matrix by power iteration (the plateau's
/// covariance has one dominant direction, so this converges fast).
fn leading_eigen(c: &DMat) -> (f64, Vec<f64>) {
    let k = c.rows();
    let mut v: Vec<f64> = (0..k).map(|i| c[(i, i)].max(0.0).sqrt() + 1e-3).collect();
    let mut lambda = 0.0;
    for _ in 0..500 {
        let w = c.mul_vec(&v);
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return (0.0, v);
        }
        let next: Vec<f64> = w.iter().map(|x| x / norm).collect();
        let change = next
            .iter()
            .zip(&v)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        v = next;
        lambda = norm;
        if change < 1e-12 {
            break;
        }
    }
    (lambda, v)
}

/// The switching-time law at size `n` from the linear-noise solution `fl` (which must
/// reach past the ODE's switch, with records fine enough to place it: every 0.25 or
/// finer). `horizon` bounds how long after `t_m` a start may take to switch. None when the
/// ODE does not switch (d = 1, or no second stage).
pub fn escape_law(
    model: &Model,
    fl: &Fluctuations,
    n: usize,
    horizon: f64,
    opts: &OdeOptions,
) -> Result<Option<EscapeLaw>, OdeError> {
    let Some(ode_switch) = switch_time(&fl.mean) else {
        return Ok(None);
    };
    let d = model.d;
    let iq2 = d * d + 1;
    // The plateau: after |q_1| first exceeded 0.5, before the switch; t_m minimises R(t).
    let Some(first) = fl.mean.states.iter().position(|s| s.q[0].abs() > 0.5) else {
        return Ok(None);
    };
    let ratio_at = |k: usize| fl.cov[k][(iq2, iq2)].max(0.0).sqrt() / fl.mean.states[k].q[1].abs();
    // The residual has joined the unstable mode once |q_2| has passed its minimum (it first
    // decays from its initial value, and may change sign on the way).
    let before_switch = (first..fl.mean.len()).take_while(|&k| fl.mean.times[k] < ode_switch);
    let Some(lowest) = before_switch.min_by(|&a, &b| {
        fl.mean.states[a].q[1]
            .abs()
            .total_cmp(&fl.mean.states[b].q[1].abs())
    }) else {
        return Ok(None);
    };
    let Some(km) = (lowest + 1..fl.mean.len())
        .take_while(|&k| fl.mean.times[k] < ode_switch)
        .filter(|&k| fl.mean.states[k].q[1] != 0.0)
        .min_by(|&a, &b| ratio_at(a).total_cmp(&ratio_at(b)))
    else {
        return Ok(None);
    };
    let t_match = fl.mean.times[km];
    let (var, v) = leading_eigen(&fl.cov[km]);
    let spread = var.sqrt();
    let base = fl.mean.states[km].pack();
    // The records after t_m, at the solution's own spacing, up to the horizon.
    let dt = fl.mean.times[km + 1] - t_match;
    let steps = (horizon / dt).ceil() as usize;
    let times: Vec<f64> = (0..=steps).map(|j| t_match + j as f64 * dt).collect();
    let kind = OdeKind::for_model(model);
    let mut samples = Vec::with_capacity(ESCAPE_QUANTILES);
    for i in 0..ESCAPE_QUANTILES {
        let g = normal_quantile((i as f64 + 0.5) / ESCAPE_QUANTILES as f64);
        let amp = spread * g / (n as f64).sqrt();
        let start: Vec<f64> = base.iter().zip(&v).map(|(b, vi)| b + amp * vi).collect();
        let path = solve(model, kind, &MacroState::unpack(d, &start), &times, opts)?;
        // The history up to t_m, then the continuation: the switch is counted after |q_1|
        // exceeded 0.5, as for the runs.
        let mut whole = Trajectory::new();
        for k in 0..km {
            whole.push(fl.mean.times[k], fl.mean.states[k].clone());
        }
        for (t, s) in path.times.iter().zip(path.states) {
            whole.push(*t, s);
        }
        samples.push(switch_time(&whole).unwrap_or(f64::NAN));
    }
    let ok: Vec<f64> = samples.iter().copied().filter(|t| t.is_finite()).collect();
    let mean = ok.iter().sum::<f64>() / ok.len().max(1) as f64;
    let sd = (ok.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / ok.len().max(1) as f64).sqrt();
    Ok(Some(EscapeLaw {
        n,
        ode_switch,
        t_match,
        ratio: ratio_at(km),
        spread,
        mean,
        sd,
        samples,
    }))
}
