//! Running parsed commands against the library: reads against the committed state or an open
//! transaction, writes inside a transaction, and the replies Redis gives for each.

use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt as _;

use crate::commands::format_float;
use crate::{Db, Error, Value, ValueType, WriteTxn};

use crate::commands::parse::{
    Condition, GetExTtl, ReadCmd, ScanArgs, ServerCmd, SetTtl, SetValue, Unit, WriteCmd,
};
use crate::commands::reply::{Reply, ReplySink};

/// The reply for a library error, with Redis's wording where Redis has one.
pub fn error_reply(err: &Error) -> Reply {
    let text = match err {
        Error::WrongType { .. } => {
            "WRONGTYPE Operation against a key holding the wrong kind of value".to_owned()
        }
        Error::NotAnInteger => "ERR value is not an integer or out of range".to_owned(),
        Error::NotAFloat => "ERR value is not a valid float".to_owned(),
        Error::Overflow => "ERR increment or decrement would overflow".to_owned(),
        Error::InvalidArgument(message) => format!("ERR {message}"),
        other => format!("ERR {}", with_causes(other)),
    };
    // A reply is one line.
    Reply::Error(text.replace(['\r', '\n'], " "))
}

/// `err` and each of its causes, joined by ": " (an I/O error names the file, its cause the
/// operating system's error).
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let _ = write!(text, ": {c}");
        cause = c.source();
    }
    text
}

/// A page of `SCAN`: the keys and the last of them, `None` at the end.
type ScanPage = (Vec<Vec<u8>>, u64);

/// An expiry as `None` (absent), `Some(None)` (persistent) or `Some(Some(unix_ms))`.
fn expiry_opt(e: crate::Expiry) -> Option<Option<u64>> {
    match e {
        crate::Expiry::Missing => None,
        crate::Expiry::Persistent => Some(None),
        crate::Expiry::At(at) => Some(Some(at)),
    }
}

/// What a read command reads from: the committed state ([`Db`]) or an open transaction
/// ([`WriteTxn`], which sees its own writes). Each method is the library call of one command.
pub trait View {
    fn value(&self, key: &[u8]) -> crate::Result<Option<Value>>;
    /// `GET`'s reply: from the committed state, the value read in place.
    fn value_reply(&self, key: &[u8]) -> crate::Result<Reply> {
        Ok(bulk_or_nil(self.value(key)?))
    }
    /// Values of several keys; a key holding a collection reads as absent, as in `MGET`.
    fn values(&self, keys: &[&[u8]]) -> crate::Result<Vec<Option<Value>>>;
    /// `MGET`'s reply.
    fn values_reply(&self, keys: &[&[u8]]) -> crate::Result<Reply> {
        Ok(Reply::Array(
            self.values(keys)?.into_iter().map(bulk_or_nil).collect(),
        ))
    }
    fn stored_type(&self, key: &[u8]) -> crate::Result<Option<ValueType>>;
    fn count_existing(&self, keys: &[&[u8]]) -> crate::Result<u64>;
    fn strlen(&self, key: &[u8]) -> crate::Result<usize>;
    fn get_range(&self, key: &[u8], start: i64, end: i64) -> crate::Result<Vec<u8>>;
    fn key_type(&self, key: &[u8]) -> crate::Result<&'static str>;
    fn json_get(&self, key: &[u8], paths: &[&str]) -> crate::Result<Option<String>>;
    fn expire_time(&self, key: &[u8]) -> crate::Result<Option<Option<u64>>>;
    fn keys_matching(&self, pattern: &[u8]) -> crate::Result<Vec<Vec<u8>>>;
    fn scan(&self, scan: &ScanArgs<'_>) -> crate::Result<ScanPage>;
    fn key_count(&self) -> crate::Result<u64>;
    fn random_key(&self) -> crate::Result<Option<Vec<u8>>>;
}

impl View for Db {
    fn value(&self, key: &[u8]) -> crate::Result<Option<Value>> {
        self.get_value(key)
    }
    fn value_reply(&self, key: &[u8]) -> crate::Result<Reply> {
        Ok(match self.get(key)? {
            None => Reply::Nil,
            Some(v) => match v.value_type() {
                ValueType::Bytes | ValueType::String | ValueType::Json => Reply::Mapped(v),
                _ => Reply::Bulk(v.redis_bytes()?.into_owned()),
            },
        })
    }
    fn values(&self, keys: &[&[u8]]) -> crate::Result<Vec<Option<Value>>> {
        self.mget(keys)
    }
    fn values_reply(&self, keys: &[&[u8]]) -> crate::Result<Reply> {
        /// The elements, into an array allocated at its size.
        struct Elements(Vec<Reply>);
        impl ReplySink for Elements {
            fn reply(&mut self, _: Reply) {}
            fn array(&mut self, _: usize) {}
            fn element(&mut self, item: Reply) {
                self.0.push(item);
            }
        }
        // Each value becomes its element as it is read, as when streamed: no list of the
        // values beside the reply's, whose array is allocated fallibly first.
        let mut items = Elements(crate::error::try_vec(keys.len())?);
        stream_values(self, keys.iter().copied(), &mut items)?;
        Ok(Reply::Array(items.0))
    }
    fn stored_type(&self, key: &[u8]) -> crate::Result<Option<ValueType>> {
        Ok(self.get(key)?.map(|v| v.value_type()))
    }
    fn count_existing(&self, keys: &[&[u8]]) -> crate::Result<u64> {
        Db::count_existing(self, keys)
    }
    fn strlen(&self, key: &[u8]) -> crate::Result<usize> {
        Db::strlen(self, key)
    }
    fn get_range(&self, key: &[u8], start: i64, end: i64) -> crate::Result<Vec<u8>> {
        Db::get_range(self, key, start, end)
    }
    fn key_type(&self, key: &[u8]) -> crate::Result<&'static str> {
        Db::key_type(self, key)
    }
    fn json_get(&self, key: &[u8], paths: &[&str]) -> crate::Result<Option<String>> {
        Db::json_get(self, key, paths)
    }
    fn expire_time(&self, key: &[u8]) -> crate::Result<Option<Option<u64>>> {
        Db::expire_time(self, key).map(expiry_opt)
    }
    fn keys_matching(&self, pattern: &[u8]) -> crate::Result<Vec<Vec<u8>>> {
        Db::keys_matching(self, pattern)
    }
    fn scan(&self, scan: &ScanArgs<'_>) -> crate::Result<ScanPage> {
        Db::scan(self, scan.cursor, scan.count, scan.pattern, scan.of_type)
    }
    fn key_count(&self) -> crate::Result<u64> {
        Ok(self.keyspace()?.0)
    }
    fn random_key(&self) -> crate::Result<Option<Vec<u8>>> {
        Db::random_key(self)
    }
}

impl View for WriteTxn {
    fn value(&self, key: &[u8]) -> crate::Result<Option<Value>> {
        self.get(key)
    }
    fn values(&self, keys: &[&[u8]]) -> crate::Result<Vec<Option<Value>>> {
        keys.iter()
            .map(|k| match self.get(k) {
                Err(Error::WrongType { .. }) => Ok(None),
                other => other,
            })
            .collect()
    }
    fn stored_type(&self, key: &[u8]) -> crate::Result<Option<ValueType>> {
        self.value_type(key)
    }
    fn count_existing(&self, keys: &[&[u8]]) -> crate::Result<u64> {
        WriteTxn::count_existing(self, keys)
    }
    fn strlen(&self, key: &[u8]) -> crate::Result<usize> {
        WriteTxn::strlen(self, key)
    }
    fn get_range(&self, key: &[u8], start: i64, end: i64) -> crate::Result<Vec<u8>> {
        WriteTxn::get_range(self, key, start, end)
    }
    fn key_type(&self, key: &[u8]) -> crate::Result<&'static str> {
        WriteTxn::key_type(self, key)
    }
    fn json_get(&self, key: &[u8], paths: &[&str]) -> crate::Result<Option<String>> {
        WriteTxn::json_get(self, key, paths)
    }
    fn expire_time(&self, key: &[u8]) -> crate::Result<Option<Option<u64>>> {
        WriteTxn::expire_time(self, key).map(expiry_opt)
    }
    fn keys_matching(&self, pattern: &[u8]) -> crate::Result<Vec<Vec<u8>>> {
        WriteTxn::keys_matching(self, pattern)
    }
    fn scan(&self, scan: &ScanArgs<'_>) -> crate::Result<ScanPage> {
        WriteTxn::scan(self, scan.cursor, scan.count, scan.pattern, scan.of_type)
    }
    fn key_count(&self) -> crate::Result<u64> {
        self.len()
    }
    fn random_key(&self) -> crate::Result<Option<Vec<u8>>> {
        WriteTxn::random_key(self)
    }
}

/// `MGET`'s reply handed to `sink` an element at a time as each value is read: all the
/// keys are looked up first (in one committed state; a failure there returns before the
/// array starts), then each value becomes its element and is handed on, so that nothing
/// but where each value is (a few words a key) is held. A value that cannot be decoded is
/// an error element in its place.
///
/// # Errors
/// The lookup's.
pub(crate) fn stream_values<'k>(
    db: &Db,
    keys: impl ExactSizeIterator<Item = &'k [u8]> + Clone,
    sink: &mut dyn ReplySink,
) -> crate::Result<()> {
    let len = keys.len();
    let mut started = false;
    db.mget_each(keys, |value| {
        if !started {
            sink.array(len);
            started = true;
        }
        sink.element(match value {
            Ok(value) => bulk_or_nil(value),
            Err(e) => error_reply(&e),
        });
        Ok(())
    })?;
    if !started {
        sink.array(0);
    }
    Ok(())
}

pub fn bulk_or_nil(value: Option<Value>) -> Reply {
    // The value's bytes become the reply as they are: no second copy of a big value.
    value.map_or(Reply::Nil, |v| Reply::Bulk(v.into_redis_bytes()))
}

fn int(n: impl TryInto<i64>) -> Reply {
    Reply::Int(n.try_into().unwrap_or(i64::MAX))
}

fn keys_reply(keys: Vec<Vec<u8>>) -> Reply {
    Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
}

/// `TTL`/`PTTL`'s reply for an expiry: -2 absent, -1 none, else the time left (seconds
/// rounded to the nearest, as Redis does).
fn ttl_reply(expiry: Option<Option<u64>>, unit: Unit, now: u64) -> Reply {
    match expiry {
        None => Reply::Int(-2),
        Some(None) => Reply::Int(-1),
        Some(Some(at)) => {
            let ms = at.saturating_sub(now);
            int(match unit {
                Unit::Millis => ms,
                Unit::Seconds => (ms + 500) / 1000,
            })
        }
    }
}

/// Runs a read command.
pub fn read(view: &dyn View, cmd: ReadCmd<'_>) -> crate::Result<Reply> {
    Ok(match cmd {
        ReadCmd::Get(key) => view.value_reply(key)?,
        ReadCmd::GetType(key) => view
            .stored_type(key)?
            .map_or(Reply::Nil, |ty| Reply::bulk(ty.name())),
        ReadCmd::MGet(keys) => view.values_reply(keys)?,
        ReadCmd::Exists(keys) => int(view.count_existing(keys)?),
        ReadCmd::StrLen(key) => int(view.strlen(key)?),
        ReadCmd::GetRange(key, start, end) => Reply::Bulk(view.get_range(key, start, end)?),
        ReadCmd::Type(key) => Reply::Status(view.key_type(key)?.to_owned()),
        ReadCmd::DbSize => int(view.key_count()?),
        ReadCmd::Keys(pattern) => keys_reply(view.keys_matching(pattern)?),
        ReadCmd::Scan(scan) => {
            let (keys, next) = view.scan(&scan)?;
            Reply::Array(vec![
                Reply::Bulk(next.to_string().into_bytes()),
                keys_reply(keys),
            ])
        }
        ReadCmd::RandomKey => view.random_key()?.map_or(Reply::Nil, Reply::Bulk),
        ReadCmd::JsonGet(key, paths) => view.json_get(key, &paths)?.map_or(Reply::Nil, Reply::bulk),
        ReadCmd::Ttl(key, unit, now) => ttl_reply(view.expire_time(key)?, unit, now),
        ReadCmd::ExpireTime(key, unit) => match view.expire_time(key)? {
            None => Reply::Int(-2),
            Some(None) => Reply::Int(-1),
            Some(Some(at)) => int(match unit {
                Unit::Millis => at,
                Unit::Seconds => at / 1000,
            }),
        },
    })
}

/// `value` as bytes to set under `key`: refused before it is copied if the database cannot
/// hold it, and copied without aborting the process when memory is short.
fn stored_bytes(tx: &WriteTxn, key: &[u8], value: &[u8]) -> crate::Result<Value> {
    tx.check_value_size(key, value.len())?;
    let mut copy = Vec::new();
    copy.try_reserve_exact(value.len())
        .map_err(|_| Error::OutOfMemory { bytes: value.len() })?;
    copy.extend_from_slice(value);
    Ok(Value::Bytes(copy))
}

/// Redis's error when `APPEND` or `SETRANGE` would make a string too long.
fn too_long() -> Reply {
    Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// Runs a write command in the transaction `tx`.
pub fn write(tx: &mut WriteTxn, cmd: WriteCmd<'_>) -> crate::Result<Reply> {
    Ok(match cmd {
        WriteCmd::Set(set) => {
            let value = match set.value {
                SetValue::Bytes(value) => stored_bytes(tx, set.key, value)?,
                SetValue::Typed(value) => value,
            };
            let mut command = tx.set_extended(set.key, value);
            command = match set.condition {
                Condition::Always => command,
                Condition::IfAbsent => command.if_absent(),
                Condition::IfPresent => command.if_present(),
            };
            command = match set.ttl {
                SetTtl::Clear => command,
                SetTtl::At(at) => command.expire_at(at),
                SetTtl::Keep => command.keep_ttl(),
            };
            if set.get {
                command = command.return_previous();
            }
            let outcome = command.run()?;
            if set.get {
                bulk_or_nil(outcome.previous)
            } else if outcome.written {
                Reply::ok()
            } else {
                Reply::Nil
            }
        }
        WriteCmd::SetNx(key, value) => {
            let value = stored_bytes(tx, key, value)?;
            int(u8::from(tx.set_if_absent(key, value)?))
        }
        WriteCmd::SetEx(key, at, value) => {
            let value = stored_bytes(tx, key, value)?;
            tx.set_with_expiry(key, value, Some(at))?;
            Reply::ok()
        }
        WriteCmd::GetSet(key, value) => {
            let value = stored_bytes(tx, key, value)?;
            bulk_or_nil(tx.get_set(key, value)?)
        }
        WriteCmd::GetDel(key) => bulk_or_nil(tx.get_delete(key)?),
        WriteCmd::GetEx(key, ttl) => bulk_or_nil(match ttl {
            GetExTtl::Unchanged => tx.get(key)?,
            GetExTtl::At(at) => tx.get_and_expire_at(key, at)?,
            GetExTtl::Persist => tx.get_and_persist(key)?,
            GetExTtl::Invalid(reply) => match tx.get(key)? {
                Some(_) => return Ok(reply),
                None => None,
            },
        }),
        WriteCmd::MSet(keys_and_values) => {
            // One pair at a time, as `set_many` does, so no second list of the values is
            // built beside the arguments.
            for pair in keys_and_values.chunks_exact(2) {
                let (key, value) = (pair[0], pair[1]);
                let value = stored_bytes(tx, key, value)?;
                tx.set(key, value)?;
            }
            Reply::ok()
        }
        WriteCmd::MSetNx(pairs) => {
            let values = pairs
                .into_iter()
                .map(|(key, value)| Ok((key, stored_bytes(tx, key, value)?)))
                .collect::<crate::Result<Vec<_>>>()?;
            int(u8::from(tx.set_many_if_absent(values)?))
        }
        WriteCmd::Append(key, tail) => match tx.append(key, tail) {
            Err(Error::ValueTooLarge { .. }) => too_long(),
            other => int(other?),
        },
        WriteCmd::SetRange(key, offset, value) => match tx.set_range(key, offset, value) {
            Err(Error::ValueTooLarge { .. }) => too_long(),
            other => int(other?),
        },
        WriteCmd::Del(keys) => {
            let mut deleted = 0u64;
            for key in keys {
                deleted += u64::from(tx.delete(key)?);
            }
            int(deleted)
        }
        WriteCmd::IncrBy(key, delta) => Reply::Int(tx.incr_by(key, delta)?),
        // An increment that is not a float is refused after the key's type is checked.
        WriteCmd::IncrByFloat(key, None) => match tx.key_type(key)? {
            "list" | "set" | "zset" | "hash" => {
                Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            _ => Reply::error("ERR value is not a valid float"),
        },
        WriteCmd::IncrByFloat(key, Some(delta)) => match tx.incr_by_float(key, delta) {
            Err(Error::Overflow) => Reply::error("ERR increment would produce NaN or Infinity"),
            other => Reply::bulk(format_float(other?)),
        },
        WriteCmd::Rename(src, dst) => {
            if tx.rename_key(src, dst)? {
                Reply::ok()
            } else {
                Reply::error("ERR no such key")
            }
        }
        WriteCmd::RenameNx(src, dst) => {
            if !tx.exists(src)? {
                Reply::error("ERR no such key")
            } else {
                int(u8::from(tx.rename_key_if_absent(src, dst)?))
            }
        }
        WriteCmd::Copy {
            src,
            dst,
            db,
            replace,
        } => {
            let to = match db {
                Some(n) => tx.check_database(n)?,
                None => tx.database(),
            };
            if src == dst && to == tx.database() {
                Reply::error("ERR source and destination objects are the same")
            } else {
                int(u8::from(tx.copy_to_database(src, dst, to, replace)?))
            }
        }
        WriteCmd::FlushDb => {
            tx.clear()?;
            Reply::ok()
        }
        WriteCmd::JsonSet {
            key,
            path,
            json,
            only_if_exists,
        } => {
            if tx.json_set(key, path, json, only_if_exists)? {
                Reply::ok()
            } else {
                Reply::Nil
            }
        }
        WriteCmd::Expire(key, at, cond) => int(u8::from(
            tx.expire_at_if(key, at, |current| cond.holds(current, at))?,
        )),
        WriteCmd::Persist(key) => int(u8::from(tx.persist(key)?)),
    })
}

/// The sections of `INFO`, in the order printed.
pub const INFO_SECTIONS: [&str; 6] = [
    "server",
    "keyspace",
    "stats",
    "persistence",
    "memory",
    "processes",
];

/// `INFO [section ...]`: Redis-style sections of `name:value` lines ending in CRLF, from the
/// metrics the engine shares between processes. No section (or `all`, `default`,
/// `everything`) means all of them; an unknown name adds nothing, as in Redis.
fn info(db: &Db, sections: &[&[u8]]) -> Reply {
    let all = sections.is_empty()
        || sections.iter().any(|s| {
            [&b"all"[..], b"default", b"everything"]
                .iter()
                .any(|name| s.eq_ignore_ascii_case(name))
        });
    let m = db.metrics();
    let mut text = String::new();
    for name in INFO_SECTIONS {
        if !all
            && !sections
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name.as_bytes()))
        {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let mut title = name.to_owned();
        title[..1].make_ascii_uppercase();
        let _ = write!(text, "# {title}\r\n");
        for (field, value) in info_section(db, &m, name) {
            let _ = write!(text, "{field}:{value}\r\n");
        }
    }
    Reply::bulk(text)
}

fn info_section(db: &Db, m: &crate::Metrics, name: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |field: &str, value: String| out.push((field.to_owned(), value));
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            "0.0000".to_owned()
        } else {
            format!("{:.4}", part as f64 / whole as f64)
        }
    };
    match name {
        "server" => {
            put("ziggy_version", env!("CARGO_PKG_VERSION").to_owned());
            put(
                "os",
                format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            put("process_id", std::process::id().to_string());
            put("db_dir", db.path().display().to_string());
        }
        "keyspace" => {
            // As reads see them: keys whose time has passed are not counted, deleted or not.
            let (keys, expires, avg_ttl) = db.keyspace().unwrap_or((m.keys, m.expiring_keys, 0));
            put(
                "db0",
                format!("keys={keys},expires={expires},avg_ttl={avg_ttl}"),
            );
            // Each numbered database that holds keys, as Redis lists them (format-spec.md §4.5).
            for (n, keys, expires, avg_ttl) in db.numbered_keyspaces().unwrap_or_default() {
                put(
                    &format!("db{n}"),
                    format!("keys={keys},expires={expires},avg_ttl={avg_ttl}"),
                );
            }
            for t in ValueType::ALL {
                let n = m
                    .keys_by_type
                    .iter()
                    .find(|(ty, _)| *ty == t)
                    .map_or(0, |(_, n)| *n);
                put(&format!("keys_{}", t.name()), n.to_string());
            }
            put("keys_with_expiry", m.expiring_keys.to_string());
            // The counts above are the old index's checkpoint's while it is rebuilt (§10.4).
            put("keys_provisional", u8::from(m.rebuilding).to_string());
        }
        "stats" => {
            put("total_commands_processed", m.commands.to_string());
            put("keyspace_reads", m.reads.to_string());
            put("keyspace_hits", m.hits.to_string());
            put("keyspace_misses", m.misses.to_string());
            put("keyspace_hit_ratio", ratio(m.hits, m.hits + m.misses));
            put("transactions_committed", m.commits.to_string());
            put("transactions_rolled_back", m.rollbacks.to_string());
            put(
                "transaction_mean_us",
                m.commit_micros
                    .checked_div(m.commits)
                    .unwrap_or(0)
                    .to_string(),
            );
            put("expired_keys", m.expired.to_string());
            put("compactions", m.compactions.to_string());
        }
        "persistence" => {
            put("wal_bytes_since_checkpoint", m.wal_bytes.to_string());
            put("last_checkpoint_ms", m.last_checkpoint_ms.to_string());
            put("checkpoints", m.checkpoints.to_string());
            put("unsynced_bytes", m.unsynced_bytes.to_string());
            put("segments", m.segments.to_string());
            put("segment_file_bytes", m.segment_file_bytes.to_string());
            put("live_bytes", m.live_bytes.to_string());
            put("dead_bytes", m.dead_bytes.to_string());
            put(
                "dead_ratio",
                ratio(m.dead_bytes, m.live_bytes + m.dead_bytes),
            );
            put("compactions", m.compactions.to_string());
            put(
                "index_rebuilder_pid",
                db.inner.rebuilder().unwrap_or(0).to_string(),
            );
        }
        "memory" => {
            put("mapped_bytes", m.mapped_bytes.to_string());
            put("index_file_bytes", m.index_file_bytes.to_string());
            put("index_slots", m.index_capacity.to_string());
        }
        "processes" => {
            // Every attached process counts; the shared table lists at most 112 of them.
            put("attached_processes", m.processes.to_string());
            put("attached_processes_listed", m.attached.len().to_string());
            for (i, p) in m.attached.iter().enumerate() {
                put(
                    &format!("process{i}"),
                    format!(
                        "pid={},reads={},hits={},misses={}",
                        p.pid, p.reads, p.hits, p.misses
                    ),
                );
            }
        }
        _ => {}
    }
    out
}

fn check(db: &Db) -> crate::Result<Reply> {
    let report = db.check()?;
    if report.is_ok() {
        return Ok(Reply::ok());
    }
    // One problem per line (there can be hundreds), as INFO prints one field per line.
    let n = report.problems.len();
    let mut text = format!(
        "ERR check found {n} problem{}:",
        if n == 1 { "" } else { "s" }
    );
    for problem in &report.problems {
        text.push('\n');
        text.push_str(&problem.replace(['\r', '\n'], " "));
    }
    Ok(Reply::Error(text))
}

/// The file an `EXPORT` or `IMPORT` names. `-` (standard output or input) works only as a
/// one-shot command, where `main` handles it.
fn transfer_path(file: &[u8], command: &str) -> Result<std::path::PathBuf, Reply> {
    use std::os::unix::ffi::OsStrExt as _;
    if file == b"-" {
        return Err(Reply::error(format!(
            "ERR {command} - (standard {}) works only as a one-shot command: ziggy -d DIR {command} - ...",
            if command == "EXPORT" { "output" } else { "input" }
        )));
    }
    // A server's URL is for the `ziggy` tool, which connects to it: the library and a
    // server built on it never open a connection on a command's word.
    if command == "IMPORT" && file.starts_with(b"redis://") {
        return Err(Reply::error(
            "ERR IMPORT redis://HOST:PORT works only as a one-shot command: ziggy -d DIR IMPORT redis://HOST:PORT",
        ));
    }
    Ok(std::ffi::OsStr::from_bytes(file).into())
}

/// The reply for a failed export or import: a file error names the file.
pub fn transfer_error(err: &Error, file: &std::path::Path) -> Reply {
    match err {
        Error::Io { source, .. } => Reply::error(format!("ERR {}: {source}", file.display())),
        other => error_reply(other),
    }
}

fn export(db: &Db, file: &[u8], format: crate::ExportFormat) -> Reply {
    let path = match transfer_path(file, "EXPORT") {
        Ok(path) => path,
        Err(reply) => return reply,
    };
    let out = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(true),
        0o664,
    )
    .open(&path);
    let out = match out {
        Ok(out) => out,
        Err(e) => return Reply::error(format!("ERR cannot create {}: {e}", path.display())),
    };
    let result = db.export(format, out).and_then(|n| {
        // The data is on disk before the reply says it is exported.
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
        Ok(n)
    });
    result.map_or_else(|e| transfer_error(&e, &path), int)
}

fn import(db: &Db, file: &[u8], format: crate::ExportFormat) -> Reply {
    let path = match transfer_path(file, "IMPORT") {
        Ok(path) => path,
        Err(reply) => return reply,
    };
    let input = match std::fs::File::open(&path) {
        Ok(input) => input,
        Err(e) => return Reply::error(format!("ERR cannot open {}: {e}", path.display())),
    };
    // JSON Lines replies the keys written, the Redis protocol the commands run.
    let result = match format {
        crate::ExportFormat::Resp => db.import_resp(input).map(|stats| stats.commands),
        _ => db.import(input).map(|stats| stats.keys),
    };
    result.map_or_else(|e| transfer_error(&e, &path), int)
}

/// Runs a command that reads no key (`PING`, `INFO`, `COMPACT`, ...).
pub fn other(db: &Db, cmd: ServerCmd<'_>) -> crate::Result<Reply> {
    Ok(match cmd {
        ServerCmd::Ping(None) => Reply::Status("PONG".into()),
        ServerCmd::Ping(Some(msg)) | ServerCmd::Echo(msg) => Reply::bulk(msg),
        ServerCmd::Info(sections) => info(db, &sections),
        // Outside MULTI the session handles UNWATCH; queued, it has nothing left to do.
        ServerCmd::Unwatch => Reply::ok(),
        ServerCmd::Compact => {
            let stats = db.compact()?;
            Reply::Status(format!(
                "OK reclaimed {} bytes: segments {} -> {} bytes, index {} -> {} bytes ({} files \
                 removed, {} written, {} records copied)",
                (stats.bytes_before + stats.index_bytes_before)
                    .saturating_sub(stats.bytes_after + stats.index_bytes_after),
                stats.bytes_before,
                stats.bytes_after,
                stats.index_bytes_before,
                stats.index_bytes_after,
                stats.segments_removed,
                stats.segments_written,
                stats.records_copied
            ))
        }
        ServerCmd::Check => check(db)?,
        ServerCmd::Backup(dest) => {
            let dest = std::path::Path::new(std::ffi::OsStr::from_bytes(dest));
            let stats = db.backup(dest)?;
            Reply::Status(format!(
                "OK {} keys in {} segments, {} bytes",
                stats.keys, stats.segments, stats.bytes
            ))
        }
        ServerCmd::Export(file, format) => export(db, file, format),
        ServerCmd::Import(file, format) => import(db, file, format),
        ServerCmd::Command(query) => crate::commands::introspect::reply(&query),
        // Repair needs the database to itself, and this shell has it open.
        ServerCmd::Repair => Reply::error(format!(
            "ERR REPAIR needs the database to itself: close every process that uses it, this \
             shell included, and run `ziggy -d {} repair`",
            db.path().display()
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::parse::now_ms;

    #[test]
    fn library_errors_map_to_redis_wording() {
        let wrong = Error::WrongType {
            expected: ValueType::Int,
            actual: ValueType::Json,
        };
        let cases = [
            (
                wrong,
                "WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            (Error::Overflow, "ERR increment or decrement would overflow"),
            (
                Error::NotAnInteger,
                "ERR value is not an integer or out of range",
            ),
            (Error::NotAFloat, "ERR value is not a valid float"),
            (Error::InvalidArgument("a\nb".into()), "ERR a b"),
        ];
        for (e, text) in cases {
            assert_eq!(error_reply(&e), Reply::error(text));
        }
    }

    #[test]
    fn ttl_replies_round_to_the_nearest_second() {
        assert_eq!(ttl_reply(None, Unit::Seconds, now_ms()), Reply::Int(-2));
        assert_eq!(
            ttl_reply(Some(None), Unit::Millis, now_ms()),
            Reply::Int(-1)
        );
        assert_eq!(
            ttl_reply(Some(Some(1)), Unit::Millis, now_ms()),
            Reply::Int(0)
        );
        let Reply::Int(s) = ttl_reply(Some(Some(now_ms() + 1_600)), Unit::Seconds, now_ms()) else {
            panic!()
        };
        assert_eq!(s, 2);
    }
}
