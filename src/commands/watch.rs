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
    keys: Vec<(Vec<u8>, Option<u64>, u64)>,
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
    pub(crate) fn add(&mut self, db: &Db, keys: &[&[u8]]) -> Result<()> {
        // The mark comes first: a write after it is either in the version read below or
        // in the log after the mark.
        let mark = db.log_mark();
        for key in keys {
            if self.keys.iter().any(|(k, _, _)| k == key) {
                continue;
            }
            let version = db.key_version(key)?;
            self.keys.push((key.to_vec(), version, mark));
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
            let now = db.key_version(key)?;
            if now != *version {
                return Ok(false);
            }
            // Absent then and now: written (created and deleted) in between?
            if now.is_none() && db.key_written_since(key, *mark) != Some(false) {
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
        w.add(&db, &[b"a", b"absent"])?;
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
        w.add(&db, &[b"k"])?;
        db.set(b"k", 1i64)?;
        db.delete(b"k")?;
        assert!(!w.unchanged(&db)?);
        // Watched again after that, the key is unchanged.
        w.clear();
        w.add(&db, &[b"k"])?;
        assert!(w.unchanged(&db)?);
        Ok(())
    }
}
