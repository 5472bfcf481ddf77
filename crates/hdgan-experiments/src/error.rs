//! The errors of every experiment: one enum whose variants say what failed and carry its
//! context (the config key and the rule, the estimate over the limit, the computation that
//! diverged). [`Error::kind`] sorts them into the four outcomes a caller acts on: the
//! command line's exit status and the Python package's exception class come from it, never
//! from the message text.

use hdgan_core::ParamError;
use hdgan_data::DataError;
use hdgan_macro_ode::OdeError;
use hdgan_micro_sim::SimError;
use hdgan_stability::{EscapeError, LnaError};
use std::fmt;
use std::path::PathBuf;

/// The result of the experiments' functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a bad input names: a config key, a command-line flag (or environment variable, or
/// Python argument), a key of a sweep file, or a file or folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A dotted key of a config (`model.n`, `init.q0[1]`); shown as ``config key `model.n` ``.
    Config(String),
    /// A command-line flag with its dashes (`--threads`), an environment variable
    /// (`SLURM_ARRAY_TASK_ID`) or a Python argument; shown in backticks.
    Argument(String),
    /// A key of a sweep file (`seeds`, ``axis `model.n` ``); shown as ``sweep `seeds` ``.
    Sweep(String),
    /// A file or folder given as input; shown in backticks.
    Path(PathBuf),
}

impl Key {
    /// A config key.
    pub fn config(key: impl Into<String>) -> Self {
        Key::Config(key.into())
    }

    /// A command-line flag, environment variable or Python argument.
    pub fn arg(name: impl Into<String>) -> Self {
        Key::Argument(name.into())
    }

    /// The key as a plain string (the config key, the flag with its dashes, the path).
    pub fn name(&self) -> String {
        match self {
            Key::Config(k) | Key::Argument(k) | Key::Sweep(k) => k.clone(),
            Key::Path(p) => p.display().to_string(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Config(k) => write!(f, "config key `{k}`"),
            Key::Argument(k) => write!(f, "`{k}`"),
            Key::Sweep(k) => write!(f, "sweep `{k}`"),
            Key::Path(p) => write!(f, "`{}`", p.display()),
        }
    }
}

/// What separates a key from the rule that follows it in a message: nothing before a rule
/// that starts with punctuation (`: ...`, `, ...`), else a space.
pub fn rule_separator(rule: &str) -> &'static str {
    if rule.starts_with([':', ',', ';']) {
        ""
    } else {
        " "
    }
}

/// Where the memory limit of a [`Error::Resource`] refusal comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryLimit {
    /// `--max-memory` (or [`crate::resources::set_max_memory`]).
    Flag,
    /// The memory available on this machine (`MemAvailable`).
    Available,
}

/// The four outcomes a caller distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input: a config, flag, argument, data file or output folder the request cannot
    /// use, refused before any work. Exit status 2; Python's `hdgan.ConfigError`.
    Input,
    /// A request too big for the machine (its memory estimate exceeds the limit), refused
    /// before any work. Exit status 2; Python's `hdgan.ResourceError` (a `MemoryError`).
    Resource,
    /// The caller cancelled the work. Exit status 130; Python's `KeyboardInterrupt`.
    Cancelled,
    /// The work failed: a run diverged, a solver gave up, a file could not be written, or
    /// hdgan met a bug. Exit status 1; Python's `RuntimeError`.
    Failed,
}

impl ErrorKind {
    /// The command line's exit status: 2 for input and resource refusals, 130 (as for
    /// SIGINT) when cancelled, 1 for failures.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Input | ErrorKind::Resource => 2,
            ErrorKind::Cancelled => 130,
            ErrorKind::Failed => 1,
        }
    }
}

/// An experiment's error. Every message is one line (the command line prints it after
/// `error: `, Python raises it); inner errors are part of the message, not `source()`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config key, flag, argument or input path breaks a rule: ``config key `sim.t_end`
    /// must be > 0, got -1``, `` `--threads` must be between 1 and 1024, got 0``.
    #[error("{key}{}{rule}", rule_separator(rule))]
    Input {
        /// What the input is.
        key: Key,
        /// The rule it breaks, phrased to follow the key (`must be >= 1`, or `: ...`).
        rule: String,
    },
    /// A parameter broke a rule of the validated types (`hdgan-core`), naming its config
    /// key.
    #[error("config key {0}")]
    Param(ParamError),
    /// A config's text does not parse: TOML syntax, a value of the wrong type, an unknown or
    /// missing key or table.
    #[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        /// The file or text (`configs/x.toml`, `<TOML string>`).
        origin: String,
        /// The line, when known (1-based).
        line: Option<usize>,
        /// The full dotted key the error is about, when it is about one.
        key: Option<String>,
        /// What is wrong, naming the key.
        message: String,
    },
    /// An input file cannot be read.
    #[error("cannot read {what} `{}`: {error}", path.display())]
    Read {
        /// What the file is (`config file`).
        what: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A real-data file is missing or malformed, or cannot serve the request.
    #[error("{dataset} data: {error}")]
    Data {
        /// The dataset (`mnist`, `cifar10`).
        dataset: String,
        /// What the data reader found.
        error: DataError,
    },
    /// The request's memory estimate exceeds the limit; names the keys that drive it.
    #[error("{}", resource_message(keys, *need, *limit, *limited_by, largest.as_ref()))]
    Resource {
        /// The config keys or flags that drive the estimate.
        keys: Vec<String>,
        /// Bytes the request needs.
        need: f64,
        /// Bytes allowed.
        limit: f64,
        /// Where the limit comes from.
        limited_by: MemoryLimit,
        /// The largest term of the estimate (what it is, bytes).
        largest: Option<(String, f64)>,
    },
    /// A simulation failed: it diverged, or an engine refused its start.
    #[error("{what} failed: {error}")]
    Sim {
        /// Which simulation (`simulation`, `training run (covariance informed, seed 0)`).
        what: String,
        /// The engine's error.
        error: SimError,
    },
    /// An ODE solve failed.
    #[error("{what} failed: {error}")]
    Ode {
        /// Which ODE (`limiting ODE`, `the ODE from the config's start`).
        what: String,
        /// The solver's error.
        error: OdeError,
    },
    /// The linear-noise approximation failed.
    #[error("{what} failed: {error}")]
    Lna {
        /// Which computation (`linear-noise band`).
        what: String,
        /// Its error.
        error: LnaError,
    },
    /// An escape-time computation failed.
    #[error("{what} failed: {error}")]
    Escape {
        /// Which computation (`the saddle law`, `the diffusion at n = 1000`).
        what: String,
        /// Its error.
        error: EscapeError,
    },
    /// A cell of a sweep failed.
    #[error("sweep cell {index}: {error}")]
    Cell {
        /// The cell's index.
        index: usize,
        /// Its error.
        error: Box<Error>,
    },
    /// Saving progress failed (a checkpoint, a sweep's cell): the error of the store or sink
    /// (`hdgan-report`'s), whose refusals of bad input arrive as [`Error::Input`] instead.
    #[error(transparent)]
    Output(Box<dyn std::error::Error + Send + Sync>),
    /// The caller cancelled the work ([`crate::Control::cancel`]).
    #[error("cancelled")]
    Cancelled,
    /// The worker threads could not be started.
    #[error("cannot start the worker threads: {0}")]
    Threads(rayon::ThreadPoolBuildError),
    /// A state the library's own checks rule out (a bug, or a case validation missed).
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// Bad input: `key` breaks `rule` (phrased to follow the key).
    pub fn input(key: Key, rule: impl Into<String>) -> Self {
        Error::Input {
            key,
            rule: rule.into(),
        }
    }

    /// A bad config key.
    pub fn config(key: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::input(Key::config(key), rule)
    }

    /// A bad command-line flag, environment variable or Python argument.
    pub fn arg(name: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::input(Key::arg(name), rule)
    }

    /// A failed simulation (`what` says which); a cancelled one is [`Error::Cancelled`].
    pub fn sim(what: impl Into<String>, error: SimError) -> Self {
        match error {
            SimError::Cancelled { .. } => Error::Cancelled,
            error => Error::Sim {
                what: what.into(),
                error,
            },
        }
    }

    /// A failed ODE solve (`what` says which).
    pub fn ode(what: impl Into<String>, error: OdeError) -> Self {
        Error::Ode {
            what: what.into(),
            error,
        }
    }

    /// A failed linear-noise computation (`what` says which).
    pub fn lna(what: impl Into<String>, error: LnaError) -> Self {
        Error::Lna {
            what: what.into(),
            error,
        }
    }

    /// A failed escape-time computation (`what` says which).
    pub fn escape(what: impl Into<String>, error: EscapeError) -> Self {
        Error::Escape {
            what: what.into(),
            error,
        }
    }

    /// Which of the four outcomes this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. }
            | Error::Param(_)
            | Error::Parse { .. }
            | Error::Read { .. }
            | Error::Data { .. } => ErrorKind::Input,
            Error::Resource { .. } => ErrorKind::Resource,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Cell { error, .. } => error.kind(),
            Error::Sim { .. }
            | Error::Ode { .. }
            | Error::Lna { .. }
            | Error::Escape { .. }
            | Error::Output(_)
            | Error::Threads(_)
            | Error::Internal(_) => ErrorKind::Failed,
        }
    }

    /// The command line's exit status ([`ErrorKind::exit_code`]).
    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }

    /// The config key, flag or path a bad input names, when it names one.
    pub fn key(&self) -> Option<String> {
        match self {
            Error::Input { key, .. } => Some(key.name()),
            Error::Param(e) => Some(e.key().to_owned()),
            Error::Parse { key, .. } => key.clone(),
            Error::Read { path, .. } => Some(path.display().to_string()),
            Error::Resource { keys, .. } => keys.first().cloned(),
            Error::Cell { error, .. } => error.key(),
            _ => None,
        }
    }
}

impl From<ParamError> for Error {
    fn from(e: ParamError) -> Self {
        Error::Param(e)
    }
}

/// A simulation's error with the context `simulation`.
impl From<SimError> for Error {
    fn from(e: SimError) -> Self {
        Error::sim("simulation", e)
    }
}

impl From<rayon::ThreadPoolBuildError> for Error {
    fn from(e: rayon::ThreadPoolBuildError) -> Self {
        Error::Threads(e)
    }
}

/// The message of [`Error::Resource`].
fn resource_message(
    keys: &[String],
    need: f64,
    limit: f64,
    limited_by: MemoryLimit,
    largest: Option<&(String, f64)>,
) -> String {
    use crate::resources::human;
    let kind = if keys.iter().all(|k| k.starts_with("--")) {
        "options"
    } else {
        "config keys"
    };
    let keys = keys
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mostly = largest
        .map(|(what, bytes)| format!(", mostly {what} ({})", human(*bytes)))
        .unwrap_or_default();
    let source = match limited_by {
        MemoryLimit::Flag => "allowed by --max-memory",
        MemoryLimit::Available => "available on this machine",
    };
    format!(
        "{kind} {keys}: the request needs about {}{mostly}, more than the {} {source}; reduce them (or raise --max-memory)",
        human(need),
        human(limit)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_key_before_the_rule() {
        assert_eq!(
            Error::arg("--threads", "must be >= 1").to_string(),
            "`--threads` must be >= 1"
        );
        assert_eq!(
            Error::config("model.p", ": the theory covers p = 1").to_string(),
            "config key `model.p`: the theory covers p = 1"
        );
        assert_eq!(
            Error::input(Key::Sweep("seeds".into()), ": must be >= 1").to_string(),
            "sweep `seeds`: must be >= 1"
        );
        let e: Error = ParamError::rule("sim.members", "must be >= 1").into();
        assert_eq!(e.to_string(), "config key `sim.members` must be >= 1");
        assert_eq!(e.key().as_deref(), Some("sim.members"));
        let p = Error::Parse {
            origin: "a.toml".into(),
            line: Some(3),
            key: Some("model.n".into()),
            message: "config key `model.n`: invalid type".into(),
        };
        assert_eq!(
            p.to_string(),
            "a.toml:3: config key `model.n`: invalid type"
        );
    }

    #[test]
    fn kinds_decide_exit_codes() {
        let cases: [(Error, u8); 6] = [
            (Error::arg("--n", "must be at least 1"), 2),
            (
                Error::Resource {
                    keys: vec!["model.n".into()],
                    need: 2e9,
                    limit: 1e9,
                    limited_by: MemoryLimit::Flag,
                    largest: None,
                },
                2,
            ),
            (SimError::Cancelled { t: 1.0 }.into(), 130),
            (
                SimError::Diverged {
                    t: 1.0,
                    step: 10,
                    quantity: "z".into(),
                    value: f64::INFINITY,
                }
                .into(),
                1,
            ),
            (
                Error::Cell {
                    index: 3,
                    error: Box::new(Error::config("model.n", "must be > 0")),
                },
                2,
            ),
            (Error::Internal("bug".into()), 1),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }
}
