//! SQLite through rusqlite (bundled): a `WITHOUT ROWID` table in WAL mode, prepared
//! statements, a 256 MiB page cache per connection. Durable commits run with
//! `synchronous=FULL`; load commits with `synchronous=OFF`, made durable by a checkpoint with
//! `synchronous=FULL`. Each reading thread has its own connection.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{counter_value, Engine, Pair, Reader, Res};
use crate::common::KEY_LEN;

pub struct Sqlite {
    path: PathBuf,
    /// The writing connection and whether it runs with `synchronous=FULL`.
    w: Mutex<(Connection, bool)>,
}

fn connect(path: &Path) -> Res<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(60))?;
    let mode: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("SQLite refused WAL mode ({mode})").into());
    }
    c.execute_batch("PRAGMA synchronous=FULL; PRAGMA cache_size=-262144;")?;
    Ok(c)
}

impl Sqlite {
    pub fn open(dir: &Path) -> Res<Self> {
        let path = dir.join("data.sqlite");
        let c = connect(&path)?;
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
        )?;
        Ok(Self {
            path,
            w: Mutex::new((c, true)),
        })
    }

    fn in_txn(&self, durable: bool, f: impl FnOnce(&Connection) -> Res<()>) -> Res<()> {
        let mut w = self.w.lock().map_err(|_| "writer connection poisoned")?;
        if w.1 != durable {
            let sync = if durable { "FULL" } else { "OFF" };
            w.0.execute_batch(&format!("PRAGMA synchronous={sync}"))?;
            w.1 = durable;
        }
        let tx = w.0.unchecked_transaction()?;
        f(&tx)?;
        tx.commit()?;
        Ok(())
    }
}

impl Engine for Sqlite {
    fn write(&self, pairs: &[Pair], durable: bool) -> Res<()> {
        self.in_txn(durable, |c| {
            let mut st = c.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?;
            for (k, v) in pairs {
                st.execute((k.as_slice(), v.as_slice()))?;
            }
            Ok(())
        })
    }

    fn remove(&self, keys: &[[u8; KEY_LEN]], durable: bool) -> Res<()> {
        self.in_txn(durable, |c| {
            let mut st = c.prepare_cached("DELETE FROM kv WHERE k = ?1")?;
            for k in keys {
                st.execute([k.as_slice()])?;
            }
            Ok(())
        })
    }

    fn sync(&self) -> Res<()> {
        let mut w = self.w.lock().map_err(|_| "writer connection poisoned")?;
        w.0.execute_batch("PRAGMA synchronous=FULL")?;
        w.1 = true;
        w.0.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        Ok(())
    }

    fn reader(&self) -> Res<Box<dyn Reader + '_>> {
        Ok(Box::new(SqliteReader {
            c: connect(&self.path)?,
        }))
    }

    /// Checkpoints the WAL into the database file, truncates it, then `VACUUM`.
    fn compact(&mut self) -> Res<bool> {
        let w = self.w.lock().map_err(|_| "writer connection poisoned")?;
        w.0.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        w.0.execute_batch("VACUUM")?;
        w.0.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(true)
    }

    /// `BEGIN IMMEDIATE` takes the write lock before the read, as a read-modify-write must
    /// across processes.
    fn increment(&self, key: &[u8]) -> Res<u64> {
        let mut w = self.w.lock().map_err(|_| "writer connection poisoned")?;
        if !w.1 {
            w.0.execute_batch("PRAGMA synchronous=FULL")?;
            w.1 = true;
        }
        let tx =
            w.0.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let old: Option<Vec<u8>> = tx
            .prepare_cached("SELECT v FROM kv WHERE k = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        let n = counter_value(old.as_deref())? + 1;
        tx.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?
            .execute((key, n.to_le_bytes().as_slice()))?;
        tx.commit()?;
        Ok(n)
    }

    fn counter(&self, key: &[u8]) -> Res<u64> {
        let w = self.w.lock().map_err(|_| "writer connection poisoned")?;
        let v: Option<Vec<u8>> =
            w.0.prepare_cached("SELECT v FROM kv WHERE k = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()?;
        counter_value(v.as_deref())
    }
}

struct SqliteReader {
    c: Connection,
}

impl Reader for SqliteReader {
    fn get(&mut self, key: &[u8]) -> Res<Option<usize>> {
        let mut st = self.c.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
        let len = st
            .query_row([key], |r| Ok(r.get_ref(0)?.as_bytes()?.len()))
            .optional()?;
        Ok(len)
    }

    fn range(&mut self, start: &[u8], n: usize) -> Res<Option<usize>> {
        let mut st = self
            .c
            .prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
        let mut rows = st.query((start, n as i64))?;
        let mut bytes = 0;
        while let Some(row) = rows.next()? {
            bytes += row.get_ref(0)?.as_bytes()?.len() + row.get_ref(1)?.as_bytes()?.len();
        }
        Ok(Some(bytes))
    }
}
