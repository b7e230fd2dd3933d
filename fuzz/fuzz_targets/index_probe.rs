//! cargo-fuzz entry point of the `index_probe` target; the target itself is
//! `targets/index_probe.rs`, which `replay` also runs on a stable toolchain.
#![no_main]

#[path = "../targets/index_probe.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
