//! Online compaction: copy the live records of every sealed segment into new segments, move
//! the index to the copies, delete the old files (format-spec.md §11).
//!
//! Only the short manifest updates and the index relocations (in chunks) hold the writer
//! lock; the copying runs while other processes read and write. Readers are never blocked:
//! relocations are published under the sequence lock, and a deleted segment stays readable
//! to every process that still maps it.

use crate::progress::{self, Task};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::stats::CompactStats;
use crate::engine::{Shared, SEAL_LEN};
use crate::error::{Error, Result};
use crate::format::index::{self, Probe};
use crate::format::manifest::Manifest;
use crate::format::record::{
    encode_record, encode_short_head, encode_short_put, short_record_len, KIND_PUT, KIND_SEAL,
    SEGMENT_HEADER_LEN, SEG_COMPACTED,
};
use crate::format::segment::RecMeta;
use crate::format::shm::*;

/// Relocations published per writer-lock hold.
const RELOCATE_CHUNK: usize = 2048;
/// Bytes buffered before a write to the output segment.
const WRITE_BUF: usize = 1 << 20;

/// A victim measured for a compaction in steps: the segment, the room the copy of its live
/// records takes, and the lowest and highest txn id of its records (none if it has none).
type Measured = ((u32, u8), u64, Option<(u64, u64)>);
/// Victims compacted together in steps: the segments, the room their copies take, and the
/// highest txn id of their records.
type Unit = (Vec<(u32, u8)>, u64, u64);

/// A record copied by step 2: its key, where it was and where its copy is, and how many
/// bytes shorter the copy is.
struct Reloc {
    key: Vec<u8>,
    internal: bool,
    old: u64,
    new: u64,
    shrunk: u64,
}

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
        crate::os::io::write_all_at(&self.file, &self.buf, self.off, &self.path)?;
        self.off += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn seal(&mut self) -> Result<()> {
        let at = self.end();
        encode_record(&mut self.buf, KIND_SEAL, 0, 0, 0, &[], &at.to_le_bytes());
        self.flush()?;
        crate::os::io::sync_data(&self.file, &self.path)
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
        let r = self.compact_locked().and_then(|mut stats| {
            self.shrink_index(&mut stats)?;
            Ok(stats)
        });
        self.compact_lock.unlock();
        r
    }

    /// After an explicit compaction: an index larger than the smallest that holds its live
    /// keys below the growth threshold (after `FLUSHDB`, many deletes, or a growth that
    /// doubled it) is replaced by that one, as a growth replaces it (format-spec.md §4.3), so
    /// that the index gives space back as the segments do.
    fn shrink_index(&self, stats: &mut CompactStats) -> Result<()> {
        let _g = self.writer_section(self.opts.lock_timeout)?;
        let idx = self.current_index()?;
        stats.index_bytes_before = idx.file_bytes();
        if idx.oversized() {
            let next = self.dir.join(index::file_name(idx.gen + 1));
            let cap = index::snug_capacity(idx.used());
            drop(idx);
            match self.resize_index_to(cap) {
                Ok(()) => {}
                // No room for the smaller copy: the index stays as it was (the new file was
                // not published; what was made of it goes), and the compaction stands.
                Err(Error::DiskFull { .. }) => {
                    let _ = crate::os::io::remove_file(&next);
                }
                Err(e) => return Err(e),
            }
        }
        stats.index_bytes_after = self.current_index()?.file_bytes();
        Ok(())
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
        let step =
            |n: u32| crate::os::io::powerloss::power_loss_note(&format!("compaction step {n}"));
        step(1);
        // 1. Seal the active segment so that everything written so far can be compacted. On
        // a full file system there may be no room for a new segment: then the sealed segments
        // are compacted and the active one stays as it is (format-spec.md §11 step 1).
        let man = {
            let _g = self.writer_section(timeout)?;
            if u64::from(pos_off(self.shm.get(W_LOG_POS))) > SEGMENT_HEADER_LEN as u64 {
                match self.rotate() {
                    Ok(()) => {}
                    // Only if the file system has indeed no room for one (not a quota, nor
                    // an error that only looks like a full disk).
                    Err(e @ Error::DiskFull { .. }) => {
                        let man = self.read_manifest()?;
                        let (free, unit) =
                            crate::os::io::free_space(&self.dir).unwrap_or((u64::MAX, 4096));
                        let segment = crate::engine::new_segment_bytes(self.opts.segment_size)
                            + manifest_room(&man, 1, unit);
                        if free >= segment {
                            return Err(e);
                        }
                        if man.segments.len() < 2 {
                            // Nothing sealed to compact, and no room to seal the active one.
                            return Err(self.needs_space(segment, free));
                        }
                    }
                    Err(e) => return Err(e),
                }
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
        // A file system that cannot say how much room it has is taken to have enough: the
        // copy then fails with `DiskFull` if it has not, changing nothing (step 2).
        let (free, unit) = crate::os::io::free_space(&self.dir).unwrap_or((u64::MAX, 4096));
        if victims.is_empty() {
            crate::os::io::powerloss::power_loss_note("compaction done: nothing to compact");
            return Ok(stats);
        }
        stats.bytes_before = man.segments.iter().map(|&(id, _)| self.file_size(id)).sum();
        // All victims in one step when the file system has room for a copy of every live
        // record; otherwise in steps that each fit in the room there is (§11.1).
        let live = self.shm.get(W_LIVE_BYTES);
        let victim_files = victims.iter().map(|&(id, _)| self.file_size(id)).sum();
        progress::task(Task::Compact, progress::Unit::Bytes, victim_files, || {
            if free >= self.copy_bound(live, unit) + manifest_room(&man, 0, unit) {
                self.compact_victims(&victims, &mut stats)
            } else {
                self.compact_in_steps(&man, &victims, &mut stats, unit)
            }
        })?;
        crate::os::io::powerloss::power_loss_note(&format!(
            "compaction done: {} records copied, {} segments removed",
            stats.records_copied, stats.segments_removed
        ));
        Ok(stats)
    }

    fn file_size(&self, id: u32) -> u64 {
        std::fs::metadata(self.segs.path(id))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    fn needs_space(&self, needed: u64, free: u64) -> Error {
        Error::CompactNeedsSpace {
            dir: self.dir.clone(),
            needed,
            free,
        }
    }

    /// Room on the file system (a bound) that copying `live` bytes of records into
    /// compacted segments takes: the records, a header, a SEAL and a partly filled
    /// allocation unit per output, outputs being at least half full.
    fn copy_bound(&self, live: u64, unit: u64) -> u64 {
        let outputs = live.div_ceil((self.opts.segment_size / 2).max(1)) + 1;
        live + outputs * ((SEGMENT_HEADER_LEN + SEAL_LEN) as u64 + unit)
    }

    /// Whether the record `meta` at `p` is the one the index points to for its key.
    fn is_live(&self, map: &crate::os::map::SegmentMap, p: u64, meta: &RecMeta) -> Result<bool> {
        let key = meta.key(map);
        let internal = meta.internal;
        let hash = index::hash_for(key, internal);
        self.read_consistent(|idx| {
            Ok(matches!(
                idx.probe(hash, |loc| self.record_holds(loc, key, internal))?,
                Probe::Found { loc, .. } if loc == p
            ))
        })
    }

    /// Compaction on a file system without room for a copy of every live record at once
    /// (format-spec.md §11.1): the victims are measured (the room the copy of each one's
    /// live records takes, packed as step 2 packs them, and the range of its transaction
    /// ids), merged into units whose ranges overlap, and compacted oldest first, as many
    /// units per step as the free room holds. A step drops its victims before the next is
    /// measured against the room then free. Oldest first keeps every step safe to stop
    /// after: a DEL a step drops is older than every record of the victims that remain, so
    /// none of them holds a PUT it would have to hide. If not even the first unit fits,
    /// fails with [`Error::CompactNeedsSpace`], changing nothing.
    fn compact_in_steps(
        &self,
        man: &Manifest,
        victims: &[(u32, u8)],
        stats: &mut CompactStats,
        unit: u64,
    ) -> Result<()> {
        let seg = self.opts.segment_size;
        // (victim, room its copy takes, lowest and highest txn id in it).
        let mut measured: Vec<Measured> = Vec::new();
        for &v in victims {
            let one = Manifest {
                db_id: 0,
                active: 0,
                segments: vec![v],
            };
            let mut room = 0u64;
            let mut cur: Option<u64> = None;
            let mut range: Option<(u64, u64)> = None;
            self.scan_segments(&one, None, |map, p, meta| {
                range = Some(range.map_or((meta.txn, meta.txn), |(lo, hi)| {
                    (lo.min(meta.txn), hi.max(meta.txn))
                }));
                if meta.kind != KIND_PUT || !self.is_live(map, p, meta)? {
                    return Ok(());
                }
                let len = short_record_len(
                    meta.vtype,
                    meta.key_len,
                    meta.value_len,
                    meta.txn,
                    meta.expires_at != 0,
                ) as u64;
                // As step 2 starts a new output.
                if let Some(c) = cur.filter(|&c| c + len + SEAL_LEN as u64 > seg) {
                    room += (c + SEAL_LEN as u64).next_multiple_of(unit);
                    cur = None;
                }
                cur = Some(cur.unwrap_or(SEGMENT_HEADER_LEN as u64) + len);
                Ok(())
            })?;
            if let Some(c) = cur {
                room += (c + SEAL_LEN as u64).next_multiple_of(unit);
            }
            measured.push((v, room, range));
        }
        // Units of victims whose transaction ranges overlap, oldest first; victims without
        // records first of all.
        measured.sort_by_key(|&(v, _, range)| (range.map_or((0, 0), |(lo, hi)| (lo + 1, hi)), v));
        let mut units: Vec<Unit> = Vec::new();
        for (v, room, range) in measured {
            match (units.last_mut(), range) {
                (Some((vs, r, hi)), Some((lo, h))) if lo <= *hi => {
                    vs.push(v);
                    *r += room;
                    *hi = (*hi).max(h);
                }
                (_, range) => units.push((vec![v], room, range.map_or(0, |(_, h)| h))),
            }
        }
        let mut units = std::collections::VecDeque::from(units);
        let mut steps = 0u32;
        while !units.is_empty() {
            let (free, _) = crate::os::io::free_space(&self.dir)?;
            // The manifest is replaced twice a step, each time beside the old one; one unit
            // of slack covers packing victims one after another into shared outputs.
            let mut needed = manifest_room(man, 0, unit) + unit;
            let mut group: Vec<(u32, u8)> = Vec::new();
            let mut take = 0;
            for (vs, room, _) in &units {
                if needed + room > free {
                    break;
                }
                needed += room;
                group.extend_from_slice(vs);
                take += 1;
            }
            if take == 0 {
                if steps > 0 {
                    // What the room allowed is done; the rest waits for more room.
                    break;
                }
                let first = units.front().map_or(0, |u| u.1);
                return Err(self.needs_space(needed + first, free));
            }
            units.drain(..take);
            match self.compact_victims(&group, stats) {
                Ok(()) => steps += 1,
                // The room was taken meanwhile (another process's commits): keep what the
                // steps before freed.
                Err(Error::DiskFull { .. }) if steps > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Steps 2–5 of a compaction of `victims` (format-spec.md §11).
    fn compact_victims(&self, victims: &[(u32, u8)], stats: &mut CompactStats) -> Result<()> {
        let timeout = self.opts.lock_timeout;
        let step =
            |n: u32| crate::os::io::powerloss::power_loss_note(&format!("compaction step {n}"));
        crate::os::pause::point("compact-step");
        // 2. Copy live records (no lock held).
        step(2);
        let mut outputs: Vec<u32> = Vec::new();
        let mut out: Option<Output> = None;
        let mut relocs: Vec<Reloc> = Vec::new();
        let mut victim_bytes = 0u64;
        let mut copied_bytes = 0u64;
        let scan_man = Manifest {
            db_id: 0,
            active: 0,
            segments: victims.to_vec(),
        };
        let scanned = self.scan_segments(&scan_man, None, |map, p, meta| {
            victim_bytes += meta.len as u64;
            progress::advance(meta.len as u64);
            if meta.kind != KIND_PUT {
                return Ok(());
            }
            if !self.is_live(map, p, meta)? {
                return Ok(());
            }
            let key = meta.key(map);
            let internal = meta.internal;
            let value = meta.value(map);
            if value.len() != meta.value_len {
                return Err(Error::CorruptSegment {
                    file: self.segs.path(pos_seg(p)),
                    offset: u64::from(pos_off(p)),
                    reason: "record past end of map",
                });
            }
            // The copy is a short PUT (format-spec.md §3.2.1): the same key, value, type,
            // expiry and txn id, with the lengths and the txn id as varints.
            let len = short_record_len(
                meta.vtype,
                key.len(),
                value.len(),
                meta.txn,
                meta.expires_at != 0,
            );
            if out
                .as_ref()
                .is_some_and(|o| o.end() + (len + SEAL_LEN) as u64 > self.opts.segment_size)
            {
                if let Some(mut o) = out.take() {
                    o.seal()?;
                }
            }
            if out.is_none() {
                let id = self.shm.w(W_NEXT_SEG).fetch_add(1, Ordering::AcqRel) as u32;
                crate::os::io::powerloss::power_loss_note(&format!("compaction output {id}"));
                // A record longer than a segment holds gets a large output of its own
                // (format-spec.md §3.4).
                let large =
                    SEGMENT_HEADER_LEN + meta.len + SEAL_LEN > self.opts.segment_size as usize;
                let file = self
                    .segs
                    .create_as(id, SEG_COMPACTED, 0, self.db_id(), 0, large)?;
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
            let (vtype, txn, exp) = (meta.vtype, meta.txn, meta.expires_at);
            if value.len() >= WRITE_BUF {
                // A big value goes from the map to the file as it is, never through a copy
                // in memory (a value of hundreds of MB would need as much heap again).
                encode_short_head(&mut o.buf, vtype, txn, exp, internal, key, value);
                o.flush()?;
                crate::os::io::write_all_at(&o.file, value, o.off, &o.path)?;
                o.off += value.len() as u64;
            } else {
                encode_short_put(&mut o.buf, vtype, txn, exp, internal, key, value);
                if o.buf.len() >= WRITE_BUF {
                    o.flush()?;
                }
            }
            relocs.push(Reloc {
                key: key.to_vec(),
                internal,
                old: p,
                new,
                shrunk: (meta.len - len) as u64,
            });
            copied_bytes += meta.len as u64;
            stats.records_copied += 1;
            Ok(())
        });
        let finish = scanned.and_then(|s| {
            if let Some(mut o) = out.take() {
                o.seal()?;
            }
            crate::os::io::sync_dir(&self.dir)?;
            Ok(s)
        });
        let scanned = match finish {
            Ok(s) => s,
            Err(e) => {
                // Outputs are not in the manifest yet: remove them, nothing else changed.
                for id in outputs {
                    self.segs.forget(id);
                    let _ = crate::os::io::remove_file(&self.segs.path(id));
                }
                return Err(e);
            }
        };
        victim_bytes += scanned.other_bytes;
        stats.segments_written += outputs.len() as u64;

        // 3. List the outputs in the manifest (victims stay listed until nothing points there).
        step(3);
        {
            let _g = self.writer_section(timeout)?;
            let mut m = self.read_manifest()?;
            m.segments
                .extend(outputs.iter().map(|&id| (id, SEG_COMPACTED)));
            m.segments.sort_unstable();
            if let Err(e) = m.write(&self.dir, self.mode) {
                // A full disk may refuse the new manifest: then the outputs are garbage that
                // takes the room, removed at once unless the manifest names them after all.
                let listed = self
                    .read_manifest()
                    .map_or(true, |m| m.segments.iter().any(|s| outputs.contains(&s.0)));
                if !listed {
                    for &id in &outputs {
                        self.segs.forget(id);
                        let _ = crate::os::io::remove_file(&self.segs.path(id));
                    }
                }
                return Err(e);
            }
            self.shm.set(W_SEGMENTS, m.segments.len() as u64);
        }

        // 4. Point the index at the copies, a chunk per writer-lock hold.
        step(4);
        // The copies are shorter than the records they replace: the live byte count drops by
        // the difference for each copy the index moves to, and the dead byte count for each
        // copy it does not (its key was written again meanwhile, which counted the longer
        // record dead; the copy is what is dead now).
        let mut unmoved_shrunk = 0u64;
        for chunk in relocs.chunks(RELOCATE_CHUNK) {
            let _g = self.writer_section(timeout)?;
            let idx = self.current_index()?;
            let mut moves = Vec::with_capacity(chunk.len());
            let mut moved_shrunk = 0u64;
            for r in chunk {
                let hash = index::hash_for(&r.key, r.internal);
                let probe = idx.probe(hash, |loc| self.record_holds(loc, &r.key, r.internal))?;
                match probe {
                    Probe::Found { slot, loc } if loc == r.old => {
                        moves.push((slot, r.new));
                        moved_shrunk += r.shrunk;
                    }
                    _ => unmoved_shrunk += r.shrunk,
                }
            }
            idx.mark_dirty()?;
            self.publish_without_txn(|| {
                for &(slot, new) in &moves {
                    idx.set_loc(slot, new);
                }
                self.shm.sub(W_LIVE_BYTES, moved_shrunk);
            });
        }

        // Views that begin from here on never read the victims (format-spec.md §8.2).
        let views_epoch = self.views_new_epoch();

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
            self.shm.sub(
                W_DEAD_BYTES,
                victim_bytes.saturating_sub(copied_bytes) + unmoved_shrunk,
            );
            self.shm.add(W_COMPACTIONS, 1);
            self.shm.add(W_SEG_EPOCH, 1);
            // A read view that began before the relocation may still read a victim's
            // records: the files stay, unlisted, until a later compaction's sweep finds no
            // such view (format-spec.md §8.2).
            let pinned = views_epoch != 0 && self.views_pin(Some(views_epoch));
            for &(id, _) in victims.iter().filter(|_| !pinned) {
                self.segs.forget(id);
                let _ = crate::os::io::remove_file(&self.segs.path(id));
            }
            crate::os::io::sync_dir(&self.dir)?;
            let after = self.read_manifest()?;
            stats.bytes_after = after
                .segments
                .iter()
                .map(|&(id, _)| self.file_size(id))
                .sum();
            self.shm.set(W_SEGMENT_BYTES, stats.bytes_after);
        }
        stats.segments_removed += victims.len() as u64;
        Ok(())
    }
}

/// Room on the file system for the new manifest beside the old one, listing `extra` more
/// segments than `man`: every replacement of the manifest writes it in full first (§2.1).
fn manifest_room(man: &Manifest, extra: usize, unit: u64) -> u64 {
    let len = man.encode().len() as u64 + 8 * (extra as u64 + 64);
    len.next_multiple_of(unit)
}
