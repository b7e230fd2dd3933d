//! cargo-fuzz entry point of the `ops_crash` target; its body is `targets/ops_crash.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::ops_crash::fuzz(data));
