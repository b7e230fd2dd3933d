//! cargo-fuzz entry point of the `import_line` target; the target itself is `targets/import_line.rs`,
//! which `replay` also runs on a stable toolchain.
#![no_main]

#[path = "../targets/import_line.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
