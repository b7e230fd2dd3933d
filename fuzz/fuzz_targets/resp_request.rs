//! cargo-fuzz entry point of the `resp_request` target; its body is `targets/resp_request.rs`, which
//! `replay` also runs on a stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ziggydb_fuzz::resp_request::fuzz(data));
