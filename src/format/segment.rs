//! Segment files: naming, creation, and the per-process cache of their maps and handles
//! (format-spec.md §3).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::error::{Error, Result};
use crate::format::record::{
    decode_record_checked, decode_segment_header, encode_segment_header_as,
    parse_head as parse_record_head, DecodeError, Head as RecordHead, HeaderError, Record,
    SegmentHeader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::format::shm::{pos_off, pos_seg};
use crate::os::map::SegmentMap;

/// File name of segment `id`.
pub(crate) fn file_name(id: u32) -> String {
    format!("seg-{id:08}.zdb")
}

/// Parses a segment file name back into its id.
pub(crate) fn parse_file_name(name: &str) -> Option<u32> {
    name.strip_prefix("seg-")?
        .strip_suffix(".zdb")?
        .parse()
        .ok()
}

/// The header of the file at `path` if it is a regular file (a symlink is not followed)
/// whose first bytes decode as a segment header (format-spec.md §3.1). Read with `pread`,
/// never mapped: the file may be anyone's.
pub(crate) fn read_header(path: &Path) -> Option<SegmentHeader> {
    use std::os::unix::fs::FileExt;
    if !std::fs::symlink_metadata(path).ok()?.file_type().is_file() {
        return None;
    }
    let f = File::open(path).ok()?;
    let mut buf = [0u8; SEGMENT_HEADER_LEN];
    f.read_exact_at(&mut buf, 0).ok()?;
    decode_segment_header(&buf).ok()
}

/// Whether the file of segment `id` at `path` provably belongs to database `db_id`: its
/// header has the segment magic, a valid checksum, the id of its name and that database id
/// (a database without an id, 0, can prove nothing). Only such a file may be swept (§6.3).
pub(crate) fn is_ours(path: &Path, id: u32, db_id: u32) -> bool {
    db_id != 0 && read_header(path).is_some_and(|h| h.id == id && h.db_id == db_id)
}

/// A record located in a mapped segment; offsets are absolute within the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecMeta {
    pub kind: u8,
    pub vtype: u8,
    pub txn: u64,
    pub expires_at: u64,
    pub internal: bool,
    pub key_start: usize,
    pub key_len: usize,
    pub value_start: usize,
    pub value_len: usize,
    pub len: usize,
}

impl RecMeta {
    pub(crate) fn from_record(r: &Record<'_>, at: usize) -> Self {
        RecMeta {
            kind: r.kind,
            vtype: r.vtype,
            txn: r.txn,
            expires_at: r.expires_at,
            internal: r.internal,
            key_start: at + r.value_offset - r.key.len(),
            key_len: r.key.len(),
            value_start: at + r.value_offset,
            value_len: r.value.len(),
            len: r.len,
        }
    }

    /// The metadata of a record this process just encoded at offset `at` (what
    /// `from_record` would decode from it, without reading it back).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encoded(
        at: usize,
        kind: u8,
        vtype: u8,
        txn: u64,
        expires_at: u64,
        internal: bool,
        key_len: usize,
        value_len: usize,
    ) -> Self {
        let key_start = at + RECORD_HEADER_LEN + if expires_at != 0 { 8 } else { 0 };
        RecMeta {
            kind,
            vtype,
            txn,
            expires_at,
            internal,
            key_start,
            key_len,
            value_start: key_start + key_len,
            value_len,
            len: crate::format::record::record_len(key_len, value_len, expires_at != 0),
        }
    }

    pub(crate) fn key<'a>(&self, map: &'a SegmentMap) -> &'a [u8] {
        map.slice(self.key_start, self.key_len).unwrap_or(&[])
    }

    pub(crate) fn value<'a>(&self, map: &'a SegmentMap) -> &'a [u8] {
        map.slice(self.value_start, self.value_len).unwrap_or(&[])
    }
}

/// Slots of [`Segments`]'s cache of verified record positions (a power of two).
const VERIFIED_SLOTS: usize = 4096;
/// Records at least this long are remembered once verified.
const VERIFY_ONCE_LEN: usize = 1024;

fn verified_slot(pos: u64) -> usize {
    (pos.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize & (VERIFIED_SLOTS - 1)
}

/// What [`Segments::key_at`] read of a record: whether it holds the key, its encoded length,
/// value type and whether it carries an expiry time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub holds: bool,
    pub len: usize,
    pub kind: u8,
    pub internal: bool,
    pub vtype: u8,
    pub expires: bool,
    /// The expiry time, read only when the record holds the key (0 otherwise, or if none).
    pub expires_at: u64,
}

/// Per-process cache of segment maps (for reading) and file handles (for writing).
pub(crate) struct Segments {
    /// Positions of large records whose checksum this process verified, direct-mapped by a
    /// hash of the position: a record is never rewritten once published (segment ids are
    /// never reused while a process is attached), so reading it again needs no second
    /// checksum pass. Small records are cheap to check and are not remembered.
    verified: Box<[AtomicU64]>,
    dir: PathBuf,
    /// Mode of the segment files this process creates (the database's, §2.2).
    mode: u32,
    maps: ArcSwap<HashMap<u32, Arc<SegmentMap>>>,
    files: Mutex<HashMap<u32, Arc<File>>>,
    remap: Mutex<()>,
}

impl Segments {
    pub(crate) fn new(dir: &Path, mode: u32) -> Self {
        Self {
            verified: (0..VERIFIED_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            dir: dir.to_path_buf(),
            mode,
            maps: ArcSwap::from_pointee(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            remap: Mutex::new(()),
        }
    }

    pub(crate) fn path(&self, id: u32) -> PathBuf {
        self.dir.join(file_name(id))
    }

    /// A map of segment `id` covering at least `need_end` bytes, remapping if the file grew.
    pub(crate) fn map(&self, id: u32, need_end: usize) -> Result<Arc<SegmentMap>> {
        if let Some(m) = self.maps.load().get(&id) {
            if m.len() >= need_end {
                return Ok(Arc::clone(m));
            }
        }
        let _g = self
            .remap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(m) = self.maps.load().get(&id) {
            if m.len() >= need_end {
                return Ok(Arc::clone(m));
            }
        }
        let path = self.path(id);
        let file = crate::os::io::open_file(&path, false)?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if (len as usize) < need_end {
            return Err(Error::CorruptSegment {
                file: path,
                offset: len,
                reason: "record runs past the end of the segment file",
            });
        }
        let map = Arc::new(SegmentMap::open(&file, len, &path)?);
        let mut next = HashMap::clone(&self.maps.load());
        next.insert(id, Arc::clone(&map));
        self.maps.store(Arc::new(next));
        Ok(map)
    }

    /// The header of the record at `pos` (`holds` false, no expiry time read).
    pub(crate) fn head_at(&self, pos: u64) -> Result<Head> {
        Ok(self.parse_head(pos)?.2)
    }

    /// Whether the record at `pos` holds `key` in the given namespace, and its encoded
    /// length. Only the header and the key are read, without the checksum (which covers the
    /// whole record): this tells which key an index slot points at, and a reader that wants
    /// the value reads the record with [`Segments::record_at`], which checks it.
    pub(crate) fn key_at(&self, pos: u64, key: &[u8], internal: bool) -> Result<Head> {
        let (map, hdr_at, mut head, rh) = self.parse_head(pos)?;
        let key_len = rh.key_len;
        if head.internal != internal || key_len != key.len() {
            return Ok(head);
        }
        let (map, key_start, expires_at) = self.key_span(pos, map, hdr_at, &head, &rh)?;
        head.holds = map.slice(key_start, key_len) == Some(key);
        if head.holds {
            head.expires_at = expires_at;
        }
        Ok(head)
    }

    /// The key of the record at `pos` if it is an unexpired PUT of a user key, read from its
    /// header and key bytes alone (as `key_at`, without the checksum).
    pub(crate) fn user_key_at(&self, pos: u64, now: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .user_record_at(pos)?
            .filter(|(at, _)| *at == 0 || *at > now)
            .map(|(_, key)| key))
    }

    /// The expiry time (0 for none) and key of the record at `pos` if it is a PUT of a user
    /// key, read from its header and key bytes alone.
    pub(crate) fn user_record_at(&self, pos: u64) -> Result<Option<(u64, Vec<u8>)>> {
        let (map, hdr_at, head, rh) = self.parse_head(pos)?;
        let key_len = rh.key_len;
        if head.kind != crate::format::record::KIND_PUT || head.internal {
            return Ok(None);
        }
        let (map, key_start, expires_at) = self.key_span(pos, map, hdr_at, &head, &rh)?;
        Ok(map
            .slice(key_start, key_len)
            .map(|key| (expires_at, key.to_vec())))
    }

    /// The header of the record at `pos` as a [`Head`] (`holds` false, no expiry time), with
    /// the map and offset it was read from and its header as decoded.
    fn parse_head(&self, pos: u64) -> Result<(Arc<SegmentMap>, usize, Head, RecordHead)> {
        let (map, hdr_at, rh, len) = self.header_at(pos)?;
        let head = Head {
            holds: false,
            len,
            kind: rh.kind,
            internal: rh.internal(),
            vtype: rh.vtype,
            expires: rh.expires(),
            expires_at: 0,
        };
        Ok((map, hdr_at, head, rh))
    }

    /// For a record read by `parse_head`: a map covering its key, the key's offset, and the
    /// record's expiry time (0 if none).
    fn key_span(
        &self,
        pos: u64,
        map: Arc<SegmentMap>,
        hdr_at: usize,
        head: &Head,
        rh: &RecordHead,
    ) -> Result<(Arc<SegmentMap>, usize, u64)> {
        let key_len = rh.key_len;
        let key_start = hdr_at + rh.key_offset();
        if key_start + key_len > hdr_at + head.len {
            return Err(self.bad(pos, "key runs past the record"));
        }
        let map = if map.len() < key_start + key_len {
            self.map(pos_seg(pos), key_start + key_len)?
        } else {
            map
        };
        let expires_at = if head.expires {
            map.slice(hdr_at + rh.fixed_len, 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        } else {
            0
        };
        Ok((map, key_start, expires_at))
    }

    fn bad(&self, pos: u64, reason: &'static str) -> Error {
        Error::CorruptSegment {
            file: self.path(pos_seg(pos)),
            offset: u64::from(pos_off(pos)),
            reason,
        }
    }

    /// The map holding the header of the record at `pos` (so far), the header's offset, the
    /// header as decoded (either form, §3.2) and the record's announced length.
    fn header_at(&self, pos: u64) -> Result<(Arc<SegmentMap>, usize, RecordHead, usize)> {
        let off = pos_off(pos) as usize;
        if off < SEGMENT_HEADER_LEN {
            return Err(self.bad(pos, "record position inside the segment header"));
        }
        let map = self.map(pos_seg(pos), off + RECORD_HEADER_LEN)?;
        let hdr = map
            .slice(off, RECORD_HEADER_LEN)
            .ok_or_else(|| self.bad(pos, "short header"))?;
        let rh = parse_record_head(hdr).map_err(|e| self.bad(pos, e.reason()))?;
        let len = rh.len().ok_or_else(|| self.bad(pos, "short header"))?;
        Ok((map, off, rh, len))
    }

    /// Decodes the record at position `pos`, checking its checksum.
    pub(crate) fn record_at(&self, pos: u64) -> Result<(Arc<SegmentMap>, RecMeta)> {
        let id = pos_seg(pos);
        let (mut map, off, _, need) = self.header_at(pos)?;
        if map.len() < off + need {
            map = self.map(id, off + need)?;
        }
        let buf = map
            .slice(off, need)
            .ok_or_else(|| self.bad(pos, "record past end of map"))?;
        let remember = need >= VERIFY_ONCE_LEN;
        let slot = &self.verified[verified_slot(pos)];
        let known = remember && slot.load(Ordering::Relaxed) == pos;
        match decode_record_checked(buf, !known) {
            Ok(r) => {
                if remember && !known {
                    slot.store(pos, Ordering::Relaxed);
                }
                let meta = RecMeta::from_record(&r, off);
                Ok((map, meta))
            }
            Err(DecodeError::Checksum { expected, found }) => Err(Error::ChecksumMismatch {
                file: self.path(id),
                offset: off as u64,
                expected,
                found,
            }),
            Err(e) => Err(self.bad(pos, e.reason())),
        }
    }

    /// A read-write handle on segment `id`, opened once per process.
    pub(crate) fn file(&self, id: u32) -> Result<Arc<File>> {
        let mut files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = files.get(&id) {
            return Ok(Arc::clone(f));
        }
        let path = self.path(id);
        let f = Arc::new(crate::os::io::open_file(&path, true)?);
        files.insert(id, Arc::clone(&f));
        Ok(f)
    }

    /// Creates segment `id` of database `db_id` with its header and `alloc` bytes allocated,
    /// durably.
    pub(crate) fn create(
        &self,
        id: u32,
        kind: u8,
        created_txn: u64,
        db_id: u32,
        alloc: u64,
    ) -> Result<Arc<File>> {
        self.create_as(id, kind, created_txn, db_id, alloc, false)
    }

    /// [`Segments::create`] of a large segment (format-spec.md §3.3) if `large`.
    pub(crate) fn create_as(
        &self,
        id: u32,
        kind: u8,
        created_txn: u64,
        db_id: u32,
        alloc: u64,
        large: bool,
    ) -> Result<Arc<File>> {
        let path = self.path(id);
        // A map or handle of a leftover at this name (which `create` replaces) must not
        // outlive a failure below.
        self.forget(id);
        let f = crate::os::io::create(&path, self.mode)?;
        let header = encode_segment_header_as(id, kind, created_txn, db_id, large);
        crate::os::io::write_all_at(&f, &header, 0, &path)?;
        crate::os::io::allocate(&f, alloc.max(SEGMENT_HEADER_LEN as u64), &path)?;
        crate::os::io::sync_data(&f, &path)?;
        crate::os::io::sync_dir(&self.dir)?;
        let f = Arc::new(f);
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, Arc::clone(&f));
        self.forget_map(id);
        Ok(f)
    }

    /// Finishes the creation of segment `id`, whose header is good, as [`Segments::create`]
    /// would have: writes the header again, allocates `alloc` bytes, syncs the file and the
    /// directory. For a creation that failed after writing the header: its allocation
    /// (a full disk) or a sync (whose failure may have let the kernel drop the header's
    /// dirty page, which a later fsync would then not write). The file is never truncated,
    /// as its header may be mapped (format-spec.md §7).
    pub(crate) fn finish_create(&self, id: u32, alloc: u64) -> Result<()> {
        let path = self.path(id);
        let map = self.map(id, SEGMENT_HEADER_LEN)?;
        let header = map
            .slice(0, SEGMENT_HEADER_LEN)
            .ok_or_else(|| Error::CorruptSegment {
                file: path.clone(),
                offset: 0,
                reason: "segment file shorter than its header",
            })?
            .to_vec();
        let f = self.file(id)?;
        crate::os::io::write_all_at(&f, &header, 0, &path)?;
        crate::os::io::allocate(&f, alloc.max(SEGMENT_HEADER_LEN as u64), &path)?;
        crate::os::io::sync_data(&f, &path)?;
        crate::os::io::sync_dir(&self.dir)
    }

    /// Checks the header of segment `id`; returns its kind.
    pub(crate) fn check_header(&self, id: u32) -> Result<u8> {
        let map = self.map(id, SEGMENT_HEADER_LEN).map_err(|e| match e {
            Error::CorruptSegment { file, .. } => Error::CorruptSegment {
                file,
                offset: 0,
                reason: "segment file shorter than its header",
            },
            e => e,
        })?;
        let bytes = map.slice(0, SEGMENT_HEADER_LEN).unwrap_or(&[]);
        let bad = |reason| Error::CorruptSegment {
            file: self.path(id),
            offset: 0,
            reason,
        };
        match decode_segment_header(bytes) {
            Ok(h) if h.id == id => Ok(h.kind),
            Ok(_) => Err(bad("segment id in header does not match file name")),
            Err(HeaderError::Version(v, supported)) => Err(Error::IncompatibleVersion {
                file: self.path(id),
                found: v,
                supported,
            }),
            Err(HeaderError::Short) => Err(bad("segment header too short")),
            Err(HeaderError::Magic) => Err(bad("bad magic number in segment header")),
            Err(HeaderError::Checksum) => Err(bad("segment header checksum mismatch")),
            Err(HeaderError::Malformed) => Err(bad("unknown segment kind")),
        }
    }

    /// Whether segment `id` is a large segment (read version 3, format-spec.md §3.3), which
    /// may hold a transaction longer than the segment size.
    pub(crate) fn is_large(&self, id: u32) -> Result<bool> {
        let map = self.map(id, SEGMENT_HEADER_LEN)?;
        Ok(map
            .slice(0, SEGMENT_HEADER_LEN)
            .and_then(|b| decode_segment_header(b).ok())
            .is_some_and(|h| h.large))
    }

    /// Drops this process's map and handle of segment `id` (after it was deleted).
    pub(crate) fn forget(&self, id: u32) {
        self.files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        self.forget_map(id);
    }

    fn forget_map(&self, id: u32) {
        let _g = self
            .remap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.maps.load().contains_key(&id) {
            let mut next = HashMap::clone(&self.maps.load());
            next.remove(&id);
            self.maps.store(Arc::new(next));
        }
    }

    /// Forgets maps and handles of segment files that no longer exist (deleted by a
    /// compaction in some process). Readers holding a map keep it alive until they drop it.
    pub(crate) fn prune(&self) {
        let ids: Vec<u32> = self.maps.load().keys().copied().collect();
        for id in ids {
            if !self.path(id).exists() {
                self.forget(id);
            }
        }
        let ids: Vec<u32> = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        for id in ids {
            if !self.path(id).exists() {
                self.forget(id);
            }
        }
    }

    /// Length of this process's map of segment `id`, if it has one.
    pub(crate) fn mapped_len(&self, id: u32) -> Option<usize> {
        self.maps.load().get(&id).map(|m| m.len())
    }

    /// Bytes mapped by this process.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.maps.load().values().map(|m| m.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::record::{decode_record, encode_record_ns, KIND_DEL, KIND_PUT};

    /// Kind, value type, expiry, internal, key, value.
    type Case = (u8, u8, u64, bool, &'static [u8], &'static [u8]);

    #[test]
    fn metadata_made_while_encoding_matches_what_decoding_reads() {
        let cases: [Case; 4] = [
            (KIND_PUT, 2, 0, false, b"key", b"value"),
            (KIND_PUT, 32, 0, true, b"pg-internal", &[7; 300]),
            (KIND_PUT, 1, 1_800_000_000_000, false, b"ttl", b""),
            (KIND_DEL, 0, 0, false, b"gone", b""),
        ];
        let mut buf = vec![0u8; 40];
        for (kind, vtype, exp, internal, key, value) in cases {
            let at = buf.len();
            encode_record_ns(&mut buf, kind, vtype, 9, exp, internal, key, value);
            let made = RecMeta::encoded(at, kind, vtype, 9, exp, internal, key.len(), value.len());
            let read = RecMeta::from_record(&decode_record(&buf[at..]).expect("decodes"), at);
            assert_eq!(made, read);
        }
    }
}
