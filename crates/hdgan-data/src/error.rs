use std::path::Path;
use thiserror::Error;

/// Failures reading or preparing real data. Every variant names the file.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file or folder could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not what it should be (magic, sizes, truncation, labels).
    #[error("{path}: {what}")]
    Malformed {
        /// The path.
        path: String,
        /// What is wrong, in words.
        what: String,
    },
    /// A request the data cannot satisfy (d larger than the dimension, too few images).
    #[error("{what}")]
    Invalid {
        /// What is wrong, in words.
        what: String,
    },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn malformed(path: &Path, what: impl Into<String>) -> Self {
        DataError::Malformed {
            path: path.display().to_string(),
            what: what.into(),
        }
    }
}
