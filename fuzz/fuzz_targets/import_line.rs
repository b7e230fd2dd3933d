//! cargo-fuzz entry point of the `import_line` target; its body is `targets/import_line.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::import_line::fuzz(data));
