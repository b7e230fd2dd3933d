//! Status codes, this thread's last error message, and the guard every entry point runs in:
//! a failure becomes a code and a message, a panic becomes [`ZIGGY_EINTERNAL`], and nothing
//! unwinds into the caller.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Success.
pub const ZIGGY_OK: c_int = 0;
/// The key does not exist. A status, not an error: `ziggy_errmsg` is left as it was.
pub const ZIGGY_NOTFOUND: c_int = 1;
/// A bug in the library: a Rust panic inside the call, caught at the boundary. The handles
/// stay usable; `ziggy_errmsg` has the panic's message.
pub const ZIGGY_EINTERNAL: c_int = 2;
/// An I/O call failed.
pub const ZIGGY_IO: c_int = 10;
/// The operating system refused access.
pub const ZIGGY_PERMISSION_DENIED: c_int = 11;
/// The file system is full.
pub const ZIGGY_DISK_FULL: c_int = 12;
/// A compaction has no room for its smallest step.
pub const ZIGGY_COMPACT_NEEDS_SPACE: c_int = 13;
/// The file system is mounted read-only.
pub const ZIGGY_READ_ONLY_FILE_SYSTEM: c_int = 14;
/// Memory could not be allocated.
pub const ZIGGY_OUT_OF_MEMORY: c_int = 15;
/// A log record before the end of the log is damaged.
pub const ZIGGY_CORRUPT_WAL: c_int = 20;
/// A record fails its checksum.
pub const ZIGGY_CHECKSUM_MISMATCH: c_int = 21;
/// A segment file is malformed.
pub const ZIGGY_CORRUPT_SEGMENT: c_int = 22;
/// The hash index is malformed.
pub const ZIGGY_CORRUPT_INDEX: c_int = 23;
/// `MANIFEST` is malformed.
pub const ZIGGY_CORRUPT_MANIFEST: c_int = 24;
/// The shared state `ziggy.shm` is malformed.
pub const ZIGGY_CORRUPT_SHM: c_int = 25;
/// A collection's metadata or pages are damaged.
pub const ZIGGY_CORRUPT_COLLECTION: c_int = 26;
/// A stored value does not decode as its type.
pub const ZIGGY_CORRUPT_VALUE: c_int = 27;
/// Segment files without a `MANIFEST`.
pub const ZIGGY_MANIFEST_MISSING: c_int = 28;
/// A read-only open found a database that needs recovery.
pub const ZIGGY_NEEDS_RECOVERY: c_int = 29;
/// The directory holds other files.
pub const ZIGGY_NOT_A_DATABASE: c_int = 40;
/// The path is not a directory.
pub const ZIGGY_NOT_A_DIRECTORY: c_int = 41;
/// A file of another format version.
pub const ZIGGY_INCOMPATIBLE_VERSION: c_int = 42;
/// A symbolic link in the database directory.
pub const ZIGGY_SYMLINK: c_int = 43;
/// A name in the database directory is not a regular file of its own.
pub const ZIGGY_NOT_REGULAR_FILE: c_int = 44;
/// The database has another file mode than the one asked for.
pub const ZIGGY_MODE_MISMATCH: c_int = 45;
/// The directory is open in this process with other options.
pub const ZIGGY_OPTIONS_MISMATCH: c_int = 46;
/// A read-only open found read-write processes.
pub const ZIGGY_OPEN_READ_WRITE: c_int = 47;
/// A repair found the database open.
pub const ZIGGY_IN_USE: c_int = 48;
/// A lock was not granted within the timeout.
pub const ZIGGY_BUSY: c_int = 60;
/// An earlier write failed; the handle refuses writes.
pub const ZIGGY_POISONED: c_int = 61;
/// A write on a read-only handle.
pub const ZIGGY_READ_ONLY: c_int = 62;
/// A handle used in a forked child of the process that opened it.
pub const ZIGGY_FORKED: c_int = 63;
/// A second write transaction inside a transaction's closure.
pub const ZIGGY_TXN_ACTIVE: c_int = 64;
/// A subscriber fell further behind than the Pub/Sub ring holds.
pub const ZIGGY_SUBSCRIBER_OVERRUN: c_int = 65;
/// A read view outlived the undo ring.
pub const ZIGGY_SNAPSHOT_TOO_OLD: c_int = 66;
/// An argument is invalid.
pub const ZIGGY_INVALID_ARGUMENT: c_int = 80;
/// A key is longer than the format allows.
pub const ZIGGY_KEY_TOO_LARGE: c_int = 81;
/// A value or transaction does not fit in a segment.
pub const ZIGGY_VALUE_TOO_LARGE: c_int = 82;
/// A line of an import file is malformed.
pub const ZIGGY_BAD_IMPORT_LINE: c_int = 83;
/// The key holds a value of another type.
pub const ZIGGY_WRONG_TYPE: c_int = 100;
/// The value is not an integer or is out of range.
pub const ZIGGY_NOT_AN_INTEGER: c_int = 101;
/// The value is not a valid float.
pub const ZIGGY_NOT_A_FLOAT: c_int = 102;
/// An arithmetic operation would overflow.
pub const ZIGGY_OVERFLOW: c_int = 103;
/// A JSON value failed validation.
pub const ZIGGY_INVALID_JSON: c_int = 104;
/// The key does not exist (Redis `LSET`).
pub const ZIGGY_NO_SUCH_KEY: c_int = 105;
/// An index is outside the list.
pub const ZIGGY_INDEX_OUT_OF_RANGE: c_int = 106;

/// Every status and error code with its name (`ZIGGY_` and the name is its constant).
const NAMES: &[(c_int, &CStr)] = &[
    (ZIGGY_OK, c"OK"),
    (ZIGGY_NOTFOUND, c"NOTFOUND"),
    (ZIGGY_EINTERNAL, c"EINTERNAL"),
    (ZIGGY_IO, c"IO"),
    (ZIGGY_PERMISSION_DENIED, c"PERMISSION_DENIED"),
    (ZIGGY_DISK_FULL, c"DISK_FULL"),
    (ZIGGY_COMPACT_NEEDS_SPACE, c"COMPACT_NEEDS_SPACE"),
    (ZIGGY_READ_ONLY_FILE_SYSTEM, c"READ_ONLY_FILE_SYSTEM"),
    (ZIGGY_OUT_OF_MEMORY, c"OUT_OF_MEMORY"),
    (ZIGGY_CORRUPT_WAL, c"CORRUPT_WAL"),
    (ZIGGY_CHECKSUM_MISMATCH, c"CHECKSUM_MISMATCH"),
    (ZIGGY_CORRUPT_SEGMENT, c"CORRUPT_SEGMENT"),
    (ZIGGY_CORRUPT_INDEX, c"CORRUPT_INDEX"),
    (ZIGGY_CORRUPT_MANIFEST, c"CORRUPT_MANIFEST"),
    (ZIGGY_CORRUPT_SHM, c"CORRUPT_SHM"),
    (ZIGGY_CORRUPT_COLLECTION, c"CORRUPT_COLLECTION"),
    (ZIGGY_CORRUPT_VALUE, c"CORRUPT_VALUE"),
    (ZIGGY_MANIFEST_MISSING, c"MANIFEST_MISSING"),
    (ZIGGY_NEEDS_RECOVERY, c"NEEDS_RECOVERY"),
    (ZIGGY_NOT_A_DATABASE, c"NOT_A_DATABASE"),
    (ZIGGY_NOT_A_DIRECTORY, c"NOT_A_DIRECTORY"),
    (ZIGGY_INCOMPATIBLE_VERSION, c"INCOMPATIBLE_VERSION"),
    (ZIGGY_SYMLINK, c"SYMLINK"),
    (ZIGGY_NOT_REGULAR_FILE, c"NOT_REGULAR_FILE"),
    (ZIGGY_MODE_MISMATCH, c"MODE_MISMATCH"),
    (ZIGGY_OPTIONS_MISMATCH, c"OPTIONS_MISMATCH"),
    (ZIGGY_OPEN_READ_WRITE, c"OPEN_READ_WRITE"),
    (ZIGGY_IN_USE, c"IN_USE"),
    (ZIGGY_BUSY, c"BUSY"),
    (ZIGGY_POISONED, c"POISONED"),
    (ZIGGY_READ_ONLY, c"READ_ONLY"),
    (ZIGGY_FORKED, c"FORKED"),
    (ZIGGY_TXN_ACTIVE, c"TXN_ACTIVE"),
    (ZIGGY_SUBSCRIBER_OVERRUN, c"SUBSCRIBER_OVERRUN"),
    (ZIGGY_SNAPSHOT_TOO_OLD, c"SNAPSHOT_TOO_OLD"),
    (ZIGGY_INVALID_ARGUMENT, c"INVALID_ARGUMENT"),
    (ZIGGY_KEY_TOO_LARGE, c"KEY_TOO_LARGE"),
    (ZIGGY_VALUE_TOO_LARGE, c"VALUE_TOO_LARGE"),
    (ZIGGY_BAD_IMPORT_LINE, c"BAD_IMPORT_LINE"),
    (ZIGGY_WRONG_TYPE, c"WRONG_TYPE"),
    (ZIGGY_NOT_AN_INTEGER, c"NOT_AN_INTEGER"),
    (ZIGGY_NOT_A_FLOAT, c"NOT_A_FLOAT"),
    (ZIGGY_OVERFLOW, c"OVERFLOW"),
    (ZIGGY_INVALID_JSON, c"INVALID_JSON"),
    (ZIGGY_NO_SUCH_KEY, c"NO_SUCH_KEY"),
    (ZIGGY_INDEX_OUT_OF_RANGE, c"INDEX_OUT_OF_RANGE"),
];

/// The name of `code` (`WRONG_TYPE` for `ZIGGY_WRONG_TYPE`); `UNKNOWN` for a number that is
/// no code.
pub(crate) fn name_of(code: c_int) -> &'static CStr {
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(c"UNKNOWN", |(_, name)| name)
}

/// A failed call: its code and message.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) code: c_int,
    pub(crate) message: String,
}

impl Fail {
    /// `ZIGGY_INVALID_ARGUMENT` with `message`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Fail {
            code: ZIGGY_INVALID_ARGUMENT,
            message: message.into(),
        }
    }
}

impl From<zdb::Error> for Fail {
    fn from(e: zdb::Error) -> Self {
        Fail {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

thread_local! {
    /// The message of this thread's last failed call.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error (a NUL inside it is written `\\0`).
pub(crate) fn set_message(message: &str) {
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // A thread being torn down has no message to keep; nothing to do then.
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = text);
}

/// This thread's last error message; valid until the thread's next failed call.
pub(crate) fn message_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|m| m.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

/// Runs an entry point's body: `Ok(status)` is returned as it is; `Err` records its message
/// and returns its code; a panic records its message and returns [`ZIGGY_EINTERNAL`]. Every
/// entry point that returns a status runs in it.
pub(crate) fn guard(body: impl FnOnce() -> Result<c_int, Fail>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(fail)) => {
            set_message(&fail.message);
            fail.code
        }
        Err(payload) => {
            set_message(&format!(
                "internal error (a bug in ziggydb): {}",
                panic_text(&*payload)
            ));
            // Dropping a payload can itself panic; that must not unwind either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            ZIGGY_EINTERNAL
        }
    }
}

/// [`guard`] for an entry point that returns a value rather than a status (an accessor or
/// a destructor): a panic gives `fallback` and records its message.
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    let mut out = fallback;
    guard(|| {
        out = body();
        Ok(ZIGGY_OK)
    });
    out
}
