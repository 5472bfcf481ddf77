//! One module per command: each checks its request and output folder before any work,
//! runs the experiment from `hdgan-experiments`, writes with `hdgan-report`, and prints.

pub mod check;
pub mod escape;
pub mod fluctuations;
pub mod measure;
pub mod modes;
pub mod phase;
pub mod run;
pub mod sweep;
pub mod train_data;

use crate::print::open_output;
use hdgan_report::output::{OutputRequest, StagedDir};
use std::path::{Path, PathBuf};

/// Where a command writes its folder: `--out` and `--overwrite`, shared by every command
/// that writes one.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct OutArgs {
    /// Output folder (default: the config's [output] dir, else out/<name>, numbered -2,
    /// -3, ... when taken). An existing non-empty folder is refused without --overwrite.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace the folder named by --out (or [output] dir) if it is an earlier hdgan
    /// output folder holding only hdgan's files. Never a file, a link, the current folder
    /// or a folder holding an input.
    #[arg(long)]
    pub overwrite: bool,
}

impl OutArgs {
    /// Checks the output folder (`--out`, else `config_dir`, else `out/<default_name>`)
    /// and creates its staging folder before any work; `input` may not be inside it.
    pub fn open(
        &self,
        config_dir: Option<&Path>,
        default_name: &str,
        input: Option<&Path>,
    ) -> hdgan_report::Result<StagedDir> {
        open_output(
            &OutputRequest::choose(
                self.out.as_deref(),
                config_dir,
                PathBuf::from("out").join(default_name),
                self.overwrite,
            )
            .with_input(input),
        )
    }
}
