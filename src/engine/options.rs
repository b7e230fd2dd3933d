//! How a database is opened: [`OpenOptions`](crate::OpenOptions) and [`Durability`](crate::Durability). The engine reads them; the
//! handle's `open` (in `crate::db`) takes them.

use std::time::Duration;

/// When a commit reaches stable storage; see
/// [Durability and recovery](crate#durability-and-recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `commit()` returns after the commit is fsynced (shared with concurrent committers in
    /// every process).
    #[default]
    Immediate,
    /// `commit()` returns once the commit is visible to every process; a background thread
    /// fsyncs at most `max_delay` later. A process crash loses nothing; an OS crash or power
    /// loss may lose commits acknowledged in the last `max_delay`.
    Batched {
        /// Upper bound on the time between acknowledgement and fsync.
        max_delay: Duration,
    },
}

/// Databases unless [`OpenOptions::databases`] says otherwise, as Redis's `databases 16`
/// (format-spec.md §4.5).
pub(crate) const DEFAULT_DATABASES: u32 = 16;
/// The most databases an open may ask for (Redis's own bound is `INT_MAX`; this one keeps
/// the database map record small).
pub(crate) const MAX_DATABASES: u32 = 1 << 16;

/// Options for [`Db::open`](crate::Db::open)-ing a database; the builder pattern.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub(crate) durability: Durability,
    pub(crate) lock_timeout: Option<Duration>,
    pub(crate) segment_size: u64,
    pub(crate) auto_compact: bool,
    pub(crate) compact_min_dead_ratio: f64,
    pub(crate) compact_min_bytes: u64,
    pub(crate) active_expiry: Option<Duration>,
    pub(crate) read_only: bool,
    pub(crate) mode: Option<u32>,
    pub(crate) databases: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Immediate,
            lock_timeout: Some(Duration::from_secs(10)),
            segment_size: 64 << 20,
            auto_compact: true,
            compact_min_dead_ratio: 0.5,
            compact_min_bytes: 16 << 20,
            active_expiry: Some(Duration::from_millis(100)),
            read_only: false,
            mode: None,
            databases: DEFAULT_DATABASES,
        }
    }
}

impl OpenOptions {
    /// Default options.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::OpenOptions::new().open(dir.path().join("db"))?;
    /// assert!(db.is_empty());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }
    /// The first option in which `self` (asked for by a second open) differs from `open`
    /// (the options the directory is already open with in this process); the mode is
    /// checked on its own ([`crate::Error::ModeMismatch`]).
    pub(crate) fn difference(&self, open: &OpenOptions) -> Option<&'static str> {
        if self.durability != open.durability {
            Some("durability")
        } else if self.lock_timeout != open.lock_timeout {
            Some("lock_timeout")
        } else if self.segment_size != open.segment_size {
            Some("segment_size")
        } else if self.auto_compact != open.auto_compact
            || self.compact_min_dead_ratio.to_bits() != open.compact_min_dead_ratio.to_bits()
            || self.compact_min_bytes != open.compact_min_bytes
        {
            Some("auto_compact")
        } else if self.active_expiry != open.active_expiry {
            Some("active_expiry")
        } else if self.databases != open.databases {
            Some("databases")
        } else {
            None
        }
    }
    /// Durability of commits made through this handle (default [`Durability::Immediate`](crate::Durability::Immediate)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ziggydb::{Db, Durability};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::options()
    ///     .durability(Durability::Batched { max_delay: Duration::from_millis(50) })
    ///     .open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?; // visible to every process now, on disk within 50 ms
    /// db.sync()?; // or now
    /// assert!(db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// How long `begin_write` waits for the writer lock before [`crate::Error::Busy`];
    /// `None` waits forever. Default 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::options()
    ///     .lock_timeout(Some(Duration::from_secs(2)))
    ///     .open(dir.path().join("db"))?;
    /// let tx = db.begin_write()?; // waits at most 2 s for another process's writer
    /// tx.commit()?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn lock_timeout(mut self, t: Option<Duration>) -> Self {
        self.lock_timeout = t;
        self
    }
    /// Number of numbered databases (Redis's `databases`, default 16; 1 to 65,536): the
    /// indexes [`WriteTxn::select`](crate::WriteTxn::select) and `SELECT` accept are
    /// `0..n`. Keys of databases other than 0 stay on disk whatever this says; a smaller
    /// number only makes them unreachable until an open asks for more.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::OpenOptions::new().databases(4).open(dir.path().join("db"))?;
    /// assert_eq!(db.databases(), 4);
    /// assert!(db.transaction(|tx| tx.select(4)).is_err());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn databases(mut self, n: u32) -> Self {
        self.databases = n.clamp(1, MAX_DATABASES);
        self
    }
    /// Size of a segment file when a new one is created (default 64 MiB; at least 64 KiB,
    /// at most 4 GiB − 1). A value or transaction longer than a segment holds gets a large
    /// segment of its own, which grows to hold it (format-spec.md §3.3).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::options()
    ///     .segment_size(1 << 20) // 1 MiB segments
    ///     .open(dir.path().join("db"))?;
    /// db.set(b"big", vec![0u8; 2 << 20])?; // in a large segment of its own
    /// db.set(b"small", vec![0u8; 1000])?;
    /// assert_eq!(db.get(b"big")?.map(|v| v.len()), Some(2 << 20));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }
    /// Compact automatically, in a background thread woken by the commit that passes the
    /// thresholds, when dead bytes exceed `min_dead_ratio` of all record bytes and at least
    /// `min_bytes` (defaults: on, 0.5, 16 MiB). No commit waits for it.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// // Compact in the background once a quarter of the bytes (and at least 1 MiB) are dead.
    /// let db = ziggydb::Db::options()
    ///     .auto_compact(true, 0.25, 1 << 20)
    ///     .open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// assert_eq!(db.len(), 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn auto_compact(mut self, on: bool, min_dead_ratio: f64, min_bytes: u64) -> Self {
        self.auto_compact = on;
        self.compact_min_dead_ratio = min_dead_ratio;
        self.compact_min_bytes = min_bytes;
        self
    }
    /// Run an active expiry pass (Redis's sampling algorithm: 20 keys, repeated while more
    /// than a quarter had expired) in a background thread every `every`; `None` turns the
    /// thread off (expired keys still read as absent, and [`Db::expire_now`](crate::Db::expire_now) still works).
    /// Default: every 100 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// // No background expiry: expired keys are hidden from reads and deleted by expire_now().
    /// let db = ziggydb::Db::options()
    ///     .active_expiry(None)
    ///     .open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_with_expiry(b"k", "v", Some(1)))?; // expired long ago
    /// assert!(!db.exists(b"k")?);
    /// assert_eq!(db.expire_now()?, 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn active_expiry(mut self, every: Option<Duration>) -> Self {
        self.active_expiry = every;
        self
    }
    /// Opens the database read-only (default off): on a read-only mount, or as a user who
    /// may only read its files. No file is created, opened for writing or written, and no
    /// background thread runs; every write (a commit, [`Db::compact`](crate::Db::compact), [`Db::expire_now`](crate::Db::expire_now))
    /// fails with [`crate::Error::ReadOnly`]. The handle reads the database as it was when
    /// it was opened (all handles on the directory in this process share that snapshot):
    /// commits made later by read-write processes do not show. [`Db::export`](crate::Db::export) and
    /// [`Db::backup`](crate::Db::backup) write that snapshot, taking no lock.
    ///
    /// The open needs the database to have been closed cleanly and no process to have it
    /// open read-write; otherwise it fails with [`crate::Error::NeedsRecovery`] or
    /// [`crate::Error::OpenReadWrite`] (format-spec.md §6.4).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("db");
    /// {
    ///     let db = ziggydb::Db::open(&path)?;
    ///     db.set(b"k", "v")?;
    /// } // closed cleanly
    /// let ro = ziggydb::Db::options().read_only(true).open(&path)?;
    /// assert_eq!(ro.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// assert!(matches!(ro.set(b"k", "w"), Err(ziggydb::Error::ReadOnly)));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }
    /// The file mode of a new database: every file the database ever creates gets these
    /// permission bits, whatever the umask of the process creating it, and the directory
    /// (when the database creates it) gets a search bit for each read bit. `0o600` (the
    /// default): the owner alone; `0o660`: a group of users sharing the database. The
    /// bits must be read and write bits (no execute, setuid, setgid or sticky bit) and
    /// include the owner's read and write bits.
    ///
    /// The mode is kept with the database (the mode of its `MANIFEST`) and an existing
    /// database keeps it: opening one with a different mode is
    /// [`crate::Error::ModeMismatch`]; without this option an existing database opens with
    /// its own mode. To change it, `chmod` the directory and its files.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// # let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("db");
    /// let _db = ziggydb::Db::options().mode(0o660).open(&path)?; // shared with the group
    /// let manifest = std::fs::metadata(path.join("MANIFEST")).unwrap();
    /// assert_eq!(manifest.permissions().mode() & 0o777, 0o660);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
}
