//! The `hdgan` command-line tool as a library: configuration files, the run pipeline
//! (config -> validated parameters -> engines -> trajectories -> files and plots), writers
//! for CSV / NPY / JSON, and plots. `xtask` reuses the writers and plots.
//!
//! **Invariant:** this crate and `xtask` are the only ones that read configs, print, or
//! write files.

pub mod config;
pub mod measure;
pub mod modes;
pub mod output;
pub mod phase;
pub mod plot;
pub mod run;
pub mod train_data;

use std::fmt;

/// Bad input from the user: a config that does not parse or breaks a rule, a missing file,
/// a bad flag. The binary prints it on one line and exits with status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

impl From<hdgan_core::ParamError> for InputError {
    fn from(e: hdgan_core::ParamError) -> Self {
        InputError(format!("config key {e}"))
    }
}

/// Runs `work` on a pool of `threads` workers (`None`: rayon's global pool, one worker per
/// core). Results of hdgan's parallel code do not depend on the count.
pub fn with_threads<R: Send>(
    threads: Option<usize>,
    work: impl FnOnce() -> R + Send,
) -> anyhow::Result<R> {
    use anyhow::Context;
    Ok(match threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .context("cannot start the worker threads")?
            .install(work),
        None => work(),
    })
}

/// The crate version and the git revision this binary was built from (`unknown` outside a
/// git checkout; `-dirty` when the tree had uncommitted changes).
pub fn build_info() -> (&'static str, &'static str) {
    (env!("CARGO_PKG_VERSION"), env!("HDGAN_GIT_REVISION"))
}
