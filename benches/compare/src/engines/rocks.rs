//! RocksDB (feature `rocksdb`). Durable commits are write batches with `sync = true`; load
//! batches are written to the WAL without a sync until `flush_wal(true)`. Compaction is a
//! memtable flush followed by a full-range compaction.

use std::path::Path;

use rocksdb::{Options, WriteBatch, WriteOptions, DB};

use super::{counter_value, Engine, Pair, Reader, Res};
use crate::common::KEY_LEN;

pub struct Rocks {
    db: DB,
}

impl Rocks {
    pub fn open(dir: &Path) -> Res<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let mut cache = rocksdb::BlockBasedOptions::default();
        cache.set_block_cache(&rocksdb::Cache::new_lru_cache(256 << 20));
        opts.set_block_based_table_factory(&cache);
        Ok(Self {
            db: DB::open(&opts, dir)?,
        })
    }

    fn opts(durable: bool) -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(durable);
        w
    }
}

impl Engine for Rocks {
    fn write(&self, pairs: &[Pair], durable: bool) -> Res<()> {
        let mut b = WriteBatch::default();
        for (k, v) in pairs {
            b.put(k, v);
        }
        self.db.write_opt(b, &Self::opts(durable))?;
        Ok(())
    }

    fn remove(&self, keys: &[[u8; KEY_LEN]], durable: bool) -> Res<()> {
        let mut b = WriteBatch::default();
        for k in keys {
            b.delete(k);
        }
        self.db.write_opt(b, &Self::opts(durable))?;
        Ok(())
    }

    fn sync(&self) -> Res<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    fn reader(&self) -> Res<Box<dyn Reader + '_>> {
        Ok(Box::new(RocksReader { db: &self.db }))
    }

    fn compact(&mut self) -> Res<bool> {
        self.db.flush()?;
        self.db.compact_range::<&[u8], &[u8]>(None, None);
        Ok(true)
    }

    /// Single process only (RocksDB locks its directory), so a read then a durable write is
    /// a read-modify-write transaction.
    fn increment(&self, key: &[u8]) -> Res<u64> {
        let n = counter_value(self.db.get_pinned(key)?.as_deref())? + 1;
        self.db.put_opt(key, n.to_le_bytes(), &Self::opts(true))?;
        Ok(n)
    }

    fn counter(&self, key: &[u8]) -> Res<u64> {
        counter_value(self.db.get_pinned(key)?.as_deref())
    }
}

struct RocksReader<'a> {
    db: &'a DB,
}

impl Reader for RocksReader<'_> {
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get_pinned(key)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Res<Option<usize>> {
        let mode = rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward);
        let mut bytes = 0;
        for item in self.db.iterator(mode).take(n) {
            let (k, v) = item?;
            bytes += k.len() + v.len();
        }
        Ok(Some(bytes))
    }
}
