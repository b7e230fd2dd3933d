//! `WriteTxn`: a write transaction holding the writer lock (format-spec.md §9).

use crate::error::Result;
use crate::value::Value;

/// A write transaction. Holds the database's writer lock (across processes) until it is
/// committed, rolled back or dropped (dropping rolls back). Reads inside see the
/// transaction's own writes.
pub struct WriteTxn {
    pub(crate) _p: (),
}

impl WriteTxn {
    /// Reads `key`, seeing this transaction's writes.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        let _ = key;
        todo!()
    }
    /// Whether `key` exists, seeing this transaction's writes.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    pub fn exists(&self, key: &[u8]) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }
    /// Sets `key` (no expiry).
    ///
    /// # Errors
    /// [`crate::Error::KeyTooLarge`], [`crate::Error::ValueTooLarge`], [`crate::Error::InvalidJson`].
    pub fn set(&mut self, key: &[u8], value: impl Into<Value>) -> Result<()> {
        self.set_with_expiry(key, value, None)
    }
    /// Sets `key`, expiring at `expires_at_ms` (Unix ms) if given.
    ///
    /// # Errors
    /// As [`WriteTxn::set`].
    pub fn set_with_expiry(&mut self, key: &[u8], value: impl Into<Value>, expires_at_ms: Option<u64>) -> Result<()> {
        let _ = (key, value.into(), expires_at_ms);
        todo!()
    }
    /// Deletes `key`; true if it existed.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        let _ = key;
        todo!()
    }
    /// Adds `delta` to the integer at `key` (absent = 0) and returns the new value.
    ///
    /// # Errors
    /// [`crate::Error::NotAnInteger`], [`crate::Error::Overflow`].
    pub fn incr_by(&mut self, key: &[u8], delta: i64) -> Result<i64> {
        let cur = match self.get(key)? {
            None => 0,
            Some(v) => v.as_int()?,
        };
        let n = cur.checked_add(delta).ok_or(crate::Error::Overflow)?;
        self.set(key, n)?;
        Ok(n)
    }
    /// Commits: appends the transaction to the log, publishes it to every process, and (in
    /// [`crate::Durability::Immediate`]) waits until it is on stable storage.
    ///
    /// # Errors
    /// [`crate::Error::DiskFull`] (nothing is published; the database stays usable),
    /// [`crate::Error::Poisoned`], I/O errors.
    pub fn commit(self) -> Result<()> {
        todo!()
    }
    /// Discards the transaction's writes and releases the writer lock.
    pub fn rollback(self) {}
}
