//! cargo-fuzz entry point of the `cli_parse` target; the target itself is `targets/cli_parse.rs`,
//! which `replay` also runs on a stable toolchain.
#![no_main]

// The binary's modules are not a library. These six depend only on `ziggydb` and each
// other, so they are compiled here from their source files, at the crate root where their
// `crate::` paths point; nothing is run against a database.
#[allow(dead_code, unused_imports)]
#[path = "../../src/bin/ziggy/collections.rs"]
mod collections;
#[allow(dead_code, unused_imports)]
#[path = "../../src/bin/ziggy/commands.rs"]
mod commands;
#[allow(dead_code, unused_imports)]
#[path = "../../src/bin/ziggy/parse.rs"]
mod parse;
#[allow(dead_code, unused_imports)]
#[path = "../../src/bin/ziggy/reply.rs"]
mod reply;
#[allow(dead_code, unused_imports)]
#[path = "../../src/bin/ziggy/run.rs"]
mod run;
#[allow(dead_code, unused_imports)]
#[path = "../../src/bin/ziggy/split.rs"]
mod split;

#[path = "../targets/cli_parse.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::fuzz(data));
