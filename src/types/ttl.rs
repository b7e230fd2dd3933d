//! Expiry commands: `EXPIRE`, `PEXPIRE`, `EXPIREAT`, `PEXPIREAT` (with `NX`/`XX`/`GT`/`LT`),
//! `PERSIST`, `TTL`, `PTTL`, `EXPIRETIME` and `PEXPIRETIME`.
//!
//! An expiry is an absolute Unix time in milliseconds stored in the key's record
//! (format-spec.md §3.2). A key whose time has passed reads as absent at once in every
//! process (the read path compares it with the clock), and the active expiry pass deletes it
//! through the log ([`crate::OpenOptions::active_expiry`], [`Db::expire_now`]). Setting an
//! expiry that is already past deletes the key at once, as Redis does.

use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::engine::now_ms;
use crate::error::Result;
use crate::types::read::{Expiry, Read};

impl Db {
    /// Whether `key` exists and when it expires (Redis `PEXPIRETIME`; `TTL`/`PTTL` through
    /// [`Expiry::ttl`]); [`Read::expire_time`].
    ///
    /// # Errors
    /// As [`Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Expiry;
    /// db.set(b"k", "v")?;
    /// assert_eq!(db.expire_time(b"k")?, Expiry::Persistent);
    /// db.transaction(|tx| tx.expire_at(b"k", 4_000_000_000_000))?;
    /// assert_eq!(db.expire_time(b"k")?, Expiry::At(4_000_000_000_000));
    /// assert_eq!(db.expire_time(b"missing")?, Expiry::Missing);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn expire_time(&self, key: impl AsRef<[u8]>) -> Result<Expiry> {
        Read::expire_time(self, key)
    }
}

impl WriteTxn {
    /// Whether `key` exists and when it expires, seeing this transaction's writes;
    /// [`Read::expire_time`].
    ///
    /// # Errors
    /// As [`WriteTxn::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Expiry;
    /// db.transaction(|tx| {
    ///     tx.set_with_expiry(b"k", "v", Some(4_000_000_000_000))?;
    ///     assert_eq!(tx.expire_time(b"k")?, Expiry::At(4_000_000_000_000));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn expire_time(&self, key: impl AsRef<[u8]>) -> Result<Expiry> {
        Read::expire_time(self, key)
    }

    /// Makes `key` expire at `unix_ms` (Redis `PEXPIREAT`; `EXPIRE`, `PEXPIRE` and
    /// `EXPIREAT` convert to it); a time already past deletes the key. Returns false if the
    /// key does not exist.
    ///
    /// # Errors
    /// As [`WriteTxn::get`] and [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// db.transaction(|tx| {
    ///     assert!(tx.expire_at(b"k", 4_000_000_000_000)?);
    ///     assert!(!tx.expire_at(b"missing", 4_000_000_000_000)?);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.expiry(b"k")?, Some(4_000_000_000_000));
    /// db.transaction(|tx| tx.expire_at(b"k", 1))?; // a time past deletes the key
    /// assert!(!db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// let t = 4_000_000_000_000;
    /// db.transaction(|tx| {
    ///     assert!(!tx.expire_at_if(b"k", t, |cur| cur.is_some())?); // XX: it has none
    ///     assert!(tx.expire_at_if(b"k", t, |cur| cur.is_none())?); // NX
    ///     assert!(!tx.expire_at_if(b"k", t + 1, |cur| cur.is_none())?);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.expiry(b"k")?, Some(t));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn expire_at_if(
        &mut self,
        key: &[u8],
        unix_ms: u64,
        condition: impl FnOnce(Option<u64>) -> bool,
    ) -> Result<bool> {
        let current = match self.expire_time(key)? {
            Expiry::Missing => return Ok(false),
            Expiry::Persistent => None,
            Expiry::At(at) => Some(at),
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
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_with_expiry(b"k", "v", Some(4_000_000_000_000)))?;
    /// db.transaction(|tx| {
    ///     assert!(tx.persist(b"k")?);
    ///     assert!(!tx.persist(b"k")?); // no longer has one
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.expiry(b"k")?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn persist(&mut self, key: &[u8]) -> Result<bool> {
        match self.expire_time(key)? {
            Expiry::At(_) => self.set_expiry(key, None),
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::time::Duration;

    #[test]
    fn expire_persist_and_conditions() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::options().active_expiry(None).open(dir.path())?;
        db.set(b"k", "v")?;
        assert_eq!(db.expire_time(b"k")?, Expiry::Persistent);
        assert_eq!(db.expire_time(b"nope")?, Expiry::Missing);
        let later = now_ms() + 100_000;
        // GT never applies to a key without expiry; LT always does.
        assert!(!db.transaction(|tx| tx.expire_at_if(b"k", later, |c| c.is_some()))?);
        assert!(db.transaction(|tx| tx.expire_at(b"k", later))?);
        assert_eq!(db.expire_time(b"k")?, Expiry::At(later));
        let ttl = db.expire_time(b"k")?.ttl().expect("a time to live");
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
