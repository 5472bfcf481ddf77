//! Resource estimates made from a validated request before any work: the memory it will
//! hold at its peak (state vectors, recorded states, output rows, grids, images) and the
//! number of steps it will take. A request whose estimate exceeds the memory the machine
//! has available (or `--max-memory`) is refused with exit 2, naming the keys that drive
//! the estimate; `hdgan check` and the first progress line show the estimate.
//!
//! The estimates are upper bounds of the big allocations, not exact byte counts: each
//! term is `count x bytes per item`, with the per-item sizes of the data structures
//! (including allocation headers) rounded up.

use crate::error::MemoryLimit;
use crate::{Error, Result};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The largest number of worker threads accepted by `--threads`.
pub const MAX_THREADS: usize = 1024;

/// `--max-memory` in bytes (0: the machine's available memory).
static MAX_MEMORY: AtomicU64 = AtomicU64::new(0);

/// Sets the memory limit for estimates (`--max-memory`); `None` restores the default (the
/// machine's available memory).
pub fn set_max_memory(bytes: Option<u64>) {
    MAX_MEMORY.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// One term of an estimate.
#[derive(Clone, Debug)]
pub struct Term {
    /// What it is ("recorded states", "state vectors", ...).
    pub what: String,
    /// Bytes.
    pub bytes: f64,
}

/// The memory and work a request needs.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    /// The terms, summed into [`Estimate::bytes`].
    pub terms: Vec<Term>,
    /// The config keys or flags that drive the estimate (named in a refusal).
    pub keys: Vec<String>,
    /// Units of work (SGDA steps, ODE solves) and their name.
    pub work: Option<(f64, String)>,
}

impl Estimate {
    /// Adds a term of `count` items of `each` bytes.
    pub fn add(&mut self, what: &str, count: f64, each: f64) -> &mut Self {
        self.terms.push(Term {
            what: what.to_owned(),
            bytes: count * each,
        });
        self
    }

    /// Names the keys that drive the estimate.
    pub fn keys(&mut self, keys: &[&str]) -> &mut Self {
        self.keys.extend(keys.iter().map(|k| k.to_string()));
        self
    }

    /// Total bytes.
    pub fn bytes(&self) -> f64 {
        self.terms.iter().map(|t| t.bytes).sum()
    }

    /// Refuses the request when the estimate exceeds the limit (`--max-memory`, else the
    /// machine's available memory).
    pub fn check(&self) -> Result<()> {
        let (limit, limited_by) = match MAX_MEMORY.load(Ordering::Relaxed) {
            0 => match available_memory() {
                Some(b) => (b, MemoryLimit::Available),
                None => return Ok(()),
            },
            b => (b, MemoryLimit::Flag),
        };
        let need = self.bytes();
        if need > limit as f64 {
            let largest = self
                .terms
                .iter()
                .max_by(|a, b| a.bytes.total_cmp(&b.bytes))
                .map(|t| (t.what.clone(), t.bytes));
            return Err(Error::Resource {
                keys: self.keys.clone(),
                need,
                limit: limit as f64,
                limited_by,
                largest,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "about {} of memory", human(self.bytes()))?;
        if let Some((w, what)) = &self.work {
            write!(f, ", {} {what}", count(*w))?;
        }
        Ok(())
    }
}

/// Bytes in human units (decimal: kB, MB, GB, TB).
pub fn human(bytes: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut x = bytes;
    let mut u = 0;
    while x >= 1000.0 && u + 1 < units.len() {
        x /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{x:.0} B")
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// A count for humans: exact below 1e6, else in scientific notation.
pub fn count(x: f64) -> String {
    if x < 1e6 {
        format!("{x:.0}")
    } else {
        format!("{x:.2e}")
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes (None where it cannot be read).
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Parses a byte size: a number with an optional unit `k`, `M`, `G`, `T` (powers of 1000)
/// or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024), and an optional trailing `B`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let x: f64 = num
        .parse()
        .map_err(|_| format!("must be a size such as 4G, 512M or 2GiB, got \"{s}\""))?;
    let mult = match unit.trim().to_ascii_lowercase().trim_end_matches('b') {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "ki" => 1024.0,
        "mi" => 1024.0 * 1024.0,
        "gi" => 1024.0f64.powi(3),
        "ti" => 1024.0f64.powi(4),
        _ => {
            return Err(format!(
                "unknown unit in \"{s}\" (use k, M, G, T, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let b = x * mult;
    if !(b.is_finite() && (1.0..1.8e19).contains(&b)) {
        return Err(format!(
            "must be between 1 byte and 1.8e19 bytes, got \"{s}\""
        ));
    }
    Ok(b as u64)
}

/// Checks `--threads`: between 1 and [`MAX_THREADS`].
pub fn check_threads(threads: Option<usize>) -> Result<()> {
    match threads {
        Some(t) if t == 0 || t > MAX_THREADS => Err(Error::arg(
            "--threads",
            format!(
                "must be between 1 and {MAX_THREADS}, got {t} (results do not depend on it; the default is one per core)"
            ),
        )),
        _ => Ok(()),
    }
}

/// Bytes of one recorded macroscopic state with `values` numbers in `blocks` separate
/// allocations (plus the trajectory's time and vector headers).
pub fn state_bytes(values: usize, blocks: usize) -> f64 {
    (8 * values + 40 * blocks + 64) as f64
}

/// Bytes of one output row of `cols` numbers (the row vector, its header, and its share
/// of the plot points).
pub fn row_bytes(cols: usize) -> f64 {
    (8 * cols + 48) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("4G").unwrap(), 4_000_000_000);
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert_eq!(parse_bytes("1.5kB").unwrap(), 1500);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("4X").is_err());
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("-3G").is_err());
        assert!(parse_bytes("1e30").is_err());
    }

    #[test]
    fn estimates_over_the_limit_are_refused_naming_keys() {
        let mut e = Estimate::default();
        e.add("recorded states", 1e6, 100.0)
            .keys(&["sim.t_end", "sim.record_dt"]);
        set_max_memory(Some(10_000_000));
        let err = e.check().err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::Resource);
        assert_eq!(
            err.to_string(),
            "config keys `sim.t_end`, `sim.record_dt`: the request needs about 100.0 MB, mostly recorded states (100.0 MB), more than the 10.0 MB allowed by --max-memory; reduce them (or raise --max-memory)"
        );
        set_max_memory(Some(1_000_000_000));
        assert!(e.check().is_ok());
        set_max_memory(None);
    }

    #[test]
    fn thread_counts_are_bounded() {
        assert!(check_threads(Some(0)).is_err());
        assert!(check_threads(Some(100_000)).is_err());
        assert!(check_threads(Some(2)).is_ok() && check_threads(None).is_ok());
    }
}
