//! Online compaction: copy the live records of every sealed segment into new segments, move
//! the index to the copies, delete the old files (format-spec.md §11).
//!
//! Only the short manifest updates and the index relocations (in chunks) hold the writer
//! lock; the copying runs while other processes read and write. Readers are never blocked:
//! relocations are published under the sequence lock, and a deleted segment stays readable
//! to every process that still maps it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::db::CompactStats;
use crate::engine::{Shared, SEAL_LEN};
use crate::error::{Error, Result};
use crate::index::{self, Probe};
use crate::manifest::Manifest;
use crate::record::{encode_record, KIND_PUT, KIND_SEAL, SEGMENT_HEADER_LEN, SEG_COMPACTED};
use crate::shm::*;

/// Relocations published per writer-lock hold.
const RELOCATE_CHUNK: usize = 2048;
/// Bytes buffered before a write to the output segment.
const WRITE_BUF: usize = 1 << 20;

struct Output {
    id: u32,
    file: Arc<File>,
    path: PathBuf,
    /// File offset where `buf` starts.
    off: u64,
    buf: Vec<u8>,
}

impl Output {
    fn end(&self) -> u64 {
        self.off + self.buf.len() as u64
    }

    fn flush(&mut self) -> Result<()> {
        crate::io::write_all_at(&self.file, &self.buf, self.off, &self.path)?;
        self.off += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn seal(&mut self) -> Result<()> {
        let at = self.end();
        encode_record(&mut self.buf, KIND_SEAL, 0, 0, 0, &[], &at.to_le_bytes());
        self.flush()?;
        crate::io::sync_data(&self.file, &self.path)
    }
}

impl Shared {
    /// Compacts now, waiting for a compaction in another process to finish first.
    pub(crate) fn compact(&self) -> Result<CompactStats> {
        self.writable()?;
        let _m = self
            .compact_mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.compact_lock.lock_exclusive(None, &self.dir)?;
        let r = self.compact_locked();
        self.compact_lock.unlock();
        r
    }

    /// Whether automatic compaction is on and dead space passed its thresholds.
    pub(crate) fn compaction_due(&self) -> bool {
        let dead = self.shm.get(W_DEAD_BYTES);
        let live = self.shm.get(W_LIVE_BYTES);
        self.opts.auto_compact
            && dead >= self.opts.compact_min_bytes
            && (dead as f64) >= self.opts.compact_min_dead_ratio * (dead + live) as f64
    }

    /// After a commit: wakes this process's compaction thread if compaction is due.
    pub(crate) fn nudge_compactor(&self) {
        if self.compaction_due() {
            if let Some(t) = self.compactor.get() {
                t.unpark();
            }
        }
    }

    /// Compacts if no compaction is running anywhere and dead space passed the thresholds.
    pub(crate) fn maybe_compact(&self) -> Result<()> {
        self.writable()?;
        if !self.compaction_due() {
            return Ok(());
        }
        let Ok(_m) = self.compact_mutex.try_lock() else {
            return Ok(());
        };
        if !self.compact_lock.try_lock_exclusive()? {
            return Ok(());
        }
        let r = self.compact_locked();
        self.compact_lock.unlock();
        r.map(|_| ())
    }

    fn compact_locked(&self) -> Result<CompactStats> {
        let timeout = self.opts.lock_timeout;
        // Which step a compaction reached is noted in the power-loss journal (a no-op unless a
        // test turned it on), so that a test can tell where a cut fell.
        let step = |n: u32| crate::io::powerloss::power_loss_note(&format!("compaction step {n}"));
        step(1);
        // 1. Seal the active segment so that everything written so far can be compacted.
        let man = {
            let _g = self.writer_section(timeout)?;
            if u64::from(pos_off(self.shm.get(W_LOG_POS))) > SEGMENT_HEADER_LEN as u64 {
                self.rotate()?;
            }
            let man = self.read_manifest()?;
            self.remove_orphans(&man, false);
            man
        };
        let victims: Vec<(u32, u8)> = man
            .segments
            .iter()
            .copied()
            .filter(|&(id, _)| id != man.active)
            .collect();
        let mut stats = CompactStats::default();
        if victims.is_empty() {
            crate::io::powerloss::power_loss_note("compaction done: nothing to compact");
            return Ok(stats);
        }
        let size = |id| {
            std::fs::metadata(self.segs.path(id))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        stats.bytes_before = man.segments.iter().map(|&(id, _)| size(id)).sum();

        // 2. Copy live records (no lock held).
        step(2);
        let mut outputs: Vec<u32> = Vec::new();
        let mut out: Option<Output> = None;
        let mut relocs: Vec<(Vec<u8>, bool, u64, u64)> = Vec::new();
        let mut victim_bytes = 0u64;
        let mut copied_bytes = 0u64;
        let scan_man = Manifest {
            db_id: 0,
            active: 0,
            segments: victims.clone(),
        };
        let scanned = self.scan_segments(&scan_man, None, |map, p, meta| {
            victim_bytes += meta.len as u64;
            if meta.kind != KIND_PUT {
                return Ok(());
            }
            let key = meta.key(map);
            let internal = meta.internal;
            let hash = index::hash_for(key, internal);
            let live = self.read_consistent(|idx| {
                Ok(matches!(
                    idx.probe(hash, |loc| self.record_holds(loc, key, internal))?,
                    Probe::Found { loc, .. } if loc == p
                ))
            })?;
            if !live {
                return Ok(());
            }
            let start = pos_off(p) as usize;
            let bytes = map
                .slice(start, meta.len)
                .ok_or_else(|| Error::CorruptSegment {
                    file: self.segs.path(pos_seg(p)),
                    offset: u64::from(pos_off(p)),
                    reason: "record past end of map",
                })?;
            if out
                .as_ref()
                .is_some_and(|o| o.end() + (meta.len + SEAL_LEN) as u64 > self.opts.segment_size)
            {
                if let Some(mut o) = out.take() {
                    o.seal()?;
                }
            }
            if out.is_none() {
                let id = self.shm.w(W_NEXT_SEG).fetch_add(1, Ordering::AcqRel) as u32;
                crate::io::powerloss::power_loss_note(&format!("compaction output {id}"));
                let file = self.segs.create(id, SEG_COMPACTED, 0, self.db_id(), 0)?;
                outputs.push(id);
                out = Some(Output {
                    id,
                    file,
                    path: self.segs.path(id),
                    off: SEGMENT_HEADER_LEN as u64,
                    buf: Vec::with_capacity(WRITE_BUF),
                });
            }
            let o = out.as_mut().ok_or(Error::Poisoned)?;
            let new = pos(o.id, o.end() as u32);
            o.buf.extend_from_slice(bytes);
            if o.buf.len() >= WRITE_BUF {
                o.flush()?;
            }
            relocs.push((key.to_vec(), internal, p, new));
            copied_bytes += meta.len as u64;
            stats.records_copied += 1;
            Ok(())
        });
        let finish = scanned.and_then(|s| {
            if let Some(mut o) = out.take() {
                o.seal()?;
            }
            crate::io::sync_dir(&self.dir)?;
            Ok(s)
        });
        let scanned = match finish {
            Ok(s) => s,
            Err(e) => {
                // Outputs are not in the manifest yet: remove them, nothing else changed.
                for id in outputs {
                    self.segs.forget(id);
                    let _ = crate::io::remove_file(&self.segs.path(id));
                }
                return Err(e);
            }
        };
        victim_bytes += scanned.other_bytes;
        stats.segments_written = outputs.len() as u64;

        // 3. List the outputs in the manifest (victims stay listed until nothing points there).
        step(3);
        {
            let _g = self.writer_section(timeout)?;
            let mut m = self.read_manifest()?;
            m.segments
                .extend(outputs.iter().map(|&id| (id, SEG_COMPACTED)));
            m.segments.sort_unstable();
            m.write(&self.dir, self.mode)?;
            self.shm.set(W_SEGMENTS, m.segments.len() as u64);
        }

        // 4. Point the index at the copies, a chunk per writer-lock hold.
        step(4);
        for chunk in relocs.chunks(RELOCATE_CHUNK) {
            let _g = self.writer_section(timeout)?;
            let idx = self.current_index()?;
            let mut moves = Vec::with_capacity(chunk.len());
            for (key, internal, old, new) in chunk {
                let hash = index::hash_for(key, *internal);
                let probe = idx.probe(hash, |loc| self.record_holds(loc, key, *internal))?;
                if let Probe::Found { slot, loc } = probe {
                    if loc == *old {
                        moves.push((slot, *new));
                    }
                }
            }
            idx.mark_dirty()?;
            self.publish_without_txn(|| {
                for &(slot, new) in &moves {
                    idx.set_loc(slot, new);
                }
            });
        }

        // 5. Drop the victims from the manifest, then delete their files. The copies leave out
        // every record that a later commit replaced or deleted, but commits are visible
        // before they are durable (format-spec.md §9.2): a power cut may still take such a
        // commit back, and then the victim's record is the value the key returns to. So the
        // log must be durable up to everything published while step 2 judged the records,
        // before the victims go (§11 step 5).
        step(5);
        self.sync_to(self.shm.get(W_LOG_POS))?;
        {
            let _g = self.writer_section(timeout)?;
            let mut m = self.read_manifest()?;
            m.segments.retain(|s| !victims.contains(s));
            m.write(&self.dir, self.mode)?;
            self.shm.set(W_SEGMENTS, m.segments.len() as u64);
            self.shm
                .sub(W_DEAD_BYTES, victim_bytes.saturating_sub(copied_bytes));
            self.shm.add(W_COMPACTIONS, 1);
            self.shm.add(W_SEG_EPOCH, 1);
            for &(id, _) in &victims {
                self.segs.forget(id);
                let _ = crate::io::remove_file(&self.segs.path(id));
            }
            crate::io::sync_dir(&self.dir)?;
            let after = self.read_manifest()?;
            stats.bytes_after = after.segments.iter().map(|&(id, _)| size(id)).sum();
            self.shm.set(W_SEGMENT_BYTES, stats.bytes_after);
        }
        stats.segments_removed = victims.len() as u64;
        crate::io::powerloss::power_loss_note(&format!(
            "compaction done: {} records copied, {} segments removed",
            stats.records_copied, stats.segments_removed
        ));
        Ok(stats)
    }
}
