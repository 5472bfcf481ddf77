//! Phase diagrams over a grid of two parameters: Claim 1's prediction and the ODE's
//! classification at every grid point, computed in parallel.

use crate::{Phase, PhaseRule, PhaseSummary, claim1, classify};
use hdgan_core::{MacroState, ParamError, Trajectory};
use hdgan_macro_ode::{OdeKind, OdeOptions, solve};
use hdgan_model::Model;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A model parameter a phase-diagram axis can vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridParam {
    /// `tau eta^2`, set by scaling eta_T and eta_G by a common factor (both equal to
    /// `sqrt(value / tau)` if both are zero); tau fixed.
    TauEtaSq,
    /// `alpha = tau~ / tau`, set through tau~; tau fixed.
    Alpha,
    /// `eta_T = eta_G = value`.
    Eta,
    /// tau, with alpha fixed (tau~ moves with it).
    Tau,
    /// tau~ alone.
    TauTilde,
    /// eta_T alone.
    EtaT,
    /// eta_G alone.
    EtaG,
}

impl GridParam {
    /// Axis label.
    pub fn label(self) -> &'static str {
        match self {
            GridParam::TauEtaSq => "tau eta^2",
            GridParam::Alpha => "alpha = tau~ / tau",
            GridParam::Eta => "eta_T = eta_G",
            GridParam::Tau => "tau (alpha fixed)",
            GridParam::TauTilde => "tau~",
            GridParam::EtaT => "eta_T",
            GridParam::EtaG => "eta_G",
        }
    }

    /// Whether `value` is allowed (rates > 0, noise variances >= 0, all finite).
    pub fn allows(self, value: f64) -> bool {
        value.is_finite()
            && match self {
                GridParam::Alpha | GridParam::Tau | GridParam::TauTilde => value > 0.0,
                _ => value >= 0.0,
            }
    }

    /// The model with this parameter set to `value`, validated again
    /// ([`Model::with_config`]): an error names the model key the value breaks (a rate or
    /// variance out of range, [`hdgan_model::MAX_STEP_SCALE`]).
    pub fn apply(self, base: &Model, value: f64) -> Result<Model, ParamError> {
        let m = base;
        match self {
            GridParam::TauEtaSq => {
                let current = m.tau() * m.eta_sq();
                if current > 0.0 {
                    let s = (value / current).sqrt();
                    m.with_noise(m.eta_t() * s, m.eta_g() * s)
                } else {
                    let e = (value / m.tau()).sqrt();
                    m.with_noise(e, e)
                }
            }
            GridParam::Alpha => m.with_tau_tilde(value * m.tau()),
            GridParam::Eta => m.with_noise(value, value),
            GridParam::Tau => m.with_rates(value, m.alpha() * value),
            GridParam::TauTilde => m.with_tau_tilde(value),
            GridParam::EtaT => m.with_eta_t(value),
            GridParam::EtaG => m.with_eta_g(value),
        }
    }
}

/// One axis of a phase diagram: `count` values evenly spaced from `min` to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridAxis {
    /// The parameter.
    pub param: GridParam,
    /// First value.
    pub min: f64,
    /// Last value.
    pub max: f64,
    /// Number of values (>= 2).
    pub count: usize,
}

impl GridAxis {
    /// The grid values.
    pub fn values(&self) -> Vec<f64> {
        let n = self.count.max(2);
        (0..n)
            .map(|k| self.min + (self.max - self.min) * k as f64 / (n - 1) as f64)
            .collect()
    }

    /// Spacing between neighbouring values.
    pub fn step(&self) -> f64 {
        (self.max - self.min) / (self.count.max(2) - 1) as f64
    }
}

/// The model at the grid point `at = (x value, y value)`: [`GridParam::apply`] of x's
/// parameter, then of y's.
pub fn model_at(
    base: &Model,
    x: &GridAxis,
    y: &GridAxis,
    at: (f64, f64),
) -> Result<Model, ParamError> {
    y.param.apply(&x.param.apply(base, at.0)?, at.1)
}

/// Refuses a grid with a corner where the model breaks a rule, naming the axis end
/// (`{key}.min` or `{key}.max` of `keys = [x's key, y's key]`) and the rule. Each
/// parameter an axis sets moves monotonically along it and every rule bounds the
/// parameters from one side, so the rules hold on the whole grid when they hold at its
/// corners; [`phase_map`] still reports a point where they do not as that cell's error.
pub fn check_grid(
    base: &Model,
    x: &GridAxis,
    y: &GridAxis,
    keys: [&str; 2],
) -> Result<(), ParamError> {
    let ends = |a: &GridAxis| [("min", a.min), ("max", a.max)];
    for (xe, xv) in ends(x) {
        for (ye, yv) in ends(y) {
            if let Err(e) = model_at(base, x, y, (xv, yv)) {
                // Blame x's end when x's value alone breaks a rule, else y's.
                let (key, end, v) = match x.param.apply(base, xv) {
                    Err(_) => (keys[0], xe, xv),
                    Ok(_) => (keys[1], ye, yv),
                };
                return Err(ParamError::rule(
                    format!("{key}.{end}"),
                    format!(
                        "= {v:?} is out of range: at the grid corner ({} = {xv:?}, {} = {yv:?}) the model breaks a rule: {e}",
                        keys[0], keys[1]
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// What to compute for a phase diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseMapSpec {
    /// Horizontal axis.
    pub x: GridAxis,
    /// Vertical axis.
    pub y: GridAxis,
    /// Shortest ODE horizon.
    pub t_end: f64,
    /// The horizon is at least `generator_horizon / tau~` (the generator's time scale is
    /// `1 / tau~`; small tau~ means slow learning), so each point runs to
    /// `max(t_end, generator_horizon / tau~)`.
    pub generator_horizon: f64,
    /// Number of ODE samples in the classification window.
    pub samples: usize,
    /// Initial state of every ODE run.
    pub init: MacroState,
    /// Classification rule.
    pub rule: PhaseRule,
    /// Integrator settings.
    pub ode: OdeOptions,
}

/// One grid point of a phase diagram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseCell {
    /// Horizontal parameter value.
    pub x: f64,
    /// Vertical parameter value.
    pub y: f64,
    /// Claim 1's prediction (None if the latent moments are not diagonal).
    pub claim1: Option<Phase>,
    /// The ODE's classification.
    pub ode: Option<PhaseSummary>,
    /// Why the ODE could not be classified (divergence, integrator failure), or a note
    /// that its verdict is provisional (not settled at the longest horizon).
    pub ode_error: Option<String>,
    /// Whether the ODE path had settled when it was classified.
    pub ode_settled: bool,
}

impl PhaseCell {
    /// Whether Claim 1 and the ODE give the same phase (None when either is missing).
    pub fn agrees(&self) -> Option<bool> {
        Some(self.claim1.as_ref()? == &self.ode.as_ref()?.phase)
    }
}

/// A computed phase diagram: `cells[iy * nx + ix]`.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseMap {
    /// Horizontal axis.
    pub x: GridAxis,
    /// Vertical axis.
    pub y: GridAxis,
    /// Grid points, row by row (y outer, x inner).
    pub cells: Vec<PhaseCell>,
}

/// Output times of a classification run: `0` and `samples` times evenly spread over the
/// classification window `[t_end (1 - window), t_end]`.
pub fn classification_times(t_end: f64, samples: usize, rule: &PhaseRule) -> Vec<f64> {
    let from = t_end * (1.0 - rule.window);
    let k = samples.max(2);
    std::iter::once(0.0)
        .chain((0..k).map(|i| from + (t_end - from) * i as f64 / (k - 1) as f64))
        .collect()
}

/// The horizon of the ODE run for `model` under `spec`: `max(t_end, generator_horizon / tau~)`.
pub fn horizon(model: &Model, t_end: f64, generator_horizon: f64) -> f64 {
    t_end.max(generator_horizon / model.tau_tilde())
}

/// How many times [`classify_ode`] may double the horizon of a run that has not settled.
pub const MAX_EXTENSIONS: usize = 4;

/// Whether a classified window looks unsettled. For an "oscillation" verdict: the RMS of
/// |q| over the last quarter of the window is below 0.8 of the first quarter's (a decaying
/// transient), or q hardly moves (its fluctuation about the window mean is below 0.3 of
/// its RMS: a discriminator holding a feature while the generator is still learning, not
/// an oscillation). For other verdicts: a feature cosine whose last-quarter mean differs
/// from its first-quarter mean by more than 0.02 (still learning), or |q| growing (RMS up
/// by more than 1.5x, from above 1e-10: a slow instability that has not shown yet).
fn unsettled(window: &Trajectory, phase: &Phase) -> bool {
    let k = window.len();
    if k < 8 {
        return false;
    }
    let (first, last) = (&window.states[..k / 4], &window.states[k - k / 4..]);
    let (first_half, last_half) = (&window.states[..k / 2], &window.states[k - k / 2..]);
    let rms = |states: &[MacroState]| {
        (states
            .iter()
            .map(|s| s.q.iter().map(|x| x * x).sum::<f64>() / s.z)
            .sum::<f64>()
            / states.len() as f64)
            .sqrt()
    };
    let (r0, r1) = (rms(first), rms(last));
    let d = window.states[0].d();
    let mean_cos = |states: &[MacroState], l: usize, j: usize| {
        states.iter().map(|s| s.p_cosine(l, j).abs()).sum::<f64>() / states.len() as f64
    };
    let moving =
        (0..d).any(|l| (0..d).any(|j| (mean_cos(first, l, j) - mean_cos(last, l, j)).abs() > 0.02));
    if *phase == Phase::Oscillation {
        let kf = k as f64;
        let mean: Vec<f64> = (0..d)
            .map(|i| window.states.iter().map(|s| s.q[i]).sum::<f64>() / kf)
            .collect();
        let fluct = (window
            .states
            .iter()
            .map(|s| {
                s.q.iter()
                    .zip(&mean)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / kf)
            .sqrt();
        // A feature cosine whose four quarter means move monotonically by more than 0.02
        // is still being learned (a limit cycle does not drift one way).
        let quarters: Vec<&[MacroState]> = window.states.chunks(k.div_ceil(4)).collect();
        let drifting = (0..d).any(|l| {
            (0..d).any(|j| {
                let m: Vec<f64> = quarters.iter().map(|q| mean_cos(q, l, j)).collect();
                let up = m.windows(2).all(|w| w[1] > w[0]);
                let down = m.windows(2).all(|w| w[1] < w[0]);
                (up || down) && (m[m.len() - 1] - m[0]).abs() > 0.02
            })
        });
        return r1 < 0.9 * r0
            || rms(last_half) < 0.9 * rms(first_half)
            || drifting
            || (moving && fluct < 0.3 * rms(&window.states));
    }
    moving || (r1 > 1e-10 && r1 > 1.5 * r0)
}

/// Whether a path that the rule calls settled (not oscillating) ends at a resting state
/// whose reduced-ODE Jacobian has an eigenvalue with real part above 1e-6: it sits near an
/// unstable fixed point and will move on (e.g. below p* after a slow approach), so it is
/// not settled. Only for lambda = infinity (the reduced ODE).
fn unstable_rest(model: &Model, end: &MacroState, phase: &Phase) -> bool {
    *phase != Phase::Oscillation
        && model.lambda().is_infinite()
        && crate::eigenvalues(&crate::reduced_jacobian(model, end))
            .first()
            .is_some_and(|e| e.0 > 1e-6)
}

/// Classifies the ODE path of `model` from `init` over `[0, t_end]` by `rule`; if the
/// window looks unsettled (a decaying transient, or overlaps still moving), the run is
/// continued to twice the horizon, up to `MAX_EXTENSIONS` times; likewise a settled
/// verdict whose end state is an unstable resting point. Returns the summary, the
/// horizon finally used, and whether the path had settled there (false when the last
/// extension still looked unsettled: the verdict is then provisional).
pub fn classify_ode(
    model: &Model,
    init: &MacroState,
    t_end: f64,
    samples: usize,
    rule: &PhaseRule,
    opts: &OdeOptions,
) -> Result<(PhaseSummary, f64, bool), String> {
    classify_ode_viewed(model, init, t_end, samples, rule, opts, &|t| t.clone())
}

/// [`classify_ode`], with the rule applied to `view(path)` instead of the path: e.g.
/// [`crate::in_mode_basis`], so that the verdict names effective modes. The view must
/// keep `z` and the norm of `q` (an orthogonal change of basis does).
pub fn classify_ode_viewed(
    model: &Model,
    init: &MacroState,
    t_end: f64,
    samples: usize,
    rule: &PhaseRule,
    opts: &OdeOptions,
    view: &dyn Fn(&Trajectory) -> Trajectory,
) -> Result<(PhaseSummary, f64, bool), String> {
    let kind = OdeKind::for_model(model);
    let (mut t0, mut start, mut horizon) = (0.0, init.clone(), t_end);
    for extension in 0..=MAX_EXTENSIONS {
        let from = horizon * (1.0 - rule.window);
        let k = samples.max(8);
        let mut times = vec![t0];
        times.extend((0..k).map(|i| from + (horizon - from) * i as f64 / (k - 1) as f64));
        let traj = solve(model, kind, &start, &times, opts).map_err(|e| e.to_string())?;
        // The path handed to the rule starts at the true initial state (for the learned
        // gain) and holds the window samples.
        let mut path = Trajectory::new();
        path.push(0.0, init.clone());
        for (t, s) in traj.times.iter().zip(&traj.states).skip(1) {
            path.push(*t, s.clone());
        }
        let path = view(&path);
        let summary = classify(&path, rule).ok_or_else(|| "empty path".to_owned())?;
        let window = path.window(from, horizon);
        let end = traj.states.last().ok_or_else(|| "empty path".to_owned())?;
        let settled =
            !(unsettled(&window, &summary.phase) || unstable_rest(model, end, &summary.phase));
        if settled || extension == MAX_EXTENSIONS {
            return Ok((summary, horizon, settled));
        }
        t0 = horizon;
        start = traj
            .states
            .last()
            .cloned()
            .ok_or_else(|| "empty path".to_owned())?;
        horizon *= 2.0;
    }
    unreachable!("the loop returns at its last pass")
}

/// Computes the phase diagram of `base` over `spec`'s grid, in parallel. The result does
/// not depend on the number of threads (every cell is computed independently).
/// `progress`, if given, is called once per finished cell (from any thread).
pub fn phase_map(
    base: &Model,
    spec: &PhaseMapSpec,
    progress: Option<&(dyn Fn() + Sync)>,
) -> PhaseMap {
    let xs = spec.x.values();
    let ys = spec.y.values();
    let cells = ys
        .iter()
        .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|(x, y)| {
            let m = match model_at(base, &spec.x, &spec.y, (x, y)) {
                Ok(m) => m,
                Err(e) => {
                    if let Some(p) = progress {
                        p();
                    }
                    return PhaseCell {
                        x,
                        y,
                        claim1: None,
                        ode: None,
                        ode_error: Some(format!("invalid parameters: {e}")),
                        ode_settled: false,
                    };
                }
            };
            let claim = claim1(&m).map(|c| c.predicted);
            let t_end = horizon(&m, spec.t_end, spec.generator_horizon);
            let (ode, ode_error, ode_settled) =
                match classify_ode(&m, &spec.init, t_end, spec.samples, &spec.rule, &spec.ode) {
                    Ok((s, _, settled)) => (
                        Some(s),
                        (!settled).then(|| "not settled at the longest horizon".to_owned()),
                        settled,
                    ),
                    Err(e) => (None, Some(e), false),
                };
            if let Some(p) = progress {
                p();
            }
            PhaseCell {
                x,
                y,
                claim1: claim,
                ode,
                ode_error,
                ode_settled,
            }
        })
        .collect();
    PhaseMap {
        x: spec.x,
        y: spec.y,
        cells,
    }
}

/// Claim 1's boundaries as exact lines, for plotting: the grid of `x` and `y` is refined
/// `refine` times; on every edge of the refined grid where the predicted phase changes the
/// crossing is located by bisection to round-off, and within each refined cell the crossings
/// on its edges are joined (two crossings by a segment; more, at a junction of boundaries,
/// each to their mean). Every returned endpoint (junctions aside) lies on a boundary to
/// ~1e-12 of the axis range; a straight boundary is drawn exactly. Empty when Claim 1 does
/// not apply (a non-quadratic loss, non-diagonal moments).
pub fn claim1_boundaries(
    base: &Model,
    x: &GridAxis,
    y: &GridAxis,
    refine: usize,
) -> Vec<((f64, f64), (f64, f64))> {
    let fx = GridAxis {
        count: (x.count.max(2) - 1) * refine.max(1) + 1,
        ..*x
    };
    let fy = GridAxis {
        count: (y.count.max(2) - 1) * refine.max(1) + 1,
        ..*y
    };
    let (xs, ys) = (fx.values(), fy.values());
    let predict =
        |xv: f64, yv: f64| claim1(&model_at(base, x, y, (xv, yv)).ok()?).map(|c| c.predicted);
    let grid: Vec<Vec<Option<Phase>>> = ys
        .par_iter()
        .map(|&yv| xs.iter().map(|&xv| predict(xv, yv)).collect())
        .collect();
    // The crossing on the edge from a to b (whose ends are predicted differently).
    let crossing = |a: (f64, f64), b: (f64, f64)| {
        let pa = predict(a.0, a.1);
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        let at = |s: f64| (a.0 + s * (b.0 - a.0), a.1 + s * (b.1 - a.1));
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            let p = at(mid);
            if predict(p.0, p.1) == pa {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        at(0.5 * (lo + hi))
    };
    let (nx, ny) = (xs.len(), ys.len());
    let cells: Vec<(usize, usize)> = (0..ny.saturating_sub(1))
        .flat_map(|iy| (0..nx.saturating_sub(1)).map(move |ix| (ix, iy)))
        .collect();
    cells
        .par_iter()
        .flat_map_iter(|&(ix, iy)| {
            let corner = |dx: usize, dy: usize| (xs[ix + dx], ys[iy + dy]);
            let phase = |dx: usize, dy: usize| &grid[iy + dy][ix + dx];
            // The cell's edges, counter-clockwise, as pairs of corners.
            let edges = [
                ((0, 0), (1, 0)),
                ((1, 0), (1, 1)),
                ((1, 1), (0, 1)),
                ((0, 1), (0, 0)),
            ];
            let points: Vec<(f64, f64)> = edges
                .iter()
                .filter(|((ax, ay), (bx, by))| phase(*ax, *ay) != phase(*bx, *by))
                .map(|((ax, ay), (bx, by))| crossing(corner(*ax, *ay), corner(*bx, *by)))
                .collect();
            let segments: Vec<((f64, f64), (f64, f64))> = match points.len() {
                0 | 1 => Vec::new(),
                2 => vec![(points[0], points[1])],
                k => {
                    let centre = (
                        points.iter().map(|p| p.0).sum::<f64>() / k as f64,
                        points.iter().map(|p| p.1).sum::<f64>() / k as f64,
                    );
                    points.iter().map(|&p| (p, centre)).collect()
                }
            };
            segments
        })
        .collect()
}

/// Whether Claim 1 predicts the same phase at `(x, y)` and at the eight points
/// `(x +- dx, y +- dy)`, `(x +- dx, y)`, `(x, y +- dy)`: the point is at least that far from
/// every boundary (in each axis' units).
pub fn claim1_interior(
    base: &Model,
    x: &GridAxis,
    y: &GridAxis,
    at: (f64, f64),
    margin: (f64, f64),
) -> bool {
    let at_point = |xv: f64, yv: f64| {
        if !(x.param.allows(xv) && y.param.allows(yv)) {
            return None;
        }
        claim1(&model_at(base, x, y, (xv, yv)).ok()?).map(|c| c.predicted)
    };
    let centre = at_point(at.0, at.1);
    centre.is_some()
        && [-1.0, 0.0, 1.0].iter().all(|&sx| {
            [-1.0, 0.0, 1.0]
                .iter()
                .all(|&sy| at_point(at.0 + sx * margin.0, at.1 + sy * margin.1) == centre)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    use hdgan_model::ModelConfig;

    fn fig1() -> Model {
        ModelConfig::figure1(1000, 2.0).validate("model").unwrap()
    }

    #[test]
    fn params_move_what_they_say() {
        let m = fig1();
        let a = GridParam::TauEtaSq.apply(&m, 1.6).unwrap();
        assert!(
            (a.tau() * a.eta_sq() - 1.6).abs() < 1e-12 && (a.eta_t() - a.eta_g()).abs() < 1e-12
        );
        let b = GridParam::Alpha.apply(&m, 0.5).unwrap();
        assert!((b.alpha() - 0.5).abs() < 1e-15 && (b.tau() - 0.2).abs() < 1e-15);
        let c = GridParam::Tau.apply(&m, 0.4).unwrap();
        assert!((c.alpha() - 0.2).abs() < 1e-15);
    }

    /// An axis value that breaks a rule of the model is refused by `apply` (naming the
    /// model's key) and by `check_grid` (naming the axis end); a grid inside the rules
    /// passes, and its points equal the model validated with those parameters.
    #[test]
    fn invalid_grid_points_are_refused() {
        let m = fig1();
        let e = GridParam::Tau.apply(&m, 0.0).unwrap_err();
        assert_eq!(e.key(), "model.tau", "{e}");
        let e = GridParam::EtaT.apply(&m, -1.0).unwrap_err();
        assert_eq!(e.key(), "model.eta_t", "{e}");
        // tau eta^2 = 1e300 at tau = 0.2: eta ~ 2e150, beyond MAX_STEP_SCALE.
        let e = GridParam::TauEtaSq.apply(&m, 1e300).unwrap_err();
        assert_eq!(e.key(), "model.eta_t", "{e}");
        let axis = |param, min, max| GridAxis {
            param,
            min,
            max,
            count: 3,
        };
        let x = axis(GridParam::TauEtaSq, 0.1, 6.0);
        let y = axis(GridParam::Alpha, 0.05, 1.0);
        check_grid(&m, &x, &y, ["phase.x", "phase.y"]).unwrap();
        let at = model_at(&m, &x, &y, (6.0, 0.05)).unwrap();
        let mut c = ModelConfig::figure1(1000, 2.0);
        let eta = (6.0f64 / 0.2).sqrt();
        c.eta_t = 2.0 * (6.0 / (0.2 * 4.0f64)).sqrt();
        c.eta_g = c.eta_t;
        c.tau_tilde = 0.05 * 0.2;
        assert_eq!(at, c.validate("model").unwrap());
        assert!((at.eta_t() - eta).abs() < 1e-12);
        let big = axis(GridParam::TauEtaSq, 0.1, 1e300);
        let e = check_grid(&m, &big, &y, ["phase.x", "phase.y"]).unwrap_err();
        assert_eq!(e.key(), "phase.x.max", "{e}");
        let e = check_grid(&m, &y, &big, ["phase.x", "phase.y"]).unwrap_err();
        assert_eq!(e.key(), "phase.y.max", "{e}");
        assert!(e.to_string().contains("model.eta_t"), "{e}");
        // A point that breaks a rule is reported as its cell's error.
        let spec = PhaseMapSpec {
            x: axis(GridParam::Tau, 0.1, 0.2),
            y: big,
            t_end: 1.0,
            generator_horizon: 0.0,
            samples: 8,
            init: MacroState::diagonal_start(2, 0.1, 0.1),
            rule: PhaseRule::default(),
            ode: OdeOptions::default(),
        };
        let map = phase_map(&m, &spec, None);
        let last = map.cells.last().unwrap();
        assert!(last.ode.is_none() && last.claim1.is_none());
        assert!(
            last.ode_error
                .as_deref()
                .is_some_and(|e| e.starts_with("invalid parameters") && e.contains("model.eta_t")),
            "{last:?}"
        );
    }

    /// Figure 1 in the (tau eta^2, alpha) plane: the left boundary is
    /// tau eta^2 = alpha Lam_1 / 2 = 2.5 alpha (Lam = Lam~), the right ones
    /// tau eta^2 = 3 and 5.
    #[test]
    fn boundaries_sit_where_claim1_puts_them() {
        let m = fig1();
        let x = GridAxis {
            param: GridParam::TauEtaSq,
            min: 0.1,
            max: 6.0,
            count: 60,
        };
        let y = GridAxis {
            param: GridParam::Alpha,
            min: 0.05,
            max: 1.0,
            count: 20,
        };
        let segs = claim1_boundaries(&m, &x, &y, 1);
        assert!(!segs.is_empty());
        // Both ends of every segment lie on one and the same analytic boundary (to 1e-12):
        // the lines are drawn exactly, not as staircases along the cell edges.
        let on = |(px, py): (f64, f64)| {
            [(px - 3.0).abs(), (px - 5.0).abs(), (px - 2.5 * py).abs()].map(|e| e < 1e-12)
        };
        for &(a, b) in &segs {
            let (oa, ob) = (on(a), on(b));
            assert!(
                (0..3).any(|k| oa[k] && ob[k]),
                "segment {a:?} - {b:?} is not on one boundary"
            );
        }
        // The three boundaries are drawn over the whole grid: total lengths.
        let length = |k: usize| -> f64 {
            segs.iter()
                .filter(|&&(a, b)| on(a)[k] && on(b)[k])
                .map(|&(a, b)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt())
                .sum()
        };
        assert!((length(0) - 0.95).abs() < 1e-9, "x = 3: {}", length(0));
        assert!((length(1) - 0.95).abs() < 1e-9, "x = 5: {}", length(1));
        // From (0.125, 0.05) to (2.5, 1): length sqrt(2.375^2 + 0.95^2).
        let diag = (2.375f64.powi(2) + 0.95f64.powi(2)).sqrt();
        assert!(
            (length(2) - diag).abs() < 1e-9,
            "x = 2.5 y: {} vs {diag}",
            length(2)
        );
        assert!(claim1_interior(&m, &x, &y, (0.8, 0.2), (0.1, 0.05)));
        assert!(!claim1_interior(&m, &x, &y, (3.0, 0.2), (0.1, 0.05)));
        assert!(!claim1_interior(&m, &x, &y, (0.5, 0.2), (0.1, 0.05)));
    }

    #[test]
    fn small_map_matches_claim1_at_figure1_points() {
        let m = fig1();
        let init = MacroState::diagonal_start(2, 0.1, 0.1);
        let spec = PhaseMapSpec {
            x: GridAxis {
                param: GridParam::Eta,
                min: 1.0,
                max: 4.0,
                count: 2,
            },
            y: GridAxis {
                param: GridParam::Alpha,
                min: 0.2,
                max: 0.2,
                count: 2,
            },
            t_end: 400.0,
            generator_horizon: 16.0,
            samples: 40,
            init,
            rule: PhaseRule::default(),
            ode: OdeOptions {
                rtol: 1e-7,
                atol: 1e-9,
                ..OdeOptions::default()
            },
        };
        let map = phase_map(&m, &spec, None);
        assert_eq!(map.cells.len(), 4);
        for c in &map.cells {
            assert_eq!(c.agrees(), Some(true), "{c:?}");
        }
    }
}
