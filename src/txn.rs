//! `WriteTxn`: a write transaction holding the writer lock (format-spec.md §9).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::db::Durability;
use crate::engine::{now_ms, Hit, Op, WriterGuard};
use crate::error::{Error, Result};
use crate::record::{record_len, MAX_KEY_LEN};
use crate::shm::{W_COMMIT_MICROS, W_ROLLBACKS};
use crate::value::{Value, ValueType};

/// Decodes the value of a record found by a read.
pub(crate) fn decode_hit(h: &Hit) -> Result<Value> {
    let ty = ValueType::from_tag(h.meta.vtype).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "key holds a value of unknown type tag {}",
            h.meta.vtype
        ))
    })?;
    Value::decode_payload(ty, h.meta.value(&h.map))
        .ok_or_else(|| Error::InvalidArgument(format!("stored {ty} payload is malformed")))
}

/// A write transaction. Holds the database's writer lock (across processes) until it is
/// committed, rolled back or dropped (dropping rolls back). Reads inside see the
/// transaction's own writes; no other process can commit meanwhile, so a read-modify-write
/// in a transaction never loses an update.
pub struct WriteTxn {
    guard: Option<WriterGuard>,
    ops: BTreeMap<Vec<u8>, Op>,
    started: Instant,
}

impl WriteTxn {
    pub(crate) fn new(guard: WriterGuard) -> Result<Self> {
        Ok(Self {
            guard: Some(guard),
            ops: BTreeMap::new(),
            started: Instant::now(),
        })
    }

    fn guard(&self) -> Result<&WriterGuard> {
        self.guard.as_ref().ok_or(Error::Poisoned)
    }

    /// Reads `key`, seeing this transaction's writes.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        match self.ops.get(key) {
            Some(Op::Del) => Ok(None),
            Some(Op::Put {
                vtype,
                payload,
                expires_at,
            }) => {
                if *expires_at != 0 && *expires_at <= now_ms() {
                    return Ok(None);
                }
                let ty = ValueType::from_tag(*vtype).ok_or(Error::Poisoned)?;
                Ok(Value::decode_payload(ty, payload))
            }
            None => match self.guard()?.shared().lookup(key)? {
                Some(h) => decode_hit(&h).map(Some),
                None => Ok(None),
            },
        }
    }

    /// The expiry time (Unix ms) of `key`, seeing this transaction's writes; `None` if the key
    /// is absent or does not expire (Redis `PEXPIRETIME`).
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    pub fn expiry(&self, key: &[u8]) -> Result<Option<u64>> {
        match self.ops.get(key) {
            Some(Op::Del) => Ok(None),
            Some(Op::Put { expires_at, .. }) => Ok((*expires_at != 0).then_some(*expires_at)),
            None => Ok(self
                .guard()?
                .shared()
                .lookup(key)?
                .and_then(|h| (h.meta.expires_at != 0).then_some(h.meta.expires_at))),
        }
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
    /// [`Error::KeyTooLarge`], [`Error::ValueTooLarge`], [`Error::InvalidJson`].
    pub fn set(&mut self, key: &[u8], value: impl Into<Value>) -> Result<()> {
        self.set_with_expiry(key, value, None)
    }

    /// Sets `key`, expiring at `expires_at_ms` (Unix ms) if given.
    ///
    /// # Errors
    /// As [`WriteTxn::set`].
    pub fn set_with_expiry(
        &mut self,
        key: &[u8],
        value: impl Into<Value>,
        expires_at_ms: Option<u64>,
    ) -> Result<()> {
        let value = value.into();
        if key.len() > MAX_KEY_LEN {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        if let Value::Json(text) = &value {
            Value::json(text.as_str())?;
        }
        let payload = value.encode_payload().into_owned();
        let expires_at = expires_at_ms.unwrap_or(0);
        let max = self.guard()?.shared().max_txn_bytes();
        let len = record_len(key.len(), payload.len(), expires_at != 0);
        if len > max {
            return Err(Error::ValueTooLarge { len, max });
        }
        let vtype = value.value_type().tag();
        self.ops.insert(
            key.to_vec(),
            Op::Put {
                vtype,
                payload,
                expires_at,
            },
        );
        Ok(())
    }

    /// Deletes `key`; true if it existed.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        if key.len() > MAX_KEY_LEN {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        let existed = self.exists(key)?;
        if existed || self.ops.contains_key(key) {
            self.ops.insert(key.to_vec(), Op::Del);
        }
        Ok(existed)
    }

    /// Adds `delta` to the integer at `key` (absent = 0) and returns the new value (Redis
    /// `INCRBY`). The result is stored as an int.
    ///
    /// # Errors
    /// [`Error::NotAnInteger`], [`Error::Overflow`].
    pub fn incr_by(&mut self, key: &[u8], delta: i64) -> Result<i64> {
        let cur = match self.get(key)? {
            None => 0,
            Some(v) => v.as_int()?,
        };
        let n = cur.checked_add(delta).ok_or(Error::Overflow)?;
        // Like Redis, INCR keeps the key's time to live.
        let ttl = self.expiry(key)?;
        self.set_with_expiry(key, n, ttl)?;
        Ok(n)
    }

    /// Commits: appends the transaction to the log, publishes it to every process, and (in
    /// [`Durability::Immediate`]) waits until it is on stable storage.
    ///
    /// # Errors
    /// [`Error::DiskFull`] (nothing is published; the database stays usable),
    /// [`Error::Poisoned`], I/O errors.
    pub fn commit(mut self) -> Result<()> {
        let guard = self.guard.take().ok_or(Error::Poisoned)?;
        let shared = std::sync::Arc::clone(guard.shared());
        let ops: Vec<(Vec<u8>, Op)> = std::mem::take(&mut self.ops).into_iter().collect();
        if ops.is_empty() {
            return Ok(());
        }
        let end = match shared.commit_ops(&ops) {
            Ok(end) => end,
            Err(e) => {
                shared.shm.add(W_ROLLBACKS, 1);
                return Err(e);
            }
        };
        shared
            .shm
            .add(W_COMMIT_MICROS, self.started.elapsed().as_micros() as u64);
        drop(guard);
        if shared.opts.durability == Durability::Immediate {
            shared.sync_to(end)?;
        }
        shared.maybe_compact()?;
        Ok(())
    }

    /// Discards the transaction's writes and releases the writer lock.
    pub fn rollback(mut self) {
        self.abort();
    }

    fn abort(&mut self) {
        if let Some(g) = self.guard.take() {
            g.shared().shm.add(W_ROLLBACKS, 1);
        }
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        self.abort();
    }
}
