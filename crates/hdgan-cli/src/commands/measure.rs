//! `hdgan measure` (Figure 2).

use super::OutArgs;
use crate::error::Result;
use crate::outln;
use crate::progress::{Progress, with_control};
use hdgan_experiments::measure::{measure, prepare_measure};
use hdgan_report::write::write_measure;
use std::path::Path;

/// Runs `hdgan measure`: checks, simulates and solves, writes the folder.
pub fn execute(path: &Path, output: &OutArgs, progress: Progress) -> Result<()> {
    let v = prepare_measure(path)?;
    crate::print::deprecations(&v.name, &v.model);
    let staged = output.open(v.config.output.dir.as_deref(), &v.name, Some(path))?;
    let (snaps, secs) = with_control(progress, |ctl| measure(&v, ctl))?;
    write_measure(&v, &snaps, secs, &staged)?;
    outln!("wrote {}", staged.commit()?.display());
    Ok(())
}
