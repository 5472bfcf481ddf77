//! Checkpoints of `hdgan run`: `--checkpoint-every DT` saves every member's engine state,
//! random stream and recorded states every DT units of time into `<out>.checkpoint/`
//! (written to a temporary file, fsynced and renamed, so a kill at any moment leaves the
//! previous checkpoint whole); `--resume DIR` continues from it. The final outputs of a
//! resumed run are byte-identical to an uninterrupted run's (CSV, NPY, figures,
//! config.toml; `run.json` differs in timings and says it was resumed). The folder is
//! removed when the run completes, and kept when it fails or is interrupted.
//!
//! Both files check themselves, so a damaged or foreign checkpoint is refused (exit 2, one
//! line saying which file and why) and never resumed into wrong numbers:
//!
//! - `request.json` is `{"format", "sha256", "request"}`: the request's JSON text and the
//!   SHA-256 of exactly those bytes.
//! - `state.bin` is a header (magic `HDGANCKP`, format, the SHA-256 of the request text it
//!   belongs to, the payload's length), the payload (postcard) and the SHA-256 of all that.
//!
//! `--resume` checks, before any work: request.json's format, checksum and hdgan version;
//! state.bin's checksum (a flipped bit or a truncation anywhere), magic, format, length and
//! that it belongs to this request.json (another run's state is refused).

use crate::{Error, Result};
use hdgan_core::Trajectory;
use hdgan_experiments::Key;
use hdgan_experiments::run::MemberStore;
use hdgan_micro_sim::{Checkpoint, EngineKind, Member};
use hdgan_model::random::SimRng;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Format of the checkpoint files; a checkpoint of another format is refused. Format 1
/// (hdgan <= 0.x before checksums) had no checksums.
pub const FORMAT: u32 = 2;

/// The first bytes of every `state.bin`.
const MAGIC: &[u8; 8] = b"HDGANCKP";
/// Magic, format (u32), request digest (32 bytes), payload length (u64).
const HEADER: usize = 8 + 4 + 32 + 8;
/// The trailing SHA-256.
const TRAILER: usize = 32;

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

/// `request.json`: the request's text and its checksum.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFile<'a> {
    format: u32,
    sha256: String,
    #[serde(borrow)]
    request: &'a serde_json::value::RawValue,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of `request.json` for `info`, and the digest of its request text (which
/// `state.bin` carries).
fn encode_request(info: &ResumeInfo) -> Result<(String, [u8; 32]), String> {
    let inner = serde_json::to_string_pretty(info).map_err(|e| e.to_string())?;
    let digest = sha256(inner.as_bytes());
    let raw = serde_json::value::RawValue::from_string(inner).map_err(|e| e.to_string())?;
    let file = RequestFile {
        format: FORMAT,
        sha256: hex(&digest),
        request: &raw,
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
    Ok((text + "\n", digest))
}

/// Reads `request.json`'s text: the request it describes and the digest of its request
/// text; every refusal says why in words (format, corruption, version).
fn decode_request(text: &str) -> Result<(ResumeInfo, [u8; 32]), String> {
    let corrupt =
        |why: &str| format!("{REQUEST} is corrupted ({why}); the checkpoint cannot be trusted");
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| corrupt(&format!("not JSON: {e}")))?;
    let format = value.get("format").and_then(serde_json::Value::as_u64);
    match format {
        None => return Err(corrupt("no `format` number")),
        Some(f) if f != u64::from(FORMAT) => {
            return Err(format!(
                "{REQUEST} has checkpoint format {f}, this hdgan reads format {FORMAT} (written by another hdgan version, or corrupted); resume with the version that wrote it, or start the run again"
            ));
        }
        Some(_) => {}
    }
    let file: RequestFile<'_> = serde_json::from_str(text).map_err(|e| corrupt(&format!("{e}")))?;
    let digest = sha256(file.request.get().as_bytes());
    if file.sha256 != hex(&digest) {
        return Err(corrupt("its SHA-256 checksum does not match its contents"));
    }
    let info: ResumeInfo =
        serde_json::from_str(file.request.get()).map_err(|e| corrupt(&format!("{e}")))?;
    let (version, _) = crate::provenance::build_info();
    if info.format != FORMAT || info.hdgan_version != version {
        return Err(format!(
            "written by hdgan {} (checkpoint format {}), this is hdgan {version} (format {FORMAT}); resume with the version that wrote it",
            info.hdgan_version, info.format
        ));
    }
    Ok((info, digest))
}

/// `state.bin`'s bytes: header, payload, checksum.
fn encode_state(request: &[u8; 32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + TRAILER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(request);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = sha256(&out);
    out.extend_from_slice(&sum);
    out
}

/// Checks `state.bin`'s bytes (checksum, magic, format, length, request digest) and
/// returns the payload; every refusal says why in words.
fn decode_state<'a>(bytes: &'a [u8], request: &[u8; 32]) -> Result<&'a [u8], String> {
    let size = bytes.len();
    if size < HEADER + TRAILER {
        return Err(format!(
            "{STATE} is truncated ({size} bytes, less than a checkpoint's {} of header and checksum); the checkpoint cannot be trusted",
            HEADER + TRAILER
        ));
    }
    let declared = u64::from_le_bytes(bytes[44..52].try_into().expect("8 bytes"));
    let (body, sum) = bytes.split_at(size - TRAILER);
    if sha256(body) != sum {
        let expected = declared.saturating_add((HEADER + TRAILER) as u64);
        if &bytes[..8] == MAGIC && expected > size as u64 && expected < (1 << 40) {
            return Err(format!(
                "{STATE} is truncated ({size} of the {expected} bytes its header declares); the checkpoint cannot be trusted"
            ));
        }
        return Err(format!(
            "{STATE} is corrupted (its SHA-256 checksum does not match its {size} bytes); the checkpoint cannot be trusted"
        ));
    }
    if &bytes[..8] != MAGIC {
        return Err(format!(
            "{STATE} is not an hdgan checkpoint state (wrong magic bytes)"
        ));
    }
    let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(format!(
            "{STATE} has checkpoint format {format}, this hdgan reads format {FORMAT}"
        ));
    }
    if declared != (size - HEADER - TRAILER) as u64 {
        return Err(format!(
            "{STATE} is corrupted (its header declares {declared} payload bytes, it holds {})",
            size - HEADER - TRAILER
        ));
    }
    if bytes[12..44] != request[..] {
        return Err(format!(
            "{STATE} belongs to another request than this {REQUEST} (another run's state, or a changed {REQUEST}); the checkpoint cannot be trusted"
        ));
    }
    Ok(&bytes[HEADER..size - TRAILER])
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
    /// SHA-256 of request.json's request text (carried by every state.bin it accepts).
    digest: [u8; 32],
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
    pub fn create(info: ResumeInfo) -> Result<Self> {
        let dir = folder_for(&info.out);
        let refuse = |why: String| Error::input(Key::arg("--checkpoint-every"), why);
        if fs::symlink_metadata(&dir).is_ok() {
            return Err(refuse(format!(
                ": the checkpoint folder `{}` exists (an interrupted run?); continue it with `hdgan run --resume {}`, or move it away",
                dir.display(),
                dir.display()
            )));
        }
        let (json, digest) =
            encode_request(&info).map_err(|e| Error::encode("the checkpoint's request", e))?;
        fs::create_dir(&dir)
            .and_then(|()| write_atomic(&dir.join(REQUEST), json.as_bytes()))
            .map_err(|e| {
                fs::remove_dir_all(&dir).ok();
                refuse(format!(
                    ": cannot create the checkpoint folder `{}`: {e}",
                    dir.display()
                ))
            })?;
        Ok(Self { dir, info, digest })
    }

    /// Opens a checkpoint folder for `--resume` (the folder itself, or an output folder
    /// whose `<out>.checkpoint` exists).
    pub fn open(path: &Path) -> Result<Self> {
        let dir = if path.join(REQUEST).is_file() {
            path.to_path_buf()
        } else if folder_for(path).join(REQUEST).is_file() {
            folder_for(path)
        } else {
            return Err(Error::input(
                Key::arg("--resume"),
                format!(
                    "`{}`: not a checkpoint folder (no {REQUEST}; checkpoints are written by `hdgan run --checkpoint-every DT` into <out>.checkpoint)",
                    path.display()
                ),
            ));
        };
        let bad =
            |why: String| Error::input(Key::arg("--resume"), format!("`{}`: {why}", dir.display()));
        let bytes = fs::read(dir.join(REQUEST)).map_err(|e| bad(format!("{REQUEST}: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            bad(format!(
                "{REQUEST} is corrupted (not UTF-8 text); the checkpoint cannot be trusted"
            ))
        })?;
        let (info, digest) = decode_request(&text).map_err(bad)?;
        let state = match fs::read(dir.join(STATE)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(format!(
                    "no {STATE} yet (the run stopped before its first checkpoint); start it again"
                )));
            }
            Err(e) => return Err(bad(format!("{STATE}: {e}"))),
        };
        decode_state(&state, &digest).map_err(bad)?;
        Ok(Self { dir, info, digest })
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
        let payload = postcard::to_stdvec(&file).map_err(|e| Error::encode("the checkpoint", e))?;
        let bytes = encode_state(&self.digest, &payload);
        write_atomic(&self.dir.join(STATE), &bytes)
            .map_err(|e| Error::io("write the checkpoint", &self.dir, e))
    }

    /// Restores every member from the checkpoint into engines freshly built for the same
    /// request; returns the step reached.
    pub fn restore<E>(&self, members: &mut [Member<E>]) -> Result<u64>
    where
        E: Checkpoint,
        E::State: serde::de::DeserializeOwned,
    {
        let bad = |why: String| {
            Error::input(
                Key::arg("--resume"),
                format!("`{}`: {why}", self.dir.join(STATE).display()),
            )
        };
        let bytes = fs::read(self.dir.join(STATE)).map_err(|e| bad(e.to_string()))?;
        let payload = decode_state(&bytes, &self.digest).map_err(bad)?;
        let file: StateFile<E::State> =
            postcard::from_bytes(payload).map_err(|e| bad(format!("corrupt checkpoint ({e})")))?;
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

    fn restore<E>(&self, members: &mut [Member<E>]) -> hdgan_experiments::Result<Option<u64>>
    where
        E: Checkpoint,
        E::State: serde::de::DeserializeOwned,
    {
        if !self.resume {
            return Ok(None);
        }
        Ok(Some(self.dir.restore(members)?))
    }

    fn save<E>(&self, members: &[Member<E>]) -> hdgan_experiments::Result<()>
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

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ResumeInfo {
        let (version, revision) = crate::provenance::build_info();
        ResumeInfo {
            format: FORMAT,
            hdgan_version: version.to_owned(),
            git_revision: revision.to_owned(),
            name: "reference".into(),
            config_text: Some("[model]\nn = 1000\ntau = 0.1\n".into()),
            config_path: Some("configs/reference.toml".into()),
            seed: Some(7),
            engine: None,
            out: "out/reference".into(),
            overwrite: false,
            every: 100.0,
        }
    }

    /// A payload of the size of a small run's (a few kilobytes of varied bytes).
    fn payload() -> Vec<u8> {
        (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    #[test]
    fn request_and_state_round_trip() {
        let (text, digest) = encode_request(&info()).unwrap();
        let (back, d2) = decode_request(&text).unwrap();
        assert_eq!(d2, digest);
        assert_eq!(back.config_text, info().config_text);
        assert_eq!(back.every.to_bits(), 100f64.to_bits());
        let p = payload();
        let bytes = encode_state(&digest, &p);
        assert_eq!(decode_state(&bytes, &digest).unwrap(), &p[..]);
    }

    #[test]
    fn every_bit_flip_and_truncation_of_request_json_is_refused() {
        let (text, _) = encode_request(&info()).unwrap();
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.to_vec();
                b[i] ^= 1 << bit;
                // A flip that leaves invalid UTF-8 is refused by `open` before this.
                if let Ok(t) = String::from_utf8(b) {
                    assert!(
                        decode_request(&t).is_err(),
                        "flip of bit {bit} at byte {i} accepted"
                    );
                }
            }
        }
        // Every proper prefix but the one missing only the final newline.
        for len in 0..bytes.len() - 1 {
            let t = std::str::from_utf8(&bytes[..len]).unwrap();
            assert!(decode_request(t).is_err(), "truncation at {len} accepted");
        }
    }

    #[test]
    fn every_byte_of_state_bin_is_checked_and_truncations_are_named() {
        let (_, digest) = encode_request(&info()).unwrap();
        let good = encode_state(&digest, &payload());
        for i in 0..good.len() {
            // Every bit of the header and trailer, one bit per payload byte.
            let bits: Vec<u8> = if i < HEADER || i >= good.len() - TRAILER {
                (0..8).collect()
            } else {
                vec![(i % 8) as u8]
            };
            for bit in bits {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                let e = decode_state(&b, &digest).expect_err("a flipped bit was accepted");
                assert!(e.contains(STATE), "{e}");
            }
        }
        for len in 0..good.len() {
            let e = decode_state(&good[..len], &digest).expect_err("truncation accepted");
            assert!(e.contains("truncated"), "truncation at {len}: {e}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(decode_state(&longer, &digest).is_err());
    }

    #[test]
    fn another_requests_state_is_refused() {
        let (_, digest) = encode_request(&info()).unwrap();
        let mut other = info();
        other.seed = Some(8);
        let (_, other_digest) = encode_request(&other).unwrap();
        assert_ne!(digest, other_digest);
        let theirs = encode_state(&other_digest, &payload());
        let e = decode_state(&theirs, &digest).unwrap_err();
        assert!(e.contains("another request"), "{e}");
    }

    #[test]
    fn other_versions_and_the_unchecked_format_1_are_refused() {
        let mut old = info();
        old.hdgan_version = "0.0.0-elsewhere".into();
        let (text, _) = encode_request(&old).unwrap();
        let e = decode_request(&text).unwrap_err();
        assert!(e.contains("written by hdgan 0.0.0-elsewhere"), "{e}");
        // Format 1 wrote the bare request, with no checksum.
        let mut v1 = info();
        v1.format = 1;
        let text = serde_json::to_string_pretty(&v1).unwrap();
        let e = decode_request(&text).unwrap_err();
        assert!(e.contains("checkpoint format 1"), "{e}");
        let (_, digest) = encode_request(&info()).unwrap();
        let mut state = encode_state(&digest, &payload());
        state[8..12].copy_from_slice(&1u32.to_le_bytes());
        let n = state.len() - TRAILER;
        let sum = sha256(&state[..n]);
        state[n..].copy_from_slice(&sum);
        let e = decode_state(&state, &digest).unwrap_err();
        assert!(e.contains("format 1"), "{e}");
    }
}
