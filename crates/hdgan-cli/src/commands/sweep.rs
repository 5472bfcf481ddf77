//! `hdgan sweep`: run a sweep's cells (all, or one shard), merge them into one table, or
//! count what is done.

use crate::error::Error;
use crate::error::Result;
use crate::outln;
use crate::progress::{Progress, with_control};
use hdgan_experiments::Error as Refusal;
use hdgan_experiments::sweep::{load, parse_shard, shard_cells, slurm_shard};
use hdgan_report::sweep::{SweepDir, merge, status};
use std::path::{Path, PathBuf};

/// Runs the cells of `file` that `shard` (or Slurm's array variables) selects and that have
/// not finished in the output folder; merges the table when every cell has finished.
pub fn execute(
    file: &Path,
    out: Option<PathBuf>,
    shard: Option<&str>,
    threads: Option<usize>,
    progress: Progress,
) -> Result<()> {
    let sweep = load(file)?;
    if !sweep.cells.is_empty() {
        crate::print::deprecations(&sweep.name, sweep.valid(0)?.model());
    }
    let shard = match shard {
        Some(s) => Some(parse_shard(s)?),
        None => slurm_shard()?,
    };
    let root = out.unwrap_or_else(|| default_out(&sweep.name));
    let mine = shard_cells(sweep.cells.len(), shard.unwrap_or((0, 1)));
    // Refusals (threads, memory) before the folder exists.
    hdgan_experiments::resources::check_threads(threads)?;
    let (_, bytes) = sweep.plan(&mine, threads)?;
    let dir = SweepDir::open(&root, &sweep)?;
    let todo: Vec<usize> = mine.iter().copied().filter(|&i| !dir.done(i)).collect();
    let (steps, _) = sweep.plan(&todo, threads)?;
    outln!(
        "sweep {}: {} cells{}, {} to run here ({} already done), {:.3e} SGDA steps, memory about {}",
        sweep.name,
        sweep.cells.len(),
        shard.map_or(String::new(), |(k, n)| format!(
            ", shard {k}/{n} has {}",
            mine.len()
        )),
        todo.len(),
        mine.len() - todo.len(),
        steps,
        hdgan_experiments::resources::human(bytes)
    );
    with_control(progress, |ctl| sweep.run_cells(&todo, threads, ctl, &dir))?;
    let st = status(&root)?;
    if st.done == st.total {
        let table = merge(&root)?;
        outln!(
            "wrote {} ({} cells, {} diverged)",
            table.display(),
            st.total,
            st.diverged
        );
    } else {
        outln!(
            "{}: {} of {} cells done; merge with `hdgan sweep merge {}` when every shard has run",
            root.display(),
            st.done,
            st.total,
            root.display()
        );
    }
    Ok(())
}

/// `hdgan sweep merge DIR`.
pub fn merge_dir(root: &Path) -> Result<()> {
    let table = merge(root)?;
    outln!("wrote {}", table.display());
    Ok(())
}

/// `hdgan sweep status DIR`.
pub fn status_dir(root: &Path) -> Result<()> {
    let st = status(root)?;
    outln!(
        "{}: {} cells: {} done ({} diverged), {} running or interrupted, {} missing",
        root.display(),
        st.total,
        st.done,
        st.diverged,
        st.running,
        st.missing
    );
    Ok(())
}

fn default_out(name: &str) -> PathBuf {
    PathBuf::from("out").join(name)
}

/// `hdgan sweep submit --slurm`.
#[derive(clap::Args, Debug)]
pub struct Submit {
    /// The sweep file (TOML).
    pub file: PathBuf,
    /// Submit to Slurm (the only scheduler supported).
    #[arg(long, required = true)]
    pub slurm: bool,
    /// Number of shards (array tasks).
    #[arg(long, default_value_t = 4)]
    pub shards: usize,
    /// Slurm partition (default: the cluster's default).
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per task, in Slurm's format (e.g. 02:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task (the task's worker threads).
    #[arg(long, default_value_t = 1)]
    pub cpus: usize,
    /// Output folder (default out/<sweep file stem>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the script instead of writing and submitting it.
    #[arg(long)]
    pub dry_run: bool,
}

/// A value for a bash script, single-quoted.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Writes the job-array script into the sweep folder and submits it (or prints it).
pub fn submit(a: &Submit) -> Result<()> {
    let sweep = load(&a.file)?;
    let bad = |flag: &str, rule: &str| Error::from(Refusal::arg(flag, rule));
    if a.shards == 0 {
        return Err(bad("--shards", "must be >= 1"));
    }
    if a.cpus == 0 {
        return Err(bad("--cpus", "must be >= 1"));
    }
    for (flag, v) in [("--partition", &a.partition), ("--time", &a.time)] {
        if let Some(v) = v
            && (v.is_empty() || v.chars().any(|c| c.is_whitespace() || c == '\''))
        {
            return Err(bad(flag, "must be one word without quotes"));
        }
    }
    let abs = |p: &Path| -> Result<PathBuf> {
        Ok(if p.is_absolute() {
            p.to_owned()
        } else {
            let io = |error| Error::Io {
                action: "resolve",
                path: p.to_owned(),
                error,
            };
            std::env::current_dir().map_err(io)?.join(p)
        })
    };
    let root = abs(&a.out.clone().unwrap_or_else(|| default_out(&sweep.name)))?;
    let file = abs(&a.file)?;
    let exe = std::env::current_exe().map_err(|error| Error::Io {
        action: "find the hdgan executable",
        path: PathBuf::from("hdgan"),
        error,
    })?;
    let shards = a.shards.min(sweep.cells.len());
    let mut script = format!(
        "#!/bin/bash\n# hdgan sweep {name}: {cells} cells in {shards} array tasks; each task runs the cells\n\
         # i with i mod {shards} = SLURM_ARRAY_TASK_ID (hdgan reads the array variables).\n\
         #SBATCH --job-name=hdgan-{name}\n#SBATCH --array=0-{last}\n#SBATCH --cpus-per-task={cpus}\n\
         #SBATCH --output={logs}/shard-%a.log\n",
        name = sweep.name,
        cells = sweep.cells.len(),
        last = shards - 1,
        cpus = a.cpus,
        logs = root.join("logs").display(),
    );
    if let Some(p) = &a.partition {
        script.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(t) = &a.time {
        script.push_str(&format!("#SBATCH --time={t}\n"));
    }
    script.push_str(&format!(
        "set -euo pipefail\nexec {} sweep {} --out {} --threads {}\n",
        quoted(&exe.display().to_string()),
        quoted(&file.display().to_string()),
        quoted(&root.display().to_string()),
        a.cpus
    ));
    if a.dry_run {
        outln!("{script}");
        return Ok(());
    }
    let sbatch = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("sbatch").is_file()))
        .unwrap_or(false);
    if !sbatch {
        return Err(bad(
            "--slurm",
            "needs sbatch on PATH (not found); --dry-run prints the script",
        ));
    }
    SweepDir::open(&root, &sweep)?;
    let io = |action, path: &Path| {
        let path = path.to_owned();
        move |error| Error::Io {
            action,
            path,
            error,
        }
    };
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).map_err(io("create", &logs))?;
    let path = root.join("submit.sbatch");
    std::fs::write(&path, &script).map_err(io("write", &path))?;
    let out = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(io("submit with sbatch", &path))?;
    if !out.status.success() {
        return Err(Error::Sbatch(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    let job = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    outln!(
        "submitted job {job}: {} cells in {shards} tasks; `hdgan sweep status {}` follows it, `hdgan sweep merge {}` builds the table",
        sweep.cells.len(),
        root.display(),
        root.display()
    );
    Ok(())
}
