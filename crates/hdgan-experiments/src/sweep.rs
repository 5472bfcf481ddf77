//! Sweeps: one base configuration, axes over any of its keys and a number of seeds. Every
//! combination is a **cell**: one simulation (one member) of the base with the cell's
//! values and seed, and its ODE, summarised by the metrics the sweep asks for. This module
//! reads the sweep file, expands and validates every cell before any work, and runs one
//! cell; where the cells' results live (one file per cell, shards, the merged table) is
//! `hdgan_report::sweep`'s business.
//!
//! Cell `i`'s seed derives from the sweep's seed and `i` alone, never from the shard that
//! runs it, so any split of the cells gives the same numbers.

use crate::config::read_file;
use crate::run::{ConfigSource, RunSource, prepare, run_phases, simulate};
use crate::{Control, config::ValidRun};
use crate::{Error, Key, Result};
use hdgan_core::{MacroState, Trajectory, principal_cosines};
use hdgan_micro_sim::{EngineKind, SimError};
use hdgan_model::random::{stream_rng, xoshiro256pp};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A metric a sweep records per cell: an entry of a sweep file's `metrics` list, spelled
/// in TOML as [`SweepMetric::name`] gives (`end`, `ode_error`, ..). Any other name is
/// refused with the list of valid ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum SweepMetric {
    /// The simulation's final overlaps.
    End,
    /// The simulation's overlaps averaged over the last 10% of the records.
    Tail,
    /// The ODE's final overlaps.
    OdeEnd,
    /// Theorem 1's distance between the simulation and the ODE.
    OdeError,
    /// The phase of the simulation and of the ODE.
    Phase,
    /// Alignment of span(V) with span(U) at the end.
    Alignment,
    /// When the simulation diverged.
    DivergenceTime,
}

impl SweepMetric {
    /// Every metric, in the order the documentation lists them.
    pub const ALL: [Self; 7] = [
        Self::End,
        Self::Tail,
        Self::OdeEnd,
        Self::OdeError,
        Self::Phase,
        Self::Alignment,
        Self::DivergenceTime,
    ];

    /// The metric's name in a sweep file (`metrics = ["end", ..]`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::End => "end",
            Self::Tail => "tail",
            Self::OdeEnd => "ode_end",
            Self::OdeError => "ode_error",
            Self::Phase => "phase",
            Self::Alignment => "alignment",
            Self::DivergenceTime => "divergence_time",
        }
    }

    /// What the metric records, and its columns in the sweep's table.
    pub const fn doc(self) -> &'static str {
        match self {
            Self::End => {
                "the simulation's final overlaps, one column per entry (end_P11, .., end_z)"
            }
            Self::Tail => {
                "the simulation's overlaps averaged over the last 10% of the records (tail_P11, ..)"
            }
            Self::OdeEnd => "the ODE's final overlaps (ode_end_P11, ..)",
            Self::OdeError => {
                "max over the recorded times and entries of |simulation - ODE| (Theorem 1's distance)"
            }
            Self::Phase => "the phase of the simulation and of the ODE (phase_sim, phase_ode)",
            Self::Alignment => {
                "mean cosine of the principal angles between span(V) and span(U) at the end"
            }
            Self::DivergenceTime => "time at which the simulation diverged (empty when it did not)",
        }
    }

    /// The metric's columns in the sweep's table, for state dimension `d`: one per state
    /// entry (prefixed by the metric's name) for the overlap metrics, `phase_sim` and
    /// `phase_ode` for the phases, the metric's name for the one-number metrics.
    pub fn columns(self, d: usize) -> Vec<String> {
        let state = |prefix: &str| {
            MacroState::column_names(d)
                .iter()
                .map(|c| format!("{prefix}_{c}"))
                .collect()
        };
        match self {
            Self::End | Self::Tail | Self::OdeEnd => state(self.name()),
            Self::Phase => vec!["phase_sim".to_owned(), "phase_ode".to_owned()],
            Self::OdeError | Self::Alignment | Self::DivergenceTime => vec![self.name().to_owned()],
        }
    }
}

impl std::fmt::Display for SweepMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a [`SweepMetric`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMetric(pub String);

impl std::fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown metric `{}` (valid: ", self.0)?;
        for (i, m) in SweepMetric::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m.name())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownMetric {}

impl std::str::FromStr for SweepMetric {
    type Err = UnknownMetric;

    fn from_str(s: &str) -> Result<Self, UnknownMetric> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| UnknownMetric(s.to_owned()))
    }
}

impl TryFrom<String> for SweepMetric {
    type Error = UnknownMetric;

    fn try_from(s: String) -> Result<Self, UnknownMetric> {
        s.parse()
    }
}

impl From<SweepMetric> for &'static str {
    fn from(m: SweepMetric) -> Self {
        m.name()
    }
}

/// How a cell ended: its `status` in the cell's JSON and in the sweep's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellStatus {
    /// The simulation ran to the end.
    Ok,
    /// The simulation diverged (the metrics that need its end are empty).
    Diverged,
}

impl CellStatus {
    /// The status as the table writes it (`ok`, `diverged`): the same text as its JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Diverged => "diverged",
        }
    }
}

impl std::fmt::Display for CellStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the axes combine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Every combination of the axes' values (first axis outermost).
    #[default]
    Cross,
    /// The axes' i-th values together (all axes the same length).
    Zip,
}

/// The base configuration of a sweep: a path (relative to the sweep file) or an inline
/// table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BaseSpec {
    /// A run config file.
    Path(PathBuf),
    /// A run config written inline (`[base]` with `[base.model]`, ...).
    Inline(toml::Table),
}

/// One `[[axis]]` of a sweep file: a config key (dotted, e.g. `model.tau`) and its values,
/// given as a list or generated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisFile {
    /// Dotted config key.
    pub key: String,
    /// Explicit values.
    #[serde(default)]
    pub values: Option<Vec<toml::Value>>,
    /// `[start, stop, count]`: evenly spaced, both ends included.
    #[serde(default)]
    pub linspace: Option<(f64, f64, usize)>,
    /// `[start, stop, count]`: `10^x` for x evenly spaced from start to stop.
    #[serde(default)]
    pub logspace: Option<(f64, f64, usize)>,
}

/// A sweep file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// Free text.
    #[serde(default)]
    pub title: Option<String>,
    /// The sweep's seed (cell seeds derive from it and the cell index). Default 1.
    #[serde(default = "one")]
    pub seed: u64,
    /// Seeds per point of the axes. Default 1.
    #[serde(default = "one_usize")]
    pub seeds: usize,
    /// The base configuration.
    pub base: BaseSpec,
    /// Engine override for every cell (`sim.engine`'s names: `full`, `gram`, ..).
    #[serde(default)]
    pub engine: Option<EngineKind>,
    /// How the axes combine (default `cross`).
    #[serde(default)]
    pub combine: Combine,
    /// Metrics per cell (default: end, ode_error, phase, divergence_time).
    #[serde(default = "default_metrics")]
    pub metrics: Vec<SweepMetric>,
    /// Keep every cell's full trajectories (simulation and ODE; `trajectories_sim.csv`/`.npy`
    /// and `trajectories_ode.csv`/`.npy` after the merge, one row per cell and recorded
    /// time). Default false: the table alone.
    #[serde(default)]
    pub trajectories: bool,
    /// The axes.
    #[serde(default)]
    pub axis: Vec<AxisFile>,
}

fn one() -> u64 {
    1
}
fn one_usize() -> usize {
    1
}
fn default_metrics() -> Vec<SweepMetric> {
    vec![
        SweepMetric::End,
        SweepMetric::OdeError,
        SweepMetric::Phase,
        SweepMetric::DivergenceTime,
    ]
}

/// One cell: its index, the axis values, the seed index and the derived seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Index in the sweep's fixed order.
    pub index: usize,
    /// The axis values, in axis order, as TOML text (`0.2`, `1000`, `"gram"`).
    pub values: Vec<String>,
    /// Which of the point's seeds (0-based).
    pub seed_index: usize,
    /// The run's seed: from the sweep seed and the cell index.
    pub seed: u64,
}

/// A sweep whose every cell passed the run config's validation.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Name (the sweep file's stem).
    pub name: String,
    /// The file as given.
    pub file: SweepFile,
    /// The base configuration (resolved inline).
    pub base: toml::Table,
    /// The axis keys.
    pub keys: Vec<String>,
    /// Every cell.
    pub cells: Vec<Cell>,
    /// The output columns (after the cell, axis, seed and status columns).
    pub columns: Vec<String>,
    d: usize,
}

/// The seed of cell `index` in a sweep with seed `seed`.
pub fn cell_seed(seed: u64, index: usize) -> u64 {
    xoshiro256pp(&mut stream_rng(seed, index as u64).state())
}

/// Reads, expands and validates a sweep file: every cell's configuration must pass the
/// run config's checks (errors name the axis key or the sweep key and the rule). Does no
/// work.
pub fn load(path: &Path) -> Result<Sweep> {
    let (name, text) = read_file(path)?;
    let file: SweepFile = crate::config::parse_toml(&text, &path.display().to_string())?;
    let base = match &file.base {
        BaseSpec::Inline(t) => t.clone(),
        BaseSpec::Path(p) => {
            let p = path.parent().unwrap_or(Path::new(".")).join(p);
            let (_, text) = read_file(&p)?;
            toml::from_str::<toml::Table>(&text)
                .map_err(|e| bad("base", format_args!("{}: {e}", p.display())))?
        }
    };
    build(name, file, base)
}

fn bad(key: &str, rule: impl std::fmt::Display) -> Error {
    Error::input(Key::Sweep(key.to_owned()), format!(": {rule}"))
}

/// The value at a dotted key of a table, if present.
fn get<'a>(t: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut v = t.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

/// Sets a dotted key, creating tables on the way.
fn set(t: &mut toml::Table, key: &str, value: toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = t;
    for p in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| {
            bad(
                key,
                format_args!("`{p}` is a value in the base config, not a table"),
            )
        })?;
    }
    cur.insert(parts[parts.len() - 1].to_owned(), value);
    Ok(())
}

/// An axis's values: explicit, or generated (rounded to integers when the base's value at
/// the key is an integer).
fn axis_values(a: &AxisFile, base: &toml::Table) -> Result<Vec<toml::Value>> {
    let key = format!("axis `{}`", a.key);
    let given = [
        a.values.is_some(),
        a.linspace.is_some(),
        a.logspace.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return Err(bad(&key, "give exactly one of values, linspace, logspace"));
    }
    if let Some(v) = &a.values {
        if v.is_empty() {
            return Err(bad(&key, "values is empty"));
        }
        return Ok(v.clone());
    }
    let (start, stop, count, log) = match (a.linspace, a.logspace) {
        (Some((s, e, c)), _) => (s, e, c, false),
        (_, Some((s, e, c))) => (s, e, c, true),
        _ => unreachable!("one generator given"),
    };
    if count == 0 {
        return Err(bad(&key, "count must be >= 1 (an empty axis)"));
    }
    if !(start.is_finite() && stop.is_finite()) {
        return Err(bad(&key, "start and stop must be finite"));
    }
    let integer = matches!(get(base, &a.key), Some(toml::Value::Integer(_)));
    Ok((0..count)
        .map(|i| {
            let f = if count == 1 {
                0.0
            } else {
                i as f64 / (count - 1) as f64
            };
            let x = start + (stop - start) * f;
            let x = if log { 10f64.powf(x) } else { x };
            if integer {
                toml::Value::Integer(x.round() as i64)
            } else {
                toml::Value::Float(x)
            }
        })
        .collect())
}

fn build(name: String, file: SweepFile, base: toml::Table) -> Result<Sweep> {
    if file.seeds == 0 {
        return Err(bad("seeds", "must be >= 1"));
    }
    let mut keys = Vec::new();
    let mut axes = Vec::new();
    for a in &file.axis {
        if keys.contains(&a.key) {
            return Err(bad(&format!("axis `{}`", a.key), "the key has two axes"));
        }
        if a.key == "seed" || a.key == "sim.members" {
            return Err(bad(
                &format!("axis `{}`", a.key),
                "is set by the sweep (use `seeds` for repetitions)",
            ));
        }
        keys.push(a.key.clone());
        axes.push(axis_values(a, &base)?);
    }
    let points: Vec<Vec<toml::Value>> = match file.combine {
        Combine::Zip => {
            let len = axes.first().map_or(1, Vec::len);
            if let Some((a, v)) = file.axis.iter().zip(&axes).find(|(_, v)| v.len() != len) {
                return Err(bad(
                    &format!("axis `{}`", a.key),
                    format_args!(
                        "has {} values; zipped axes need {len} like the first",
                        v.len()
                    ),
                ));
            }
            (0..len)
                .map(|i| axes.iter().map(|v| v[i].clone()).collect())
                .collect()
        }
        Combine::Cross => axes.iter().fold(vec![Vec::new()], |acc, vals| {
            acc.iter()
                .flat_map(|prefix| {
                    vals.iter().map(move |v| {
                        let mut p = prefix.clone();
                        p.push(v.clone());
                        p
                    })
                })
                .collect()
        }),
    };
    let mut cells = Vec::with_capacity(points.len() * file.seeds);
    let mut d = None;
    for point in &points {
        for s in 0..file.seeds {
            let index = cells.len();
            let cell = Cell {
                index,
                values: point.iter().map(|v| v.to_string()).collect(),
                seed_index: s,
                seed: cell_seed(file.seed, index),
            };
            // Validate the point's configuration once (the seed does not change it).
            if s == 0 {
                let valid = cell_config(&name, &base, &keys, point, &cell, file.engine)?;
                if valid.model().p() > 1 {
                    return Err(bad(
                        "base",
                        "model.p > 1: sweeps run single-feature configurations (p = 1) for now",
                    ));
                }
                match d {
                    None => d = Some(valid.model().d()),
                    Some(d0) if d0 != valid.model().d() => {
                        return Err(bad(
                            "axis `model.d`",
                            "cells with different d would need different columns; sweep d in separate sweeps",
                        ));
                    }
                    _ => {}
                }
            }
            cells.push(cell);
        }
    }
    let d = d.ok_or_else(|| bad("axis", "the sweep has no cells"))?;
    let columns = file.metrics.iter().flat_map(|m| m.columns(d)).collect();
    Ok(Sweep {
        name,
        file,
        base,
        keys,
        cells,
        columns,
        d,
    })
}

/// The validated run of one cell: the base with the point's values, the cell's seed and one
/// member.
fn cell_config(
    name: &str,
    base: &toml::Table,
    keys: &[String],
    point: &[toml::Value],
    cell: &Cell,
    engine: Option<EngineKind>,
) -> Result<ValidRun> {
    let mut t = base.clone();
    for (k, v) in keys.iter().zip(point) {
        set(&mut t, k, v.clone())?;
    }
    set(&mut t, "sim.members", toml::Value::Integer(1))?;
    let text = toml::to_string(&t).map_err(|e| bad("base", e))?;
    let origin = if keys.is_empty() {
        format!("sweep cell {}", cell.index)
    } else {
        format!(
            "sweep cell {} ({})",
            cell.index,
            keys.iter()
                .zip(point)
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    prepare(&RunSource {
        config: ConfigSource::Text {
            name: name.to_owned(),
            origin,
            text,
        },
        seed: Some(cell.seed),
        engine,
        threads: Some(1),
    })
}

/// Where a sweep's cells report (a sweep folder, `hdgan_report::sweep::SweepDir`).
pub trait CellSink: Sync {
    /// Cell `i` starts.
    fn started(&self, i: usize) -> Result<()>;
    /// A cell finished.
    fn finished(&self, r: &CellResult) -> Result<()>;
}

/// What one cell produced: its status, the metric values as text (in
/// [`Sweep::columns`] order; empty where undefined) and the wall time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// The cell's index.
    pub index: usize,
    /// `ok` or `diverged`.
    pub status: CellStatus,
    /// Metric values as text.
    pub values: Vec<String>,
    /// Wall-clock seconds of the cell.
    pub seconds: f64,
    /// The cell's trajectories, when the sweep keeps them (`trajectories = true`) and the
    /// cell did not diverge. Not part of the cell's JSON: the sweep folder stores them as
    /// arrays.
    #[serde(skip)]
    pub trajectories: Option<CellTrajectories>,
}

/// A cell's full trajectories: the simulation's and, when the cell computed it, the ODE's.
#[derive(Clone, Debug, PartialEq)]
pub struct CellTrajectories {
    /// The simulation (one member).
    pub sim: Trajectory,
    /// The ODE on the same record times.
    pub ode: Option<Trajectory>,
}

impl Sweep {
    /// The names of a trajectory's state columns (`P11`, .., `z`), as in a run's `sim.csv`.
    pub fn state_names(&self) -> Vec<String> {
        MacroState::column_names(self.d)
    }

    /// The header of the merged table: cell, the axis keys, seed_index, seed, status, then
    /// the metric columns.
    pub fn header(&self) -> Vec<String> {
        let mut h = vec!["cell".to_owned()];
        h.extend(self.keys.iter().cloned());
        h.extend(["seed_index", "seed", "status"].map(str::to_owned));
        h.extend(self.columns.iter().cloned());
        h
    }

    /// Runs the cells `cells` in parallel on `threads` workers (one cell per worker at a
    /// time, each on one thread), telling `sink` when each starts and handing it each
    /// result as it finishes; progress counts cells. Stops at the first error or when `ctl`
    /// is cancelled (the cells finished so far stay with the sink). Returns how many cells
    /// ran.
    pub fn run_cells(
        &self,
        cells: &[usize],
        threads: Option<usize>,
        ctl: Control<'_>,
        sink: &dyn CellSink,
    ) -> Result<usize> {
        use rayon::prelude::*;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let steps: Vec<u64> = cells
            .iter()
            .map(|&i| self.valid(i).map(|v| v.schedule().steps))
            .collect::<Result<_, _>>()?;
        let total: u64 = steps.iter().sum();
        let workers = threads
            .unwrap_or_else(rayon::current_num_threads)
            .min(cells.len().max(1)) as f64;
        ctl.begin("sweep", total, "steps");
        let quiet = Control {
            progress: None,
            cancel: ctl.cancel,
        };
        let done = AtomicU64::new(0);
        let calibrated = AtomicBool::new(false);
        let ran = crate::with_threads(threads, || {
            cells
                .par_iter()
                .zip(&steps)
                .map(|(&i, &k)| -> Result<()> {
                    if ctl.cancelled() {
                        return Err(Error::Cancelled);
                    }
                    sink.started(i)?;
                    let r = self.run_cell(i, quiet)?;
                    sink.finished(&r)?;
                    let so_far = done.fetch_add(k, Ordering::Relaxed) + k;
                    if k > 0 && r.seconds > 0.0 && !calibrated.swap(true, Ordering::Relaxed) {
                        // The first finished cell calibrates the per-step cost.
                        let per = r.seconds / k as f64;
                        ctl.note(&format!(
                            "calibration: {:.3} us per step (cell {i}); about {:.0} s for the remaining {} steps on {} workers",
                            per * 1e6,
                            per * (total - so_far.min(total)) as f64 / workers,
                            total - so_far.min(total),
                            workers
                        ));
                    }
                    ctl.advance(k);
                    Ok(())
                })
                .collect::<Result<Vec<()>>>()
        })?;
        ctl.end();
        Ok(ran?.len())
    }

    /// What running `cells` on `threads` workers takes: total SGDA steps and the memory of
    /// the largest cells running at once (each cell's [`crate::run::estimate`]); refused
    /// with [`Error::Resource`] when the memory exceeds the limit (`--max-memory`, else what is
    /// available).
    pub fn plan(&self, cells: &[usize], threads: Option<usize>) -> Result<(f64, f64)> {
        let mut total = 0.0;
        let mut sizes = Vec::with_capacity(cells.len());
        for &i in cells {
            let v = self.valid(i)?;
            total += v.schedule().steps as f64;
            sizes.push(crate::run::estimate(&v, Some(1)).bytes());
        }
        sizes.sort_by(|a, b| b.total_cmp(a));
        let workers = threads.unwrap_or_else(rayon::current_num_threads);
        let peak: f64 = sizes.iter().take(workers).sum();
        let mut e = crate::resources::Estimate::default();
        e.add("the largest cells running at once", 1.0, peak)
            .keys(&["--threads", "the sweep's axes"]);
        e.check()?;
        Ok((total, peak))
    }

    /// The validated configuration of cell `i`.
    pub fn valid(&self, i: usize) -> Result<ValidRun> {
        let c = &self.cells[i];
        let point: Vec<toml::Value> = c
            .values
            .iter()
            .map(|v| {
                toml::from_str::<toml::Table>(&format!("v = {v}"))
                    .ok()
                    .and_then(|t| t.get("v").cloned())
                    .ok_or_else(|| bad("axis", format_args!("cannot re-read the value {v}")))
            })
            .collect::<Result<_, _>>()?;
        cell_config(
            &self.name,
            &self.base,
            &self.keys,
            &point,
            c,
            self.file.engine,
        )
    }

    /// Runs cell `i` (one member, on the calling thread) and computes its metrics. A divergence is a
    /// result (`diverged`, with its time), not an error.
    pub fn run_cell(&self, i: usize, ctl: Control<'_>) -> Result<CellResult> {
        let valid = self.valid(i)?;
        let start = std::time::Instant::now();
        // On the calling worker (threads None): a nested pool would let this worker start
        // other cells while it waits.
        let outcome = simulate(&valid, None, ctl);
        let seconds = start.elapsed().as_secs_f64();
        let (status, values, trajectories) = match outcome {
            Ok(mut run) => {
                let phases = if self.file.metrics.contains(&SweepMetric::Phase) {
                    run_phases(&valid, &run)
                } else {
                    (None, None)
                };
                let values = self.metrics(&run.sim[0], run.ode.as_ref(), &phases, None);
                let trajectories = self.file.trajectories.then(|| CellTrajectories {
                    sim: run.sim.swap_remove(0),
                    ode: run.ode.take(),
                });
                (CellStatus::Ok, values, trajectories)
            }
            Err(Error::Sim {
                error: SimError::Diverged { t, .. },
                ..
            }) => (
                CellStatus::Diverged,
                self.metrics(&Trajectory::new(), None, &(None, None), Some(t)),
                None,
            ),
            Err(e) => {
                return Err(Error::Cell {
                    index: i,
                    error: Box::new(e),
                });
            }
        };
        Ok(CellResult {
            index: i,
            status,
            values,
            seconds,
            trajectories,
        })
    }

    fn metrics(
        &self,
        sim: &Trajectory,
        ode: Option<&Trajectory>,
        phases: &(
            Option<hdgan_stability::PhaseSummary>,
            Option<hdgan_stability::PhaseSummary>,
        ),
        diverged_at: Option<f64>,
    ) -> Vec<String> {
        let width = MacroState::packed_len(self.d);
        let num = |x: f64| {
            if x.is_finite() {
                x.to_string()
            } else {
                String::new()
            }
        };
        let state = |s: Option<&MacroState>| -> Vec<String> {
            match s {
                Some(s) => s.pack().into_iter().map(num).collect(),
                None => vec![String::new(); width],
            }
        };
        let mut out = Vec::new();
        for &m in &self.file.metrics {
            match m {
                SweepMetric::End => out.extend(state(sim.states.last())),
                SweepMetric::Tail => {
                    let k = sim.states.len().div_ceil(10);
                    let tail = &sim.states[sim.states.len() - k..];
                    if tail.is_empty() {
                        out.extend(state(None));
                    } else {
                        let mut acc = vec![0.0; width];
                        for s in tail {
                            for (a, x) in acc.iter_mut().zip(s.pack()) {
                                *a += x / tail.len() as f64;
                            }
                        }
                        out.extend(acc.into_iter().map(num));
                    }
                }
                SweepMetric::OdeEnd => out.extend(state(ode.and_then(|o| o.states.last()))),
                SweepMetric::OdeError => out.push(match ode {
                    Some(o) if !sim.states.is_empty() => num(sim.max_abs_diff(o)),
                    _ => String::new(),
                }),
                SweepMetric::Phase => {
                    let label = |p: &Option<hdgan_stability::PhaseSummary>| {
                        p.as_ref().map_or(String::new(), |s| s.phase.to_string())
                    };
                    out.push(label(&phases.0));
                    out.push(label(&phases.1));
                }
                SweepMetric::Alignment => out.push(match sim.states.last() {
                    Some(s) => principal_cosines(&s.p, &s.s).map_or(String::new(), |c| {
                        num(c.iter().sum::<f64>() / c.len() as f64)
                    }),
                    None => String::new(),
                }),
                SweepMetric::DivergenceTime => out.push(diverged_at.map_or(String::new(), num)),
            }
        }
        out
    }
}

/// `K/N` (0 <= K < N) as a shard.
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let err = || Error::arg("--shard", format!("{s}: expected K/N with 0 <= K < N"));
    let (k, n) = s.split_once('/').ok_or_else(err)?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| err())?,
        n.trim().parse().map_err(|_| err())?,
    );
    if n == 0 || k >= n {
        return Err(err());
    }
    Ok((k, n))
}

/// The cells of shard `k` of `n`: `i mod n = k`.
pub fn shard_cells(cells: usize, shard: (usize, usize)) -> Vec<usize> {
    (0..cells).filter(|i| i % shard.1 == shard.0).collect()
}

/// The shard from Slurm's job-array variables (`SLURM_ARRAY_TASK_ID` minus
/// `SLURM_ARRAY_TASK_MIN`, of `SLURM_ARRAY_TASK_COUNT`), when they are set.
pub fn slurm_shard() -> Result<Option<(usize, usize)>> {
    let var = |k: &str| std::env::var(k).ok();
    match (var("SLURM_ARRAY_TASK_ID"), var("SLURM_ARRAY_TASK_COUNT")) {
        (Some(id), Some(count)) => {
            let min = var("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
            let num = |k: &str, v: &str| {
                v.parse::<usize>()
                    .map_err(|_| Error::arg(k, format!("= `{v}` is not a whole number")))
            };
            let (id, count, min) = (
                num("SLURM_ARRAY_TASK_ID", &id)?,
                num("SLURM_ARRAY_TASK_COUNT", &count)?,
                num("SLURM_ARRAY_TASK_MIN", &min)?,
            );
            parse_shard(&format!("{}/{count}", id.saturating_sub(min))).map(Some)
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The position of `m` in [`SweepMetric::ALL`]: an exhaustive match, so a new metric
    /// fails to compile here until it is given its place.
    fn position(m: SweepMetric) -> usize {
        match m {
            SweepMetric::End => 0,
            SweepMetric::Tail => 1,
            SweepMetric::OdeEnd => 2,
            SweepMetric::OdeError => 3,
            SweepMetric::Phase => 4,
            SweepMetric::Alignment => 5,
            SweepMetric::DivergenceTime => 6,
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Metrics {
        metrics: Vec<SweepMetric>,
    }

    #[test]
    fn every_metric_is_listed_once_and_reads_back_by_its_name() {
        for (i, m) in SweepMetric::ALL.into_iter().enumerate() {
            assert_eq!(position(m), i, "{m}");
            assert_eq!(m.name().parse::<SweepMetric>(), Ok(m));
            assert!(!m.doc().is_empty());
        }
        let names = SweepMetric::ALL.map(SweepMetric::name);
        let text = format!("metrics = {names:?}\n").replace(", ", ",");
        let read: Metrics = toml::from_str(&text).unwrap();
        assert_eq!(read.metrics, SweepMetric::ALL);
        let written = toml::to_string(&read).unwrap();
        assert_eq!(toml::from_str::<Metrics>(&written).unwrap(), read);
        for n in names {
            assert!(written.contains(&format!("\"{n}\"")), "{written}");
        }
    }

    #[test]
    fn an_unknown_metric_is_refused_with_the_key_and_the_valid_names() {
        // As a sweep file is read: the line and key of the list, even when it spans lines.
        let text = "base = \"b.toml\"\nmetrics = [\n  \"end\",\n  \"ode_eror\",\n]\n";
        let e = crate::config::parse_toml::<SweepFile>(text, "s.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s.toml:2: config key `metrics`: unknown metric `ode_eror` (valid: "),
            "{e}"
        );
        for m in SweepMetric::ALL {
            assert!(e.contains(m.name()), "{e}");
        }
    }

    #[test]
    fn columns_follow_the_state_names() {
        let d = 2;
        let state = MacroState::column_names(d);
        for m in SweepMetric::ALL {
            let cols = m.columns(d);
            match m {
                SweepMetric::End | SweepMetric::Tail | SweepMetric::OdeEnd => {
                    assert_eq!(cols.len(), state.len());
                    for (c, s) in cols.iter().zip(&state) {
                        assert_eq!(*c, format!("{}_{s}", m.name()));
                    }
                }
                SweepMetric::Phase => assert_eq!(cols, ["phase_sim", "phase_ode"]),
                SweepMetric::OdeError | SweepMetric::Alignment | SweepMetric::DivergenceTime => {
                    assert_eq!(cols, [m.name()])
                }
            }
        }
    }

    #[test]
    fn statuses_and_engines_keep_their_spellings() {
        for (s, name) in [(CellStatus::Ok, "ok"), (CellStatus::Diverged, "diverged")] {
            assert_eq!(s.name(), name);
            assert_eq!(toml::Value::try_from(s).unwrap(), toml::Value::from(name));
            assert_eq!(toml::Value::from(name).try_into::<CellStatus>().unwrap(), s);
        }
        let file = |engine: &str| {
            toml::from_str::<SweepFile>(&format!("base = \"b.toml\"\nengine = \"{engine}\"\n"))
        };
        assert_eq!(file("gram").unwrap().engine, Some(EngineKind::Gram));
        let e = crate::config::parse_toml::<SweepFile>(
            "base = \"b.toml\"\nengine = \"warp\"\n",
            "s.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("s.toml:2: config key `engine`: unknown variant `warp`"),
            "{e}"
        );
        let defaults = toml::from_str::<SweepFile>("base = \"b.toml\"\n").unwrap();
        assert_eq!(defaults.engine, None);
        assert_eq!(
            defaults
                .metrics
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>(),
            ["end", "ode_error", "phase", "divergence_time"]
        );
    }
}
