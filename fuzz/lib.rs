//! The bodies of the fuzz targets, one module each, shared by the cargo-fuzz entry points in
//! `fuzz_targets/` and the stable `replay` binary.

/// Fuzz input read a byte at a time.
pub(crate) struct Input<'a>(&'a [u8]);

impl Input<'_> {
    /// The next byte, or `None` at the end.
    pub(crate) fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

#[path = "targets/cli_parse.rs"]
pub mod cli_parse;
#[path = "targets/cli_split.rs"]
pub mod cli_split;
#[path = "targets/import_line.rs"]
pub mod import_line;
#[path = "targets/index_probe.rs"]
pub mod index_probe;
#[path = "targets/open_dir.rs"]
pub mod open_dir;
#[path = "targets/ops.rs"]
pub mod ops;
#[path = "targets/ops_crash.rs"]
pub mod ops_crash;
#[path = "targets/record_decode.rs"]
pub mod record_decode;
#[path = "targets/resp_reply.rs"]
pub mod resp_reply;
#[path = "targets/resp_request.rs"]
pub mod resp_request;
