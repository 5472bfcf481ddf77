//! Checkpoints of `hdgan run`: `--checkpoint-every DT` saves every member's engine state,
//! random stream and recorded states every DT units of time into `<out>.checkpoint/`
//! (written to a temporary file, fsynced and renamed, so a kill at any moment leaves the
//! previous checkpoint whole); `--resume DIR` continues from it. The final outputs of a
//! resumed run are byte-identical to an uninterrupted run's (CSV, NPY, figures,
//! config.toml; `run.json` differs in timings and says it was resumed). The folder is
//! removed when the run completes, and kept when it fails or is interrupted.

use anyhow::{Context, Result};
use hdgan_core::Trajectory;
use hdgan_experiments::InputError;
use hdgan_experiments::run::MemberStore;
use hdgan_micro_sim::{Checkpoint, EngineKind, Member};
use hdgan_model::random::SimRng;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Format of the checkpoint files; a checkpoint of another format is refused.
pub const FORMAT: u32 = 1;

const REQUEST: &str = "request.json";
const STATE: &str = "state.bin";

/// What is needed to continue a run: the request as given, and where its outputs go.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResumeInfo {
    /// [`FORMAT`].
    pub format: u32,
    /// hdgan version that wrote it (a checkpoint is restored only by the same version).
    pub hdgan_version: String,
    /// Git revision that wrote it.
    pub git_revision: String,
    /// Config name (file stem).
    pub name: String,
    /// The config file's text (None: the embedded default).
    pub config_text: Option<String>,
    /// The config file's path as given (for messages and the output's input check).
    pub config_path: Option<PathBuf>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--engine`.
    pub engine: Option<EngineKind>,
    /// The output folder the run will write.
    pub out: PathBuf,
    /// `--overwrite`.
    pub overwrite: bool,
    /// `--checkpoint-every`, in units of t.
    pub every: f64,
}

#[derive(Serialize, Deserialize)]
struct StateFile<S> {
    format: u32,
    hdgan_version: String,
    steps_done: u64,
    members: Vec<MemberState<S>>,
}

#[derive(Serialize, Deserialize)]
struct MemberState<S> {
    engine: Vec<u8>,
    rng: [u64; 4],
    trajectory: Trajectory<S>,
}

/// A run's checkpoint folder.
#[derive(Clone, Debug)]
pub struct CheckpointDir {
    dir: PathBuf,
    /// The request it continues.
    pub info: ResumeInfo,
}

/// The checkpoint folder of an output folder: `<out>.checkpoint` beside it.
pub fn folder_for(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    out.with_file_name(format!("{name}.checkpoint"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

impl CheckpointDir {
    /// Creates the checkpoint folder of a new run (before any work); refuses when one
    /// exists already (an interrupted run to resume, or someone else's folder).
    pub fn create(info: ResumeInfo) -> Result<Self, InputError> {
        let dir = folder_for(&info.out);
        if fs::symlink_metadata(&dir).is_ok() {
            return Err(InputError(format!(
                "`--checkpoint-every`: the checkpoint folder `{}` exists (an interrupted run?); continue it with `hdgan run --resume {}`, or move it away",
                dir.display(),
                dir.display()
            )));
        }
        let json = serde_json::to_string_pretty(&info)
            .map_err(|e| InputError(format!("cannot describe the checkpoint: {e}")))?;
        fs::create_dir(&dir)
            .and_then(|()| write_atomic(&dir.join(REQUEST), json.as_bytes()))
            .map_err(|e| {
                fs::remove_dir_all(&dir).ok();
                InputError(format!(
                    "`--checkpoint-every`: cannot create the checkpoint folder `{}`: {e}",
                    dir.display()
                ))
            })?;
        Ok(Self { dir, info })
    }

    /// Opens a checkpoint folder for `--resume` (the folder itself, or an output folder
    /// whose `<out>.checkpoint` exists).
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let dir = if path.join(REQUEST).is_file() {
            path.to_path_buf()
        } else if folder_for(path).join(REQUEST).is_file() {
            folder_for(path)
        } else {
            return Err(InputError(format!(
                "`--resume` `{}`: not a checkpoint folder (no {REQUEST}; checkpoints are written by `hdgan run --checkpoint-every DT` into <out>.checkpoint)",
                path.display()
            )));
        };
        let text = fs::read_to_string(dir.join(REQUEST))
            .map_err(|e| InputError(format!("`--resume` `{}`: {e}", dir.display())))?;
        let info: ResumeInfo = serde_json::from_str(&text).map_err(|e| {
            InputError(format!(
                "`--resume` `{}`: {REQUEST} is not a checkpoint description ({e})",
                dir.display()
            ))
        })?;
        let (version, _) = crate::provenance::build_info();
        if info.format != FORMAT || info.hdgan_version != version {
            return Err(InputError(format!(
                "`--resume` `{}`: written by hdgan {} (checkpoint format {}), this is hdgan {version} (format {FORMAT}); resume with the version that wrote it",
                dir.display(),
                info.hdgan_version,
                info.format
            )));
        }
        if !dir.join(STATE).is_file() {
            return Err(InputError(format!(
                "`--resume` `{}`: no {STATE} yet (the run stopped before its first checkpoint); start it again",
                dir.display()
            )));
        }
        Ok(Self { dir, info })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Saves every member (atomically: the previous checkpoint stays whole until the new
    /// one is complete).
    pub fn save<E>(&self, members: &[Member<E>]) -> Result<()>
    where
        E: Checkpoint,
        E::State: Serialize,
    {
        let (version, _) = crate::provenance::build_info();
        let file = StateFile {
            format: FORMAT,
            hdgan_version: version.to_owned(),
            steps_done: members.first().map_or(0, |m| m.engine.steps_done()),
            members: members
                .iter()
                .map(|m| MemberState {
                    engine: m.engine.save_state(),
                    rng: m.rng.state(),
                    trajectory: m.trajectory.clone(),
                })
                .collect(),
        };
        let bytes = postcard::to_stdvec(&file).context("cannot encode the checkpoint")?;
        write_atomic(&self.dir.join(STATE), &bytes)
            .with_context(|| format!("cannot write the checkpoint `{}`", self.dir.display()))
    }

    /// Restores every member from the checkpoint into engines freshly built for the same
    /// request; returns the step reached.
    pub fn restore<E>(&self, members: &mut [Member<E>]) -> Result<u64, InputError>
    where
        E: Checkpoint,
        E::State: serde::de::DeserializeOwned,
    {
        let bad = |why: String| {
            InputError(format!(
                "`--resume` `{}`: {why}",
                self.dir.join(STATE).display()
            ))
        };
        let bytes = fs::read(self.dir.join(STATE)).map_err(|e| bad(e.to_string()))?;
        let file: StateFile<E::State> =
            postcard::from_bytes(&bytes).map_err(|e| bad(format!("corrupt checkpoint ({e})")))?;
        if file.members.len() != members.len() {
            return Err(bad(format!(
                "holds {} members, the config has {}",
                file.members.len(),
                members.len()
            )));
        }
        for (m, s) in members.iter_mut().zip(file.members) {
            m.engine
                .restore_state(&s.engine)
                .map_err(|e| bad(e.to_string()))?;
            if m.engine.steps_done() != file.steps_done {
                return Err(bad("members at different steps".into()));
            }
            m.rng = SimRng::from_state(s.rng);
            m.trajectory = s.trajectory;
        }
        Ok(file.steps_done)
    }

    /// Removes the folder (the run completed): only the files hdgan wrote there, then the
    /// folder if it is empty.
    pub fn finish(self) {
        for f in [REQUEST, STATE, "state.tmp", "request.tmp"] {
            fs::remove_file(self.dir.join(f)).ok();
        }
        fs::remove_dir(&self.dir).ok();
    }
}

/// A checkpoint folder used by a running simulation: saves every `every` units of time,
/// and, when `resume`, starts from the folder's members. Implements the experiments'
/// [`MemberStore`]. The test hook `HDGAN_FAULT_AFTER_CHECKPOINTS=k` aborts the process
/// (like `kill -9`) right after the k-th save.
pub struct Checkpointing<'a> {
    /// The folder.
    pub dir: &'a CheckpointDir,
    /// Whether the run continues from the folder's state.
    pub resume: bool,
    saves: std::sync::atomic::AtomicU64,
    fault_after: Option<u64>,
}

impl<'a> Checkpointing<'a> {
    /// Checkpointing into `dir`, continuing from it when `resume`.
    pub fn new(dir: &'a CheckpointDir, resume: bool) -> Self {
        Self {
            dir,
            resume,
            saves: std::sync::atomic::AtomicU64::new(0),
            fault_after: std::env::var("HDGAN_FAULT_AFTER_CHECKPOINTS")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }
}

impl MemberStore for Checkpointing<'_> {
    fn every_steps(&self, n: usize) -> u64 {
        ((self.dir.info.every * n as f64).round() as u64).max(1)
    }

    fn restore<E>(&self, members: &mut [Member<E>]) -> Result<Option<u64>>
    where
        E: Checkpoint,
        E::State: serde::de::DeserializeOwned,
    {
        if !self.resume {
            return Ok(None);
        }
        Ok(Some(self.dir.restore(members)?))
    }

    fn save<E>(&self, members: &[Member<E>]) -> Result<()>
    where
        E: Checkpoint,
        E::State: Serialize,
    {
        self.dir.save(members)?;
        let k = self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        // Fault injection for the kill/resume tests: die like `kill -9` (no cleanup)
        // right after the k-th checkpoint.
        if self.fault_after.is_some_and(|f| k >= f) {
            std::process::abort();
        }
        Ok(())
    }
}
