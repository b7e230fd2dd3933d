//! cargo-fuzz entry point of the `index_probe` target; its body is `targets/index_probe.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::index_probe::fuzz(data));
