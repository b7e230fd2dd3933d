//! `check`: verify every checksum and that the index agrees with the segments
//! (format-spec.md §12).

use crate::progress::{self, Task, Unit};
use std::sync::atomic::Ordering;

use crate::db::Db;
use crate::engine::Shared;
use crate::error::Result;
use crate::format::index::{self, H_USED};
use crate::format::record::KIND_PUT;
use crate::format::shm::*;

/// Result of [`Db::check`](crate::Db::check).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CheckReport {
    /// One line per problem found; empty when the database is sound.
    pub problems: Vec<String>,
    /// Records scanned.
    pub records: u64,
    /// Keys reachable through the index.
    pub keys: u64,
}

impl CheckReport {
    /// True when no problem was found.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert!(db.check()?.is_ok());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Db {
    /// Verifies every checksum and that the index and segments agree.
    ///
    /// # Errors
    /// I/O errors only; problems found are in the report.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// let report = db.check()?;
    /// assert!(report.is_ok(), "{:?}", report.problems);
    /// assert_eq!(report.keys, 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn check(&self) -> Result<CheckReport> {
        self.inner.check()
    }
}

impl Shared {
    /// Scans everything under the writer lock (so the state is stable) and reports problems.
    pub(crate) fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        // A read-only handle's state never changes (format-spec.md §6.4).
        let _g = if self.read_only {
            None
        } else {
            Some(self.writer_section(self.opts.lock_timeout)?)
        };
        let man = match self.read_manifest() {
            Ok(m) => m,
            Err(e) => {
                report.problems.push(crate::error::with_causes(&e));
                return Ok(report);
            }
        };
        for &(id, _) in &man.segments {
            if let Err(e) = self.segs.check_header(id) {
                report.problems.push(crate::error::with_causes(&e));
            }
        }
        let mut records = 0u64;
        // The active segment's file is allocated ahead of its log: count what is written.
        let log = self.shm.get(W_LOG_POS);
        let segment_bytes = man
            .segments
            .iter()
            .map(|&(id, _)| {
                if id == pos_seg(log) {
                    u64::from(pos_off(log))
                } else {
                    std::fs::metadata(self.segs.path(id)).map_or(0, |m| m.len())
                }
            })
            .sum();
        let scanned = progress::task(Task::Check, Unit::Bytes, segment_bytes, || {
            self.scan_segments(&man, None, |_, _, meta| {
                records += 1;
                progress::advance(meta.len as u64);
                Ok(())
            })
        });
        match scanned {
            Ok(end) => {
                let log = self.shm.get(W_LOG_POS);
                if pos_seg(log) != man.active {
                    report.problems.push(format!(
                        "published log position is in segment {} but the manifest's active segment is {}",
                        pos_seg(log),
                        man.active
                    ));
                } else if end.log_end != pos_off(log)
                    // Past its snapshot, a read-only handle may find the commits of read-write
                    // processes that attached since (format-spec.md §6.4).
                    && !(self.read_only && end.log_end > pos_off(log))
                {
                    report.problems.push(format!(
                        "log of segment {} ends at byte {} but {} bytes are published",
                        man.active,
                        end.log_end,
                        pos_off(log)
                    ));
                }
            }
            Err(e) => report.problems.push(crate::error::with_causes(&e)),
        }
        report.records = records;
        let idx = self.current_index()?;
        if !crate::engine::index_belongs(&idx, &man) {
            report.problems.push(format!(
                "index file {} belongs to another database (id {} in it, {} in the manifest)",
                idx.path.display(),
                idx.h(index::H_DB_ID).load(Ordering::Relaxed),
                man.db_id
            ));
        }
        let mut keys = 0u64;
        let mut slots = 0u64;
        let mut live = 0u64;
        let mut collections: Vec<(Vec<u8>, u8, Vec<u8>)> = Vec::new();
        let mut expiring = 0u64;
        let mut by_type = [0u64; TYPE_TAGS];
        for (slot, tag, loc) in idx.live_slots() {
            let seg = pos_seg(loc);
            if !man.segments.iter().any(|&(s, _)| s == seg) {
                report.problems.push(format!(
                    "index slot {slot} points into segment {seg}, which is not in the manifest"
                ));
                continue;
            }
            match self.segs.record_at(loc) {
                Ok((map, meta)) => {
                    if meta.kind != KIND_PUT {
                        report.problems.push(format!(
                            "index slot {slot} points at a record that is not a put"
                        ));
                    } else if index::tag_for(
                        index::slot_hash(index::hash_for(meta.key(&map), meta.internal)),
                        loc,
                    ) != tag
                    {
                        report.problems.push(format!(
                            "index slot {slot} holds a hash or check byte that does not match \
                             its key and position"
                        ));
                    } else {
                        slots += 1;
                        keys += u64::from(!meta.internal);
                        live += meta.len as u64;
                        if !meta.internal {
                            if crate::format::value::ValueType::from_tag(meta.vtype)
                                .is_some_and(crate::format::value::ValueType::is_collection)
                            {
                                collections.push((
                                    meta.key(&map).to_vec(),
                                    meta.vtype,
                                    meta.value(&map).to_vec(),
                                ));
                            }
                            expiring += u64::from(meta.expires_at != 0);
                            if let Some(n) = by_type.get_mut(usize::from(meta.vtype)) {
                                *n += 1;
                            }
                        } else if crate::db::dbs::split(meta.key(&map)).is_some()
                            && crate::format::value::ValueType::from_tag(meta.vtype)
                                .is_some_and(crate::format::value::ValueType::is_collection)
                        {
                            // A collection of a numbered database (§4.5): its trees too.
                            collections.push((
                                meta.key(&map).to_vec(),
                                meta.vtype,
                                meta.value(&map).to_vec(),
                            ));
                        }
                    }
                }
                Err(e) => report.problems.push(format!(
                    "index slot {slot}: {}",
                    crate::error::with_causes(&e)
                )),
            }
        }
        report.keys = keys;
        if idx.h(H_USED).load(Ordering::Relaxed) != slots || self.shm.get(W_KEYS) != keys {
            report.problems.push(format!(
                "counts disagree: {slots} records ({keys} user keys) reachable, index header says \
                 {} records, shared state says {} keys",
                idx.h(H_USED).load(Ordering::Relaxed),
                self.shm.get(W_KEYS)
            ));
        }
        // Every collection's trees: each page present and well formed, at its level, reached
        // once, with counts that add up to the collection's length.
        for (key, vtype, payload) in &collections {
            let mut read = |coll: u64, page: u64| {
                self.lookup_internal(&crate::db::pages::page_key(coll, page))
                    .ok()
                    .flatten()
                    .map(|hit| hit.meta.value(&hit.map).to_vec())
            };
            if let Err(reason) = crate::db::pages::walk_for_repair(*vtype, payload, &mut read) {
                report.problems.push(format!(
                    "collection at key {}: {reason}",
                    String::from_utf8_lossy(key)
                ));
            }
        }
        let counted: Vec<u64> = (0..TYPE_TAGS)
            .map(|t| self.shm.get(W_TYPE_KEYS + t))
            .collect();
        if counted != by_type || self.shm.get(W_EXPIRING) != expiring {
            report.problems.push(format!(
                "key counts by type disagree: the index reaches {by_type:?} keys by type tag and \
                 {expiring} with an expiry, shared state says {counted:?} and {}",
                self.shm.get(W_EXPIRING)
            ));
        }
        if self.shm.get(W_LIVE_BYTES) != live {
            report.problems.push(format!(
                "live byte count is {} but the index reaches {live} bytes",
                self.shm.get(W_LIVE_BYTES)
            ));
        }
        Ok(report)
    }
}
