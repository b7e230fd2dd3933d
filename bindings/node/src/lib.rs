//! The native half of the Node.js package `ziggydb`: napi-rs classes over the Rust library
//! (`ziggydb::Db`, `WriteTxn`, `commands::Session`). `index.js` wraps them in the public API:
//! it picks a value's type from the JS value, computes expiry times, and turns the errors
//! thrown here (whose `code` is the library's stable error name, e.g. `WRONG_TYPE`, or
//! `REPLY_ERROR` for an error reply of `execute`) into `ZiggyError` subclasses.
//!
//! Values cross as: bytes ⇄ Buffer, string ⇄ string, int ⇄ number (a bigint beyond 2^53),
//! float ⇄ number, bool ⇄ boolean, timestamp ⇄ Date (ms; written as a number here), JSON ⇄
//! text here (written as `JSON.stringify` text by index.js, read back through `JSON.parse`).
//! Everything that may wait (the writer lock, an fsync) also has a `*Async` form that runs on
//! the libuv thread pool, so the event loop never waits for the disk.
#![deny(unsafe_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::{Env, JsValue};
use napi_derive::napi;
use ziggydb::commands::{execute_in, to_resp3, CommandSpec, Kind, Policy, Reply, Session};
use ziggydb::{CancelToken, Db, Durability, Value, ValueType, WriteTxn};

/// An error thrown to JS: its `code` is the library's error name (`WRONG_TYPE`, `BUSY`, …),
/// `REPLY_ERROR` for an error reply, `CLOSED` for a closed handle, `INVALID_ARGUMENT` for a
/// value this binding cannot store.
type Fail = napi::Error<String>;
type JsResult<T> = std::result::Result<T, Fail>;

fn fail(code: &str, message: impl Into<String>) -> Fail {
    napi::Error::new(code.to_string(), message.into())
}

/// The library's error with its stable name as the code, and its causes in the message
/// (an I/O error's operating-system reason is its `source`, not part of its text).
fn db_err(e: ziggydb::Error) -> Fail {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    fail(e.name(), message)
}

/// A napi call that failed (building a JS value): an internal error of the binding.
fn napi_err(e: napi::Error) -> Fail {
    fail("INTERNAL", format!("{}: {}", e.status.as_ref(), e.reason))
}

fn invalid(message: impl Into<String>) -> Fail {
    fail("INVALID_ARGUMENT", message)
}

fn closed() -> Fail {
    fail("CLOSED", "the database is closed")
}

/// A key: a string (its UTF-8 bytes) or a Buffer.
type Key<'a> = Either<String, BufferSlice<'a>>;

fn key_bytes<'k>(key: &'k Key<'_>) -> &'k [u8] {
    match key {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    }
}

/// A value as index.js passes it: a string (string, JSON text), a Buffer (bytes), a number
/// (int, float, bool as 0/1, timestamp ms) or a bigint (int, timestamp).
type ValueIn<'a> = Either4<String, BufferSlice<'a>, f64, BigInt>;

/// The kinds index.js passes with a value (the C ABI's `ZIGGY_TYPE_*` numbers).
const KIND_BYTES: u32 = 1;
const KIND_STRING: u32 = 2;
const KIND_INT: u32 = 3;
const KIND_FLOAT: u32 = 4;
const KIND_BOOL: u32 = 5;
const KIND_TIMESTAMP: u32 = 6;
const KIND_JSON: u32 = 7;

/// The largest integer a JS number holds exactly: 2^53 - 1.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// A whole JS number or a bigint as an i64; `what` names it in the error.
fn int_in(v: &ValueIn<'_>, what: &str) -> Result<i64, String> {
    match v {
        Either4::C(f) => {
            // 2^63 as f64 is exact; every whole f64 in [-2^63, 2^63) converts exactly.
            if f.fract() == 0.0
                && *f >= -9_223_372_036_854_775_808.0
                && *f < 9_223_372_036_854_775_808.0
            {
                Ok(*f as i64)
            } else {
                Err(invalid(format!(
                    "{what} must be a whole number in the 64-bit range, not {f}"
                )))
            }
        }
        Either4::D(b) => {
            let (n, lossless) = b.get_i64();
            if lossless {
                Ok(n)
            } else {
                Err(invalid(format!(
                    "{what} does not fit in a signed 64-bit integer"
                )))
            }
        }
        _ => Err(invalid(format!("{what} must be a number or a bigint"))),
    }
}

/// The [`Value`] that `kind` and `v` describe.
fn value_in(kind: u32, v: ValueIn<'_>) -> Result<Value, String> {
    Ok(match (kind, v) {
        (KIND_BYTES, Either4::B(b)) => Value::Bytes(b.to_vec()),
        (KIND_STRING, Either4::A(s)) => Value::String(s),
        (KIND_INT, v) => Value::Int(int_in(&v, "an int value")?),
        (KIND_FLOAT, Either4::C(f)) => Value::Float(f),
        (KIND_BOOL, Either4::C(f)) => Value::Bool(f != 0.0),
        (KIND_TIMESTAMP, v) => Value::Timestamp(int_in(&v, "a timestamp")?),
        (KIND_JSON, Either4::A(s)) => Value::json(s).map_err(db_err)?,
        (kind, _) => {
            return Err(invalid(format!(
                "value kind {kind} does not match the value given"
            )))
        }
    })
}

/// An absolute expiry time in Unix ms from index.js.
fn expiry_in(at: Option<f64>) -> Result<Option<u64>, String> {
    match at {
        None => Ok(None),
        Some(ms) if (1.0..9.007_199_254_740_992e15).contains(&ms) => Ok(Some(ms as u64)),
        Some(ms) => Err(invalid(format!(
            "expiry time {ms} is not a time in ms after 1970"
        ))),
    }
}

/// `key` = `value` in `tx`, expiring at `at`, or keeping the key's expiry with `keep_ttl`.
fn put(
    tx: &mut WriteTxn,
    key: &[u8],
    value: Value,
    at: Option<u64>,
    keep_ttl: bool,
) -> ziggydb::Result<()> {
    let at = if keep_ttl { tx.expiry(key)? } else { at };
    tx.set_with_expiry(key, value, at)
}

/// Writes one value in a transaction of its own.
fn put_db(
    db: &Db,
    key: &[u8],
    value: Value,
    at: Option<u64>,
    keep_ttl: bool,
) -> ziggydb::Result<()> {
    if at.is_none() && !keep_ttl {
        db.set(key, value)
    } else {
        db.transaction(|tx| put(tx, key, value, at, keep_ttl))
    }
}

fn int_out(env: &Env, i: i64) -> napi::Result<Unknown<'_>> {
    if (-MAX_SAFE..=MAX_SAFE).contains(&i) {
        (i as f64).into_unknown(env)
    } else {
        BigInt::from(i).into_unknown(env)
    }
}

fn json_parse<'e>(env: &'e Env, text: &str) -> napi::Result<Unknown<'e>> {
    let global = env.get_global()?;
    let json: Object = global.get_named_property("JSON")?;
    let parse: Function<&str, Unknown> = json.get_named_property("parse")?;
    let v = parse.call(text)?;
    // The result belongs to this call's scope, as every value made here does.
    v.into_unknown(env)
}

/// A Buffer holding a copy of `b`: one copy straight from the mapped record, and a plain
/// Buffer, which Node makes and collects far faster than an external one over a `Vec`.
fn buffer_out<'e>(env: &'e Env, b: &[u8]) -> napi::Result<Unknown<'e>> {
    Ok(BufferSlice::copy_from(env, b)?.to_unknown())
}

/// A typed value as its JS value.
fn value_out(env: &Env, v: Value) -> napi::Result<Unknown<'_>> {
    match v {
        Value::Bytes(b) => buffer_out(env, &b),
        Value::String(s) => s.into_unknown(env),
        Value::Int(i) => int_out(env, i),
        Value::Float(f) => f.into_unknown(env),
        Value::Bool(b) => b.into_unknown(env),
        Value::Timestamp(ms) => Ok(env.create_date(ms as f64)?.to_unknown()),
        Value::Json(text) => json_parse(env, &text),
    }
}

fn option_out(env: &Env, v: Option<Value>) -> napi::Result<Unknown<'_>> {
    match v {
        Some(v) => value_out(env, v),
        None => Null.into_unknown(env),
    }
}

/// Bulk bytes as a Buffer, or as a string (invalid UTF-8 replaced) with `strings`.
fn bulk_out<'e>(env: &'e Env, b: &[u8], strings: bool) -> napi::Result<Unknown<'e>> {
    if strings {
        String::from_utf8_lossy(b).as_ref().into_unknown(env)
    } else {
        buffer_out(env, b)
    }
}

/// A field name of a map reply: text (objects have string keys).
fn map_key(r: &Reply) -> String {
    match r {
        Reply::Status(s) | Reply::Error(s) => s.clone(),
        Reply::Int(i) => i.to_string(),
        Reply::Double(d) => ziggydb::commands::double_text(*d),
        Reply::Boolean(b) => b.to_string(),
        other => match other.bulk_bytes() {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => format!("{other:?}"),
        },
    }
}

/// A reply as JS values. An error reply inside an array becomes an `Error` whose `code` is
/// `REPLY_ERROR`; one at the top is thrown by the caller instead.
fn reply_out(env: &Env, r: Reply, strings: bool) -> napi::Result<Unknown<'_>> {
    match r {
        Reply::Status(s) => s.into_unknown(env),
        Reply::Error(text) => Ok(napi::JsError::from(fail("REPLY_ERROR", text)).into_unknown(*env)),
        Reply::Int(i) => int_out(env, i),
        Reply::Bulk(b) => bulk_out(env, &b, strings),
        Reply::Mapped(v) => bulk_out(env, v.as_bytes(), strings),
        Reply::Nil | Reply::NilArray => Null.into_unknown(env),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            let len = u32::try_from(items.len())
                .map_err(|_| napi::Error::from_reason("reply too long for a JS array"))?;
            let mut arr = env.create_array(len)?;
            for (i, item) in (0..len).zip(items) {
                arr.set(i, reply_out(env, item, strings)?)?;
            }
            arr.into_unknown(env)
        }
        Reply::Double(d) => d.into_unknown(env),
        Reply::Boolean(b) => b.into_unknown(env),
        Reply::Map(pairs) => {
            let mut obj = Object::new(env)?;
            for (k, v) in pairs {
                obj.set(map_key(&k), reply_out(env, v, strings)?)?;
            }
            obj.into_unknown(env)
        }
        Reply::Verbatim { text, .. } => String::from_utf8_lossy(&text).as_ref().into_unknown(env),
    }
}

/// The reply of `execute`, or its error reply thrown.
fn reply_result(env: &Env, r: Reply, strings: bool) -> Result<Unknown<'_>, String> {
    match r {
        Reply::Error(text) => Err(fail("REPLY_ERROR", text)),
        r => reply_out(env, r, strings).map_err(napi_err),
    }
}

/// The arguments of `execute` as bytes: strings (UTF-8) and Buffers.
fn args_in(args: &[Either<String, BufferSlice<'_>>]) -> Vec<Vec<u8>> {
    args.iter().map(|a| key_bytes(a).to_vec()).collect()
}

/// A command that keeps state across calls (`MULTI`, `WATCH`, `BEGIN`, …) is refused:
/// `db.transaction` is the binding's transaction.
fn refuse_control(spec: Option<&CommandSpec>) -> Option<Reply> {
    let spec = spec?;
    (spec.kind == Kind::Control && !spec.name.eq_ignore_ascii_case("PING")).then(|| {
        if spec.name.contains("SUBSCRIBE") {
            return Reply::error(format!(
                "ERR {} is not available through execute: use db.pubsub()",
                spec.name
            ));
        }
        Reply::error(format!(
            "ERR {} keeps state across commands, which execute does not: use db.transaction",
            spec.name
        ))
    })
}

/// Runs `args` (whose command is `spec`, if known) in `session`; the reply in RESP3's types.
fn run_command(session: &mut Session, spec: Option<&CommandSpec>, args: &[&[u8]]) -> Reply {
    match refuse_control(spec) {
        Some(refused) => refused,
        None => to_resp3(args, session.execute(args)),
    }
}

fn spec_of(args: &[&[u8]]) -> Option<&'static CommandSpec> {
    args.first()
        .and_then(|name| ziggydb::commands::lookup(name))
}

thread_local! {
    /// The databases (directories) with a write transaction open on this thread, from
    /// `begin` until `commit` or `rollback`: a write on one of them from this thread outside
    /// its transaction would wait for the writer lock the transaction holds (until `BUSY`),
    /// so it is `TXN_ACTIVE` at once instead, as inside the library's `Db::transaction`.
    static OPEN_TXNS: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

fn txn_opened(dir: &Path) {
    OPEN_TXNS.with(|t| t.borrow_mut().push(dir.to_path_buf()));
}

fn txn_ended(dir: &Path) {
    OPEN_TXNS.with(|t| {
        let mut t = t.borrow_mut();
        if let Some(i) = t.iter().position(|d| d == dir) {
            t.swap_remove(i);
        }
    });
}

/// `TXN_ACTIVE` if this thread has a write transaction open on `db`.
fn check_no_txn(db: &Db) -> Result<(), String> {
    let open = OPEN_TXNS.with(|t| {
        let t = t.borrow();
        !t.is_empty() && t.iter().any(|d| d == db.path())
    });
    if open {
        Err(fail(
            "TXN_ACTIVE",
            format!(
                "a write transaction on {} is already open on this thread; write through its \
                 transaction (tx), or use db.async to wait for it",
                db.path().display()
            ),
        ))
    } else {
        Ok(())
    }
}

/// Whether `args` is a command that writes (or takes the writer lock).
fn writes(spec: Option<&CommandSpec>) -> bool {
    spec.is_some_and(|spec| matches!(spec.kind, Kind::Write | Kind::Admin))
}

/// Options of `open`, as index.js passes them (every field optional).
#[napi(object)]
pub struct OpenOpts {
    /// `immediate` (the default) or `batched`.
    pub durability: Option<String>,
    /// With `batched`: the longest time from a commit to its fsync, in ms (default 50).
    pub batch_delay_ms: Option<u32>,
    /// How long a write waits for the writer lock before `BUSY`, in ms; negative waits
    /// forever (default 10000).
    pub lock_timeout_ms: Option<f64>,
    /// Size of a new segment file in bytes.
    pub segment_size: Option<f64>,
    /// Compact in a background thread (default true).
    pub auto_compact: Option<bool>,
    /// How often expired keys are deleted, in ms; negative: never (default 100).
    pub active_expiry_ms: Option<f64>,
    /// Open read-only.
    pub read_only: Option<bool>,
    /// File mode of a new database (e.g. 0o600).
    pub mode: Option<u32>,
    /// `execute` replies bulk strings as strings rather than Buffers.
    pub strings: Option<bool>,
}

fn options(o: &OpenOpts) -> Result<ziggydb::OpenOptions, String> {
    let mut opts = Db::options();
    match o.durability.as_deref() {
        None | Some("immediate") => {}
        Some("batched") => {
            opts = opts.durability(Durability::Batched {
                max_delay: Duration::from_millis(u64::from(o.batch_delay_ms.unwrap_or(50))),
            })
        }
        Some(other) => {
            return Err(invalid(format!(
                "durability must be 'immediate' or 'batched', not '{other}'"
            )))
        }
    }
    if let Some(ms) = o.lock_timeout_ms {
        opts = opts.lock_timeout((ms >= 0.0).then(|| Duration::from_millis(ms as u64)));
    }
    if let Some(bytes) = o.segment_size {
        if !(bytes >= 1.0 && bytes.fract() == 0.0 && bytes < 1.8e19) {
            return Err(invalid(format!(
                "segmentSize must be a whole number of bytes, not {bytes}"
            )));
        }
        opts = opts.segment_size(bytes as u64);
    }
    if let Some(on) = o.auto_compact {
        opts = opts.auto_compact(on, 0.5, 16 << 20);
    }
    if let Some(ms) = o.active_expiry_ms {
        opts = opts.active_expiry((ms >= 0.0).then(|| Duration::from_millis(ms as u64)));
    }
    if let Some(ro) = o.read_only {
        opts = opts.read_only(ro);
    }
    if let Some(mode) = o.mode {
        opts = opts.mode(mode);
    }
    Ok(opts)
}

/// An open database (`open`): thread-safe in Rust, used from the JS thread that made it;
/// each worker thread opens its own (they share one state in the process).
#[napi]
pub struct NativeDb {
    db: Option<Db>,
    session: Option<Session>,
    strings: bool,
    /// The waits of this handle's blocking commands and subscribers, ended by `close`.
    waits: Arc<Waits>,
}

impl Drop for NativeDb {
    /// A handle collected, or torn down with its worker thread, ends its waits as `close`
    /// does: no thread is left waiting for a handle nobody holds. (index.js keeps the handle
    /// alive while a blocking command or a subscriber of it is in use.)
    fn drop(&mut self) {
        self.waits.close();
    }
}

/// Opens (creating if missing) the database in directory `path`.
#[napi]
pub fn open(path: String, opts: Option<OpenOpts>) -> Result<NativeDb, String> {
    let o = opts.unwrap_or(OpenOpts {
        durability: None,
        batch_delay_ms: None,
        lock_timeout_ms: None,
        segment_size: None,
        auto_compact: None,
        active_expiry_ms: None,
        read_only: None,
        mode: None,
        strings: None,
    });
    let db = options(&o)?.open(&path).map_err(db_err)?;
    // The synchronous `execute` runs on the event loop's thread: a blocking pop there answers
    // at once (as inside MULTI) instead of stopping the loop; `db.async.execute` waits.
    let mut session = Session::new(&db, Policy::trusted());
    session.set_blocking(false);
    Ok(NativeDb {
        session: Some(session),
        db: Some(db),
        strings: o.strings.unwrap_or(false),
        waits: Arc::default(),
    })
}

#[napi]
impl NativeDb {
    fn db(&self) -> Result<&Db, String> {
        self.db.as_ref().ok_or_else(closed)
    }

    /// The value of `key` as its JS type, or null.
    #[napi]
    pub fn get<'e>(&self, env: &'e Env, key: Key) -> Result<Unknown<'e>, String> {
        let db = self.db()?;
        let Some(r) = db.get(key_bytes(&key)).map_err(db_err)? else {
            return Null.into_unknown(env).map_err(napi_err);
        };
        // Bytes and strings straight from the mapped record, with one copy.
        let out = match r.value_type() {
            ValueType::Bytes => buffer_out(env, r.as_bytes()),
            ValueType::String => match std::str::from_utf8(r.as_bytes()) {
                Ok(s) => s.into_unknown(env),
                Err(_) => value_out(env, r.to_value().map_err(db_err)?),
            },
            _ => value_out(env, r.to_value().map_err(db_err)?),
        };
        out.map_err(napi_err)
    }

    /// Writes `key` = the value of `kind`; `at` is the expiry in Unix ms.
    #[napi]
    pub fn set(
        &self,
        key: Key,
        kind: u32,
        value: ValueIn,
        at: Option<f64>,
        keep_ttl: Option<bool>,
    ) -> Result<(), String> {
        let db = self.db()?;
        check_no_txn(db)?;
        let value = value_in(kind, value)?;
        put_db(
            db,
            key_bytes(&key),
            value,
            expiry_in(at)?,
            keep_ttl.unwrap_or(false),
        )
        .map_err(db_err)
    }

    /// Deletes `key`; true if it existed.
    #[napi]
    pub fn delete(&self, key: Key) -> Result<bool, String> {
        let db = self.db()?;
        check_no_txn(db)?;
        db.delete(key_bytes(&key)).map_err(db_err)
    }

    /// Adds `by` to the int at `key` (0 if missing); the new value.
    #[napi]
    pub fn incr<'e>(&self, env: &'e Env, key: Key, by: ValueIn) -> Result<Unknown<'e>, String> {
        let by = int_in(&by, "the increment")?;
        let db = self.db()?;
        check_no_txn(db)?;
        let n = db.incr_by(key_bytes(&key), by).map_err(db_err)?;
        int_out(env, n).map_err(napi_err)
    }

    /// Runs one command; its reply as JS values.
    #[napi]
    pub fn execute<'e>(
        &mut self,
        env: &'e Env,
        args: Vec<Either<String, BufferSlice>>,
    ) -> Result<Unknown<'e>, String> {
        let strings = self.strings;
        let args: Vec<&[u8]> = args.iter().map(key_bytes).collect();
        let spec = spec_of(&args);
        if writes(spec) {
            check_no_txn(self.db()?)?;
        }
        let session = self.session.as_mut().ok_or_else(closed)?;
        let reply = run_command(session, spec, &args);
        reply_result(env, reply, strings)
    }

    /// Begins a write transaction (waits for the writer lock).
    #[napi]
    pub fn begin(&self) -> Result<NativeTxn, String> {
        let db = self.db()?;
        check_no_txn(db)?;
        let txn = db.begin_write().map_err(db_err)?;
        Ok(NativeTxn::new(txn, db.clone(), self.strings))
    }

    /// Makes every commit so far durable (for batched durability).
    #[napi]
    pub fn sync(&self) -> Result<(), String> {
        self.db()?.sync().map_err(db_err)
    }

    /// The database directory.
    #[napi(getter)]
    pub fn path(&self) -> Result<String, String> {
        Ok(self.db()?.path().to_string_lossy().into_owned())
    }

    /// Whether `close` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.db.is_none()
    }

    /// Closes the handle; later calls fail with `CLOSED`. Async calls already started finish;
    /// blocking commands still waiting end with `CLOSED`, and its subscribers close.
    #[napi]
    pub fn close(&mut self) {
        self.session = None;
        self.db = None;
        self.waits.close();
    }

    /// Publishes `message` to `channel` for the subscribers of every process on the
    /// directory; how many subscriptions receive it.
    #[napi]
    pub fn publish(&self, channel: Key, message: Key) -> Result<f64, String> {
        let n = self
            .db()?
            .publish(key_bytes(&channel), key_bytes(&message))
            .map_err(db_err)?;
        Ok(n as f64)
    }

    /// Runs a blocking command (`BLPOP`, `BZPOPMIN`, …) on a thread of its own, not on the
    /// libuv thread pool: a wait of many seconds there would hold one of its few threads, and
    /// four such waits would stall every other async call of the process (and the push that
    /// would end them). `cancel` ends the wait: the promise then resolves with an error whose
    /// code is `ABORTED`, unless the command took an element in that instant, which it then
    /// resolves with (an element is never lost). Closing the handle ends it with `CLOSED`.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn execute_blocking<'e>(
        &self,
        env: &'e Env,
        args: Vec<Either<String, BufferSlice>>,
        cancel: Option<&NativeCancel>,
    ) -> Result<Object<'e>, String> {
        let db = self.db()?.clone();
        let args = args_in(&args);
        let token = cancel.map_or_else(CancelToken::new, |c| c.token.clone());
        let waits = Arc::clone(&self.waits);
        let id = waits.add(&token);
        let strings = self.strings;
        let (deferred, promise) = env
            .create_deferred::<napi::sys::napi_value, Settle>()
            .map_err(napi_err)?;
        // Handed to the thread once it runs: if it cannot start, the promise is still here
        // to settle (a promise left pending would keep the process alive).
        let (hand, handed) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("ziggydb-blocking".into())
            .spawn(move || {
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                let mut session = Session::new(&db, Policy::trusted());
                session.set_cancel(token.clone());
                let reply = run_command(&mut session, spec_of(&refs), &refs);
                drop(session);
                waits.remove(id);
                let empty = matches!(reply, Reply::Nil | Reply::NilArray);
                let outcome = if empty && waits.is_closed() {
                    Err(fail(
                        "CLOSED",
                        "the database was closed while the command waited",
                    ))
                } else if empty && token.is_cancelled() {
                    Err(fail("ABORTED", "the command was cancelled"))
                } else {
                    Ok(reply)
                };
                let Ok(deferred) = handed.recv() else { return };
                settle(deferred, move |env| {
                    let v = match outcome {
                        Err(e) => napi::JsError::from(e).into_unknown(env),
                        Ok(Reply::Error(text)) => {
                            napi::JsError::from(fail("REPLY_ERROR", text)).into_unknown(env)
                        }
                        Ok(r) => reply_out(&env, r, strings)?,
                    };
                    Ok(v.raw())
                });
            });
        match spawned {
            Ok(_) => {
                // The thread holds the receiver until it has taken the promise.
                let _ = hand.send(deferred);
            }
            Err(e) => {
                self.waits.remove(id);
                let e = fail(
                    "INTERNAL",
                    format!("could not start a thread for the command: {e}"),
                );
                settle(deferred, move |env| {
                    Ok(napi::JsError::from(e).into_unknown(env).raw())
                });
            }
        }
        Ok(promise)
    }

    /// A subscriber on its own thread, which hands `callback` each event (see
    /// [`SubEvent`]): messages, and the outcome of each command given with `command`.
    #[napi(
        ts_args_type = "callback: (kind: number, id: number, n: number, a: Buffer | null, b: Buffer | null, c: Buffer | null, code: string | null, text: string | null) => void"
    )]
    pub fn subscriber(
        &self,
        callback: Function<'_, EventArgs, ()>,
    ) -> Result<NativeSubscriber, String> {
        let db = self.db()?;
        let sub = db.subscriber().map_err(db_err)?;
        let events: EventFn = callback
            .build_threadsafe_function::<SubEvent>()
            .callee_handled::<false>()
            .max_queue_size::<EVENT_QUEUE>()
            .build_callback(|ctx| Ok(ctx.value.into_args()))
            .map_err(napi_err)?;
        let shared = Arc::new(SubShared {
            queue: Mutex::default(),
            wake: CancelToken::new(),
            stopping: AtomicBool::new(false),
        });
        let id = self.waits.add(&shared.wake);
        let waits = Arc::clone(&self.waits);
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("ziggydb-subscriber".into())
            .spawn(move || {
                worker.run(sub, &events, &waits);
                waits.remove(id);
            })
            .map_err(|e| {
                self.waits.remove(id);
                fail(
                    "INTERNAL",
                    format!("could not start the subscriber's thread: {e}"),
                )
            })?;
        Ok(NativeSubscriber { shared })
    }

    // ----- the same calls on the libuv thread pool ----------------------------------------

    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn get_async(&self, key: Key) -> Result<AsyncTask<Job>, String> {
        self.job(Op::Get(key_bytes(&key).to_vec()))
            .map(AsyncTask::new)
    }

    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn set_async(
        &self,
        key: Key,
        kind: u32,
        value: ValueIn,
        at: Option<f64>,
        keep_ttl: Option<bool>,
    ) -> Result<AsyncTask<Job>, String> {
        let value = value_in(kind, value)?;
        self.job(Op::Set {
            key: key_bytes(&key).to_vec(),
            value,
            at: expiry_in(at)?,
            keep_ttl: keep_ttl.unwrap_or(false),
        })
        .map(AsyncTask::new)
    }

    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn delete_async(&self, key: Key) -> Result<AsyncTask<Job>, String> {
        self.job(Op::Delete(key_bytes(&key).to_vec()))
            .map(AsyncTask::new)
    }

    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn incr_async(&self, key: Key, by: ValueIn) -> Result<AsyncTask<Job>, String> {
        let by = int_in(&by, "the increment")?;
        self.job(Op::Incr(key_bytes(&key).to_vec(), by))
            .map(AsyncTask::new)
    }

    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn execute_async(
        &self,
        args: Vec<Either<String, BufferSlice>>,
    ) -> Result<AsyncTask<Job>, String> {
        self.job(Op::Execute(args_in(&args))).map(AsyncTask::new)
    }

    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn publish_async(&self, channel: Key, message: Key) -> Result<AsyncTask<Job>, String> {
        self.job(Op::Publish(
            key_bytes(&channel).to_vec(),
            key_bytes(&message).to_vec(),
        ))
        .map(AsyncTask::new)
    }

    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn sync_async(&self) -> Result<AsyncTask<Job>, String> {
        self.job(Op::Sync).map(AsyncTask::new)
    }

    /// Begins a write transaction on the thread pool (the wait for the writer lock). From
    /// now until the transaction ends, this thread counts as having it open: once the pool
    /// has the lock, the transaction's function cannot run until this thread is free, so a
    /// write on this thread that waited for the lock would wait for itself.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn begin_async(&self) -> Result<AsyncTask<Job>, String> {
        let mut job = self.job(Op::Begin)?;
        txn_opened(self.db()?.path());
        job.registered = true;
        Ok(AsyncTask::new(job))
    }

    fn job(&self, op: Op) -> Result<Job, String> {
        Ok(Job {
            db: Some(self.db()?.clone()),
            op: Some(op),
            strings: self.strings,
            registered: false,
        })
    }
}

/// A write transaction: holds the writer lock of every process until `commit` or
/// `rollback`.
#[napi]
pub struct NativeTxn {
    txn: Option<WriteTxn>,
    db: Db,
    strings: bool,
}

impl NativeTxn {
    /// A transaction handed to JS on this thread (see [`OPEN_TXNS`]).
    fn new(txn: WriteTxn, db: Db, strings: bool) -> Self {
        txn_opened(db.path());
        NativeTxn {
            txn: Some(txn),
            db,
            strings,
        }
    }

    /// Ends the transaction's time on this thread; the transaction, if it was still open.
    fn end(&mut self) -> Option<WriteTxn> {
        let txn = self.txn.take();
        if txn.is_some() {
            txn_ended(self.db.path());
        }
        txn
    }
}

impl Drop for NativeTxn {
    fn drop(&mut self) {
        // Rolled back by its own drop.
        self.end();
    }
}

#[napi]
impl NativeTxn {
    fn tx(&mut self) -> Result<&mut WriteTxn, String> {
        self.txn
            .as_mut()
            .ok_or_else(|| fail("CLOSED", "the transaction has ended"))
    }

    /// The value of `key`, seeing this transaction's writes.
    #[napi]
    pub fn get<'e>(&mut self, env: &'e Env, key: Key) -> Result<Unknown<'e>, String> {
        let v = self.tx()?.get(key_bytes(&key)).map_err(db_err)?;
        option_out(env, v).map_err(napi_err)
    }

    #[napi]
    pub fn set(
        &mut self,
        key: Key,
        kind: u32,
        value: ValueIn,
        at: Option<f64>,
        keep_ttl: Option<bool>,
    ) -> Result<(), String> {
        let value = value_in(kind, value)?;
        let at = expiry_in(at)?;
        put(
            self.tx()?,
            key_bytes(&key),
            value,
            at,
            keep_ttl.unwrap_or(false),
        )
        .map_err(db_err)
    }

    #[napi]
    pub fn delete(&mut self, key: Key) -> Result<bool, String> {
        self.tx()?.delete(key_bytes(&key)).map_err(db_err)
    }

    #[napi]
    pub fn incr<'e>(&mut self, env: &'e Env, key: Key, by: ValueIn) -> Result<Unknown<'e>, String> {
        let by = int_in(&by, "the increment")?;
        let n = self.tx()?.incr_by(key_bytes(&key), by).map_err(db_err)?;
        int_out(env, n).map_err(napi_err)
    }

    /// Runs one data command inside the transaction (`RPUSH`, `HSET`, `ZADD`, …); its reply
    /// as JS values. A command that fails leaves the transaction as it was before it.
    #[napi]
    pub fn execute<'e>(
        &mut self,
        env: &'e Env,
        args: Vec<Either<String, BufferSlice>>,
    ) -> Result<Unknown<'e>, String> {
        let strings = self.strings;
        let db = self.db.clone();
        let tx = self.tx()?;
        let args: Vec<&[u8]> = args.iter().map(key_bytes).collect();
        let reply = to_resp3(&args, execute_in(&db, tx, &args));
        reply_result(env, reply, strings)
    }

    /// Commits: every write at once, to every process (durable with immediate durability).
    #[napi]
    pub fn commit(&mut self) -> Result<(), String> {
        let txn = self
            .end()
            .ok_or_else(|| fail("CLOSED", "the transaction has ended"))?;
        txn.commit().map_err(db_err)
    }

    /// Commits on the thread pool (the fsync).
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn commit_async(&mut self) -> Result<AsyncTask<Job>, String> {
        let txn = self
            .end()
            .ok_or_else(|| fail("CLOSED", "the transaction has ended"))?;
        Ok(AsyncTask::new(Job {
            db: Some(self.db.clone()),
            op: Some(Op::Commit(Box::new(txn))),
            strings: self.strings,
            registered: false,
        }))
    }

    /// Rolls back: none of the writes happen. Does nothing once ended.
    #[napi]
    pub fn rollback(&mut self) {
        if let Some(txn) = self.end() {
            txn.rollback();
        }
    }

    /// Whether the transaction is still open.
    #[napi(getter)]
    pub fn active(&self) -> bool {
        self.txn.is_some()
    }
}

/// One call on the thread pool.
pub enum Op {
    Get(Vec<u8>),
    Set {
        key: Vec<u8>,
        value: Value,
        at: Option<u64>,
        keep_ttl: bool,
    },
    Delete(Vec<u8>),
    Incr(Vec<u8>, i64),
    Execute(Vec<Vec<u8>>),
    Publish(Vec<u8>, Vec<u8>),
    Sync,
    Begin,
    Commit(Box<WriteTxn>),
}

/// What a call on the thread pool gives back to the JS thread.
pub enum Done {
    Value(Option<Value>),
    Bool(bool),
    Int(i64),
    Reply(Reply),
    /// Boxed: a transaction is much bigger than the other outcomes.
    Txn(Box<WriteTxn>),
    Nothing,
}

/// A call run on the libuv thread pool. The promise resolves with the result, or with an
/// `Error` whose `code` is the library's error name, which index.js throws (napi-rs rejects
/// only with its own status codes).
pub struct Job {
    db: Option<Db>,
    op: Option<Op>,
    strings: bool,
    /// A `begin_async` that counted its transaction as open on the JS thread (see
    /// [`OPEN_TXNS`]) when it was called.
    registered: bool,
}

impl Job {
    fn run(&mut self) -> Result<Done, String> {
        let op = self
            .op
            .take()
            .ok_or_else(|| fail("INTERNAL", "a call ran twice"))?;
        if let Op::Commit(txn) = op {
            txn.commit().map_err(db_err)?;
            return Ok(Done::Nothing);
        }
        let db = self.db.as_ref().ok_or_else(closed)?;
        Ok(match op {
            Op::Get(key) => Done::Value(db.get_value(&key).map_err(db_err)?),
            Op::Set {
                key,
                value,
                at,
                keep_ttl,
            } => {
                put_db(db, &key, value, at, keep_ttl).map_err(db_err)?;
                Done::Nothing
            }
            Op::Delete(key) => Done::Bool(db.delete(&key).map_err(db_err)?),
            Op::Incr(key, by) => Done::Int(db.incr_by(&key, by).map_err(db_err)?),
            Op::Execute(args) => {
                let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                let mut session = Session::new(db, Policy::trusted());
                Done::Reply(run_command(&mut session, spec_of(&args), &args))
            }
            Op::Publish(channel, message) => {
                let n = db.publish(&channel, &message).map_err(db_err)?;
                Done::Int(i64::try_from(n).unwrap_or(i64::MAX))
            }
            Op::Sync => {
                db.sync().map_err(db_err)?;
                Done::Nothing
            }
            Op::Begin => Done::Txn(Box::new(db.begin_write().map_err(db_err)?)),
            Op::Commit(_) => Done::Nothing,
        })
    }
}

impl<'t> napi::ScopedTask<'t> for Job {
    type Output = JsResult<Done>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.run())
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> napi::Result<Unknown<'t>> {
        let failed = |e: Fail| Ok(napi::JsError::from(e).into_unknown(*env));
        if self.registered && output.is_err() {
            if let Some(db) = &self.db {
                txn_ended(db.path());
            }
        }
        match output {
            Err(e) => failed(e),
            Ok(Done::Value(v)) => option_out(env, v),
            Ok(Done::Bool(b)) => b.into_unknown(env),
            Ok(Done::Int(i)) => int_out(env, i),
            Ok(Done::Reply(Reply::Error(text))) => failed(fail("REPLY_ERROR", text)),
            Ok(Done::Reply(r)) => reply_out(env, r, self.strings),
            Ok(Done::Txn(txn)) => {
                let db = self
                    .db
                    .clone()
                    .ok_or_else(|| napi::Error::from_reason("no database"))?;
                if !self.registered {
                    txn_opened(db.path());
                }
                NativeTxn {
                    txn: Some(*txn),
                    db,
                    strings: self.strings,
                }
                .into_unknown(env)
            }
            Ok(Done::Nothing) => ().into_unknown(env),
        }
    }
}

// ----- blocking commands and Pub/Sub ---------------------------------------------------------

/// What settles the promise of a blocking command, on the JS thread.
type Settle = Box<dyn FnOnce(Env) -> napi::Result<napi::sys::napi_value>>;

/// Settles `deferred` with the value `f` makes on the JS thread.
fn settle(
    deferred: napi::JsDeferred<napi::sys::napi_value, Settle>,
    f: impl FnOnce(Env) -> napi::Result<napi::sys::napi_value> + 'static,
) {
    deferred.resolve(Box::new(f));
}

/// The waits of one handle that `close` ends: its blocking commands' and its subscribers'
/// cancel tokens.
#[derive(Default)]
struct Waits {
    closed: AtomicBool,
    next: AtomicU64,
    live: Mutex<Vec<(u64, CancelToken)>>,
}

impl Waits {
    /// Registers `token` until [`Waits::remove`]; cancels it at once if the handle closed.
    fn add(&self, token: &CancelToken) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.load(Ordering::SeqCst) {
            token.cancel();
        }
        live.push((id, token.clone()));
        id
    }

    fn remove(&self, id: u64) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(i, _)| *i != id);
    }

    /// Cancels every wait registered, and every one registered from now on.
    fn close(&self) {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        self.closed.store(true, Ordering::SeqCst);
        for (_, token) in live.iter() {
            token.cancel();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// What ends the wait of one blocking command (index.js cancels it when the command's
/// `AbortSignal` fires).
#[napi]
#[derive(Default)]
pub struct NativeCancel {
    token: CancelToken,
}

#[napi]
impl NativeCancel {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends the wait of the command given this token (now, or at once if it starts later).
    #[napi]
    pub fn cancel(&self) {
        self.token.cancel();
    }
}

/// How many events may wait for the JS thread before the subscriber's thread waits for it
/// (and, if it falls further behind than the ring holds, overruns): memory stays bounded.
const EVENT_QUEUE: usize = 256;

/// An event for the JS side of a subscriber, as the callback's arguments `(kind, id, n, a,
/// b, c, code, text)`.
pub enum SubEvent {
    /// kind 0 (`a` channel, `b` message) or, from a pattern, 1 (`c` the pattern).
    Message(ziggydb::Message),
    /// kind 2: command `id` done, `n` subscriptions now.
    Done { id: u32, count: u32 },
    /// kind 3: command `id` failed with `code` and `text`.
    Failed { id: u32, err: Fail },
    /// kind 4: the subscriber failed (fell behind the ring: `SUBSCRIBER_OVERRUN`); it is no
    /// longer subscribed.
    Error(Fail),
    /// kind 5: the subscriber's thread ended (closed); no event follows.
    Closed,
}

type EventArgs = FnArgs<(
    u32,
    u32,
    u32,
    Option<Buffer>,
    Option<Buffer>,
    Option<Buffer>,
    Option<String>,
    Option<String>,
)>;

type EventFn = napi::threadsafe_function::ThreadsafeFunction<
    SubEvent,
    (),
    EventArgs,
    napi::Status,
    false,
    false,
    EVENT_QUEUE,
>;

impl SubEvent {
    fn into_args(self) -> EventArgs {
        let (kind, id, n, a, b, c, code, text) = match self {
            SubEvent::Message(m) => {
                let kind = if m.pattern.is_some() { 1 } else { 0 };
                (
                    kind,
                    0,
                    0,
                    Some(m.channel.into()),
                    Some(m.payload.into()),
                    m.pattern.map(Buffer::from),
                    None,
                    None,
                )
            }
            SubEvent::Done { id, count } => (2, id, count, None, None, None, None, None),
            SubEvent::Failed { id, err } => (
                3,
                id,
                0,
                None,
                None,
                None,
                Some(err.status),
                Some(err.reason),
            ),
            SubEvent::Error(err) => (
                4,
                0,
                0,
                None,
                None,
                None,
                Some(err.status),
                Some(err.reason),
            ),
            SubEvent::Closed => (5, 0, 0, None, None, None, None, None),
        };
        FnArgs::from((kind, id, n, a, b, c, code, text))
    }
}

/// The commands of `subscribe`, `psubscribe`, `unsubscribe`, `punsubscribe`.
const OP_SUBSCRIBE: u32 = 0;
const OP_PSUBSCRIBE: u32 = 1;
const OP_UNSUBSCRIBE: u32 = 2;
const OP_PUNSUBSCRIBE: u32 = 3;

struct SubCommand {
    id: u32,
    op: u32,
    names: Vec<Vec<u8>>,
}

#[derive(Default)]
struct SubQueue {
    commands: VecDeque<SubCommand>,
    /// The thread has ended: no command will run.
    ended: bool,
}

/// What the JS thread and a subscriber's thread share.
struct SubShared {
    queue: Mutex<SubQueue>,
    /// Ends the thread's wait for a message: cancelled when a command is queued, and by
    /// `close` (of the subscriber, or of its handle through [`Waits`]).
    wake: CancelToken,
    /// `close` of the subscriber was called.
    stopping: AtomicBool,
}

impl SubShared {
    fn queue(&self) -> std::sync::MutexGuard<'_, SubQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The subscriber's thread: runs the commands given, and hands every message to
    /// `events`, until the subscriber or its handle (`waits`) closes. It sleeps until a
    /// message or a command comes.
    fn run(&self, mut sub: ziggydb::Subscriber, events: &EventFn, waits: &Waits) {
        let send = |e: SubEvent| {
            events.call(
                e,
                napi::threadsafe_function::ThreadsafeFunctionCallMode::Blocking,
            ) == napi::Status::Ok
        };
        'run: loop {
            // Reset before the queue and the flags are read: a command queued or a close
            // after this cancels it again, so the wait below returns at once.
            self.wake.reset();
            let commands: Vec<SubCommand> = self.queue().commands.drain(..).collect();
            for c in commands {
                if !send(apply(&mut sub, c)) {
                    break 'run;
                }
            }
            if self.stopping.load(Ordering::SeqCst) || waits.is_closed() {
                break;
            }
            let wait = ziggydb::Wait::forever().cancel_on(&self.wake);
            let sent = match sub.next_message_wait(wait) {
                Ok(Some(m)) => send(SubEvent::Message(m)),
                Ok(None) => true,
                Err(e) => send(SubEvent::Error(db_err(e))),
            };
            if !sent {
                break;
            }
        }
        // Unsubscribed from everything before the JS side hears that it closed.
        drop(sub);
        let left: Vec<SubCommand> = {
            let mut q = self.queue();
            q.ended = true;
            q.commands.drain(..).collect()
        };
        for c in left {
            send(SubEvent::Failed {
                id: c.id,
                err: fail("CLOSED", "the subscriber is closed"),
            });
        }
        send(SubEvent::Closed);
    }
}

/// Runs one command on the subscriber.
fn apply(sub: &mut ziggydb::Subscriber, c: SubCommand) -> SubEvent {
    let done = match c.op {
        OP_SUBSCRIBE => sub.subscribe(&c.names).map_err(db_err),
        OP_PSUBSCRIBE => sub.psubscribe(&c.names).map_err(db_err),
        OP_UNSUBSCRIBE => {
            sub.unsubscribe(&c.names);
            Ok(())
        }
        OP_PUNSUBSCRIBE => {
            sub.punsubscribe(&c.names);
            Ok(())
        }
        op => Err(invalid(format!("unknown subscriber command {op}"))),
    };
    match done {
        Ok(()) => SubEvent::Done {
            id: c.id,
            count: u32::try_from(sub.subscription_count()).unwrap_or(u32::MAX),
        },
        Err(err) => SubEvent::Failed { id: c.id, err },
    }
}

/// A subscriber (`db.pubsub()`): its subscriptions live on a thread of its own, which
/// delivers messages to the callback given to `NativeDb::subscriber`.
#[napi]
pub struct NativeSubscriber {
    shared: Arc<SubShared>,
}

impl Drop for NativeSubscriber {
    /// Torn down with its worker thread (or collected once closed): the thread ends.
    fn drop(&mut self) {
        self.close();
    }
}

#[napi]
impl NativeSubscriber {
    /// Queues command `op` (0 subscribe, 1 psubscribe, 2 unsubscribe, 3 punsubscribe) on
    /// `names`; its outcome comes as an event with `id`.
    #[napi]
    pub fn command(
        &self,
        id: u32,
        op: u32,
        names: Vec<Either<String, BufferSlice>>,
    ) -> Result<(), String> {
        let names = args_in(&names);
        let mut q = self.shared.queue();
        if q.ended || self.shared.stopping.load(Ordering::SeqCst) {
            return Err(fail("CLOSED", "the subscriber is closed"));
        }
        q.commands.push_back(SubCommand { id, op, names });
        drop(q);
        self.shared.wake.cancel();
        Ok(())
    }

    /// Ends every subscription and the thread; the last event is `Closed`.
    #[napi]
    pub fn close(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.cancel();
    }
}
