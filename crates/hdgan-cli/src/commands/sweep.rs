//! `hdgan sweep`: run a sweep's cells (all, or one shard), merge them into one table, or
//! count what is done.

use crate::outln;
use crate::progress::{Progress, with_control};
use anyhow::Result;
use hdgan_experiments::sweep::{load, parse_shard, shard_cells, slurm_shard};
use hdgan_report::sweep::{SweepDir, merge, status};
use std::path::{Path, PathBuf};

/// Runs the cells of `file` that `shard` (or Slurm's array variables) selects and that have
/// not finished in the output folder; merges the table when every cell has finished.
pub fn execute(
    file: &Path,
    out: Option<PathBuf>,
    shard: Option<&str>,
    threads: Option<usize>,
    progress: Progress,
) -> Result<()> {
    let sweep = load(file)?;
    let shard = match shard {
        Some(s) => Some(parse_shard(s)?),
        None => slurm_shard()?,
    };
    let root = out.unwrap_or_else(|| PathBuf::from("out").join(&sweep.name));
    let mine = shard_cells(sweep.cells.len(), shard.unwrap_or((0, 1)));
    let dir = SweepDir::open(&root, &sweep)?;
    let todo: Vec<usize> = mine.iter().copied().filter(|&i| !dir.done(i)).collect();
    let steps = sweep.steps(&todo)?;
    outln!(
        "sweep {}: {} cells{}, {} to run here ({} already done), {:.3e} SGDA steps",
        sweep.name,
        sweep.cells.len(),
        shard.map_or(String::new(), |(k, n)| format!(
            ", shard {k}/{n} has {}",
            mine.len()
        )),
        todo.len(),
        mine.len() - todo.len(),
        steps
    );
    with_control(progress, |ctl| sweep.run_cells(&todo, threads, ctl, &dir))?;
    let st = status(&root)?;
    if st.done == st.total {
        let table = merge(&root)?;
        outln!(
            "wrote {} ({} cells, {} diverged)",
            table.display(),
            st.total,
            st.diverged
        );
    } else {
        outln!(
            "{}: {} of {} cells done; merge with `hdgan sweep merge {}` when every shard has run",
            root.display(),
            st.done,
            st.total,
            root.display()
        );
    }
    Ok(())
}

/// `hdgan sweep merge DIR`.
pub fn merge_dir(root: &Path) -> Result<()> {
    let table = merge(root)?;
    outln!("wrote {}", table.display());
    Ok(())
}

/// `hdgan sweep status DIR`.
pub fn status_dir(root: &Path) -> Result<()> {
    let st = status(root)?;
    outln!(
        "{}: {} cells: {} done ({} diverged), {} running or interrupted, {} missing",
        root.display(),
        st.total,
        st.done,
        st.diverged,
        st.running,
        st.missing
    );
    Ok(())
}
