//! cargo-fuzz entry point of the `open_dir` target; its body is `targets/open_dir.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::open_dir::fuzz(data));
