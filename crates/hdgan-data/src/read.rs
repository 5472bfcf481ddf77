//! Readers: IDX (MNIST, Fashion-MNIST; raw or gzip) and CIFAR-10 binary batches.

use crate::error::DataError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A set of images, pixel bytes in row-major order, one image after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSet {
    /// Where it came from (file or folder), for messages and provenance.
    pub source: String,
    /// Number of images.
    pub count: usize,
    /// Height, width, channels (1 for greyscale, 3 for colour planes R, G, B).
    pub shape: (usize, usize, usize),
    /// `count * dim()` bytes.
    pub pixels: Vec<u8>,
    /// Class labels, one per image, when the source has them.
    pub labels: Option<Vec<u8>>,
}

impl ImageSet {
    /// Pixels per image (the ambient dimension n of the model).
    pub fn dim(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }

    /// Image `i`'s bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let d = self.dim();
        &self.pixels[i * d..(i + 1) * d]
    }

    /// The first `count` images only (`count` is clamped to the set's size).
    pub fn truncated(mut self, count: usize) -> Self {
        let c = count.min(self.count);
        self.pixels.truncate(c * self.dim());
        if let Some(l) = self.labels.as_mut() {
            l.truncate(c);
        }
        self.count = c;
        self
    }

    /// Splits off the last `count` images (at most all of them) as a second set, e.g. held
    /// out from training; labels are split alike.
    pub fn split_off(&mut self, count: usize) -> ImageSet {
        let c = count.min(self.count);
        let keep = self.count - c;
        let pixels = self.pixels.split_off(keep * self.dim());
        let labels = self.labels.as_mut().map(|l| l.split_off(keep));
        self.count = keep;
        ImageSet {
            source: format!("{} (last {c} images)", self.source),
            count: c,
            shape: self.shape,
            pixels,
            labels,
        }
    }
}

/// The most bytes a gzip file may decompress to (a bound against decompression bombs; 64
/// times the largest IDX file in common use).
pub const GZIP_LIMIT: u64 = 4 << 30;

/// Reads a whole file, gunzipping it when it starts with the gzip magic `1f 8b`.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_maybe_gzip(raw, path, GZIP_LIMIT)
}

/// `raw` itself, or its gzip decompression when it starts with the magic `1f 8b`
/// (refused when it would exceed `limit` bytes). `path` names the file in errors.
pub fn decode_maybe_gzip(raw: Vec<u8>, path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                DataError::malformed(path, format!("gzip stream is corrupt or truncated ({e})"))
            })?;
        if out.len() as u64 > limit {
            return Err(DataError::malformed(
                path,
                format!("decompresses to more than {limit} bytes"),
            ));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// An IDX array of unsigned bytes: its dimensions and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions from the header (big-endian u32 each).
    pub dims: Vec<usize>,
    /// The data, `product(dims)` bytes.
    pub data: Vec<u8>,
}

/// Parses IDX bytes (`00 00 08 k`, then k big-endian u32 dimensions, then the bytes).
/// Only unsigned-byte data (type code 0x08) is accepted: that is what MNIST and
/// Fashion-MNIST use. Errors name the file and what is wrong: magic, type, a header cut
/// short, data shorter or longer than the dimensions say.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 {
        return Err(DataError::malformed(
            path,
            format!(
                "{} bytes: too short for an IDX header (4 bytes of magic)",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::malformed(
            path,
            format!(
                "wrong magic {:02x} {:02x} {:02x} {:02x}: an IDX file starts with 00 00",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::malformed(
            path,
            format!(
                "IDX data type 0x{:02x} is not supported (only 0x08, unsigned bytes)",
                bytes[2]
            ),
        ));
    }
    let k = bytes[3] as usize;
    if k == 0 {
        return Err(DataError::malformed(
            path,
            "IDX header declares 0 dimensions",
        ));
    }
    let header = 4 + 4 * k;
    if bytes.len() < header {
        return Err(DataError::malformed(
            path,
            format!(
                "truncated: the header declares {k} dimensions ({header} bytes) but the file has {} bytes",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..k)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| DataError::malformed(path, format!("dimensions {dims:?} overflow")))?;
    let have = bytes.len() - header;
    if have < expected {
        return Err(DataError::malformed(
            path,
            format!(
                "truncated: dimensions {dims:?} need {expected} data bytes, the file has {have}"
            ),
        ));
    }
    if have > expected {
        return Err(DataError::malformed(
            path,
            format!(
                "wrong size: dimensions {dims:?} need {expected} data bytes, the file has {have} (extra bytes at the end)"
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX image file (`[count, rows, cols]` of bytes, raw or gzip) and, when
/// `labels` is given, its IDX label file (`[count]`), which must hold as many labels.
pub fn read_idx_images(images: &Path, labels: Option<&Path>) -> Result<ImageSet, DataError> {
    let a = parse_idx(&read_maybe_gzip(images)?, images)?;
    if a.dims.len() != 3 {
        return Err(DataError::malformed(
            images,
            format!(
                "an image file has 3 dimensions [count, rows, cols], this one has {:?}",
                a.dims
            ),
        ));
    }
    let labels = match labels {
        None => None,
        Some(lp) => {
            let l = parse_idx(&read_maybe_gzip(lp)?, lp)?;
            if l.dims.len() != 1 || l.dims[0] != a.dims[0] {
                return Err(DataError::malformed(
                    lp,
                    format!(
                        "a label file for {} images has dimensions [{}], this one has {:?}",
                        a.dims[0], a.dims[0], l.dims
                    ),
                ));
            }
            Some(l.data)
        }
    };
    Ok(ImageSet {
        source: images.display().to_string(),
        count: a.dims[0],
        shape: (a.dims[1], a.dims[2], 1),
        pixels: a.data,
        labels,
    })
}

/// CIFAR-10 colour handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// All 3072 bytes: the R, G and B planes of 32 x 32 (n = 3072).
    Rgb,
    /// Luma `0.299 R + 0.587 G + 0.114 B`, rounded (n = 1024).
    Grey,
}

/// Bytes per CIFAR-10 record: one label byte, then 3 planes of 32 x 32.
pub const CIFAR_RECORD: usize = 1 + 3 * 1024;

/// Parses CIFAR-10 binary records (`data_batch_N.bin`, `test_batch.bin`): the length must
/// be a positive multiple of 3073 and every label byte below 10.
pub fn parse_cifar10(bytes: &[u8], path: &Path, colour: Colour) -> Result<ImageSet, DataError> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(CIFAR_RECORD) {
        return Err(DataError::malformed(
            path,
            format!(
                "wrong size: {} bytes is not a positive multiple of the CIFAR-10 record size {CIFAR_RECORD} (1 label byte + 3072 pixel bytes){}",
                bytes.len(),
                if bytes.len() > CIFAR_RECORD {
                    " (truncated?)"
                } else {
                    ""
                }
            ),
        ));
    }
    let count = bytes.len() / CIFAR_RECORD;
    let dim = if colour == Colour::Rgb { 3072 } else { 1024 };
    let mut pixels = Vec::with_capacity(count * dim);
    let mut labels = Vec::with_capacity(count);
    for (i, rec) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(DataError::malformed(
                path,
                format!(
                    "record {i}: label byte {} is not a CIFAR-10 class (0..9): not a CIFAR-10 binary file?",
                    rec[0]
                ),
            ));
        }
        labels.push(rec[0]);
        let px = &rec[1..];
        match colour {
            Colour::Rgb => pixels.extend_from_slice(px),
            Colour::Grey => pixels.extend((0..1024).map(|k| {
                let y = 0.299 * f64::from(px[k])
                    + 0.587 * f64::from(px[1024 + k])
                    + 0.114 * f64::from(px[2048 + k]);
                y.round().clamp(0.0, 255.0) as u8
            })),
        }
    }
    Ok(ImageSet {
        source: path.display().to_string(),
        count,
        shape: (32, 32, if colour == Colour::Rgb { 3 } else { 1 }),
        pixels,
        labels: Some(labels),
    })
}

/// Reads CIFAR-10: a batch file, or a folder whose `data_batch_*.bin` files (sorted by
/// name; `test_batch.bin` when there are none) are concatenated.
pub fn read_cifar10(path: &Path, colour: Colour) -> Result<ImageSet, DataError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut batches = list_matching(path, |n| {
            n.starts_with("data_batch_") && n.ends_with(".bin")
        })?;
        if batches.is_empty() {
            batches = list_matching(path, |n| n == "test_batch.bin")?;
        }
        if batches.is_empty() {
            return Err(DataError::malformed(
                path,
                "folder has no CIFAR-10 batch (data_batch_*.bin or test_batch.bin)",
            ));
        }
        batches
    } else {
        vec![path.to_path_buf()]
    };
    let mut all: Option<ImageSet> = None;
    for f in &files {
        let set = parse_cifar10(&read_maybe_gzip(f)?, f, colour)?;
        all = Some(match all {
            None => set,
            Some(mut acc) => {
                acc.count += set.count;
                acc.pixels.extend(set.pixels);
                if let (Some(a), Some(b)) = (acc.labels.as_mut(), set.labels) {
                    a.extend(b);
                }
                acc
            }
        });
    }
    let mut set = all.ok_or_else(|| DataError::malformed(path, "no CIFAR-10 batch"))?;
    set.source = path.display().to_string();
    Ok(set)
}

fn list_matching(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, DataError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    v.sort();
    Ok(v)
}

/// The datasets `hdgan train-data` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    /// MNIST digits (IDX, 28 x 28).
    Mnist,
    /// Fashion-MNIST (IDX, 28 x 28).
    FashionMnist,
    /// CIFAR-10 (binary batches, 32 x 32 x 3).
    Cifar10,
}

impl Dataset {
    /// The name used on the command line (`mnist`, `fashion-mnist`, `cifar10`).
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Cifar10 => "cifar10",
        }
    }

    /// Whether a file name looks like this dataset's IDX image file (used to choose among
    /// several image files in a folder).
    fn idx_name_matches(self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        match self {
            Dataset::Mnist => lower.contains("mnist") && !lower.contains("fashion"),
            Dataset::FashionMnist => lower.contains("fashion"),
            Dataset::Cifar10 => false,
        }
    }

    /// Loads the dataset from `path`: for MNIST and Fashion-MNIST an IDX image file (raw
    /// or gzip; labels beside it are read when present) or a folder holding one; for
    /// CIFAR-10 a batch file or a folder of batches, in `colour`.
    pub fn load(self, path: &Path, colour: Colour) -> Result<ImageSet, DataError> {
        match self {
            Dataset::Cifar10 => read_cifar10(path, colour),
            _ => {
                let (images, labels) = idx_files(path, self)?;
                read_idx_images(&images, labels.as_deref())
            }
        }
    }
}

/// The image and label files of an IDX dataset at `path`: `path` itself when it is a file,
/// else the folder's `*images-idx3*` file (the one whose name matches the dataset when
/// there are several). Labels: the same name with `images-idx3` replaced by
/// `labels-idx1`, when that file exists.
pub fn idx_files(path: &Path, dataset: Dataset) -> Result<(PathBuf, Option<PathBuf>), DataError> {
    let images = if path.is_dir() {
        let all = list_matching(path, |n| n.contains("images-idx3"))?;
        let named: Vec<PathBuf> = all
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| dataset.idx_name_matches(n))
            })
            .cloned()
            .collect();
        if named.len() == 1 {
            named[0].clone()
        } else if all.len() == 1 {
            all[0].clone()
        } else {
            return Err(DataError::malformed(
                path,
                format!(
                    "cannot tell which *images-idx3* file is {} ({} candidates): give the image file itself",
                    dataset.name(),
                    all.len()
                ),
            ));
        }
    } else if path.exists() {
        path.to_path_buf()
    } else {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    };
    let labels = images
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.contains("images-idx3"))
        .map(|n| images.with_file_name(n.replace("images-idx3", "labels-idx1")))
        .filter(|p| p.exists());
    Ok((images, labels))
}
