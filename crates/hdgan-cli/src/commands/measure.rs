//! `hdgan measure` (Figure 2).

use crate::outln;
use crate::print::open_output;
use crate::progress::{Progress, with_control};
use anyhow::Result;
use hdgan_experiments::measure::{measure, prepare_measure};
use hdgan_report::output::OutputRequest;
use hdgan_report::write::write_measure;
use std::path::{Path, PathBuf};

/// Runs `hdgan measure`: checks, simulates and solves, writes the folder.
pub fn execute(path: &Path, out: Option<&Path>, progress: Progress, overwrite: bool) -> Result<()> {
    let v = prepare_measure(path)?;
    let staged = open_output(
        &OutputRequest::choose(
            out,
            v.config.output.dir.as_deref(),
            PathBuf::from("out").join(&v.name),
            overwrite,
        )
        .with_input(Some(path)),
    )?;
    let (snaps, secs) = with_control(progress, |ctl| measure(&v, ctl))?;
    write_measure(&v, &snaps, secs, &staged)?;
    outln!("wrote {}", staged.commit()?.display());
    Ok(())
}
