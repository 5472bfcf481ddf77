//! A sweep's folder (see `hdgan_experiments::sweep`):
//!
//! - `sweep.json`: the sweep (file as given, resolved base, axis keys, every cell with its
//!   values and seed, the table's header), its identity hash and provenance; written once,
//!   when the folder is created.
//! - `cells/<index>.json`: one file per finished cell, written to a temporary name and
//!   renamed, so a file is either complete or absent. A rerun skips the cells that have
//!   one; a cell killed halfway has none and is redone from the start. While a cell runs,
//!   `cells/<index>.started` marks it (removed when its result is saved; a killed run
//!   leaves it, and [`status`] counts it as running or interrupted). Temporary files
//!   (`.tmp-<pid>-*`) are never read; one left by a killed process is harmless.
//! - `cells/<index>.sim.npy`, `cells/<index>.ode.npy` (index zero-padded like the JSON's): the cell's trajectories (rows: t,
//!   then the state), when the sweep keeps them (`trajectories = true`); written before
//!   the cell's JSON, so a finished cell has them.
//! - `table.csv` (one row per cell: cell, the axis values, seed_index, seed, status, the
//!   metrics) and `timings.csv` (cell, wall seconds), written by [`merge`]. The table's
//!   bytes depend only on the sweep, never on how the cells were split into shards or in
//!   which order they ran; wall times, which vary, are kept out of it. With trajectories
//!   kept, also `trajectories_sim.csv`/`.npy` and `trajectories_ode.csv`/`.npy`: every
//!   cell's rows, in cell order, each prefixed by its cell index (columns: cell, t, then
//!   [`SweepRecord::trajectory_columns`]).
//!
//! A folder that exists is used only when it is this sweep's (same identity) or empty;
//! anything else is refused before any work, and nothing outside the folder's own files is
//! ever removed.

use crate::{Error, Result};
use hdgan_experiments::Key;
use hdgan_experiments::sweep::{Cell, CellResult, CellSink, CellStatus, Sweep, SweepMetric};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `sweep.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepRecord {
    /// The sweep's name.
    pub name: String,
    /// Hash of the sweep's definition (file, base, cells) and of the hdgan build (version,
    /// git revision): cell files carry it.
    pub identity: String,
    /// The merged table's header.
    pub header: Vec<String>,
    /// The state's column names when the sweep keeps trajectories (`P11`, .., `z`); empty
    /// when it does not.
    #[serde(default)]
    pub trajectory_columns: Vec<String>,
    /// Every cell.
    pub cells: Vec<Cell>,
    /// The sweep file as given, the resolved base and provenance.
    pub definition: serde_json::Value,
    /// hdgan version, git revision.
    pub provenance: serde_json::Value,
}

/// One finished cell on disk.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CellFile {
    identity: String,
    result: CellResult,
}

/// FNV-1a, 64 bits, as hex: a stable fingerprint of a sweep's definition.
fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The record of `sweep` (what `sweep.json` holds).
pub fn record(sweep: &Sweep) -> Result<SweepRecord> {
    let definition = serde_json::json!({
        "file": sweep.file,
        "base": sweep.base,
        "keys": sweep.keys,
    });
    // The build is part of the identity: cells computed by different code are not mixed.
    let identity_src = serde_json::to_vec(&(
        &definition,
        &sweep.cells,
        sweep.header(),
        crate::provenance::build_info(),
    ))
    .map_err(|e| Error::encode("the sweep's definition", e))?;
    Ok(SweepRecord {
        name: sweep.name.clone(),
        identity: fingerprint(&identity_src),
        header: sweep.header(),
        trajectory_columns: if sweep.file.trajectories {
            sweep.state_names()
        } else {
            Vec::new()
        },
        cells: sweep.cells.clone(),
        definition,
        provenance: crate::provenance::Provenance::new(&sweep.name)
            .seed(sweep.file.seed)
            .json(),
    })
}

/// An open sweep folder.
pub struct SweepDir {
    root: PathBuf,
    record: SweepRecord,
}

/// Writes `path` through `write` on a temporary name beside it, then renames: the file is
/// either complete or absent.
fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    write(&tmp)?;
    fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io("flush", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("rename into", path, e))?;
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |tmp| {
        fs::File::create(tmp)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| Error::io("write", tmp, e))
    })
}

fn read_record(root: &Path) -> Result<Option<SweepRecord>> {
    let p = root.join("sweep.json");
    if !p.exists() {
        return Ok(None);
    }
    let bad = |rule: String| Error::input(Key::Path(p.clone()), rule);
    let text = fs::read_to_string(&p).map_err(|e| bad(format!("cannot be read: {e}")))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| bad(format!("is not a sweep record: {e}")))
}

impl SweepDir {
    /// Opens `root` for `sweep`: creates it (and `cells/`) when absent or empty, reuses it
    /// when it holds this sweep made by this hdgan build, refuses it otherwise (another
    /// sweep, another build, or other files).
    pub fn open(root: &Path, sweep: &Sweep) -> Result<Self> {
        let rec = record(sweep)?;
        let refuse = |why: &str| {
            Error::input(
                Key::arg("--out"),
                format!("{}: {why}; choose another folder", root.display()),
            )
        };
        if root.exists() {
            if !root.is_dir() {
                return Err(refuse("exists and is not a folder"));
            }
            match read_record(root)? {
                Some(old) if old.identity == rec.identity => {}
                Some(old) => {
                    return Err(refuse(&format!(
                        "holds another sweep or one made by another hdgan build (`{}`, identity {}; this one is {})",
                        old.name, old.identity, rec.identity
                    )));
                }
                None => {
                    // Empty, or holding only the temporary sweep.json of a shard that is
                    // creating the folder at this moment (shards of a job array start
                    // together).
                    let empty = fs::read_dir(root)
                        .map_err(|e| refuse(&e.to_string()))?
                        .flatten()
                        .all(|e| e.file_name().to_string_lossy().starts_with(".tmp-"));
                    if !empty {
                        return Err(refuse("exists, is not empty and holds no sweep.json"));
                    }
                }
            }
        }
        // sweep.json first, then cells/: a folder with anything but temporary files in it
        // already has its record.
        fs::create_dir_all(root).map_err(|e| refuse(&format!("cannot create it: {e}")))?;
        let dir = Self {
            root: root.to_owned(),
            record: rec,
        };
        if !root.join("sweep.json").exists() {
            let bytes = serde_json::to_vec_pretty(&dir.record)
                .map_err(|e| Error::encode("sweep.json", e))?;
            write_atomic(&root.join("sweep.json"), &bytes).map_err(|e| refuse(&e.to_string()))?;
        }
        fs::create_dir_all(root.join("cells"))
            .map_err(|e| refuse(&format!("cannot create it: {e}")))?;
        Ok(dir)
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Cell `i`'s trajectory file (`which`: `sim` or `ode`).
    fn trajectory_path(root: &Path, i: usize, which: &str) -> PathBuf {
        root.join("cells").join(format!("{i:07}.{which}.npy"))
    }

    fn cell_path(root: &Path, i: usize) -> PathBuf {
        root.join("cells").join(format!("{i:07}.json"))
    }

    /// Whether cell `i` has finished.
    pub fn done(&self, i: usize) -> bool {
        Self::cell_path(&self.root, i).exists()
    }

    fn marker(&self, i: usize) -> PathBuf {
        self.root.join("cells").join(format!("{i:07}.started"))
    }
}

impl CellSink for SweepDir {
    fn started(&self, i: usize) -> hdgan_experiments::Result<()> {
        let marker = self.marker(i);
        fs::write(&marker, b"").map_err(|e| Error::io("write", &marker, e))?;
        Ok(())
    }

    /// Saves a finished cell (atomically), then removes its start marker.
    fn finished(&self, r: &CellResult) -> hdgan_experiments::Result<()> {
        Ok(self.save(r)?)
    }
}

impl SweepDir {
    /// Saves a finished cell (its trajectories, then its JSON, each atomically) and removes
    /// its start marker.
    fn save(&self, r: &CellResult) -> Result<()> {
        if let Some(tr) = &r.trajectories {
            let parts = [("sim", Some(&tr.sim)), ("ode", tr.ode.as_ref())];
            for (which, t) in parts {
                if let Some(t) = t {
                    let path = Self::trajectory_path(&self.root, r.index, which);
                    write_with(&path, |tmp| crate::output::write_npy(tmp, &t.rows()))?;
                }
            }
        }
        let bytes = serde_json::to_vec(&CellFile {
            identity: self.record.identity.clone(),
            result: r.clone(),
        })
        .map_err(|e| Error::encode(format!("cell {}", r.index), e))?;
        write_atomic(&Self::cell_path(&self.root, r.index), &bytes)?;
        fs::remove_file(self.marker(r.index)).ok();
        Ok(())
    }
}

/// Counts of a sweep folder's cells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepStatus {
    /// Cells in the sweep.
    pub total: usize,
    /// Finished.
    pub done: usize,
    /// Started and not finished (running now, or killed).
    pub running: usize,
    /// Neither.
    pub missing: usize,
    /// Finished cells that diverged.
    pub diverged: usize,
}

fn not_a_sweep(root: &Path) -> Error {
    Error::input(
        Key::Path(root.to_path_buf()),
        "is not a sweep folder (no sweep.json)",
    )
}

/// Counts the finished, running and missing cells of the sweep folder `root`.
pub fn status(root: &Path) -> Result<SweepStatus> {
    let rec = read_record(root)?.ok_or_else(|| not_a_sweep(root))?;
    let cells = root.join("cells");
    let mut started = std::collections::BTreeSet::new();
    let mut finished = std::collections::BTreeSet::new();
    if let Ok(entries) = fs::read_dir(&cells) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let index = |suffix: &str| {
                name.strip_suffix(suffix)
                    .and_then(|s| s.parse::<usize>().ok())
            };
            if let Some(i) = index(".json") {
                finished.insert(i);
            } else if let Some(i) = index(".started") {
                started.insert(i);
            }
        }
    }
    let running = started.difference(&finished).count();
    let mut diverged = 0;
    for &i in &finished {
        if let Ok(c) = read_cell(root, &rec, i)
            && c.status == CellStatus::Diverged
        {
            diverged += 1;
        }
    }
    let done = finished.len();
    Ok(SweepStatus {
        total: rec.cells.len(),
        done,
        running,
        missing: rec.cells.len().saturating_sub(done + running),
        diverged,
    })
}

fn read_cell(root: &Path, rec: &SweepRecord, i: usize) -> Result<CellResult> {
    let p = SweepDir::cell_path(root, i);
    let bad = |rule: String| Error::input(Key::Path(p.clone()), format!("(cell {i}) {rule}"));
    let text = fs::read_to_string(&p).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let c: CellFile =
        serde_json::from_str(&text).map_err(|e| bad(format!("is not a cell result: {e}")))?;
    if c.identity != rec.identity || c.result.index != i {
        return Err(bad(format!(
            "belongs to another sweep (identity {}, this folder's is {}); merge only folders of one sweep",
            c.identity, rec.identity
        )));
    }
    let width = rec.header.len() - rec.cells.first().map_or(0, |c| c.values.len()) - 4;
    if c.result.values.len() != width {
        return Err(bad(format!(
            "has {} metric values, the sweep has {width}",
            c.result.values.len()
        )));
    }
    Ok(c.result)
}

/// An axis value as the table shows it: TOML text, with a string's quotes removed
/// (`"inf"` -> `inf`).
fn plain(v: &str) -> String {
    toml::from_str::<toml::Table>(&format!("v = {v}"))
        .ok()
        .and_then(|t| t.get("v").and_then(|x| x.as_str().map(str::to_owned)))
        .unwrap_or_else(|| v.to_owned())
}

/// One CSV field (quoted when it holds a comma, a quote or a line break).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_line(fields: impl IntoIterator<Item = String>) -> String {
    let mut line = fields
        .into_iter()
        .map(|f| csv_field(&f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// Builds `table.csv` and `timings.csv` in the sweep folder `root` from its cell files.
/// Every cell must have finished (the error counts the missing ones) and belong to this
/// sweep. Returns the table's path.
pub fn merge(root: &Path) -> Result<PathBuf> {
    let rec = read_record(root)?.ok_or_else(|| not_a_sweep(root))?;
    let missing: Vec<usize> = (0..rec.cells.len())
        .filter(|&i| !SweepDir::cell_path(root, i).exists())
        .collect();
    if !missing.is_empty() {
        return Err(Error::input(
            Key::Path(root.to_path_buf()),
            format!(
                ": {} of {} cells have not finished (first: {}); run the missing shards, then merge",
                missing.len(),
                rec.cells.len(),
                missing[0]
            ),
        ));
    }
    let mut table = csv_line(rec.header.iter().cloned());
    let mut timings = csv_line(["cell".to_owned(), "seconds".to_owned()]);
    let mut results = Vec::with_capacity(rec.cells.len());
    for (i, c) in rec.cells.iter().enumerate() {
        let r = read_cell(root, &rec, i)?;
        let mut row = vec![c.index.to_string()];
        row.extend(c.values.iter().map(|v| plain(v)));
        row.extend([
            c.seed_index.to_string(),
            c.seed.to_string(),
            r.status.name().to_owned(),
        ]);
        row.extend(r.values.iter().cloned());
        table.push_str(&csv_line(row));
        timings.push_str(&csv_line([i.to_string(), r.seconds.to_string()]));
        results.push(r);
    }
    let out = root.join("table.csv");
    write_atomic(&out, table.as_bytes())?;
    write_atomic(&root.join("timings.csv"), timings.as_bytes())?;
    if !rec.trajectory_columns.is_empty() {
        merge_trajectories(root, &rec, &results)?;
    }
    let points = summarise(&rec, &results);
    write_atomic(
        &root.join("summary.csv"),
        summary_csv(&rec, &points).as_bytes(),
    )?;
    if let Some(fig) = error_figure(&rec, &points) {
        // Drawn under temporary names and renamed: the last shards of an array may merge
        // at the same moment.
        let tmp = |ext: &str| root.join(format!(".tmp-{}-ode_error.{ext}", std::process::id()));
        crate::plot::render(&fig, &tmp("svg"), &tmp("png"))?;
        for ext in ["svg", "png"] {
            let to = root.join(format!("ode_error.{ext}"));
            fs::rename(tmp(ext), &to).map_err(|e| Error::io("rename into", &to, e))?;
        }
    }
    Ok(out)
}

/// Writes `trajectories_{sim,ode}.{csv,npy}`: every finished cell's rows in cell order,
/// with the cell index in front. Diverged cells have none.
fn merge_trajectories(root: &Path, rec: &SweepRecord, results: &[CellResult]) -> Result<()> {
    for which in ["sim", "ode"] {
        // (cell, row) pairs: the CSV writes the cell as an integer label.
        let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
        for r in results.iter().filter(|r| r.status == CellStatus::Ok) {
            let path = SweepDir::trajectory_path(root, r.index, which);
            if which == "ode" && !path.exists() {
                continue;
            }
            for row in crate::output::read_npy(&path)? {
                rows.push((r.index.to_string(), row));
            }
        }
        if rows.is_empty() {
            continue;
        }
        let mut header = vec!["cell".to_owned(), "t".to_owned()];
        header.extend(rec.trajectory_columns.iter().cloned());
        let stem = root.join(format!("trajectories_{which}"));
        write_with(&stem.with_extension("csv"), |tmp| {
            crate::output::write_csv_labeled(tmp, &header, &rows)
        })?;
        let numeric: Vec<Vec<f64>> = rows
            .iter()
            .map(|(c, row)| {
                let cell: f64 = c.parse().unwrap_or(f64::NAN);
                std::iter::once(cell).chain(row.iter().copied()).collect()
            })
            .collect();
        write_with(&stem.with_extension("npy"), |tmp| {
            crate::output::write_npy(tmp, &numeric)
        })?;
    }
    Ok(())
}

/// The cells of one point of the axes: its values, the cell count, the diverged count, and
/// per metric column the mean and sample sd of its numeric entries (None when a column
/// has text or no entries).
struct Point {
    values: Vec<String>,
    cells: usize,
    diverged: usize,
    stats: Vec<Option<(f64, f64)>>,
}

/// Groups the cells by their axis values (in cell order) and summarises each metric.
fn summarise(rec: &SweepRecord, results: &[CellResult]) -> Vec<Point> {
    let mut points: Vec<(Vec<String>, Vec<&CellResult>)> = Vec::new();
    for (c, r) in rec.cells.iter().zip(results) {
        match points.iter_mut().find(|(v, _)| *v == c.values) {
            Some((_, rs)) => rs.push(r),
            None => points.push((c.values.clone(), vec![r])),
        }
    }
    points
        .into_iter()
        .map(|(values, rs)| {
            let width = rs[0].values.len();
            let stats = (0..width)
                .map(|k| {
                    let xs: Option<Vec<f64>> = rs
                        .iter()
                        .map(|r| r.values[k].as_str())
                        .filter(|v| !v.is_empty())
                        .map(|v| v.parse().ok())
                        .collect();
                    let xs = xs.filter(|x| !x.is_empty())?;
                    let m = xs.iter().sum::<f64>() / xs.len() as f64;
                    let sd = if xs.len() > 1 {
                        (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64)
                            .sqrt()
                    } else {
                        0.0
                    };
                    Some((m, sd))
                })
                .collect();
            Point {
                cells: rs.len(),
                diverged: rs
                    .iter()
                    .filter(|r| r.status == CellStatus::Diverged)
                    .count(),
                values,
                stats,
            }
        })
        .collect()
}

/// `summary.csv`: one row per point of the axes: its values, cells, diverged, and the mean
/// and sd of every numeric metric column.
fn summary_csv(rec: &SweepRecord, points: &[Point]) -> String {
    let axes = rec.cells.first().map_or(0, |c| c.values.len());
    let metrics = &rec.header[axes + 4..];
    let numeric: Vec<usize> = (0..metrics.len())
        .filter(|&k| points.iter().any(|p| p.stats[k].is_some()))
        .collect();
    let mut head: Vec<String> = rec.header[1..=axes].to_vec();
    head.extend(["cells".to_owned(), "diverged".to_owned()]);
    for &k in &numeric {
        head.extend([format!("{}_mean", metrics[k]), format!("{}_sd", metrics[k])]);
    }
    let mut text = csv_line(head);
    for p in points {
        let mut row: Vec<String> = p.values.iter().map(|v| plain(v)).collect();
        row.extend([p.cells.to_string(), p.diverged.to_string()]);
        for &k in &numeric {
            match p.stats[k] {
                Some((m, sd)) => row.extend([m.to_string(), sd.to_string()]),
                None => row.extend([String::new(), String::new()]),
            }
        }
        text.push_str(&csv_line(row));
    }
    text
}

/// Theorem 1's picture when the sweep records `ode_error` and its first axis is numeric
/// and positive: log10 of the mean distance from the ODE against log10 of the first axis
/// (one series per value of the other axes), with the least-squares slope in the legend.
fn error_figure(rec: &SweepRecord, points: &[Point]) -> Option<crate::plot::Figure> {
    use crate::plot::{Figure, PALETTE, Series, Style};
    let axes = rec.cells.first().map_or(0, |c| c.values.len());
    if axes == 0 {
        return None;
    }
    // `ode_error` has one column, whatever the state dimension.
    let column = SweepMetric::OdeError.columns(1);
    let k = rec.header[axes + 4..]
        .iter()
        .position(|c| column.contains(c))?;
    // (values of the other axes, points (log10 x, log10 mean))
    type Group = (Vec<String>, Vec<(f64, f64)>);
    let mut groups: Vec<Group> = Vec::new();
    for p in points {
        let x: f64 = p.values[0].parse().ok().filter(|x: &f64| *x > 0.0)?;
        let Some((m, _)) = p.stats[k] else { continue };
        if m <= 0.0 {
            continue;
        }
        let rest = p.values[1..].to_vec();
        match groups.iter_mut().find(|(r, _)| *r == rest) {
            Some((_, pts)) => pts.push((x.log10(), m.log10())),
            None => groups.push((rest, vec![(x.log10(), m.log10())])),
        }
    }
    let series = groups
        .iter()
        .enumerate()
        .map(|(gi, (rest, pts))| {
            let slope = if pts.len() > 1 {
                let n = pts.len() as f64;
                let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
                let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
                let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
                let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
                format!(", slope {:.3}", sxy / sxx)
            } else {
                String::new()
            };
            let label = rec.header[2..=axes]
                .iter()
                .zip(rest)
                .map(|(key, v)| format!("{key} = {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let label = if label.is_empty() {
                "mean over seeds".to_owned()
            } else {
                label
            };
            Series {
                label: format!("{label}{slope}"),
                color: PALETTE[gi % PALETTE.len()],
                style: Style::Line,
                points: pts.clone(),
            }
        })
        .collect();
    Some(Figure {
        title: format!("{}: distance from the ODE", rec.name),
        x_label: format!("log10 {}", rec.header[1]),
        y_label: "log10 mean max_t |sim - ODE|".into(),
        series,
        ..Figure::default()
    })
}
