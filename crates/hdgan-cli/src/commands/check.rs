//! `hdgan check`: validates any config hdgan reads (run, phase, measure, sweep; detected
//! from its tables, or given by `--kind`) and prints what it describes and its estimates,
//! doing no work and writing nothing.

use crate::error::Result;
use crate::outln;
use hdgan_experiments::{measure, phase, sweep};
use std::path::Path;

/// The kinds of config files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfigKind {
    /// `hdgan run` (and `hdgan modes --run`, `hdgan fluctuations`, `hdgan escape`).
    Run,
    /// `hdgan phase`: a `[phase]` table.
    Phase,
    /// `hdgan measure`: a `[measure]` table.
    Measure,
    /// `hdgan sweep`: `base`, `[[axis]]`, `metrics`.
    Sweep,
}

/// The kind of the config at `path`, from its top-level tables and keys; a file that does
/// not parse is taken as a run config (whose parser then reports the error with its line).
pub fn detect(path: &Path) -> ConfigKind {
    let Ok(text) = std::fs::read_to_string(path) else {
        return ConfigKind::Run;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return ConfigKind::Run;
    };
    if table.contains_key("phase") {
        ConfigKind::Phase
    } else if table.contains_key("measure") {
        ConfigKind::Measure
    } else if ["axis", "metrics", "base"]
        .iter()
        .any(|k| table.contains_key(*k))
    {
        ConfigKind::Sweep
    } else {
        ConfigKind::Run
    }
}

/// `hdgan check CONFIG [--kind KIND]`.
pub fn execute(config: &Path, kind: Option<ConfigKind>) -> Result<()> {
    match kind.unwrap_or_else(|| detect(config)) {
        ConfigKind::Run => super::run::check(config.to_path_buf()),
        ConfigKind::Phase => {
            let v = phase::prepare_phase(config)?;
            crate::print::deprecations(&v.name, &v.model);
            let (x, y) = (&v.spec.x, &v.spec.y);
            outln!("{}: valid (phase map)", config.display());
            outln!(
                "  {} x {} grid: {} in [{}, {}] by {} in [{}, {}], ODE to t = {}",
                x.count,
                y.count,
                x.param.label(),
                x.min,
                x.max,
                y.param.label(),
                y.min,
                y.max,
                v.spec.t_end
            );
            if let Some(sim) = &v.sim {
                outln!(
                    "  simulations at n = {} on every {}th point of each axis",
                    sim.model.n(),
                    sim.stride
                );
            }
            outln!("  resources: {}", phase::estimate(&v));
            Ok(())
        }
        ConfigKind::Measure => {
            let v = measure::prepare_measure(config)?;
            crate::print::deprecations(&v.name, &v.model);
            outln!(
                "{}: valid (measure: Figure 2's weight snapshots)",
                config.display()
            );
            outln!("  n = {}, d = {}", v.model.n(), v.model.d());
            outln!("  resources: {}", measure::estimate(&v));
            Ok(())
        }
        ConfigKind::Sweep => {
            let s = sweep::load(config)?;
            if !s.cells.is_empty() {
                crate::print::deprecations(&s.name, s.valid(0)?.model());
            }
            let all: Vec<usize> = (0..s.cells.len()).collect();
            let (steps, bytes) = s.plan(&all, None)?;
            outln!("{}: valid (sweep)", config.display());
            outln!("  {} cells over {}", s.cells.len(), s.keys.join(", "));
            outln!(
                "  resources: {:.3e} SGDA steps, memory about {}",
                steps,
                hdgan_experiments::resources::human(bytes)
            );
            Ok(())
        }
    }
}
