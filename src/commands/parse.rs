//! Argument parsing: each command's arguments, checked and decoded into a [`Cmd`], with
//! Redis's error for each kind of mistake and Redis's order of checks.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Value, ValueType};

use crate::commands::reply::Reply;
use crate::commands::table::{wrong_arity, CommandId, CommandSpec};

pub fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

pub fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

fn not_a_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

/// Redis's error for an expiry out of range, naming the command in lower case.
fn invalid_expire(command: &str) -> Reply {
    Reply::error(format!(
        "ERR invalid expire time in '{}' command",
        command.to_ascii_lowercase()
    ))
}

pub use crate::format::value::parse_int;

fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    parse_int(arg).ok_or_else(not_an_integer)
}

/// `INCRBYFLOAT`'s increment, read as Redis reads it: a long double.
fn float_arg(arg: &[u8]) -> Result<f64, Reply> {
    crate::format::value::parse_long_double(arg).ok_or_else(not_a_float)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `SET`'s condition on the key's existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

/// What a `SET` does to the time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTtl {
    Clear,
    /// Unix ms.
    At(u64),
    Keep,
}

/// A parsed `SET`.
#[derive(Debug, PartialEq)]
pub struct SetArgs<'a> {
    pub key: &'a [u8],
    pub value: SetValue<'a>,
    pub ttl: SetTtl,
    pub condition: Condition,
    pub get: bool,
}

/// The value of a `SET`: the argument as it is (bytes, copied only once the database has
/// checked that it fits), or a value of the type `TYPE` named, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue<'a> {
    Bytes(&'a [u8]),
    Typed(Value),
}

/// What `GETEX` does to the time to live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetExTtl {
    Unchanged,
    /// Unix ms.
    At(u64),
    Persist,
    /// An expiry that is not a number or out of range: Redis replies with this error only
    /// if the key holds a string (nil if it is absent, `WRONGTYPE` if it is a collection).
    Invalid(Reply),
}

/// `EXPIRE`'s options, conditions on the current expiry that must all hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireIf {
    /// `NX`: the key has no expiry.
    pub nx: bool,
    /// `XX`: the key has an expiry.
    pub xx: bool,
    /// `GT`: the new expiry is later (no expiry counts as infinite).
    pub gt: bool,
    /// `LT`: the new expiry is earlier.
    pub lt: bool,
}

impl ExpireIf {
    /// Whether an expiry at `at` may replace `current` (`None`: no expiry).
    pub fn holds(self, current: Option<u64>, at: u64) -> bool {
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|c| at <= c)
            || self.lt && current.is_some_and(|c| at >= c))
    }
}

/// Which unit a reply about the time to live is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
}

/// A parsed `SCAN`.
#[derive(Debug, PartialEq)]
pub struct ScanArgs<'a> {
    /// Where the page starts: 0 to start, else a cursor a previous page returned.
    pub cursor: u64,
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub of_type: Option<&'a str>,
}

/// A command with its arguments checked and decoded, by what it needs to run.
#[derive(Debug, PartialEq)]
pub enum Cmd<'a> {
    /// Reads keys: from the database, or from the open transaction.
    Read(ReadCmd<'a>),
    /// Writes keys: in a transaction of its own, or in the open one.
    Write(WriteCmd<'a>),
    /// Needs no key: the connection (`PING`) or the whole database (`INFO`, `COMPACT`...).
    Server(ServerCmd<'a>),
    /// A list, set, sorted set or hash command.
    Coll(crate::commands::collections::Cmd<'a>),
    /// A command of the `keyspace` module (`SORT`, `DUMP`, `OBJECT`...).
    Keyspace(crate::commands::keyspace::Cmd<'a>),
    /// A bitmap, HyperLogLog or LCS command.
    Bits(crate::commands::bits::Cmd<'a>),
}

/// A command that reads keys.
#[derive(Debug, PartialEq)]
pub enum ReadCmd<'a> {
    Get(&'a [u8]),
    GetType(&'a [u8]),
    /// `EXISTS`: its arguments as they are, not a copy of the list.
    Exists(&'a [&'a [u8]]),
    MGet(&'a [&'a [u8]]),
    StrLen(&'a [u8]),
    GetRange(&'a [u8], i64, i64),
    Type(&'a [u8]),
    DbSize,
    Keys(&'a [u8]),
    Scan(ScanArgs<'a>),
    RandomKey,
    JsonGet(&'a [u8], Vec<&'a str>),
    /// `TTL`, `PTTL`: key, unit, and the time the remaining time is counted from (Unix ms).
    Ttl(&'a [u8], Unit, u64),
    ExpireTime(&'a [u8], Unit),
}

/// A command that writes keys.
#[derive(Debug, PartialEq)]
pub enum WriteCmd<'a> {
    Set(SetArgs<'a>),
    SetNx(&'a [u8], &'a [u8]),
    /// `SETEX`, `PSETEX`: key, Unix ms, value.
    SetEx(&'a [u8], u64, &'a [u8]),
    GetSet(&'a [u8], &'a [u8]),
    GetDel(&'a [u8]),
    GetEx(&'a [u8], GetExTtl),
    /// `MSET`: keys and values alternating, as its arguments are (an even number of them).
    MSet(&'a [&'a [u8]]),
    MSetNx(Pairs<'a>),
    Append(&'a [u8], &'a [u8]),
    SetRange(&'a [u8], usize, &'a [u8]),
    Del(Vec<&'a [u8]>),
    IncrBy(&'a [u8], i64),
    /// The increment, `None` if it is not a float: Redis checks the key's type first.
    IncrByFloat(&'a [u8], Option<f64>),
    Rename(&'a [u8], &'a [u8]),
    RenameNx(&'a [u8], &'a [u8]),
    Copy {
        src: &'a [u8],
        dst: &'a [u8],
        /// `DB n`: the destination database; `None`: the selected one.
        db: Option<u32>,
        replace: bool,
    },
    FlushDb,
    JsonSet {
        key: &'a [u8],
        path: &'a str,
        json: &'a str,
        only_if_exists: Option<bool>,
    },
    /// `EXPIRE` and its kin: key, Unix ms (0 for any time at or before the epoch).
    Expire(&'a [u8], u64, ExpireIf),
    Persist(&'a [u8]),
}

/// A command that reads no key.
#[derive(Debug, PartialEq)]
pub enum ServerCmd<'a> {
    Ping(Option<&'a [u8]>),
    Echo(&'a [u8]),
    Info(Vec<&'a [u8]>),
    Unwatch,
    Compact,
    Check,
    /// `BACKUP destination`.
    Backup(&'a [u8]),
    /// `EXPORT file [FORMAT JSONL|RESP]`.
    Export(&'a [u8], crate::ExportFormat),
    /// `IMPORT file`.
    Import(&'a [u8], crate::ExportFormat),
    /// `REPAIR`: only from the command line, on a database nobody has open.
    Repair,
    /// `COMMAND` and its subcommands.
    Command(crate::commands::introspect::Query<'a>),
}

fn keys_of<'a>(args: &'a [&'a [u8]]) -> Vec<&'a [u8]> {
    args.to_vec()
}

/// Keys with their values, as `MSET` takes them.
pub type Pairs<'a> = Vec<(&'a [u8], &'a [u8])>;

fn pairs_of<'a>(spec: &CommandSpec, args: &'a [&'a [u8]]) -> Result<Pairs<'a>, Reply> {
    let pairs = args.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(wrong_arity(spec));
    }
    Ok(pairs.map(|kv| (kv[0], kv[1])).collect())
}

fn utf8<'a>(arg: &'a [u8], what: &str) -> Result<&'a str, Reply> {
    std::str::from_utf8(arg).map_err(|_| Reply::error(format!("ERR {what} is not valid UTF-8")))
}

/// Parses the arguments (after the name) of a command that has passed its arity check.
/// Control commands are handled by the session, not here.
pub fn parse<'a>(spec: &CommandSpec, args: &'a [&'a [u8]], now: u64) -> Result<Cmd<'a>, Reply> {
    let arg = |i: usize| args[i];
    use CommandId as C;
    Ok(match spec.id {
        C::Ping => match args.len() {
            0 => Cmd::Server(ServerCmd::Ping(None)),
            1 => Cmd::Server(ServerCmd::Ping(Some(arg(0)))),
            _ => return Err(wrong_arity(spec)),
        },
        C::Echo => Cmd::Server(ServerCmd::Echo(arg(0))),
        C::Info => Cmd::Server(ServerCmd::Info(keys_of(args))),
        C::Unwatch => Cmd::Server(ServerCmd::Unwatch),
        C::Get => Cmd::Read(ReadCmd::Get(arg(0))),
        C::Gettype => Cmd::Read(ReadCmd::GetType(arg(0))),
        C::Exists => Cmd::Read(ReadCmd::Exists(args)),
        C::Mget => Cmd::Read(ReadCmd::MGet(args)),
        C::Strlen => Cmd::Read(ReadCmd::StrLen(arg(0))),
        C::Getrange => Cmd::Read(ReadCmd::GetRange(
            arg(0),
            int_arg(arg(1))?,
            int_arg(arg(2))?,
        )),
        C::Type => Cmd::Read(ReadCmd::Type(arg(0))),
        C::Dbsize => Cmd::Read(ReadCmd::DbSize),
        C::Keys => Cmd::Read(ReadCmd::Keys(arg(0))),
        C::Scan => Cmd::Read(ReadCmd::Scan(parse_scan(args)?)),
        C::Randomkey => Cmd::Read(ReadCmd::RandomKey),
        C::JsonGet => Cmd::Read(ReadCmd::JsonGet(
            arg(0),
            args[1..]
                .iter()
                .map(|p| utf8(p, "path"))
                .collect::<Result<_, _>>()?,
        )),
        C::Ttl => Cmd::Read(ReadCmd::Ttl(arg(0), Unit::Seconds, now)),
        C::Pttl => Cmd::Read(ReadCmd::Ttl(arg(0), Unit::Millis, now)),
        C::Expiretime => Cmd::Read(ReadCmd::ExpireTime(arg(0), Unit::Seconds)),
        C::Pexpiretime => Cmd::Read(ReadCmd::ExpireTime(arg(0), Unit::Millis)),
        C::Set => Cmd::Write(WriteCmd::Set(parse_set(args, now)?)),
        C::Setnx => Cmd::Write(WriteCmd::SetNx(arg(0), arg(1))),
        C::Setex | C::Setexp | C::Psetex => {
            let unit = if spec.id == C::Psetex {
                ExpiryUnit::Millis
            } else {
                ExpiryUnit::Seconds
            };
            Cmd::Write(WriteCmd::SetEx(
                arg(0),
                expiry_ms(spec.name, unit, arg(1), now)?,
                arg(2),
            ))
        }
        C::Getset => Cmd::Write(WriteCmd::GetSet(arg(0), arg(1))),
        C::Getdel => Cmd::Write(WriteCmd::GetDel(arg(0))),
        C::Getex => Cmd::Write(WriteCmd::GetEx(arg(0), parse_getex(&args[1..], now)?)),
        // The arguments as they are: a list of pairs would cost as much again.
        C::Mset => match args.len() % 2 {
            0 => Cmd::Write(WriteCmd::MSet(args)),
            _ => return Err(wrong_arity(spec)),
        },
        C::Msetnx => Cmd::Write(WriteCmd::MSetNx(pairs_of(spec, args)?)),
        C::Append => Cmd::Write(WriteCmd::Append(arg(0), arg(1))),
        C::Setrange => {
            let offset = int_arg(arg(1))?;
            let offset =
                usize::try_from(offset).map_err(|_| Reply::error("ERR offset is out of range"))?;
            Cmd::Write(WriteCmd::SetRange(arg(0), offset, arg(2)))
        }
        C::Del | C::Unlink => Cmd::Write(WriteCmd::Del(keys_of(args))),
        C::Incr => Cmd::Write(WriteCmd::IncrBy(arg(0), 1)),
        C::Decr => Cmd::Write(WriteCmd::IncrBy(arg(0), -1)),
        C::Incrby => Cmd::Write(WriteCmd::IncrBy(arg(0), int_arg(arg(1))?)),
        C::Decrby => {
            let negated = int_arg(arg(1))?
                .checked_neg()
                .ok_or_else(|| Reply::error("ERR decrement would overflow"))?;
            Cmd::Write(WriteCmd::IncrBy(arg(0), negated))
        }
        C::Incrbyfloat => Cmd::Write(WriteCmd::IncrByFloat(arg(0), float_arg(arg(1)).ok())),
        C::Rename => Cmd::Write(WriteCmd::Rename(arg(0), arg(1))),
        C::Renamenx => Cmd::Write(WriteCmd::RenameNx(arg(0), arg(1))),
        C::Copy => parse_copy(args)?,
        C::Flushdb => match args {
            [] => Cmd::Write(WriteCmd::FlushDb),
            [mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {
                Cmd::Write(WriteCmd::FlushDb)
            }
            _ => return Err(syntax_error()),
        },
        C::JsonSet => {
            let only_if_exists = match &args[3..] {
                [] => None,
                [opt] if opt.eq_ignore_ascii_case(b"NX") => Some(false),
                [opt] if opt.eq_ignore_ascii_case(b"XX") => Some(true),
                _ => return Err(syntax_error()),
            };
            Cmd::Write(WriteCmd::JsonSet {
                key: arg(0),
                path: utf8(arg(1), "path")?,
                json: utf8(arg(2), "JSON")?,
                only_if_exists,
            })
        }
        C::Expire | C::Pexpire | C::Expireat | C::Pexpireat => parse_expire(spec, args, now)?,
        C::Persist => Cmd::Write(WriteCmd::Persist(arg(0))),
        C::Compact => Cmd::Server(ServerCmd::Compact),
        C::Check => Cmd::Server(ServerCmd::Check),
        C::Backup => Cmd::Server(ServerCmd::Backup(arg(0))),
        C::Export => Cmd::Server(ServerCmd::Export(arg(0), parse_export_format(&args[1..])?)),
        C::Import => Cmd::Server(ServerCmd::Import(arg(0), parse_export_format(&args[1..])?)),
        C::Repair => Cmd::Server(ServerCmd::Repair),
        C::Command => Cmd::Server(ServerCmd::Command(crate::commands::introspect::parse(
            args,
        )?)),
        C::Coll(id) => Cmd::Coll(crate::commands::collections::parse(spec, id, args)?),
        C::Keyspace(id) => crate::commands::keyspace::parse(id, args, now)?,
        C::Bits(id) => crate::commands::bits::parse(id, args)?,
        // The session runs these itself; they have no arguments to decode.
        C::Multi
        | C::Exec
        | C::Discard
        | C::Watch
        | C::Begin
        | C::Commit
        | C::Rollback
        | C::Hello
        | C::Publish
        | C::Subscribe
        | C::Psubscribe
        | C::Unsubscribe
        | C::Punsubscribe
        | C::Pubsub
        | C::Spublish
        | C::Ssubscribe
        | C::Sunsubscribe
        | C::Config => {
            return Err(Reply::error(format!(
                "ERR {} is run by a session, not on its own",
                spec.name
            )))
        }
    })
}

/// `EXPORT`'s and `IMPORT`'s options after the file: none (JSON Lines) or
/// `FORMAT JSONL|RESP`.
fn parse_export_format(opts: &[&[u8]]) -> Result<crate::ExportFormat, Reply> {
    match opts {
        [] => Ok(crate::ExportFormat::JsonLines),
        [opt, name] if opt.eq_ignore_ascii_case(b"FORMAT") => {
            if name.eq_ignore_ascii_case(b"JSONL") {
                Ok(crate::ExportFormat::JsonLines)
            } else if name.eq_ignore_ascii_case(b"RESP") {
                Ok(crate::ExportFormat::Resp)
            } else {
                // The format of an export file, also for IMPORT.
                Err(Reply::error(
                    "ERR unknown export format (expected JSONL or RESP)",
                ))
            }
        }
        _ => Err(syntax_error()),
    }
}

/// How an option gives an expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

impl ExpiryUnit {
    fn from_option(opt: &[u8]) -> Option<Self> {
        Some(match opt.to_ascii_uppercase().as_slice() {
            b"EX" => ExpiryUnit::Seconds,
            b"PX" => ExpiryUnit::Millis,
            b"EXAT" => ExpiryUnit::UnixSeconds,
            b"PXAT" => ExpiryUnit::UnixMillis,
            _ => return None,
        })
    }
}

/// The absolute expiry in Unix ms for `SET`, `SETEX`, `GETEX` and the like: the number must
/// be positive, and the result fit in an i64, else Redis's "invalid expire time" error.
fn expiry_ms(command: &str, unit: ExpiryUnit, arg: &[u8], now: u64) -> Result<u64, Reply> {
    let n = int_arg(arg)?;
    let invalid = || invalid_expire(command);
    if n <= 0 {
        return Err(invalid());
    }
    let n = u64::try_from(n).map_err(|_| invalid())?;
    let ms = match unit {
        ExpiryUnit::Seconds | ExpiryUnit::UnixSeconds => n.checked_mul(1000),
        ExpiryUnit::Millis | ExpiryUnit::UnixMillis => Some(n),
    };
    let at = match unit {
        ExpiryUnit::Seconds | ExpiryUnit::Millis => ms.and_then(|ms| ms.checked_add(now)),
        ExpiryUnit::UnixSeconds | ExpiryUnit::UnixMillis => ms,
    };
    at.filter(|&at| i64::try_from(at).is_ok())
        .ok_or_else(invalid)
}

/// Parses `SET key value [options]` (arguments after the name), with Redis's precedence:
/// option syntax first, then the expiry value, then the value itself. As in Redis, an
/// option may repeat (`NX NX`, `EX 1 EX 2`: the last wins) but not contradict another.
fn parse_set<'a>(args: &'a [&'a [u8]], now: u64) -> Result<SetArgs<'a>, Reply> {
    let mut condition = Condition::Always;
    let mut get = false;
    let mut keep_ttl = false;
    let mut expiry: Option<(ExpiryUnit, &[u8])> = None;
    let mut value_type: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        let next = args.get(i + 1).copied();
        let unit = ExpiryUnit::from_option(&opt);
        match (opt.as_slice(), unit, next) {
            (b"NX", ..) if condition != Condition::IfPresent => condition = Condition::IfAbsent,
            (b"XX", ..) if condition != Condition::IfAbsent => condition = Condition::IfPresent,
            (b"GET", ..) => get = true,
            (b"KEEPTTL", ..) if expiry.is_none() => keep_ttl = true,
            (_, Some(unit), Some(n))
                if !keep_ttl && expiry.is_none_or(|(before, _)| before == unit) =>
            {
                expiry = Some((unit, n));
                i += 1;
            }
            (b"TYPE", _, Some(name)) if value_type.is_none() => {
                value_type = Some(name);
                i += 1;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }

    let ttl = match expiry {
        Some((unit, n)) => SetTtl::At(expiry_ms("set", unit, n, now)?),
        None if keep_ttl => SetTtl::Keep,
        None => SetTtl::Clear,
    };
    let value = match value_type {
        None => SetValue::Bytes(args[1]),
        Some(name) => {
            let ty = std::str::from_utf8(name)
                .ok()
                .and_then(ValueType::from_name)
                .filter(|ty| !ty.is_collection())
                .ok_or_else(|| {
                    Reply::error(format!(
                        "ERR unknown value type '{}', expected bytes, string, int, float, bool, \
                         timestamp or json",
                        String::from_utf8_lossy(name).replace(['\r', '\n'], " ")
                    ))
                })?;
            SetValue::Typed(
                Value::parse_as(ty, args[1]).map_err(|e| crate::commands::exec::error_reply(&e))?,
            )
        }
    };
    Ok(SetArgs {
        key: args[0],
        value,
        ttl,
        condition,
        get,
    })
}

/// Parses `GETEX`'s options (after the key).
fn parse_getex(opts: &[&[u8]], now: u64) -> Result<GetExTtl, Reply> {
    let mut persist = false;
    let mut expiry: Option<(ExpiryUnit, &[u8])> = None;
    let mut i = 0;
    while i < opts.len() {
        let opt = opts[i].to_ascii_uppercase();
        match (ExpiryUnit::from_option(&opt), opts.get(i + 1)) {
            _ if opt == b"PERSIST" && expiry.is_none() => persist = true,
            (Some(unit), Some(n)) if !persist && expiry.is_none_or(|(u, _)| u == unit) => {
                expiry = Some((unit, n));
                i += 1;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    Ok(match expiry {
        Some((unit, n)) => {
            expiry_ms("getex", unit, n, now).map_or_else(GetExTtl::Invalid, GetExTtl::At)
        }
        None if persist => GetExTtl::Persist,
        None => GetExTtl::Unchanged,
    })
}

/// Parses `EXPIRE key n [NX|XX|GT|LT]` and its kin: options first, then the number, which
/// may be negative (the key is then deleted).
fn parse_expire<'a>(spec: &CommandSpec, args: &'a [&'a [u8]], now: u64) -> Result<Cmd<'a>, Reply> {
    use CommandId as C;
    let name = spec.name;
    let mut cond = ExpireIf::default();
    for opt in &args[2..] {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => cond.nx = true,
            b"XX" => cond.xx = true,
            b"GT" => cond.gt = true,
            b"LT" => cond.lt = true,
            _ => {
                return Err(Reply::error(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt).replace(['\r', '\n'], " ")
                )))
            }
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if cond.gt && cond.lt {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let n = i128::from(int_arg(args[1])?);
    let invalid = || invalid_expire(name);
    let seconds = matches!(spec.id, C::Expire | C::Expireat);
    if seconds && (n > i128::from(i64::MAX / 1000) || n < i128::from(i64::MIN / 1000)) {
        return Err(invalid());
    }
    let mut when = if seconds { n * 1000 } else { n };
    if matches!(spec.id, C::Expire | C::Pexpire) {
        let now = i128::from(now);
        if when > i128::from(i64::MAX) - now {
            return Err(invalid());
        }
        when += now;
    }
    // A time at or before the epoch is past like any other: the key is deleted.
    let at = u64::try_from(when.max(0)).map_err(|_| invalid())?;
    Ok(Cmd::Write(WriteCmd::Expire(args[0], at, cond)))
}

/// Parses `COPY source destination [DB destination-db] [REPLACE]`.
fn parse_copy<'a>(args: &'a [&'a [u8]]) -> Result<Cmd<'a>, Reply> {
    let mut replace = false;
    let mut to = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        match (opt.as_slice(), args.get(i + 1)) {
            (b"REPLACE", _) => replace = true,
            (b"DB", Some(db)) => {
                to = Some(crate::commands::keyspace::db_index(int_arg(db)?)?);
                i += 1;
            }
            _ => return Err(syntax_error()),
        }
        i += 1;
    }
    Ok(Cmd::Write(WriteCmd::Copy {
        src: args[0],
        dst: args[1],
        db: to,
        replace,
    }))
}

/// Type names `SCAN ... TYPE` accepts, as Redis's `TYPE` reports them.
const TYPE_NAMES: &[&str] = &["string", "list", "set", "zset", "hash", "stream"];

/// Parses `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
fn parse_scan<'a>(args: &'a [&'a [u8]]) -> Result<ScanArgs<'a>, Reply> {
    let cursor = std::str::from_utf8(args[0])
        .ok()
        .filter(|t| !t.starts_with('+'))
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut scan = ScanArgs {
        cursor,
        count: 10,
        pattern: None,
        of_type: None,
    };
    let mut i = 1;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        let Some(value) = args.get(i + 1) else {
            return Err(syntax_error());
        };
        match opt.as_slice() {
            b"MATCH" => scan.pattern = Some(value),
            b"COUNT" => {
                let n = int_arg(value)?;
                scan.count = usize::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(syntax_error)?;
            }
            b"TYPE" => {
                // As in Redis 7.0, a type name it does not know matches no key.
                let name = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| TYPE_NAMES.iter().find(|t| t.eq_ignore_ascii_case(v)))
                    .copied()
                    .unwrap_or("unknown");
                scan.of_type = Some(name);
            }
            _ => return Err(syntax_error()),
        }
        i += 2;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::split::split_line;
    use crate::commands::table::{check_arity, lookup, unknown_command};

    /// Splits `line` as the shell does.
    pub fn argv(line: &str) -> Vec<&'static [u8]> {
        split_line(line.as_bytes())
            .expect("a well-formed line")
            .into_iter()
            .map(|a| &*Vec::leak(a))
            .collect()
    }

    /// Looks up, arity-checks and parses `line` without a database.
    fn parse_line(line: &str) -> Result<Cmd<'static>, Reply> {
        let args: &'static [&'static [u8]] = Vec::leak(argv(line));
        let spec = lookup(args[0]).ok_or_else(|| unknown_command(args))?;
        check_arity(spec, args.len())?;
        parse(spec, &args[1..], now_ms())
    }

    fn err(text: &str) -> Result<Cmd<'static>, Reply> {
        Err(Reply::error(text))
    }

    fn set(line: &str) -> Result<SetArgs<'static>, Reply> {
        match parse_line(line)? {
            Cmd::Write(WriteCmd::Set(s)) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"+1",
            b" 1",
            b"1 ",
            b"01",
            b"-0",
            b"-",
            b"1.5",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counters() {
        assert_eq!(
            parse_line("INCR n"),
            Ok(Cmd::Write(WriteCmd::IncrBy(b"n", 1)))
        );
        assert_eq!(
            parse_line("decr n"),
            Ok(Cmd::Write(WriteCmd::IncrBy(b"n", -1)))
        );
        assert_eq!(
            parse_line("INCRBY n -7"),
            Ok(Cmd::Write(WriteCmd::IncrBy(b"n", -7)))
        );
        assert_eq!(
            parse_line("DECRBY n 7"),
            Ok(Cmd::Write(WriteCmd::IncrBy(b"n", -7)))
        );
        assert_eq!(
            parse_line("INCRBY n x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            parse_line("DECRBY n -9223372036854775808"),
            err("ERR decrement would overflow")
        );
        assert_eq!(
            parse_line("INCRBYFLOAT n 1.5e1"),
            Ok(Cmd::Write(WriteCmd::IncrByFloat(b"n", Some(15.0))))
        );
        for bad in ["INCRBYFLOAT n x", "INCRBYFLOAT n nan", "INCRBYFLOAT n ' 1'"] {
            assert_eq!(
                parse_line(bad),
                Ok(Cmd::Write(WriteCmd::IncrByFloat(b"n", None))),
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_set_stores_bytes_and_clears_expiry() {
        let s = set("SET k v").unwrap();
        assert_eq!(s.key, b"k");
        assert_eq!(s.value, SetValue::Bytes(b"v"));
        assert_eq!(s.ttl, SetTtl::Clear);
        assert_eq!(s.condition, Condition::Always);
        assert!(!s.get);
    }

    #[test]
    fn set_options() {
        let s = set("set k v nx get").unwrap();
        assert_eq!(s.condition, Condition::IfAbsent);
        assert!(s.get);
        assert_eq!(set("SET k v XX").unwrap().condition, Condition::IfPresent);
        assert_eq!(set("SET k v NX NX").unwrap().condition, Condition::IfAbsent);
        assert_eq!(
            set("SET k v PXAT 1700000000000").unwrap().ttl,
            SetTtl::At(1_700_000_000_000)
        );
        assert_eq!(
            set("SET k v exat 1700000000").unwrap().ttl,
            SetTtl::At(1_700_000_000_000)
        );
        assert_eq!(
            set("SET k v PXAT 5 PXAT 7").unwrap().ttl,
            SetTtl::At(7),
            "the last of a repeated option wins"
        );
        assert_eq!(set("SET k v KEEPTTL").unwrap().ttl, SetTtl::Keep);

        let before = now_ms();
        let SetTtl::At(at) = set("SET k v EX 10").unwrap().ttl else {
            panic!("EX sets an expiry")
        };
        assert!((before + 10_000..=now_ms() + 10_000).contains(&at));
        let SetTtl::At(at) = set("SET k v PX 250").unwrap().ttl else {
            panic!("PX sets an expiry")
        };
        assert!((before + 250..=now_ms() + 250).contains(&at));
    }

    #[test]
    fn set_syntax_errors() {
        for line in [
            "SET k v NX XX",
            "SET k v EX 1 PX 1",
            "SET k v EX",
            "SET k v FOO",
            "SET k v KEEPTTL EX 1",
            "SET k v EX 1 KEEPTTL",
            "SET k v TYPE",
            "SET k v TYPE int TYPE int",
        ] {
            assert_eq!(set(line), Err(Reply::error("ERR syntax error")), "{line}");
        }
        assert_eq!(
            set("SET k v EX x"),
            Err(Reply::error("ERR value is not an integer or out of range"))
        );
        for line in [
            "SET k v EX 0",
            "SET k v PX -1",
            "SET k v EX 9223372036854775807",
            "SET k v PX 9223372036854775807",
        ] {
            assert_eq!(
                set(line),
                Err(Reply::error("ERR invalid expire time in 'set' command")),
                "{line}"
            );
        }
    }

    #[test]
    fn set_with_type() {
        assert_eq!(
            set("SET k 42 TYPE int").unwrap().value,
            SetValue::Typed(Value::Int(42))
        );
        assert_eq!(
            set("SET k 1.5 type FLOAT").unwrap().value,
            SetValue::Typed(Value::Float(1.5))
        );
        assert_eq!(
            set("SET k true TYPE bool").unwrap().value,
            SetValue::Typed(Value::Bool(true))
        );
        assert_eq!(
            set("SET k hi TYPE string").unwrap().value,
            SetValue::Typed(Value::String("hi".into()))
        );
        assert_eq!(
            set("SET k [1] TYPE json").unwrap().value,
            SetValue::Typed(Value::Json("[1]".into()))
        );
        assert_eq!(
            set("SET k 5 TYPE timestamp").unwrap().value,
            SetValue::Typed(Value::Timestamp(5))
        );
        assert_eq!(
            set("SET k x TYPE int"),
            Err(Reply::error("ERR value is not an integer or out of range"))
        );
        for ty in ["list", "hash", "nope"] {
            assert!(
                matches!(set(&format!("SET k x TYPE {ty}")), Err(Reply::Error(e)) if e.starts_with(&format!("ERR unknown value type '{ty}'"))),
                "{ty}"
            );
        }
    }

    #[test]
    fn setex_and_getex() {
        let before = now_ms();
        let Ok(Cmd::Write(WriteCmd::SetEx(b"k", at, b"v"))) = parse_line("SETEX k 10 v") else {
            panic!("SETEX parses")
        };
        assert!((before + 10_000..=now_ms() + 10_000).contains(&at));
        assert!(matches!(
            parse_line("SETEXP k 10 v"),
            Ok(Cmd::Write(WriteCmd::SetEx(b"k", _, b"v")))
        ));
        let Ok(Cmd::Write(WriteCmd::SetEx(_, at, _))) = parse_line("PSETEX k 10 v") else {
            panic!("PSETEX parses")
        };
        assert!((before + 10..=now_ms() + 10).contains(&at));
        assert_eq!(
            parse_line("SETEX k 0 v"),
            err("ERR invalid expire time in 'setex' command")
        );
        assert_eq!(
            parse_line("SETEXP k -5 v"),
            err("ERR invalid expire time in 'setexp' command")
        );
        assert_eq!(
            parse_line("PSETEX k x v"),
            err("ERR value is not an integer or out of range")
        );

        assert_eq!(
            parse_line("GETEX k"),
            Ok(Cmd::Write(WriteCmd::GetEx(b"k", GetExTtl::Unchanged)))
        );
        assert_eq!(
            parse_line("GETEX k persist"),
            Ok(Cmd::Write(WriteCmd::GetEx(b"k", GetExTtl::Persist)))
        );
        assert_eq!(
            parse_line("GETEX k PXAT 77"),
            Ok(Cmd::Write(WriteCmd::GetEx(b"k", GetExTtl::At(77))))
        );
        for bad in [
            "GETEX k PERSIST EX 1",
            "GETEX k EX 1 PERSIST",
            "GETEX k EX",
            "GETEX k NX",
        ] {
            assert_eq!(parse_line(bad), err("ERR syntax error"), "{bad}");
        }
        assert_eq!(
            parse_line("GETEX k EX 0"),
            Ok(Cmd::Write(WriteCmd::GetEx(
                b"k",
                GetExTtl::Invalid(Reply::error("ERR invalid expire time in 'getex' command"))
            )))
        );
    }

    #[test]
    fn expire_options() {
        let at = |line| match parse_line(line) {
            Ok(Cmd::Write(WriteCmd::Expire(_, at, _))) => at,
            other => panic!("{other:?}"),
        };
        assert_eq!(at("PEXPIREAT k 1234"), 1234);
        assert_eq!(at("EXPIREAT k 5"), 5000);
        assert_eq!(at("EXPIREAT k -5"), 0);
        // The clock is read before and after the parse: the expiry lies between.
        let before = now_ms();
        let got = at("EXPIRE k 3");
        let after = now_ms();
        assert!(
            (before + 3000..=after + 3000).contains(&got),
            "{got} not in {before}+3000..={after}+3000"
        );
        assert_eq!(
            parse_line("EXPIRE k 1 xx gt"),
            Ok(Cmd::Write(WriteCmd::Expire(
                b"k",
                match parse_line("EXPIRE k 1 xx gt") {
                    Ok(Cmd::Write(WriteCmd::Expire(_, at, _))) => at,
                    other => panic!("{other:?}"),
                },
                ExpireIf {
                    xx: true,
                    gt: true,
                    ..ExpireIf::default()
                }
            )))
        );
        assert_eq!(
            parse_line("EXPIRE k 1 NX GT"),
            err("ERR NX and XX, GT or LT options at the same time are not compatible")
        );
        assert_eq!(
            parse_line("EXPIRE k 1 GT LT"),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            parse_line("EXPIRE k 1 FOO"),
            err("ERR Unsupported option FOO")
        );
        // Options are checked before the number.
        assert_eq!(
            parse_line("EXPIRE k x FOO"),
            err("ERR Unsupported option FOO")
        );
        assert_eq!(
            parse_line("EXPIRE k x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            parse_line("EXPIRE k 9223372036854775807"),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            parse_line("PEXPIRE k 9223372036854775807"),
            err("ERR invalid expire time in 'pexpire' command")
        );
    }

    #[test]
    fn expire_conditions_follow_redis() {
        let cond = |nx, xx, gt, lt| ExpireIf { nx, xx, gt, lt };
        let always = ExpireIf::default();
        assert!(always.holds(None, 5) && always.holds(Some(9), 5));
        assert!(cond(true, false, false, false).holds(None, 5));
        assert!(!cond(true, false, false, false).holds(Some(1), 5));
        assert!(!cond(false, true, false, false).holds(None, 5));
        // GT: no expiry counts as infinite, so nothing is later.
        assert!(!cond(false, false, true, false).holds(None, 5));
        assert!(cond(false, false, true, false).holds(Some(4), 5));
        assert!(!cond(false, false, true, false).holds(Some(5), 5));
        // LT: anything is earlier than no expiry, unless XX asks for one.
        assert!(cond(false, false, false, true).holds(None, 5));
        assert!(!cond(false, true, false, true).holds(None, 5));
        assert!(cond(false, true, false, true).holds(Some(6), 5));
        assert!(!cond(false, false, false, true).holds(Some(5), 5));
    }

    #[test]
    fn key_commands_parse() {
        assert_eq!(
            parse_line("COPY a b"),
            Ok(Cmd::Write(WriteCmd::Copy {
                src: b"a",
                dst: b"b",
                db: None,
                replace: false
            }))
        );
        assert_eq!(
            parse_line("COPY a b db 3 replace"),
            Ok(Cmd::Write(WriteCmd::Copy {
                src: b"a",
                dst: b"b",
                db: Some(3),
                replace: true
            }))
        );
        assert_eq!(
            parse_line("COPY a b DB -1"),
            err("ERR DB index is out of range")
        );
        assert_eq!(parse_line("COPY a b DB"), err("ERR syntax error"));
        assert_eq!(parse_line("COPY a b NOPE"), err("ERR syntax error"));
        assert_eq!(parse_line("FLUSHDB"), Ok(Cmd::Write(WriteCmd::FlushDb)));
        assert_eq!(
            parse_line("flushdb async"),
            Ok(Cmd::Write(WriteCmd::FlushDb))
        );
        assert_eq!(parse_line("FLUSHDB now"), err("ERR syntax error"));
        assert_eq!(
            parse_line("UNLINK a b"),
            Ok(Cmd::Write(WriteCmd::Del(vec![b"a", b"b"])))
        );
        assert_eq!(
            parse_line("SETRANGE k 3 x"),
            Ok(Cmd::Write(WriteCmd::SetRange(b"k", 3, b"x")))
        );
        assert_eq!(
            parse_line("SETRANGE k -1 x"),
            err("ERR offset is out of range")
        );
        assert_eq!(
            parse_line("GETRANGE k 0 x"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            parse_line("MSETNX a 1 b"),
            err("ERR wrong number of arguments for 'msetnx' command")
        );
        assert_eq!(
            parse_line("JSON.SET k $ 1 NX"),
            Ok(Cmd::Write(WriteCmd::JsonSet {
                key: b"k",
                path: "$",
                json: "1",
                only_if_exists: Some(false)
            }))
        );
        assert_eq!(parse_line("JSON.SET k $ 1 NX XX"), err("ERR syntax error"));
        assert_eq!(
            parse_line("JSON.GET k $.a .b"),
            Ok(Cmd::Read(ReadCmd::JsonGet(b"k", vec!["$.a", ".b"])))
        );
    }

    #[test]
    fn scan_arguments() {
        let scan = |line| match parse_line(line) {
            Ok(Cmd::Read(ReadCmd::Scan(s))) => Ok(s),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(
            scan("SCAN 0"),
            Ok(ScanArgs {
                cursor: 0,
                count: 10,
                pattern: None,
                of_type: None
            })
        );
        assert_eq!(
            scan("scan 1097 match a* count 3 type HASH COUNT 5"),
            Ok(ScanArgs {
                cursor: 1097,
                count: 5,
                pattern: Some(b"a*"),
                of_type: Some("hash")
            })
        );
        for bad in [
            "SCAN x",
            "SCAN -1",
            "SCAN +1",
            "SCAN 18446744073709551616",
            "SCAN 1.5",
        ] {
            assert_eq!(scan(bad), Err(Reply::error("ERR invalid cursor")), "{bad}");
        }
        for bad in ["SCAN 0 COUNT 0", "SCAN 0 MATCH", "SCAN 0 LIMIT 4"] {
            assert_eq!(scan(bad), Err(Reply::error("ERR syntax error")), "{bad}");
        }
        assert_eq!(
            scan("SCAN 0 COUNT x"),
            Err(Reply::error("ERR value is not an integer or out of range"))
        );
        assert_eq!(
            scan("SCAN 0 TYPE blob").map(|s| s.of_type),
            Ok(Some("unknown"))
        );
    }
}
