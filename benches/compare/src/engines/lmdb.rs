//! LMDB through heed. The map is sized far beyond the data (it is sparse); commits are
//! durable (no `NO_SYNC`) unless a load asks otherwise, in which case `NO_SYNC` is set for
//! that commit only and [`Engine::sync`] forces the data file to disk.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use heed::types::Bytes;
use heed::{CommitOrAbort, CompactionOption, Database, Env, EnvFlags, EnvOpenOptions, FlagSetMode};

use super::{counter_value, Engine, Pair, Reader, Res};
use crate::common::KEY_LEN;

const MAP_SIZE: usize = 64 << 30;

pub struct Lmdb {
    dir: PathBuf,
    /// `None` only while [`Engine::compact`] swaps the data file.
    env: Option<Env>,
    db: Database<'static, Bytes, Bytes>,
}

impl Lmdb {
    pub fn open(dir: &Path) -> Res<Self> {
        let (env, db) = Self::open_env(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            env: Some(env),
            db,
        })
    }

    fn open_env(dir: &Path) -> Res<(Env, Database<'static, Bytes, Bytes>)> {
        // SAFETY (heed's contract for `open`): the environment is opened once per process
        // (heed refuses a second open) and the files are not truncated by anyone else.
        let env = unsafe {
            EnvOpenOptions::new()
                .map_size(MAP_SIZE)
                .max_readers(256)
                .open(dir)?
        };
        let wtxn = env.write_txn()?;
        let db = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> heed::Result<_> {
                Ok(CommitOrAbort::<_, ()>::Commit(
                    opener.create_database::<Bytes, Bytes>(wtxn, None)?,
                ))
            })?
            .unwrap_commit();
        Ok((env, db))
    }

    fn env(&self) -> &Env {
        self.env.as_ref().expect("the environment is open")
    }

    fn set_no_sync(&self, on: bool) -> Res<()> {
        let mode = if on {
            FlagSetMode::Enable
        } else {
            FlagSetMode::Disable
        };
        // SAFETY: only this process's environment handle changes; data written with
        // NO_SYNC is made durable by `sync` before anything relies on it.
        unsafe { self.env().set_flags(EnvFlags::NO_SYNC, mode)? };
        Ok(())
    }

    fn commit_with(&self, durable: bool, f: impl FnOnce(&mut heed::RwTxn) -> Res<()>) -> Res<()> {
        let mut wtxn = self.env().write_txn()?;
        f(&mut wtxn)?;
        if durable {
            wtxn.commit()?;
        } else {
            self.set_no_sync(true)?;
            let r = wtxn.commit();
            self.set_no_sync(false)?;
            r?;
        }
        Ok(())
    }
}

impl Engine for Lmdb {
    fn write(&self, pairs: &[Pair], durable: bool) -> Res<()> {
        self.commit_with(durable, |w| {
            for (k, v) in pairs {
                self.db.put(w, k, v)?;
            }
            Ok(())
        })
    }

    fn remove(&self, keys: &[[u8; KEY_LEN]], durable: bool) -> Res<()> {
        self.commit_with(durable, |w| {
            for k in keys {
                self.db.delete(w, k)?;
            }
            Ok(())
        })
    }

    fn sync(&self) -> Res<()> {
        Ok(self.env().force_sync()?)
    }

    fn reader(&self) -> Res<Box<dyn Reader + '_>> {
        Ok(Box::new(LmdbReader { e: self }))
    }

    /// A compacting copy (`mdb_env_copy2` with `MDB_CP_COMPACT`) replaces the data file.
    fn compact(&mut self) -> Res<bool> {
        let copy = self.dir.join("compacted.mdb");
        let _ = std::fs::remove_file(&copy);
        self.env().copy_to_path(&copy, CompactionOption::Enabled)?;
        if let Some(env) = self.env.take() {
            env.prepare_for_closing().wait();
        }
        std::fs::rename(&copy, self.dir.join("data.mdb"))?;
        let (env, db) = Self::open_env(&self.dir)?;
        self.env = Some(env);
        self.db = db;
        Ok(true)
    }

    fn increment(&self, key: &[u8]) -> Res<u64> {
        let mut wtxn = self.env().write_txn()?;
        let n = counter_value(self.db.get(&wtxn, key)?)? + 1;
        self.db.put(&mut wtxn, key, &n.to_le_bytes())?;
        wtxn.commit()?;
        Ok(n)
    }

    fn counter(&self, key: &[u8]) -> Res<u64> {
        let rtxn = self.env().read_txn()?;
        counter_value(self.db.get(&rtxn, key)?)
    }
}

struct LmdbReader<'a> {
    e: &'a Lmdb,
}

impl Reader for LmdbReader<'_> {
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>> {
        let rtxn = self.e.env().read_txn()?;
        Ok(self.e.db.get(&rtxn, key)?.map(<[u8]>::len))
    }

    fn range(&mut self, start: &[u8], n: usize) -> Res<Option<usize>> {
        let rtxn = self.e.env().read_txn()?;
        let mut bytes = 0;
        for item in self
            .e
            .db
            .range(&rtxn, &(Bound::Included(start), Bound::Unbounded))?
            .take(n)
        {
            let (k, v) = item?;
            bytes += k.len() + v.len();
        }
        Ok(Some(bytes))
    }
}
