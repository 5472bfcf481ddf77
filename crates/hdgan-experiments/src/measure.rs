//! `hdgan measure`: Figure 2. Simulates d = 1 with constant features (`u^ = 1` for every
//! row), takes snapshots of the scaled rows `(v^, w^)` at chosen times, and compares them
//! with the Gaussian solution of PDE (12) driven by the ODE.

use crate::config::{OutputConfig, parse_toml, read_file};
use crate::{Control, Error, Result};
use hdgan_core::ParamError;
use hdgan_micro_sim::{
    Features, InitConfig, InitState, RunControl, Schedule, Sgda, SimConfig, StepMode, run,
};
use hdgan_model::random::stream_rng;
use hdgan_model::{Model, ModelConfig};
use hdgan_pde_measure::distance::{ks_gaussian, sliced_w1_gaussian};
use hdgan_pde_measure::measure::sample_moments;
use hdgan_pde_measure::{CoefficientPath, EmpiricalMeasure, Gaussian2, Row, gaussian_path};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// A `hdgan measure` configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureConfig {
    /// Title of the figure.
    #[serde(default)]
    pub title: Option<String>,
    /// Seed.
    #[serde(default = "one")]
    pub seed: u64,
    /// The problem (d = 1).
    pub model: ModelConfig,
    /// The initial state (features = "constant"; `row_cov` for Gaussian initial weights).
    pub init: InitConfig,
    /// Snapshot times and the solver step.
    pub measure: MeasureTable,
    /// Output settings.
    #[serde(default)]
    pub output: OutputConfig,
}

fn one() -> u64 {
    1
}

/// The `[measure]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureTable {
    /// Snapshot times (non-negative, increasing).
    pub times: Vec<f64>,
    /// Step of the ODE coefficient path and of the Gaussian moment ODE (default 0.05).
    #[serde(default = "default_dt")]
    pub dt: f64,
    /// Step implementation of the simulation (default "fast").
    #[serde(default)]
    pub mode: StepMode,
}

fn default_dt() -> f64 {
    0.05
}

/// A validated measure run.
pub struct ValidMeasure {
    /// Name.
    pub name: String,
    /// Config (normalised), for provenance (`run.json`, `config.toml`) only.
    pub config: MeasureConfig,
    /// Seed of the simulation.
    pub seed: u64,
    /// Snapshot times (increasing, >= 0).
    pub times: Vec<f64>,
    /// Step of the ODE coefficient path and of the Gaussian moment ODE (> 0).
    pub dt: f64,
    /// Step implementation of the simulation.
    pub mode: StepMode,
    /// Model.
    pub model: Model,
    /// Initial state.
    pub init: InitState,
}

impl MeasureConfig {
    /// Validates: d = 1, constant features, times increasing and >= 0, dt > 0.
    pub fn validate(&self, name: &str) -> Result<ValidMeasure, ParamError> {
        let model = self.model.validate("model")?;
        model.require_paper_model("`hdgan measure`")?;
        if model.d() != 1 {
            return Err(ParamError::rule(
                "model.d",
                "must be 1 for `hdgan measure` (Figure 2)",
            ));
        }
        if model.l1() > 0.0 {
            let fast = if self.measure.mode == StepMode::Fast {
                " (and measure.mode = \"fast\" cannot simulate it)"
            } else {
                ""
            };
            return Err(ParamError::rule(
                "model.l1",
                format!(
                    "must be 0 for `hdgan measure`: the Gaussian solution of the PDE it compares with holds without an elementwise penalty{fast}"
                ),
            ));
        }
        let init = self.init.validate("init", &model)?;
        if init.features != Features::Constant {
            return Err(ParamError::rule(
                "init.features",
                "must be \"constant\" for `hdgan measure` (u^ = 1 for every row)",
            ));
        }
        let t = &self.measure.times;
        if t.is_empty()
            || t.iter().any(|x| !x.is_finite() || *x < 0.0)
            || t.windows(2).any(|w| w[1] <= w[0])
        {
            return Err(ParamError::rule(
                "measure.times",
                "must be a non-empty increasing list of finite times >= 0",
            ));
        }
        hdgan_core::check_positive("measure.dt", self.measure.dt)?;
        SimConfig::new(t[t.len() - 1].max(self.measure.dt)).validate("measure", model.n())?;
        let mut config = self.clone();
        config.model = self.model.normalized();
        Ok(ValidMeasure {
            name: name.to_owned(),
            config,
            seed: self.seed,
            times: self.measure.times.clone(),
            dt: self.measure.dt,
            mode: self.measure.mode,
            model,
            init,
        })
    }
}

/// One snapshot: the samples and the predicted Gaussian.
pub struct Snapshot {
    /// Time.
    pub t: f64,
    /// Samples `(v^, w^)`.
    pub rows: Vec<Row>,
    /// The Gaussian solution of (12) at t.
    pub predicted: Gaussian2,
}

/// Runs the simulation and the Gaussian solution for a validated config; returns the
/// snapshots and the simulation's wall time.
pub fn measure(v: &ValidMeasure, ctl: Control<'_>) -> Result<(Vec<Snapshot>, f64)> {
    let _span = tracing::info_span!("measure", name = %v.name, n = v.model.n()).entered();
    let m = &v.model;
    let mut rng = stream_rng(v.seed, 0);
    let x0 = v.init.build(m.n(), &mut rng);
    // The ODE starts from the simulation's own initial overlaps, the Gaussian law from the
    // initial sample's mean and covariance.
    let m0 = x0.macro_state();
    let (mean0, cov0) = sample_moments(&EmpiricalMeasure::from_state(&x0).conditional(1.0, 1e-9));
    let mut engine = Sgda::new(m, x0, v.mode, hdgan_micro_sim::DEFAULT_BLOWUP)?;
    let times = &v.times;
    let t_max = times[times.len() - 1];
    let started = Instant::now();
    ctl.begin(
        &format!("{}: simulating to t = {t_max}", v.name),
        (t_max * m.n() as f64).round() as u64,
        "steps",
    );
    let mut snapshots_rows = Vec::new();
    let mut t_prev = 0.0;
    for &t in times {
        let steps = ((t - t_prev) * m.n() as f64).round() as u64;
        if steps > 0 {
            let schedule = Schedule {
                steps,
                record_every: steps,
            };
            let inc = |k: u64| ctl.advance(k);
            run(
                &mut engine,
                &mut rng,
                &schedule,
                RunControl {
                    progress: Some(&inc),
                    cancel: ctl.cancel,
                },
            )?;
        }
        snapshots_rows
            .push(EmpiricalMeasure::from_state(&engine.micro_state()).conditional(1.0, 1e-9));
        t_prev = t;
    }
    ctl.end();
    let secs = started.elapsed().as_secs_f64();
    let dt = v.dt;
    let path = CoefficientPath::new(m, &m0, t_max.max(dt), dt)
        .map_err(|e| Error::ode("limiting ODE", e))?;
    let laws = gaussian_path(
        m,
        &path,
        1.0,
        Gaussian2 {
            mean: mean0,
            cov: cov0,
        },
    );
    let snaps = times
        .iter()
        .zip(snapshots_rows)
        .map(|(&t, rows)| {
            let k = ((t / dt).round() as usize).min(laws.len() - 1);
            Snapshot {
                t,
                rows,
                predicted: laws[k].1,
            }
        })
        .collect();
    Ok((snaps, secs))
}

/// Distances of a snapshot from its prediction: sliced W1 (16 directions) and the KS
/// distances of the two marginals.
pub fn snapshot_distances(s: &Snapshot) -> (f64, f64, f64) {
    let v: Vec<f64> = s.rows.iter().map(|r| r[0]).collect();
    let w: Vec<f64> = s.rows.iter().map(|r| r[1]).collect();
    let g = &s.predicted;
    (
        sliced_w1_gaussian(&s.rows, g, 16),
        ks_gaussian(&v, g.mean[0], g.cov[0][0].max(0.0).sqrt()),
        ks_gaussian(&w, g.mean[1], g.cov[1][1].max(0.0).sqrt()),
    )
}

/// The memory and steps of a measure run (see [`crate::resources`]): the simulation's
/// vectors, the snapshots of the rows, and the coefficient and moment paths on the grid
/// of step `measure.dt`.
pub fn estimate(v: &ValidMeasure) -> crate::resources::Estimate {
    let n = v.model.n() as f64;
    let times = &v.times;
    let t_max = times.last().copied().unwrap_or(0.0);
    let grid = (t_max / v.dt).ceil() + 2.0;
    let mut e = crate::resources::Estimate::default();
    e.add("n-dimensional state vectors", 10.0, 8.0 * n)
        .add("snapshots", times.len() as f64 * n, 16.0 + 48.0)
        .add("ODE coefficient and moment paths", 2.0 * grid, 400.0)
        .keys(&["model.n", "measure.times", "measure.dt"]);
    e.work = Some((n * t_max + grid, "SGDA steps and ODE steps".to_owned()));
    e
}

/// Loads and validates a measure config and checks its resources.
pub fn prepare_measure(path: &Path) -> Result<ValidMeasure> {
    let (name, text) = read_file(path)?;
    prepare_measure_text(&name, &path.display().to_string(), &text)
}

/// [`prepare_measure`] from TOML text (`origin` names it in errors).
pub fn prepare_measure_text(name: &str, origin: &str, text: &str) -> Result<ValidMeasure> {
    let cfg: MeasureConfig = parse_toml(text, origin)?;
    let v = cfg.validate(name)?;
    estimate(&v).check()?;
    Ok(v)
}

/// The columns of [`moments_table`].
pub const MOMENT_COLUMNS: [&str; 14] = [
    "t",
    "sim_mean_v",
    "sim_mean_w",
    "sim_cov_vv",
    "sim_cov_vw",
    "sim_cov_ww",
    "pde_mean_v",
    "pde_mean_w",
    "pde_cov_vv",
    "pde_cov_vw",
    "pde_cov_ww",
    "sliced_w1",
    "ks_v",
    "ks_w",
];

/// One row per snapshot ([`MOMENT_COLUMNS`]): the simulation's mean and covariance of
/// `(v^, w^)`, the PDE's Gaussian, the sliced W1 and the marginal KS distances.
pub fn moments_table(snaps: &[Snapshot]) -> Vec<Vec<f64>> {
    snaps
        .iter()
        .map(|s| {
            let (m, c) = sample_moments(&s.rows);
            let g = &s.predicted;
            let (sw, kv, kw) = snapshot_distances(s);
            vec![
                s.t,
                m[0],
                m[1],
                c[0][0],
                c[0][1],
                c[1][1],
                g.mean[0],
                g.mean[1],
                g.cov[0][0],
                g.cov[0][1],
                g.cov[1][1],
                sw,
                kv,
                kw,
            ]
        })
        .collect()
}
