//! `hdgan phase` (phase diagrams) and `hdgan fixed-points`.

use crate::config::{OutputConfig, parse_toml, read_file};
use crate::output::{OutputRequest, write_csv, write_json, write_npy};
use crate::plot::{CellMap, render_cells};
use crate::{InputError, build_info};
use anyhow::Result;
use hdgan_core::{DMat, ParamError, check_positive};
use hdgan_macro_ode::OdeOptions;
use hdgan_micro_sim::{InitConfig, RunControl, Schedule, Sgda, StepMode, run_ensemble};
use hdgan_model::{Model, ModelConfig};
use hdgan_stability::{
    FixedPoint, GridAxis, Phase, PhaseMap, PhaseMapSpec, PhaseRule, Stability, claim1,
    claim1_boundaries, classification_times, classify, fixed_points_d1, phase_map, resting_point,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// The config (normalised).
    pub config: PhaseConfig,
    /// Base model.
    pub model: Model,
    /// What to compute.
    pub spec: PhaseMapSpec,
    /// Simulation settings, validated.
    pub sim: Option<(usize, usize, hdgan_micro_sim::InitState)>,
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
        model.require_single_feature("`hdgan phase`")?;
        let init = self.init.validate("init", &model)?;
        if model.l1 > 0.0 {
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
        check_positive("phase.t_end", self.phase.t_end)?;
        check_positive("phase.generator_horizon", self.phase.generator_horizon)?;
        if self.phase.samples < 2 {
            return Err(ParamError::rule("phase.samples", "must be >= 2"));
        }
        let rtol = check_positive("phase.rtol", self.phase.rtol)?;
        let atol = check_positive("phase.atol", self.phase.atol)?;
        let sim = match &self.phase.sim {
            None => None,
            Some(s) => {
                if s.stride == 0 {
                    return Err(ParamError::rule("phase.sim.stride", "must be >= 1"));
                }
                let mut mc = self.model.clone();
                mc.n = s.n;
                let m = mc.validate("phase.sim")?;
                Schedule::from_times(m.n, self.phase.t_end, 1.0)?;
                Some((s.n, s.stride, self.init.validate("init", &m)?))
            }
        };
        let mut config = self.clone();
        config.model = self.model.normalized();
        Ok(ValidPhase {
            name: name.to_owned(),
            config,
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
pub fn prepare_phase(path: &Path) -> Result<ValidPhase, InputError> {
    let (name, text) = read_file(path)?;
    let cfg: PhaseConfig = parse_toml(&text, &path.display().to_string())?;
    let v = cfg.validate(&name)?;
    estimate(&v).check()?;
    Ok(v)
}

/// The memory and work of a phase map (see [`crate::resources`]): per grid point its
/// result, its output row and its rectangles in the two figures, plus the simulations.
pub fn estimate(v: &ValidPhase) -> crate::resources::Estimate {
    let cells = (v.spec.x.count * v.spec.y.count) as f64;
    let d = v.model.d;
    let mut e = crate::resources::Estimate::default();
    e.add("grid results", cells, (400 + 24 * d) as f64)
        .add("output rows", cells, crate::resources::row_bytes(7 + d))
        .add("figure rectangles", 2.0 * cells, 160.0)
        .keys(&["phase.x.count", "phase.y.count"]);
    let mut work = cells;
    if let Some((n, stride, _)) = &v.sim {
        let sims = ((v.spec.x.count.div_ceil(*stride)) * (v.spec.y.count.div_ceil(*stride))) as f64;
        e.add(
            "simulation vectors",
            rayon::current_num_threads() as f64 * (3 * d + 6) as f64,
            8.0 * *n as f64,
        );
        e.keys(&["phase.sim.n", "phase.sim.stride"]);
        work += sims * (*n as f64) * v.spec.t_end;
    }
    e.work = Some((work, "ODE solves and SGDA steps".to_owned()));
    e
}

/// The phases a map can contain, in legend order, with their colours.
fn phase_style(p: &Phase, d: usize) -> (String, (u8, u8, u8)) {
    match p {
        Phase::Success => ("success".into(), (0, 158, 115)),
        Phase::Oscillation => ("oscillation".into(), (230, 159, 0)),
        Phase::Failure => ("failure".into(), (150, 150, 150)),
        Phase::ModeCollapse { learned, .. } => {
            // Blues, darker with more features learned.
            let k = learned.len() as f64 / d.max(1) as f64;
            let c = (
                86.0 + (0.0 - 86.0) * k,
                180.0 + (114.0 - 180.0) * k,
                233.0 + (178.0 - 233.0) * k,
            );
            (p.to_string(), (c.0 as u8, c.1 as u8, c.2 as u8))
        }
    }
}

/// Numeric code of a phase for the `.npy` grids: 0 success, 1 oscillation, 2 failure,
/// 3 + (bit mask of learned features) for mode collapse; NaN when unknown.
pub fn phase_code(p: Option<&Phase>) -> f64 {
    match p {
        None => f64::NAN,
        Some(Phase::Success) => 0.0,
        Some(Phase::Oscillation) => 1.0,
        Some(Phase::Failure) => 2.0,
        Some(Phase::ModeCollapse { learned, .. }) => {
            3.0 + learned.iter().map(|&l| (1u64 << l) as f64).sum::<f64>()
        }
    }
}

/// Builds the phase-diagram figure of `map` (ODE phases, Claim 1 boundaries, markers).
pub fn phase_figure(
    title: &str,
    base: &Model,
    map: &PhaseMap,
    markers: Vec<(f64, f64, String)>,
) -> CellMap {
    let (hx, hy) = (map.x.step() / 2.0, map.y.step() / 2.0);
    let d = base.d;
    let mut legend: Vec<(String, (u8, u8, u8))> = Vec::new();
    let mut cells = Vec::with_capacity(map.cells.len());
    for c in &map.cells {
        let (label, color) = match c.ode.as_ref().map(|s| &s.phase) {
            Some(p) => phase_style(p, d),
            None => ("ODE failed".into(), (200, 0, 0)),
        };
        if !legend.iter().any(|(l, _)| *l == label) {
            legend.push((label, color));
        }
        cells.push(((c.x - hx, c.y - hy, c.x + hx, c.y + hy), color));
    }
    legend.sort_by(|a, b| a.0.cmp(&b.0));
    CellMap {
        title: title.to_owned(),
        x_label: map.x.param.label().into(),
        y_label: map.y.param.label().into(),
        x_range: (map.x.min - hx, map.x.max + hx),
        y_range: (map.y.min - hy, map.y.max + hy),
        cells,
        segments: claim1_boundaries(base, &map.x, &map.y, 2),
        segments_label: "Claim 1 boundaries".into(),
        legend,
        markers,
    }
}

/// The result of `hdgan phase`.
pub struct PhaseOutcome {
    /// Output folder.
    pub out_dir: PathBuf,
    /// The map.
    pub map: PhaseMap,
    /// Seconds spent on the ODE map.
    pub seconds: f64,
    /// Points where Claim 1 and the ODE were compared, and how many agreed.
    pub agreement: (usize, usize),
    /// Simulated points and how many agreed with the ODE.
    pub sim_agreement: Option<(usize, usize)>,
}

/// Runs `hdgan phase`.
pub fn execute_phase(
    path: &Path,
    out: Option<&Path>,
    threads: Option<usize>,
    progress: bool,
    overwrite: bool,
) -> Result<PhaseOutcome> {
    crate::resources::check_threads(threads)?;
    let v = prepare_phase(path)?;
    let staged = crate::open_output(
        &OutputRequest::choose(
            out,
            v.config.output.dir.as_deref(),
            PathBuf::from("out").join(&v.name),
            overwrite,
        )
        .with_input(Some(path)),
    )?;
    let total = v.spec.x.count * v.spec.y.count;
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let tick = || {
        let k = done.fetch_add(1, Ordering::Relaxed) + 1;
        if progress && (k * 10 / total) > ((k - 1) * 10 / total) {
            crate::errln!(
                "{}: {}% of {} grid points, {:.1} s",
                v.name,
                k * 100 / total,
                total,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let work = || phase_map(&v.model, &v.spec, Some(&tick));
    let map = crate::with_threads(threads, work)?;
    let seconds = started.elapsed().as_secs_f64();
    // Optional simulations on the coarse grid.
    let sim = match &v.sim {
        None => vec![None; map.cells.len()],
        Some((n, stride, init)) => simulate_grid(&v, &map, *n, *stride, init, progress)?,
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
    // Files.
    let d = v.model.d;
    let mut header: Vec<String> = ["x", "y", "claim1_code", "ode_code", "agree", "ode_q_rms"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend((1..=d).map(|l| format!("ode_cos{l}")));
    header.push("sim_code".into());
    let rows: Vec<Vec<f64>> = map
        .cells
        .iter()
        .zip(&sim)
        .map(|(c, s)| {
            let mut r = vec![
                c.x,
                c.y,
                phase_code(c.claim1.as_ref()),
                phase_code(c.ode.as_ref().map(|o| &o.phase)),
                c.agrees().map_or(f64::NAN, |a| if a { 1.0 } else { 0.0 }),
                c.ode.as_ref().map_or(f64::NAN, |o| o.q_rms),
            ];
            r.extend((0..d).map(|l| c.ode.as_ref().map_or(f64::NAN, |o| o.feature_cosine[l])));
            r.push(phase_code(s.as_ref()));
            r
        })
        .collect();
    write_csv(&staged.file("phase.csv"), &header, &rows)?;
    write_npy(&staged.file("phase.npy"), &rows)?;
    let (nx, ny) = (v.spec.x.count, v.spec.y.count);
    let grid = |f: &dyn Fn(usize) -> f64| -> Vec<Vec<f64>> {
        (0..ny)
            .map(|iy| (0..nx).map(|ix| f(iy * nx + ix)).collect())
            .collect()
    };
    write_npy(&staged.file("ode_phase_grid.npy"), &grid(&|k| rows[k][3]))?;
    write_npy(
        &staged.file("claim1_phase_grid.npy"),
        &grid(&|k| rows[k][2]),
    )?;
    let title = v.config.title.clone().unwrap_or_else(|| v.name.clone());
    render_cells(
        &phase_figure(&format!("{title}: ODE phases"), &v.model, &map, Vec::new()),
        &staged.file("phase.svg"),
        &staged.file("phase.png"),
    )?;
    let (hx, hy) = (map.x.step() / 2.0, map.y.step() / 2.0);
    let agree_cells = map
        .cells
        .iter()
        .map(|c| {
            let col = match c.agrees() {
                Some(true) => (200, 230, 200),
                Some(false) => (213, 94, 0),
                None => (160, 160, 160),
            };
            ((c.x - hx, c.y - hy, c.x + hx, c.y + hy), col)
        })
        .collect();
    render_cells(
        &CellMap {
            title: format!(
                "{title}: ODE vs Claim 1 ({} of {} agree)",
                agreement.1, agreement.0
            ),
            x_label: map.x.param.label().into(),
            y_label: map.y.param.label().into(),
            x_range: (map.x.min - hx, map.x.max + hx),
            y_range: (map.y.min - hy, map.y.max + hy),
            cells: agree_cells,
            segments: claim1_boundaries(&v.model, &map.x, &map.y, 2),
            segments_label: "Claim 1 boundaries".into(),
            legend: vec![
                ("agree".into(), (200, 230, 200)),
                ("disagree".into(), (213, 94, 0)),
                ("no Claim 1 / ODE failed".into(), (160, 160, 160)),
            ],
            markers: Vec::new(),
        },
        &staged.file("agreement.svg"),
        &staged.file("agreement.png"),
    )?;
    let (version, revision) = build_info();
    write_json(
        &staged.file("run.json"),
        &json!({
            "hdgan_version": version,
            "git_revision": revision,
            "name": v.name,
            "config": v.config,
            "threads": threads,
            "seconds_ode_map": seconds,
            "claim1_vs_ode": {"compared": agreement.0, "agree": agreement.1},
            "sim_vs_ode": sim_agreement.map(|(a, b)| json!({"compared": a, "agree": b})),
            "columns": header,
            "phase_codes": "0 success, 1 oscillation, 2 failure, 3 + sum of 2^l over learned features l (0-based) = mode collapse; NaN = no verdict: claim1_code where Claim 1 does not apply (finite lambda), ode_code where the ODE diverged or could not be classified (also agree and ode_* are then NaN), sim_code at points without a simulation or whose simulation diverged",
            "classification_times": classification_times(v.spec.t_end, v.spec.samples, &v.spec.rule),
            "rule": v.spec.rule,
        }),
    )?;
    let out_dir = staged.commit()?;
    Ok(PhaseOutcome {
        out_dir,
        map,
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
    n: usize,
    stride: usize,
    init: &hdgan_micro_sim::InitState,
    progress: bool,
) -> Result<Vec<Option<Phase>>> {
    let nx = v.spec.x.count;
    let picks: Vec<usize> = (0..map.cells.len())
        .filter(|k| (k % nx).is_multiple_of(stride) && (k / nx).is_multiple_of(stride))
        .collect();
    let rule = PhaseRule::for_dimension(n);
    let mut out = vec![None; map.cells.len()];
    for (i, &k) in picks.iter().enumerate() {
        let c = &map.cells[k];
        let mut base = v.model.clone();
        base.n = n;
        let m = v.spec.y.param.apply(&v.spec.x.param.apply(&base, c.x), c.y);
        let t_end = hdgan_stability::horizon(&m, v.spec.t_end, v.spec.generator_horizon);
        let times = Schedule::from_times(m.n, t_end, t_end * rule.window / v.spec.samples as f64)?;
        let traj = run_ensemble(
            1,
            v.config.seed.wrapping_add(k as u64),
            |_, rng| Ok(Sgda::new(&m, init.build(m.n, rng), StepMode::Fast, 1e8)),
            &times,
            RunControl::default(),
        )?;
        out[k] = classify(&traj[0], &rule).map(|s| s.phase);
        if progress {
            crate::errln!("{}: simulation {}/{}", v.name, i + 1, picks.len());
        }
    }
    Ok(out)
}

/// A config that holds at least a `[model]` table (other tables are ignored).
#[derive(Deserialize)]
struct ModelOnly {
    model: ModelConfig,
}

/// The fixed points `hdgan fixed-points` reports: for d = 1 the full enumeration
/// (the resting line sampled at P = 0, p*, 1 and the others), for d > 1 the resting family
/// at P = 0, P = diag(p*) (the corner of Claim 1's box) and P = I, with S = I.
pub fn fixed_points_for(model: &Model) -> Vec<FixedPoint> {
    let c = claim1(model);
    let pstar: Vec<f64> = c
        .as_ref()
        .map(|c| c.p_star.iter().map(|p| p.unwrap_or(0.0)).collect())
        .unwrap_or_else(|| vec![0.0; model.d]);
    if model.d == 1 {
        let mut line = vec![0.0, 1.0];
        if pstar[0] > 0.0 && pstar[0] < 1.0 {
            line.insert(1, pstar[0]);
        }
        fixed_points_d1(model, &line)
    } else {
        let s = DMat::identity(model.d);
        vec![
            resting_point(model, &DMat::zeros(model.d, model.d), &s),
            resting_point(model, &DMat::from_diag(&pstar), &s),
            resting_point(model, &DMat::identity(model.d), &s),
        ]
    }
}

/// Runs `hdgan fixed-points`: prints the table and returns the points.
pub fn execute_fixed_points(path: &Path) -> Result<Vec<FixedPoint>> {
    let (_, text) = read_file(path)?;
    let cfg: ModelOnly = parse_toml(&text, &path.display().to_string())?;
    let model = cfg.model.validate("model").map_err(InputError::from)?;
    model
        .require_single_feature("`hdgan fixed-points`")
        .map_err(InputError::from)?;
    if !model.lambda.is_infinite() {
        return Err(InputError("config key `model.lambda` must be \"inf\": fixed points are those of the reduced ODE (13)".into()).into());
    }
    let fps = fixed_points_for(&model);
    if let Some(c) = claim1(&model) {
        crate::outln!(
            "Claim 1: (1/2) max(Lam - Lam~ + alpha Lam~) = {:.4}, tau eta^2 = {:.4}, min Lam = {:.4}; p* = {:?}; predicted: {}",
            c.left,
            c.tau_eta_sq,
            c.right,
            c.p_star,
            c.predicted
        );
        if model.d > 1 {
            crate::outln!(
                "Locally stable resting points fill the box p*_l <= |P_ll| <= 1, q = r = 0 (when Claim 1's condition holds)."
            );
        }
    }
    crate::outln!(
        "{:<18} {:<34} {:>10}  {:<10} {:<8} eigenvalues (re, im)",
        "kind",
        "state (P diag; q; r)",
        "residual",
        "stability",
        "physical"
    );
    for fp in &fps {
        let st = &fp.state;
        let state = format!(
            "{:?}; {:?}; {:?}",
            st.p.diag()
                .iter()
                .map(|x| (x * 1e4).round() / 1e4)
                .collect::<Vec<_>>(),
            st.q.iter()
                .map(|x| (x * 1e4).round() / 1e4)
                .collect::<Vec<_>>(),
            st.r.iter()
                .map(|x| (x * 1e4).round() / 1e4)
                .collect::<Vec<_>>()
        );
        let ev = fp
            .eigenvalues
            .iter()
            .map(|(re, im)| {
                if im.abs() > 1e-12 {
                    format!("{re:.4}{im:+.4}i")
                } else {
                    format!("{re:.4}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        crate::outln!(
            "{:<18} {:<34} {:>10.2e}  {:<10} {:<8} {}",
            format!("{:?}", fp.kind),
            state,
            fp.residual,
            match fp.stability {
                Stability::Stable => "stable",
                Stability::Marginal => "marginal",
                Stability::Unstable => "unstable",
            },
            fp.physical,
            ev
        );
    }
    Ok(fps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let a = phase_code(Some(&Phase::ModeCollapse {
            learned: vec![0],
            missing: vec![1],
        }));
        let b = phase_code(Some(&Phase::ModeCollapse {
            learned: vec![1],
            missing: vec![0],
        }));
        assert!((a - 4.0).abs() < 1e-15 && (b - 5.0).abs() < 1e-15);
        assert!(phase_code(None).is_nan());
    }
}
