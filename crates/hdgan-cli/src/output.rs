//! Writers: CSV with a header, `.npy` (float64, C order), JSON, and an output folder that
//! appears only once complete (written under a temporary name, then renamed).

use anyhow::{Context, Result};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// An output folder under construction. Files go into a hidden sibling folder; [`commit`]
/// renames it to the final path (replacing an older folder of that name). If the value is
/// dropped without a commit (an error, a panic), the temporary folder is removed, so no
/// half-written output is ever left under the final name.
///
/// [`commit`]: StagedDir::commit
pub struct StagedDir {
    target: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Starts staging the folder `target` (its parent is created if needed).
    pub fn new(target: &Path) -> Result<Self> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create folder `{}`", parent.display()))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".to_owned());
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).ok();
        }
        fs::create_dir(&tmp)
            .with_context(|| format!("cannot create folder `{}`", tmp.display()))?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
            committed: false,
        })
    }

    /// Path of a file inside the staging folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    /// Moves the finished folder to its final path and returns that path.
    pub fn commit(mut self) -> Result<PathBuf> {
        let old = self.target.with_file_name(format!(
            ".{}.old-{}",
            self.target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let had_old = self.target.exists();
        if had_old {
            fs::rename(&self.target, &old).with_context(|| {
                format!("cannot move the previous `{}` aside", self.target.display())
            })?;
        }
        fs::rename(&self.tmp, &self.target)
            .with_context(|| format!("cannot create `{}`", self.target.display()))?;
        self.committed = true;
        if had_old {
            fs::remove_dir_all(&old).ok();
        }
        Ok(self.target.clone())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            fs::remove_dir_all(&self.tmp).ok();
        }
    }
}

/// Writes a CSV file: one header line, then one line per row. Numbers use Rust's shortest
/// round-trip representation, so the file is exact and identical across runs and machines.
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<f64>]) -> Result<()> {
    let f =
        fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    let mut w = BufWriter::new(f);
    writeln!(w, "{}", header.join(","))?;
    let mut line = String::new();
    for row in rows {
        line.clear();
        for (k, x) in row.iter().enumerate() {
            if k > 0 {
                line.push(',');
            }
            line.push_str(&format!("{x:?}"));
        }
        writeln!(w, "{line}")?;
    }
    w.flush()?;
    Ok(())
}

/// Writes a 2-D float64 array (rows x columns, C order) as `.npy` (loads with `np.load`).
pub fn write_npy(path: &Path, rows: &[Vec<f64>]) -> Result<()> {
    let cols = rows.first().map_or(0, Vec::len);
    anyhow::ensure!(
        rows.iter().all(|r| r.len() == cols),
        "ragged rows for `{}`",
        path.display()
    );
    let f =
        fs::File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?;
    let mut buf = BufWriter::new(f);
    {
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[rows.len() as u64, cols as u64])
            .writer(&mut buf)
            .begin_nd()?;
        w.extend(rows.iter().flatten().copied())?;
        w.finish()?;
    }
    buf.flush()?;
    Ok(())
}

/// Writes pretty-printed JSON.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    fs::write(path, text + "\n").with_context(|| format!("cannot write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_dir_appears_only_on_commit() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("run");
        {
            let s = StagedDir::new(&target).unwrap();
            fs::write(s.file("a.txt"), "x").unwrap();
            // dropped without commit
        }
        assert!(!target.exists());
        assert_eq!(
            fs::read_dir(root.path()).unwrap().count(),
            0,
            "no temporary left"
        );
        let s = StagedDir::new(&target).unwrap();
        fs::write(s.file("a.txt"), "x").unwrap();
        s.commit().unwrap();
        assert!(target.join("a.txt").exists());
        // A second commit replaces the folder.
        let s = StagedDir::new(&target).unwrap();
        fs::write(s.file("b.txt"), "y").unwrap();
        s.commit().unwrap();
        assert!(target.join("b.txt").exists() && !target.join("a.txt").exists());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn npy_has_the_numpy_header() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("a.npy");
        write_npy(&p, &[vec![1.0, 2.0], vec![3.0, 4.5]]).unwrap();
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
