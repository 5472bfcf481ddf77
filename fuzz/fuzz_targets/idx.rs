//! Fuzz target: see `hdgan_experiments::fuzzing::idx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hdgan_experiments::fuzzing::idx(data);
});
