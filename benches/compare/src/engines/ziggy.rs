//! ZiggyDB. Durability is chosen per handle, not per commit, and a second `Db::open` of the
//! same directory in one process returns the first handle with its options, so the harness
//! opens a `Batched` handle to load and an `Immediate` one (after closing the first) for
//! everything durable.

use std::path::Path;
use std::time::Duration;

use ziggydb::{Db, Durability, Value};

use super::{Engine, Mode, Pair, Reader, Res};
use crate::common::KEY_LEN;

pub struct Ziggy {
    db: Db,
}

impl Ziggy {
    pub fn open(dir: &Path, mode: Mode) -> Res<Self> {
        let durability = match mode {
            Mode::Load | Mode::LoadOneTxn => Durability::Batched {
                max_delay: Duration::from_millis(50),
            },
            Mode::Durable => Durability::Immediate,
        };
        // The default segment size for every phase: a transaction longer than a segment
        // (the one-transaction load's 99 MB) goes to a large segment of its own.
        let opts = Db::options().durability(durability);
        Ok(Self {
            db: opts.open(dir)?,
        })
    }
}

impl Engine for Ziggy {
    fn write(&self, pairs: &[Pair], _durable: bool) -> Res<()> {
        self.db.transaction(|tx| {
            for (k, v) in pairs {
                tx.set(k, v.as_slice())?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn remove(&self, keys: &[[u8; KEY_LEN]], _durable: bool) -> Res<()> {
        self.db.transaction(|tx| {
            for k in keys {
                tx.delete(k)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn sync(&self) -> Res<()> {
        Ok(self.db.sync()?)
    }

    fn reader(&self) -> Res<Box<dyn Reader + '_>> {
        Ok(Box::new(ZiggyReader { db: &self.db }))
    }

    fn compact(&mut self) -> Res<bool> {
        self.db.compact()?;
        Ok(true)
    }

    fn increment(&self, key: &[u8]) -> Res<u64> {
        let n = self.db.transaction(|tx| {
            let n = match tx.get(key)? {
                Some(v) => v.as_int()? + 1,
                None => 1,
            };
            tx.set(key, Value::Int(n))?;
            Ok(n)
        })?;
        Ok(u64::try_from(n)?)
    }

    fn counter(&self, key: &[u8]) -> Res<u64> {
        match self.db.get_value(key)? {
            Some(v) => Ok(u64::try_from(v.as_int()?)?),
            None => Ok(0),
        }
    }
}

struct ZiggyReader<'a> {
    db: &'a Db,
}

impl Reader for ZiggyReader<'_> {
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    /// The index is a hash table: there is no ordered range read, only `SCAN`, which reads
    /// every key per page.
    fn range(&mut self, _start: &[u8], _n: usize) -> Res<Option<usize>> {
        Ok(None)
    }
}
