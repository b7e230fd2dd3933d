//! Numbered databases (format-spec.md §4.5): where the keys of a database other than 0 live,
//! and the map of database numbers that `SWAPDB` swaps.
//!
//! Database 0 is the user namespace, exactly as a database without numbered databases has
//! it. Physical database `p ≥ 1` keeps its keys in the internal namespace under the prefix
//! `"db" ‖ p (u32 LE)`; the logical number a session selects is turned into a physical one
//! by the map record, so `SWAPDB` rewrites one small record, whatever the number of keys.
//! Every key goes through [`WriteTxn`](crate::WriteTxn)'s one translation
//! (`WriteTxn::key_id`), so no command knows about databases.

use crate::error::{Error, Result};

/// First bytes of every internal key of a numbered database's key; no other internal key
/// starts with them (collection pages start with `pg`).
pub(crate) const DB_PREFIX: &[u8] = b"db";
/// Bytes of a database's key prefix: [`DB_PREFIX`] and the physical number.
pub(crate) const PREFIX_LEN: usize = 6;
/// Internal key of the map of logical to physical database numbers (vtype 33).
pub(crate) const DB_MAP_KEY: &[u8] = b"database-map";
use crate::engine::options::MAX_DATABASES;

/// The key prefix of physical database `phys` (not 0, which has none).
pub(crate) fn prefix(phys: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(PREFIX_LEN);
    p.extend_from_slice(DB_PREFIX);
    p.extend_from_slice(&phys.to_le_bytes());
    p
}

/// The physical database of an internal key that belongs to a numbered database, and the
/// user's key in it; `None` for any other internal key.
pub(crate) fn split(key: &[u8]) -> Option<(u32, &[u8])> {
    if key.len() < PREFIX_LEN || !key.starts_with(DB_PREFIX) {
        return None;
    }
    let phys = u32::from_le_bytes(key[2..PREFIX_LEN].try_into().ok()?);
    Some((phys, &key[PREFIX_LEN..]))
}

/// Whether `(key, internal)` names a key of some database (0 or numbered), not an internal
/// record of the engine.
pub(crate) fn is_keyspace(key: &[u8], internal: bool) -> bool {
    !internal || split(key).is_some()
}

/// The database map: entry `i` is the physical database of logical database `i`; logical
/// databases past its end are their own physical one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DbMap(Vec<u32>);

impl DbMap {
    /// Decodes the map record's value: `u32` LE entries, a permutation of `0..n` that keeps
    /// 0 in place. Anything else is damage, reported rather than followed.
    pub(crate) fn decode(value: &[u8]) -> Result<Self> {
        let bad = || Error::InvalidArgument("the database map record is damaged".into());
        if !value.len().is_multiple_of(4) || value.len() / 4 > MAX_DATABASES as usize {
            return Err(bad());
        }
        let map: Vec<u32> = value
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut seen = vec![false; map.len()];
        for &p in &map {
            match seen.get_mut(p as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err(bad()),
            }
        }
        if map.first().is_some_and(|&p| p != 0) {
            return Err(bad());
        }
        Ok(DbMap(map))
    }

    /// The record's value; empty when the map is the identity (the record is then deleted).
    pub(crate) fn encode(&self) -> Vec<u8> {
        if self.is_identity() {
            return Vec::new();
        }
        self.0.iter().flat_map(|p| p.to_le_bytes()).collect()
    }

    pub(crate) fn is_identity(&self) -> bool {
        self.0.iter().enumerate().all(|(i, &p)| p as usize == i)
    }

    /// The physical database of logical database `logical`.
    pub(crate) fn physical(&self, logical: u32) -> u32 {
        self.0.get(logical as usize).copied().unwrap_or(logical)
    }

    /// The logical database whose keys physical database `phys` holds.
    pub(crate) fn logical(&self, phys: u32) -> u32 {
        self.0
            .iter()
            .position(|&p| p == phys)
            .map_or(phys, |i| i as u32)
    }

    /// Swaps what logical databases `a` and `b` hold.
    pub(crate) fn swap(&mut self, a: u32, b: u32) {
        let n = a.max(b) as usize + 1;
        while self.0.len() < n {
            self.0.push(self.0.len() as u32);
        }
        self.0.swap(a as usize, b as usize);
        while self
            .0
            .last()
            .is_some_and(|&p| p as usize == self.0.len() - 1)
        {
            self.0.pop();
        }
    }
}

impl crate::Db {
    /// The number of databases this open has (see
    /// [`OpenOptions::databases`](crate::OpenOptions::databases); Redis `CONFIG GET
    /// databases`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert_eq!(db.databases(), 16);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn databases(&self) -> u32 {
        self.inner.opts.databases
    }

    /// Deletes every key of database `index` (Redis `FLUSHDB` in a selected database); returns
    /// how many. Database 0 is [`Db::clear`](crate::Db::clear). As that, atomic when the
    /// deletions fit in one transaction, else in several.
    ///
    /// # Errors
    /// As [`Db::transaction`](crate::Db::transaction) and
    /// [`WriteTxn::select`](crate::WriteTxn::select).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "in 0")?;
    /// db.transaction(|tx| {
    ///     tx.select(4)?;
    ///     tx.set(b"k", "in 4")
    /// })?;
    /// assert_eq!(db.clear_database(4)?, 1);
    /// assert!(db.exists(b"k")?); // database 0 keeps its key
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn clear_database(&self, index: u32) -> Result<u64> {
        if index == 0 {
            return self.clear();
        }
        // The prefix is found in each transaction: a SWAPDB between two of them moves it.
        self.delete_prefixed(|tx| {
            let phys = tx.db_map()?.physical(tx.check_database(index)?);
            Ok(prefix(phys))
        })
    }

    /// Deletes every key of every database (Redis `FLUSHALL`); returns how many. Each
    /// database is cleared as [`crate::Db::clear_database`] clears it.
    ///
    /// # Errors
    /// As [`Db::clear`](crate::Db::clear).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// db.transaction(|tx| {
    ///     tx.select(1)?;
    ///     tx.set(b"b", "2")
    /// })?;
    /// assert_eq!(db.clear_all()?, 2);
    /// assert!(db.is_empty());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn clear_all(&self) -> Result<u64> {
        let n = self.clear()?;
        Ok(n + self.delete_prefixed(|_| Ok(DB_PREFIX.to_vec()))?)
    }

    /// Deletes the internal keys under the prefix `prefix` names (expired ones too: nothing
    /// else deletes those of numbered databases), in transactions that halve until they fit.
    fn delete_prefixed(
        &self,
        prefix: impl Fn(&mut crate::WriteTxn) -> Result<Vec<u8>>,
    ) -> Result<u64> {
        let mut batch = usize::MAX;
        let mut deleted = 0;
        loop {
            let attempt = self.transaction(|tx| {
                let p = prefix(tx)?;
                // The writer lock is held: the committed keys cannot change under us.
                let keys = self.inner.prefixed_keys(&p, true)?;
                let now = crate::engine::now_ms();
                let mut n = 0;
                let mut full = p.clone();
                for (key, at) in keys.iter().take(batch) {
                    full.truncate(p.len());
                    full.extend_from_slice(key);
                    tx.raw_del(&full, true);
                    n += u64::from(*at == 0 || *at > now);
                }
                Ok((n, keys.len() <= batch))
            });
            match attempt {
                Ok((n, done)) => {
                    deleted += n;
                    if done {
                        return Ok(deleted);
                    }
                }
                Err(Error::ValueTooLarge { .. }) if batch > 1 => {
                    batch = (batch.min(1 << 20) / 2).max(1);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `(database, keys, keys with an expiry, average milliseconds left)` of each numbered
    /// database that holds a key, by logical number (`INFO keyspace`). Reads every key of
    /// the numbered databases: O(their keys).
    pub(crate) fn numbered_keyspaces(&self) -> Result<Vec<(u32, u64, u64, u64)>> {
        let keys = self.inner.prefixed_keys(DB_PREFIX, false)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let map = match self.inner.lookup_internal(DB_MAP_KEY)? {
            Some(hit) => DbMap::decode(hit.meta.value(&hit.map))?,
            None => DbMap::default(),
        };
        let now = crate::engine::now_ms();
        let mut by_db: std::collections::BTreeMap<u32, (u64, u64, u64)> = Default::default();
        for (key, at) in keys {
            let Some(phys) = key.get(..4).and_then(|b| b.try_into().ok()) else {
                continue;
            };
            let e = by_db
                .entry(map.logical(u32::from_le_bytes(phys)))
                .or_default();
            e.0 += 1;
            if at != 0 {
                e.1 += 1;
                e.2 += at.saturating_sub(now);
            }
        }
        Ok(by_db
            .into_iter()
            .map(|(n, (keys, expires, ttl))| {
                (n, keys, expires, ttl.checked_div(expires).unwrap_or(0))
            })
            .collect())
    }

    /// Where `key` of logical database `index` is stored now, `(internal, key)`: what
    /// `WATCH` watches. Database 0's keys are where they are named.
    pub(crate) fn stored_key(&self, index: u32, key: &[u8]) -> Result<(bool, Vec<u8>)> {
        if index == 0 {
            return Ok((false, key.to_vec()));
        }
        let map = match self.inner.lookup_internal(DB_MAP_KEY)? {
            Some(hit) => DbMap::decode(hit.meta.value(&hit.map))?,
            None => DbMap::default(),
        };
        let mut k = prefix(map.physical(index));
        k.extend_from_slice(key);
        Ok((true, k))
    }

    /// As [`Db::key_version`](crate::Db::key_version) for a key named as it is stored.
    pub(crate) fn stored_key_version(&self, internal: bool, key: &[u8]) -> Result<Option<u64>> {
        if !internal {
            return self.key_version(key);
        }
        Ok(self
            .inner
            .lookup_internal(key)?
            .filter(|h| !h.expired())
            .map(|h| h.meta.txn))
    }
}

impl crate::WriteTxn {
    /// Deletes every key of every database this transaction sees (Redis `FLUSHALL` inside
    /// `MULTI`); the deletions must fit in the transaction.
    ///
    /// # Errors
    /// As [`WriteTxn::clear`](crate::WriteTxn::clear).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set(b"a", "1")?;
    ///     tx.select(1)?;
    ///     tx.set(b"b", "2")?;
    ///     tx.clear_all()?;
    ///     assert_eq!(tx.database(), 1); // still selected
    ///     assert!(tx.is_empty()?);
    ///     Ok(())
    /// })?;
    /// assert!(db.is_empty());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn clear_all(&mut self) -> Result<()> {
        let selected = self.database();
        self.select(0)?;
        self.clear()?;
        let mut stored: Vec<Vec<u8>> = self
            .shared()?
            .prefixed_keys(DB_PREFIX, true)?
            .into_iter()
            .map(|(k, _)| [DB_PREFIX, &k].concat())
            .collect();
        stored.extend(
            self.pending_keyspace_keys()
                .into_iter()
                .filter(|(internal, _)| *internal)
                .map(|(_, k)| k),
        );
        for key in stored {
            self.raw_del(&key, true);
        }
        self.select(selected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_split_back_and_other_internal_keys_are_not_databases() {
        let mut k = prefix(7);
        k.extend_from_slice(b"user");
        assert_eq!(split(&k), Some((7, &b"user"[..])));
        assert_eq!(split(b"reclaim"), None);
        assert_eq!(split(b"next-collection"), None);
        assert_eq!(split(crate::db::pages::page_key(1, 2).as_slice()), None);
        assert_eq!(split(DB_MAP_KEY), None);
        assert!(is_keyspace(b"anything", false));
        assert!(!is_keyspace(b"reclaim", true));
    }

    #[test]
    fn swaps_round_trip_and_damage_is_refused() -> Result<()> {
        let mut m = DbMap::default();
        m.swap(3, 9);
        assert_eq!((m.physical(3), m.physical(9), m.physical(4)), (9, 3, 4));
        assert_eq!((m.logical(9), m.logical(3)), (3, 9));
        let back = DbMap::decode(&m.encode())?;
        assert_eq!(back, m);
        m.swap(9, 3);
        assert!(m.is_identity());
        assert!(m.encode().is_empty());
        assert!(DbMap::decode(&[1, 0, 0]).is_err());
        // Not a permutation, or moving database 0.
        assert!(DbMap::decode(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(DbMap::decode(&[1, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(DbMap::decode(&[0, 0, 0, 0, 5, 0, 0, 0]).is_err());
        Ok(())
    }
}
