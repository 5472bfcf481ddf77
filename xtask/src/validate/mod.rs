//! `cargo xtask validate`: every theorem-level claim as a named check with a measured
//! figure, a tolerance argued from the statistics, a PASS/FAIL verdict, a report section
//! and plots.

mod baselines;
mod data;
mod effective;
mod engines;
mod fluctuations;
mod foundation;
mod losses;

mod anchor;
mod measure;
mod multi;

mod stability;

use anyhow::Result;
use hdgan_report::output::write_json;
use hdgan_report::plot::{CellMap, Figure, PALETTE, Series, Style, render, render_cells};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The claim holds within its tolerance.
    Pass,
    /// The claim does not hold.
    Fail,
    /// The check could not run here (its data is absent); the reason is in `measured`.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// What a check found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Verdict.
    pub status: Status,
    /// The headline measured figure, in words.
    pub measured: String,
    /// The tolerance it was held to, in words.
    pub tolerance: String,
    /// Markdown lines for the report (tables, explanations).
    pub details: Vec<String>,
    /// Plots (file stems inside the output folder, SVG and PNG written).
    pub plots: Vec<String>,
}

impl Outcome {
    /// An outcome whose status is PASS iff every sub-verdict holds.
    pub fn from_verdicts(verdicts: &[bool], measured: String, tolerance: String) -> Self {
        Self {
            status: if verdicts.iter().all(|&v| v) {
                Status::Pass
            } else {
                Status::Fail
            },
            measured,
            tolerance,
            details: Vec::new(),
            plots: Vec::new(),
        }
    }
}

/// Settings shared by the checks.
pub struct Ctx {
    /// Smaller sizes for CI.
    pub quick: bool,
    /// Output folder (report, plots, data).
    pub out: PathBuf,
}

impl Ctx {
    /// Renders a figure to `<out>/<stem>.svg` and `.png`; returns the stem.
    pub fn plot(&self, stem: &str, fig: &Figure) -> Result<String> {
        render(
            fig,
            &self.out.join(format!("{stem}.svg")),
            &self.out.join(format!("{stem}.png")),
        )?;
        Ok(stem.to_owned())
    }

    /// Renders a cell map (phase diagram) to `<out>/<stem>.svg` and `.png`; returns the stem.
    pub fn plot_cells(&self, stem: &str, map: &CellMap) -> Result<String> {
        render_cells(
            map,
            &self.out.join(format!("{stem}.svg")),
            &self.out.join(format!("{stem}.png")),
        )?;
        Ok(stem.to_owned())
    }

    /// Renders figures side by side (`cols` per row) to `<out>/<stem>.svg` and `.png`.
    pub fn plot_panels(&self, stem: &str, panels: &[Figure], cols: usize) -> Result<String> {
        hdgan_report::plot::render_panels(
            panels,
            cols,
            &self.out.join(format!("{stem}.svg")),
            &self.out.join(format!("{stem}.png")),
        )?;
        Ok(stem.to_owned())
    }

    /// Picks the quick or the full value.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }
}

/// A named scalar function of a state, for plots.
pub type Quantity<'a, S> = (&'a str, &'a dyn Fn(&S) -> f64);

/// Plot series comparing paths quantity by quantity: for each quantity `(name, f)` (one
/// colour each) and each path `(label, style, trajectory)`, the series `"{name} {label}"`.
pub fn overlay<S: Clone>(
    quantities: &[Quantity<'_, S>],
    paths: &[(&str, Style, &hdgan_core::Trajectory<S>)],
) -> Vec<Series> {
    let mut series = Vec::new();
    for (k, (name, f)) in quantities.iter().enumerate() {
        for (label, style, t) in paths {
            series.push(Series {
                label: format!("{name} {label}"),
                color: PALETTE[k % PALETTE.len()],
                style: *style,
                points: t.points(f),
            });
        }
    }
    series
}

/// A named check of one claim.
pub struct Check {
    /// Short name (`theorem1_fig1`).
    pub name: &'static str,
    /// The claim, in one line.
    pub claim: &'static str,
    /// Runs the check.
    pub run: fn(&Ctx) -> Result<Outcome>,
}

/// Every check, in report order.
pub fn all_checks() -> Vec<Check> {
    let mut v = foundation::checks();
    v.extend(stability::checks());
    v.extend(measure::checks());
    v.extend(engines::checks());
    v.extend(losses::checks());
    v.extend(effective::checks());
    v.extend(multi::checks());
    v.extend(anchor::checks());
    v.extend(data::checks());
    v.extend(baselines::checks());
    v.extend(fluctuations::checks());

    v
}

/// Runs the selected checks, prints the table, writes `report.md` and `summary.json`, and
/// returns whether all passed.
pub fn run(quick: bool, only: &[String], out: &Path) -> Result<bool> {
    std::fs::create_dir_all(out)?;
    let ctx = Ctx {
        quick,
        out: out.to_path_buf(),
    };
    let checks: Vec<Check> = all_checks()
        .into_iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| o == c.name))
        .collect();
    anyhow::ensure!(
        !checks.is_empty(),
        "no check matches {only:?}; see `cargo xtask validate --list`"
    );
    let mut rows = Vec::new();
    for c in &checks {
        eprintln!("running {} ...", c.name);
        let _span = tracing::info_span!("check", name = c.name).entered();
        let started = Instant::now();
        let outcome = (c.run)(&ctx).unwrap_or_else(|e| Outcome {
            status: Status::Fail,
            measured: format!("error: {e:#}"),
            tolerance: "-".into(),
            details: vec![format!("The check could not complete: `{e:#}`")],
            plots: Vec::new(),
        });
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "  {} in {:.1} s: {}",
            outcome.status.label(),
            secs,
            outcome.measured
        );
        rows.push((c, outcome, secs));
    }
    let (version, revision) = hdgan_report::build_info();
    println!();
    println!(
        "{:<32} {:<6} {:>8}  measured | tolerance",
        "check", "result", "seconds"
    );
    for (c, o, s) in &rows {
        println!(
            "{:<32} {:<6} {:>8.1}  {} | {}",
            c.name,
            o.status.label(),
            s,
            o.measured,
            o.tolerance
        );
    }
    let mut md = String::new();
    writeln!(md, "# hdgan validation report\n")?;
    writeln!(
        md,
        "hdgan {version} (git {revision}), mode: {}. Produced by `cargo xtask validate{}`.\n",
        if quick { "quick" } else { "full" },
        if quick { " --quick" } else { "" }
    )?;
    writeln!(
        md,
        "| check | result | measured | tolerance | seconds |\n|---|---|---|---|---|"
    )?;
    for (c, o, s) in &rows {
        writeln!(
            md,
            "| `{}` | {} | {} | {} | {:.1} |",
            c.name,
            o.status.label(),
            o.measured,
            o.tolerance,
            s
        )?;
    }
    for (c, o, _) in &rows {
        writeln!(
            md,
            "\n## `{}`: {}\n\n**Claim.** {}\n",
            c.name,
            o.status.label(),
            c.claim
        )?;
        for line in &o.details {
            writeln!(md, "{line}")?;
        }
        for p in &o.plots {
            writeln!(md, "\n![{p}]({p}.svg)")?;
        }
    }
    std::fs::write(out.join("report.md"), md)?;
    let summary: Vec<serde_json::Value> = rows
        .iter()
        .map(|(c, o, s)| {
            serde_json::json!({"check": c.name, "status": o.status.label(), "measured": o.measured, "tolerance": o.tolerance, "seconds": s})
        })
        .collect();
    write_json(
        &out.join("summary.json"),
        &serde_json::json!({"version": version, "git_revision": revision, "quick": quick, "checks": summary}),
    )?;
    println!("\nreport: {}", out.join("report.md").display());
    Ok(rows.iter().all(|(_, o, _)| o.status != Status::Fail))
}
