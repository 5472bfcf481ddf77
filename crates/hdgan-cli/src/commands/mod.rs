//! One module per command: each checks its request and output folder before any work,
//! runs the experiment from `hdgan-experiments`, writes with `hdgan-report`, and prints.

pub mod measure;
pub mod modes;
pub mod phase;
pub mod run;
pub mod train_data;
