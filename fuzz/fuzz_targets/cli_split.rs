//! cargo-fuzz entry point of the `cli_split` target; its body is `targets/cli_split.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::cli_split::fuzz(data));
