//! redb, in its default mode (the file is locked by one process) or with
//! `ConcurrencyMode::MultiWriter` (any number of processes, one write transaction at a time).
//! Load commits use `Durability::None` where the mode allows it; the final `sync` is an
//! `Immediate` commit, which makes every earlier commit durable.

use std::path::Path;

use redb::{
    ConcurrencyMode, Database, Durability, ReadableDatabase, ReadableTable, TableDefinition,
    WriteTransaction,
};

use super::{counter_value, Engine, Pair, Reader, Res};
use crate::common::KEY_LEN;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

pub struct Redb {
    db: Database,
    multi_writer: bool,
}

impl Redb {
    pub fn open(dir: &Path, multi_writer: bool) -> Res<Self> {
        let mut builder = Database::builder();
        if multi_writer {
            builder.set_concurrency_mode(ConcurrencyMode::MultiWriter);
        }
        let db = builder.create(dir.join("data.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(TABLE)?;
        tx.commit()?;
        Ok(Self { db, multi_writer })
    }

    fn begin(&self, durable: bool) -> Res<WriteTransaction> {
        let mut tx = self.db.begin_write()?;
        if !durable && !self.multi_writer {
            tx.set_durability(Durability::None)?;
        }
        Ok(tx)
    }
}

impl Engine for Redb {
    fn write(&self, pairs: &[Pair], durable: bool) -> Res<()> {
        let tx = self.begin(durable)?;
        {
            let mut t = tx.open_table(TABLE)?;
            for (k, v) in pairs {
                t.insert(k.as_slice(), v.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn remove(&self, keys: &[[u8; KEY_LEN]], durable: bool) -> Res<()> {
        let tx = self.begin(durable)?;
        {
            let mut t = tx.open_table(TABLE)?;
            for k in keys {
                t.remove(k.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn sync(&self) -> Res<()> {
        self.db.begin_write()?.commit()?;
        Ok(())
    }

    fn reader(&self) -> Res<Box<dyn Reader + '_>> {
        Ok(Box::new(RedbReader { db: &self.db }))
    }

    /// `Database::compact` until it reports nothing more to do.
    fn compact(&mut self) -> Res<bool> {
        for _ in 0..16 {
            if !self.db.compact()? {
                break;
            }
        }
        Ok(true)
    }

    fn increment(&self, key: &[u8]) -> Res<u64> {
        let tx = self.db.begin_write()?;
        let n = {
            let mut t = tx.open_table(TABLE)?;
            let n = counter_value(t.get(key)?.as_ref().map(|g| g.value()))? + 1;
            t.insert(key, n.to_le_bytes().as_slice())?;
            n
        };
        tx.commit()?;
        Ok(n)
    }

    fn counter(&self, key: &[u8]) -> Res<u64> {
        let t = self.db.begin_read()?.open_table(TABLE)?;
        counter_value(t.get(key)?.as_ref().map(|g| g.value()))
    }
}

struct RedbReader<'a> {
    db: &'a Database,
}

impl Reader for RedbReader<'_> {
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>> {
        let t = self.db.begin_read()?.open_table(TABLE)?;
        Ok(t.get(key)?.map(|v| v.value().len()))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Res<Option<usize>> {
        let t = self.db.begin_read()?.open_table(TABLE)?;
        let mut bytes = 0;
        for item in t.range(start..)?.take(n) {
            let (k, v) = item?;
            bytes += k.value().len() + v.value().len();
        }
        Ok(Some(bytes))
    }
}
