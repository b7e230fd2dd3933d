//! The commands `ziggy` accepts: one table of names, arities and help text, parsing of each
//! command's arguments, and a [`Session`] that runs them against the database.
//!
//! A command outside a transaction runs on its own: reads go straight to the database, and
//! each write command is one write transaction (so `MSET` and `DEL a b` are atomic).
//! `MULTI` queues commands until `EXEC` runs them all in one write transaction, as Redis does;
//! `BEGIN` opens a write transaction that the following commands run in directly, showing
//! their real replies, until `COMMIT` or `ROLLBACK`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use ziggydb::{Db, Error, Value, ValueType, WriteTxn};

use crate::glob::glob_match;
use crate::reply::Reply;

/// How a command touches the database, which decides where it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Needs no database (`PING`, `ECHO`) or only its shared counters (`INFO`).
    Other,
    /// Reads keys; inside a transaction it sees the transaction's writes.
    Read,
    /// Writes keys: one transaction of its own, or part of the open one.
    Write,
    /// Works on the whole database; refused inside a transaction.
    Admin,
    /// Starts or ends a transaction.
    Control,
}

/// What the shell knows about one command.
#[derive(Debug)]
pub struct CommandSpec {
    /// Upper-case name.
    pub name: &'static str,
    /// Number of arguments including the name, as Redis counts them: `n` means exactly `n`,
    /// `-n` at least `n`.
    pub arity: i32,
    /// Where the command may run.
    pub kind: Kind,
    /// Arguments after the name, for help text.
    pub syntax: &'static str,
    /// One-line description.
    pub summary: &'static str,
}

macro_rules! command {
    ($name:literal, $arity:literal, $kind:ident, $syntax:literal, $summary:literal) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            kind: Kind::$kind,
            syntax: $syntax,
            summary: $summary,
        }
    };
}

/// Every command, in the order help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    command!("GET", 2, Read, "key", "Get the value of a key"),
    command!(
        "SET",
        -3,
        Write,
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-seconds|\
         PXAT unix-milliseconds|KEEPTTL] \
         [TYPE bytes|string|int|float|bool|timestamp|json]",
        "Set the value of a key, optionally as a typed scalar and with an expiry"
    ),
    command!(
        "GETTYPE",
        2,
        Read,
        "key",
        "Get the stored type of a key's value"
    ),
    command!(
        "DEL",
        -2,
        Write,
        "key [key ...]",
        "Delete keys; reply with how many existed"
    ),
    command!(
        "EXISTS",
        -2,
        Read,
        "key [key ...]",
        "Count how many of the keys exist"
    ),
    command!(
        "MGET",
        -2,
        Read,
        "key [key ...]",
        "Get the values of several keys at once"
    ),
    command!(
        "MSET",
        -3,
        Write,
        "key value [key value ...]",
        "Set several keys at once"
    ),
    command!("INCR", 2, Write, "key", "Add one to the integer at a key"),
    command!(
        "INCRBY",
        3,
        Write,
        "key increment",
        "Add to the integer at a key"
    ),
    command!(
        "DECR",
        2,
        Write,
        "key",
        "Subtract one from the integer at a key"
    ),
    command!(
        "DECRBY",
        3,
        Write,
        "key decrement",
        "Subtract from the integer at a key"
    ),
    command!("DBSIZE", 1, Read, "", "Count the keys"),
    command!(
        "KEYS",
        2,
        Read,
        "pattern",
        "List the keys matching a glob pattern"
    ),
    command!(
        "MULTI",
        1,
        Control,
        "",
        "Queue the following commands until EXEC"
    ),
    command!(
        "EXEC",
        1,
        Control,
        "",
        "Run the queued commands in one transaction"
    ),
    command!("DISCARD", 1, Control, "", "Drop the queued commands"),
    command!(
        "BEGIN",
        1,
        Control,
        "",
        "Start a transaction holding the writer lock"
    ),
    command!(
        "COMMIT",
        1,
        Control,
        "",
        "Commit the transaction started by BEGIN"
    ),
    command!(
        "ROLLBACK",
        1,
        Control,
        "",
        "Discard the transaction started by BEGIN"
    ),
    command!(
        "COMPACT",
        1,
        Admin,
        "",
        "Rewrite segments to reclaim space now"
    ),
    command!("CHECK", 1, Admin, "", "Verify checksums and the index"),
    command!(
        "INFO",
        -1,
        Other,
        "[section ...]",
        "Show database statistics"
    ),
    command!("PING", -1, Other, "[message]", "Reply PONG, or the message"),
    command!("ECHO", 2, Other, "message", "Reply the message"),
];

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Help for `help` (every command) or `help NAME`: the syntax line and summary of each.
pub fn help_text(topic: Option<&[u8]>) -> String {
    let mut text = String::new();
    let specs: Vec<&CommandSpec> = match topic {
        None => COMMANDS.iter().collect(),
        Some(name) => match lookup(name) {
            Some(spec) => vec![spec],
            None => {
                return format!(
                    "no command named '{}'; type help for the list\n",
                    String::from_utf8_lossy(name)
                )
            }
        },
    };
    for spec in specs {
        let sep = if spec.syntax.is_empty() { "" } else { " " };
        let _ = writeln!(
            text,
            "{}{sep}{}\n  {}",
            spec.name, spec.syntax, spec.summary
        );
    }
    text
}

/// Redis's "unknown command" error, quoting the start of the arguments.
fn unknown_command(args: &[Vec<u8>]) -> Reply {
    let name = String::from_utf8_lossy(&args[0]);
    let name: String = truncate(&name, 128).replace(['\r', '\n'], " ");
    let mut quoted = String::new();
    for arg in &args[1..] {
        if quoted.len() >= 128 {
            break;
        }
        let room = 128 - quoted.len();
        let _ = write!(
            quoted,
            "'{}' ",
            truncate(&String::from_utf8_lossy(arg), room)
        );
    }
    Reply::error(format!(
        "ERR unknown command '{name}', with args beginning with: {}",
        quoted.replace(['\r', '\n'], " ")
    ))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn wrong_arity(spec: &CommandSpec) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        spec.name.to_ascii_lowercase()
    ))
}

fn check_arity(spec: &CommandSpec, argc: usize) -> Result<(), Reply> {
    let argc = i64::try_from(argc).unwrap_or(i64::MAX);
    let arity = i64::from(spec.arity);
    let fits = if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    };
    if fits {
        Ok(())
    } else {
        Err(wrong_arity(spec))
    }
}

fn syntax_error() -> Reply {
    Reply::error("ERR syntax error")
}

fn not_an_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

/// The reply for a library error, with Redis's wording where Redis has one.
pub fn error_reply(err: &Error) -> Reply {
    let text = match err {
        Error::WrongType { .. } => {
            "WRONGTYPE Operation against a key holding the wrong kind of value".to_owned()
        }
        Error::NotAnInteger => "ERR value is not an integer or out of range".to_owned(),
        Error::Overflow => "ERR increment or decrement would overflow".to_owned(),
        other => format!("ERR {other}"),
    };
    // A reply is one line.
    Reply::Error(text.replace(['\r', '\n'], " "))
}

/// Parses an integer argument the way Redis's `string2ll` does: optional `-`, no `+`, no
/// spaces, no leading zeros.
fn parse_int(arg: &[u8]) -> Option<i64> {
    let digits = arg.strip_prefix(b"-").unwrap_or(arg);
    let canonical = match digits {
        [b'0'] => digits.len() == arg.len(),
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `SET`'s condition on the key's existence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

/// A parsed `SET`.
#[derive(Debug, PartialEq)]
struct SetArgs<'a> {
    key: &'a [u8],
    value: Value,
    /// Unix ms; `None` clears any expiry.
    expires_at_ms: Option<u64>,
    condition: Condition,
    get: bool,
}

/// A command with its arguments checked and decoded.
#[derive(Debug, PartialEq)]
enum Cmd<'a> {
    Ping(Option<&'a [u8]>),
    Echo(&'a [u8]),
    Info(Vec<&'a [u8]>),
    Get(&'a [u8]),
    GetType(&'a [u8]),
    Exists(Vec<&'a [u8]>),
    MGet(Vec<&'a [u8]>),
    DbSize,
    Keys(&'a [u8]),
    Set(SetArgs<'a>),
    MSet(Vec<(&'a [u8], &'a [u8])>),
    Del(Vec<&'a [u8]>),
    IncrBy(&'a [u8], i64),
    Compact,
    Check,
}

fn keys_of(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

/// Parses the arguments (after the name) of a command that has passed its arity check.
/// Control commands are handled by the session, not here.
fn parse<'a>(spec: &CommandSpec, args: &'a [Vec<u8>]) -> Result<Cmd<'a>, Reply> {
    let arg = |i: usize| args[i].as_slice();
    Ok(match spec.name {
        "PING" => match args.len() {
            0 => Cmd::Ping(None),
            1 => Cmd::Ping(Some(arg(0))),
            _ => return Err(wrong_arity(spec)),
        },
        "ECHO" => Cmd::Echo(arg(0)),
        "INFO" => Cmd::Info(keys_of(args)),
        "GET" => Cmd::Get(arg(0)),
        "GETTYPE" => Cmd::GetType(arg(0)),
        "EXISTS" => Cmd::Exists(keys_of(args)),
        "MGET" => Cmd::MGet(keys_of(args)),
        "DBSIZE" => Cmd::DbSize,
        "KEYS" => Cmd::Keys(arg(0)),
        "SET" => Cmd::Set(parse_set(args)?),
        "MSET" => {
            let pairs = args.chunks_exact(2);
            if !pairs.remainder().is_empty() {
                return Err(wrong_arity(spec));
            }
            Cmd::MSet(
                pairs
                    .map(|kv| (kv[0].as_slice(), kv[1].as_slice()))
                    .collect(),
            )
        }
        "DEL" => Cmd::Del(keys_of(args)),
        "INCR" => Cmd::IncrBy(arg(0), 1),
        "DECR" => Cmd::IncrBy(arg(0), -1),
        "INCRBY" => Cmd::IncrBy(arg(0), parse_int(arg(1)).ok_or_else(not_an_integer)?),
        "DECRBY" => {
            let delta = parse_int(arg(1)).ok_or_else(not_an_integer)?;
            let negated = delta
                .checked_neg()
                .ok_or_else(|| Reply::error("ERR decrement would overflow"))?;
            Cmd::IncrBy(arg(0), negated)
        }
        "COMPACT" => Cmd::Compact,
        "CHECK" => Cmd::Check,
        other => unreachable!("{other} is a control command or missing from parse"),
    })
}

/// How a `SET` option gives the expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpiryUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// Parses `SET key value [options]` (arguments after the name), with Redis's precedence:
/// option syntax first, then the expiry value, then the value itself.
fn parse_set(args: &[Vec<u8>]) -> Result<SetArgs<'_>, Reply> {
    let mut condition = Condition::Always;
    let mut get = false;
    let mut keep_ttl = false;
    let mut expiry: Option<(ExpiryUnit, &[u8])> = None;
    let mut value_type: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let opt = args[i].to_ascii_uppercase();
        let next = args.get(i + 1).map(Vec::as_slice);
        let unit = match opt.as_slice() {
            b"EX" => Some(ExpiryUnit::Seconds),
            b"PX" => Some(ExpiryUnit::Millis),
            b"EXAT" => Some(ExpiryUnit::UnixSeconds),
            b"PXAT" => Some(ExpiryUnit::UnixMillis),
            _ => None,
        };
        match (opt.as_slice(), unit, next) {
            (b"NX", ..) if condition != Condition::IfPresent => condition = Condition::IfAbsent,
            (b"XX", ..) if condition != Condition::IfAbsent => condition = Condition::IfPresent,
            (b"GET", ..) => get = true,
            (b"KEEPTTL", ..) if expiry.is_none() => keep_ttl = true,
            (_, Some(unit), Some(n)) if expiry.is_none() && !keep_ttl => {
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

    let expires_at_ms = match expiry {
        None => None,
        Some((unit, n)) => Some(expiry_ms(unit, n)?),
    };
    if keep_ttl {
        return Err(Reply::error(
            "ERR KEEPTTL is not supported: the expiry of a key cannot be read yet",
        ));
    }
    let value = match value_type {
        None => Value::Bytes(args[1].clone()),
        Some(name) => {
            let ty = std::str::from_utf8(name)
                .ok()
                .and_then(ValueType::from_name)
                .ok_or_else(|| {
                    Reply::error(format!(
                        "ERR unknown value type '{}', expected bytes, string, int, float, bool, \
                         timestamp or json",
                        String::from_utf8_lossy(name).replace(['\r', '\n'], " ")
                    ))
                })?;
            Value::parse_as(ty, &args[1]).map_err(|e| error_reply(&e))?
        }
    };
    Ok(SetArgs {
        key: &args[0],
        value,
        expires_at_ms,
        condition,
        get,
    })
}

/// The absolute expiry in Unix ms for `SET ... EX|PX|EXAT|PXAT n`.
fn expiry_ms(unit: ExpiryUnit, arg: &[u8]) -> Result<u64, Reply> {
    let invalid = || Reply::error("ERR invalid expire time in 'set' command");
    let n = parse_int(arg).ok_or_else(not_an_integer)?;
    if n <= 0 {
        return Err(invalid());
    }
    let n = u64::try_from(n).map_err(|_| invalid())?;
    let ms = match unit {
        ExpiryUnit::Seconds | ExpiryUnit::UnixSeconds => n.checked_mul(1000),
        ExpiryUnit::Millis | ExpiryUnit::UnixMillis => Some(n),
    };
    let at = match unit {
        ExpiryUnit::Seconds | ExpiryUnit::Millis => ms.and_then(|ms| ms.checked_add(now_ms())),
        ExpiryUnit::UnixSeconds | ExpiryUnit::UnixMillis => ms,
    };
    at.filter(|&at| i64::try_from(at).is_ok())
        .ok_or_else(invalid)
}

/// An open write transaction, with the keys it has written so that `DBSIZE` and `KEYS` can
/// see its writes: the writer lock keeps every other process from committing meanwhile, so
/// the committed keys plus this overlay are exactly the keys the transaction sees.
struct Txn {
    tx: WriteTxn,
    /// Key -> whether it exists after this transaction's writes so far.
    written: BTreeMap<Vec<u8>, bool>,
}

impl Txn {
    fn begin(db: &Db) -> ziggydb::Result<Self> {
        Ok(Txn {
            tx: db.begin_write()?,
            written: BTreeMap::new(),
        })
    }

    fn set(&mut self, key: &[u8], value: Value, expires_at_ms: Option<u64>) -> ziggydb::Result<()> {
        self.tx.set_with_expiry(key, value, expires_at_ms)?;
        // An expiry already past makes the write a deletion.
        let exists = self.tx.exists(key)?;
        self.written.insert(key.to_vec(), exists);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> ziggydb::Result<bool> {
        // Already gone in this transaction. `WriteTxn::delete` of a key that reads as absent
        // drops the transaction's pending write to it, which would bring back the committed
        // value after an earlier delete (or a write that expired at once).
        if self.written.get(key) == Some(&false) {
            return Ok(false);
        }
        let existed = self.tx.delete(key)?;
        self.written.insert(key.to_vec(), false);
        Ok(existed)
    }

    fn incr_by(&mut self, key: &[u8], delta: i64) -> ziggydb::Result<i64> {
        let n = self.tx.incr_by(key, delta)?;
        self.written.insert(key.to_vec(), true);
        Ok(n)
    }

    /// The keys as this transaction sees them, sorted.
    fn keys(&self, db: &Db) -> ziggydb::Result<BTreeSet<Vec<u8>>> {
        let mut keys: BTreeSet<Vec<u8>> = db.keys()?.into_iter().collect();
        for (key, &exists) in &self.written {
            if exists {
                keys.insert(key.clone());
            } else {
                keys.remove(key);
            }
        }
        Ok(keys)
    }
}

/// Where a read runs: the committed state, or an open transaction.
enum Reader<'s> {
    Db(&'s Db),
    Txn(&'s Db, &'s Txn),
}

impl Reader<'_> {
    fn get(&self, key: &[u8]) -> ziggydb::Result<Option<Value>> {
        match self {
            Reader::Db(db) => db.get_value(key),
            Reader::Txn(_, txn) => txn.tx.get(key),
        }
    }

    /// All from one state: the committed state is read atomically.
    fn mget(&self, keys: &[&[u8]]) -> ziggydb::Result<Vec<Option<Value>>> {
        match self {
            Reader::Db(db) => db.mget(keys),
            Reader::Txn(_, txn) => keys.iter().map(|k| txn.tx.get(k)).collect(),
        }
    }

    fn sorted_keys(&self) -> ziggydb::Result<Vec<Vec<u8>>> {
        match self {
            Reader::Db(db) => {
                let mut keys = db.keys()?;
                keys.sort_unstable();
                Ok(keys)
            }
            Reader::Txn(db, txn) => Ok(txn.keys(db)?.into_iter().collect()),
        }
    }

    fn len(&self) -> ziggydb::Result<u64> {
        match self {
            Reader::Db(db) => Ok(db.len()),
            Reader::Txn(db, txn) => Ok(txn.keys(db)?.len() as u64),
        }
    }
}

fn bulk_or_nil(value: Option<Value>) -> Reply {
    value.map_or(Reply::Nil, |v| Reply::Bulk(v.to_redis_bytes()))
}

fn read(reader: &Reader<'_>, cmd: Cmd<'_>) -> ziggydb::Result<Reply> {
    Ok(match cmd {
        Cmd::Get(key) => bulk_or_nil(reader.get(key)?),
        Cmd::GetType(key) => reader
            .get(key)?
            .map_or(Reply::Nil, |v| Reply::bulk(v.value_type().name())),
        Cmd::MGet(keys) => Reply::Array(reader.mget(&keys)?.into_iter().map(bulk_or_nil).collect()),
        Cmd::Exists(keys) => {
            let found = reader.mget(&keys)?.iter().filter(|v| v.is_some()).count();
            Reply::Int(i64::try_from(found).unwrap_or(i64::MAX))
        }
        Cmd::DbSize => Reply::Int(i64::try_from(reader.len()?).unwrap_or(i64::MAX)),
        Cmd::Keys(pattern) => Reply::Array(
            reader
                .sorted_keys()?
                .into_iter()
                .filter(|k| glob_match(pattern, k))
                .map(Reply::Bulk)
                .collect(),
        ),
        other => unreachable!("{other:?} is not a read command"),
    })
}

fn write(txn: &mut Txn, cmd: Cmd<'_>) -> ziggydb::Result<Reply> {
    Ok(match cmd {
        Cmd::Set(set) => {
            let old = if set.get || set.condition != Condition::Always {
                txn.tx.get(set.key)?
            } else {
                None
            };
            let apply = match set.condition {
                Condition::Always => true,
                Condition::IfAbsent => old.is_none(),
                Condition::IfPresent => old.is_some(),
            };
            if apply {
                txn.set(set.key, set.value, set.expires_at_ms)?;
            }
            if set.get {
                bulk_or_nil(old)
            } else if apply {
                Reply::ok()
            } else {
                Reply::Nil
            }
        }
        Cmd::MSet(pairs) => {
            for (key, value) in pairs {
                txn.set(key, Value::Bytes(value.to_vec()), None)?;
            }
            Reply::ok()
        }
        Cmd::Del(keys) => {
            let mut deleted = 0;
            for key in keys {
                deleted += i64::from(txn.delete(key)?);
            }
            Reply::Int(deleted)
        }
        Cmd::IncrBy(key, delta) => Reply::Int(txn.incr_by(key, delta)?),
        other => unreachable!("{other:?} is not a write command"),
    })
}

/// `INFO`: the shared metrics as one `# Stats` section, `name:value` lines ending in CRLF.
fn info(db: &Db, sections: &[&[u8]]) -> Reply {
    let wanted = sections.is_empty()
        || sections.iter().any(|s| {
            [&b"stats"[..], b"all", b"default", b"everything"]
                .iter()
                .any(|name| s.eq_ignore_ascii_case(name))
        });
    if !wanted {
        return Reply::bulk("");
    }
    let m = db.metrics();
    let fields = [
        ("keys", m.keys),
        ("live_bytes", m.live_bytes),
        ("dead_bytes", m.dead_bytes),
        ("segments", m.segments),
        ("segment_file_bytes", m.segment_file_bytes),
        ("wal_bytes", m.wal_bytes),
        ("last_checkpoint_ms", m.last_checkpoint_ms),
        ("commits", m.commits),
        ("rollbacks", m.rollbacks),
        ("commit_micros", m.commit_micros),
        ("reads", m.reads),
        ("hits", m.hits),
        ("misses", m.misses),
        ("compactions", m.compactions),
        ("expired", m.expired),
        ("processes", m.processes),
        ("index_capacity", m.index_capacity),
        ("mapped_bytes", m.mapped_bytes),
    ];
    let mut text = String::from("# Stats\r\n");
    for (name, value) in fields {
        let _ = write!(text, "{name}:{value}\r\n");
    }
    Reply::bulk(text)
}

fn check(db: &Db) -> ziggydb::Result<Reply> {
    let report = db.check()?;
    if report.is_ok() {
        return Ok(Reply::ok());
    }
    let n = report.problems.len();
    let text = format!(
        "ERR check found {n} problem{}: {}",
        if n == 1 { "" } else { "s" },
        report.problems.join("; ")
    );
    Ok(Reply::Error(text.replace(['\r', '\n'], " ")))
}

/// Commands queued by `MULTI`.
struct Multi {
    queue: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queueing, so `EXEC` must refuse to run.
    failed: bool,
}

/// One connection's state: the database and any open `MULTI` queue or `BEGIN` transaction.
pub struct Session {
    db: Db,
    txn: Option<Txn>,
    multi: Option<Multi>,
}

impl Session {
    /// A session on `db` with no transaction open.
    pub fn new(db: Db) -> Self {
        Session {
            db,
            txn: None,
            multi: None,
        }
    }

    /// True while a `MULTI` queue or a `BEGIN` transaction is open (the prompt shows `(TX)`).
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some() || self.multi.is_some()
    }

    /// A note about work that will be lost if the session ends now, if any.
    pub fn pending_warning(&self) -> Option<&'static str> {
        if self.txn.is_some() {
            Some("transaction started by BEGIN was rolled back: no COMMIT before the end")
        } else if self.multi.is_some() {
            Some("commands queued by MULTI were discarded: no EXEC before the end")
        } else {
            None
        }
    }

    /// Runs one command line, `args[0]` being the command name. `args` must not be empty.
    pub fn execute(&mut self, args: &[Vec<u8>]) -> Reply {
        let Some(spec) = lookup(&args[0]) else {
            return self.refuse_in_multi(unknown_command(args));
        };
        if let Err(reply) = check_arity(spec, args.len()) {
            return self.refuse_in_multi(reply);
        }
        if self.multi.is_some() && !matches!(spec.name, "MULTI" | "EXEC" | "DISCARD") {
            if matches!(spec.kind, Kind::Admin | Kind::Control) {
                return self
                    .refuse_in_multi(Reply::error("ERR Command not allowed inside a transaction"));
            }
            if let Some(multi) = &mut self.multi {
                multi.queue.push(args.to_vec());
            }
            return Reply::Status("QUEUED".into());
        }
        match spec.name {
            "MULTI" => self.multi(),
            "EXEC" => self.exec(),
            "DISCARD" => match self.multi.take() {
                Some(_) => Reply::ok(),
                None => Reply::error("ERR DISCARD without MULTI"),
            },
            "BEGIN" => self.begin(),
            "COMMIT" => match self.txn.take() {
                Some(txn) => txn
                    .tx
                    .commit()
                    .map_or_else(|e| error_reply(&e), |()| Reply::ok()),
                None => Reply::error("ERR COMMIT without BEGIN"),
            },
            "ROLLBACK" => match self.txn.take() {
                Some(txn) => {
                    txn.tx.rollback();
                    Reply::ok()
                }
                None => Reply::error("ERR ROLLBACK without BEGIN"),
            },
            _ if spec.kind == Kind::Admin && self.txn.is_some() => {
                Reply::error("ERR Command not allowed inside a transaction")
            }
            _ => match parse(spec, &args[1..]) {
                Ok(cmd) => {
                    let result = match self.txn.as_mut() {
                        Some(txn) => run_in_txn(&self.db, txn, spec.kind, cmd),
                        None => run_alone(&self.db, spec.kind, cmd),
                    };
                    result.unwrap_or_else(|e| error_reply(&e))
                }
                Err(reply) => reply,
            },
        }
    }

    /// Replies `reply` (an error) and, inside `MULTI`, makes the coming `EXEC` fail.
    fn refuse_in_multi(&mut self, reply: Reply) -> Reply {
        if let Some(multi) = &mut self.multi {
            multi.failed = true;
        }
        reply
    }

    fn multi(&mut self) -> Reply {
        if self.multi.is_some() {
            return Reply::error("ERR MULTI calls can not be nested");
        }
        if self.txn.is_some() {
            return Reply::error("ERR MULTI inside BEGIN is not allowed");
        }
        self.multi = Some(Multi {
            queue: Vec::new(),
            failed: false,
        });
        Reply::ok()
    }

    fn exec(&mut self) -> Reply {
        let Some(multi) = self.multi.take() else {
            return Reply::error("ERR EXEC without MULTI");
        };
        if multi.failed {
            return Reply::error("EXECABORT Transaction discarded because of previous errors.");
        }
        if multi.queue.is_empty() {
            return Reply::Array(Vec::new());
        }
        let mut txn = match Txn::begin(&self.db) {
            Ok(txn) => txn,
            Err(e) => return error_reply(&e),
        };
        // As in Redis, a command that fails does not stop the others or undo them.
        let replies = multi
            .queue
            .iter()
            .map(|args| {
                let spec = lookup(&args[0]).expect("queued commands are known");
                match parse(spec, &args[1..]) {
                    Ok(cmd) => run_in_txn(&self.db, &mut txn, spec.kind, cmd)
                        .unwrap_or_else(|e| error_reply(&e)),
                    Err(reply) => reply,
                }
            })
            .collect();
        match txn.tx.commit() {
            Ok(()) => Reply::Array(replies),
            Err(e) => error_reply(&e),
        }
    }

    fn begin(&mut self) -> Reply {
        if self.txn.is_some() {
            return Reply::error("ERR BEGIN calls can not be nested");
        }
        match Txn::begin(&self.db) {
            Ok(txn) => {
                self.txn = Some(txn);
                Reply::ok()
            }
            Err(e) => error_reply(&e),
        }
    }
}

/// Runs a non-control command outside any transaction; a write command gets a transaction of
/// its own, committed if it succeeds.
fn run_alone(db: &Db, kind: Kind, cmd: Cmd<'_>) -> ziggydb::Result<Reply> {
    match kind {
        Kind::Read => read(&Reader::Db(db), cmd),
        Kind::Write => {
            let mut txn = Txn::begin(db)?;
            match write(&mut txn, cmd) {
                Ok(reply) => {
                    txn.tx.commit()?;
                    Ok(reply)
                }
                Err(e) => {
                    txn.tx.rollback();
                    Err(e)
                }
            }
        }
        Kind::Admin | Kind::Other | Kind::Control => run_other(db, cmd),
    }
}

/// Runs a non-control command inside the open transaction `txn`.
fn run_in_txn(db: &Db, txn: &mut Txn, kind: Kind, cmd: Cmd<'_>) -> ziggydb::Result<Reply> {
    match kind {
        Kind::Read => read(&Reader::Txn(db, txn), cmd),
        Kind::Write => write(txn, cmd),
        Kind::Admin | Kind::Other | Kind::Control => run_other(db, cmd),
    }
}

fn run_other(db: &Db, cmd: Cmd<'_>) -> ziggydb::Result<Reply> {
    Ok(match cmd {
        Cmd::Ping(None) => Reply::Status("PONG".into()),
        Cmd::Ping(Some(msg)) | Cmd::Echo(msg) => Reply::bulk(msg),
        Cmd::Info(sections) => info(db, &sections),
        Cmd::Compact => {
            db.compact()?;
            Reply::ok()
        }
        Cmd::Check => check(db)?,
        other => unreachable!("{other:?} is a read or write command"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<Vec<u8>> {
        line.split_whitespace()
            .map(|a| a.as_bytes().to_vec())
            .collect()
    }

    /// Looks up, arity-checks and parses `line` without a database.
    fn parse_line(line: &str) -> Result<Cmd<'static>, Reply> {
        let args: &'static [Vec<u8>] = Vec::leak(argv(line));
        let spec = lookup(&args[0]).ok_or_else(|| unknown_command(args))?;
        check_arity(spec, args.len())?;
        parse(spec, &args[1..])
    }

    fn err(text: &str) -> Reply {
        Reply::error(text)
    }

    #[test]
    fn table_is_consistent() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert_ne!(spec.arity, 0, "{}", spec.name);
            assert!(
                COMMANDS[i + 1..].iter().all(|c| c.name != spec.name),
                "{} listed twice",
                spec.name
            );
            assert!(!spec.summary.is_empty());
        }
    }

    #[test]
    fn help_lists_syntax_and_summary() {
        assert_eq!(
            help_text(Some(b"incrby")),
            "INCRBY key increment\n  Add to the integer at a key\n"
        );
        assert!(help_text(None).contains("DBSIZE\n  Count the keys\n"));
        assert!(help_text(Some(b"nope")).starts_with("no command named 'nope'"));
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(lookup(b"get").unwrap().name, "GET");
        assert_eq!(lookup(b"GeTtYpE").unwrap().name, "GETTYPE");
        assert!(lookup(b"nope").is_none());
    }

    #[test]
    fn arity_errors_name_the_command_in_lower_case() {
        let e = err("ERR wrong number of arguments for 'get' command");
        assert_eq!(parse_line("GET"), Err(e.clone()));
        assert_eq!(parse_line("get a b"), Err(e));
        assert_eq!(
            parse_line("MSET a 1 b"),
            Err(err("ERR wrong number of arguments for 'mset' command"))
        );
        assert_eq!(
            parse_line("PING a b"),
            Err(err("ERR wrong number of arguments for 'ping' command"))
        );
        assert_eq!(
            parse_line("DEL"),
            Err(err("ERR wrong number of arguments for 'del' command"))
        );
    }

    #[test]
    fn unknown_command_quotes_its_arguments() {
        assert_eq!(
            unknown_command(&argv("foo a b")),
            err("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
        );
        assert_eq!(
            unknown_command(&argv("FOO")),
            err("ERR unknown command 'FOO', with args beginning with: ")
        );
        let long = format!("foo {} b", "x".repeat(200));
        let Reply::Error(text) = unknown_command(&argv(&long)) else {
            panic!()
        };
        assert!(text.ends_with(&format!("'{}' ", "x".repeat(128))), "{text}");
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
        assert_eq!(parse_line("INCR n"), Ok(Cmd::IncrBy(b"n", 1)));
        assert_eq!(parse_line("decr n"), Ok(Cmd::IncrBy(b"n", -1)));
        assert_eq!(parse_line("INCRBY n -7"), Ok(Cmd::IncrBy(b"n", -7)));
        assert_eq!(parse_line("DECRBY n 7"), Ok(Cmd::IncrBy(b"n", -7)));
        assert_eq!(
            parse_line("INCRBY n x"),
            Err(err("ERR value is not an integer or out of range"))
        );
        assert_eq!(
            parse_line("DECRBY n -9223372036854775808"),
            Err(err("ERR decrement would overflow"))
        );
    }

    fn set(line: &str) -> Result<SetArgs<'static>, Reply> {
        match parse_line(line)? {
            Cmd::Set(s) => Ok(s),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_set_stores_bytes_and_clears_expiry() {
        let s = set("SET k v").unwrap();
        assert_eq!(s.key, b"k");
        assert_eq!(s.value, Value::Bytes(b"v".to_vec()));
        assert_eq!(s.expires_at_ms, None);
        assert_eq!(s.condition, Condition::Always);
        assert!(!s.get);
    }

    #[test]
    fn set_options() {
        let s = set("set k v nx get").unwrap();
        assert_eq!(s.condition, Condition::IfAbsent);
        assert!(s.get);
        assert_eq!(set("SET k v XX").unwrap().condition, Condition::IfPresent);
        assert_eq!(
            set("SET k v PXAT 1700000000000").unwrap().expires_at_ms,
            Some(1_700_000_000_000)
        );
        assert_eq!(
            set("SET k v exat 1700000000").unwrap().expires_at_ms,
            Some(1_700_000_000_000)
        );

        let before = now_ms();
        let at = set("SET k v EX 10").unwrap().expires_at_ms.unwrap();
        assert!((before + 10_000..=now_ms() + 10_000).contains(&at));
        let at = set("SET k v PX 250").unwrap().expires_at_ms.unwrap();
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
            assert_eq!(set(line), Err(err("ERR syntax error")), "{line}");
        }
        assert_eq!(
            set("SET k v EX x"),
            Err(err("ERR value is not an integer or out of range"))
        );
        for line in [
            "SET k v EX 0",
            "SET k v PX -1",
            "SET k v EX 9223372036854775807",
        ] {
            assert_eq!(
                set(line),
                Err(err("ERR invalid expire time in 'set' command")),
                "{line}"
            );
        }
    }

    #[test]
    fn set_with_type() {
        assert_eq!(set("SET k 42 TYPE int").unwrap().value, Value::Int(42));
        assert_eq!(
            set("SET k 1.5 type FLOAT").unwrap().value,
            Value::Float(1.5)
        );
        assert_eq!(
            set("SET k true TYPE bool").unwrap().value,
            Value::Bool(true)
        );
        assert_eq!(
            set("SET k hi TYPE string").unwrap().value,
            Value::String("hi".into())
        );
        assert_eq!(
            set("SET k [1] TYPE json").unwrap().value,
            Value::Json("[1]".into())
        );
        assert_eq!(
            set("SET k 5 TYPE timestamp").unwrap().value,
            Value::Timestamp(5)
        );
        assert_eq!(
            set("SET k x TYPE int"),
            Err(err("ERR value is not an integer or out of range"))
        );
        assert!(
            matches!(set("SET k x TYPE list"), Err(Reply::Error(e)) if e.starts_with("ERR unknown value type 'list'"))
        );
    }

    #[test]
    fn library_errors_map_to_redis_wording() {
        let wrong = Error::WrongType {
            expected: ValueType::Int,
            actual: ValueType::Json,
        };
        assert_eq!(
            error_reply(&wrong),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(
            error_reply(&Error::Overflow),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(
            error_reply(&Error::InvalidArgument("a\nb".into())),
            err("ERR invalid argument: a b")
        );
    }

    #[test]
    fn other_commands_parse() {
        assert_eq!(parse_line("PING"), Ok(Cmd::Ping(None)));
        assert_eq!(parse_line("ping hi"), Ok(Cmd::Ping(Some(b"hi"))));
        assert_eq!(parse_line("ECHO hi"), Ok(Cmd::Echo(b"hi")));
        assert_eq!(parse_line("MGET a b"), Ok(Cmd::MGet(vec![b"a", b"b"])));
        assert_eq!(
            parse_line("MSET a 1 b 2"),
            Ok(Cmd::MSet(vec![(b"a", b"1"), (b"b", b"2")]))
        );
        assert_eq!(parse_line("DBSIZE"), Ok(Cmd::DbSize));
        assert_eq!(parse_line("KEYS *"), Ok(Cmd::Keys(b"*")));
    }

    /// Runs `lines` (split on whitespace) in one session on a fresh database.
    struct Fixture {
        _dir: tempfile::TempDir,
        session: Session,
    }

    impl Fixture {
        fn new() -> ziggydb::Result<Self> {
            let dir = tempfile::tempdir().map_err(|e| Error::InvalidArgument(e.to_string()))?;
            let db = Db::open(dir.path().join("db"))?;
            Ok(Fixture {
                _dir: dir,
                session: Session::new(db),
            })
        }

        fn run(&mut self, line: &str) -> Reply {
            self.session.execute(&argv(line))
        }
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s)
    }

    fn status(s: &str) -> Reply {
        Reply::Status(s.into())
    }

    #[test]
    fn strings_and_counters() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("GET a"), Reply::Nil);
        assert_eq!(f.run("SET a hello"), Reply::ok());
        assert_eq!(f.run("get a"), bulk("hello"));
        assert_eq!(f.run("GETTYPE a"), bulk("bytes"));
        assert_eq!(f.run("GETTYPE nope"), Reply::Nil);
        assert_eq!(
            f.run("INCR a"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(f.run("INCR n"), Reply::Int(1));
        assert_eq!(f.run("INCRBY n 10"), Reply::Int(11));
        assert_eq!(f.run("DECR n"), Reply::Int(10));
        assert_eq!(f.run("DECRBY n 20"), Reply::Int(-10));
        assert_eq!(f.run("GETTYPE n"), bulk("int"));
        assert_eq!(f.run("SET n 9223372036854775807"), Reply::ok());
        assert_eq!(
            f.run("INCR n"),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(f.run("GET n"), bulk("9223372036854775807"));
        Ok(())
    }

    #[test]
    fn typed_values_read_back_in_redis_form() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET i 42 TYPE int"), Reply::ok());
        assert_eq!(f.run("GET i"), bulk("42"));
        assert_eq!(f.run("GETTYPE i"), bulk("int"));
        assert_eq!(f.run("SET b on TYPE bool"), Reply::ok());
        assert_eq!(f.run("GET b"), bulk("true"));
        assert_eq!(f.run("SET x 2.50 TYPE float"), Reply::ok());
        assert_eq!(f.run("GET x"), bulk("2.5"));
        assert_eq!(f.run("SET j {} TYPE json"), Reply::ok());
        assert_eq!(f.run("GETTYPE j"), bulk("json"));
        assert!(f.run("SET j {x TYPE json").is_error());
        assert_eq!(f.run("GET j"), bulk("{}"));
        Ok(())
    }

    #[test]
    fn multi_key_commands() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MSET a 1 b 2 c 3"), Reply::ok());
        assert_eq!(
            f.run("MGET a nope c"),
            Reply::Array(vec![bulk("1"), Reply::Nil, bulk("3")])
        );
        assert_eq!(f.run("EXISTS a a nope b"), Reply::Int(3));
        assert_eq!(f.run("DBSIZE"), Reply::Int(3));
        assert_eq!(f.run("DEL a nope a b"), Reply::Int(2));
        assert_eq!(f.run("DBSIZE"), Reply::Int(1));
        assert_eq!(f.run("GET a"), Reply::Nil);
        assert_eq!(f.run("MSET user:1 x user:2 y other z"), Reply::ok());
        assert_eq!(
            f.run("KEYS user:*"),
            Reply::Array(vec![bulk("user:1"), bulk("user:2")])
        );
        assert_eq!(f.run("KEYS nothing*"), Reply::Array(vec![]));
        Ok(())
    }

    #[test]
    fn set_conditions_and_get() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET k v1 XX"), Reply::Nil);
        assert_eq!(f.run("SET k v1 NX"), Reply::ok());
        assert_eq!(f.run("SET k v2 NX"), Reply::Nil);
        assert_eq!(f.run("SET k v3 GET"), bulk("v1"));
        assert_eq!(f.run("SET k v4 NX GET"), bulk("v3"));
        assert_eq!(f.run("GET k"), bulk("v3"));
        assert_eq!(f.run("SET new v GET"), Reply::Nil);
        assert_eq!(f.run("GET new"), bulk("v"));
        Ok(())
    }

    #[test]
    fn expiry() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET gone v PX 1"), Reply::ok());
        assert_eq!(f.run("SET past v PXAT 1"), Reply::ok());
        assert_eq!(f.run("SET stays v EX 1000"), Reply::ok());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(f.run("GET gone"), Reply::Nil);
        assert_eq!(f.run("GET past"), Reply::Nil);
        assert_eq!(f.run("GET stays"), bulk("v"));
        assert_eq!(f.run("SET gone again NX"), Reply::ok());
        Ok(())
    }

    #[test]
    fn multi_exec_runs_queued_commands_together() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET s text"), Reply::ok());
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert!(f.session.in_transaction());
        assert_eq!(f.run("SET x 1"), status("QUEUED"));
        assert_eq!(f.run("INCR x"), status("QUEUED"));
        assert_eq!(f.run("INCR s"), status("QUEUED"));
        assert_eq!(f.run("SET x 1 BOGUS"), status("QUEUED"));
        assert_eq!(f.run("GET x"), status("QUEUED"));
        assert_eq!(f.run("DBSIZE"), status("QUEUED"));
        assert_eq!(f.run("MULTI"), err("ERR MULTI calls can not be nested"));
        assert_eq!(
            f.run("EXEC"),
            Reply::Array(vec![
                Reply::ok(),
                Reply::Int(2),
                err("ERR value is not an integer or out of range"),
                err("ERR syntax error"),
                bulk("2"),
                Reply::Int(2),
            ])
        );
        assert!(!f.session.in_transaction());
        assert_eq!(f.run("GET x"), bulk("2"));
        assert_eq!(f.run("EXEC"), err("ERR EXEC without MULTI"));
        assert_eq!(f.run("DISCARD"), err("ERR DISCARD without MULTI"));
        Ok(())
    }

    #[test]
    fn multi_refuses_after_a_bad_command_and_discard_drops() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET a 1"), status("QUEUED"));
        assert_eq!(
            f.run("GET"),
            err("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            f.run("EXEC"),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        assert_eq!(f.run("GET a"), Reply::Nil);

        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(
            f.run("COMPACT"),
            err("ERR Command not allowed inside a transaction")
        );
        assert!(f.run("EXEC").is_error());

        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET a 1"), status("QUEUED"));
        assert_eq!(f.run("DISCARD"), Reply::ok());
        assert_eq!(f.run("GET a"), Reply::Nil);
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::Array(vec![]));
        Ok(())
    }

    #[test]
    fn begin_commit_shows_real_replies_and_own_writes() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MSET a 1 b 2"), Reply::ok());
        assert_eq!(f.run("COMMIT"), err("ERR COMMIT without BEGIN"));
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert!(f.session.in_transaction());
        assert_eq!(f.run("BEGIN"), err("ERR BEGIN calls can not be nested"));
        assert_eq!(f.run("MULTI"), err("ERR MULTI inside BEGIN is not allowed"));
        assert_eq!(
            f.run("CHECK"),
            err("ERR Command not allowed inside a transaction")
        );
        assert_eq!(f.run("INCR a"), Reply::Int(2));
        assert_eq!(f.run("SET c 3"), Reply::ok());
        assert_eq!(f.run("DEL b"), Reply::Int(1));
        assert_eq!(f.run("SET d v PXAT 1"), Reply::ok());
        assert_eq!(f.run("DBSIZE"), Reply::Int(2));
        assert_eq!(f.run("DEL b d"), Reply::Int(0));
        assert_eq!(f.run("KEYS *"), Reply::Array(vec![bulk("a"), bulk("c")]));
        assert_eq!(
            f.run("MGET a b c"),
            Reply::Array(vec![bulk("2"), Reply::Nil, bulk("3")])
        );
        assert_eq!(f.run("EXISTS a b c"), Reply::Int(2));
        assert_eq!(f.run("PING"), status("PONG"));
        assert!(f.session.pending_warning().is_some());
        assert_eq!(f.run("COMMIT"), Reply::ok());
        assert!(f.session.pending_warning().is_none());
        assert_eq!(f.run("KEYS *"), Reply::Array(vec![bulk("a"), bulk("c")]));
        assert_eq!(f.run("GET a"), bulk("2"));
        Ok(())
    }

    #[test]
    fn rollback_discards() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET a 1"), Reply::ok());
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert_eq!(f.run("SET a 2"), Reply::ok());
        assert_eq!(f.run("GET a"), bulk("2"));
        assert_eq!(f.run("ROLLBACK"), Reply::ok());
        assert_eq!(f.run("GET a"), bulk("1"));
        assert_eq!(f.run("ROLLBACK"), err("ERR ROLLBACK without BEGIN"));
        Ok(())
    }

    #[test]
    fn admin_and_misc_commands() -> ziggydb::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MSET a 1 b 2"), Reply::ok());
        assert_eq!(f.run("COMPACT"), Reply::ok());
        assert_eq!(f.run("CHECK"), Reply::ok());
        let Reply::Bulk(info) = f.run("INFO") else {
            panic!("INFO is a bulk string")
        };
        let info = String::from_utf8(info).unwrap();
        assert!(info.starts_with("# Stats\r\nkeys:2\r\n"), "{info}");
        assert!(info.ends_with("\r\n"));
        assert_eq!(f.run("INFO stats"), Reply::Bulk(info.into_bytes()));
        assert_eq!(f.run("INFO keyspace"), bulk(""));
        assert_eq!(f.run("PING hi"), bulk("hi"));
        assert_eq!(f.run("ECHO hi"), bulk("hi"));
        assert_eq!(
            f.run("NOPE x"),
            err("ERR unknown command 'NOPE', with args beginning with: 'x' ")
        );
        Ok(())
    }
}
