//! The `hdgan` command-line tool as a library: configuration files, the run pipeline
//! (config -> validated parameters -> engines -> trajectories -> files and plots), writers
//! for CSV / NPY / JSON, and plots. `xtask` reuses the writers and plots.
//!
//! **Invariant:** this crate and `xtask` are the only ones that read configs, print, or
//! write files.

pub mod checkpoint;
pub mod config;
pub mod fuzzing;
pub mod measure;
pub mod modes;
pub mod output;
pub mod phase;
pub mod plot;
pub mod resources;
pub mod run;
pub mod train_data;

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Checks an output request and creates its staging folder before any work
/// ([`output::StagedDir::open`]); prints its notes (a numbered folder chosen, stale
/// staging folders removed) on stderr.
pub fn open_output(req: &output::OutputRequest) -> Result<output::StagedDir, InputError> {
    let s = output::StagedDir::open(req)?;
    for n in s.notes() {
        note(n);
    }
    Ok(s)
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDOUT_FAILED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Writes `text` to standard output without ever panicking: a closed pipe (`| head`,
/// `| true`) silently ends printing (the work goes on and its files are still written);
/// any other write error (a full disk, `> /dev/full`) is remembered and reported by
/// [`stdout_error`].
pub fn print_out(text: &str) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let r = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = r {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let mut f = STDOUT_FAILED.lock().unwrap_or_else(|e| e.into_inner());
            f.get_or_insert_with(|| e.to_string());
        }
    }
}

/// The first error met writing standard output, other than a closed pipe.
pub fn stdout_error() -> Option<String> {
    STDOUT_FAILED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Writes one line to standard error, ignoring write errors (a message about a failure
/// must not become a second failure).
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// `println!` through [`print_out`]: never panics on a closed or full stdout.
#[macro_export]
macro_rules! outln {
    () => { $crate::print_out("\n") };
    ($($arg:tt)*) => { $crate::print_out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`print_out`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::print_out(&format!($($arg)*)) };
}

/// `eprintln!` through [`note`]: never panics on a closed or full stderr.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::note(&format!($($arg)*)) };
}

/// Set by the SIGINT/SIGTERM handler; run loops stop at their next record.
pub static CANCEL: AtomicBool = AtomicBool::new(false);

static CHECKPOINT_HINT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Records the checkpoint folder of the running command, for the message printed on a
/// signal.
pub fn set_checkpoint_hint(dir: Option<&std::path::Path>) {
    *CHECKPOINT_HINT.lock().unwrap_or_else(|e| e.into_inner()) =
        dir.map(|d| d.display().to_string());
}

/// `"; resume with ..."` when a checkpoint is being kept, else empty.
pub fn checkpoint_hint() -> String {
    match &*CHECKPOINT_HINT.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(d) => format!("; the last checkpoint is kept: continue with `hdgan run --resume {d}`"),
        None => String::new(),
    }
}

/// An error and its causes on one line (`a: b: c`), control characters replaced.
pub fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
