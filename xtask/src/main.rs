//! Project tasks. `cargo xtask validate [--quick]` runs every theorem-level check, prints a
//! PASS/FAIL table and writes `target/validate/report.md` with plots.

mod stats;
mod validate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "xtask", about = "hdgan project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the validation checks (every claim of the theory, each with a measured figure
    /// and a tolerance) and write a report with plots.
    Validate {
        /// Smaller sizes (minutes, for CI).
        #[arg(long)]
        quick: bool,
        /// Run only these checks (repeatable).
        #[arg(long)]
        only: Vec<String>,
        /// List the checks and exit.
        #[arg(long)]
        list: bool,
        /// Output folder for the report and plots.
        #[arg(long, default_value = "target/validate")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG=info shows a span per check with its time; debug adds runs and ODE solves.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .try_init();
    match cli.command {
        Command::Validate {
            quick,
            only,
            list,
            out,
        } => {
            if list {
                for c in validate::all_checks() {
                    println!("{:<32} {}", c.name, c.claim);
                }
                return ExitCode::SUCCESS;
            }
            match validate::run(quick, &only, &out) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => {
                    eprintln!("validation FAILED");
                    ExitCode::from(1)
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
