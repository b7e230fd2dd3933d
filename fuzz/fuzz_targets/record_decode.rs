//! cargo-fuzz entry point of the `record_decode` target; its body is `targets/record_decode.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::record_decode::fuzz(data));
