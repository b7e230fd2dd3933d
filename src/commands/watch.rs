//! `WATCH`'s bookkeeping: the keys a session watches, and whether any was written before
//! its `EXEC`.
//!
//! `WATCH` notes each key's version ([`Db::key_version`]: the id of the transaction that
//! last wrote it, in any process) and a mark of the log taken just before. `EXEC` takes the
//! writer lock first and then compares the versions: while it holds the lock no process can
//! commit, so if none changed, none changes before its own commit. A key that was absent
//! when watched and is absent again may have been created and deleted in between: the log
//! written since the mark tells (`Db::key_written_since`), and when it can no longer tell
//! (compacted, or too long to read), the key counts as changed.

use crate::{Db, Result};

/// The keys one session watches.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    /// Each key with its version when it was watched (`None`: absent) and the log mark
    /// taken just before.
    keys: Vec<(Key, Option<u64>, u64)>,
}

/// A watched key: its database, its name there, and where it was stored when watched
/// (`(internal, key)`, format-spec.md §4.5). A `SWAPDB` that moves the database elsewhere
/// counts as a change of the key, as in Redis.
#[derive(Debug)]
struct Key {
    db: u32,
    name: Vec<u8>,
    stored: (bool, Vec<u8>),
}

impl Watched {
    /// True if no key is watched.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Forgets every watched key (`UNWATCH`, and after `EXEC` or `DISCARD`).
    pub(crate) fn clear(&mut self) {
        self.keys.clear();
    }

    /// Watches `keys` (a key watched already keeps its first version).
    ///
    /// # Errors
    /// As [`Db::key_version`].
    pub(crate) fn add(&mut self, db: &Db, index: u32, keys: &[&[u8]]) -> Result<()> {
        // The mark comes first: a write after it is either in the version read below or
        // in the log after the mark.
        let mark = db.log_mark();
        for key in keys {
            if self
                .keys
                .iter()
                .any(|(k, _, _)| k.db == index && k.name == *key)
            {
                continue;
            }
            let stored = db.stored_key(index, key)?;
            let version = db.stored_key_version(stored.0, &stored.1)?;
            let name = key.to_vec();
            self.keys.push((
                Key {
                    db: index,
                    name,
                    stored,
                },
                version,
                mark,
            ));
        }
        Ok(())
    }

    /// True if no watched key was written since it was watched. The caller holds the
    /// writer lock (an open write transaction), so the answer holds until it commits.
    ///
    /// # Errors
    /// As [`Db::key_version`].
    pub(crate) fn unchanged(&self, db: &Db) -> Result<bool> {
        for (key, version, mark) in &self.keys {
            let (internal, stored) = &key.stored;
            if db.stored_key(key.db, &key.name)? != key.stored {
                return Ok(false);
            }
            let now = db.stored_key_version(*internal, stored)?;
            if now != *version {
                return Ok(false);
            }
            // Absent then and now: written (created and deleted) in between?
            if now.is_none() && db.key_written_since(stored, *internal, *mark) != Some(false) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Result<(tempfile::TempDir, Db)> {
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
        let db = Db::open(dir.path().join("db"))?;
        Ok((dir, db))
    }

    #[test]
    fn a_write_to_a_watched_key_is_seen_and_others_are_not() -> Result<()> {
        let (_dir, db) = db()?;
        db.set(b"a", 1i64)?;
        let mut w = Watched::default();
        assert!(w.is_empty());
        w.add(&db, 0, &[b"a", b"absent"])?;
        assert!(!w.is_empty());
        db.set(b"other", 1i64)?;
        assert!(w.unchanged(&db)?);
        db.set(b"a", 2i64)?;
        assert!(!w.unchanged(&db)?);
        w.clear();
        assert!(w.is_empty() && w.unchanged(&db)?);
        Ok(())
    }

    #[test]
    fn an_absent_key_created_and_deleted_meanwhile_counts_as_changed() -> Result<()> {
        let (_dir, db) = db()?;
        let mut w = Watched::default();
        w.add(&db, 0, &[b"k"])?;
        db.set(b"k", 1i64)?;
        db.delete(b"k")?;
        assert!(!w.unchanged(&db)?);
        // Watched again after that, the key is unchanged.
        w.clear();
        w.add(&db, 0, &[b"k"])?;
        assert!(w.unchanged(&db)?);
        Ok(())
    }
}
