//! Expiry commands: `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` (with `NX`/`XX`/`GT`/`LT`),
//! `PERSIST`, `TTL`, `PTTL`, `EXPIRETIME` and `PEXPIRETIME`.
//!
//! An expiry is an absolute Unix time in milliseconds stored in the key's record
//! (format-spec.md §3.2). A key whose time has passed reads as absent at once in every
//! process (the read path compares it with the clock), and the active expiry pass deletes it
//! through the log ([`crate::OpenOptions::active_expiry`], [`Db::expire_now`]). Setting an
//! expiry that is already past deletes the key at once, as Redis does.

use std::time::Duration;

use crate::db::Db;
use crate::engine::now_ms;
use crate::error::Result;
use crate::txn::WriteTxn;
use crate::types::committed_meta;

/// The time left until `at` (Unix ms), zero once it has passed.
fn remaining(at: u64) -> Duration {
    Duration::from_millis(at.saturating_sub(now_ms()))
}

impl Db {
    /// The expiry time of `key` (Redis `PEXPIRETIME`, and `EXPIRETIME` in seconds): `None`
    /// if the key does not exist (Redis -2), `Some(None)` if it has no expiry (-1), else
    /// `Some(Some(unix_ms))`. One lookup, so existence and expiry belong together.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn expire_time(&self, key: &[u8]) -> Result<Option<Option<u64>>> {
        Ok(committed_meta(self, key)?.map(|(_, at)| (at != 0).then_some(at)))
    }

    /// The time to live of `key` (Redis `PTTL`, and `TTL` in seconds): `None` if the key
    /// does not exist, `Some(None)` if it has no expiry, else the time left.
    ///
    /// # Errors
    /// As [`Db::get`].
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Option<Duration>>> {
        Ok(self.expire_time(key)?.map(|at| at.map(remaining)))
    }
}

impl WriteTxn {
    /// The expiry time of `key`, seeing this transaction's writes; see [`Db::expire_time`].
    ///
    /// # Errors
    /// As [`WriteTxn::get`].
    pub fn expire_time(&self, key: &[u8]) -> Result<Option<Option<u64>>> {
        if !self.exists(key)? {
            return Ok(None);
        }
        Ok(Some(self.expiry(key)?))
    }

    /// The time to live of `key`, seeing this transaction's writes; see [`Db::ttl`].
    ///
    /// # Errors
    /// As [`WriteTxn::get`].
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Option<Duration>>> {
        Ok(self.expire_time(key)?.map(|at| at.map(remaining)))
    }

    /// Makes `key` expire at `unix_ms` (Redis `PEXPIREAT`; `EXPIRE`, `PEXPIRE` and
    /// `EXPIREAT` convert to it); a time already past deletes the key. Returns false if the
    /// key does not exist.
    ///
    /// # Errors
    /// As [`WriteTxn::get`] and [`WriteTxn::set`].
    pub fn expire_at(&mut self, key: &[u8], unix_ms: u64) -> Result<bool> {
        self.expire_at_if(key, unix_ms, |_| true)
    }

    /// As [`WriteTxn::expire_at`], if `condition` holds for the key's current expiry
    /// (`None`: it has none). Redis's options are such conditions: `NX` is
    /// `|cur| cur.is_none()`, `XX` is `|cur| cur.is_some()`, `GT` is
    /// `|cur| cur.is_some_and(|c| unix_ms > c)` and `LT` is `|cur| cur.is_none_or(|c| unix_ms
    /// < c)` (no expiry counts as infinite). Returns whether it set the expiry (or deleted
    /// the key).
    ///
    /// # Errors
    /// As [`WriteTxn::expire_at`].
    pub fn expire_at_if(
        &mut self,
        key: &[u8],
        unix_ms: u64,
        condition: impl FnOnce(Option<u64>) -> bool,
    ) -> Result<bool> {
        let Some(current) = self.expire_time(key)? else {
            return Ok(false);
        };
        if !condition(current) {
            return Ok(false);
        }
        if unix_ms <= now_ms() {
            self.delete(key)?;
            Ok(true)
        } else {
            self.set_expiry(key, Some(unix_ms))
        }
    }

    /// Removes the time to live of `key` (Redis `PERSIST`); returns true if it had one.
    ///
    /// # Errors
    /// As [`WriteTxn::expire_at`].
    pub fn persist(&mut self, key: &[u8]) -> Result<bool> {
        match self.expire_time(key)? {
            Some(Some(_)) => self.set_expiry(key, None),
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn expire_persist_and_conditions() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::options().active_expiry(None).open(dir.path())?;
        db.set(b"k", "v")?;
        assert_eq!(db.expire_time(b"k")?, Some(None));
        assert_eq!(db.expire_time(b"nope")?, None);
        let later = now_ms() + 100_000;
        // GT never applies to a key without expiry; LT always does.
        assert!(!db.transaction(|tx| tx.expire_at_if(b"k", later, |c| c.is_some()))?);
        assert!(db.transaction(|tx| tx.expire_at(b"k", later))?);
        assert_eq!(db.expire_time(b"k")?, Some(Some(later)));
        let ttl = db.ttl(b"k")?.flatten().expect("a time to live");
        assert!(ttl <= Duration::from_millis(100_000) && ttl > Duration::from_millis(90_000));
        assert!(db.transaction(|tx| tx.persist(b"k"))?);
        assert!(!db.transaction(|tx| tx.persist(b"k"))?);
        assert_eq!(db.get_value(b"k")?, Some("v".into()));
        assert!(db.transaction(|tx| tx.expire_at(b"k", 1))?);
        assert!(!db.exists(b"k")?);
        assert!(!db.transaction(|tx| tx.expire_at(b"k", later))?);
        Ok(())
    }
}
