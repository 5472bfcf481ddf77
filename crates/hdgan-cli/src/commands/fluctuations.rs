//! `hdgan fluctuations`: the linear-noise approximation of a run config (THEORY §10),
//! computed by `hdgan-experiments`, written by `hdgan-report`.

use super::OutArgs;
use crate::error::Result;
use crate::outln;
use hdgan_experiments::fluctuations::{check_config, fluctuations_of};
use hdgan_experiments::run::{ConfigSource, RunSource, prepare};
use hdgan_report::write::write_fluctuations;
use std::path::Path;

/// Runs `hdgan fluctuations`: checks the config and `--n` before any work, solves, writes
/// the folder (default `out/<name>-fluctuations`).
pub fn execute(config: Option<&Path>, n: Option<usize>, output: &OutArgs) -> Result<()> {
    let src = RunSource {
        config: config.map_or(ConfigSource::Default, |p| {
            ConfigSource::File(p.to_path_buf())
        }),
        ..RunSource::default()
    };
    let valid = prepare(&src)?;
    crate::print::deprecations(valid.name(), valid.model());
    check_config(&valid, n)?;
    let staged = output.open(None, &format!("{}-fluctuations", valid.name()), config)?;
    let run = fluctuations_of(&valid, n)?;
    write_fluctuations(&valid, &run, &staged)?;
    outln!("wrote {}", staged.commit()?.display());
    outln!(
        "Sigma(t) along the ODE to t = {} in {:.1} ms; band at n = {}",
        run.fl.mean.times.last().copied().unwrap_or(0.0),
        run.seconds * 1e3,
        run.n
    );
    if let Some(t) = run.switch {
        outln!("the ODE's discriminator switches from feature 1 to feature 2 at t = {t:.2}");
    }
    Ok(())
}
