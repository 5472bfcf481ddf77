//! Fuzz target: see `hdgan_cli::fuzzing::cifar`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hdgan_cli::fuzzing::cifar(data);
});
