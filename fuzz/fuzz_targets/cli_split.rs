//! cargo-fuzz entry point of the `cli_split` target; the target itself is `targets/cli_split.rs`,
//! which `replay` also runs on a stable toolchain.
#![no_main]

// The binary's modules are not a library; the splitter has no dependencies, so it is
// compiled here from its source file, at the crate root where the target finds it.
#[allow(dead_code)]
#[path = "../../src/bin/ziggy/split.rs"]
mod split;

#[path = "../targets/cli_split.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
