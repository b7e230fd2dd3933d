//! cargo-fuzz entry point of the `ops` target; its body is `targets/ops.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::ops::fuzz(data));
