//! The Redis command layer: what every front end (the `ziggy` CLI, and next the C ABI, the
//! language bindings and a Redis-protocol server) runs commands through.
//!
//! - [`all`]: one table of every command's name, arity, kind, group, syntax and
//!   summary ([`CommandSpec`], keyed by [`CommandId`]); help, completion and hints are
//!   generated from it.
//! - [`parse`] checks an argv (`&[&[u8]]`) against the table and decodes its arguments, with
//!   Redis's error replies in Redis's order of checks.
//! - [`Session`] runs argv against a [`Db`](crate::Db) and returns a [`Reply`], holding what
//!   one connection holds: a `MULTI` queue, `WATCH`ed keys, a `BEGIN` transaction. Its
//!   [`Policy`] says what the caller may do (administration commands, files on the server,
//!   how long a `BEGIN` may hold the writer lock); its [`Clock`] can be replaced.
//! - [`parse_int`], [`parse_float`], [`parse_long_double`] and [`parse_range_float`] read
//!   numbers as Redis does, for every command: the three float readers are one reader with
//!   Redis's three policies for what a double cannot hold.
//! - [`Reply::encode`] writes a reply as RESP2 or RESP3; [`decode_request`] reads a
//!   client's request (inline or multibulk) and [`decode_reply`] a server's reply,
//!   incrementally and without allocating lengths ahead.
//! - [`split_line`] splits a command line into arguments as redis-cli (and Redis's inline
//!   protocol) does.
//!
//! ```
//! use ziggydb::commands::{Policy, Reply, Session};
//! # fn main() -> ziggydb::Result<()> {
//! # let dir = tempfile::tempdir().map_err(|e| ziggydb::Error::InvalidArgument(e.to_string()))?;
//! let db = ziggydb::Db::open(dir.path().join("db"))?;
//! let mut session = Session::new(&db, Policy::trusted());
//! assert_eq!(session.execute(&[b"SET", b"k", b"v"]), Reply::ok());
//! assert_eq!(session.execute(&[b"GET", b"k"]), Reply::bulk("v"));
//! assert!(session.execute(&[b"NOSUCH"]).is_error());
//! # Ok(())
//! # }
//! ```
//!
//! Why a module of `ziggydb` and not a crate of its own: the `ziggy` binary lives in this
//! package (the tests run it as `CARGO_BIN_EXE_ziggy`), so a `ziggydb-commands` crate that the
//! binary used would make a dependency cycle between packages; and the C ABI crate then
//! depends on `ziggydb` alone. The module is always compiled and needs nothing beyond `std`
//! and the crate's own dependencies. Its layering is one way: commands use the data types
//! and the database's public API, and nothing below uses the commands.
//!
//! The Redis presentation helpers that only commands need live here too: [`format_float`]
//! (how a float prints as a reply), [`redis_bytes`] (how a typed value prints as a reply)
//! and [`glob_match`] (`KEYS` and `SCAN MATCH` patterns). So does `WATCH`'s bookkeeping,
//! built on [`Db::key_version`](crate::Db::key_version), and the count of commands run
//! that [`Metrics::commands`](crate::Metrics::commands) reports.

mod bits;
mod collections;
mod compat;
mod exec;
mod import;
mod introspect;
mod keyspace;
mod notify;
mod parse;
mod pubsub;
mod reply;
mod resp;
mod session;
mod split;
mod table;
mod watch;

pub use crate::format::value::{
    format_float, format_score, parse_float, parse_int, parse_long_double, parse_range_float,
};
pub use crate::types::glob_match;
pub use bits::BitsId;
pub use collections::CollectionId;
pub use compat::{compatibility_table, redis_commands, RedisCommand};
pub use exec::transfer_error;
pub use keyspace::KeyspaceId;
pub use reply::{Collected, Reply, ReplySink};
pub use resp::RespWriter;
pub use resp::{
    decode_reply, decode_request, double_text, Protocol, ProtocolError, Request, MAX_BULK_LEN,
    MAX_INLINE_LEN, MAX_MULTIBULK_LEN, MAX_REPLY_DEPTH,
};
pub use session::{execute_in, to_resp3, Clock, Policy, Session, SystemClock};
pub use split::{
    as_args, plain_command_name, split_in_place, split_line, split_packed, PackedArgs, PackedIter,
    SplitError,
};
pub use table::{
    all, check_arity, lookup, unknown_command, wrong_arity, CommandId, CommandSpec, Group,
    KeyPositions, Kind,
};

/// A value as Redis `GET` replies with it: numbers in decimal (a float as [`format_float`]
/// writes it), booleans as `true`/`false`, timestamps as milliseconds, text, JSON and bytes
/// unchanged.
///
/// # Examples
///
/// ```
/// use ziggydb::{commands::redis_bytes, Value};
/// assert_eq!(redis_bytes(&Value::Int(-7)), b"-7");
/// assert_eq!(redis_bytes(&Value::Bool(true)), b"true");
/// assert_eq!(redis_bytes(&Value::Float(0.5)), b"0.5");
/// assert_eq!(redis_bytes(&Value::String("abc".into())), b"abc");
/// ```
pub fn redis_bytes(value: &crate::Value) -> Vec<u8> {
    value.to_redis_bytes()
}

/// An argv checked against the table and its arguments decoded, ready to run.
#[derive(Debug)]
pub struct Parsed<'a> {
    spec: &'static CommandSpec,
    /// `None` for the commands only a [`Session`] runs (transaction control).
    cmd: Option<parse::Cmd<'a>>,
}

/// What an `EXPORT` or `IMPORT` command asks for, for a front end that moves the data itself
/// (the CLI's `EXPORT -` to standard output and `IMPORT -` from standard input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// `EXPORT file [FORMAT ...]`: the format asked for.
    Export(crate::ExportFormat),
    /// `IMPORT file [FORMAT ...]`: the format of the file.
    Import(crate::ExportFormat),
}

impl Parsed<'_> {
    /// The command's entry in the table.
    pub fn spec(&self) -> &'static CommandSpec {
        self.spec
    }

    /// For `EXPORT` and `IMPORT`, what they ask for; `None` for any other command.
    pub fn transfer(&self) -> Option<Transfer> {
        match &self.cmd {
            Some(parse::Cmd::Server(parse::ServerCmd::Export(_, format))) => {
                Some(Transfer::Export(*format))
            }
            Some(parse::Cmd::Server(parse::ServerCmd::Import(_, format))) => {
                Some(Transfer::Import(*format))
            }
            _ => None,
        }
    }
}

/// Checks `args` (the command name first) as a [`Session`] does before it runs a command: the
/// name against the table, then the number of arguments, then the arguments themselves.
///
/// # Errors
/// The error [`Reply`] Redis gives: an unknown command (also for an empty `args`), a wrong
/// number of arguments, a syntax error or a bad value.
pub fn parse<'a>(args: &'a [&'a [u8]]) -> Result<Parsed<'a>, Reply> {
    let Some(spec) = args.first().and_then(|name| lookup(name)) else {
        return Err(unknown_command(args));
    };
    check_arity(spec, args.len())?;
    let cmd = match spec.kind {
        Kind::Control => None,
        _ => Some(parse::parse(spec, &args[1..], parse::now_ms())?),
    };
    Ok(Parsed { spec, cmd })
}
