//! Entry points for the fuzz targets in `fuzz/` (cargo fuzz) and for the corpus replay
//! test that runs on every `cargo test`: each takes arbitrary bytes and must return
//! without panicking, hanging or allocating without bound, whatever the bytes.

use crate::config::parse_toml;
use std::path::Path;

/// A config file of any command: parsed and validated as a run config (with the
/// resource estimate `hdgan check` makes, Claim 1 and the effective modes), a phase config
/// (with its estimate), a measure config (with its estimate) and a modes config.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = crate::config::parse(text, "fuzz")
        && let Ok(v) = c.validate("fuzz")
        && crate::run::estimate(&v, Some(1)).check().is_ok()
    {
        let _ = hdgan_stability::claim1(v.model());
        if v.model().p() == 1 {
            let _ = hdgan_stability::effective_modes(v.model());
        }
    }
    if let Ok(c) = parse_toml::<crate::phase::PhaseConfig>(text, "fuzz")
        && let Ok(v) = c.validate("fuzz")
    {
        let _ = crate::phase::estimate(&v).check();
    }
    if let Ok(c) = parse_toml::<crate::measure::MeasureConfig>(text, "fuzz")
        && let Ok(v) = c.validate("fuzz")
    {
        let _ = crate::measure::estimate(&v).check();
    }
    if let Ok(m) = crate::config::model_only(text, "fuzz")
        && m.p() == 1
    {
        let _ = hdgan_stability::effective_modes(&m);
    }
}

/// Decompression bound for the fuzzed readers (the real reader's is larger).
const FUZZ_GZIP_LIMIT: u64 = 64 << 20;

/// An IDX file (raw or gzip), as images and as labels.
pub fn idx(data: &[u8]) {
    let path = Path::new("fuzz.idx");
    if let Ok(bytes) = hdgan_data::decode_maybe_gzip(data.to_vec(), path, FUZZ_GZIP_LIMIT) {
        let _ = hdgan_data::parse_idx(&bytes, path);
    }
}

/// A CIFAR-10 binary batch, in colour and in grey.
pub fn cifar(data: &[u8]) {
    let path = Path::new("fuzz.bin");
    for colour in [hdgan_data::Colour::Rgb, hdgan_data::Colour::Grey] {
        let _ = hdgan_data::parse_cifar10(data, path, colour);
    }
}
