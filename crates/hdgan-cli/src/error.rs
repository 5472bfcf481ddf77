//! The command line's error: the libraries' typed errors, and the few failures of its own
//! (submitting a sweep to Slurm). The exit status comes from the variant
//! ([`Error::exit_code`]), never from the message.

use std::path::PathBuf;

/// The result of a command.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An experiment's error (bad input, a resource refusal, a failed computation).
    #[error(transparent)]
    Experiments(#[from] hdgan_experiments::Error),
    /// An output's error (a refused folder, a failing disk), or an experiment's passing
    /// through the output layer.
    #[error(transparent)]
    Report(#[from] hdgan_report::Error),
    /// A file operation of the command itself failed.
    #[error("cannot {action} `{}`: {error}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// `sbatch` refused the job script (its message).
    #[error("sbatch failed: {0}")]
    Sbatch(String),
}

impl Error {
    /// The exit status: the libraries' ([`hdgan_experiments::ErrorKind::exit_code`]: 2 bad
    /// input or resources, 130 cancelled, 1 failures); 1 for the command's own failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Experiments(e) => e.exit_code(),
            Error::Report(e) => e.exit_code(),
            Error::Io { .. } | Error::Sbatch(_) => 1,
        }
    }
}
