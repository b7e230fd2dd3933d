//! The one public error type of the crate.

use std::path::PathBuf;

use crate::value_type::ValueType;

/// Errors returned by `ziggydb`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed for a reason other than a full disk. The operating system's error
    /// is the [`std::error::Error::source`], not part of this message, so that a report
    /// walking the chain (anyhow's `{:#}`) names it once.
    #[error("I/O error on {path}")]
    Io {
        /// The file or directory the call was made on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The operating system refused access (EACCES, EPERM): the database directory or one of
    /// its files belongs to another user or is not readable and writable by this one.
    #[error("permission denied on {path}: the database directory and its files must be readable and writable by this user (one who may only read opens it with `ziggy --read-only`)")]
    PermissionDenied {
        /// The file or directory access was refused to.
        path: PathBuf,
    },
    /// The file system is full (ENOSPC or EDQUOT). Nothing committed is lost; the database is
    /// usable again once space returns.
    #[error("no space left on device while writing {path}")]
    DiskFull {
        /// The file that could not be written or grown.
        path: PathBuf,
    },
    /// A compaction could not take even its smallest step: copying the live records of the
    /// sealed segment that has the fewest needs `needed` bytes free on the file system, and
    /// only `free` are. Nothing was changed; deleting keys (which a full disk allows) or
    /// freeing space elsewhere makes room.
    #[error("COMPACT needs {needed} bytes free on the file system, {free} are (in {dir}): delete keys or free space, then compact again")]
    CompactNeedsSpace {
        /// The database directory.
        dir: PathBuf,
        /// Bytes the smallest step of the compaction needs free.
        needed: u64,
        /// Bytes free on the file system when it was looked at.
        free: u64,
    },
    /// A log record before the end of the log is damaged. A torn tail is not an error; it is
    /// truncated by recovery.
    #[error("write-ahead log {file} corrupt at byte {offset}: {reason}")]
    CorruptWal {
        /// The segment file holding the damaged log record.
        file: PathBuf,
        /// Byte offset of the damaged record in that file.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A record read through the index fails its checksum or is malformed.
    #[error("segment {file}: checksum mismatch at byte {offset} (expected {expected:#010x}, found {found:#010x})")]
    ChecksumMismatch {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// The checksum stored in the record.
        expected: u32,
        /// The checksum computed over the bytes read.
        found: u32,
    },
    /// A segment file is malformed (bad header, record out of bounds, missing seal).
    #[error("segment {file} corrupt at byte {offset}: {reason}")]
    CorruptSegment {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// The hash index is malformed (or full). The index is derived data: reopening
    /// rebuilds it from the segments.
    #[error("index file {file} corrupt: {reason}")]
    CorruptIndex {
        /// The index file.
        file: PathBuf,
        /// What was wrong.
        reason: &'static str,
    },
    /// The shared state file `ziggy.shm` is malformed (wrong size, not initialised while
    /// processes are attached, a word no writer could have stored). It is derived data:
    /// once every process has closed the database, the next open rebuilds it.
    #[error("shared state {file} corrupt: {reason}")]
    CorruptShm {
        /// The shared-state file.
        file: PathBuf,
        /// What was wrong.
        reason: &'static str,
    },
    /// A collection (list, set, sorted set, hash) is damaged: its metadata is malformed, or
    /// one of its pages is missing or malformed although its record passed its checksum.
    /// `ziggy repair` drops damaged collections and reports them.
    #[error("collection corrupt: {reason}")]
    CorruptCollection {
        /// What was wrong.
        reason: &'static str,
    },
    /// `MANIFEST` is not a ZiggyDB manifest (another program's file of that name) or is
    /// damaged. Nothing in the directory was changed; `ziggy repair` rebuilds a damaged
    /// database from its segment files.
    #[error("manifest {file}: {reason}")]
    CorruptManifest {
        /// The manifest file.
        file: PathBuf,
        /// What was wrong.
        reason: &'static str,
    },
    /// The directory holds segment or index files of a ZiggyDB database but no `MANIFEST`:
    /// the manifest was lost, and the segments may hold data, so the open refuses rather
    /// than create a new, empty database over them. Nothing in the directory was changed.
    #[error(
        "manifest missing in {dir}, whose segment files may hold data; nothing was changed: \
         `ziggy -d {dir} repair` rebuilds the database from its segment files"
    )]
    ManifestMissing {
        /// The database directory.
        dir: PathBuf,
    },
    /// The directory exists, holds files, and is not a ZiggyDB database: a database is
    /// created only in a missing or empty directory. Nothing in the directory was changed.
    #[error("not a ZiggyDB database directory: {dir} holds other files")]
    NotADatabase {
        /// The directory.
        dir: PathBuf,
    },
    /// The database path (or one of its parents) exists and is not a directory.
    #[error("{path} is not a directory")]
    NotADirectory {
        /// The path that is not a directory.
        path: PathBuf,
    },
    /// A file was written by another version of the format (format-spec.md §15), or
    /// `ziggy.shm` is in use by a process of a build with another shared-state layout.
    #[error(
        "{file} has format version {found}, this build supports version {supported}{}",
        version_hint(file, *found, *supported)
    )]
    IncompatibleVersion {
        /// The file whose header was read.
        file: PathBuf,
        /// Version found in the file.
        found: u16,
        /// Highest version this build reads.
        supported: u16,
    },
    /// The key holds a value of another type (Redis `WRONGTYPE`).
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value (key holds {actual}, not {expected})")]
    WrongType {
        /// The type the operation needs.
        expected: ValueType,
        /// The type stored.
        actual: ValueType,
    },
    /// The value is not an integer or is out of range (Redis `INCR` on a non-number).
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// The value is not a valid float.
    #[error("value is not a valid float")]
    NotAFloat,
    /// An arithmetic operation would overflow (Redis `INCR` past `i64::MAX`).
    #[error("increment or decrement would overflow")]
    Overflow,
    /// A JSON value failed validation.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A lock could not be taken within the configured timeout.
    #[error(
        "database at {path} is busy: {} for longer than the timeout{}",
        busy_reason(lock, holder.as_deref()),
        holder.as_ref().map(|h| format!(" (held by {h})")).unwrap_or_default()
    )]
    Busy {
        /// The database directory.
        path: PathBuf,
        /// The lock file waited for: `ziggy.lock` (held while the first process to open the
        /// database sets up its shared state, and by a repair), `ziggy.shm` (held by a
        /// process that looks at a shared state it cannot attach to), `writer.lock` (the writer), `compact.lock` (a compaction) or `sync.lock`
        /// (an fsync of the log).
        lock: &'static str,
        /// Who holds the lock, when the system says: a process id with its name and, if it
        /// is stopped or a zombie, that state (a stopped holder keeps the lock until it is
        /// continued or killed).
        holder: Option<String>,
    },
    /// A maintenance operation that needs the database to itself (repair) found it open,
    /// in another process or in this one.
    #[error(
        "database at {path} is open; repair needs every process that uses it to close it first"
    )]
    InUse {
        /// The database directory.
        path: PathBuf,
    },
    /// An earlier write or fsync failed; this handle refuses further writes.
    #[error("an earlier write failed to reach disk; reopen the database")]
    Poisoned,
    /// A key is longer than the format allows.
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// Length of the key given.
        len: usize,
        /// Largest key accepted.
        max: usize,
    },
    /// A value (or a whole transaction) is larger than one segment can hold.
    #[error("value or transaction of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// Encoded size given.
        len: usize,
        /// Largest size accepted.
        max: usize,
    },
    /// The key does not exist (Redis `LSET` on a missing key).
    #[error("no such key")]
    NoSuchKey,
    /// An index is outside the list (Redis `LSET`).
    #[error("index out of range")]
    IndexOutOfRange,
    /// A line of an import file is malformed ([`crate::Db::import`]); nothing was written.
    #[error("import file line {line}: {reason}")]
    BadImportLine {
        /// The line's number, from 1.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A write (a command, a transaction, a compaction, an expiry pass) on a database opened
    /// with [`crate::OpenOptions::read_only`].
    #[error("database opened read-only")]
    ReadOnly,
    /// The file system holding the database is mounted read-only (EROFS), so it cannot be
    /// opened for writing.
    #[error("{path} is on a read-only file system; open the database read-only (`ziggy --read-only`, `OpenOptions::read_only`)")]
    ReadOnlyFileSystem {
        /// The file or directory that could not be written.
        path: PathBuf,
    },
    /// A read-only open found a database that a read-write open would first have to recover:
    /// its index was not closed cleanly (a process or the machine stopped while it was open),
    /// or is missing or damaged (format-spec.md §6.4).
    #[error("the database at {path} needs recovery ({reason}); open it once read-write or run `ziggy repair`")]
    NeedsRecovery {
        /// The database directory.
        path: PathBuf,
        /// What a read-only open cannot adopt.
        reason: &'static str,
    },
    /// A read-only open found processes attached read-write (format-spec.md §6.4).
    #[error("the database at {path} is open read-write ({holders}); a read-only open needs every read-write process to close it first")]
    OpenReadWrite {
        /// The database directory.
        path: PathBuf,
        /// Who has it open, as far as the shared state tells ("process 123, process 456").
        holders: String,
    },
    /// A name in the database directory is a symbolic link. Every file of a database is
    /// opened without following links, so a link planted there cannot make the engine read,
    /// write, truncate or lock a file elsewhere.
    #[error(
        "{path} is a symbolic link; ZiggyDB does not follow links inside a database directory"
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A name in the database directory is not a regular file of its own: a directory, a
    /// FIFO, a device, a socket, or (for `ziggy.shm` and the lock files) a file with other
    /// names (hard links), which the engine must not write or resize.
    #[error("{path} is {what}, not a regular file; ZiggyDB keeps only regular files of its own in a database directory")]
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// [`crate::OpenOptions::mode`] asked for a file mode other than the one the existing
    /// database has (the permission bits of its `MANIFEST`).
    #[error("database at {path} has file mode {found:04o}, not the {requested:04o} asked for; open it without a mode, or change the mode of its files and directory with chmod")]
    ModeMismatch {
        /// The database directory.
        path: PathBuf,
        /// The database's mode.
        found: u32,
        /// The mode asked for.
        requested: u32,
    },
    /// A value stored in the database is malformed (an unknown type tag, a payload that does
    /// not decode as its type), though its record passed its checksum: damage, or a file
    /// written by something other than ZiggyDB.
    #[error("stored value is corrupt: {reason}")]
    CorruptValue {
        /// What was wrong.
        reason: String,
    },
    /// A second [`crate::OpenOptions::open`] of a directory this process has open asked for
    /// other options than the open handle has: handles on one directory in one process
    /// share one state, so they cannot differ. Open with the same options, or use a clone of
    /// the first handle.
    #[error("database at {path} is already open in this process with another {option}; handles on one directory share their options")]
    OptionsMismatch {
        /// The database directory.
        path: PathBuf,
        /// The option that differs.
        option: &'static str,
    },
    /// The handle was opened by another process, of which this one is a `fork()`: its locks
    /// and shared-state slot are the parent's, and using them would corrupt the parent's
    /// view. Open the database again in the child (the open attaches afresh).
    #[error("database handle opened in process {opened_in} used in forked process {now}; open the database again in the child")]
    Forked {
        /// The process that opened the handle.
        opened_in: u32,
        /// This process.
        now: u32,
    },
    /// A write transaction was begun (or a write such as [`crate::Db::set`] run on its own)
    /// inside [`crate::Db::transaction`]'s closure on the same database: it would wait for
    /// the writer lock its own transaction holds. Use the closure's transaction.
    #[error("a write transaction on {path} is already open in this transaction's closure; write through the closure's transaction")]
    TxnActive {
        /// The database directory.
        path: PathBuf,
    },
    /// A subscriber read too slowly: publishers overwrote messages in the fixed-size Pub/Sub
    /// ring (format-spec.md §5.4) before it read them. Its subscriptions have ended, as Redis
    /// disconnects a subscriber past its output buffer limit; subscribe again to go on.
    #[error("subscriber fell {behind} bytes behind the publishers, more than the {ring}-byte Pub/Sub ring holds: messages were lost and its subscriptions ended")]
    SubscriberOverrun {
        /// Bytes of ring published since the subscriber's next unread message.
        behind: u64,
        /// Bytes of messages the ring holds.
        ring: u64,
    },
    /// A read view ([`Db::read_view`](crate::Db::read_view)) was kept open while more slot
    /// changes were committed than the undo ring of `ziggy.views` holds (format-spec.md
    /// §8.2): the older versions it needs may be gone. Open a new view.
    #[error("read view of txn {txn} is too old: more than {limit} index changes were committed since it began; open a new view")]
    SnapshotTooOld {
        /// The txn the view reads at.
        txn: u64,
        /// Index changes (keys written or deleted) the undo ring holds.
        limit: u64,
    },
    /// An argument is invalid (e.g. a zero segment size).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Memory for something sized by the input or by a file could not be allocated (a
    /// `ulimit -v`, an overcommit limit): the operation is refused, the process goes on.
    #[error("cannot allocate {bytes} bytes")]
    OutOfMemory {
        /// The size asked for.
        bytes: usize,
    },
}

/// What held the lock file `lock` of an [`Error::Busy`], whose holder is described as `holder`.
fn busy_reason(lock: &str, holder: Option<&str>) -> &'static str {
    // The writer lock held by a process that says it rebuilds the index (format-spec.md
    // §10.4): a reader waits for it too, and no writer is involved.
    if lock == "writer.lock" && holder.is_some_and(|h| h.contains("rebuilding its shared state")) {
        return "the index was being rebuilt after a restart (writer.lock)";
    }
    match lock {
        "ziggy.lock" => "another process was opening or repairing the database (ziggy.lock)",
        "ziggy.shm" => "another process attaching held the shared state (ziggy.shm)",
        "compact.lock" => "a compaction held the lock (compact.lock)",
        "sync.lock" => "another process syncing the log held the lock (sync.lock)",
        _ => "another writer held the lock (writer.lock)",
    }
}

/// Allocates a copy of `bytes` without aborting the process when memory is short.
///
/// # Errors
/// [`Error::OutOfMemory`].
pub(crate) fn try_copy(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut v = try_with_capacity(bytes.len())?;
    v.extend_from_slice(bytes);
    Ok(v)
}

/// An empty `Vec` with room for exactly `bytes` bytes, or [`Error::OutOfMemory`].
pub(crate) fn try_with_capacity(bytes: usize) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(bytes)
        .map_err(|_| Error::OutOfMemory { bytes })?;
    Ok(v)
}

/// An empty vector with room for `n` elements, or [`Error::OutOfMemory`] where that room
/// cannot be had: for vectors whose length comes from the input (a transaction's records).
pub(crate) fn try_vec<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory {
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    })?;
    Ok(v)
}

/// `err` and its causes, as one line: "I/O error on PATH: Input/output error (os error 5)".
pub(crate) fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What to do about an [`Error::IncompatibleVersion`].
fn version_hint(file: &std::path::Path, found: u16, supported: u16) -> &'static str {
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    match (name.as_ref(), found < supported) {
        ("ziggy.shm", _) => {
            ": a process of another ZiggyDB build has the database open; close it, or use \
             that build"
        }
        (n, false) if n.ends_with(".zdx") => {
            ": the index was written by a newer ZiggyDB; use that build (an index file is \
             derived data: without it this build rebuilds the index from the segments)"
        }
        (_, true) => {
            ": the database was written by an older ZiggyDB; EXPORT it with that build and \
             IMPORT the file into a new database with this one"
        }
        (_, false) => ": the database was written by a newer ZiggyDB; use that build",
    }
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an `io::Error` with the path it concerns; ENOSPC/EDQUOT become [`Error::DiskFull`].
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::DiskFull { path },
            _ if source.kind() == std::io::ErrorKind::StorageFull => Error::DiskFull { path },
            Some(libc::EROFS) => Error::ReadOnlyFileSystem { path },
            _ if source.kind() == std::io::ErrorKind::PermissionDenied => {
                Error::PermissionDenied { path }
            }
            _ => Error::Io { path, source },
        }
    }
}

/// The stable numeric code of every [`Error`], for a C ABI and language bindings (the table
/// in README's "Errors" section). A code and its name never change meaning; new errors get new
/// codes. Codes 0 (`OK`) and 1 (`NOTFOUND`, a missing key) are statuses of the C ABI, never
/// an `Error`. The codes are grouped: 10–19 the system, 20–39 damaged files, 40–59 opening a
/// directory, 60–79 locks and handles, 80–99 arguments and limits, 100–119 a value's type
/// or contents (Redis's errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum ErrorCode {
    /// An I/O call failed. ([`Error::Io`])
    Io = 10,
    /// The operating system refused access. ([`Error::PermissionDenied`])
    PermissionDenied = 11,
    /// The file system is full. ([`Error::DiskFull`])
    DiskFull = 12,
    /// A compaction has no room for its smallest step. ([`Error::CompactNeedsSpace`])
    CompactNeedsSpace = 13,
    /// The file system is mounted read-only. ([`Error::ReadOnlyFileSystem`])
    ReadOnlyFileSystem = 14,
    /// Memory could not be allocated. ([`Error::OutOfMemory`])
    OutOfMemory = 15,
    /// A log record before the end of the log is damaged. ([`Error::CorruptWal`])
    CorruptWal = 20,
    /// A record fails its checksum. ([`Error::ChecksumMismatch`])
    ChecksumMismatch = 21,
    /// A segment file is malformed. ([`Error::CorruptSegment`])
    CorruptSegment = 22,
    /// The hash index is malformed. ([`Error::CorruptIndex`])
    CorruptIndex = 23,
    /// `MANIFEST` is malformed. ([`Error::CorruptManifest`])
    CorruptManifest = 24,
    /// The shared state `ziggy.shm` is malformed. ([`Error::CorruptShm`])
    CorruptShm = 25,
    /// A collection's metadata or pages are damaged. ([`Error::CorruptCollection`])
    CorruptCollection = 26,
    /// A stored value does not decode as its type. ([`Error::CorruptValue`])
    CorruptValue = 27,
    /// Segment files without a `MANIFEST`. ([`Error::ManifestMissing`])
    ManifestMissing = 28,
    /// A read-only open found a database that needs recovery. ([`Error::NeedsRecovery`])
    NeedsRecovery = 29,
    /// The directory holds other files. ([`Error::NotADatabase`])
    NotADatabase = 40,
    /// The path is not a directory. ([`Error::NotADirectory`])
    NotADirectory = 41,
    /// A file of another format version. ([`Error::IncompatibleVersion`])
    IncompatibleVersion = 42,
    /// A symbolic link in the database directory. ([`Error::Symlink`])
    Symlink = 43,
    /// A name in the database directory is not a regular file of its own. ([`Error::NotRegularFile`])
    NotRegularFile = 44,
    /// The database has another file mode than the one asked for. ([`Error::ModeMismatch`])
    ModeMismatch = 45,
    /// The directory is open in this process with other options. ([`Error::OptionsMismatch`])
    OptionsMismatch = 46,
    /// A read-only open found read-write processes. ([`Error::OpenReadWrite`])
    OpenReadWrite = 47,
    /// A repair found the database open. ([`Error::InUse`])
    InUse = 48,
    /// A lock was not granted within the timeout. ([`Error::Busy`])
    Busy = 60,
    /// An earlier write failed; the handle refuses writes. ([`Error::Poisoned`])
    Poisoned = 61,
    /// A write on a read-only handle. ([`Error::ReadOnly`])
    ReadOnly = 62,
    /// A handle used in a forked child of the process that opened it. ([`Error::Forked`])
    Forked = 63,
    /// A second write transaction inside a transaction's closure. ([`Error::TxnActive`])
    TxnActive = 64,
    /// A subscriber fell further behind than the Pub/Sub ring holds. ([`Error::SubscriberOverrun`])
    SubscriberOverrun = 65,
    /// A read view outlived the undo ring. ([`Error::SnapshotTooOld`])
    SnapshotTooOld = 66,
    /// An argument is invalid. ([`Error::InvalidArgument`])
    InvalidArgument = 80,
    /// A key is longer than the format allows. ([`Error::KeyTooLarge`])
    KeyTooLarge = 81,
    /// A value or transaction does not fit in a segment. ([`Error::ValueTooLarge`])
    ValueTooLarge = 82,
    /// A line of an import file is malformed. ([`Error::BadImportLine`])
    BadImportLine = 83,
    /// The key holds a value of another type. ([`Error::WrongType`])
    WrongType = 100,
    /// The value is not an integer or is out of range. ([`Error::NotAnInteger`])
    NotAnInteger = 101,
    /// The value is not a valid float. ([`Error::NotAFloat`])
    NotAFloat = 102,
    /// An arithmetic operation would overflow. ([`Error::Overflow`])
    Overflow = 103,
    /// A JSON value failed validation. ([`Error::InvalidJson`])
    InvalidJson = 104,
    /// The key does not exist (Redis `LSET`). ([`Error::NoSuchKey`])
    NoSuchKey = 105,
    /// An index is outside the list. ([`Error::IndexOutOfRange`])
    IndexOutOfRange = 106,
}

impl ErrorCode {
    /// Every code, in the order of the table.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Io,
        ErrorCode::PermissionDenied,
        ErrorCode::DiskFull,
        ErrorCode::CompactNeedsSpace,
        ErrorCode::ReadOnlyFileSystem,
        ErrorCode::OutOfMemory,
        ErrorCode::CorruptWal,
        ErrorCode::ChecksumMismatch,
        ErrorCode::CorruptSegment,
        ErrorCode::CorruptIndex,
        ErrorCode::CorruptManifest,
        ErrorCode::CorruptShm,
        ErrorCode::CorruptCollection,
        ErrorCode::CorruptValue,
        ErrorCode::ManifestMissing,
        ErrorCode::NeedsRecovery,
        ErrorCode::NotADatabase,
        ErrorCode::NotADirectory,
        ErrorCode::IncompatibleVersion,
        ErrorCode::Symlink,
        ErrorCode::NotRegularFile,
        ErrorCode::ModeMismatch,
        ErrorCode::OptionsMismatch,
        ErrorCode::OpenReadWrite,
        ErrorCode::InUse,
        ErrorCode::Busy,
        ErrorCode::Poisoned,
        ErrorCode::ReadOnly,
        ErrorCode::Forked,
        ErrorCode::TxnActive,
        ErrorCode::SubscriberOverrun,
        ErrorCode::SnapshotTooOld,
        ErrorCode::InvalidArgument,
        ErrorCode::KeyTooLarge,
        ErrorCode::ValueTooLarge,
        ErrorCode::BadImportLine,
        ErrorCode::WrongType,
        ErrorCode::NotAnInteger,
        ErrorCode::NotAFloat,
        ErrorCode::Overflow,
        ErrorCode::InvalidJson,
        ErrorCode::NoSuchKey,
        ErrorCode::IndexOutOfRange,
    ];

    /// The number (stable across releases).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ziggydb::ErrorCode::WrongType.code(), 100);
    /// ```
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The name, upper snake case (stable across releases; the C ABI's constant is
    /// `ZIGGY_` followed by it).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ziggydb::ErrorCode::WrongType.name(), "WRONG_TYPE");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Io => "IO",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::DiskFull => "DISK_FULL",
            ErrorCode::CompactNeedsSpace => "COMPACT_NEEDS_SPACE",
            ErrorCode::ReadOnlyFileSystem => "READ_ONLY_FILE_SYSTEM",
            ErrorCode::OutOfMemory => "OUT_OF_MEMORY",
            ErrorCode::CorruptWal => "CORRUPT_WAL",
            ErrorCode::ChecksumMismatch => "CHECKSUM_MISMATCH",
            ErrorCode::CorruptSegment => "CORRUPT_SEGMENT",
            ErrorCode::CorruptIndex => "CORRUPT_INDEX",
            ErrorCode::CorruptManifest => "CORRUPT_MANIFEST",
            ErrorCode::CorruptShm => "CORRUPT_SHM",
            ErrorCode::CorruptCollection => "CORRUPT_COLLECTION",
            ErrorCode::CorruptValue => "CORRUPT_VALUE",
            ErrorCode::ManifestMissing => "MANIFEST_MISSING",
            ErrorCode::NeedsRecovery => "NEEDS_RECOVERY",
            ErrorCode::NotADatabase => "NOT_A_DATABASE",
            ErrorCode::NotADirectory => "NOT_A_DIRECTORY",
            ErrorCode::IncompatibleVersion => "INCOMPATIBLE_VERSION",
            ErrorCode::Symlink => "SYMLINK",
            ErrorCode::NotRegularFile => "NOT_REGULAR_FILE",
            ErrorCode::ModeMismatch => "MODE_MISMATCH",
            ErrorCode::OptionsMismatch => "OPTIONS_MISMATCH",
            ErrorCode::OpenReadWrite => "OPEN_READ_WRITE",
            ErrorCode::InUse => "IN_USE",
            ErrorCode::Busy => "BUSY",
            ErrorCode::Poisoned => "POISONED",
            ErrorCode::ReadOnly => "READ_ONLY",
            ErrorCode::Forked => "FORKED",
            ErrorCode::TxnActive => "TXN_ACTIVE",
            ErrorCode::SubscriberOverrun => "SUBSCRIBER_OVERRUN",
            ErrorCode::SnapshotTooOld => "SNAPSHOT_TOO_OLD",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::KeyTooLarge => "KEY_TOO_LARGE",
            ErrorCode::ValueTooLarge => "VALUE_TOO_LARGE",
            ErrorCode::BadImportLine => "BAD_IMPORT_LINE",
            ErrorCode::WrongType => "WRONG_TYPE",
            ErrorCode::NotAnInteger => "NOT_AN_INTEGER",
            ErrorCode::NotAFloat => "NOT_A_FLOAT",
            ErrorCode::Overflow => "OVERFLOW",
            ErrorCode::InvalidJson => "INVALID_JSON",
            ErrorCode::NoSuchKey => "NO_SUCH_KEY",
            ErrorCode::IndexOutOfRange => "INDEX_OUT_OF_RANGE",
        }
    }

    /// The code with number `code`, if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::ErrorCode;
    /// assert_eq!(ErrorCode::from_code(60), Some(ErrorCode::Busy));
    /// assert_eq!(ErrorCode::from_code(1), None); // NOTFOUND is a status, not an error
    /// ```
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }
}

impl Error {
    /// The kind of this error, with its stable code and name.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::{Error, ErrorCode};
    /// assert_eq!(Error::Overflow.kind(), ErrorCode::Overflow);
    /// ```
    pub fn kind(&self) -> ErrorCode {
        match self {
            Error::Io { .. } => ErrorCode::Io,
            Error::PermissionDenied { .. } => ErrorCode::PermissionDenied,
            Error::DiskFull { .. } => ErrorCode::DiskFull,
            Error::CompactNeedsSpace { .. } => ErrorCode::CompactNeedsSpace,
            Error::ReadOnlyFileSystem { .. } => ErrorCode::ReadOnlyFileSystem,
            Error::OutOfMemory { .. } => ErrorCode::OutOfMemory,
            Error::CorruptWal { .. } => ErrorCode::CorruptWal,
            Error::ChecksumMismatch { .. } => ErrorCode::ChecksumMismatch,
            Error::CorruptSegment { .. } => ErrorCode::CorruptSegment,
            Error::CorruptIndex { .. } => ErrorCode::CorruptIndex,
            Error::CorruptManifest { .. } => ErrorCode::CorruptManifest,
            Error::CorruptShm { .. } => ErrorCode::CorruptShm,
            Error::CorruptCollection { .. } => ErrorCode::CorruptCollection,
            Error::CorruptValue { .. } => ErrorCode::CorruptValue,
            Error::ManifestMissing { .. } => ErrorCode::ManifestMissing,
            Error::NeedsRecovery { .. } => ErrorCode::NeedsRecovery,
            Error::NotADatabase { .. } => ErrorCode::NotADatabase,
            Error::NotADirectory { .. } => ErrorCode::NotADirectory,
            Error::IncompatibleVersion { .. } => ErrorCode::IncompatibleVersion,
            Error::Symlink { .. } => ErrorCode::Symlink,
            Error::NotRegularFile { .. } => ErrorCode::NotRegularFile,
            Error::ModeMismatch { .. } => ErrorCode::ModeMismatch,
            Error::OptionsMismatch { .. } => ErrorCode::OptionsMismatch,
            Error::OpenReadWrite { .. } => ErrorCode::OpenReadWrite,
            Error::InUse { .. } => ErrorCode::InUse,
            Error::Busy { .. } => ErrorCode::Busy,
            Error::Poisoned => ErrorCode::Poisoned,
            Error::ReadOnly => ErrorCode::ReadOnly,
            Error::Forked { .. } => ErrorCode::Forked,
            Error::TxnActive { .. } => ErrorCode::TxnActive,
            Error::SubscriberOverrun { .. } => ErrorCode::SubscriberOverrun,
            Error::SnapshotTooOld { .. } => ErrorCode::SnapshotTooOld,
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::KeyTooLarge { .. } => ErrorCode::KeyTooLarge,
            Error::ValueTooLarge { .. } => ErrorCode::ValueTooLarge,
            Error::BadImportLine { .. } => ErrorCode::BadImportLine,
            Error::WrongType { .. } => ErrorCode::WrongType,
            Error::NotAnInteger => ErrorCode::NotAnInteger,
            Error::NotAFloat => ErrorCode::NotAFloat,
            Error::Overflow => ErrorCode::Overflow,
            Error::InvalidJson(_) => ErrorCode::InvalidJson,
            Error::NoSuchKey => ErrorCode::NoSuchKey,
            Error::IndexOutOfRange => ErrorCode::IndexOutOfRange,
        }
    }

    /// The stable numeric code of this error (see [`ErrorCode`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ziggydb::Error::Poisoned.code(), 61);
    /// ```
    pub fn code(&self) -> i32 {
        self.kind().code()
    }

    /// The stable name of this error (see [`ErrorCode::name`]).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ziggydb::Error::NotAnInteger.name(), "NOT_AN_INTEGER");
    /// ```
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }
}
