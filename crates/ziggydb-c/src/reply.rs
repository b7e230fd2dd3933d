//! `ziggy_exec`, sessions and replies: any command `ziggy` runs, through the library's
//! command layer (`ziggydb::commands::Session`), with its reply as a tree the caller reads
//! with the `ziggy_reply_*` accessors.

use std::ffi::{c_char, c_int, CStr};

use zdb::commands::{self, Kind, Policy, Reply, Session};

use crate::status::*;
use crate::{handle, put, ziggy_db};

/// A reply to one command: a tree whose root the caller frees with `ziggy_reply_free`.
/// Elements are part of their root and are never freed on their own.
pub struct ziggy_reply {
    kind: c_int,
    integer: i64,
    real: f64,
    /// The text, followed by a NUL not counted in its length; empty for kinds without.
    text: Vec<u8>,
    /// Elements of an array or a set; a map's keys and values, alternating.
    elements: Vec<ziggy_reply>,
}

/// A connection's state for commands: a `MULTI` queue, `WATCH`ed keys, a `BEGIN`
/// transaction. Use it from one thread at a time; it may move between threads.
pub struct ziggy_session {
    session: Session,
    /// Ends the session's blocking command from another thread (`ziggy_interrupter`).
    cancel: zdb::CancelToken,
}

/// Ends a session's wait in a blocking command (`BLPOP`, `BZPOPMIN`, ...) from any thread,
/// or from a signal handler: made by `ziggy_session_interrupter`, used with
/// `ziggy_interrupt`, freed with `ziggy_interrupter_free`. It stays valid after its session
/// is closed (it then ends nothing).
pub struct ziggy_interrupter {
    cancel: zdb::CancelToken,
}

/// A bulk string: bytes (`ziggy_reply_str`), possibly with NUL bytes inside.
pub const ZIGGY_REPLY_BULK: c_int = 1;
/// An array of replies (`ziggy_reply_len`, `ziggy_reply_element`).
pub const ZIGGY_REPLY_ARRAY: c_int = 2;
/// An integer (`ziggy_reply_integer`).
pub const ZIGGY_REPLY_INTEGER: c_int = 3;
/// A null: a missing key (`GET`), or `EXEC` after a `WATCH`ed key changed.
pub const ZIGGY_REPLY_NIL: c_int = 4;
/// A status line such as `OK` or `QUEUED` (`ziggy_reply_str`).
pub const ZIGGY_REPLY_STATUS: c_int = 5;
/// An error reply such as `WRONGTYPE Operation against a key holding the wrong kind of
/// value` (`ziggy_reply_str`): the command failed, the call did not.
pub const ZIGGY_REPLY_ERROR: c_int = 6;
/// A double (`ziggy_reply_double`; `ziggy_reply_str` gives Redis's text of it).
pub const ZIGGY_REPLY_DOUBLE: c_int = 7;
/// A boolean (`ziggy_reply_integer`: 1 or 0).
pub const ZIGGY_REPLY_BOOL: c_int = 8;
/// A map: `ziggy_reply_len` counts keys and values, element `2i` is a key and `2i + 1` its
/// value.
pub const ZIGGY_REPLY_MAP: c_int = 9;
/// A set: elements as an array's.
pub const ZIGGY_REPLY_SET: c_int = 10;
/// Verbatim text (`ziggy_reply_str`), e.g. `INFO`'s.
pub const ZIGGY_REPLY_VERBATIM: c_int = 14;

impl ziggy_reply {
    fn leaf(kind: c_int) -> Self {
        ziggy_reply {
            kind,
            integer: 0,
            real: 0.0,
            text: Vec::new(),
            elements: Vec::new(),
        }
    }

    fn text(kind: c_int, mut text: Vec<u8>) -> Self {
        text.push(0);
        ziggy_reply {
            text,
            ..Self::leaf(kind)
        }
    }

    fn list(kind: c_int, items: Vec<Reply>) -> Self {
        ziggy_reply {
            elements: items.into_iter().map(ziggy_reply::from).collect(),
            ..Self::leaf(kind)
        }
    }
}

impl From<Reply> for ziggy_reply {
    fn from(r: Reply) -> Self {
        match r {
            Reply::Status(s) => Self::text(ZIGGY_REPLY_STATUS, s.into_bytes()),
            Reply::Error(s) => Self::text(ZIGGY_REPLY_ERROR, s.into_bytes()),
            Reply::Int(i) => ziggy_reply {
                integer: i,
                ..Self::leaf(ZIGGY_REPLY_INTEGER)
            },
            Reply::Bulk(b) => Self::text(ZIGGY_REPLY_BULK, b),
            // Copied out of the map so that the text can end with a NUL like every other.
            Reply::Mapped(v) => Self::text(ZIGGY_REPLY_BULK, v.as_bytes().to_vec()),
            Reply::Nil | Reply::NilArray => Self::leaf(ZIGGY_REPLY_NIL),
            Reply::Array(items) | Reply::Push(items) => Self::list(ZIGGY_REPLY_ARRAY, items),
            Reply::Set(items) => Self::list(ZIGGY_REPLY_SET, items),
            Reply::Map(pairs) => ziggy_reply {
                elements: pairs
                    .into_iter()
                    .flat_map(|(k, v)| [ziggy_reply::from(k), ziggy_reply::from(v)])
                    .collect(),
                ..Self::leaf(ZIGGY_REPLY_MAP)
            },
            Reply::Double(d) => ziggy_reply {
                real: d,
                ..Self::text(ZIGGY_REPLY_DOUBLE, commands::double_text(d).into_bytes())
            },
            Reply::Boolean(b) => ziggy_reply {
                integer: i64::from(b),
                ..Self::leaf(ZIGGY_REPLY_BOOL)
            },
            Reply::Verbatim { text, .. } => Self::text(ZIGGY_REPLY_VERBATIM, text),
        }
    }
}

/// The argv a caller passed.
///
/// # Safety
/// `argv` points to `argc` pointers; each is NUL-terminated when `argvlen` is NULL, or else
/// points to `argvlen[i]` bytes; all stay unchanged during `'a`.
unsafe fn args<'a>(
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> Result<Vec<&'a [u8]>, Fail> {
    let n = usize::try_from(argc).map_err(|_| Fail::invalid(format!("argc is {argc}")))?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if argv.is_null() {
        return Err(Fail::invalid(format!("argv is NULL but argc is {argc}")));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `argv` has `argc` elements by this function's contract.
        let p = unsafe { argv.add(i).read() };
        if p.is_null() {
            return Err(Fail::invalid(format!("argv[{i}] is NULL")));
        }
        let arg = if argvlen.is_null() {
            // SAFETY: NUL-terminated when `argvlen` is NULL, by the contract.
            unsafe { CStr::from_ptr(p) }.to_bytes()
        } else {
            // SAFETY: `argvlen` has `argc` elements, and `argv[i]` that many bytes.
            unsafe { crate::bytes(p.cast(), argvlen.add(i).read(), "an argument")? }
        };
        out.push(arg);
    }
    Ok(out)
}

/// Hands `reply` to the caller in `*out`.
///
/// # Safety
/// `out` is writable (checked non-NULL by the caller).
unsafe fn give_reply(reply: Reply, out: *mut *mut ziggy_reply) -> Result<c_int, Fail> {
    let r = Box::into_raw(Box::new(ziggy_reply::from(reply)));
    // SAFETY: the caller's contract.
    unsafe { put(out, r) };
    Ok(ZIGGY_OK)
}

/// What the `*_exec` calls share: `*out` cleared and checked, the arguments read, `run` given
/// them, and its reply handed out in `*out`.
///
/// # Safety
/// As `ziggy_exec` for `argc`, `argv`, `argvlen` and `out`; `run` upholds its own handle's.
unsafe fn exec_into(
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    out: *mut *mut ziggy_reply,
    run: impl FnOnce(&[&[u8]]) -> Result<Reply, Fail>,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { put(out, std::ptr::null_mut()) };
        if out.is_null() {
            return Err(Fail::invalid("out is NULL"));
        }
        // SAFETY: the caller's contract.
        let args = unsafe { args(argc, argv, argvlen)? };
        let reply = run(&args)?;
        // SAFETY: `out` checked above.
        unsafe { give_reply(reply, out) }
    })
}

/// Runs one command (`argv[0]` its name, as `ziggy` and Redis take it) atomically, on its
/// own: a write command is one transaction. On `ZIGGY_OK`, `*out` is the reply, freed with
/// `ziggy_reply_free`; a command that fails (wrong type, syntax, unknown command) is a
/// `ZIGGY_REPLY_ERROR` reply, not a failed call. `MULTI`, `EXEC`, `WATCH`, `BEGIN`, … need
/// state across calls: they are error replies here; run them in a session
/// (`ziggy_session_exec`). `argvlen` gives each argument's length (binary-safe); NULL means
/// every argument is a NUL-terminated string. The arguments are read during the call only.
/// A call fails (`ZIGGY_INVALID_ARGUMENT`, `*out` NULL) only for bad pointers or counts.
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `argv` points to `argc` non-NULL pointers, each to
/// `argvlen[i]` bytes (or a NUL-terminated string when `argvlen` is NULL); `out` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_exec(
    db: *mut ziggy_db,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    out: *mut *mut ziggy_reply,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        exec_into(argc, argv, argvlen, out, |args| {
            let db = crate::db_ref(db)?;
            let spec = args.first().and_then(|name| commands::lookup(name));
            // `SELECT n` would be forgotten with the call's session: refused as the others.
            let selects = |s: &&commands::CommandSpec| {
                s.name == "SELECT" && args.get(1).is_some_and(|n| *n != b"0")
            };
            Ok(
                match spec.filter(|s| s.kind == Kind::Control || selects(s)) {
                    Some(spec) => Reply::error(format!(
                        "ERR {} keeps state across commands: run it in a session \
                     (ziggy_session_exec)",
                        spec.name
                    )),
                    None => Session::new(db, Policy::trusted()).execute(args),
                },
            )
        })
    }
}

/// Opens a session on `db`: `*out`, closed with `ziggy_session_close`. It runs every command
/// with the rights of the `ziggy` tool (administration commands and server-side files
/// allowed, no limit on how long a `BEGIN` holds the writer lock).
///
/// # Safety
/// `db` is a handle from `ziggy_open`; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_session_open(
    db: *mut ziggy_db,
    out: *mut *mut ziggy_session,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { put(out, std::ptr::null_mut()) };
        if out.is_null() {
            return Err(Fail::invalid("out is NULL"));
        }
        // SAFETY: the caller's contract.
        let db = unsafe { crate::db_ref(db) }?;
        let cancel = zdb::CancelToken::new();
        let mut session = Session::new(db, Policy::trusted());
        session.set_cancel(cancel.clone());
        let s = Box::new(ziggy_session { session, cancel });
        // SAFETY: the caller's contract.
        unsafe { put(out, Box::into_raw(s)) };
        Ok(ZIGGY_OK)
    })
}

/// `ziggy_exec` in session `s`: `MULTI`/`EXEC`/`DISCARD`, `WATCH`, and `BEGIN`/`COMMIT`/
/// `ROLLBACK` keep their state from one call to the next.
///
/// # Safety
/// `s` is a session from `ziggy_session_open`, used by no other thread meanwhile; the other
/// arguments as for `ziggy_exec`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_session_exec(
    s: *mut ziggy_session,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    out: *mut *mut ziggy_reply,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        exec_into(argc, argv, argvlen, out, |args| {
            let h = handle(s, "session")?;
            let reply = h.session.execute(args);
            h.settle_interrupt();
            Ok(reply)
        })
    }
}

impl ziggy_session {
    /// After a call: an interrupt it received is used up, so that the next blocking command
    /// waits again (one that came between calls ends the next call's wait).
    fn settle_interrupt(&self) {
        if self.cancel.is_cancelled() {
            self.cancel.reset();
        }
    }
}

/// The next Pub/Sub message of session `s` (after `SUBSCRIBE` or `PSUBSCRIBE` through
/// `ziggy_session_exec`), waiting up to `timeout_ms` milliseconds for one (0: only what is
/// there; negative: until one comes). On `ZIGGY_OK`, `*out` is the message as Redis sends it,
/// an array (`ZIGGY_REPLY_ARRAY`) `message`, channel, payload or `pmessage`, pattern,
/// channel, payload, or NULL if none came in time; the further replies of a `SUBSCRIBE`
/// of several channels (one per channel) come this way first. A subscriber that fell further
/// behind than the shared ring holds gets an error reply `SUBSCRIBER_OVERRUN ...` and is no
/// longer subscribed.
///
/// # Safety
/// `s` is a session from `ziggy_session_open`, used by no other thread meanwhile; `out` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_session_next_message(
    s: *mut ziggy_session,
    timeout_ms: i64,
    out: *mut *mut ziggy_reply,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { put(out, std::ptr::null_mut()) };
        if out.is_null() {
            return Err(Fail::invalid("out is NULL"));
        }
        // SAFETY: the caller's contract.
        let h = unsafe { handle(s, "session") }?;
        let timeout = u64::try_from(timeout_ms)
            .ok()
            .map(std::time::Duration::from_millis);
        match h.session.next_push(timeout) {
            // SAFETY: `out` checked above.
            Some(reply) => unsafe { give_reply(reply, out) },
            None => Ok(ZIGGY_OK),
        }
    })
}

/// Makes `*out`, an interrupter of session `s`: `ziggy_interrupt` on it, from any thread,
/// ends the blocking command `s` runs (it replies as if its timeout had passed:
/// `ZIGGY_REPLY_NIL`), or, if none runs, the next one's wait. Free it with `ziggy_interrupter_free`.
///
/// # Safety
/// `s` is a session from `ziggy_session_open` not used by another thread during this call;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_session_interrupter(
    s: *mut ziggy_session,
    out: *mut *mut ziggy_interrupter,
) -> c_int {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { put(out, std::ptr::null_mut()) };
        if out.is_null() {
            return Err(Fail::invalid("out is NULL"));
        }
        // SAFETY: the caller's contract.
        let h = unsafe { handle(s, "session") }?;
        let i = Box::new(ziggy_interrupter {
            cancel: h.cancel.clone(),
        });
        // SAFETY: `out` checked above.
        unsafe { put(out, Box::into_raw(i)) };
        Ok(ZIGGY_OK)
    })
}

/// Ends the wait of the blocking command that the interrupter's session runs now, or of its
/// next one. Safe to call from any thread and from a signal handler (an atomic add and one
/// system call, no allocation, no lock). NULL is ignored.
///
/// # Safety
/// `i` is NULL or an interrupter from `ziggy_session_interrupter` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ziggy_interrupt(i: *const ziggy_interrupter) {
    // SAFETY: the caller's contract; only a shared reference is made.
    if let Some(i) = unsafe { i.as_ref() } {
        i.cancel.cancel();
    }
}

/// Frees an interrupter; NULL is ignored.
///
/// # Safety
/// `i` is NULL or an interrupter from `ziggy_session_interrupter`, freed once, with no
/// `ziggy_interrupt` on it running.
#[no_mangle]
pub unsafe extern "C" fn ziggy_interrupter_free(i: *mut ziggy_interrupter) {
    guard_value((), || {
        if !i.is_null() {
            // SAFETY: from `Box::into_raw` in `ziggy_session_interrupter`, freed once.
            drop(unsafe { Box::from_raw(i) });
        }
    });
}

/// `ziggy_exec` inside transaction `txn`: reads see the transaction's writes, writes become
/// part of it (committed by `ziggy_txn_commit`, undone by `ziggy_txn_rollback`), and a command
/// that fails (an error reply) leaves the transaction as it was before that command.
/// Transaction control (`MULTI`, `BEGIN`, ...) and whole-database commands (`COMPACT`, ...)
/// are error replies.
///
/// # Safety
/// `txn` is a transaction from `ziggy_txn_begin`, used by no other thread meanwhile; the
/// other arguments as for `ziggy_exec`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_txn_exec(
    txn: *mut crate::ziggy_txn,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    out: *mut *mut ziggy_reply,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        exec_into(argc, argv, argvlen, out, |args| {
            let t = handle(txn, "txn")?;
            Ok(commands::execute_in(&t.db, &mut t.txn, args))
        })
    }
}

/// Closes a session; NULL is ignored. A `BEGIN` transaction still open is rolled back and a
/// `MULTI` queue discarded.
///
/// # Safety
/// `s` is NULL or a session from `ziggy_session_open` not yet closed.
#[no_mangle]
pub unsafe extern "C" fn ziggy_session_close(s: *mut ziggy_session) {
    guard_value((), || {
        if !s.is_null() {
            // SAFETY: from `Box::into_raw` in `ziggy_session_open`, closed once.
            drop(unsafe { Box::from_raw(s) });
        }
    });
}

/// The reply's kind, `ZIGGY_REPLY_*`; 0 for NULL.
///
/// # Safety
/// `r` is NULL or a reply (or an element of one) not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ziggy_reply_type(r: *const ziggy_reply) -> c_int {
    // SAFETY: the caller's contract.
    guard_value(0, || unsafe { r.as_ref() }.map_or(0, |r| r.kind))
}

/// An `INTEGER` reply's value, a `BOOL`'s 1 or 0; 0 for any other reply and NULL.
///
/// # Safety
/// As `ziggy_reply_type`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_reply_integer(r: *const ziggy_reply) -> std::ffi::c_longlong {
    // SAFETY: the caller's contract.
    guard_value(0, || unsafe { r.as_ref() }.map_or(0, |r| r.integer))
}

/// A `DOUBLE` reply's value; 0.0 for any other reply and NULL.
///
/// # Safety
/// As `ziggy_reply_type`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_reply_double(r: *const ziggy_reply) -> f64 {
    // SAFETY: the caller's contract.
    guard_value(0.0, || unsafe { r.as_ref() }.map_or(0.0, |r| r.real))
}

/// The text of a `BULK`, `STATUS`, `ERROR`, `VERBATIM` or `DOUBLE` reply, and its length in
/// `*len` (if `len` is not NULL). The bytes belong to the reply (valid until its root is
/// freed) and are followed by a NUL byte not counted in `*len`; a bulk string may hold NUL
/// bytes of its own. NULL (and `*len` 0) for other replies and for NULL.
///
/// # Safety
/// As `ziggy_reply_type`; `len` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ziggy_reply_str(r: *const ziggy_reply, len: *mut usize) -> *const c_char {
    guard_value(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        let text = unsafe { r.as_ref() }.and_then(|r| r.text.split_last());
        // SAFETY: the caller's contract.
        unsafe { put(len, text.map_or(0, |(_, t)| t.len())) };
        text.map_or(std::ptr::null(), |(_, t)| t.as_ptr().cast())
    })
}

/// The number of elements of an `ARRAY` or `SET` reply, of keys and values of a `MAP` (twice
/// its entries); 0 for any other reply and NULL.
///
/// # Safety
/// As `ziggy_reply_type`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_reply_len(r: *const ziggy_reply) -> usize {
    // SAFETY: the caller's contract.
    guard_value(0, || unsafe { r.as_ref() }.map_or(0, |r| r.elements.len()))
}

/// Element `i` of an `ARRAY`, `SET` or `MAP` reply (see `ZIGGY_REPLY_MAP`); NULL past the
/// end, for other replies and for NULL. It belongs to `r`'s root: valid until the root is
/// freed, and never freed on its own.
///
/// # Safety
/// As `ziggy_reply_type`.
#[no_mangle]
pub unsafe extern "C" fn ziggy_reply_element(
    r: *const ziggy_reply,
    i: usize,
) -> *const ziggy_reply {
    guard_value(std::ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { r.as_ref() }
            .and_then(|r| r.elements.get(i))
            .map_or(std::ptr::null(), |e| e as *const ziggy_reply)
    })
}

/// Frees a reply from `ziggy_exec` or `ziggy_session_exec` with all its elements; NULL is
/// ignored.
///
/// # Safety
/// `r` is NULL or a root reply (not an element) not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ziggy_reply_free(r: *mut ziggy_reply) {
    guard_value((), || {
        if !r.is_null() {
            // SAFETY: from `Box::into_raw` in `give_reply`, freed once, by the contract.
            drop(unsafe { Box::from_raw(r) });
        }
    });
}

/// The name of the `ZIGGY_REPLY_*` kind `kind` ("BULK", "ARRAY", …); "UNKNOWN" otherwise.
/// A static string.
#[no_mangle]
pub extern "C" fn ziggy_reply_type_name(kind: c_int) -> *const c_char {
    let name: &CStr = match kind {
        ZIGGY_REPLY_BULK => c"BULK",
        ZIGGY_REPLY_ARRAY => c"ARRAY",
        ZIGGY_REPLY_INTEGER => c"INTEGER",
        ZIGGY_REPLY_NIL => c"NIL",
        ZIGGY_REPLY_STATUS => c"STATUS",
        ZIGGY_REPLY_ERROR => c"ERROR",
        ZIGGY_REPLY_DOUBLE => c"DOUBLE",
        ZIGGY_REPLY_BOOL => c"BOOL",
        ZIGGY_REPLY_MAP => c"MAP",
        ZIGGY_REPLY_SET => c"SET",
        ZIGGY_REPLY_VERBATIM => c"VERBATIM",
        _ => c"UNKNOWN",
    };
    name.as_ptr()
}
