//! cargo-fuzz entry point of the `resp_reply` target; its body is `targets/resp_reply.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::resp_reply::fuzz(data));
