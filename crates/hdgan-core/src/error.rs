use thiserror::Error;

/// A parameter broke a validation rule. Every variant names the configuration key (a dotted
/// path such as `model.latent.cov`) and the rule, so that a user can fix the input from the
/// one-line message alone.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ParamError {
    /// A value that must be a finite number is NaN or infinite.
    #[error("`{key}` must be a finite number, got {value}")]
    NotFinite {
        /// Configuration key.
        key: String,
        /// The offending value.
        value: f64,
    },
    /// A value that must be strictly positive is not.
    #[error("`{key}` must be > 0, got {value}")]
    NotPositive {
        /// Configuration key.
        key: String,
        /// The offending value.
        value: f64,
    },
    /// A value that must be non-negative (a variance, a norm) is negative.
    #[error("`{key}` must be >= 0, got {value}")]
    Negative {
        /// Configuration key.
        key: String,
        /// The offending value.
        value: f64,
    },
    /// A matrix that must be symmetric is not.
    #[error("`{key}` must be symmetric: entry [{i}][{j}] = {a} but [{j}][{i}] = {b}")]
    NotSymmetric {
        /// Configuration key.
        key: String,
        /// Row of the first entry (0-based).
        i: usize,
        /// Column of the first entry (0-based).
        j: usize,
        /// Value at `[i][j]`.
        a: f64,
        /// Value at `[j][i]`.
        b: f64,
    },
    /// A symmetric matrix that must be positive semi-definite has a negative eigenvalue.
    #[error(
        "`{key}` must be positive semi-definite, but its smallest eigenvalue is {min_eigenvalue:e}"
    )]
    NotPositiveSemiDefinite {
        /// Configuration key.
        key: String,
        /// The smallest eigenvalue found.
        min_eigenvalue: f64,
    },
    /// An array has the wrong shape.
    #[error("`{key}` must have shape {expected}, got {found}")]
    Shape {
        /// Configuration key.
        key: String,
        /// The shape required, in words (e.g. `2 x 2`).
        expected: String,
        /// The shape given.
        found: String,
    },
    /// Any other rule, stated in words.
    #[error("`{key}` {rule}")]
    Rule {
        /// Configuration key.
        key: String,
        /// The rule that was broken, phrased to follow the key (e.g. `must be < n = 100, got 200`).
        rule: String,
    },
}

impl ParamError {
    /// The configuration key this error is about.
    pub fn key(&self) -> &str {
        match self {
            ParamError::NotFinite { key, .. }
            | ParamError::NotPositive { key, .. }
            | ParamError::Negative { key, .. }
            | ParamError::NotSymmetric { key, .. }
            | ParamError::NotPositiveSemiDefinite { key, .. }
            | ParamError::Shape { key, .. }
            | ParamError::Rule { key, .. } => key,
        }
    }

    /// Shorthand for [`ParamError::Rule`].
    pub fn rule(key: impl Into<String>, rule: impl Into<String>) -> Self {
        ParamError::Rule {
            key: key.into(),
            rule: rule.into(),
        }
    }
}
