//! What every command-line test file needs: the binary, run in a folder.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `hdgan` binary with `args` in `cwd` and waits for it.
pub fn hdgan(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hdgan"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run hdgan")
}
