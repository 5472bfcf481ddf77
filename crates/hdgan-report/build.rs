//! Records the git revision of the source tree for `run.json` and `--version`.

use std::process::Command;

fn main() {
    let rev = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let rev = match rev {
        Some(r) if dirty => format!("{r}-dirty"),
        Some(r) => r,
        None => "unknown".to_owned(),
    };
    println!("cargo:rustc-env=HDGAN_GIT_REVISION={rev}");
    // Re-run when HEAD moves (the branch ref changes on commit) or the index changes.
    let mut watch = vec!["../../.git/HEAD".to_owned(), "../../.git/index".to_owned()];
    if let Ok(head) = std::fs::read_to_string("../../.git/HEAD")
        && let Some(r) = head.trim().strip_prefix("ref: ")
    {
        watch.push(format!("../../.git/{r}"));
    }
    for p in watch {
        if std::path::Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
