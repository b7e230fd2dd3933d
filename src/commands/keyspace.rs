//! Key and server commands Redis users reach for that are not about one type: `TOUCH`,
//! `OBJECT`, `MEMORY USAGE`, `DUMP`/`RESTORE`, `SORT`/`SORT_RO`, `TIME`, `FLUSHALL` and
//! `SELECT`. Their table entries, the parsing of their arguments (Redis's errors, in Redis's
//! order of checks), and how each runs: a read outside a transaction reads one committed
//! state without the writer lock; a write runs in a write transaction, its own or the open
//! `MULTI`/`BEGIN` one.
//!
//! Where ZiggyDB cannot give Redis's value it gives an honest one and says so here and in the
//! README's compatibility table:
//!
//! - `OBJECT ENCODING` names the real representation: `int` for an integer (stored as 8
//!   bytes, Redis's name for the same), `raw` for bytes, text and JSON (stored as their bytes;
//!   Redis's name for that, never `embstr`, an allocation of Redis's), `float`, `bool` and
//!   `timestamp` for ZiggyDB's own fixed-width typed values, and `btree` for every collection
//!   (pages of a B+tree, format-spec.md §4.4: none of Redis's `listpack`, `quicklist`,
//!   `intset`, `hashtable` or `skiplist`, which are in-memory structures).
//! - `OBJECT FREQ` answers what Redis answers under its default `maxmemory-policy`
//!   (`noeviction`, not an LFU policy): Redis's own error, word for word. `OBJECT IDLETIME`
//!   is an error too, where Redis would count the seconds since the last access: no access
//!   time is kept, because a read writes nothing (reads take no lock and touch no shared
//!   page, in any process), and a made-up 0 would say the key was just used. Both reply nil
//!   for a missing key first, as Redis does. `TOUCH` therefore only counts the keys that
//!   exist.
//! - `OBJECT REFCOUNT` is 1: every value is its own record, never shared.
//! - `MEMORY USAGE` counts bytes on disk, where the data is: the key's record and, for a
//!   collection, its tree pages ([`Db::memory_usage`]).
//! - `DUMP` payloads are ZiggyDB's own (format-spec.md §16), not Redis's RDB encoding: each
//!   side refuses the other's with `ERR DUMP payload version or checksum are wrong`.
//! - `SELECT`, `SWAPDB`, `MOVE` and `FLUSHALL` work on numbered databases (format-spec.md
//!   §4.5); `SWAPDB` refuses database 0, which every handle reads without the database map.

use crate::commands::exec::{bulk_or_nil, error_reply};
use crate::commands::parse::{not_an_integer, parse_int, syntax_error};
use crate::commands::reply::Reply;
use crate::commands::table::{CommandId, CommandSpec, Group, Kind};
use crate::{Db, Read, ValueType, WriteTxn};

/// Every command of this module, one variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyspaceId {
    /// `TOUCH`.
    Touch,
    /// `OBJECT`.
    Object,
    /// `MEMORY`.
    Memory,
    /// `DUMP`.
    Dump,
    /// `RESTORE`.
    Restore,
    /// `SORT`.
    Sort,
    /// `SORT_RO`.
    SortRo,
    /// `TIME`.
    Time,
    /// `FLUSHALL`.
    Flushall,
    /// `SELECT`.
    Select,
    /// `SWAPDB`.
    Swapdb,
    /// `MOVE`.
    Move,
}

const fn spec(
    group: Group,
    id: KeyspaceId,
    name: &'static str,
    arity: i32,
    kind: Kind,
    syntax: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        id: CommandId::Keyspace(id),
        name,
        arity,
        kind,
        syntax,
        summary,
        group,
    }
}

/// Every command of this module, in the order help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        Group::Generic,
        KeyspaceId::Touch,
        "TOUCH",
        -2,
        Kind::Read,
        "key [key ...]",
        "Count how many of the keys exist (no access time is kept to update)",
    ),
    spec(
        Group::Generic,
        KeyspaceId::Object,
        "OBJECT",
        -2,
        Kind::Other,
        "ENCODING key|FREQ key|IDLETIME key|REFCOUNT key|HELP",
        "Describe how a key's value is stored (int, raw, float, bool, timestamp, btree)",
    ),
    spec(
        Group::Server,
        KeyspaceId::Memory,
        "MEMORY",
        -2,
        Kind::Other,
        "USAGE key [SAMPLES count]|HELP",
        "Get the bytes a key takes on disk: its record and its collection pages",
    ),
    spec(
        Group::Generic,
        KeyspaceId::Dump,
        "DUMP",
        2,
        Kind::Read,
        "key",
        "Serialize a key's value as a ZiggyDB payload (versioned, with a CRC) for RESTORE",
    ),
    spec(
        Group::Generic,
        KeyspaceId::Restore,
        "RESTORE",
        -4,
        Kind::Write,
        "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
        "Create a key from a DUMP payload, expiring after ttl milliseconds (0: never)",
    ),
    spec(
        Group::Generic,
        KeyspaceId::Sort,
        "SORT",
        -2,
        Kind::Write,
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] \
         [ALPHA] [STORE destination]",
        "Sort a list, set or sorted set, optionally by and fetching other keys, or store it",
    ),
    spec(
        Group::Generic,
        KeyspaceId::SortRo,
        "SORT_RO",
        -2,
        Kind::Read,
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] \
         [ALPHA]",
        "Sort a list, set or sorted set (SORT without STORE)",
    ),
    spec(
        Group::Server,
        KeyspaceId::Time,
        "TIME",
        1,
        Kind::Other,
        "",
        "Get the Unix time: seconds and microseconds",
    ),
    spec(
        Group::Server,
        KeyspaceId::Flushall,
        "FLUSHALL",
        -1,
        Kind::Write,
        "[ASYNC|SYNC]",
        "Delete every key of every database",
    ),
    spec(
        Group::Connection,
        KeyspaceId::Select,
        "SELECT",
        2,
        Kind::Other,
        "index",
        "Select the database (0 to 15 by default) this connection's commands use",
    ),
    spec(
        Group::Server,
        KeyspaceId::Swapdb,
        "SWAPDB",
        3,
        Kind::Write,
        "index1 index2",
        "Swap two databases (not database 0) at once for every process",
    ),
    spec(
        Group::Generic,
        KeyspaceId::Move,
        "MOVE",
        3,
        Kind::Write,
        "key db",
        "Move a key to another database; 0 if it is absent here or present there",
    ),
];

/// The command of this module named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Where the command's keys are, as [`CommandId::keys`] gives them: the first, the last and
/// the step. `OBJECT` and `MEMORY` name their key after a subcommand, and Redis gives
/// their containers none.
pub fn keys(id: KeyspaceId) -> (i32, i32, i32) {
    match id {
        KeyspaceId::Touch => (1, -1, 1),
        KeyspaceId::Dump
        | KeyspaceId::Restore
        | KeyspaceId::Sort
        | KeyspaceId::SortRo
        | KeyspaceId::Move => (1, 1, 1),
        KeyspaceId::Object
        | KeyspaceId::Memory
        | KeyspaceId::Time
        | KeyspaceId::Flushall
        | KeyspaceId::Select
        | KeyspaceId::Swapdb => (0, 0, 0),
    }
}

/// The subcommands of `OBJECT` and `MEMORY` with their arity as Redis counts it (the command
/// and the subcommand included), for `COMMAND INFO`; `None` for a command without any.
pub fn subcommands(id: KeyspaceId) -> Option<&'static [(&'static str, i32)]> {
    match id {
        KeyspaceId::Object => Some(&[
            ("encoding", 3),
            ("freq", 3),
            ("idletime", 3),
            ("refcount", 3),
            ("help", 2),
        ]),
        KeyspaceId::Memory => Some(&[("usage", -3), ("help", 2)]),
        _ => None,
    }
}

/// `COMMAND GETKEYS` for the commands whose keys are not at fixed positions, as Redis finds
/// them: `SORT`'s key and the destination of its last `STORE` (skipping the arguments of
/// `LIMIT`, `GET` and `BY`), and the key after `OBJECT`'s and `MEMORY`'s subcommand. `None`:
/// the key positions of [`keys`] tell.
pub fn get_keys(id: KeyspaceId, argv: &[&[u8]]) -> Option<Reply> {
    let is = |arg: &[u8], word: &str| arg.eq_ignore_ascii_case(word.as_bytes());
    match id {
        KeyspaceId::Sort => {
            let mut keys = vec![Reply::bulk(argv[1])];
            let mut store = None;
            let mut i = 2;
            while i < argv.len() {
                if is(argv[i], "LIMIT") {
                    i += 2;
                } else if is(argv[i], "GET") || is(argv[i], "BY") {
                    i += 1;
                } else if is(argv[i], "STORE") && i + 1 < argv.len() {
                    store = Some(argv[i + 1]);
                }
                i += 1;
            }
            keys.extend(store.map(Reply::bulk));
            Some(Reply::Array(keys))
        }
        KeyspaceId::Object | KeyspaceId::Memory => {
            let sub = subcommands(id)?.iter().find(|(name, _)| is(argv[1], name));
            let Some(&(name, arity)) = sub else {
                return Some(Reply::error("ERR Invalid command specified"));
            };
            let fits = match usize::try_from(arity) {
                Ok(n) => argv.len() == n,
                Err(_) => argv.len() >= arity.unsigned_abs() as usize,
            };
            Some(if !fits {
                Reply::error("ERR Invalid number of arguments specified for command")
            } else if name == "help" {
                Reply::error("ERR The command has no key arguments")
            } else {
                Reply::Array(vec![Reply::bulk(argv[2])])
            })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsed commands

/// What `OBJECT` asks about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectSub {
    Encoding,
    Freq,
    IdleTime,
    RefCount,
}

/// A parsed `RESTORE`. The TTL is checked when it runs, after the key, as Redis does.
#[derive(Debug, PartialEq, Eq)]
pub struct Restore<'a> {
    key: &'a [u8],
    ttl: &'a [u8],
    payload: &'a [u8],
    replace: bool,
    absttl: bool,
    /// When the command was parsed (Unix ms), what a relative TTL counts from.
    now: u64,
}

/// A parsed `SORT` or `SORT_RO`.
#[derive(Debug, PartialEq, Eq)]
pub struct Sort<'a> {
    key: &'a [u8],
    /// The `BY` pattern; `None` sorts by the elements themselves.
    by: Option<&'a [u8]>,
    /// A `BY` pattern without `*` (`BY nosort`): the elements keep their order.
    dont_sort: bool,
    limit_start: i64,
    /// -1: to the end.
    limit_count: i64,
    gets: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

/// A parsed command of this module.
#[derive(Debug, PartialEq, Eq)]
pub enum Cmd<'a> {
    Touch(&'a [&'a [u8]]),
    Object(ObjectSub, &'a [u8]),
    ObjectHelp,
    MemoryUsage(&'a [u8]),
    MemoryHelp,
    Dump(&'a [u8]),
    Restore(Restore<'a>),
    Sort(Sort<'a>),
    Time,
    /// `SELECT index`: checked against the number of databases when it runs.
    Select(u32),
    SwapDb(u32, u32),
    Move(&'a [u8], u32),
    FlushAll,
}

/// Redis's error for a subcommand with the wrong number of arguments.
fn wrong_sub_arity(parent: &str, sub: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{parent}|{sub}' command"
    ))
}

fn unknown_sub(parent: &str, sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {parent} HELP.",
        String::from_utf8_lossy(sub).replace(['\r', '\n'], " ")
    ))
}

/// Parses the arguments (after the name) of a command of this module that has passed its
/// arity check; `now` is the session's time (Unix ms).
pub fn parse<'a>(
    id: KeyspaceId,
    args: &'a [&'a [u8]],
    now: u64,
) -> Result<crate::commands::parse::Cmd<'a>, Reply> {
    use crate::commands::parse::Cmd as P;
    let is = |arg: &[u8], word: &str| arg.eq_ignore_ascii_case(word.as_bytes());
    Ok(P::Keyspace(match id {
        KeyspaceId::Touch => Cmd::Touch(args),
        KeyspaceId::Dump => Cmd::Dump(args[0]),
        KeyspaceId::Time => Cmd::Time,
        KeyspaceId::Flushall => match args {
            [] => Cmd::FlushAll,
            [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => Cmd::FlushAll,
            _ => return Err(syntax_error()),
        },
        KeyspaceId::Select => {
            let index = parse_int(args[0]).ok_or_else(not_an_integer)?;
            Cmd::Select(db_index(index)?)
        }
        KeyspaceId::Swapdb => {
            let first =
                parse_int(args[0]).ok_or_else(|| Reply::error("ERR invalid first DB index"))?;
            let second =
                parse_int(args[1]).ok_or_else(|| Reply::error("ERR invalid second DB index"))?;
            Cmd::SwapDb(db_index(first)?, db_index(second)?)
        }
        KeyspaceId::Move => {
            let index = parse_int(args[1]).ok_or_else(not_an_integer)?;
            Cmd::Move(args[0], db_index(index)?)
        }
        KeyspaceId::Object => {
            let (sub, rest) = (args[0], &args[1..]);
            let which = [
                ("encoding", ObjectSub::Encoding),
                ("freq", ObjectSub::Freq),
                ("idletime", ObjectSub::IdleTime),
                ("refcount", ObjectSub::RefCount),
            ]
            .into_iter()
            .find(|(name, _)| is(sub, name));
            match (which, rest) {
                (Some((_, which)), [key]) => Cmd::Object(which, key),
                (Some((name, _)), _) => return Err(wrong_sub_arity("object", name)),
                (None, []) if is(sub, "help") => Cmd::ObjectHelp,
                (None, _) if is(sub, "help") => return Err(wrong_sub_arity("object", "help")),
                (None, _) => return Err(unknown_sub("OBJECT", sub)),
            }
        }
        KeyspaceId::Memory => {
            let (sub, rest) = (args[0], &args[1..]);
            if is(sub, "usage") {
                let Some((key, opts)) = rest.split_first() else {
                    return Err(wrong_sub_arity("memory", "usage"));
                };
                let mut i = 0;
                while i < opts.len() {
                    if is(opts[i], "SAMPLES") && i + 1 < opts.len() {
                        let samples = parse_int(opts[i + 1]).ok_or_else(not_an_integer)?;
                        if samples < 0 {
                            return Err(syntax_error());
                        }
                        i += 2;
                    } else {
                        return Err(syntax_error());
                    }
                }
                Cmd::MemoryUsage(key)
            } else if is(sub, "help") {
                if !rest.is_empty() {
                    return Err(wrong_sub_arity("memory", "help"));
                }
                Cmd::MemoryHelp
            } else if ["doctor", "malloc-stats", "purge", "stats"]
                .iter()
                .any(|name| is(sub, name))
            {
                return Err(Reply::error(format!(
                    "ERR MEMORY {} is not supported: ZiggyDB keeps its data in files, not in a \
                     server's memory (see INFO memory and MEMORY USAGE)",
                    String::from_utf8_lossy(sub).to_ascii_uppercase()
                )));
            } else {
                return Err(unknown_sub("MEMORY", sub));
            }
        }
        KeyspaceId::Restore => Cmd::Restore(parse_restore(args, now)?),
        KeyspaceId::Sort | KeyspaceId::SortRo => {
            Cmd::Sort(parse_sort(args, id == KeyspaceId::SortRo)?)
        }
    }))
}

/// A database index as a number, or Redis's error for one no database can have (one past
/// the configured number is found when the command runs).
pub(crate) fn db_index(index: i64) -> Result<u32, Reply> {
    u32::try_from(index).map_err(|_| Reply::error("ERR DB index is out of range"))
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`: the
/// options are checked first, as Redis does (`IDLETIME` and `FREQ` exclude each other, and
/// neither is kept: ZiggyDB tracks no access).
fn parse_restore<'a>(args: &'a [&'a [u8]], now: u64) -> Result<Restore<'a>, Reply> {
    let is = |arg: &[u8], word: &str| arg.eq_ignore_ascii_case(word.as_bytes());
    let mut restore = Restore {
        key: args[0],
        ttl: args[1],
        payload: args[2],
        replace: false,
        absttl: false,
        now,
    };
    let (mut idle, mut freq) = (false, false);
    let opts = &args[3..];
    let mut i = 0;
    while i < opts.len() {
        let more = opts.len() - i - 1;
        let opt = opts[i];
        if is(opt, "REPLACE") {
            restore.replace = true;
        } else if is(opt, "ABSTTL") {
            restore.absttl = true;
        } else if is(opt, "IDLETIME") && more >= 1 && !freq {
            let n = parse_int(opts[i + 1]).ok_or_else(not_an_integer)?;
            if n < 0 {
                return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
            i += 1;
        } else if is(opt, "FREQ") && more >= 1 && !idle {
            let n = parse_int(opts[i + 1]).ok_or_else(not_an_integer)?;
            if !(0..=255).contains(&n) {
                return Err(Reply::error(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = true;
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    Ok(restore)
}

/// `SORT`'s options, read left to right as Redis reads them: the first mistake is the error.
/// `SORT_RO` (`read_only`) has no `STORE`.
fn parse_sort<'a>(args: &'a [&'a [u8]], read_only: bool) -> Result<Sort<'a>, Reply> {
    let is = |arg: &[u8], word: &str| arg.eq_ignore_ascii_case(word.as_bytes());
    let mut sort = Sort {
        key: args[0],
        by: None,
        dont_sort: false,
        limit_start: 0,
        limit_count: -1,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut j = 1;
    while j < args.len() {
        let left = args.len() - j - 1;
        let arg = args[j];
        if is(arg, "ASC") {
            sort.desc = false;
        } else if is(arg, "DESC") {
            sort.desc = true;
        } else if is(arg, "ALPHA") {
            sort.alpha = true;
        } else if is(arg, "LIMIT") && left >= 2 {
            sort.limit_start = parse_int(args[j + 1]).ok_or_else(not_an_integer)?;
            sort.limit_count = parse_int(args[j + 2]).ok_or_else(not_an_integer)?;
            j += 2;
        } else if !read_only && is(arg, "STORE") && left >= 1 {
            sort.store = Some(args[j + 1]);
            j += 1;
        } else if is(arg, "BY") && left >= 1 {
            let pattern = args[j + 1];
            sort.by = Some(pattern);
            if !pattern.contains(&b'*') {
                sort.dont_sort = true;
            }
            j += 1;
        } else if is(arg, "GET") && left >= 1 {
            sort.gets.push(args[j + 1]);
            j += 1;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(sort)
}

// ---------------------------------------------------------------------------------------------
// Running

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return how the value of <key> is stored: int, raw (bytes, text, JSON), float, bool,",
    "    timestamp, or btree (a list, set, sorted set or hash).",
    "FREQ <key>",
    "    An error, as in Redis without an LFU maxmemory-policy: no access frequency is kept.",
    "IDLETIME <key>",
    "    An error: ZiggyDB keeps no access time (a read writes nothing).",
    "REFCOUNT <key>",
    "    Always 1: every value is a record of its own.",
    "HELP",
    "    Prints this help.",
];

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    Return the bytes <key> takes on disk: its record and, for a collection, the records",
    "    of its pages (every page is counted; SAMPLES is accepted and ignored).",
    "HELP",
    "    Prints this help.",
];

fn help(lines: &[&str]) -> Reply {
    Reply::Array(
        lines
            .iter()
            .map(|line| Reply::Status((*line).to_owned()))
            .collect(),
    )
}

/// `OBJECT ENCODING`'s name for a value of type `ty` (see the module's documentation).
pub fn encoding(ty: ValueType) -> &'static str {
    match ty {
        ValueType::Int => "int",
        ValueType::Float => "float",
        ValueType::Bool => "bool",
        ValueType::Timestamp => "timestamp",
        ValueType::List | ValueType::Set | ValueType::ZSet | ValueType::Hash => "btree",
        _ => "raw",
    }
}

/// Runs a command of this module: in `txn` if one is open, else reading the committed state
/// (one consistent view) or writing in a transaction of its own.
pub fn run(db: &Db, txn: Option<&mut WriteTxn>, cmd: &Cmd<'_>) -> crate::Result<Reply> {
    match (cmd, txn) {
        (Cmd::Time, _) => Ok(time()),
        (Cmd::Select(index), Some(tx)) => {
            tx.select(*index)?;
            Ok(Reply::ok())
        }
        (Cmd::Select(index), None) => {
            if *index >= db.databases() {
                return Ok(Reply::error("ERR DB index is out of range"));
            }
            Ok(Reply::ok())
        }
        (Cmd::SwapDb(a, b), Some(tx)) => {
            tx.swap_databases(*a, *b)?;
            Ok(Reply::ok())
        }
        (Cmd::SwapDb(..), None) => in_own_txn(db, |tx| run(db, Some(tx), cmd)),
        (Cmd::Move(key, to), Some(tx)) => Ok(int(u64::from(tx.move_key(key, *to)?))),
        (Cmd::Move(..), None) => in_own_txn(db, |tx| run(db, Some(tx), cmd)),
        (Cmd::FlushAll, Some(tx)) => {
            tx.clear_all()?;
            Ok(Reply::ok())
        }
        (Cmd::FlushAll, None) => {
            db.clear_all()?;
            Ok(Reply::ok())
        }
        (Cmd::ObjectHelp, _) => Ok(help(OBJECT_HELP)),
        (Cmd::MemoryHelp, _) => Ok(help(MEMORY_HELP)),
        (Cmd::Touch(keys), Some(tx)) => Ok(int(tx.count_existing(keys)?)),
        (Cmd::Touch(keys), None) => Ok(int(db.count_existing(keys)?)),
        (Cmd::Object(sub, key), Some(tx)) => object(&*tx, *sub, key),
        (Cmd::Object(sub, key), None) => object(db, *sub, key),
        (Cmd::MemoryUsage(key), Some(tx)) => Ok(opt_int(tx.memory_usage(key)?)),
        (Cmd::MemoryUsage(key), None) => Ok(opt_int(db.memory_usage(key)?)),
        (Cmd::Dump(key), Some(tx)) => Ok(bulk_or_nil(tx.dump(key)?.map(crate::Value::Bytes))),
        (Cmd::Dump(key), None) => Ok(bulk_or_nil(db.dump(key)?.map(crate::Value::Bytes))),
        (Cmd::Restore(r), Some(tx)) => restore(tx, r),
        (Cmd::Restore(r), None) => in_own_txn(db, |tx| restore(tx, r)),
        (Cmd::Sort(s), Some(tx)) => sort(tx, s),
        (Cmd::Sort(s), None) if s.store.is_some() => in_own_txn(db, |tx| sort(tx, s)),
        (Cmd::Sort(s), None) => Ok(match db.view(|snap| Ok(sorted_rows(snap, s)))? {
            Ok(rows) => rows_reply(rows),
            Err(reply) => reply,
        }),
    }
}

/// Runs `f` in a write transaction of its own, committed unless `f` fails or replies with an
/// error.
fn in_own_txn(
    db: &Db,
    f: impl FnOnce(&mut WriteTxn) -> crate::Result<Reply>,
) -> crate::Result<Reply> {
    let mut tx = db.begin_write()?;
    match f(&mut tx) {
        Ok(reply) if !reply.is_error() => {
            tx.commit()?;
            Ok(reply)
        }
        other => {
            tx.rollback();
            other
        }
    }
}

fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn opt_int(n: Option<u64>) -> Reply {
    n.map_or(Reply::Nil, int)
}

/// `TIME`: the Unix time as two bulk strings, seconds and the microseconds within them.
fn time() -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk(now.as_secs().to_string()),
        Reply::bulk(now.subsec_micros().to_string()),
    ])
}

/// Redis 7's reply to `OBJECT FREQ` unless `maxmemory-policy` is an LFU policy (its default,
/// `noeviction`, is not; ZiggyDB evicts nothing).
pub(crate) const OBJECT_FREQ_ERROR: &str = "ERR An LFU maxmemory policy is not selected, access \
     frequency not tracked. Please note that when switching between policies at runtime LRU \
     and LFU data will take some time to adjust.";

fn object(r: &impl Read, sub: ObjectSub, key: &[u8]) -> crate::Result<Reply> {
    let Some(ty) = r.value_type(key)? else {
        return Ok(Reply::Nil);
    };
    Ok(match sub {
        ObjectSub::Encoding => Reply::bulk(encoding(ty)),
        ObjectSub::Freq => Reply::error(OBJECT_FREQ_ERROR),
        ObjectSub::IdleTime => Reply::error(
            "ERR access time is not tracked: ZiggyDB keeps no access time (a read writes \
             nothing), so how long a key has been idle is not known",
        ),
        ObjectSub::RefCount => Reply::Int(1),
    })
}

fn restore(tx: &mut WriteTxn, r: &Restore<'_>) -> crate::Result<Reply> {
    if !r.replace && tx.exists(r.key)? {
        return Ok(Reply::error("BUSYKEY Target key name already exists."));
    }
    let Some(ttl) = parse_int(r.ttl) else {
        return Ok(not_an_integer());
    };
    let Ok(ttl) = u64::try_from(ttl) else {
        return Ok(Reply::error("ERR Invalid TTL value, must be >= 0"));
    };
    let at = match ttl {
        0 => None,
        // At or before the epoch: already past.
        _ if r.absttl => Some(ttl),
        _ => Some(r.now.saturating_add(ttl)),
    };
    match tx.restore(r.key, r.payload, at, r.replace) {
        Ok(_) => Ok(Reply::ok()),
        Err(e) => Ok(error_reply(&e)),
    }
}

/// The value `pattern` names for the element `elem`, as Redis's SORT looks it up: `#` is the
/// element itself; otherwise the first `*` is replaced by the element, and a `->field` after
/// it reads that field of a hash. A pattern without `*`, a missing key, or a key of another
/// type names nothing.
fn lookup_pattern(r: &impl Read, pattern: &[u8], elem: &[u8]) -> crate::Result<Option<Vec<u8>>> {
    if pattern == b"#" {
        return Ok(Some(elem.to_vec()));
    }
    // Redis searches the pattern as a C string: up to its first NUL.
    let Some(star) = c_str(pattern).iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let after = &pattern[star + 1..];
    let (tail, field) = match c_str(after).windows(2).position(|w| w == b"->") {
        Some(at) if at + 2 < after.len() => (&after[..at], Some(&after[at + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + tail.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(tail);
    let ty = r.value_type(&key)?;
    Ok(match (ty, field) {
        (Some(ValueType::Hash), Some(field)) => r.hash_view(&key).get(field)?,
        (Some(ty), None) if !ty.is_collection() => r.get(&key)?.map(crate::Value::into_redis_bytes),
        _ => None,
    })
}

/// `text` up to its first NUL byte: what Redis's C string functions see of it.
fn c_str(text: &[u8]) -> &[u8] {
    text.iter()
        .position(|&b| b == 0)
        .map_or(text, |nul| &text[..nul])
}

/// A number as SORT reads one (`strtod` over the text up to its first NUL): leading spaces
/// allowed, an empty text is 0, and text beyond a double's range, too small for one, NaN or
/// followed by anything is refused.
fn sort_score(text: &[u8]) -> Option<f64> {
    let text = c_str(text);
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    crate::commands::parse_float(&text[start..])
}

/// What an element is sorted by.
enum SortKey {
    /// Numeric, by `BY` or the element.
    Score(f64),
    /// `ALPHA` by a `BY` pattern: the value it names, if any (none sorts first).
    Text(Option<Vec<u8>>),
    /// `ALPHA` by the element itself.
    Itself,
}

/// The rows `SORT` replies with (or stores), each `None` where a `GET` names nothing, or the
/// error reply Redis gives.
fn sorted_rows(r: &impl Read, s: &Sort<'_>) -> Result<Vec<Option<Vec<u8>>>, Reply> {
    sorted_rows_inner(r, s).unwrap_or_else(|e| Err(error_reply(&e)))
}

fn sorted_rows_inner(
    r: &impl Read,
    s: &Sort<'_>,
) -> crate::Result<Result<Vec<Option<Vec<u8>>>, Reply>> {
    let ty = r.value_type(s.key)?;
    if let Some(ty) = ty {
        if !matches!(ty, ValueType::List | ValueType::Set | ValueType::ZSet) {
            return Ok(Err(Reply::error(
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            )));
        }
    }
    let (mut dont_sort, mut alpha, mut by) = (s.dont_sort, s.alpha, s.by);
    // A set has no order of its own: stored, it is sorted as text, so that the result is
    // the same on every replica (Redis's rule).
    if dont_sort && ty == Some(ValueType::Set) && s.store.is_some() {
        dont_sort = false;
        alpha = true;
        by = None;
    }
    let len: i64 = match ty {
        Some(ValueType::List) => r.list_view(s.key).len()?,
        Some(ValueType::Set) => r.set_view(s.key).len()?,
        Some(ValueType::ZSet) => r.zset_view(s.key).len()?,
        _ => 0,
    }
    .try_into()
    .unwrap_or(i64::MAX);
    // Redis's LIMIT arithmetic.
    let mut start = s.limit_start.max(0).min(len);
    let count = s.limit_count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let mut elems: Vec<Vec<u8>> = match ty {
        Some(ValueType::List) if dont_sort => {
            if end >= start {
                let items = if s.desc {
                    let mut items = r.list_view(s.key).range(len - 1 - end, len - 1 - start)?;
                    items.reverse();
                    items
                } else {
                    r.list_view(s.key).range(start, end)?
                };
                end -= start;
                start = 0;
                items
            } else {
                Vec::new()
            }
        }
        Some(ValueType::List) => r.list_view(s.key).range(0, -1)?,
        Some(ValueType::Set) => r.set_view(s.key).members()?,
        Some(ValueType::ZSet) if dont_sort => {
            if end >= start {
                let items = r.zset_view(s.key).range(start, end, s.desc)?;
                end -= start;
                start = 0;
                items.into_iter().map(|(m, _)| m).collect()
            } else {
                Vec::new()
            }
        }
        Some(ValueType::ZSet) => r
            .zset_view(s.key)
            .range(0, -1, false)?
            .into_iter()
            .map(|(m, _)| m)
            .collect(),
        _ => Vec::new(),
    };
    if !dont_sort {
        let mut keyed = Vec::with_capacity(elems.len());
        let mut not_a_number = false;
        for elem in elems {
            let by_value = match by {
                Some(pattern) => lookup_pattern(r, pattern, &elem)?,
                None => None,
            };
            let key = if alpha {
                match by {
                    Some(_) => SortKey::Text(by_value),
                    None => SortKey::Itself,
                }
            } else {
                let text = match by {
                    Some(_) => by_value,
                    None => Some(elem.clone()),
                };
                // A missing BY value sorts as 0.
                let score = match text {
                    None => 0.0,
                    Some(text) => sort_score(&text).unwrap_or_else(|| {
                        not_a_number = true;
                        0.0
                    }),
                };
                SortKey::Score(score)
            };
            keyed.push((key, elem));
        }
        if not_a_number {
            return Ok(Err(Reply::error(
                "ERR One or more scores can't be converted into double",
            )));
        }
        let stored = s.store.is_some();
        keyed.sort_by(|(ka, a), (kb, b)| {
            let ord = match (ka, kb) {
                (SortKey::Score(x), SortKey::Score(y)) => x
                    .partial_cmp(y)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.cmp(b)),
                // Without STORE Redis compares text with strcoll (C strings, which end at
                // a NUL; byte order in the C and UTF-8 locales), with STORE byte for byte.
                (SortKey::Text(x), SortKey::Text(y)) if stored => x.cmp(y),
                (SortKey::Text(x), SortKey::Text(y)) => {
                    x.as_deref().map(c_str).cmp(&y.as_deref().map(c_str))
                }
                _ if stored => a.cmp(b),
                _ => c_str(a).cmp(c_str(b)),
            };
            if s.desc {
                ord.reverse()
            } else {
                ord
            }
        });
        elems = keyed.into_iter().map(|(_, e)| e).collect();
    }
    let mut rows = Vec::new();
    if end >= start {
        for elem in elems
            .iter()
            .skip(usize::try_from(start).unwrap_or(0))
            .take(usize::try_from(end - start + 1).unwrap_or(0))
        {
            if s.gets.is_empty() {
                rows.push(Some(elem.clone()));
            }
            for get in &s.gets {
                rows.push(lookup_pattern(r, get, elem)?);
            }
        }
    }
    Ok(Ok(rows))
}

fn rows_reply(rows: Vec<Option<Vec<u8>>>) -> Reply {
    Reply::Array(
        rows.into_iter()
            .map(|row| row.map_or(Reply::Nil, Reply::Bulk))
            .collect(),
    )
}

/// `SORT` in a transaction: the rows, or with `STORE` a list of them (a `GET` that names
/// nothing stores an empty string) replacing the destination, which an empty result deletes.
fn sort(tx: &mut WriteTxn, s: &Sort<'_>) -> crate::Result<Reply> {
    let rows = match sorted_rows(&*tx, s) {
        Ok(rows) => rows,
        Err(reply) => return Ok(reply),
    };
    let Some(dest) = s.store else {
        return Ok(rows_reply(rows));
    };
    let n = rows.len();
    tx.delete(dest)?;
    if n > 0 {
        let items: Vec<Vec<u8>> = rows.into_iter().map(Option::unwrap_or_default).collect();
        tx.list(dest).push_back(&items)?;
    }
    Ok(int(n as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{Policy, Session};

    fn session() -> (tempfile::TempDir, Session) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = Db::open(dir.path().join("db")).expect("open");
        let s = Session::new(&db, Policy::trusted());
        (dir, s)
    }

    fn run(s: &mut Session, line: &str) -> Reply {
        let args = crate::commands::split_line(line.as_bytes()).expect("a line");
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        s.execute(&args)
    }

    fn bulks(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| Reply::bulk(*s)).collect())
    }

    #[test]
    fn table_is_consistent_and_apart_from_the_other_commands() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert_ne!(spec.arity, 0, "{}", spec.name);
            assert!(!spec.summary.is_empty());
            assert!(COMMANDS[i + 1..].iter().all(|c| c.name != spec.name));
            assert!(
                crate::commands::table::COMMANDS
                    .iter()
                    .chain(crate::commands::collections::COMMANDS)
                    .all(|c| c.name != spec.name),
                "{} is in another table too",
                spec.name
            );
            assert_eq!(
                crate::commands::lookup(spec.name.as_bytes()).map(|c| c.id),
                Some(spec.id)
            );
        }
    }

    #[test]
    fn sort_orders_numbers_text_and_patterns_as_redis_does() {
        let (_dir, mut s) = session();
        run(&mut s, "RPUSH l 3 10 1 2.5 -1");
        assert_eq!(run(&mut s, "SORT l"), bulks(&["-1", "1", "2.5", "3", "10"]));
        assert_eq!(run(&mut s, "SORT l DESC LIMIT 1 2"), bulks(&["3", "2.5"]));
        assert_eq!(
            run(&mut s, "SORT l ALPHA"),
            bulks(&["-1", "1", "10", "2.5", "3"])
        );
        assert_eq!(
            run(&mut s, "SORT l BY nosort DESC"),
            bulks(&["-1", "2.5", "1", "10", "3"])
        );
        run(&mut s, "MSET w_3 1 w_10 5 w_1 3 w_2.5 2");
        run(&mut s, "HSET h_3 f c");
        assert_eq!(
            run(&mut s, "SORT l BY w_* GET # GET h_*->f"),
            Reply::Array(vec![
                Reply::bulk("-1"),
                Reply::Nil,
                Reply::bulk("3"),
                Reply::bulk("c"),
                Reply::bulk("2.5"),
                Reply::Nil,
                Reply::bulk("1"),
                Reply::Nil,
                Reply::bulk("10"),
                Reply::Nil,
            ])
        );
        run(&mut s, "RPUSH words b a");
        assert_eq!(
            run(&mut s, "SORT words"),
            Reply::error("ERR One or more scores can't be converted into double")
        );
        assert_eq!(run(&mut s, "SORT l STORE dst"), Reply::Int(5));
        assert_eq!(
            run(&mut s, "LRANGE dst 0 -1"),
            bulks(&["-1", "1", "2.5", "3", "10"])
        );
        assert_eq!(run(&mut s, "SORT nokey STORE dst"), Reply::Int(0));
        assert_eq!(run(&mut s, "EXISTS dst"), Reply::Int(0));
        assert_eq!(run(&mut s, "SORT_RO l STORE dst"), syntax_error());
        assert_eq!(run(&mut s, "SORT l LIMIT 0 x"), not_an_integer());
        run(&mut s, "SET str v");
        assert_eq!(
            run(&mut s, "SORT str"),
            Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
    }

    #[test]
    fn object_memory_select_and_time_reply_honestly() {
        let (_dir, mut s) = session();
        run(&mut s, "SET n 12 TYPE int");
        run(&mut s, "SET b bytes");
        run(&mut s, "RPUSH l a");
        for (key, enc) in [("n", "int"), ("b", "raw"), ("l", "btree")] {
            assert_eq!(
                run(&mut s, &format!("OBJECT ENCODING {key}")),
                Reply::bulk(enc)
            );
        }
        assert_eq!(run(&mut s, "OBJECT ENCODING nokey"), Reply::Nil);
        assert!(run(&mut s, "OBJECT IDLETIME b").is_error());
        assert_eq!(run(&mut s, "OBJECT IDLETIME nokey"), Reply::Nil);
        assert_eq!(run(&mut s, "OBJECT REFCOUNT b"), Reply::Int(1));
        assert_eq!(
            run(&mut s, "OBJECT FREQ b"),
            Reply::error(OBJECT_FREQ_ERROR)
        );
        assert_eq!(run(&mut s, "OBJECT FREQ nokey"), Reply::Nil);
        assert_eq!(
            run(&mut s, "OBJECT NOPE b"),
            Reply::error("ERR unknown subcommand 'NOPE'. Try OBJECT HELP.")
        );
        // A 24-byte header, 1 byte of key, 5 of value.
        assert_eq!(run(&mut s, "MEMORY USAGE b"), Reply::Int(30));
        assert_eq!(run(&mut s, "MEMORY USAGE b SAMPLES -1"), syntax_error());
        assert_eq!(run(&mut s, "MEMORY USAGE nokey"), Reply::Nil);
        let Reply::Int(list) = run(&mut s, "MEMORY USAGE l") else {
            panic!("an integer")
        };
        assert!(list > 24 + 1 + 56, "a list counts its page too: {list}");
        assert_eq!(run(&mut s, "SELECT 1"), Reply::ok());
        assert_eq!(run(&mut s, "DBSIZE"), Reply::Int(0));
        assert_eq!(run(&mut s, "SELECT 0"), Reply::ok());
        assert_eq!(
            run(&mut s, "SELECT 16"),
            Reply::error("ERR DB index is out of range")
        );
        assert_eq!(run(&mut s, "TOUCH b l nokey"), Reply::Int(2));
        assert_eq!(run(&mut s, "FLUSHALL SYNC"), Reply::ok());
        assert_eq!(run(&mut s, "DBSIZE"), Reply::Int(0));
        let Reply::Array(t) = run(&mut s, "TIME") else {
            panic!("an array")
        };
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn restore_checks_in_redis_order() {
        let (_dir, mut s) = session();
        run(&mut s, "SET k v");
        assert_eq!(
            run(&mut s, "RESTORE k 0 junk"),
            Reply::error("BUSYKEY Target key name already exists.")
        );
        assert_eq!(run(&mut s, "RESTORE k 0 junk FOO"), syntax_error());
        assert_eq!(
            run(&mut s, "RESTORE x -1 junk"),
            Reply::error("ERR Invalid TTL value, must be >= 0")
        );
        assert_eq!(
            run(&mut s, "RESTORE x 0 junk"),
            Reply::error("ERR DUMP payload version or checksum are wrong")
        );
        assert_eq!(
            run(&mut s, "RESTORE x 0 junk IDLETIME 1 FREQ 1"),
            syntax_error()
        );
    }
}
