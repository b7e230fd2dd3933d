//! cargo-fuzz entry point of the `ops_crash` target; the target itself is
//! `targets/ops_crash.rs`, which `replay` also runs on a stable toolchain.
#![no_main]

#[path = "../targets/ops_crash.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
