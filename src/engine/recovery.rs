//! Reading the log back (format-spec.md §9, §10): parsing a transaction, scanning segments,
//! rebuilding the index from them, and repairing the tail of a log an interrupted writer left.

#[allow(clippy::wildcard_imports)]
use super::*;

/// How reading one transaction from the bytes of a log segment ended.
pub(crate) enum TxnParse {
    /// A complete transaction: its id, the position and metadata of each PUT/DEL record, and
    /// the offset just past its commit record.
    Txn {
        txn: u64,
        records: Vec<(u64, RecMeta)>,
        end: usize,
    },
    /// A seal record: the segment ends here.
    Seal,
    /// No complete, valid transaction here: the end of the log (or damage).
    End(&'static str),
}

/// Reads the transaction at offset `off` of `buf`, the bytes of log segment `id` (which only
/// names the records' positions), checking each record and the transaction's shape
/// (format-spec.md §3.3).
pub(crate) fn parse_txn(buf: &[u8], id: u32, mut off: usize) -> TxnParse {
    let mut records = Vec::new();
    let mut txn = None;
    loop {
        let Some(rest) = buf.get(off..) else {
            return TxnParse::End(DecodeError::Truncated.reason());
        };
        let r = match decode_record(rest) {
            Ok(r) => r,
            Err(e) => return TxnParse::End(e.reason()),
        };
        if r.short {
            // Only compaction writes short PUTs, and only into compacted segments (§3.2.1).
            return TxnParse::End("short record in a log segment");
        }
        if r.kind == KIND_SEAL {
            return if records.is_empty() {
                TxnParse::Seal
            } else {
                TxnParse::End("seal inside a transaction")
            };
        }
        if *txn.get_or_insert(r.txn) != r.txn {
            return TxnParse::End("transaction id changes before its commit record");
        }
        let meta = RecMeta::from_record(&r, off);
        let here = pos(id, off as u32);
        off += r.len;
        if r.kind == KIND_COMMIT {
            let count = crate::format::record::le_u64(r.value, 0).unwrap_or(u64::MAX);
            if count != records.len() as u64 {
                return TxnParse::End("commit record count does not match");
            }
            return TxnParse::Txn {
                txn: r.txn,
                records,
                end: off,
            };
        }
        records.push((here, meta));
    }
}

/// Why the log of a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogStop {
    /// At a seal record.
    Seal,
    /// At bytes that are no complete, valid transaction.
    End(&'static str),
    /// At a transaction whose id is not greater than the previous one's.
    Backwards,
}

/// Scans the log of segment `id` in `buf` from offset `start`, calling `f` with the id and
/// the records of each transaction in order, up to the first that ends the log (format-spec.md
/// §3.3). Returns where the log ends and why.
pub(crate) fn scan_log(
    buf: &[u8],
    id: u32,
    start: usize,
    mut f: impl FnMut(u64, &[(u64, RecMeta)]) -> Result<()>,
) -> Result<(usize, LogStop)> {
    let mut off = start;
    let mut prev = 0u64;
    loop {
        match parse_txn(buf, id, off) {
            TxnParse::Txn { txn, records, end } if txn > prev => {
                f(txn, &records)?;
                prev = txn;
                off = end;
            }
            TxnParse::Txn { .. } => return Ok((off, LogStop::Backwards)),
            TxnParse::Seal => return Ok((off, LogStop::Seal)),
            TxnParse::End(reason) => return Ok((off, LogStop::End(reason))),
        }
    }
}

/// Where a full scan ended.
pub(crate) struct ScanEnd {
    pub log_end: u32,
    pub max_txn: u64,
    pub other_bytes: u64,
}

impl Shared {
    /// Under the writer lock: finishes a publish or a segment rotation that a dead writer left
    /// half done (format-spec.md §10.1).
    pub(super) fn repair(&self) -> Result<()> {
        let rotating = self.shm.get(W_ROTATING);
        if rotating != 0 {
            // A rotation's id was allocated from `next_segment` and is at least the manifest's
            // active id; any other value is damage, and must not create a file under it.
            let active = u64::from(self.read_manifest()?.active);
            if rotating < active || rotating >= self.shm.get(W_NEXT_SEG) {
                return Err(Error::CorruptShm {
                    file: self.dir.join("ziggy.shm"),
                    reason: "the segment being rotated to is not one that could be allocated",
                });
            }
            // A rotation that cannot be finished (a full disk while its file is created) is
            // undone if the manifest does not name its segment yet, so that no commit and no
            // open fails because of it (§10.1 step 1).
            if let Err(e) = self.finish_rotation(rotating as u32) {
                if !self.undo_rotation(rotating as u32)? {
                    return Err(e);
                }
            }
        }
        let seq = self.shm.get(W_SEQ);
        if seq & 1 == 1 {
            self.finish_publish(seq)?;
        }
        if self.shm.get(W_READY) == SHM_READY_REBUILDING {
            self.finish_rebuild()?;
        }
        self.discard_unpublished()
    }

    /// A complete transaction right after the published end was appended by a writer that
    /// died before publishing it. It was never visible and never acknowledged, so it is not
    /// committed; but a cold rebuild would find its commit record and adopt it. Zero its first
    /// record header, durably, so that every path agrees it does not exist (§10.1 step 3).
    fn discard_unpublished(&self) -> Result<()> {
        let log_pos = self.shm.get(W_LOG_POS);
        let (seg, off) = (pos_seg(log_pos), pos_off(log_pos) as usize);
        let Ok(map) = self.segs.map(seg, off + RECORD_HEADER_LEN) else {
            return Ok(());
        };
        if map.slice(off + 4, 1).is_none_or(|kind| kind == [0]) {
            return Ok(());
        }
        match self.read_txn(log_pos)? {
            TxnRead::Txn(t) if t.txn == self.shm.get(W_NEXT_TXN) => {
                let file = self.segs.file(seg)?;
                let path = self.segs.path(seg);
                crate::os::io::write_all_at(&file, &[0u8; RECORD_HEADER_LEN], off as u64, &path)?;
                crate::os::io::sync_data(&file, &path).inspect_err(|_| self.poison())
            }
            _ => Ok(()),
        }
    }

    /// Rebuilds the index from the segments listed in `man` into generation `gen`
    /// (format-spec.md §10.2). `ckpt` is the checkpoint position of a previous index, if
    /// any: the log must reach at least that far.
    pub(super) fn rebuild(&self, man: &Manifest, gen: u64, ckpt: Option<u64>) -> Result<()> {
        crate::os::pause::point("rebuild");
        crate::os::pause::busy("rebuild");
        let mut puts = 0u64;
        self.scan_segments(man, ckpt, |_, _, meta| {
            puts += u64::from(meta.kind == KIND_PUT);
            Ok(())
        })?;
        let idx = self.create_index(gen, index::capacity_for(puts + 1))?;
        let mut max_txn = 0u64;
        let mut total = 0u64;
        let scan = self.scan_segments(man, ckpt, |map, p, meta| {
            max_txn = max_txn.max(meta.txn);
            total += meta.len as u64;
            let key = meta.key(map);
            let hash = index::hash_for(key, meta.internal);
            let mut old_txn = 0;
            let probe = idx.probe(hash, |loc| {
                let (m, old) = self.segs.record_at(loc)?;
                old_txn = old.txn;
                Ok(old.internal == meta.internal && old.key(&m) == key)
            })?;
            match probe {
                Probe::Found { slot, .. } if meta.txn >= old_txn => idx.set_loc(slot, p),
                Probe::Found { .. } => {}
                Probe::Absent { free: Some(slot) } => idx.insert(slot, hash, p),
                Probe::Absent { free: None } => {
                    return Err(Error::CorruptIndex {
                        file: idx.path.clone(),
                        reason: "index is full",
                    })
                }
            }
            Ok(())
        })?;
        // Keys whose newest record is a delete are absent.
        let mut keys = 0;
        let mut live = 0;
        let mut expiring = 0;
        let mut by_type = [0u64; TYPE_TAGS];
        let slots: Vec<(u64, u64)> = idx.live_slots().map(|(s, _, l)| (s, l)).collect();
        for (slot, loc) in slots {
            let (_, meta) = self.segs.record_at(loc)?;
            if meta.kind == KIND_PUT {
                keys += u64::from(!meta.internal);
                live += meta.len as u64;
                if !meta.internal {
                    expiring += u64::from(meta.expires_at != 0);
                    if let Some(n) = by_type.get_mut(usize::from(meta.vtype)) {
                        *n += 1;
                    }
                }
            } else {
                idx.remove(slot);
            }
        }
        // The table was sized for every record; shrink it to fit the live keys.
        let (idx, gen) = if index::capacity_for(keys) < idx.cap {
            let small = self.create_index(gen + 1, index::capacity_for(keys))?;
            for (_, tag, loc) in idx.live_slots() {
                small.insert_fresh(tag, loc);
            }
            let _ = crate::os::io::remove_file(&idx.path);
            (small, gen + 1)
        } else {
            (idx, gen)
        };
        let log_pos = pos(man.active, scan.log_end);
        let next_seg = u64::from(self.max_seg_id()?.max(man.active)) + 1;
        let alloc = std::fs::metadata(self.segs.path(man.active))
            .map(|m| m.len())
            .unwrap_or(0);
        // In a sequence section: other processes may be reading the old index (§10.4), and
        // this ends the rebuilding state.
        self.publish_without_txn(|| {
            self.shm.set(W_INDEX_GEN, gen);
            self.shm.set(W_LOG_POS, log_pos);
            self.shm.set(W_DURABLE_POS, log_pos);
            self.shm.set(W_NEXT_TXN, max_txn.max(scan.max_txn) + 1);
            self.shm.set(W_NEXT_SEG, next_seg);
            self.shm.set(W_KEYS, keys);
            self.shm.set(W_EXPIRING, expiring);
            for (t, n) in by_type.iter().enumerate() {
                self.shm.set(W_TYPE_KEYS + t, *n);
            }
            self.shm.set(W_LIVE_BYTES, live);
            self.shm
                .set(W_DEAD_BYTES, total.saturating_sub(live) + scan.other_bytes);
            self.shm.set(W_SEGMENTS, man.segments.len() as u64);
            self.shm.set(W_ACTIVE_ALLOC, alloc);
            if self.shm.get(W_READY) == SHM_READY_REBUILDING {
                self.shm.set(W_REBUILD_FROM, 0);
                self.shm.set(W_READY, SHM_READY);
            }
        });
        let file = self.segs.file(man.active)?;
        crate::os::io::sync_data(&file, &self.segs.path(man.active))?;
        idx.checkpoint(&self.checkpoint_fields())?;
        crate::os::io::sync_dir(&self.dir)?;
        self.index.store(Some(Arc::new(idx)));
        Ok(())
    }

    /// Calls `f` for every committed PUT/DEL record of every segment in `man`.
    pub(crate) fn scan_segments(
        &self,
        man: &Manifest,
        ckpt: Option<u64>,
        mut f: impl FnMut(&SegmentMap, u64, &RecMeta) -> Result<()>,
    ) -> Result<ScanEnd> {
        let mut end = ScanEnd {
            log_end: SEGMENT_HEADER_LEN as u32,
            max_txn: 0,
            other_bytes: 0,
        };
        for &(id, kind) in &man.segments {
            let hkind = self.segs.check_header(id)?;
            if hkind != kind {
                return Err(Error::CorruptSegment {
                    file: self.segs.path(id),
                    offset: 0,
                    reason: "segment kind in header differs from the manifest",
                });
            }
            if kind == SEG_COMPACTED {
                self.scan_compacted(id, &mut f, &mut end)?;
                continue;
            }
            let map = self.segs.map(id, self.segment_len(id)?)?;
            let (stop_at, stop) = scan_log(
                map.slice(0, map.len()).unwrap_or(&[]),
                id,
                SEGMENT_HEADER_LEN,
                |txn, records| {
                    for (p, meta) in records {
                        f(&map, *p, meta)?;
                    }
                    end.other_bytes += COMMIT_LEN as u64;
                    end.max_txn = end.max_txn.max(txn);
                    Ok(())
                },
            )?;
            let off = stop_at as u32;
            match stop {
                // A sealed segment ends at its seal; so does the active one after a rotation
                // that did not finish.
                LogStop::Seal => {}
                // The end of the active segment's log: whatever follows was never committed.
                _ if id == man.active => {}
                LogStop::Backwards => {
                    return Err(Error::CorruptWal {
                        file: self.segs.path(id),
                        offset: u64::from(off),
                        reason: "transaction ids go backwards in a sealed segment",
                    })
                }
                LogStop::End(reason) => {
                    return Err(Error::CorruptWal {
                        file: self.segs.path(id),
                        offset: u64::from(off),
                        reason,
                    })
                }
            }
            if id == man.active {
                end.log_end = off;
                if let Some(c) = ckpt.filter(|&c| pos_seg(c) == id) {
                    if off < pos_off(c) {
                        return Err(Error::CorruptWal {
                            file: self.segs.path(id),
                            offset: u64::from(off),
                            reason:
                                "log ends before the last checkpoint: a committed record is damaged",
                        });
                    }
                }
            }
        }
        Ok(end)
    }

    fn scan_compacted(
        &self,
        id: u32,
        f: &mut impl FnMut(&SegmentMap, u64, &RecMeta) -> Result<()>,
        end: &mut ScanEnd,
    ) -> Result<()> {
        let map = self.segs.map(id, self.segment_len(id)?)?;
        let mut off = SEGMENT_HEADER_LEN;
        loop {
            let buf = map.slice(off, map.len().saturating_sub(off)).unwrap_or(&[]);
            match decode_record(buf) {
                Ok(r) if r.kind == KIND_SEAL => return Ok(()),
                Ok(r) if r.kind == KIND_PUT => {
                    let meta = RecMeta::from_record(&r, off);
                    end.max_txn = end.max_txn.max(r.txn);
                    f(&map, pos(id, off as u32), &meta)?;
                    off += r.len;
                }
                Ok(_) => {
                    return Err(Error::CorruptSegment {
                        file: self.segs.path(id),
                        offset: off as u64,
                        reason: "unexpected record kind in a compacted segment",
                    })
                }
                Err(DecodeError::Checksum { expected, found }) => {
                    return Err(Error::ChecksumMismatch {
                        file: self.segs.path(id),
                        offset: off as u64,
                        expected,
                        found,
                    })
                }
                Err(e) => {
                    return Err(Error::CorruptSegment {
                        file: self.segs.path(id),
                        offset: off as u64,
                        reason: e.reason(),
                    })
                }
            }
        }
    }
}
