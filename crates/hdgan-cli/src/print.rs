//! Printing that never panics (a closed or full standard output), the cancellation flag
//! of the signal handlers, and one-line errors.

use hdgan_report::output::{OutputRequest, StagedDir};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Checks an output request and creates its staging folder before any work
/// ([`StagedDir::open`]); prints its notes (a numbered folder chosen, stale staging
/// folders removed) on stderr.
pub fn open_output(req: &OutputRequest) -> hdgan_report::Result<StagedDir> {
    let s = StagedDir::open(req)?;
    for n in s.notes() {
        note(n);
    }
    Ok(s)
}

/// Set by `--quiet`: warnings such as [`deprecations`] are not printed.
pub static QUIET: AtomicBool = AtomicBool::new(false);

/// Prints, unless `--quiet`, one line on stderr per deprecated key in the config `model`
/// was validated from (`name: config key ... is deprecated: write ... instead`).
pub fn deprecations(name: &str, model: &hdgan_model::Model) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    for d in model.deprecations() {
        note(&format!("{name}: {d}"));
    }
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
    () => { $crate::print::print_out("\n") };
    ($($arg:tt)*) => { $crate::print::print_out(&format!("{}\n", format_args!($($arg)*))) };
}

/// `print!` through [`print_out`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::print::print_out(&format!($($arg)*)) };
}

/// `eprintln!` through [`note`]: never panics on a closed or full stderr.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::print::note(&format!($($arg)*)) };
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

/// An error's message on one line, control characters replaced.
pub fn one_line(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
