//! Phase diagrams (`hdgan phase`): the ODE's long-time phase over a grid of two
//! parameters against Claim 1's prediction, with optional simulations on a coarser grid;
//! and the fixed points `hdgan fixed-points` reports.

use crate::config::{OutputConfig, parse_toml, read_file};
use crate::{Control, Error, Result};
use hdgan_core::{DMat, ParamError, check_positive};
use hdgan_macro_ode::OdeOptions;
use hdgan_micro_sim::{InitConfig, RunControl, Schedule, Sgda, StepMode, run_ensemble};
use hdgan_model::{Model, ModelConfig};
use hdgan_stability::{
    FixedPoint, GridAxis, Phase, PhaseMap, PhaseMapSpec, PhaseRule, check_grid, claim1, classify,
    critical_overlap, fixed_points_d1, model_at, phase_map, resting_point,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// A phase-diagram configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseConfig {
    /// Title shown on the figures.
    #[serde(default)]
    pub title: Option<String>,
    /// Seed of the optional simulations.
    #[serde(default = "one")]
    pub seed: u64,
    /// The base problem; the axes vary two of its parameters.
    pub model: ModelConfig,
    /// The initial state of every ODE (and simulation) run.
    pub init: InitConfig,
    /// The grid and the classification horizon.
    pub phase: PhaseTable,
    /// Output settings.
    #[serde(default)]
    pub output: OutputConfig,
}

fn one() -> u64 {
    1
}

/// The `[phase]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTable {
    /// Horizontal axis: `{ param, min, max, count }`.
    pub x: GridAxis,
    /// Vertical axis.
    pub y: GridAxis,
    /// Shortest ODE horizon (default 400).
    #[serde(default = "default_t_end")]
    pub t_end: f64,
    /// Each point runs at least to `generator_horizon / tau~` (default 16, Figure 1's
    /// tau~ T = 0.04 x 400): slow generators get longer runs.
    #[serde(default = "default_generator_horizon")]
    pub generator_horizon: f64,
    /// ODE samples in the classification window (default 24).
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Integrator tolerances (defaults 1e-7, 1e-9: ample for classification).
    #[serde(default = "default_rtol")]
    pub rtol: f64,
    /// Absolute tolerance.
    #[serde(default = "default_atol")]
    pub atol: f64,
    /// Optional simulations on a coarser grid.
    #[serde(default)]
    pub sim: Option<PhaseSim>,
}

fn default_t_end() -> f64 {
    400.0
}
fn default_generator_horizon() -> f64 {
    16.0
}
fn default_samples() -> usize {
    24
}
fn default_rtol() -> f64 {
    1e-7
}
fn default_atol() -> f64 {
    1e-9
}

/// The `[phase.sim]` table: simulate every `stride`-th grid point along each axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSim {
    /// Dimension of the simulations.
    pub n: usize,
    /// Grid stride (>= 1).
    pub stride: usize,
}

/// A validated phase-diagram run.
pub struct ValidPhase {
    /// Name (config file stem).
    pub name: String,
    /// The config (normalised), for provenance (`run.json`, `config.toml`) only.
    pub config: PhaseConfig,
    /// Seed of the simulations (simulated point k uses `seed + k`).
    pub seed: u64,
    /// Base model.
    pub model: Model,
    /// What to compute.
    pub spec: PhaseMapSpec,
    /// Simulation settings, validated.
    pub sim: Option<SimGrid>,
}

/// The validated `[phase.sim]` table.
#[derive(Clone, Debug)]
pub struct SimGrid {
    /// The base model at the simulations' dimension `phase.sim.n`.
    pub model: Model,
    /// Every `stride`-th grid point along each axis is simulated.
    pub stride: usize,
    /// The initial state of every simulation.
    pub init: hdgan_micro_sim::InitState,
}

fn check_axis(key: &str, a: &GridAxis) -> Result<(), ParamError> {
    for (k, v) in [("min", a.min), ("max", a.max)] {
        if !a.param.allows(v) {
            return Err(ParamError::rule(
                format!("{key}.{k}"),
                format!(
                    "is not an allowed value of {:?} (rates > 0, variances >= 0, finite), got {v}",
                    a.param
                ),
            ));
        }
    }
    if a.min >= a.max {
        return Err(ParamError::rule(
            format!("{key}.min"),
            format!(
                "must be < {key}.max, got min = {} and max = {}",
                a.min, a.max
            ),
        ));
    }
    if !(2..=4000).contains(&a.count) {
        return Err(ParamError::rule(
            format!("{key}.count"),
            format!("must be in 2..=4000, got {}", a.count),
        ));
    }
    Ok(())
}

impl PhaseConfig {
    /// Validates the config (model, init, axes, horizon, tolerances, simulation settings).
    pub fn validate(&self, name: &str) -> Result<ValidPhase, ParamError> {
        let model = self.model.validate("model")?;
        model.require_paper_model("`hdgan phase`")?;
        let init = self.init.validate("init", &model)?;
        if model.l1() > 0.0 {
            return Err(ParamError::rule(
                "model.l1",
                "must be 0 for `hdgan phase`: the phase map classifies the macroscopic ODE, which does not close with an elementwise penalty (use `hdgan measure` or `hdgan run` with ode.enabled = false)",
            ));
        }
        check_axis("phase.x", &self.phase.x)?;
        check_axis("phase.y", &self.phase.y)?;
        if self.phase.x.param == self.phase.y.param {
            return Err(ParamError::rule(
                "phase.y.param",
                "must differ from phase.x.param",
            ));
        }
        check_grid(&model, &self.phase.x, &self.phase.y, ["phase.x", "phase.y"])?;
        check_positive("phase.t_end", self.phase.t_end)?;
        check_positive("phase.generator_horizon", self.phase.generator_horizon)?;
        if self.phase.samples < 2 {
            return Err(ParamError::rule("phase.samples", "must be >= 2"));
        }
        let rtol = hdgan_core::check_relative_tolerance("phase.rtol", self.phase.rtol)?;
        let atol = check_positive("phase.atol", self.phase.atol)?;
        let sim = match &self.phase.sim {
            None => None,
            Some(s) => {
                if s.stride == 0 {
                    return Err(ParamError::rule("phase.sim.stride", "must be >= 1"));
                }
                let m = model.with_n(s.n).map_err(|e| {
                    ParamError::rule(
                        "phase.sim.n",
                        format!("= {} breaks a rule of the model: {e}", s.n),
                    )
                })?;
                Schedule::from_times(m.n(), self.phase.t_end, 1.0)?;
                let init = self.init.validate("init", &m)?;
                Some(SimGrid {
                    model: m,
                    stride: s.stride,
                    init,
                })
            }
        };
        let mut config = self.clone();
        config.model = self.model.normalized();
        Ok(ValidPhase {
            name: name.to_owned(),
            config,
            seed: self.seed,
            spec: PhaseMapSpec {
                x: self.phase.x,
                y: self.phase.y,
                t_end: self.phase.t_end,
                generator_horizon: self.phase.generator_horizon,
                samples: self.phase.samples,
                init: init.macro_state(),
                rule: PhaseRule::default(),
                ode: OdeOptions {
                    rtol,
                    atol,
                    ..OdeOptions::default()
                },
            },
            model,
            sim,
        })
    }
}

/// Loads and validates a phase config.
pub fn prepare_phase(path: &Path) -> Result<ValidPhase> {
    let (name, text) = read_file(path)?;
    prepare_phase_text(&name, &path.display().to_string(), &text)
}

/// [`prepare_phase`] from TOML text (`origin` names it in errors).
pub fn prepare_phase_text(name: &str, origin: &str, text: &str) -> Result<ValidPhase> {
    let cfg: PhaseConfig = parse_toml(text, origin)?;
    let v = cfg.validate(name)?;
    estimate(&v).check()?;
    Ok(v)
}

/// The memory and work of a phase map (see [`crate::resources`]): per grid point its
/// result, its output row and its rectangles in the two figures; per worker the sampled
/// ODE path of the point it classifies (the solution, the classified path, its view and
/// window: four copies of `phase.samples + 2` states); plus the simulations' vectors and
/// records.
pub fn estimate(v: &ValidPhase) -> crate::resources::Estimate {
    let cells = (v.spec.x.count * v.spec.y.count) as f64;
    let d = v.model.d();
    let workers = rayon::current_num_threads() as f64;
    let state = crate::resources::state_bytes(hdgan_core::MacroState::packed_len(d), 4) + 8.0;
    let samples = v.spec.samples as f64;
    let mut e = crate::resources::Estimate::default();
    e.add("grid results", cells, (400 + 24 * d) as f64)
        .add("output rows", cells, crate::resources::row_bytes(7 + d))
        .add("figure rectangles", 2.0 * cells, 160.0)
        .keys(&["phase.x.count", "phase.y.count"]);
    e.add(
        "sampled ODE paths in flight",
        workers * 4.0 * (samples + 2.0),
        state,
    )
    .keys(&["phase.samples"]);
    let mut work = cells;
    if let Some(SimGrid { model, stride, .. }) = &v.sim {
        let (n, stride) = (model.n(), *stride);
        let sims = ((v.spec.x.count.div_ceil(stride)) * (v.spec.y.count.div_ceil(stride))) as f64;
        e.add(
            "simulation vectors",
            workers * (3 * d + 6) as f64,
            8.0 * n as f64,
        );
        // A simulated point records `samples` states per classification window.
        let window = PhaseRule::default().window;
        e.add(
            "simulation records in flight",
            workers * (samples / window + 2.0),
            state,
        );
        e.keys(&["phase.sim.n", "phase.sim.stride"]);
        work += sims * (n as f64) * v.spec.t_end;
    }
    e.work = Some((work, "ODE solves and SGDA steps".to_owned()));
    e
}

/// The result of a phase map ([`compute`]).
pub struct PhaseResult {
    /// The map: ODE phase and Claim 1's prediction per grid point.
    pub map: PhaseMap,
    /// Simulated phase per grid point (None where not simulated or diverged).
    pub sim: Vec<Option<Phase>>,
    /// Seconds spent on the ODE map.
    pub seconds: f64,
    /// Points where Claim 1 and the ODE were compared, and how many agreed.
    pub agreement: (usize, usize),
    /// Simulated points and how many agreed with the ODE.
    pub sim_agreement: Option<(usize, usize)>,
}

/// Computes the phase map of a validated config (on `threads` workers), the optional
/// simulations, and the agreement counts.
pub fn compute(v: &ValidPhase, threads: Option<usize>, ctl: Control<'_>) -> Result<PhaseResult> {
    let _span = tracing::info_span!("phase_map", name = %v.name).entered();
    let total = v.spec.x.count * v.spec.y.count;
    ctl.begin(
        &format!("{}: phase map", v.name),
        total as u64,
        "grid points",
    );
    let started = Instant::now();
    let tick = || ctl.advance(1);
    let map = crate::with_threads(threads, || phase_map(&v.model, &v.spec, Some(&tick)))?;
    ctl.end();
    let seconds = started.elapsed().as_secs_f64();
    let sim = match &v.sim {
        None => vec![None; map.cells.len()],
        Some(grid) => simulate_grid(v, &map, grid, ctl)?,
    };
    let compared: Vec<bool> = map.cells.iter().filter_map(|c| c.agrees()).collect();
    let agreement = (compared.len(), compared.iter().filter(|&&a| a).count());
    let sim_pairs: Vec<bool> = map
        .cells
        .iter()
        .zip(&sim)
        .filter_map(|(c, s)| Some(s.as_ref()? == &c.ode.as_ref()?.phase))
        .collect();
    let sim_agreement = v
        .sim
        .as_ref()
        .map(|_| (sim_pairs.len(), sim_pairs.iter().filter(|&&a| a).count()));
    Ok(PhaseResult {
        map,
        sim,
        seconds,
        agreement,
        sim_agreement,
    })
}

/// Simulates (one seed, fast step) every `stride`-th grid point along each axis and
/// classifies it with the same rule as the ODE; other points are None.
fn simulate_grid(
    v: &ValidPhase,
    map: &PhaseMap,
    grid: &SimGrid,
    ctl: Control<'_>,
) -> Result<Vec<Option<Phase>>> {
    let (n, stride, init) = (grid.model.n(), grid.stride, &grid.init);
    let nx = v.spec.x.count;
    let picks: Vec<usize> = (0..map.cells.len())
        .filter(|k| (k % nx).is_multiple_of(stride) && (k / nx).is_multiple_of(stride))
        .collect();
    let rule = PhaseRule::for_dimension(n);
    let mut out = vec![None; map.cells.len()];
    ctl.begin(
        &format!("{}: simulations", v.name),
        picks.len() as u64,
        "runs",
    );
    for &k in &picks {
        let c = &map.cells[k];
        let m = model_at(&grid.model, &v.spec.x, &v.spec.y, (c.x, c.y))?;
        let t_end = hdgan_stability::horizon(&m, v.spec.t_end, v.spec.generator_horizon);
        let times =
            Schedule::from_times(m.n(), t_end, t_end * rule.window / v.spec.samples as f64)?;
        let traj = run_ensemble(
            1,
            v.seed.wrapping_add(k as u64),
            |_, rng| {
                Sgda::new(
                    &m,
                    init.build(m.n(), rng),
                    StepMode::Fast,
                    hdgan_micro_sim::DEFAULT_BLOWUP,
                )
            },
            &times,
            RunControl {
                progress: None,
                cancel: ctl.cancel,
            },
        )?;
        out[k] = classify(&traj[0], &rule).map(|s| s.phase);
        ctl.advance(1);
    }
    ctl.end();
    Ok(out)
}

/// Reads the `[model]` table of any config for `hdgan fixed-points`: a single-feature model
/// with `lambda = inf` (the fixed points are those of the reduced ODE).
pub fn fixed_points_model(path: &Path) -> Result<Model> {
    let (_, text) = read_file(path)?;
    fixed_points_model_text(&path.display().to_string(), &text)
}

/// [`fixed_points_model`] from TOML text (`origin` names it in errors).
pub fn fixed_points_model_text(origin: &str, text: &str) -> Result<Model> {
    let model = crate::config::model_only(text, origin)?;
    model.require_paper_model("`hdgan fixed-points`")?;
    if !model.lambda().is_infinite() {
        return Err(Error::config(
            "model.lambda",
            "must be \"inf\": fixed points are those of the reduced ODE (13)",
        ));
    }
    Ok(model)
}

/// The fixed points `hdgan fixed-points` reports: for d = 1 the full enumeration (the
/// resting line sampled at P = 0, p*, 1 and the others; p* from Claim 1 for the quadratic
/// loss, from the resting line's spectrum otherwise, [`critical_overlap`]), for d > 1 the
/// resting family at P = 0, P = diag(p*) (the corner of Claim 1's box, when Claim 1
/// applies) and P = I, with S = I.
pub fn fixed_points_for(model: &Model) -> Vec<FixedPoint> {
    let c = claim1(model);
    let pstar: Option<Vec<f64>> = c
        .as_ref()
        .map(|c| c.p_star.iter().map(|p| p.unwrap_or(0.0)).collect());
    if model.d() == 1 {
        let mut line = vec![0.0, 1.0];
        let p = match &pstar {
            Some(p) => Some(p[0]),
            None => critical_overlap(model),
        };
        if let Some(p) = p.filter(|&p| p > 0.0 && p < 1.0) {
            line.insert(1, p);
        }
        fixed_points_d1(model, &line)
    } else {
        let s = DMat::identity(model.d());
        let mut corners = vec![DMat::zeros(model.d(), model.d())];
        corners.extend(pstar.map(|p| DMat::from_diag(&p)));
        corners.push(DMat::identity(model.d()));
        corners
            .iter()
            .map(|p| resting_point(model, p, &s))
            .collect()
    }
}
