//! The pending writes of a [`crate::WriteTxn`]: an append-only log of entries in memory, with
//! a hash table from (namespace, key) to the latest entry of each key.
//!
//! A write appends its key and (small) payload to the current chunk of an arena and an entry
//! that points at them; a key written again gets a new entry and its old one is marked dead.
//! So a write costs one hash, one probe and one copy of its bytes, with no allocation of its
//! own (a `BTreeMap` of owned keys and values cost two allocations, a walk of `memcmp`s down
//! the tree and a free of each at the end). A commit reads the live entries in the order they
//! were written; the keys are distinct, and nothing in the log needs them sorted.
//!
//! Savepoints cost nothing until they are used: entries are only ever appended, so rolling
//! back to one truncates the entries and the arena, restoring the entries that the undone
//! writes had replaced. Without a savepoint, the dead bytes of keys written many times are
//! reclaimed once they outweigh the live ones, so a transaction that rewrites one key (a
//! counter, a collection page) a million times holds one copy of it, not a million.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::engine::OpRef;

/// Bytes of an arena chunk. A record is never split between chunks; a payload of at least
/// [`OWN_CHUNK`] bytes keeps the allocation it came in (no copy) as a chunk of its own.
const CHUNK: usize = 256 << 10;
/// A payload this long or longer is kept where it was handed in, not copied.
const OWN_CHUNK: usize = 4 << 10;
/// Dead bytes below this are never worth a compaction.
const COMPACT_MIN: usize = 1 << 20;
/// `Entry::own`: the payload follows the key in its chunk.
const INLINE: u32 = u32::MAX;

const F_INTERNAL: u8 = 1;
const F_DEL: u8 = 2;
const F_DEAD: u8 = 4;

/// One write: where its bytes are and what it is. 32 bytes.
#[derive(Clone, Copy)]
struct Entry {
    /// The key's chunk (high 32 bits) and offset in it (low 32 bits).
    at: u64,
    expires_at: u64,
    payload_len: u32,
    /// The chunk holding the payload alone, or [`INLINE`].
    own: u32,
    key_len: u16,
    vtype: u8,
    flags: u8,
}

impl Entry {
    fn internal(&self) -> bool {
        self.flags & F_INTERNAL != 0
    }
    fn dead(&self) -> bool {
        self.flags & F_DEAD != 0
    }
}

/// Where an arena was at a savepoint, for [`Pending::truncate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    entries: usize,
    chunks: usize,
    cur: Option<usize>,
    cur_len: usize,
}

/// The pending writes of one transaction.
#[derive(Default)]
pub(crate) struct Pending {
    chunks: Vec<Vec<u8>>,
    /// The chunk that keys and small payloads are appended to (payloads of their own
    /// chunk come between).
    cur: Option<usize>,
    entries: Vec<Entry>,
    /// The latest entry of each key: (entry index, 32 bits of the key's hash).
    table: hashbrown::HashTable<(u32, u32)>,
    /// Entries not dead.
    live: usize,
    /// Bytes of the arena held by dead entries (keys and payloads).
    dead_bytes: usize,
    /// Bytes of the arena held by live entries.
    live_bytes: usize,
}

/// 32 bits of the hash of a key in a namespace.
fn hash32(key: &[u8], internal: bool) -> u32 {
    let h = xxh3_64_with_seed(key, u64::from(internal));
    (h >> 32) as u32 ^ h as u32
}

/// The table's 64-bit hash from the 32 bits kept: the low bits pick the bucket, the top ones
/// are the tag compared first.
fn spread(h: u32) -> u64 {
    u64::from(h) << 32 | u64::from(h)
}

impl Pending {
    /// No writes pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn key_of(&self, e: &Entry) -> &[u8] {
        let (c, off) = ((e.at >> 32) as usize, e.at as u32 as usize);
        &self.chunks[c][off..off + usize::from(e.key_len)]
    }

    fn payload_of(&self, e: &Entry) -> &[u8] {
        if e.own != INLINE {
            return &self.chunks[e.own as usize][..e.payload_len as usize];
        }
        let (c, off) = (
            (e.at >> 32) as usize,
            e.at as u32 as usize + usize::from(e.key_len),
        );
        &self.chunks[c][off..off + e.payload_len as usize]
    }

    fn op_of(&self, e: &Entry) -> OpRef<'_> {
        if e.flags & F_DEL != 0 {
            OpRef::Del {
                internal: e.internal(),
            }
        } else {
            OpRef::Put {
                vtype: e.vtype,
                payload: self.payload_of(e),
                expires_at: e.expires_at,
                internal: e.internal(),
            }
        }
    }

    /// Arena bytes an entry holds.
    fn bytes_of(e: &Entry) -> usize {
        usize::from(e.key_len) + e.payload_len as usize
    }

    /// The latest entry of `key` in a namespace.
    fn find(&self, key: &[u8], internal: bool) -> Option<u32> {
        let h = hash32(key, internal);
        self.table
            .find(spread(h), |&(i, eh)| {
                let e = &self.entries[i as usize];
                eh == h && e.internal() == internal && self.key_of(e) == key
            })
            .map(|&(i, _)| i)
    }

    /// The pending write of `key` in a namespace, if any.
    pub(crate) fn get(&self, key: &[u8], internal: bool) -> Option<OpRef<'_>> {
        self.find(key, internal)
            .map(|i| self.op_of(&self.entries[i as usize]))
    }

    /// Copies `bytes` into the arena, each slice after the other in one chunk; returns where
    /// the first starts.
    fn append(&mut self, parts: [&[u8]; 2]) -> u64 {
        let len = parts[0].len() + parts[1].len();
        let c = match self.cur {
            Some(c) if self.chunks[c].capacity() - self.chunks[c].len() >= len => c,
            _ => {
                self.chunks.push(Vec::with_capacity(CHUNK.max(len)));
                self.cur = Some(self.chunks.len() - 1);
                self.chunks.len() - 1
            }
        };
        let chunk = &mut self.chunks[c];
        let at = (c as u64) << 32 | chunk.len() as u64;
        chunk.extend_from_slice(parts[0]);
        chunk.extend_from_slice(parts[1]);
        at
    }

    /// Appends a write of `key` in a namespace: `payload` with `vtype` and `expires_at`, or
    /// a delete for `None`. Returns the entry it replaces, which stays readable (through
    /// [`Pending::op_at`]) until the next write; and the index of the new entry.
    pub(crate) fn put(
        &mut self,
        key: &[u8],
        internal: bool,
        value: Option<(u8, Vec<u8>, u64)>,
    ) -> (Option<u32>, u32) {
        let idx = u32::try_from(self.entries.len()).expect("fewer than 2^32 pending writes");
        let (vtype, payload, expires_at, del) = match value {
            Some((vtype, payload, at)) => (vtype, payload, at, false),
            None => (0, Vec::new(), 0, true),
        };
        let payload_len = u32::try_from(payload.len()).expect("a payload checked to fit a segment");
        let (at, own) = if payload.len() >= OWN_CHUNK {
            let at = self.append([key, &[]]);
            self.chunks.push(payload);
            (at, (self.chunks.len() - 1) as u32)
        } else {
            (self.append([key, &payload]), INLINE)
        };
        let e = Entry {
            at,
            expires_at,
            payload_len,
            own,
            key_len: u16::try_from(key.len()).expect("a key checked against MAX_KEY_LEN"),
            vtype,
            flags: if internal { F_INTERNAL } else { 0 } | if del { F_DEL } else { 0 },
        };
        self.entries.push(e);
        self.live += 1;
        self.live_bytes += Self::bytes_of(&e);
        let h = hash32(key, internal);
        let entries = &self.entries;
        let chunks = &self.chunks;
        let key_eq = |&(i, eh): &(u32, u32)| {
            let o = &entries[i as usize];
            let (c, off) = ((o.at >> 32) as usize, o.at as u32 as usize);
            eh == h
                && o.internal() == internal
                && &chunks[c][off..off + usize::from(o.key_len)] == key
        };
        let old = match self.table.find_mut(spread(h), key_eq) {
            Some(slot) => Some(std::mem::replace(&mut slot.0, idx)),
            None => {
                self.table
                    .insert_unique(spread(h), (idx, h), |&(_, h)| spread(h));
                None
            }
        };
        if let Some(o) = old {
            self.kill(o);
        }
        (old, idx)
    }

    fn kill(&mut self, i: u32) {
        let e = &mut self.entries[i as usize];
        e.flags |= F_DEAD;
        let bytes = Self::bytes_of(e);
        self.live -= 1;
        self.live_bytes -= bytes;
        self.dead_bytes += bytes;
    }

    /// The write of entry `i` (live or dead).
    pub(crate) fn op_at(&self, i: u32) -> OpRef<'_> {
        self.op_of(&self.entries[i as usize])
    }

    /// Where the arena is now, for [`Pending::truncate`].
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            entries: self.entries.len(),
            chunks: self.chunks.len(),
            cur: self.cur,
            cur_len: self.cur.map_or(0, |c| self.chunks[c].len()),
        }
    }

    /// Undoes the write of entry `new`, the latest of its key, which replaced entry `old`
    /// (`None`: the key had no pending write before).
    pub(crate) fn undo(&mut self, new: u32, old: Option<u32>) {
        let e = self.entries[new as usize];
        let key = self.key_of(&e);
        let h = hash32(key, e.internal());
        if let Ok(slot) = self.table.find_entry(spread(h), |&(i, _)| i == new) {
            match old {
                Some(o) => *slot.into_mut() = (o, h),
                None => {
                    slot.remove();
                }
            }
        }
        if !e.dead() {
            self.kill(new);
        }
        if let Some(o) = old {
            let oe = &mut self.entries[o as usize];
            if oe.dead() {
                oe.flags &= !F_DEAD;
                let bytes = Self::bytes_of(oe);
                self.live += 1;
                self.live_bytes += bytes;
                self.dead_bytes -= bytes;
            }
        }
    }

    /// Drops the entries and arena bytes appended since `m`, every one of them dead (undone
    /// by [`Pending::undo`]).
    pub(crate) fn truncate(&mut self, m: Mark) {
        if self.entries.len() <= m.entries {
            return;
        }
        for e in &self.entries[m.entries..] {
            debug_assert!(e.dead(), "an entry truncated is undone first");
            self.dead_bytes -= Self::bytes_of(e);
        }
        self.entries.truncate(m.entries);
        self.chunks.truncate(m.chunks);
        self.cur = m.cur;
        if let Some(c) = m.cur {
            self.chunks[c].truncate(m.cur_len);
        }
    }

    /// Rewrites the arena with the live entries only, when dead bytes outweigh live ones.
    /// Only without a savepoint (entry indexes change).
    pub(crate) fn maybe_compact(&mut self) {
        if self.dead_bytes < COMPACT_MIN || self.dead_bytes < self.live_bytes {
            return;
        }
        let old = std::mem::take(self);
        for e in old.entries.iter().filter(|e| !e.dead()) {
            let value = match old.op_of(e) {
                OpRef::Del { .. } => None,
                OpRef::Put {
                    vtype,
                    payload,
                    expires_at,
                    ..
                } => Some((vtype, payload.to_vec(), expires_at)),
            };
            self.put(old.key_of(e), e.internal(), value);
        }
    }

    /// The live writes, in the order they were made.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            p: self,
            next: 0,
            left: self.live,
        }
    }
}

/// The live writes of a [`Pending`]: (key, write).
#[derive(Clone)]
pub(crate) struct Iter<'a> {
    p: &'a Pending,
    next: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], OpRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(e) = self.p.entries.get(self.next) {
            self.next += 1;
            if !e.dead() {
                self.left -= 1;
                return Some((self.p.key_of(e), self.p.op_of(e)));
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(p: &Pending) -> usize {
        p.chunks.iter().map(Vec::capacity).sum()
    }

    #[test]
    fn rewrites_of_one_key_are_reclaimed_without_a_savepoint() {
        let mut p = Pending::default();
        for i in 0..20_000u32 {
            let (old, _) = p.put(b"k", false, Some((0, vec![i as u8; 1000], 0)));
            assert_eq!(old.is_some(), i > 0);
            p.maybe_compact();
            p.put(b"big", false, Some((0, vec![i as u8; 8000], 0)));
            p.maybe_compact();
        }
        // 180 MB written; what is held stays within a few MiB.
        assert!(held(&p) < 8 << 20, "{} bytes held", held(&p));
        assert_eq!(p.iter().len(), 2);
        match p.get(b"k", false) {
            Some(OpRef::Put { payload, .. }) => assert_eq!(payload, &[(19_999u32 as u8); 1000][..]),
            other => panic!("{other:?}"),
        }
        match p.get(b"big", false) {
            Some(OpRef::Put { payload, .. }) => assert_eq!(payload.len(), 8000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn undo_and_truncate_restore_the_writes_before_a_mark() {
        let mut p = Pending::default();
        p.put(b"a", false, Some((1, b"one".to_vec(), 0)));
        p.put(b"a", true, Some((2, b"internal".to_vec(), 0)));
        let m = p.mark();
        let mut undo = Vec::new();
        for i in 0..1000u32 {
            let (old, new) = p.put(b"a", false, Some((1, vec![7; (i % 5000) as usize * 3], 0)));
            undo.push((new, old));
            let (old, new) = p.put(format!("n{i}").as_bytes(), false, None);
            undo.push((new, old));
        }
        while let Some((new, old)) = undo.pop() {
            p.undo(new, old);
        }
        p.truncate(m);
        assert_eq!(p.mark(), m);
        assert_eq!(p.iter().len(), 2);
        assert!(matches!(
            p.get(b"a", false),
            Some(OpRef::Put {
                vtype: 1,
                payload: b"one",
                ..
            })
        ));
        assert!(matches!(
            p.get(b"a", true),
            Some(OpRef::Put { vtype: 2, .. })
        ));
        assert!(p.get(b"n5", false).is_none());
        assert_eq!((p.dead_bytes, p.live_bytes), (0, 1 + 3 + 1 + 8));
    }
}
