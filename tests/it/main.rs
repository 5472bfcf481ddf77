//! Workspace integration tests: cross-crate properties that need more than one crate.
//! Statistical checks here are sized to run in seconds; the heavy ones live in
//! `cargo xtask validate`.

mod configs;
mod drift;
mod law;
mod lna;
mod ode;
mod sim;
mod tidy;
