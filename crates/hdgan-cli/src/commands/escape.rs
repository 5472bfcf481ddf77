//! `hdgan escape`: the noise-driven escape time from a saddle against n (THEORY §10),
//! computed by `hdgan-experiments`, written by `hdgan-report`.

use super::OutArgs;
use crate::error::Result;
use crate::outln;
use crate::progress::{Progress, with_control};
use hdgan_experiments::escape::{EscapeRequest, check_request, escape_of};
use hdgan_experiments::run::{ConfigSource, RunSource, prepare};
use hdgan_experiments::with_threads;
use hdgan_report::write::write_escape;
use std::path::Path;

/// The command's flags (the feature as given: None = the last).
pub struct Flags {
    /// `--n`.
    pub sizes: Vec<f64>,
    /// `--paths`.
    pub paths: usize,
    /// `--feature`.
    pub feature: Option<usize>,
    /// `--threshold`.
    pub threshold: f64,
    /// `--dt`.
    pub dt: f64,
}

/// Runs `hdgan escape`: checks the config and the flags before any work, computes, writes
/// the folder (default `out/<name>-escape`) and prints one line per size.
pub fn execute(
    config: Option<&Path>,
    flags: Flags,
    output: &OutArgs,
    threads: Option<usize>,
    progress: Progress,
) -> Result<()> {
    hdgan_experiments::resources::check_threads(threads)?;
    let src = RunSource {
        config: config.map_or(ConfigSource::Default, |p| {
            ConfigSource::File(p.to_path_buf())
        }),
        ..RunSource::default()
    };
    let valid = prepare(&src)?;
    crate::print::deprecations(valid.name(), valid.model());
    let req = EscapeRequest {
        sizes: flags.sizes,
        paths: flags.paths,
        feature: flags.feature.unwrap_or(valid.model().d()),
        threshold: flags.threshold,
        dt: flags.dt,
    };
    check_request(&valid, &req)?;
    let staged = output.open(None, &format!("{}-escape", valid.name()), config)?;
    let run = with_control(progress, |ctl| {
        with_threads(threads, || escape_of(&valid, &req, ctl))?
    })?;
    write_escape(&valid, &run, &staged)?;
    outln!("wrote {}", staged.commit()?.display());
    let f = req.feature;
    match (&run.law, &run.law_absent) {
        (Some(l), _) => outln!(
            "saddle law (no start overlap with feature {f}): kappa = {:.5}, mean grows by {:.3} per decade of n, sd {:.3}",
            l.kappa,
            l.slope() * 10f64.ln(),
            l.sd()
        ),
        (None, Some(why)) => outln!("no saddle law: {why}"),
        (None, None) => {}
    }
    if let Some(t) = run.ode_escape {
        outln!(
            "the ODE's own |q{f}| reaches {} at t = {t:.3}",
            req.threshold
        );
    }
    for r in &run.rows {
        let s = &r.stats;
        let law = run
            .law
            .as_ref()
            .map(|l| format!("; saddle law {:.2}", l.mean(r.n)))
            .unwrap_or_default();
        let censored = if s.censored > 0 {
            format!(
                " ({} of {} not escaped by t = {})",
                s.censored,
                r.times.len(),
                valid.sim().t_end
            )
        } else {
            String::new()
        };
        outln!(
            "n = {:.3e}: escape at {:.2} +- {:.2} (sd {:.2}){law}{censored}",
            r.n,
            s.mean,
            s.mean_se,
            s.sd
        );
    }
    outln!("in {:.1} s", run.seconds);
    Ok(())
}
