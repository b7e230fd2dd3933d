//! cargo-fuzz entry point of the `record_decode` target; the target itself is
//! `targets/record_decode.rs`, which `replay` also runs on a stable toolchain.
#![no_main]

#[path = "../targets/record_decode.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
