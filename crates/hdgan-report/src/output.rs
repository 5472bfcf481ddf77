//! Output folders that never destroy what a user has, and the writers (CSV with a header,
//! `.npy` float64 C order, JSON).
//!
//! Rules (also in the README, "Output folders"):
//!
//! - A folder named explicitly (`--out`, or `[output] dir` in a config) that exists and is
//!   not empty is refused before any work, unless `--overwrite` is given; `--overwrite`
//!   replaces only a folder that hdgan itself wrote (recognised by its manifest
//!   [`MANIFEST`], which lists every file hdgan put there) and that holds nothing else. It
//!   never replaces a file, a device, a symbolic link, the current folder, a folder holding
//!   the current folder, or a folder holding one of the inputs (the config, a data file).
//! - With no folder named, a run writes `out/<name>`, or, when that exists,
//!   `out/<name>-2`, `out/<name>-3`, ...: a rerun never fails because of, nor replaces, an
//!   earlier run.
//! - Files are written into a hidden staging folder beside the target, created before the
//!   computation starts (so an unwritable place is found at once), fsynced, then renamed
//!   into place. A staging folder is removed on error, on drop, and on SIGINT/SIGTERM
//!   ([`cleanup_registered`]); staging folders left by processes that no longer exist (kill
//!   -9, power loss) are removed by the next hdgan that stages beside them.
//! - A named folder is claimed for the whole run (an exclusive lock on the file
//!   `.NAME.hdgan-lock` beside it, released by the kernel if the process dies): a second
//!   hdgan naming the same folder while the first runs is refused before any work (exit 2),
//!   so two runs never mix their files in one folder, whichever starts first.

use crate::{Error, Result};
use hdgan_experiments::Key;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The manifest hdgan writes into every output folder it completes: JSON with the hdgan
/// version, git revision and the list of files. `--overwrite` replaces only folders that
/// carry it and hold nothing else.
pub const MANIFEST: &str = ".hdgan-output.json";

/// The marker file inside a staging folder (so that stale-folder cleanup removes only
/// folders that hdgan created).
const STAGING_MARKER: &str = ".hdgan-staging";

/// Staging folders (and the parents created for them) of this process, for removal on a
/// signal.
static REGISTERED: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

struct Registered {
    id: u64,
    staging: PathBuf,
    created_parents: Vec<PathBuf>,
    lock: Option<PathBuf>,
}

/// Removes every staging folder of this process (and the empty parents created for them).
/// Called by the signal handler before the process exits; holds the registry's lock, so a
/// commit in progress completes first, and nothing can be registered afterwards.
pub fn cleanup_registered() {
    let mut reg = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
    for r in reg.drain(..) {
        fs::remove_dir_all(&r.staging).ok();
        if let Some(lock) = &r.lock {
            fs::remove_file(lock).ok();
        }
        remove_empty_parents(&r.created_parents);
    }
    // Keep the lock poisoned-free and held: the process is about to exit.
    std::mem::forget(reg);
}

fn remove_empty_parents(created: &[PathBuf]) {
    // Deepest first; `remove_dir` only removes empty folders.
    for p in created.iter().rev() {
        if fs::remove_dir(p).is_err() {
            break;
        }
    }
}

/// Where an output folder comes from, for error messages and the choice of rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutSource {
    /// Named on the command line (`--out`).
    Flag,
    /// Named in the config (`[output] dir`).
    Config,
    /// Not named: the command's default, numbered when taken.
    Default,
}

impl OutSource {
    /// The flag or config key that named the folder (None: the default).
    fn key(&self) -> Option<Key> {
        match self {
            OutSource::Flag => Some(Key::arg("--out")),
            OutSource::Config => Some(Key::config("output.dir")),
            OutSource::Default => None,
        }
    }
}

/// What a command asks of its output folder.
#[derive(Clone, Debug)]
pub struct OutputRequest {
    /// The folder, and where its name came from.
    pub path: PathBuf,
    /// Where the name came from.
    pub source: OutSource,
    /// `--overwrite`: an existing hdgan output folder at `path` may be replaced.
    pub overwrite: bool,
    /// Input files and folders (config, data): the output may not be, or contain, them.
    pub inputs: Vec<PathBuf>,
}

impl OutputRequest {
    /// The folder from `--out`, else the config's `[output] dir`, else `default`.
    pub fn choose(
        flag: Option<&Path>,
        config: Option<&Path>,
        default: PathBuf,
        overwrite: bool,
    ) -> Self {
        let (path, source) = match (flag, config) {
            (Some(p), _) => (p.to_path_buf(), OutSource::Flag),
            (None, Some(p)) => (p.to_path_buf(), OutSource::Config),
            (None, None) => (default, OutSource::Default),
        };
        Self {
            path,
            source,
            overwrite,
            inputs: Vec::new(),
        }
    }

    /// Adds an input path the output must not replace.
    pub fn with_input(mut self, p: Option<&Path>) -> Self {
        if let Some(p) = p {
            self.inputs.push(p.to_path_buf());
        }
        self
    }
}

/// An output folder under construction. Files go into a hidden staging folder beside the
/// target; [`commit`] fsyncs them, writes the manifest and renames the folder into place.
/// If the value is dropped without a commit (an error, a panic), the staging folder is
/// removed, so no half-written output is ever left under the final name.
///
/// [`commit`]: StagedDir::commit
pub struct StagedDir {
    target: PathBuf,
    tmp: PathBuf,
    source: OutSource,
    replace: bool,
    committed: bool,
    id: u64,
    created_parents: Vec<PathBuf>,
    notes: Vec<String>,
    claim: Option<Claim>,
}

/// The claim on a named output folder: the lock file beside it, held (`flock`) open for
/// the life of the run. The kernel drops the lock when the process dies, so a claim left
/// by a killed run never blocks the next one.
struct Claim {
    path: PathBuf,
    _file: fs::File,
}

/// Test hook: with `HDGAN_TEST_HOLD_OUTPUT=FILE`, an output folder is claimed only once
/// `FILE` exists (the concurrency tests release two runs in a chosen order).
fn test_hold() {
    if let Some(f) = std::env::var_os("HDGAN_TEST_HOLD_OUTPUT") {
        let f = PathBuf::from(f);
        let start = std::time::Instant::now();
        while !f.exists() && start.elapsed() < std::time::Duration::from_secs(120) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Claims the named folder `target` (in `parent`, called `name`): takes the exclusive lock
/// on `.NAME.hdgan-lock`, creating the file if needed. Refused (naming `key`) while another
/// process holds it.
fn claim(key: &OutSource, target: &Path, parent: &Path, name: &str) -> Result<Claim> {
    use std::os::unix::fs::MetadataExt;
    let path = parent.join(format!(".{name}.hdgan-lock"));
    loop {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| input_err(key, target, format!("cannot be claimed: {e}")))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(input_err(
                    key,
                    target,
                    "is being written by another hdgan process; wait for it to finish or name another folder",
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(input_err(key, target, format!("cannot be claimed: {e}")));
            }
        }
        // The holder before us may have removed the file between our open and our lock:
        // the lock then sits on a file no longer at `path`; take the one that is.
        let same = match (file.metadata(), fs::metadata(&path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if same {
            let mut f = &file;
            let _ = writeln!(f, "{}", std::process::id());
            return Ok(Claim { path, _file: file });
        }
    }
}

/// A refusal of the output folder `path` named by `source`.
fn input_err(source: &OutSource, path: &Path, rule: impl std::fmt::Display) -> Error {
    match source.key() {
        Some(key) => Error::input(key, format!("`{}`: {rule}", path.display())),
        None => Error::input(
            Key::Path(path.to_path_buf()),
            format!("(the default output folder): {rule}"),
        ),
    }
}

/// `a` is `b` or one of its ancestors (both canonical).
fn is_ancestor_or_self(a: &Path, b: &Path) -> bool {
    b.starts_with(a)
}

fn canonical(p: &Path) -> Option<PathBuf> {
    fs::canonicalize(p).ok()
}

/// Reads the manifest of an hdgan output folder: the files it lists.
pub fn read_manifest(dir: &Path) -> Option<Vec<String>> {
    let text = fs::read_to_string(dir.join(MANIFEST)).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let files = v.get("files")?.as_array()?;
    files
        .iter()
        .map(|f| f.as_str().map(str::to_owned))
        .collect()
}

/// Checks that an existing folder at `path` may be replaced under `--overwrite`.
fn check_replaceable(key: &OutSource, path: &Path) -> Result<()> {
    let Some(listed) = read_manifest(path) else {
        return Err(input_err(
            key,
            path,
            format!(
                "exists and was not written by hdgan (no {MANIFEST}); --overwrite replaces only hdgan's own output folders"
            ),
        ));
    };
    let entries = fs::read_dir(path).map_err(|e| input_err(key, path, e))?;
    for e in entries {
        let e = e.map_err(|e| input_err(key, path, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == MANIFEST {
            continue;
        }
        let is_file = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || !listed.iter().any(|l| l == &name) {
            return Err(input_err(
                key,
                path,
                format!(
                    "holds `{name}`, which hdgan did not write there; move it away before --overwrite"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a named output folder before any work: what is at `path` may be used or
/// replaced under the rules of the module docs. Returns whether something is to be
/// replaced.
fn check_named(req: &OutputRequest) -> Result<bool> {
    let key = &req.source;
    let path = &req.path;
    if path.as_os_str().is_empty()
        && let Some(k) = key.key()
    {
        return Err(Error::input(k, "must not be empty"));
    }
    if path
        .components()
        .any(|c| c == std::path::Component::ParentDir)
        && path.file_name().is_none()
    {
        return Err(input_err(key, path, "must name a folder, not `..`"));
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(input_err(key, path, format!("cannot be used: {e}"))),
    };
    if meta.file_type().is_symlink() {
        return Err(input_err(
            key,
            path,
            "is a symbolic link; hdgan does not write through or replace links (name the folder itself)",
        ));
    }
    if !meta.is_dir() {
        return Err(input_err(
            key,
            path,
            "exists and is not a folder (a file or a device); hdgan never replaces it",
        ));
    }
    let canon = canonical(path).ok_or_else(|| input_err(key, path, "cannot be resolved"))?;
    if let Some(cwd) = std::env::current_dir().ok().and_then(|c| canonical(&c))
        && is_ancestor_or_self(&canon, &cwd)
    {
        return Err(input_err(
            key,
            path,
            "is the current folder or holds it; name a new folder for the outputs",
        ));
    }
    for input in &req.inputs {
        if let Some(ci) = canonical(input)
            && is_ancestor_or_self(&canon, &ci)
        {
            return Err(input_err(
                key,
                path,
                format!(
                    "holds the input `{}`; name a new folder for the outputs",
                    input.display()
                ),
            ));
        }
    }
    let empty = fs::read_dir(path)
        .map_err(|e| input_err(key, path, format!("cannot be read: {e}")))?
        .next()
        .is_none();
    if empty {
        return Ok(true);
    }
    if !req.overwrite {
        return Err(input_err(
            key,
            path,
            "exists and is not empty; name a new folder, or pass --overwrite to replace an earlier hdgan output folder",
        ));
    }
    check_replaceable(key, path)?;
    Ok(true)
}

/// The first of `path`, `path-2`, `path-3`, ... at which nothing exists.
fn first_free(path: &Path) -> PathBuf {
    if fs::symlink_metadata(path).is_err() {
        return path.to_path_buf();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    (2u64..)
        .map(|k| path.with_file_name(format!("{name}-{k}")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .expect("an unused name exists")
}

/// Creates `dir` and its missing ancestors; returns the folders it created, outermost
/// first.
fn create_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut missing = Vec::new();
    let mut p = dir.to_path_buf();
    while !p.as_os_str().is_empty() && fs::symlink_metadata(&p).is_err() {
        missing.push(p.clone());
        match p.parent() {
            Some(q) => p = q.to_path_buf(),
            None => break,
        }
    }
    missing.reverse();
    let mut created = Vec::new();
    for m in missing {
        match fs::create_dir(&m) {
            Ok(()) => created.push(m),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                remove_empty_parents(&created);
                return Err(e);
            }
        }
    }
    Ok(created)
}

/// Whether a process with this id is running (Linux: `/proc/PID` exists).
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true; // cannot tell: keep the folder
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes staging (`.NAME.partial-PID`) and set-aside (`.NAME.old-PID`) folders in
/// `parent` that hdgan made and whose process no longer runs; returns notes.
fn remove_stale(parent: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(entries) = fs::read_dir(parent) else {
        return notes;
    };
    let me = std::process::id();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            continue;
        }
        let (kind, pid) = if let Some((_, pid)) = name.rsplit_once(".partial-") {
            (STAGING_MARKER, pid)
        } else if let Some((_, pid)) = name.rsplit_once(".old-") {
            (MANIFEST, pid)
        } else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let path = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if pid == me || !is_dir || process_alive(pid) || !path.join(kind).is_file() {
            continue;
        }
        if fs::remove_dir_all(&path).is_ok() {
            notes.push(format!(
                "removed `{}`, left by hdgan process {pid}, which no longer runs",
                path.display()
            ));
        }
    }
    notes
}

/// How an error names `path` while doing `action` (`write`, `create`, `draw`): a file in a
/// staging folder (`.NAME.partial-PID/FILE`, see the module docs) by the output folder the
/// user named, `the output folder `NAME` (FILE)`; any other path as itself.
pub(crate) fn describe_path(action: &str, path: &Path) -> String {
    let mut staged = None;
    for (i, c) in path.components().enumerate() {
        let c = c.as_os_str().to_string_lossy();
        if let Some((name, pid)) = c.strip_prefix('.').and_then(|r| r.rsplit_once(".partial-"))
            && !name.is_empty()
            && !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
        {
            staged = Some((i, name.to_owned()));
        }
    }
    let Some((i, name)) = staged else {
        return format!("cannot {action} `{}`", path.display());
    };
    let parent: PathBuf = path.components().take(i).collect();
    let inner: PathBuf = path.components().skip(i + 1).collect();
    let folder = parent.join(&name);
    let folder = folder.strip_prefix(".").unwrap_or(&folder);
    let (verb, how) = match action {
        "draw" => ("write", ", drawing it"),
        "write" => ("write", ""),
        _ => (action, ""),
    };
    if inner.as_os_str().is_empty() {
        format!("cannot {verb} the output folder `{}`", folder.display())
    } else {
        format!(
            "cannot {verb} the output folder `{}` ({}{how})",
            folder.display(),
            inner.display()
        )
    }
}

fn fsync_path(p: &Path) -> std::io::Result<()> {
    fs::File::open(p)?.sync_all()
}

impl StagedDir {
    /// Checks the request (see the module docs) and creates the staging folder, before any
    /// work. Refusals are [`Error::Input`]s naming the key (`--out`, `output.dir`).
    pub fn open(req: &OutputRequest) -> Result<Self> {
        let key = &req.source;
        test_hold();
        let (target, mut replace, mut notes) = match req.source {
            OutSource::Default => {
                let t = first_free(&req.path);
                let notes = if t == req.path {
                    Vec::new()
                } else {
                    vec![format!(
                        "`{}` exists (an earlier run?); writing `{}` instead",
                        req.path.display(),
                        t.display()
                    )]
                };
                (t, false, notes)
            }
            _ => (req.path.clone(), check_named(req)?, Vec::new()),
        };
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| input_err(key, &target, "must name a folder"))?;
        let created_parents = create_dirs(&parent)
            .map_err(|e| input_err(key, &target, format!("cannot create its folder: {e}")))?;
        let claim = if req.source == OutSource::Default {
            None
        } else {
            let claimed = claim(key, &target, &parent, &name).and_then(|c| {
                // Checked again under the claim: a run that held it may have finished.
                replace = check_named(req)?;
                Ok(c)
            });
            match claimed {
                Ok(c) => Some(c),
                Err(e) => {
                    remove_empty_parents(&created_parents);
                    return Err(e);
                }
            }
        };
        notes.extend(remove_stale(&parent));
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let made = fs::create_dir(&tmp).and_then(|()| {
            fs::write(
                tmp.join(STAGING_MARKER),
                format!("hdgan staging folder of process {}\n", std::process::id()),
            )
        });
        if let Err(e) = made {
            fs::remove_dir_all(&tmp).ok();
            if let Some(c) = &claim {
                fs::remove_file(&c.path).ok();
            }
            remove_empty_parents(&created_parents);
            return Err(input_err(key, &target, format!("cannot write there: {e}")));
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        REGISTERED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Registered {
                id,
                staging: tmp.clone(),
                created_parents: created_parents.clone(),
                lock: claim.as_ref().map(|c| c.path.clone()),
            });
        Ok(Self {
            target,
            tmp,
            source: req.source.clone(),
            replace,
            committed: false,
            id,
            created_parents,
            notes,
            claim,
        })
    }

    /// Starts staging the folder `target` as if named with `--out` and `--overwrite` (for
    /// tools such as `xtask` that own their output folders).
    pub fn new(target: &Path) -> Result<Self> {
        Self::open(&OutputRequest {
            path: target.to_path_buf(),
            source: OutSource::Flag,
            overwrite: true,
            inputs: Vec::new(),
        })
    }

    /// The folder the outputs will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Remarks for the user (a numbered folder chosen, stale folders removed).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Path of a file inside the staging folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    /// Moves the finished folder to its final path and returns that path: fsyncs every
    /// file, writes the manifest, renames, and fsyncs the parent folder.
    pub fn commit(mut self) -> Result<PathBuf> {
        fs::remove_file(self.tmp.join(STAGING_MARKER)).ok();
        let mut files = Vec::new();
        let read = |e| Error::io("read", &self.tmp, e);
        for e in fs::read_dir(&self.tmp).map_err(read)? {
            let e = e.map_err(read)?;
            fsync_path(&e.path()).map_err(|err| Error::io("flush", &e.path(), err))?;
            files.push(e.file_name().to_string_lossy().into_owned());
        }
        files.sort();
        let (version, revision) = crate::provenance::build_info();
        let manifest = serde_json::json!({
            "written_by": "hdgan",
            "hdgan_version": version,
            "git_revision": revision,
            "files": files,
        });
        let mpath = self.tmp.join(MANIFEST);
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| Error::encode("the output manifest", e))?;
        fs::write(&mpath, text + "\n").map_err(|e| Error::io("write", &mpath, e))?;
        fsync_path(&mpath).map_err(|e| Error::io("flush", &mpath, e))?;
        fsync_path(&self.tmp).ok();
        // Hold the registry while renaming, so that a signal arriving now waits for the
        // rename and then finds nothing to remove.
        let mut reg = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
        let result = self.rename_into_place();
        // Renamed, or kept under its staging name (`keep_staging`): no longer ours to remove.
        if result.is_ok() || self.committed {
            reg.retain(|r| r.id != self.id);
            self.committed = true;
            self.release();
        }
        drop(reg);
        let parent = match self.target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fsync_path(&parent).ok();
        result
    }

    fn rename_into_place(&mut self) -> Result<PathBuf> {
        let name = self
            .target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let exists = fs::symlink_metadata(&self.target).is_ok();
        if exists && self.source == OutSource::Default {
            // Taken while we ran: pick the next free name.
            let t = first_free(&self.target);
            self.notes.push(format!(
                "`{}` appeared while hdgan ran; writing `{}` instead",
                self.target.display(),
                t.display()
            ));
            self.target = t;
        } else if exists && self.replace {
            let empty = fs::read_dir(&self.target)
                .map(|mut r| r.next().is_none())
                .unwrap_or(false);
            if !empty {
                check_replaceable(&self.source, &self.target)?;
                let old = self
                    .target
                    .with_file_name(format!(".{name}.old-{}", std::process::id()));
                fs::rename(&self.target, &old)
                    .map_err(|e| Error::io("move aside the previous", &self.target, e))?;
                fs::rename(&self.tmp, &self.target)
                    .map_err(|e| Error::io("create", &self.target, e))?;
                fs::remove_dir_all(&old).ok();
                return Ok(self.target.clone());
            }
        } else if exists {
            let kept = self.keep_staging();
            return Err(Error::Taken {
                path: self.target.clone(),
                kept,
            });
        }
        fs::rename(&self.tmp, &self.target).map_err(|e| Error::io("create", &self.target, e))?;
        Ok(self.target.clone())
    }

    /// Gives up the claim on the folder (removes the lock file; the lock goes with it).
    fn release(&mut self) {
        if let Some(c) = self.claim.take() {
            fs::remove_file(&c.path).ok();
        }
    }

    /// Keeps the staging folder (no removal on drop) and returns its path for a message.
    /// Called under the registry's lock by [`commit`](Self::commit), which unregisters it.
    fn keep_staging(&mut self) -> PathBuf {
        self.committed = true;
        self.release();
        self.tmp.clone()
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            fs::remove_dir_all(&self.tmp).ok();
            self.release();
            remove_empty_parents(&self.created_parents);
            REGISTERED
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|r| r.id != self.id);
        }
    }
}

/// Writes a CSV file: one header line, then one line per row. Numbers use Rust's shortest
/// round-trip representation, so the file is exact and identical across runs and machines.
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<f64>]) -> Result<()> {
    write_rows(path, header, rows.iter().map(|r| (None, r.as_slice())))
}

/// [`write_csv`] with a text first column (`labels[i]` before row i, e.g. a method's name;
/// labels must not contain commas, quotes or line breaks).
pub fn write_csv_labeled(
    path: &Path,
    header: &[String],
    rows: &[(String, Vec<f64>)],
) -> Result<()> {
    if rows.iter().any(|(l, _)| l.contains([',', '"', '\n', '\r'])) {
        return Err(Error::encode(
            format!("`{}`", path.display()),
            "CSV labels must not contain commas, quotes or line breaks",
        ));
    }
    write_rows(
        path,
        header,
        rows.iter().map(|(l, r)| (Some(l.as_str()), r.as_slice())),
    )
}

fn write_rows<'a>(
    path: &Path,
    header: &[String],
    rows: impl Iterator<Item = (Option<&'a str>, &'a [f64])>,
) -> Result<()> {
    let f = fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let mut w = BufWriter::new(f);
    let ctx = |e| Error::io("write", path, e);
    writeln!(w, "{}", header.join(",")).map_err(ctx)?;
    let mut line = String::new();
    for (label, row) in rows {
        line.clear();
        if let Some(l) = label {
            line.push_str(l);
            line.push(',');
        }
        for (k, x) in row.iter().enumerate() {
            if k > 0 {
                line.push(',');
            }
            line.push_str(&format!("{x:?}"));
        }
        writeln!(w, "{line}").map_err(ctx)?;
    }
    w.flush().map_err(ctx)?;
    Ok(())
}

/// Reads a 2-D float64 `.npy` file (as [`write_npy`] writes them) back into rows.
pub fn read_npy(path: &Path) -> Result<Vec<Vec<f64>>> {
    let bytes = fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let malformed = |what: String| Error::Malformed {
        path: path.to_path_buf(),
        what,
    };
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| malformed(format!("is not an .npy file: {e}")))?;
    let shape = npy.shape().to_vec();
    if shape.len() != 2 {
        return Err(malformed(format!("is not a 2-D array (shape {shape:?})")));
    }
    let data: Vec<f64> = npy
        .into_vec()
        .map_err(|e| malformed(format!("is not a float64 array: {e}")))?;
    let cols = (shape[1] as usize).max(1);
    Ok(data.chunks(cols).map(<[f64]>::to_vec).collect())
}

/// Writes a 2-D float64 array (rows x columns, C order) as `.npy` (loads with `np.load`).
pub fn write_npy(path: &Path, rows: &[Vec<f64>]) -> Result<()> {
    let cols = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != cols) {
        return Err(Error::encode(
            format!("`{}`", path.display()),
            "its rows differ in length",
        ));
    }
    let f = fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let ctx = |e| Error::io("write", path, e);
    let mut buf = BufWriter::new(f);
    {
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[rows.len() as u64, cols as u64])
            .writer(&mut buf)
            .begin_nd()
            .map_err(ctx)?;
        w.extend(rows.iter().flatten().copied()).map_err(ctx)?;
        w.finish().map_err(ctx)?;
    }
    buf.flush().map_err(ctx)?;
    Ok(())
}

/// Writes pretty-printed JSON.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::encode(format!("`{}`", path.display()), e))?;
    fs::write(path, text + "\n").map_err(|e| Error::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(path: &Path, overwrite: bool) -> OutputRequest {
        OutputRequest {
            path: path.to_path_buf(),
            source: OutSource::Flag,
            overwrite,
            inputs: Vec::new(),
        }
    }

    #[test]
    fn staged_dir_appears_only_on_commit() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        {
            let s = StagedDir::open(&named(&target, false)).unwrap();
            fs::write(s.file("a.txt"), "x").unwrap();
            // dropped without commit
        }
        assert!(!target.exists());
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            0,
            "no temporary left"
        );
        let s = StagedDir::open(&named(&target, false)).unwrap();
        fs::write(s.file("a.txt"), "x").unwrap();
        s.commit().unwrap();
        assert!(target.join("a.txt").exists());
        assert_eq!(read_manifest(&target).unwrap(), vec!["a.txt".to_owned()]);
        // Without --overwrite a second run is refused before any work.
        let err = StagedDir::open(&named(&target, false)).err().unwrap();
        assert!(err.to_string().contains("--overwrite"), "{err}");
        // With it, hdgan's own folder is replaced.
        let s = StagedDir::open(&named(&target, true)).unwrap();
        fs::write(s.file("b.txt"), "y").unwrap();
        s.commit().unwrap();
        assert!(target.join("b.txt").exists() && !target.join("a.txt").exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_folder_claimed_by_one_is_refused_to_another_and_released_by_both_ends() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        let lock = root.path().join(".run.hdgan-lock");
        let first = StagedDir::open(&named(&target, false)).unwrap();
        assert!(lock.exists());
        // The claim is an flock, per open file: a second open in this process is refused.
        let err = StagedDir::open(&named(&target, false)).err().unwrap();
        assert!(
            err.to_string().contains("being written by another hdgan"),
            "{err}"
        );
        drop(first);
        assert!(!lock.exists() && fs::read_dir(root.path()).unwrap().count() == 0);
        // A lock file left by a killed process (no lock held) does not block.
        fs::write(&lock, "12345\n").unwrap();
        let s = StagedDir::open(&named(&target, false)).unwrap();
        fs::write(s.file("a.txt"), "x").unwrap();
        s.commit().unwrap();
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1, "lock left");
    }

    #[test]
    fn a_folder_made_by_someone_else_meanwhile_is_kept_apart() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        let s = StagedDir::open(&named(&target, false)).unwrap();
        fs::write(s.file("a.txt"), "x").unwrap();
        fs::create_dir(&target).unwrap();
        fs::write(target.join("theirs.txt"), "keep").unwrap();
        let err = s.commit().err().unwrap().to_string();
        assert!(err.contains("appeared while hdgan ran"), "{err}");
        assert_eq!(
            fs::read_to_string(target.join("theirs.txt")).unwrap(),
            "keep"
        );
        // Our outputs are kept under the staging name the message gives, and the claim is
        // released.
        let kept = err.rsplit('`').nth(1).unwrap();
        assert!(Path::new(kept).join("a.txt").is_file(), "{err}");
        assert!(!root.path().join(".run.hdgan-lock").exists());
    }

    #[test]
    fn overwrite_refuses_foreign_content() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        let s = StagedDir::open(&named(&target, false)).unwrap();
        fs::write(s.file("a.txt"), "x").unwrap();
        s.commit().unwrap();
        fs::write(target.join("notes.md"), "mine").unwrap();
        let err = StagedDir::open(&named(&target, true)).err().unwrap();
        assert!(err.to_string().contains("notes.md"), "{err}");
        // A folder without a manifest is never replaced.
        let foreign = root.path().join("src");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("main.rs"), "fn main() {}").unwrap();
        let err = StagedDir::open(&named(&foreign, true)).err().unwrap();
        assert!(err.to_string().contains("not written by hdgan"), "{err}");
        assert!(foreign.join("main.rs").exists());
        // A file is never replaced.
        let file = root.path().join("cfg.toml");
        fs::write(&file, "x").unwrap();
        let err = StagedDir::open(&named(&file, true)).err().unwrap();
        assert!(err.to_string().contains("not a folder"), "{err}");
        assert_eq!(fs::read_to_string(&file).unwrap(), "x");
    }

    #[test]
    fn default_folders_are_numbered() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("out").join("x");
        let req = OutputRequest::choose(None, None, base.clone(), false);
        for expect in ["x", "x-2", "x-3"] {
            let s = StagedDir::open(&req).unwrap();
            fs::write(s.file("a"), "1").unwrap();
            assert_eq!(s.commit().unwrap(), root.path().join("out").join(expect));
        }
    }

    #[test]
    fn stale_staging_of_dead_processes_is_removed() {
        let root = tempfile::tempdir().unwrap();
        // A pid far above pid_max (4194304) never runs.
        let stale = root.path().join(".run.partial-99999999");
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join(STAGING_MARKER), "").unwrap();
        // A user's folder with a look-alike name but no marker stays.
        let user = root.path().join(".mine.partial-99999998");
        fs::create_dir(&user).unwrap();
        let s = StagedDir::open(&named(&root.path().join("run"), false)).unwrap();
        assert!(!stale.exists());
        assert!(user.exists());
        assert_eq!(s.notes().len(), 1);
    }

    #[test]
    fn unusable_paths_are_input_errors() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("afile");
        fs::write(&file, "x").unwrap();
        let err = StagedDir::open(&named(&file.join("sub"), false))
            .err()
            .unwrap();
        assert!(err.to_string().contains("--out"), "{err}");
        let err = StagedDir::open(&named(Path::new(""), false)).err().unwrap();
        assert!(err.to_string().contains("must not be empty"), "{err}");
        let long = root.path().join("x".repeat(300));
        assert!(StagedDir::open(&named(&long, false)).is_err());
        let lnk = root.path().join("loop");
        std::os::unix::fs::symlink(&lnk, &lnk).unwrap();
        let err = StagedDir::open(&named(&lnk.join("sub"), false))
            .err()
            .unwrap();
        assert!(err.to_string().contains("--out"), "{err}");
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            2,
            "nothing created"
        );
    }

    #[test]
    fn npy_has_the_numpy_header() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("a.npy");
        write_npy(&p, &[vec![1.0, 2.0], vec![3.0, 4.5]]).unwrap();
        assert_eq!(read_npy(&p).unwrap(), vec![vec![1.0, 2.0], vec![3.0, 4.5]]);
        let bytes = fs::read(&p).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let header = String::from_utf8_lossy(&bytes[10..80]);
        assert!(
            header.contains("'descr': '<f8'") && header.contains("'shape': (2, 2"),
            "{header}"
        );
        let tail = &bytes[bytes.len() - 8..];
        assert_eq!(
            f64::from_le_bytes(tail.try_into().unwrap()).to_bits(),
            4.5f64.to_bits()
        );
    }
}
