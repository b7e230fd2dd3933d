//! cargo-fuzz entry point of the `open_dir` target; the target itself is `targets/open_dir.rs`,
//! which `replay` also runs on a stable toolchain.
#![no_main]

#[path = "../targets/open_dir.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
