//! Fuzz target: see `hdgan_cli::fuzzing::idx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hdgan_cli::fuzzing::idx(data);
});
