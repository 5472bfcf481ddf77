//! Fuzz target: see `hdgan_experiments::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hdgan_experiments::fuzzing::config(data);
});
