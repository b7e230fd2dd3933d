//! Rotating the active segment, checkpoints of the index header, and growing the index
//! (format-spec.md §9.3, §10.2).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Shared {
    /// Seals the active log segment and starts a new one. Writer lock held.
    pub(crate) fn rotate(&self) -> Result<()> {
        self.rotate_as(false)
    }

    /// [`Shared::rotate`], starting a large segment (format-spec.md §3.3) if `large`: one
    /// for a transaction longer than the segment size.
    pub(crate) fn rotate_as(&self, large: bool) -> Result<()> {
        let log_pos = self.shm.get(W_LOG_POS);
        let old = pos_seg(log_pos);
        let off = pos_off(log_pos);
        let file = self.segs.file(old)?;
        let path = self.segs.path(old);
        let mut seal = Vec::with_capacity(SEAL_LEN);
        encode_record(
            &mut seal,
            KIND_SEAL,
            0,
            self.shm.get(W_NEXT_TXN),
            0,
            &[],
            &u64::from(off).to_le_bytes(),
        );
        crate::os::io::write_all_at(&file, &seal, u64::from(off), &path)?;
        crate::os::io::sync_data(&file, &path).inspect_err(|_| self.poison())?;
        self.shm
            .w(W_DURABLE_POS)
            .fetch_max(log_pos, Ordering::AcqRel);
        let id = self.shm.w(W_NEXT_SEG).fetch_add(1, Ordering::AcqRel) as u32;
        self.shm.set(W_ROTATING, u64::from(id));
        crate::os::pause::point("rotate");
        self.finish_rotation_as(id, large).inspect_err(|_| {
            // Before the manifest names the new segment, a failed rotation is undone, not
            // left for the next writer or opener to redo (§9.5): on a full disk that would
            // fail again and stop every commit and every open.
            let _ = self.undo_rotation(id);
        })
    }

    /// Undoes a rotation to segment `id` that failed (or whose writer died) before the
    /// manifest named `id` (format-spec.md §9.5): removes the file if it is provably this
    /// rotation's (this database's header with that id, or empty: a creation that got no
    /// further), and clears `rotating`. The SEAL written past the published end stays; the
    /// next commit overwrites it. `id` is not reused: `next_segment` has moved past it.
    /// Returns false, changing nothing, if the manifest already names `id`: then the rotation
    /// must be finished. Writer lock held.
    pub(super) fn undo_rotation(&self, id: u32) -> Result<bool> {
        let man = self.read_manifest()?;
        if man.active == id || man.segments.iter().any(|&(s, _)| s == id) {
            return Ok(false);
        }
        self.segs.forget(id);
        let path = self.segs.path(id);
        let empty = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0);
        if (empty || segment::is_ours(&path, id, self.db_id()))
            && crate::os::io::remove_file(&path).is_ok()
        {
            let _ = crate::os::io::sync_dir(&self.dir);
        }
        self.shm.set(W_ROTATING, 0);
        Ok(true)
    }

    /// Second half of a rotation to segment `id`; idempotent, so a writer that finds
    /// `W_ROTATING` set after a crash can redo it.
    pub(super) fn finish_rotation(&self, id: u32) -> Result<()> {
        self.finish_rotation_as(id, false)
    }

    /// [`Shared::finish_rotation`] to a large segment if `large`. A redo after a crash
    /// (§10.1) makes an ordinary segment if the header is missing: the large transaction the
    /// rotation was for died with its writer.
    fn finish_rotation_as(&self, id: u32, large: bool) -> Result<()> {
        let alloc = INITIAL_ALLOC.min(self.opts.segment_size);
        if self.segs.check_header(id).is_err() {
            self.segs.create_as(
                id,
                SEG_LOG,
                self.shm.get(W_NEXT_TXN),
                self.db_id(),
                alloc,
                large,
            )?;
        } else {
            // The creation may have failed after the header (a full disk at the allocation,
            // a failed fsync): finish it rather than adopt the file as it is.
            self.segs.finish_create(id, alloc)?;
        }
        let mut man = self.read_manifest()?;
        if man.active != id {
            if !man.segments.iter().any(|&(s, _)| s == id) {
                man.segments.push((id, SEG_LOG));
                man.segments.sort_unstable();
            }
            man.active = id;
            man.write(&self.dir, self.mode)?;
        }
        let log_pos = pos(id, SEGMENT_HEADER_LEN as u32);
        if pos_seg(self.shm.get(W_LOG_POS)) != id {
            self.shm.set(W_LOG_POS, log_pos);
            self.shm
                .w(W_DURABLE_POS)
                .fetch_max(log_pos, Ordering::AcqRel);
            self.shm.set(W_ACTIVE_ALLOC, alloc);
            self.shm.add(W_SEGMENT_BYTES, alloc);
        }
        self.shm.set(W_SEGMENTS, man.segments.len() as u64);
        self.shm.set(W_ROTATING, 0);
        self.checkpoint()
    }

    /// Makes the index on disk match the log up to the published end, so a cold open after
    /// an OS crash needs no rebuild (format-spec.md §9.3). Writer lock held.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let log_pos = self.shm.get(W_LOG_POS);
        let seg = pos_seg(log_pos);
        let file = self.segs.file(seg)?;
        crate::os::io::sync_data(&file, &self.segs.path(seg)).inspect_err(|_| self.poison())?;
        self.shm
            .w(W_DURABLE_POS)
            .fetch_max(log_pos, Ordering::AcqRel);
        let idx = self.current_index()?;
        idx.checkpoint(&self.checkpoint_fields())?;
        self.shm.set(W_WAL_BYTES, 0);
        self.shm.set(W_LAST_CHECKPOINT_MS, now_ms());
        self.shm.add(W_CHECKPOINTS, 1);
        Ok(())
    }

    pub(super) fn checkpoint_fields(&self) -> Vec<(usize, u64)> {
        let mut fields = vec![
            (index::H_CKPT_POS, self.shm.get(W_LOG_POS)),
            (index::H_NEXT_TXN, self.shm.get(W_NEXT_TXN)),
            (index::H_NEXT_SEG, self.shm.get(W_NEXT_SEG)),
            (index::H_KEYS, self.shm.get(W_KEYS)),
            (index::H_LIVE, self.shm.get(W_LIVE_BYTES)),
            (index::H_DEAD, self.shm.get(W_DEAD_BYTES)),
            (index::H_EXPIRING, self.shm.get(W_EXPIRING)),
            (index::H_DB_ID, self.shm.get(W_DB_ID)),
        ];
        fields.extend(
            (0..TYPE_TAGS).map(|t| (index::H_TYPE_KEYS + t, self.shm.get(W_TYPE_KEYS + t))),
        );
        fields
    }

    /// Replaces the index with a larger (or tombstone-free) copy. Writer lock held. Readers
    /// keep using the old file until they see the new generation (format-spec.md §4.3).
    pub(super) fn resize_index(&self, extra: u64) -> Result<()> {
        let old = self.current_index()?;
        let cap = index::capacity_for(old.used() + extra);
        drop(old);
        self.resize_index_to(cap)
    }

    /// Replaces the index with a copy of `cap` slots, which must hold its live keys. Writer
    /// lock held (format-spec.md §4.3).
    pub(super) fn resize_index_to(&self, cap: u64) -> Result<()> {
        let old = self.current_index()?;
        let gen = old.gen + 1;
        let new = self.create_index(gen, cap)?;
        for (_, tag, loc) in old.live_slots() {
            new.insert_fresh(tag, loc);
        }
        let log_pos = self.shm.get(W_LOG_POS);
        let seg = pos_seg(log_pos);
        crate::os::io::sync_data(&*self.segs.file(seg)?, &self.segs.path(seg))
            .inspect_err(|_| self.poison())?;
        new.checkpoint(&self.checkpoint_fields())?;
        crate::os::io::sync_dir(&self.dir)?;
        self.publish_without_txn(|| self.shm.set(W_INDEX_GEN, gen));
        self.index.store(Some(Arc::new(new)));
        let _ = crate::os::io::remove_file(&old.path);
        Ok(())
    }

    /// Creates index file `gen` with `cap` slots, marked with the database id at once, so
    /// that a sweep can tell it this database's even if a crash comes before its first
    /// checkpoint (§6.3).
    pub(super) fn create_index(&self, gen: u64, cap: u64) -> Result<IndexMap> {
        let idx = IndexMap::create(&self.dir, gen, cap, self.mode)?;
        idx.h(index::H_DB_ID)
            .store(self.shm.get(W_DB_ID), Ordering::Relaxed);
        Ok(idx)
    }
}
