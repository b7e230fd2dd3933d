//! cargo-fuzz entry point of the `ops` target; the target itself is `targets/ops.rs`,
//! which `replay` also runs on a stable toolchain.
#![no_main]

#[path = "../targets/ops.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
