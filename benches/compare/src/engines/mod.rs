//! One trait, one adapter per engine. Every adapter stores 24-byte keys and 150-byte values in
//! one table (or keyspace, or tree) of a database that lives in its own directory.

use std::path::Path;

mod fjall;
mod lmdb;
mod redb;
#[cfg(feature = "rocksdb")]
mod rocks;
mod sled;
mod sqlite;
mod ziggy;


/// Errors from any engine, carried as text-friendly boxes.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A key of the workload and its value.
pub type Pair = ([u8; crate::common::KEY_LEN], Vec<u8>);

/// What a handle is opened for. Engines that choose durability per commit ignore it; ZiggyDB
/// chooses it per handle (see [`ziggy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Loading: commits need not reach the disk until [`Engine::sync`].
    Load,
    /// Every commit asked to be durable is on stable storage when it returns.
    Durable,
    /// As `Load`, for a load of every key in one transaction (ZiggyDB on its default options:
    /// a transaction longer than a segment goes to a large segment of its own).
    LoadOneTxn,
}

/// The operations the comparison needs. `durable` commits are fsynced (or the engine's
/// equivalent) before the call returns; others may be lost by an OS crash until
/// [`Engine::sync`].
pub trait Engine: Send + Sync {
    /// Writes `pairs` in one transaction.
    fn write(&self, pairs: &[Pair], durable: bool) -> Res<()>;
    /// Removes `keys` in one transaction.
    fn remove(&self, keys: &[[u8; crate::common::KEY_LEN]], durable: bool) -> Res<()>;
    /// Makes every commit so far durable.
    fn sync(&self) -> Res<()>;
    /// A reader for the calling thread.
    fn reader(&self) -> Res<Box<dyn Reader + '_>>;
    /// Reclaims space; `Ok(false)` when the engine has no way to.
    fn compact(&mut self) -> Res<bool>;
    /// Adds one to the little-endian `u64` at `key` in a durable read-modify-write
    /// transaction and returns the new value.
    fn increment(&self, key: &[u8]) -> Res<u64>;
    /// The counter at `key` as [`Engine::increment`] stores it (absent = 0).
    fn counter(&self, key: &[u8]) -> Res<u64>;
}

/// Reads, each in its own read transaction (snapshot).
pub trait Reader {
    /// The length of the value at `key`, if present.
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>>;
    /// Reads up to `n` entries in key order from `start` on and returns the bytes read;
    /// `None` when the engine has no ordered range read.
    fn range(&mut self, start: &[u8], n: usize) -> Res<Option<usize>>;
}

/// The engines, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ziggy,
    Lmdb,
    Redb,
    /// redb opened with `ConcurrencyMode::MultiWriter` (multi-process phases only).
    RedbMulti,
    Sled,
    Fjall,
    Sqlite,
    Rocks,
}

impl Kind {
    /// Every engine this build knows, in table order.
    pub fn all() -> Vec<Kind> {
        let mut v = vec![
            Kind::Ziggy,
            Kind::Lmdb,
            Kind::Redb,
            Kind::RedbMulti,
            Kind::Sled,
            Kind::Fjall,
            Kind::Sqlite,
        ];
        if cfg!(feature = "rocksdb") {
            v.push(Kind::Rocks);
        }
        v
    }

    /// The short name used on the command line and between processes.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Ziggy => "ziggy",
            Kind::Lmdb => "lmdb",
            Kind::Redb => "redb",
            Kind::RedbMulti => "redb-mw",
            Kind::Sled => "sled",
            Kind::Fjall => "fjall",
            Kind::Sqlite => "sqlite",
            Kind::Rocks => "rocksdb",
        }
    }

    /// The column title in the tables.
    pub fn title(self) -> &'static str {
        match self {
            Kind::Ziggy => "ZiggyDB",
            Kind::Lmdb => "LMDB",
            Kind::Redb => "redb",
            Kind::RedbMulti => "redb MultiWriter",
            Kind::Sled => "sled",
            Kind::Fjall => "fjall",
            Kind::Sqlite => "SQLite",
            Kind::Rocks => "RocksDB",
        }
    }

    pub fn from_id(s: &str) -> Option<Kind> {
        [
            Kind::Ziggy,
            Kind::Lmdb,
            Kind::Redb,
            Kind::RedbMulti,
            Kind::Sled,
            Kind::Fjall,
            Kind::Sqlite,
            Kind::Rocks,
        ]
        .into_iter()
        .find(|k| k.id() == s)
    }

    /// Whether the single-process phases run this engine. redb's MultiWriter mode is the
    /// same file format and code as its default mode, so it is measured where it differs:
    /// with several processes.
    pub fn single_process(self) -> bool {
        self != Kind::RedbMulti
    }

    /// The directory holding this engine's database in the single-process phases, which
    /// the multi-process phases reuse (redb MultiWriter opens redb's file).
    pub fn data_dir(self, root: &Path) -> std::path::PathBuf {
        match self {
            Kind::RedbMulti => root.join(Kind::Redb.id()),
            k => root.join(k.id()),
        }
    }

    /// Opens (creating if needed) this engine's database in `dir`.
    pub fn open(self, dir: &Path, mode: Mode) -> Res<Box<dyn Engine>> {
        std::fs::create_dir_all(dir)?;
        Ok(match self {
            Kind::Ziggy => Box::new(ziggy::Ziggy::open(dir, mode)?),
            Kind::Lmdb => Box::new(lmdb::Lmdb::open(dir)?),
            Kind::Redb => Box::new(redb::Redb::open(dir, false)?),
            Kind::RedbMulti => Box::new(redb::Redb::open(dir, true)?),
            Kind::Sled => Box::new(sled::Sled::open(dir)?),
            Kind::Fjall => Box::new(fjall::Fjall::open(dir)?),
            Kind::Sqlite => Box::new(sqlite::Sqlite::open(dir)?),
            #[cfg(feature = "rocksdb")]
            Kind::Rocks => Box::new(rocks::Rocks::open(dir)?),
            #[cfg(not(feature = "rocksdb"))]
            Kind::Rocks => return Err("built without the `rocksdb` feature".into()),
        })
    }

    /// The crate and version behind each engine, for the report.
    pub fn version(self) -> &'static str {
        match self {
            Kind::Ziggy => "ziggydb (this repository)",
            Kind::Lmdb => "heed 0.23 (LMDB 0.9.x via lmdb-master-sys)",
            Kind::Redb | Kind::RedbMulti => "redb 4.6",
            Kind::Sled => "sled 0.34",
            Kind::Fjall => "fjall 3.1",
            Kind::Sqlite => "rusqlite 0.43, bundled SQLite",
            Kind::Rocks => "rocksdb 0.25",
        }
    }
}

/// Reads a counter stored as a little-endian `u64` (absent = 0).
pub fn counter_value(bytes: Option<&[u8]>) -> Res<u64> {
    match bytes {
        None => Ok(0),
        Some(b) => Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| "counter value is not 8 bytes")?,
        )),
    }
}
