//! The errors of hdgan's outputs: refusals of a folder before any work (exit 2, like any
//! bad input), and failures to write, read back, draw or encode (exit 1). The experiments'
//! errors pass through unchanged, so a command that runs an experiment and writes its
//! files has one error type.

use hdgan_experiments::error::rule_separator;
use hdgan_experiments::{ErrorKind, Key};
use std::path::{Path, PathBuf};

/// The result of the report's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An output's error. Messages are one line and name the path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A folder or file the command was asked to use is refused before any work: an
    /// output folder that exists, a damaged or foreign checkpoint, another sweep's folder.
    /// `key` names the flag, config key or path; `rule` says why.
    #[error("{key}{}{rule}", rule_separator(rule))]
    Input {
        /// What was given.
        key: Key,
        /// Why it is refused, phrased to follow the key.
        rule: String,
    },
    /// A file or folder operation failed (a full disk, a permission, a vanished folder).
    /// A file inside an output folder's staging folder is named by the output folder
    /// (the user's name for it), e.g. "cannot write the output folder `res` (sim.csv)".
    #[error("{}: {error}", crate::output::describe_path(action, path))]
    Io {
        /// What hdgan was doing (`write`, `create`, `rename into`).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The output folder appeared while hdgan ran (another process wrote it): the outputs
    /// stay in their staging folder.
    #[error("`{}` appeared while hdgan ran; the outputs are kept in `{}`", path.display(), kept.display())]
    Taken {
        /// The output folder.
        path: PathBuf,
        /// Where the outputs are.
        kept: PathBuf,
    },
    /// A file hdgan reads back (an `.npy`) is not what hdgan writes.
    #[error("`{}` {what}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, phrased to follow the path.
        what: String,
    },
    /// A figure or picture cannot be drawn.
    #[error("{}: {message}", crate::output::describe_path("draw", path))]
    Plot {
        /// The image file.
        path: PathBuf,
        /// The plotting library's message.
        message: String,
    },
    /// A value cannot be encoded (as JSON, TOML, or a checkpoint's bytes), or a table
    /// cannot be written in its format.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// The encoder's message.
        message: String,
    },
    /// An experiment's error (a refused request, a failed computation).
    #[error(transparent)]
    Experiments(#[from] hdgan_experiments::Error),
}

impl Error {
    /// A refusal of `key` (phrased to follow it).
    pub fn input(key: Key, rule: impl Into<String>) -> Self {
        Error::Input {
            key,
            rule: rule.into(),
        }
    }

    /// An I/O failure while doing `action` on `path`.
    pub fn io(action: &'static str, path: &Path, error: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            error,
        }
    }

    /// A failure to encode `what`.
    pub fn encode(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Encode {
            what: what.into(),
            message: message.to_string(),
        }
    }

    /// Which of the four outcomes this is (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Input { .. } => ErrorKind::Input,
            Error::Io { .. }
            | Error::Taken { .. }
            | Error::Malformed { .. }
            | Error::Plot { .. }
            | Error::Encode { .. } => ErrorKind::Failed,
            Error::Experiments(e) => e.kind(),
        }
    }

    /// The command line's exit status ([`ErrorKind::exit_code`]).
    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }
}

/// The report's errors as the experiments see them through their stores and sinks
/// (`MemberStore`, `CellSink`): refusals as [`hdgan_experiments::Error::Input`], the
/// experiments' own errors unchanged, the rest as [`hdgan_experiments::Error::Output`].
impl From<Error> for hdgan_experiments::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Input { key, rule } => hdgan_experiments::Error::Input { key, rule },
            Error::Experiments(e) => e,
            other => hdgan_experiments::Error::Output(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_kind_through_the_experiments() {
        let e = Error::input(Key::arg("--resume"), "`x`: not a checkpoint folder");
        assert_eq!(e.to_string(), "`--resume` `x`: not a checkpoint folder");
        assert_eq!(e.exit_code(), 2);
        let through: hdgan_experiments::Error = e.into();
        assert_eq!(through.exit_code(), 2);
        assert_eq!(
            through.to_string(),
            "`--resume` `x`: not a checkpoint folder"
        );
        let io = Error::io(
            "write",
            Path::new("a/b"),
            std::io::ErrorKind::StorageFull.into(),
        );
        assert_eq!(io.exit_code(), 1);
        let msg = io.to_string();
        let through: hdgan_experiments::Error = io.into();
        assert_eq!((through.exit_code(), through.to_string()), (1, msg));
        let back = Error::from(hdgan_experiments::Error::Cancelled);
        assert_eq!(back.exit_code(), 130);
    }

    #[test]
    fn a_file_being_staged_is_named_by_its_output_folder() {
        let full = || std::io::Error::from(std::io::ErrorKind::StorageFull);
        let staged = Error::io("write", Path::new("out/.res.partial-42/sim.csv"), full());
        let msg = staged.to_string();
        assert!(
            msg.starts_with("cannot write the output folder `out/res` (sim.csv): "),
            "{msg}"
        );
        let plain = Error::io("write", Path::new("out/.res.old/sim.csv"), full());
        assert!(
            plain
                .to_string()
                .starts_with("cannot write `out/.res.old/sim.csv`: ")
        );
        let fig = Error::Plot {
            path: PathBuf::from(".fig1.partial-7/figure.svg"),
            message: "no space".into(),
        };
        assert_eq!(
            fig.to_string(),
            "cannot write the output folder `fig1` (figure.svg, drawing it): no space"
        );
    }
}
