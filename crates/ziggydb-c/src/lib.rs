//! The C ABI of ZiggyDB: `libziggydb.so`, `libziggydb.a` and `include/ziggydb.h`, which
//! cbindgen generates from this crate (the test `header_is_current` fails when the checked-in
//! header is stale).
//!
//! Design, after SQLite, LMDB and hiredis: opaque handles, an `int` status from every call
//! that can fail (`ZIGGY_OK`, `ZIGGY_NOTFOUND`, or an error code from the library's stable
//! table), the message of the thread's last failure from `ziggy_errmsg`, and explicit
//! ownership of every pointer (documented on each function). Every entry point runs in
//! [`status::guard`]: a panic becomes `ZIGGY_EINTERNAL`, never an unwind or an abort across
//! the boundary. The calls stand on the public API of `ziggydb` only: `Db` and `WriteTxn` for
//! the key-value and typed-value calls, `commands::Session` for `ziggy_exec` and sessions.
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_camel_case_types)] // the C names: ziggy_db, ziggy_reply, …

mod reply;
mod status;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use zdb::{Db, Durability, Value, ValueType, WriteTxn};

pub use reply::*;
pub use status::*;

/// An open database. Thread-safe: share one handle across threads. Sessions and
/// transactions keep the database open, so they may outlive the handle they came from.
pub struct ziggy_db {
    db: Db,
}

/// A write transaction: holds the database's writer lock (of every process) from
/// `ziggy_txn_begin` until `ziggy_txn_commit` or `ziggy_txn_rollback`, which free it. Its
/// reads see its own writes. Use it from one thread at a time; it may move between threads.
pub struct ziggy_txn {
    txn: WriteTxn,
    db: Db,
}

/// A commit returns once it is on stable storage (the default).
pub const ZIGGY_DURABILITY_IMMEDIATE: c_int = 0;
/// A commit returns once every process sees it; it is fsynced at most `batch_delay_ms`
/// later (`ziggy_sync` forces it).
pub const ZIGGY_DURABILITY_BATCHED: c_int = 1;

/// No value (the key is missing); only `ziggy_type` reports it.
pub const ZIGGY_TYPE_NONE: c_int = 0;
/// Arbitrary bytes.
pub const ZIGGY_TYPE_BYTES: c_int = 1;
/// UTF-8 text.
pub const ZIGGY_TYPE_STRING: c_int = 2;
/// A signed 64-bit integer (`integer`).
pub const ZIGGY_TYPE_INT: c_int = 3;
/// A double (`real`).
pub const ZIGGY_TYPE_FLOAT: c_int = 4;
/// A boolean (`integer`: 0 or 1).
pub const ZIGGY_TYPE_BOOL: c_int = 5;
/// Milliseconds since the Unix epoch, UTC (`integer`).
pub const ZIGGY_TYPE_TIMESTAMP: c_int = 6;
/// A JSON document, UTF-8 text, validated when written.
pub const ZIGGY_TYPE_JSON: c_int = 7;
/// A list (`LPUSH`, …); read and written through `ziggy_exec`.
pub const ZIGGY_TYPE_LIST: c_int = 16;
/// A set (`SADD`, …); read and written through `ziggy_exec`.
pub const ZIGGY_TYPE_SET: c_int = 17;
/// A sorted set (`ZADD`, …); read and written through `ziggy_exec`.
pub const ZIGGY_TYPE_ZSET: c_int = 18;
/// A hash (`HSET`, …); read and written through `ziggy_exec`.
pub const ZIGGY_TYPE_HASH: c_int = 19;

/// Options for `ziggy_open`. Fill one with `ziggy_options_init` (the defaults), then change
/// what you need: a zeroed struct is not the defaults. Only ever grows at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ziggy_options {
    /// `sizeof(ziggy_options)` as the caller was built, set by `ziggy_options_init`. The
    /// library reads only the fields that fit in it and takes the defaults for the rest, so
    /// a program built against this header keeps working with a later library whose options
    /// grew. 0 (a struct not filled by `ziggy_options_init`) is `ZIGGY_INVALID_ARGUMENT`.
    pub size: usize,
    /// `ZIGGY_DURABILITY_IMMEDIATE` (default) or `ZIGGY_DURABILITY_BATCHED`.
    pub durability: c_int,
    /// With `ZIGGY_DURABILITY_BATCHED`: the longest time from a commit to its fsync, in ms
    /// (default 50).
    pub batch_delay_ms: u32,
    /// How long a write waits for the writer lock before `ZIGGY_BUSY`, in ms; negative
    /// waits forever (default 10000).
    pub lock_timeout_ms: i64,
    /// Size of a new segment file in bytes, 64 KiB to 4 GiB - 1; 0 or 64 MiB is the default.
    /// A value or a transaction must fit in one segment.
    pub segment_size: u64,
    /// Compact in a background thread when half the bytes (and at least 16 MiB) are dead
    /// (default true).
    pub auto_compact: bool,
    /// How often a background thread deletes expired keys, in ms; negative: never (expired
    /// keys still read as missing). Default 100.
    pub active_expiry_ms: i64,
    /// Open read-only (default false): every write fails with `ZIGGY_READ_ONLY`.
    pub read_only: bool,
    /// File mode of a new database, e.g. 0600 or 0660; 0 (the default): 0600, or the mode
    /// an existing database has.
    pub mode: u32,
}

/// A typed value, in (`ziggy_set_value`) and out (`ziggy_get_value`).
///
/// In: `data` and `len` are read during the call only (NULL is allowed when `len` is 0).
/// Out: for `BYTES`, `STRING` and `JSON`, `data` is `len` bytes allocated by the library and
/// followed by a NUL byte not counted in `len`; release them with `ziggy_value_free` (or
/// `ziggy_free(data)`). For the other types `data` is NULL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ziggy_value {
    /// `ZIGGY_TYPE_BYTES` … `ZIGGY_TYPE_JSON`.
    pub vtype: c_int,
    /// `INT`, `TIMESTAMP` (ms), `BOOL` (0 or 1; any non-zero value writes true).
    pub integer: i64,
    /// `FLOAT`.
    pub real: f64,
    /// `BYTES`, `STRING`, `JSON`.
    pub data: *const c_void,
    /// Bytes at `data`.
    pub len: usize,
}

/// Counters kept in shared memory, summed over every process on the database (see the
/// Rust `Metrics`). Only ever grows at the end.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ziggy_metrics {
    /// In: `sizeof(ziggy_metrics)` as the caller was built; the library fills only the
    /// fields that fit in it, so a program built against this header keeps working with a
    /// later library whose metrics grew. Out: the bytes filled. 0 is
    /// `ZIGGY_INVALID_ARGUMENT`.
    pub size: usize,
    /// Live keys (including expired keys not yet deleted).
    pub keys: u64,
    /// Bytes of records the index points to.
    pub live_bytes: u64,
    /// Bytes of overwritten or deleted records not yet reclaimed by compaction.
    pub dead_bytes: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes on disk of the segment files.
    pub segment_file_bytes: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Transactions rolled back.
    pub rollbacks: u64,
    /// Point reads.
    pub reads: u64,
    /// Reads that found a key.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Keys deleted because they expired.
    pub expired: u64,
    /// Processes attached now.
    pub processes: u64,
    /// Commands run through `ziggy_exec` and sessions (and other front ends).
    pub commands: u64,
}

/// What `ziggy_compact` did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ziggy_compact_stats {
    /// Segment files removed.
    pub segments_removed: u64,
    /// Segment files written.
    pub segments_written: u64,
    /// Records copied.
    pub records_copied: u64,
    /// Segment bytes on disk before.
    pub bytes_before: u64,
    /// Segment bytes on disk after.
    pub bytes_after: u64,
}

/// What `ziggy_backup` copied.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ziggy_backup_stats {
    /// Segment files copied.
    pub segments: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Keys in the copy.
    pub keys: u64,
}

/// What `ziggy_check` found.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ziggy_check_report {
    /// Records scanned.
    pub records: u64,
    /// Keys reachable through the index.
    pub keys: u64,
    /// Problems found; 0 when the database is sound.
    pub problems: u64,
}

// ---------------------------------------------------------------------------------------
// Pointers from the caller. Every dereference of one goes through these helpers.

/// `len` bytes at `p` (`p` may be NULL when `len` is 0).
///
/// # Safety
/// Unless NULL, `p` points to `len` readable bytes that stay unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const c_void, len: usize, what: &str) -> Result<&'a [u8], Fail> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    if len > isize::MAX as usize {
        return Err(Fail::invalid(format!(
            "{what} is longer than memory can be: {len}"
        )));
    }
    // SAFETY: non-NULL and `len` readable bytes by this function's contract, which every
    // entry point passes on to its caller in the header.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// The NUL-terminated path at `p`.
///
/// # Safety
/// Unless NULL, `p` points to a NUL-terminated string that stays unchanged for `'a`.
unsafe fn c_path<'a>(p: *const c_char, what: &str) -> Result<&'a Path, Fail> {
    if p.is_null() {
        return Err(Fail::invalid(format!("{what} is NULL")));
    }
    // SAFETY: a NUL-terminated string by this function's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    Ok(Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

/// The object behind a handle.
///
/// # Safety
/// Unless NULL, `p` came from this library's constructor of `T` and has not been freed, and
/// no other thread uses it mutably during `'a` (for `ziggy_db`, shared use is fine: only
/// `&` methods of the thread-safe `Db` are called).
pub(crate) unsafe fn handle<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T, Fail> {
    // SAFETY: valid and unaliased by this function's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Fail::invalid(format!("{what} is NULL")))
}

/// The database behind `db`.
///
/// # Safety
/// As [`handle`]; the reference is shared, so other threads may use the handle at once.
unsafe fn db_ref<'a>(db: *mut ziggy_db) -> Result<&'a Db, Fail> {
    // SAFETY: valid by this function's contract; only a shared reference is made.
    unsafe { db.cast_const().as_ref() }
        .map(|h| &h.db)
        .ok_or_else(|| Fail::invalid("db is NULL"))
}

/// Writes `value` to `out` unless `out` is NULL.
///
/// # Safety
/// Unless NULL, `out` points to writable memory for a `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: writable by this function's contract; `write` drops nothing old.
        unsafe { out.write(value) };
    }
}

/// A copy of `b` in memory from `malloc`, followed by a NUL byte, for `ziggy_free`.
fn malloc_copy(b: &[u8]) -> Result<*mut c_void, Fail> {
    let size = b
        .len()
        .checked_add(1)
        .ok_or_else(|| Fail::invalid("value too large"))?;
    // SAFETY: malloc has no precondition; the result is checked for NULL before use.
    let p = unsafe { libc::malloc(size) }.cast::<u8>();
    if p.is_null() {
        return Err(Fail {
            code: ZIGGY_OUT_OF_MEMORY,
            message: format!("cannot allocate {size} bytes for a value"),
        });
    }
    // SAFETY: `p` has room for `size` = `b.len() + 1` bytes and does not overlap `b`.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
        p.add(b.len()).write(0);
    }
    Ok(p.cast())
}

/// Hands a value's bytes to the caller: `*val` (malloc'd, for `ziggy_free`) and `*vlen`.
///
/// # Safety
/// As [`put`] for both pointers.
unsafe fn give_bytes(b: &[u8], val: *mut *mut c_void, vlen: *mut usize) -> Result<c_int, Fail> {
    if !val.is_null() {
        let p = malloc_copy(b)?;
        // SAFETY: the caller's contract.
        unsafe { put(val, p) };
    }
    // SAFETY: the caller's contract.
    unsafe { put(vlen, b.len()) };
    Ok(ZIGGY_OK)
}

/// Clears `*val` and `*vlen` for a missing key.
///
/// # Safety
/// As [`put`] for both pointers.
unsafe fn give_nothing(val: *mut *mut c_void, vlen: *mut usize) -> Result<c_int, Fail> {
    // SAFETY: the caller's contract.
    unsafe {
        put(val, std::ptr::null_mut());
        put(vlen, 0);
    }
    Ok(ZIGGY_NOTFOUND)
}

/// The `ZIGGY_TYPE_` constant of `ty`.
fn type_code(ty: ValueType) -> c_int {
    match ty {
        ValueType::Bytes => ZIGGY_TYPE_BYTES,
        ValueType::String => ZIGGY_TYPE_STRING,
        ValueType::Int => ZIGGY_TYPE_INT,
        ValueType::Float => ZIGGY_TYPE_FLOAT,
        ValueType::Bool => ZIGGY_TYPE_BOOL,
        ValueType::Timestamp => ZIGGY_TYPE_TIMESTAMP,
        ValueType::Json => ZIGGY_TYPE_JSON,
        ValueType::List => ZIGGY_TYPE_LIST,
        ValueType::Set => ZIGGY_TYPE_SET,
        ValueType::ZSet => ZIGGY_TYPE_ZSET,
        ValueType::Hash => ZIGGY_TYPE_HASH,
        // A type added to the library before this crate knows it: still a value.
        _ => ZIGGY_TYPE_BYTES,
    }
}

/// The [`Value`] a caller's `ziggy_value` describes.
///
/// # Safety
/// Unless NULL, `v` points to a readable `ziggy_value` whose `data` is valid as
/// [`bytes`] requires.
unsafe fn value_in(v: *const ziggy_value) -> Result<Value, Fail> {
    // SAFETY: readable by this function's contract.
    let v = unsafe { v.as_ref() }.ok_or_else(|| Fail::invalid("value is NULL"))?;
    // SAFETY: `data` and `len` as this function's contract requires.
    let data = || unsafe { bytes(v.data, v.len, "value data") };
    let text = |what: &str| {
        String::from_utf8(data()?.to_vec())
            .map_err(|_| Fail::invalid(format!("{what} value is not valid UTF-8")))
    };
    Ok(match v.vtype {
        ZIGGY_TYPE_BYTES => Value::Bytes(data()?.to_vec()),
        ZIGGY_TYPE_STRING => Value::String(text("a string")?),
        ZIGGY_TYPE_INT => Value::Int(v.integer),
        ZIGGY_TYPE_FLOAT => Value::Float(v.real),
        ZIGGY_TYPE_BOOL => Value::Bool(v.integer != 0),
        ZIGGY_TYPE_TIMESTAMP => Value::Timestamp(v.integer),
        ZIGGY_TYPE_JSON => Value::json(text("a JSON")?)?,
        other => {
            return Err(Fail::invalid(format!(
                "value type {other} cannot be written as one value (ZIGGY_TYPE_BYTES to \
                 ZIGGY_TYPE_JSON; collections are written with ziggy_exec)"
            )))
        }
    })
}

/// Fills the caller's `ziggy_value` from `value`.
///
/// # Safety
/// Unless NULL, `out` points to a writable `ziggy_value`.
unsafe fn value_out(value: &Value, out: *mut ziggy_value) -> Result<c_int, Fail> {
    let mut v = ziggy_value {
        vtype: type_code(value.value_type()),
        integer: 0,
        real: 0.0,
        data: std::ptr::null(),
        len: 0,
    };
    match value {
        Value::Bytes(b) => (v.data, v.len) = (malloc_copy(b)?.cast_const(), b.len()),
        Value::String(s) | Value::Json(s) => {
            (v.data, v.len) = (malloc_copy(s.as_bytes())?.cast_const(), s.len());
        }
        Value::Int(i) | Value::Timestamp(i) => v.integer = *i,
        Value::Float(f) => v.real = *f,
        Value::Bool(b) => v.integer = i64::from(*b),
    }
    if out.is_null() {
        // Nowhere to put it: give back what was allocated.
        // SAFETY: `data` is NULL or came from `malloc_copy` just above.
        unsafe { libc::free(v.data.cast_mut()) };
    } else {
        // SAFETY: writable by this function's contract.
        unsafe { put(out, v) };
    }
    Ok(ZIGGY_OK)
}

// ---------------------------------------------------------------------------------------
// Opening and closing.

/// The options at `opts` (`None` if NULL): the defaults, overwritten by as many bytes of the
/// caller's struct as its `size` says and this library knows.
///
/// # Safety
/// `opts` is NULL or points to a `ziggy_options` of `opts->size` readable bytes.
unsafe fn read_options(opts: *const ziggy_options) -> Result<Option<ziggy_options>, Fail> {
    if opts.is_null() {
        return Ok(None);
    }
    // SAFETY: a `ziggy_options` starts with its size, readable by the caller's contract.
    let size = unsafe { std::ptr::addr_of!((*opts).size).read_unaligned() };
    if size < std::mem::size_of::<usize>() {
        return Err(Fail::invalid(
            "opts->size is not set: fill the options with ziggy_options_init",
        ));
    }
    let mut o = std::mem::MaybeUninit::<ziggy_options>::uninit();
    // SAFETY: `o` is written whole by `ziggy_options_init`, then its first `n` bytes (at most
    // both structs' sizes) are copied from the caller's, which has `size` readable bytes.
    let o = unsafe {
        ziggy_options_init(o.as_mut_ptr());
        let n = size.min(std::mem::size_of::<ziggy_options>());
        std::ptr::copy_nonoverlapping(opts.cast::<u8>(), o.as_mut_ptr().cast::<u8>(), n);
        o.assume_init()
    };
    Ok(Some(o))
}

/// Fills `opts` with the defaults (immediate durability, 10 s lock timeout, 64 MiB segments,
/// automatic compaction, expiry every 100 ms, read-write, mode 0600). NULL is ignored.
///
/// # Safety
/// Unless NULL, `opts` points to a writable `ziggy_options`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_options_init(opts: *mut ziggy_options) {
    guard_value((), || {
        let defaults = ziggy_options {
            size: std::mem::size_of::<ziggy_options>(),
            durability: ZIGGY_DURABILITY_IMMEDIATE,
            batch_delay_ms: 50,
            lock_timeout_ms: 10_000,
            segment_size: 64 << 20,
            auto_compact: true,
            active_expiry_ms: 100,
            read_only: false,
            mode: 0,
        };
        // SAFETY: the caller's contract.
        unsafe { put(opts, defaults) }
    });
}

/// Opens (creating it if needed, unless read-only) the database directory `path`, with
/// `opts` or, when `opts` is NULL, the defaults. On success `*out` is a handle to close with
/// `ziggy_close`; on failure `*out` is NULL. `path` and `opts` are read during the call
/// only. A second open of one directory in one process shares the first's state (and must
/// ask for the same options: `ZIGGY_OPTIONS_MISMATCH`). A handle must not be used in a
/// child made by `fork()` (`ZIGGY_FORKED`): open the database again there.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `opts` is NULL or points to a
/// `ziggy_options`; `out` is NULL or points to writable memory for a pointer.
#[no_mangle]
pub unsafe extern "C" fn ziggy_open(
    path: *const c_char,
    opts: *const ziggy_options,
    out: *mut *mut ziggy_db,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { put(out, std::ptr::null_mut()) };
        if out.is_null() {
            return Err(Fail::invalid("out is NULL"));
        }
        // SAFETY: the caller's contract.
        let dir = unsafe { c_path(path, "path") }?;
        let mut o = Db::options();
        // SAFETY: the caller's contract.
        if let Some(opts) = unsafe { read_options(opts) }?.as_ref() {
            o = o.durability(match opts.durability {
                ZIGGY_DURABILITY_IMMEDIATE => Durability::Immediate,
                ZIGGY_DURABILITY_BATCHED => Durability::Batched {
                    max_delay: Duration::from_millis(opts.batch_delay_ms.into()),
                },
                d => return Err(Fail::invalid(format!("unknown durability {d}"))),
            });
            o = o.lock_timeout(
                u64::try_from(opts.lock_timeout_ms)
                    .ok()
                    .map(Duration::from_millis),
            );
            if opts.segment_size != 0 {
                o = o.segment_size(opts.segment_size);
            }
            o = o.auto_compact(opts.auto_compact, 0.5, 16 << 20);
            o = o.active_expiry(
                u64::try_from(opts.active_expiry_ms)
                    .ok()
                    .map(Duration::from_millis),
            );
            o = o.read_only(opts.read_only);
            if opts.mode != 0 {
                o = o.mode(opts.mode);
            }
        }
        let db = o.open(dir)?;
        // SAFETY: the caller's contract.
        unsafe { put(out, Box::into_raw(Box::new(ziggy_db { db }))) };
        Ok(ZIGGY_OK)
    })
}

/// Closes a handle from `ziggy_open`; NULL is ignored. Sessions and transactions still open
/// keep the database open until they are closed; the last close in the process releases
/// its files and locks.
///
/// # Safety
/// `db` is NULL or a handle from `ziggy_open` not yet closed, and no other thread uses it
/// during or after the call.
#[no_mangle]
pub unsafe extern "C" fn ziggy_close(db: *mut ziggy_db) {
    guard_value((), || {
        if !db.is_null() {
            // SAFETY: from `Box::into_raw` in `ziggy_open`, closed once, by the contract.
            drop(unsafe { Box::from_raw(db) });
        }
    });
}

/// The message of this thread's last failed call (a status other than `ZIGGY_OK` and
/// `ZIGGY_NOTFOUND`); "" before any. Owned by the library: valid until this thread's next
/// failed call. Never NULL.
#[no_mangle]
pub extern "C" fn ziggy_errmsg() -> *const c_char {
    guard_value(c"".as_ptr(), message_ptr)
}

/// The name of a status or error code: "OK", "NOTFOUND", "WRONG_TYPE" for
/// `ZIGGY_WRONG_TYPE`, …; "UNKNOWN" for any other number. A static string, never NULL.
#[no_mangle]
pub extern "C" fn ziggy_errname(code: c_int) -> *const c_char {
    guard_value(c"UNKNOWN".as_ptr(), || name_of(code).as_ptr())
}

/// The library's version, e.g. "0.3.0". A static string.
#[no_mangle]
pub extern "C" fn ziggy_version() -> *const c_char {
    c"0.3.0".as_ptr()
}

/// Frees memory the library gave the caller (`ziggy_get`'s value, `ziggy_check`'s text);
/// NULL is ignored. It is `free()`: the library allocates these with `malloc`.
///
/// # Safety
/// `p` is NULL or a pointer the library returned for `ziggy_free`, not freed before.
#[no_mangle]
pub unsafe extern "C" fn ziggy_free(p: *mut c_void) {
    // SAFETY: NULL or from `malloc` (`malloc_copy`), freed once, by the contract.
    unsafe { libc::free(p) }
}

// ---------------------------------------------------------------------------------------
// Keys and values.

/// Reads `key` (Redis `GET`). `ZIGGY_OK`: `*val` is a copy of the value, as `GET` shows it
/// (an integer as its decimal text), `*vlen` its length; the copy is followed by a NUL byte
/// not counted in `*vlen`, and is freed with `ziggy_free`. `ZIGGY_NOTFOUND`: `*val` is NULL
/// and `*vlen` 0. `val` and `vlen` may be NULL (to test whether the key exists). A key
/// holding a collection is `ZIGGY_WRONG_TYPE`.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `key` points to `klen` bytes (NULL if `klen` is 0);
/// `val` and `vlen` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_get(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract, for every call in this block.
        unsafe {
            let (db, key) = (db_ref(db)?, bytes(key, klen, "key")?);
            match db.get(key)? {
                // Bytes, strings and JSON are copied straight from the map; other types
                // as their Redis text.
                Some(v) => match v.value_type() {
                    zdb::ValueType::Bytes | zdb::ValueType::String | zdb::ValueType::Json => {
                        give_bytes(v.as_bytes(), val, vlen)
                    }
                    _ => give_bytes(&zdb::commands::redis_bytes(&v.to_value()?), val, vlen),
                },
                None => give_nothing(val, vlen),
            }
        }
    })
}

/// Writes `key` = the `vlen` bytes at `val` as bytes (Redis `SET`), in a transaction of its
/// own. Both buffers are read during the call only.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `key` and `val` point to `klen` and `vlen` bytes
/// (NULL if the length is 0).
#[no_mangle]
pub unsafe extern "C" fn ziggy_set(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, key, val) = unsafe {
            (
                db_ref(db)?,
                bytes(key, klen, "key")?,
                bytes(val, vlen, "value")?,
            )
        };
        db.set(key, val)?;
        Ok(ZIGGY_OK)
    })
}

/// Deletes `key` (Redis `DEL`) in a transaction of its own: `ZIGGY_OK` if it existed,
/// `ZIGGY_NOTFOUND` if not.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `key` points to `klen` bytes (NULL if `klen` is 0).
#[no_mangle]
pub unsafe extern "C" fn ziggy_del(db: *mut ziggy_db, key: *const c_void, klen: usize) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, key) = unsafe { (db_ref(db)?, bytes(key, klen, "key")?) };
        Ok(if db.delete(key)? {
            ZIGGY_OK
        } else {
            ZIGGY_NOTFOUND
        })
    })
}

/// Adds `delta` to the integer at `key` (Redis `INCRBY`; a missing key counts as 0),
/// atomically across every process; `*out` (if not NULL) is the new value.
/// `ZIGGY_NOT_AN_INTEGER` if the value is not an integer, `ZIGGY_OVERFLOW` past 64 bits.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `key` points to `klen` bytes (NULL if `klen` is 0);
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_incrby(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    delta: i64,
    out: *mut i64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, key) = unsafe { (db_ref(db)?, bytes(key, klen, "key")?) };
        let n = db.incr_by(key, delta)?;
        // SAFETY: the caller's contract.
        unsafe { put(out, n) };
        Ok(ZIGGY_OK)
    })
}

/// The type of the value at `key` in `*type` (`ZIGGY_TYPE_BYTES` … `ZIGGY_TYPE_HASH`):
/// `ZIGGY_OK`, or `ZIGGY_NOTFOUND` with `*type` = `ZIGGY_TYPE_NONE`.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `key` points to `klen` bytes (NULL if `klen` is 0);
/// `type` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_type(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    r#type: *mut c_int,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, key) = unsafe { (db_ref(db)?, bytes(key, klen, "key")?) };
        let ty = db.value_type(key)?;
        // SAFETY: the caller's contract.
        unsafe { put(r#type, ty.map_or(ZIGGY_TYPE_NONE, type_code)) };
        Ok(if ty.is_some() {
            ZIGGY_OK
        } else {
            ZIGGY_NOTFOUND
        })
    })
}

/// Reads `key` as the typed value it was stored as into `*out` (see `ziggy_value` for who
/// owns `out->data`): `ZIGGY_OK`, or `ZIGGY_NOTFOUND` leaving `*out` unchanged. A key holding
/// a collection is `ZIGGY_WRONG_TYPE`.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `key` points to `klen` bytes (NULL if `klen` is 0);
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_get_value(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    out: *mut ziggy_value,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, key) = unsafe { (db_ref(db)?, bytes(key, klen, "key")?) };
        match db.get_value(key)? {
            // SAFETY: the caller's contract.
            Some(v) => unsafe { value_out(&v, out) },
            None => Ok(ZIGGY_NOTFOUND),
        }
    })
}

/// Writes `key` = the typed value `*v` in a transaction of its own. `ZIGGY_INVALID_JSON` for
/// a JSON value that does not parse, `ZIGGY_INVALID_ARGUMENT` for a string that is not
/// UTF-8 or an unknown type. `*v` and its data are read during the call only.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `key` points to `klen` bytes (NULL if `klen` is 0);
/// `v` points to a `ziggy_value` whose `data` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ziggy_set_value(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    v: *const ziggy_value,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, key, value) = unsafe { (db_ref(db)?, bytes(key, klen, "key")?, value_in(v)?) };
        db.set(key, value)?;
        Ok(ZIGGY_OK)
    })
}

/// Reads `key` as an integer into `*out`: an int, or text that is an integer as Redis reads
/// one. `ZIGGY_NOT_AN_INTEGER` otherwise; `ZIGGY_NOTFOUND` if missing.
///
/// # Safety
/// As `ziggy_get_value`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_get_int(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    out: *mut i64,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { get_number(db, key, klen, out, zdb::Value::as_int) }
}

/// Reads `key` as a double into `*out`: a float or an int, or text that is a number.
/// `ZIGGY_NOT_A_FLOAT` otherwise; `ZIGGY_NOTFOUND` if missing.
///
/// # Safety
/// As `ziggy_get_value`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_get_float(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    out: *mut f64,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe { get_number(db, key, klen, out, zdb::Value::as_float) }
}

/// `ziggy_get_int` and `ziggy_get_float`: reads `key`, converts it with `as_number` into
/// `*out`; `ZIGGY_NOTFOUND` if missing.
///
/// # Safety
/// As `ziggy_get_value`; `out` is NULL or writable.
unsafe fn get_number<T>(
    db: *mut ziggy_db,
    key: *const c_void,
    klen: usize,
    out: *mut T,
    as_number: fn(&zdb::Value) -> zdb::Result<T>,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, key) = unsafe { (db_ref(db)?, bytes(key, klen, "key")?) };
        let Some(v) = db.get_value(key)? else {
            return Ok(ZIGGY_NOTFOUND);
        };
        // SAFETY: the caller's contract.
        unsafe { put(out, as_number(&v)?) };
        Ok(ZIGGY_OK)
    })
}

/// Frees the bytes a `ziggy_get_value` gave `v` and sets `v->data` to NULL and `v->len` to 0;
/// NULL is ignored.
///
/// # Safety
/// `v` is NULL or points to a `ziggy_value` filled by the library (not one whose `data` is
/// the caller's own).
#[no_mangle]
pub unsafe extern "C" fn ziggy_value_free(v: *mut ziggy_value) {
    guard_value((), || {
        // SAFETY: the caller's contract.
        if let Some(v) = unsafe { v.as_mut() } {
            // SAFETY: NULL or from `malloc_copy` in `value_out`, by the contract.
            unsafe { libc::free(v.data.cast_mut()) };
            v.data = std::ptr::null();
            v.len = 0;
        }
    });
}

// ---------------------------------------------------------------------------------------
// Transactions.

/// Starts a write transaction, waiting up to the lock timeout for the writer lock
/// (`ZIGGY_BUSY` after it). On success `*out` is the transaction, which
/// `ziggy_txn_commit` or `ziggy_txn_rollback` ends and frees. While it is open, every other
/// writer of the database, in any thread or process, waits for it; a write through the
/// `ziggy_db` (not the transaction) from the thread that holds it would wait for itself.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_begin(db: *mut ziggy_db, out: *mut *mut ziggy_txn) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { put(out, std::ptr::null_mut()) };
        if out.is_null() {
            return Err(Fail::invalid("out is NULL"));
        }
        // SAFETY: the caller's contract.
        let db = unsafe { db_ref(db) }?;
        let txn = db.begin_write()?;
        let handle = Box::new(ziggy_txn {
            txn,
            db: db.clone(),
        });
        // SAFETY: the caller's contract.
        unsafe { put(out, Box::into_raw(handle)) };
        Ok(ZIGGY_OK)
    })
}

/// Commits `txn` and frees it, whatever the outcome: on `ZIGGY_OK` its writes are visible to
/// every process at once (and durable, with immediate durability); on an error nothing of it
/// is. NULL is `ZIGGY_INVALID_ARGUMENT`.
///
/// # Safety
/// `txn` is NULL or a transaction from `ziggy_txn_begin` not yet ended; it is freed.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_commit(txn: *mut ziggy_txn) -> c_int {
    guard(|| {
        if txn.is_null() {
            return Err(Fail::invalid("txn is NULL"));
        }
        // SAFETY: from `Box::into_raw` in `ziggy_txn_begin`, ended once, by the contract.
        let handle = unsafe { Box::from_raw(txn) };
        handle.txn.commit()?;
        Ok(ZIGGY_OK)
    })
}

/// Rolls `txn` back (none of its writes happen) and frees it; NULL is ignored.
///
/// # Safety
/// `txn` is NULL or a transaction from `ziggy_txn_begin` not yet ended; it is freed.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_rollback(txn: *mut ziggy_txn) {
    guard_value((), || {
        if !txn.is_null() {
            // SAFETY: from `Box::into_raw` in `ziggy_txn_begin`, ended once, by the contract.
            let handle = unsafe { Box::from_raw(txn) };
            handle.txn.rollback();
        }
    });
}

/// `ziggy_get` inside `txn`: sees the transaction's own writes.
///
/// # Safety
/// `txn` is a transaction from `ziggy_txn_begin`, used by no other thread meanwhile; the
/// other arguments as for `ziggy_get`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_get(
    txn: *mut ziggy_txn,
    key: *const c_void,
    klen: usize,
    val: *mut *mut c_void,
    vlen: *mut usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract, for every call in this block.
        unsafe {
            let (t, key) = (handle(txn, "txn")?, bytes(key, klen, "key")?);
            match t.txn.get(key)? {
                Some(v) => give_bytes(&zdb::commands::redis_bytes(&v), val, vlen),
                None => give_nothing(val, vlen),
            }
        }
    })
}

/// `ziggy_get_value` inside `txn`.
///
/// # Safety
/// As `ziggy_txn_get`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_get_value(
    txn: *mut ziggy_txn,
    key: *const c_void,
    klen: usize,
    out: *mut ziggy_value,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract, for every call in this block.
        unsafe {
            let (t, key) = (handle(txn, "txn")?, bytes(key, klen, "key")?);
            match t.txn.get(key)? {
                Some(v) => value_out(&v, out),
                None => Ok(ZIGGY_NOTFOUND),
            }
        }
    })
}

/// `ziggy_set` inside `txn`.
///
/// # Safety
/// As `ziggy_txn_get`; `val` points to `vlen` bytes (NULL if `vlen` is 0).
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_set(
    txn: *mut ziggy_txn,
    key: *const c_void,
    klen: usize,
    val: *const c_void,
    vlen: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (t, key, val) = unsafe {
            (
                handle(txn, "txn")?,
                bytes(key, klen, "key")?,
                bytes(val, vlen, "value")?,
            )
        };
        t.txn.set(key, val)?;
        Ok(ZIGGY_OK)
    })
}

/// `ziggy_set_value` inside `txn`.
///
/// # Safety
/// As `ziggy_txn_get`; `v` as for `ziggy_set_value`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_set_value(
    txn: *mut ziggy_txn,
    key: *const c_void,
    klen: usize,
    v: *const ziggy_value,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (t, key, value) =
            unsafe { (handle(txn, "txn")?, bytes(key, klen, "key")?, value_in(v)?) };
        t.txn.set(key, value)?;
        Ok(ZIGGY_OK)
    })
}

/// `ziggy_del` inside `txn`.
///
/// # Safety
/// As `ziggy_txn_get`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_del(
    txn: *mut ziggy_txn,
    key: *const c_void,
    klen: usize,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (t, key) = unsafe { (handle(txn, "txn")?, bytes(key, klen, "key")?) };
        Ok(if t.txn.delete(key)? {
            ZIGGY_OK
        } else {
            ZIGGY_NOTFOUND
        })
    })
}

/// `ziggy_incrby` inside `txn`.
///
/// # Safety
/// As `ziggy_txn_get`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_incrby(
    txn: *mut ziggy_txn,
    key: *const c_void,
    klen: usize,
    delta: i64,
    out: *mut i64,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (t, key) = unsafe { (handle(txn, "txn")?, bytes(key, klen, "key")?) };
        let n = t.txn.incr_by(key, delta)?;
        // SAFETY: the caller's contract.
        unsafe { put(out, n) };
        Ok(ZIGGY_OK)
    })
}

// ---------------------------------------------------------------------------------------
// Maintenance.

/// Fills `*out` with the shared counters.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `out` points to a writable `ziggy_metrics`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_db_metrics(db: *mut ziggy_db, out: *mut ziggy_metrics) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let db = unsafe { db_ref(db) }?;
        if out.is_null() {
            return Err(Fail::invalid("out is NULL"));
        }
        // SAFETY: a `ziggy_metrics` starts with its size, which the caller's contract makes
        // readable.
        let size = unsafe { std::ptr::addr_of!((*out).size).read_unaligned() };
        if size < std::mem::size_of::<usize>() {
            return Err(Fail::invalid(
                "out->size is not set: set it to sizeof(ziggy_metrics)",
            ));
        }
        let n = size.min(std::mem::size_of::<ziggy_metrics>());
        let m = db.metrics();
        let c = ziggy_metrics {
            size: n,
            keys: m.keys,
            live_bytes: m.live_bytes,
            dead_bytes: m.dead_bytes,
            segments: m.segments,
            segment_file_bytes: m.segment_file_bytes,
            commits: m.commits,
            rollbacks: m.rollbacks,
            reads: m.reads,
            hits: m.hits,
            misses: m.misses,
            compactions: m.compactions,
            expired: m.expired,
            processes: m.processes,
            commands: m.commands,
        };
        // SAFETY: the caller's struct has `size` writable bytes (its contract) and `c` has
        // size_of::<ziggy_metrics>(); `n` is at most both, and the struct is plain data.
        unsafe {
            std::ptr::copy_nonoverlapping(std::ptr::addr_of!(c).cast::<u8>(), out.cast::<u8>(), n);
        }
        Ok(ZIGGY_OK)
    })
}

/// Compacts now (rewrites the live records of every sealed segment and deletes the old
/// files) while other processes keep reading and writing; `*out` (if not NULL) says what
/// it did.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_compact(db: *mut ziggy_db, out: *mut ziggy_compact_stats) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let db = unsafe { db_ref(db) }?;
        let s = db.compact()?;
        let c = ziggy_compact_stats {
            segments_removed: s.segments_removed,
            segments_written: s.segments_written,
            records_copied: s.records_copied,
            bytes_before: s.bytes_before,
            bytes_after: s.bytes_after,
        };
        // SAFETY: the caller's contract.
        unsafe { put(out, c) };
        Ok(ZIGGY_OK)
    })
}

/// Copies the live database into the directory `dest` (which must not exist, or be empty);
/// other processes keep writing meanwhile. `*out` (if not NULL) says what it copied.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `dest` a NUL-terminated string; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_backup(
    db: *mut ziggy_db,
    dest: *const c_char,
    out: *mut ziggy_backup_stats,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let (db, dest) = unsafe { (db_ref(db)?, c_path(dest, "dest")?) };
        let s = db.backup(dest)?;
        let c = ziggy_backup_stats {
            segments: s.segments,
            bytes: s.bytes,
            keys: s.keys,
        };
        // SAFETY: the caller's contract.
        unsafe { put(out, c) };
        Ok(ZIGGY_OK)
    })
}

/// Verifies every checksum and that the index and the segments agree. `ZIGGY_OK` when the
/// check ran (whatever it found): `*out` (if not NULL) counts records, keys and problems,
/// and `*problems` (if not NULL) is NULL when there are none, or else one line per problem
/// (NUL-terminated, freed with `ziggy_free`).
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `out` and `problems` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_check(
    db: *mut ziggy_db,
    out: *mut ziggy_check_report,
    problems: *mut *mut c_char,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        let db = unsafe { db_ref(db) }?;
        let r = db.check()?;
        let text = if r.problems.is_empty() || problems.is_null() {
            std::ptr::null_mut()
        } else {
            malloc_copy(r.problems.join("\n").as_bytes())?.cast()
        };
        let c = ziggy_check_report {
            records: r.records,
            keys: r.keys,
            problems: r.problems.len() as u64,
        };
        // SAFETY: the caller's contract.
        unsafe {
            put(out, c);
            put(problems, text);
        }
        Ok(ZIGGY_OK)
    })
}

/// Makes every commit so far durable (for `ZIGGY_DURABILITY_BATCHED`).
///
/// # Safety
/// `db` is a handle from `ziggy_open`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_sync(db: *mut ziggy_db) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { db_ref(db) }?.sync()?;
        Ok(ZIGGY_OK)
    })
}

/// A panic inside a call, for the tests: proves that it comes back as `ZIGGY_EINTERNAL`
/// with its message instead of unwinding into C or aborting. Only with the `test-hooks`
/// feature, and not in the header.
#[cfg(any(test, feature = "test-hooks"))]
#[no_mangle]
pub extern "C" fn ziggy_test_panic() -> c_int {
    guard(|| panic!("ziggy_test_panic was called"))
}

#[cfg(test)]
mod tests;
