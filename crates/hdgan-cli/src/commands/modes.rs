//! `hdgan modes`.

use super::OutArgs;
use crate::error::Result;
use crate::progress::{Progress, with_control};
use crate::{out, outln};
use hdgan_experiments::modes::{modes_of, prepare_modes, run_in_modes};
use hdgan_report::tables::modes_table;
use hdgan_report::write::write_modes;
use std::path::Path;

/// Runs `hdgan modes`: prints the modes' table, writes the folder; with `run`, also the
/// simulation and the ODE seen mode by mode.
pub fn execute(
    config: &Path,
    output: &OutArgs,
    run: bool,
    seed: Option<u64>,
    threads: Option<usize>,
    progress: Progress,
) -> Result<()> {
    let v = prepare_modes(config, run, seed, threads)?;
    crate::print::deprecations(&v.name, &v.model);
    let modes = modes_of(&v);
    let staged = output.open(
        v.run.as_ref().and_then(|r| r.output_dir()),
        &format!("{}-modes", v.name),
        Some(config),
    )?;
    out!("{}", modes_table(&modes));
    let mr = match &v.run {
        Some(valid) => Some(with_control(progress, |ctl| {
            run_in_modes(valid, &modes, threads, ctl)
        })?),
        None => None,
    };
    write_modes(&v, &modes, mr.as_ref(), threads, &staged)?;
    if let Some(mr) = &mr {
        if let Some(p) = &mr.phases_by_mode.0 {
            outln!("phase by mode (simulation, member 0): {}", p.phase);
        }
        if let Some(p) = &mr.phases_by_mode.1 {
            outln!("phase by mode (ODE): {}", p.phase);
        }
    }
    outln!("wrote {}", staged.commit()?.display());
    Ok(())
}
