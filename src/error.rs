//! The one public error type of the crate.

use std::path::PathBuf;

use crate::value::ValueType;

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
    /// The hash index or the shared state is malformed. The index is derived data:
    /// reopening rebuilds it from the segments.
    #[error("index file {file} corrupt: {reason}")]
    CorruptIndex {
        /// The index or shared-state file.
        file: PathBuf,
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
        busy_reason(lock),
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

/// What held the lock file `lock` of an [`Error::Busy`].
fn busy_reason(lock: &str) -> &'static str {
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
