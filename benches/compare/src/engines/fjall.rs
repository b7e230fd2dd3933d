//! fjall (an LSM tree). Durable commits are write batches with `PersistMode::SyncAll`; load
//! batches are left in the journal's buffer until `Database::persist(SyncAll)`. Compaction is
//! a memtable flush followed by a major compaction.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{counter_value, Engine, Pair, Reader, Res};
use crate::common::KEY_LEN;

/// Block cache, the same as SQLite's page cache here.
const CACHE: u64 = 256 << 20;

pub struct Fjall {
    db: Database,
    ks: Keyspace,
}

impl Fjall {
    pub fn open(dir: &Path) -> Res<Self> {
        let db = Database::builder(dir).cache_size(CACHE).open()?;
        let ks = db.keyspace("kv", KeyspaceCreateOptions::default)?;
        Ok(Self { db, ks })
    }

    fn mode(durable: bool) -> Option<PersistMode> {
        durable.then_some(PersistMode::SyncAll)
    }
}

impl Engine for Fjall {
    fn write(&self, pairs: &[Pair], durable: bool) -> Res<()> {
        let mut b = self.db.batch().durability(Self::mode(durable));
        for (k, v) in pairs {
            b.insert(&self.ks, k.as_slice(), v.as_slice());
        }
        b.commit()?;
        Ok(())
    }

    fn remove(&self, keys: &[[u8; KEY_LEN]], durable: bool) -> Res<()> {
        let mut b = self.db.batch().durability(Self::mode(durable));
        for k in keys {
            b.remove(&self.ks, k.as_slice());
        }
        b.commit()?;
        Ok(())
    }

    fn sync(&self) -> Res<()> {
        Ok(self.db.persist(PersistMode::SyncAll)?)
    }

    fn reader(&self) -> Res<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader { ks: &self.ks }))
    }

    fn compact(&mut self) -> Res<bool> {
        self.ks.rotate_memtable_and_wait()?;
        self.ks.major_compact()?;
        Ok(true)
    }

    /// Single process only (fjall locks its directory), so a read then a durable write is a
    /// read-modify-write transaction.
    fn increment(&self, key: &[u8]) -> Res<u64> {
        let n = counter_value(self.ks.get(key)?.as_deref())? + 1;
        let mut b = self.db.batch().durability(Some(PersistMode::SyncAll));
        b.insert(&self.ks, key, n.to_le_bytes().as_slice());
        b.commit()?;
        Ok(n)
    }

    fn counter(&self, key: &[u8]) -> Res<u64> {
        counter_value(self.ks.get(key)?.as_deref())
    }
}

struct FjallReader<'a> {
    ks: &'a Keyspace,
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.ks.get(key)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Res<Option<usize>> {
        let mut bytes = 0;
        for guard in self.ks.range(start..).take(n) {
            let (k, v) = guard.into_inner()?;
            bytes += k.len() + v.len();
        }
        Ok(Some(bytes))
    }
}
