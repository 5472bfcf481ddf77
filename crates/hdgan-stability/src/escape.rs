//! The noise-driven escape from a saddle (THEORY §10, "Escape from the saddle").
//!
//! On Figure 1 the discriminator learns feature 1 first; its overlap with feature 2, `q_2`,
//! sits near 0 while the path approaches a saddle `M*` (feature 1 learned, `q = 0`) whose
//! one unstable direction `v` (eigenvalue `kappa > 0` of the reduced Jacobian) turns the
//! discriminator towards feature 2. When the runs start with `q_2 = 0` (no residual
//! overlap: the ODE then stays on the invariant set `q_2 = r_2 = P_12 = P_21 = S_12 = 0`
//! and never learns feature 2), only the O(1/sqrt n) noise can start the second stage:
//!
//! - near the saddle the fluctuation along `v` grows like `exp(kappa t)`; the linear-noise
//!   covariance gives its amplitude, `sqrt(Sigma_q2q2(t)) ~ a exp(kappa t)` for large t, so a
//!   run at size n has `q_2(t) ~ a exp(kappa t) G / sqrt(n)`, `G ~ N(0, 1)`;
//! - from `M* + eps v` the ODE reaches `|q_2| = theta` after `T(eps) = T_1 - ln(eps) / kappa`
//!   as `eps -> 0`;
//! - so the escape time is `T_1 + ln(n) / (2 kappa) - ln(a |G|) / kappa`: its mean grows
//!   like `ln(n) / (2 kappa)` and its spread is `sd(ln |G|) / kappa = pi / (2 sqrt 2 kappa)`
//!   whatever n ([`SaddleLaw`]).
//!
//! That is the large-n law. At moderate n the escape starts while the path is still on its
//! way to the saddle; [`diffusion_escape_times`] samples the finite-n law from the
//! macroscopic diffusion `dM = F(M) dt + sqrt(D(M) / n) dW` (the linear-noise theory's `F`
//! and `D`, simulated nonlinearly), whose cost does not depend on n.
//!
//! When the runs start with a residual overlap (Figure 1's `q_2(0) = 0.1`), the ODE leaves
//! the plateau by itself and its own escape time is the n -> infinity limit; the diffusion
//! covers that case too.

use crate::fixed_points::newton_from;
use crate::jacobian::{ReducedCoords, reduced_jacobian};
use crate::lna::{LNA_OPTIONS, LnaError, check_supported, fluctuations, step_noise};
use hdgan_core::{MacroState, Trajectory};
use hdgan_macro_ode::{OdeError, OdeKind, OdeOptions, packed_rhs, solve};
use hdgan_model::Model;
use hdgan_model::random::stream_rng;
use rayon::prelude::*;

/// The level of `|q_f|` at which a path counts as escaped: half way to a learned feature
/// (Figure 1 learns `|q_2|` near 0.74).
pub const ESCAPE_THRESHOLD: f64 = 0.5;

/// Why an escape law cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EscapeError {
    /// The linear-noise theory does not cover the model, or its ODE failed.
    #[error(transparent)]
    Lna(#[from] LnaError),
    /// The setting has no noise-driven escape of the kind asked for (the reason).
    #[error("{0}")]
    NotApplicable(String),
}

impl From<OdeError> for EscapeError {
    fn from(e: OdeError) -> Self {
        EscapeError::Lna(e.into())
    }
}

/// When a path first has `|q_feature| >= threshold`, linearly interpolated between records;
/// None if it never does.
pub fn escape_time(path: &Trajectory, feature: usize, threshold: f64) -> Option<f64> {
    let level = |k: usize| path.states[k].q[feature].abs();
    let k = (0..path.len()).find(|&k| level(k) >= threshold)?;
    if k == 0 {
        return Some(path.times[0]);
    }
    let (a, b) = (level(k - 1), level(k));
    let (t0, t1) = (path.times[k - 1], path.times[k]);
    Some(t0 + (t1 - t0) * (threshold - a) / (b - a))
}

/// `-E ln|G|` for `G ~ N(0, 1)`: `(gamma_Euler + ln 2) / 2`.
const MINUS_MEAN_LOG_ABS_NORMAL: f64 = 0.635_181_422_730_739_1;

/// The large-n law of the escape time from a saddle (module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct SaddleLaw {
    /// The escaping feature `f` (0-based; `q_f` leaves 0).
    pub feature: usize,
    /// The escape level of `|q_f|`.
    pub threshold: f64,
    /// The saddle `M*` (Newton-refined end of the path).
    pub saddle: MacroState,
    /// The unstable eigenvalue `kappa`.
    pub kappa: f64,
    /// The largest real part among the other eigenvalues (the approach to the saddle).
    pub next_eigenvalue: f64,
    /// The noise's amplitude `a = lim sqrt(Sigma_qfqf(t)) exp(-kappa t)` (n = 1).
    pub amplitude: f64,
    /// Its relative change over the last 10 time units of the linear-noise solve (how well
    /// the limit has settled).
    pub amplitude_drift: f64,
    /// `T_1 = lim T(eps) + ln(eps) / kappa`, `T(eps)` the ODE's time from `M* + eps v` to
    /// `|q_f| = threshold`.
    pub offset: f64,
}

impl SaddleLaw {
    /// `d E[t_escape] / d ln n = 1 / (2 kappa)`.
    pub fn slope(&self) -> f64 {
        0.5 / self.kappa
    }

    /// The mean escape time at size n: `T_1 + (ln n / 2 - ln a + (gamma + ln 2) / 2) / kappa`.
    pub fn mean(&self, n: f64) -> f64 {
        self.offset + (0.5 * n.ln() - self.amplitude.ln() + MINUS_MEAN_LOG_ABS_NORMAL) / self.kappa
    }

    /// The standard deviation of the escape time, the same at every n:
    /// `pi / (2 sqrt 2 kappa)`.
    pub fn sd(&self) -> f64 {
        std::f64::consts::PI / (2.0 * std::f64::consts::SQRT_2 * self.kappa)
    }
}

/// How long the linear-noise solve of [`saddle_law`] runs, so that the path has settled on
/// the saddle and `Sigma` on its unstable mode.
pub const SADDLE_HORIZON: f64 = 150.0;

/// The large-n escape law of feature `feature` for runs starting at `init`, which must have
/// no residual overlap with it (the ODE keeps `q_f = 0`). `lambda = inf` (the reduced
/// coordinates) only.
pub fn saddle_law(
    model: &Model,
    init: &MacroState,
    feature: usize,
    threshold: f64,
) -> Result<SaddleLaw, EscapeError> {
    check_supported(model)?;
    let d = init.d();
    if !model.lambda().is_infinite() {
        return Err(EscapeError::NotApplicable(
            "the saddle's law is computed on the constraint: model.lambda must be \"inf\"".into(),
        ));
    }
    if feature >= d || !(threshold > 0.0 && threshold < 1.0) {
        return Err(EscapeError::NotApplicable(format!(
            "feature {feature} and threshold {threshold}: need feature < d = {d} and 0 < threshold < 1"
        )));
    }
    let times: Vec<f64> = (0..=SADDLE_HORIZON as usize).map(|k| k as f64).collect();
    let fl = fluctuations(model, init, &times, &LNA_OPTIONS)?;
    let residual = fl
        .mean
        .states
        .iter()
        .map(|s| s.q[feature].abs())
        .fold(0.0, f64::max);
    if residual > 1e-9 {
        return Err(EscapeError::NotApplicable(format!(
            "the ODE leaves q{} = 0 by itself (|q{}| reaches {residual:.3e}): the start has a \
             residual overlap, so the ODE's own escape is the large-n limit",
            feature + 1,
            feature + 1
        )));
    }
    let coords = ReducedCoords { d };
    let end = fl.mean.states.last().expect("non-empty path");
    let x = newton_from(model, coords, coords.from_state(end)).ok_or_else(|| {
        EscapeError::NotApplicable("the path does not settle on a fixed point".into())
    })?;
    let saddle = coords.to_state(&x);
    let jac = reduced_jacobian(model, &saddle);
    let ev = crate::fixed_points::eigenvalues(&jac);
    let (kappa, im) = ev[0];
    if kappa.is_nan() || kappa <= 0.0 || im != 0.0 {
        return Err(EscapeError::NotApplicable(format!(
            "the path's end point is not a saddle with a real unstable direction (leading \
             eigenvalue {kappa:.4} {im:+.4}i)"
        )));
    }
    let next_eigenvalue = ev[1].0;
    // The unstable direction by inverse iteration, scaled to q_f = 1.
    let iq = d * d + feature;
    let k = coords.len();
    let mut shifted = jac.clone();
    for i in 0..k {
        shifted[(i, i)] -= kappa * (1.0 + 1e-9);
    }
    let mut v = vec![1.0; k];
    for _ in 0..4 {
        let next =
            crate::fixed_points::solve_small(shifted.clone(), v.clone()).ok_or_else(|| {
                EscapeError::NotApplicable("the unstable eigenvector is degenerate".into())
            })?;
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        v = next.iter().map(|x| x / norm).collect();
    }
    if v[iq].abs() < 1e-6 {
        return Err(EscapeError::NotApplicable(format!(
            "the saddle's unstable direction does not move q{}",
            feature + 1
        )));
    }
    let scale = v[iq];
    v.iter_mut().for_each(|x| *x /= scale);
    // The amplitude at the end of the solve and 10 time units earlier.
    // q_f has the same index on the flat layout as in the reduced coordinates.
    let amp = |k: usize| fl.cov[k][(iq, iq)].max(0.0).sqrt() * (-kappa * times[k]).exp();
    let last = times.len() - 1;
    let amplitude = amp(last);
    let amplitude_drift = (amplitude / amp(last - 10) - 1.0).abs();
    // T_1 from a small start along v.
    let eps = 1e-7;
    let start: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + eps * b).collect();
    let reach = (1.0 / threshold / eps).ln() / kappa * 3.0 + 50.0;
    let dt = 0.01;
    let out: Vec<f64> = (0..=(reach / dt).ceil() as usize)
        .map(|j| j as f64 * dt)
        .collect();
    let path = solve(
        model,
        OdeKind::for_model(model),
        &coords.to_state(&start),
        &out,
        &OdeOptions {
            rtol: 1e-10,
            atol: 1e-12,
            ..OdeOptions::default()
        },
    )?;
    let t_eps = escape_time(&path, feature, threshold).ok_or_else(|| {
        EscapeError::NotApplicable(format!(
            "from the saddle along its unstable direction |q{}| never reaches {threshold}",
            feature + 1
        ))
    })?;
    Ok(SaddleLaw {
        feature,
        threshold,
        saddle,
        kappa,
        next_eigenvalue,
        amplitude,
        amplitude_drift,
        offset: t_eps + eps.ln() / kappa,
    })
}

/// How [`diffusion_escape_times`] integrates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiffusionOptions {
    /// Time step of the stochastic Heun scheme.
    pub dt: f64,
    /// A path that has not escaped by this time counts as not escaped (None).
    pub t_max: f64,
}

impl Default for DiffusionOptions {
    /// `dt = 0.02`, `t_max = 200`.
    fn default() -> Self {
        Self {
            dt: 0.02,
            t_max: 200.0,
        }
    }
}

/// The escape [`diffusion_escape_times`] samples: the size the diffusion stands for, how
/// many paths and from which seed, and when a path counts as escaped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiffusionEscape {
    /// The size n (any real `n >= 1`: the cost does not depend on it).
    pub n: f64,
    /// The number of independent paths.
    pub paths: usize,
    /// The seed: path `i` draws from stream `i` of it.
    pub seed: u64,
    /// The escaping feature `f` (0-based; `q_f` leaves 0).
    pub feature: usize,
    /// The level of `|q_f|` at which a path counts as escaped.
    pub threshold: f64,
}

/// Escape times of `escape.paths` independent paths of the macroscopic diffusion at size
/// `escape.n` (any real `n >= 1`: the cost does not depend on it, so sizes no run can reach
/// are open),
///
/// ```text
/// dM = F(M) dt + sqrt(D(M) / n) dW,
/// ```
///
/// from `init` (F the ODE's right-hand side, D the step covariance of [`crate::noise_covariance`];
/// the constrained overlaps stay fixed), integrated by the stochastic Heun scheme (the drift
/// averaged over the step's two ends, the noise factor taken at its start: Ito). Path `i`
/// draws from stream `i` of `escape.seed`, so the times do not depend on the thread count. A
/// path escapes when `|q_feature| >= threshold` (interpolated within the step); None when it
/// has not by `opts.t_max`.
pub fn diffusion_escape_times(
    model: &Model,
    init: &MacroState,
    escape: &DiffusionEscape,
    opts: &DiffusionOptions,
) -> Result<Vec<Option<f64>>, EscapeError> {
    let DiffusionEscape {
        n, paths, feature, ..
    } = *escape;
    check_supported(model)?;
    if !(opts.dt > 0.0 && opts.t_max.is_finite() && opts.t_max > 0.0 && n >= 1.0 && n.is_finite()) {
        return Err(EscapeError::NotApplicable(format!(
            "need dt > 0, a finite t_max > 0 and a finite n >= 1 (got dt {}, t_max {}, n {n})",
            opts.dt, opts.t_max
        )));
    }
    let d = init.d();
    if feature >= d {
        return Err(EscapeError::NotApplicable(format!(
            "feature {feature} needs d > {feature}"
        )));
    }
    (0..paths)
        .into_par_iter()
        .map(|i| diffusion_path(model, init, escape, i as u64, opts))
        .collect()
}

/// The escape time of path `member` of [`diffusion_escape_times`].
fn diffusion_path(
    model: &Model,
    init: &MacroState,
    escape: &DiffusionEscape,
    member: u64,
    opts: &DiffusionOptions,
) -> Result<Option<f64>, EscapeError> {
    let DiffusionEscape {
        n,
        seed,
        feature,
        threshold,
        ..
    } = *escape;
    let d = init.d();
    let nn = MacroState::packed_len(d);
    let drift = packed_rhs(model, OdeKind::for_model(model), d);
    let noise = step_noise(model, d);
    let names = MacroState::column_names(d);
    let iq = d * d + feature;
    let mut rng = stream_rng(seed, member);
    let scale = (opts.dt / n).sqrt();
    let mut y = init.pack();
    let (mut f0, mut f1) = (vec![0.0; nn], vec![0.0; nn]);
    let mut trial = vec![0.0; nn];
    let mut t = 0.0;
    let steps = (opts.t_max / opts.dt).ceil() as usize;
    for _ in 0..steps {
        let kick = noise
            .kick(&MacroState::unpack(d, &y), &mut rng, scale)
            .ok_or_else(|| OdeError::Integration {
                t,
                reason: format!(
                    "diffusion path {member}: the step covariance D is not positive \
                     semidefinite"
                ),
            })?;
        drift(&y, &mut f0);
        for a in 0..nn {
            trial[a] = y[a] + f0[a] * opts.dt + kick[a];
        }
        drift(&trial, &mut f1);
        let before = y[iq].abs();
        for a in 0..nn {
            y[a] += 0.5 * (f0[a] + f1[a]) * opts.dt + kick[a];
        }
        t += opts.dt;
        if let Some(a) = y.iter().position(|v| !v.is_finite() || v.abs() > 1e6) {
            return Err(OdeError::Diverged {
                t,
                quantity: format!("{} (diffusion path {member})", names[a]),
                value: y[a],
            }
            .into());
        }
        let after = y[iq].abs();
        if after >= threshold {
            let frac = (threshold - before) / (after - before);
            return Ok(Some(t - opts.dt + opts.dt * frac.clamp(0.0, 1.0)));
        }
    }
    Ok(None)
}

/// Summary statistics of escape times: mean, sample standard deviation, and the standard
/// errors of both (the sd's from the sample fourth moment), over the escaped paths; with the
/// count of paths that did not escape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EscapeStats {
    /// Paths that escaped.
    pub escaped: usize,
    /// Paths that did not (censored).
    pub censored: usize,
    /// Mean escape time.
    pub mean: f64,
    /// Its standard error.
    pub mean_se: f64,
    /// Sample standard deviation.
    pub sd: f64,
    /// Its standard error (delta method on the variance's SE).
    pub sd_se: f64,
}

impl EscapeStats {
    /// The statistics of the given escape times (None = did not escape).
    pub fn of(times: &[Option<f64>]) -> Self {
        let xs: Vec<f64> = times.iter().flatten().copied().collect();
        let k = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / k;
        let m2 = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / k;
        let m4 = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / k;
        let var = m2 * k / (k - 1.0);
        let sd = var.sqrt();
        let var_se = ((m4 - m2 * m2) / k).max(0.0).sqrt();
        Self {
            escaped: xs.len(),
            censored: times.len() - xs.len(),
            mean,
            mean_se: sd / k.sqrt(),
            sd,
            sd_se: var_se / (2.0 * sd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdgan_model::ModelConfig;

    /// Figure 1 (eta = 2) from P = 0.1 I, q = (0.1, q2), r = P^T q.
    fn fig1(q2: f64) -> (Model, MacroState) {
        let m = ModelConfig::figure1(1000, 2.0).validate("model").unwrap();
        let mut s = MacroState::diagonal_start(2, 0.1, 0.1);
        s.q = vec![0.1, q2];
        s.r = vec![0.01, 0.1 * q2];
        (m, s)
    }

    #[test]
    fn saddle_law_of_figure_1_without_residual() {
        let (m, s) = fig1(0.0);
        let law = saddle_law(&m, &s, 1, ESCAPE_THRESHOLD).unwrap();
        // The saddle: feature 1 learned, the discriminator off both features, a fixed point.
        let c = ReducedCoords { d: 2 };
        let f = crate::jacobian::reduced_rhs_coords(&m, c, &c.from_state(&law.saddle));
        assert!(f.iter().all(|v| v.abs() < 1e-11), "{f:?}");
        assert!(law.saddle.q.iter().all(|q| q.abs() < 1e-9));
        assert!(law.saddle.p[(0, 0)] > 0.9);
        // kappa is the Jacobian's leading eigenvalue there; the amplitude has settled.
        let ev = crate::fixed_points::eigenvalues(&reduced_jacobian(&m, &law.saddle));
        assert!((law.kappa - ev[0].0).abs() < 1e-12 && law.kappa > 0.4);
        assert!(law.amplitude_drift < 1e-4, "{}", law.amplitude_drift);
        // The law's parts: slope 1/(2 kappa), sd pi/(2 sqrt 2 kappa), mean up by the slope
        // times ln 10 per decade.
        assert!((law.slope() * 2.0 * law.kappa - 1.0).abs() < 1e-15);
        let decade = law.mean(1e5) - law.mean(1e4);
        assert!((decade - law.slope() * 10f64.ln()).abs() < 1e-12);
        assert!((law.sd() * law.kappa - 1.1107207345).abs() < 1e-9);
    }

    #[test]
    fn saddle_law_refuses_a_residual_start_and_bad_arguments() {
        let (m, s) = fig1(0.1);
        let e = saddle_law(&m, &s, 1, ESCAPE_THRESHOLD).unwrap_err();
        assert!(e.to_string().contains("residual overlap"), "{e}");
        let (m, s) = fig1(0.0);
        assert!(saddle_law(&m, &s, 2, 0.5).is_err());
        assert!(saddle_law(&m, &s, 1, 1.5).is_err());
    }

    #[test]
    fn diffusion_is_reproducible_across_threads_and_tends_to_the_ode() {
        let (m, s) = fig1(0.1);
        let opts = DiffusionOptions {
            dt: 0.02,
            t_max: 80.0,
        };
        let run = |threads: usize, n: f64| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    let escape = DiffusionEscape {
                        n,
                        paths: 3,
                        seed: 11,
                        feature: 1,
                        threshold: 0.5,
                    };
                    diffusion_escape_times(&m, &s, &escape, &opts).unwrap()
                })
        };
        let one = run(1, 1e3);
        assert_eq!(one, run(2, 1e3));
        assert!(one.iter().all(Option::is_some));
        // Noise of size 1e-10 leaves the ODE's own escape time (residual start).
        let ode_times: Vec<f64> = (0..=8000).map(|k| k as f64 * 0.01).collect();
        let ode = solve(
            &m,
            OdeKind::for_model(&m),
            &s,
            &ode_times,
            &OdeOptions::default(),
        )
        .unwrap();
        let t_ode = escape_time(&ode, 1, 0.5).unwrap();
        for t in run(2, 1e20) {
            let t = t.unwrap();
            assert!((t - t_ode).abs() < 2e-3, "{t} vs {t_ode}");
        }
    }

    #[test]
    fn diffusion_refuses_bad_options() {
        let (m, s) = fig1(0.0);
        let bad = |n: f64, dt: f64| {
            let escape = DiffusionEscape {
                n,
                paths: 1,
                seed: 1,
                feature: 1,
                threshold: 0.5,
            };
            diffusion_escape_times(&m, &s, &escape, &DiffusionOptions { dt, t_max: 1.0 }).is_err()
        };
        assert!(bad(0.5, 0.01) && bad(1e3, 0.0) && bad(f64::INFINITY, 0.01));
        assert!(!bad(1e3, 0.01));
    }

    fn path(q2: &[f64]) -> Trajectory {
        let mut p = Trajectory::new();
        for (k, v) in q2.iter().enumerate() {
            let mut s = MacroState::zeros(2);
            s.q[1] = *v;
            p.push(k as f64, s);
        }
        p
    }

    #[test]
    fn escape_time_interpolates_the_first_crossing() {
        let p = path(&[0.0, 0.1, -0.3, -0.7, 0.2, 0.9]);
        let t = escape_time(&p, 1, 0.5).expect("escapes");
        assert!((t - 2.5).abs() < 1e-12, "{t}");
        assert_eq!(escape_time(&p, 1, 0.95), None);
    }

    #[test]
    fn stats_of_known_samples() {
        let s = EscapeStats::of(&[Some(1.0), Some(2.0), None, Some(3.0)]);
        assert_eq!((s.escaped, s.censored), (3, 1));
        assert!((s.mean - 2.0).abs() < 1e-15 && (s.sd - 1.0).abs() < 1e-15);
    }

    #[test]
    fn the_log_normal_constant() {
        let euler = 0.577_215_664_901_532_9_f64;
        assert!((MINUS_MEAN_LOG_ABS_NORMAL - (euler + 2f64.ln()) / 2.0).abs() < 1e-15);
    }
}
