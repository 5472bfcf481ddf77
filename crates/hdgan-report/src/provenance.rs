//! Provenance: what every output folder records about how it was made (hdgan version, git
//! revision, name, seed, thread count, the configuration), in one place for every command.

use serde::Serialize;
use serde_json::{Value, json};

/// The crate version and the git revision hdgan was built from (`unknown` outside a git
/// checkout; `-dirty` when the tree had uncommitted changes).
pub fn build_info() -> (&'static str, &'static str) {
    (env!("CARGO_PKG_VERSION"), env!("HDGAN_GIT_REVISION"))
}

/// The provenance block of an output's JSON file; commands add their own keys to
/// [`Provenance::json`]'s object.
#[derive(Clone, Debug)]
pub struct Provenance {
    value: Value,
}

impl Provenance {
    /// Version, git revision and the output's name.
    pub fn new(name: &str) -> Self {
        let (version, revision) = build_info();
        Self {
            value: json!({
                "hdgan_version": version,
                "git_revision": revision,
                "name": name,
            }),
        }
    }

    /// Adds the configuration that made the output.
    pub fn config(mut self, config: &impl Serialize) -> Self {
        self.value["config"] = serde_json::to_value(config).unwrap_or(Value::Null);
        self
    }

    /// Adds the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.value["seed"] = json!(seed);
        self
    }

    /// Adds the worker thread count (null: one per core).
    pub fn threads(mut self, threads: Option<usize>) -> Self {
        self.value["threads"] = json!(threads);
        self
    }

    /// The JSON object.
    pub fn json(self) -> Value {
        self.value
    }
}

/// `VERSION (GIT_REVISION)`, as `hdgan --version` prints it.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("HDGAN_GIT_REVISION"),
    ")"
);
