//! cargo-fuzz entry point of the `cli_parse` target; its body is `targets/cli_parse.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::cli_parse::fuzz(data));
