//! hdgan's outputs: everything that turns an experiment's typed results (from
//! `hdgan-experiments`) into files a user keeps.
//!
//! - [`output`]: output folders that never destroy what a user has: checked before any
//!   work, written into a staging folder and renamed into place atomically, replaceable
//!   only when they are an earlier hdgan output; CSV, NPY and JSON writers.
//! - [`provenance`]: the version, git revision, name, seed, threads and configuration
//!   every output records.
//! - [`write`](mod@write): the files of each experiment (tables, figures, provenance).
//! - [`figures`] and [`plot`]: the figures, rendered to SVG and PNG with an embedded font.
//! - [`checkpoint`]: checkpoint folders of long runs (save, resume).
//! - [`tables`]: rows of the CSV files and the text tables the command line prints.
//! - [`error`]: the [`Error`] of every function here (the experiments' errors pass
//!   through it).
//!
//! # Example
//!
//! A small Figure 1 run written to a folder (staged, then committed atomically):
//!
//! ```
//! use hdgan_experiments::run::{ConfigSource, RunSource, prepare, run_phases, simulate};
//! use hdgan_experiments::{Control, reference};
//! use hdgan_report::output::StagedDir;
//!
//! let tmp = tempfile::tempdir()?;
//! let text = reference::figure1_config(300, 5.0);
//! let valid = prepare(&RunSource {
//!     config: ConfigSource::Text { name: "fig1".into(), origin: "example".into(), text },
//!     ..RunSource::default()
//! })?;
//! let run = simulate(&valid, Some(1), Control::default())?;
//! let staged = StagedDir::new(&tmp.path().join("fig1"))?;
//! hdgan_report::write::write_run(&valid, &run, &run_phases(&valid, &run), Some(1), &staged)?;
//! let dir = staged.commit()?;
//! assert!(dir.join("sim.csv").is_file() && dir.join("figure.svg").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod checkpoint;
pub mod error;
pub mod figures;
pub mod output;
pub mod pictures;
pub mod plot;
pub mod provenance;
pub mod sweep;
pub mod tables;
pub mod write;

pub use error::{Error, Result};
pub use provenance::build_info;
