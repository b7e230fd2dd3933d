//! sled. Writes go to its log without an fsync; a durable commit is followed by
//! `Db::flush`, which fsyncs. It has no explicit compaction.

use std::path::Path;

use sled::transaction::ConflictableTransactionError;

use super::{counter_value, Engine, Pair, Reader, Res};
use crate::common::KEY_LEN;

pub struct Sled {
    db: sled::Db,
}

impl Sled {
    pub fn open(dir: &Path) -> Res<Self> {
        Ok(Self {
            db: sled::Config::new().path(dir).open()?,
        })
    }
}

impl Engine for Sled {
    fn write(&self, pairs: &[Pair], durable: bool) -> Res<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in pairs {
            batch.insert(k.as_slice(), v.as_slice());
        }
        self.db.apply_batch(batch)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    fn remove(&self, keys: &[[u8; KEY_LEN]], durable: bool) -> Res<()> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k.as_slice());
        }
        self.db.apply_batch(batch)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    fn sync(&self) -> Res<()> {
        self.db.flush()?;
        Ok(())
    }

    fn reader(&self) -> Res<Box<dyn Reader + '_>> {
        Ok(Box::new(SledReader { db: &self.db }))
    }

    fn compact(&mut self) -> Res<bool> {
        Ok(false)
    }

    fn increment(&self, key: &[u8]) -> Res<u64> {
        let n = self.db.transaction(|tx| {
            let n = counter_value(tx.get(key)?.as_deref())
                .map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?
                + 1;
            tx.insert(key, n.to_le_bytes().as_slice())?;
            Ok(n)
        });
        let n = n.map_err(|e| format!("sled transaction: {e:?}"))?;
        self.db.flush()?;
        Ok(n)
    }

    fn counter(&self, key: &[u8]) -> Res<u64> {
        counter_value(self.db.get(key)?.as_deref())
    }
}

struct SledReader<'a> {
    db: &'a sled::Db,
}

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Res<Option<usize>> {
        let mut bytes = 0;
        for item in self.db.range(start..).take(n) {
            let (k, v) = item?;
            bytes += k.len() + v.len();
        }
        Ok(Some(bytes))
    }
}
