//! The on-disk hash index: a memory-mapped open-addressing table shared by all processes
//! (format-spec.md §4).
//!
//! A slot is two atomic words: `tag` (0 empty, 3 deleted, otherwise 56 bits of the key's
//! hash and a check byte over that hash and `loc`) and `loc` (the position of the key's
//! newest record). Only the process holding the writer lock stores to slots, between the two
//! increments of the sequence lock; readers load them atomically and validate the whole probe
//! with the sequence lock. A probe checks the slot it finds and, before calling a key absent,
//! every live slot it passed, so a damaged slot is an error rather than a key silently
//! missing (format-spec.md §4.2).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::format::record::FORMAT_VERSION;
use crate::os::map::SharedWords;

pub(crate) const INDEX_MAGIC: u64 = u64::from_le_bytes(*b"ZGIDX\r\n\x1a");
pub(crate) const HEADER_BYTES: u64 = 4096;
const HEADER_WORDS: usize = (HEADER_BYTES / 8) as usize;
pub(crate) const SLOT_BYTES: u64 = 16;
pub(crate) const MIN_CAPACITY: u64 = 1024;

pub(crate) const TAG_EMPTY: u64 = 0;
/// Two bits away from empty, so that one flipped bit cannot turn a deleted slot into an empty
/// one (which would end probes early).
pub(crate) const TAG_DELETED: u64 = 3;
/// The bits of a live tag that hold the key's hash; the top byte is the check byte.
pub(crate) const TAG_HASH_BITS: u64 = (1 << 56) - 1;
/// Flipped into a hash that lies within one bit of `TAG_EMPTY` or `TAG_DELETED`.
const TAG_REMAP: u64 = 0x00f0_0000_0000_00f0;
/// Header word 16 holds this in an index whose slots carry check bytes; an index without it
/// (written before check bytes existed) is never adopted, but rebuilt.
pub(crate) const SLOT_FORMAT_CHECKED: u64 = 1;

// Header words (format-spec.md §4.1).
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_VERSION: usize = 1;
pub(crate) const H_GEN: usize = 2;
pub(crate) const H_CAP: usize = 3;
pub(crate) const H_USED: usize = 4;
pub(crate) const H_TOMBS: usize = 5;
pub(crate) const H_DIRTY: usize = 6;
pub(crate) const H_CKPT_POS: usize = 7;
pub(crate) const H_NEXT_TXN: usize = 8;
pub(crate) const H_NEXT_SEG: usize = 9;
pub(crate) const H_KEYS: usize = 10;
pub(crate) const H_LIVE: usize = 11;
pub(crate) const H_DEAD: usize = 12;
pub(crate) const H_CRC: usize = 13;
/// User keys with an expiry time, at the checkpoint.
pub(crate) const H_EXPIRING: usize = 14;
/// The database id of the manifest the index belongs to (0: none).
pub(crate) const H_DB_ID: usize = 15;
/// User keys by value type at the checkpoint: word `H_TYPE_KEYS + tag`.
pub(crate) const H_TYPE_KEYS: usize = 32;
/// The slot format (`SLOT_FORMAT_CHECKED`).
pub(crate) const H_SLOT_FORMAT: usize = 16;
/// Words covered by the header checksum (all but `H_CRC`).
const H_SEALED: usize = 64;

/// The 64-bit hash of a user key; stable across processes, builds and machines.
pub(crate) fn hash_key(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Seed of the hash of internal keys, so the two namespaces probe different slots.
const INTERNAL_SEED: u64 = 0x5a49_4747_5944_4221;

/// The hash of a key in its namespace (format-spec.md §4.2).
pub(crate) fn hash_for(key: &[u8], internal: bool) -> u64 {
    if internal {
        xxhash_rust::xxh3::xxh3_64_with_seed(key, INTERNAL_SEED)
    } else {
        hash_key(key)
    }
}

/// A key's position in scan order: its slot hash with the bits reversed, so that it does not
/// depend on the table's capacity (format-spec.md §8.1).
pub(crate) fn scan_order(key: &[u8]) -> u64 {
    slot_hash(hash_key(key)).reverse_bits()
}

/// The part of a key's tag that comes from its hash `hash`: the low 56 bits, moved (by
/// flipping a fixed pattern) when they lie within one bit of `TAG_EMPTY` or `TAG_DELETED`.
/// So no single flipped bit turns a live tag into an empty or deleted one, and the result is
/// never 0 or 3. The key's home slot is this value modulo the capacity.
pub(crate) fn slot_hash(hash: u64) -> u64 {
    // `x & (x - 1) == 0` says that `x` has fewer than two bits set.
    let at_most_one_bit = |x: u64| x & x.wrapping_sub(1) == 0;
    let h = hash & TAG_HASH_BITS;
    if at_most_one_bit(h) || at_most_one_bit(h ^ TAG_DELETED) {
        h ^ TAG_REMAP
    } else {
        h
    }
}

/// The check byte of a slot: bit `i` is the parity of bit `i` of every byte of `h ^ loc`, so
/// every single flipped bit of the slot (hash, check byte or position) breaks it.
fn check_byte(h: u64, loc: u64) -> u64 {
    let mut x = h ^ loc;
    x ^= x >> 32;
    x ^= x >> 16;
    x ^= x >> 8;
    x & 0xff
}

/// The tag of a live slot whose key has slot hash `h` and whose record is at `loc`.
pub(crate) fn tag_for(h: u64, loc: u64) -> u64 {
    h | check_byte(h, loc) << 56
}

/// Whether a live slot's tag and position agree with its check byte.
pub(crate) fn slot_intact(tag: u64, loc: u64) -> bool {
    tag >> 56 == check_byte(tag & TAG_HASH_BITS, loc)
}

pub(crate) fn file_name(gen: u64) -> String {
    format!("index-{gen:08}.zdx")
}

/// Parses an index file name back into its generation.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    name.strip_prefix("index-")?
        .strip_suffix(".zdx")?
        .parse()
        .ok()
}

/// Result of probing for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The key is in `slot`, its record at `loc`.
    Found { slot: u64, loc: u64 },
    /// The key is absent; `free` is where an insert goes.
    Absent { free: Option<u64> },
}

/// One mapped index file.
pub(crate) struct IndexMap {
    pub(crate) gen: u64,
    pub(crate) cap: u64,
    mask: u64,
    words: SharedWords,
    pub(crate) path: PathBuf,
    _file: File,
}

impl IndexMap {
    /// Creates index file `gen` with `cap` slots (a power of two), marked dirty, with the
    /// file mode `mode`.
    pub(crate) fn create(dir: &Path, gen: u64, cap: u64, mode: u32) -> Result<Self> {
        let path = dir.join(file_name(gen));
        let file = crate::os::io::create(&path, mode)?;
        crate::os::io::allocate(&file, HEADER_BYTES + cap * SLOT_BYTES, &path)?;
        let words = SharedWords::open(&file, &path)?;
        crate::os::io::powerloss::after_map(&file, &path);
        let idx = Self {
            gen,
            cap,
            mask: cap - 1,
            words,
            path,
            _file: file,
        };
        idx.h(H_VERSION)
            .store(u64::from(FORMAT_VERSION), Ordering::Relaxed);
        idx.h(H_GEN).store(gen, Ordering::Relaxed);
        idx.h(H_CAP).store(cap, Ordering::Relaxed);
        idx.h(H_SLOT_FORMAT)
            .store(SLOT_FORMAT_CHECKED, Ordering::Relaxed);
        idx.h(H_DIRTY).store(1, Ordering::Relaxed);
        idx.h(H_MAGIC).store(INDEX_MAGIC, Ordering::Release);
        Ok(idx)
    }

    /// Opens index file `gen`, checking its header against the file size.
    pub(crate) fn open(dir: &Path, gen: u64) -> Result<Self> {
        let path = dir.join(file_name(gen));
        let file = crate::os::io::open_file(&path, true)?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let bad = |reason| Error::CorruptIndex {
            file: path.clone(),
            reason,
        };
        if len < HEADER_BYTES + MIN_CAPACITY * SLOT_BYTES {
            return Err(bad("index file is too short"));
        }
        let words = SharedWords::open(&file, &path)?;
        crate::os::io::powerloss::after_map(&file, &path);
        Self::checked(gen, words, path, file)
    }

    /// Opens index file `gen` read-only as a private copy in memory (a read-only open,
    /// format-spec.md §6.4): later changes to the file by another process do not show. The
    /// header is checked against the file size before anything is copied.
    pub(crate) fn open_snapshot(dir: &Path, gen: u64) -> Result<Self> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let path = dir.join(file_name(gen));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        if len < HEADER_BYTES + MIN_CAPACITY * SLOT_BYTES {
            return Err(Error::CorruptIndex {
                file: path,
                reason: "index file is too short",
            });
        }
        let mut cap = [0u8; 8];
        file.read_exact_at(&mut cap, (H_CAP * 8) as u64)
            .map_err(|e| Error::io(&path, e))?;
        let cap = u64::from_le_bytes(cap);
        if cap
            .checked_mul(SLOT_BYTES)
            .and_then(|b| b.checked_add(HEADER_BYTES))
            != Some(len)
        {
            return Err(Error::CorruptIndex {
                file: path,
                reason: "capacity does not match file size",
            });
        }
        let words = SharedWords::snapshot(&file, len, &path)?;
        Self::checked(gen, words, path, file)
    }

    /// Checks a mapped index file's header against its size.
    fn checked(gen: u64, words: SharedWords, path: PathBuf, file: File) -> Result<Self> {
        let len = words.len() as u64;
        let bad = |reason| Error::CorruptIndex {
            file: path.clone(),
            reason,
        };
        let w = words.words();
        if w[H_MAGIC].load(Ordering::Acquire) != INDEX_MAGIC {
            return Err(bad("bad magic number"));
        }
        let version = w[H_VERSION].load(Ordering::Relaxed);
        if version != u64::from(FORMAT_VERSION) {
            return Err(Error::IncompatibleVersion {
                file: path,
                found: u16::try_from(version).unwrap_or(u16::MAX),
                supported: FORMAT_VERSION,
            });
        }
        let cap = w[H_CAP].load(Ordering::Relaxed);
        if w[H_GEN].load(Ordering::Relaxed) != gen {
            return Err(bad("generation in header does not match file name"));
        }
        if !cap.is_power_of_two()
            || cap < MIN_CAPACITY
            || cap
                .checked_mul(SLOT_BYTES)
                .and_then(|b| b.checked_add(HEADER_BYTES))
                != Some(len)
        {
            return Err(bad("capacity does not match file size"));
        }
        let used = w[H_USED].load(Ordering::Relaxed);
        let tombs = w[H_TOMBS].load(Ordering::Relaxed);
        if used.checked_add(tombs).is_none_or(|n| n > cap) {
            return Err(bad("slot counts exceed the capacity"));
        }
        Ok(Self {
            gen,
            cap,
            mask: cap - 1,
            words,
            path,
            _file: file,
        })
    }

    /// A header word.
    pub(crate) fn h(&self, i: usize) -> &AtomicU64 {
        &self.words.words()[i]
    }

    fn tag_word(&self, slot: u64) -> &AtomicU64 {
        // slot < cap, and the file holds HEADER_WORDS + 2 * cap words (checked at open).
        &self.words.words()[HEADER_WORDS + 2 * slot as usize]
    }

    fn loc_word(&self, slot: u64) -> &AtomicU64 {
        &self.words.words()[HEADER_WORDS + 2 * slot as usize + 1]
    }

    /// Visits, for home slots in bit-reversed order from the one holding scan position
    /// `from`, every live slot whose key has that home slot: `f(order, loc)` gets the key's
    /// position in scan order (its tag with the bits reversed, independent of the table's
    /// capacity) and its record. Stops after the home slot where `f` asked to stop (by
    /// returning false) or `max_visit` slots were looked at; returns the scan position where
    /// the next call starts, `None` once every home slot was visited.
    ///
    /// A live slot that fails its check byte is an error unless `torn(slot_hash, loc)`
    /// accepts it (a reader during a publish, format-spec.md §8).
    pub(crate) fn scan_ordered(
        &self,
        from: u64,
        max_visit: u64,
        torn: impl Fn(u64, u64) -> bool,
        mut f: impl FnMut(u64, u64) -> Result<bool>,
    ) -> Result<Option<u64>> {
        let bits = self.cap.trailing_zeros();
        let shift = 64 - bits;
        let mut rank = if bits == 0 { 0 } else { from >> shift };
        let mut visited = 0u64;
        while rank < self.cap {
            let home = if bits == 0 {
                0
            } else {
                rank.reverse_bits() >> shift
            };
            let mut go_on = true;
            let mut slot = home;
            for _ in 0..self.cap {
                visited += 1;
                let t = self.tag_word(slot).load(Ordering::Acquire);
                if t == TAG_EMPTY {
                    break;
                }
                if t != TAG_DELETED {
                    let loc = self.loc_word(slot).load(Ordering::Acquire);
                    if !slot_intact(t, loc) && !torn(t & TAG_HASH_BITS, loc) {
                        return Err(self.damaged());
                    }
                    if t & self.mask == home && loc != 0 {
                        go_on &= f((t & TAG_HASH_BITS).reverse_bits(), loc)?;
                    }
                }
                slot = (slot + 1) & self.mask;
            }
            rank += 1;
            if !go_on || visited >= max_visit {
                break;
            }
        }
        Ok((rank < self.cap).then(|| rank << shift))
    }

    /// Finds the key with hash `hash`; `matches(loc)` says whether the record at `loc` holds
    /// the key. Visits at most `cap` slots, so a damaged table cannot loop forever.
    pub(crate) fn probe(
        &self,
        hash: u64,
        matches: impl FnMut(u64) -> Result<bool>,
    ) -> Result<Probe> {
        self.probe_during(hash, matches, |_, _| false)
    }

    /// [`IndexMap::probe`] for a reader that may meet a publish in progress: a live slot
    /// that fails its check byte is accepted when `torn(slot_hash, loc)` proves it a slot
    /// the publisher is repointing (format-spec.md §8), and is an error otherwise.
    pub(crate) fn probe_during(
        &self,
        hash: u64,
        mut matches: impl FnMut(u64) -> Result<bool>,
        torn: impl Fn(u64, u64) -> bool,
    ) -> Result<Probe> {
        let h = slot_hash(hash);
        let mut slot = h & self.mask;
        let mut free = None;
        for _ in 0..self.cap {
            let t = self.tag_word(slot).load(Ordering::Acquire);
            if t == TAG_EMPTY {
                // Before calling the key absent, check every live slot passed: a damaged
                // tag would otherwise have made the probe walk past its key.
                self.check_run(h & self.mask, slot.wrapping_sub(h) & self.mask, &torn)?;
                return Ok(Probe::Absent {
                    free: free.or(Some(slot)),
                });
            }
            if t == TAG_DELETED {
                free = free.or(Some(slot));
            } else if t & TAG_HASH_BITS == h {
                let loc = self.loc_word(slot).load(Ordering::Acquire);
                if !slot_intact(t, loc) && !torn(h, loc) {
                    return Err(self.damaged());
                }
                if loc != 0 && matches(loc)? {
                    return Ok(Probe::Found { slot, loc });
                }
            }
            slot = (slot + 1) & self.mask;
        }
        // No empty slot anywhere (only damage makes a table full): check all of it.
        self.check_run(h & self.mask, self.cap, &torn)?;
        Ok(Probe::Absent { free })
    }

    /// The probe path of `hash` as it is: `(tag, loc)` of each slot from the key's home slot
    /// on, up to the first empty one (left out), at most `cap` slots.
    pub(crate) fn probe_path(&self, hash: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let h = slot_hash(hash);
        (0..self.cap)
            .map(move |i| {
                let slot = h.wrapping_add(i) & self.mask;
                let tag = self.tag_word(slot).load(Ordering::Acquire);
                (tag, self.loc_word(slot).load(Ordering::Acquire))
            })
            .take_while(|&(tag, _)| tag != TAG_EMPTY)
    }

    /// Checks every live slot of the `n` from `from` on, wrapping (`torn` as in
    /// [`IndexMap::probe_during`]).
    fn check_run(&self, from: u64, n: u64, torn: &impl Fn(u64, u64) -> bool) -> Result<()> {
        let mut slot = from;
        for _ in 0..n {
            let t = self.tag_word(slot).load(Ordering::Acquire);
            if t != TAG_EMPTY && t != TAG_DELETED {
                let loc = self.loc_word(slot).load(Ordering::Acquire);
                if !slot_intact(t, loc) && !torn(t & TAG_HASH_BITS, loc) {
                    return Err(self.damaged());
                }
            }
            slot = (slot + 1) & self.mask;
        }
        Ok(())
    }

    /// The error for a live slot that fails its check byte. A reader that raced a writer
    /// sees it too, but then fails its sequence check and retries, or, during a publish,
    /// accepts the slot once its record proves it (format-spec.md §8).
    #[cold]
    #[inline(never)]
    fn damaged(&self) -> Error {
        Error::CorruptIndex {
            file: self.path.clone(),
            reason: "an index slot fails its check byte",
        }
    }

    /// Writer only: stores a new key in `slot` (from `Probe::Absent { free }`).
    pub(crate) fn insert(&self, slot: u64, hash: u64, loc: u64) {
        let old = self.tag_word(slot).load(Ordering::Relaxed);
        self.loc_word(slot).store(loc, Ordering::Relaxed);
        self.tag_word(slot)
            .store(tag_for(slot_hash(hash), loc), Ordering::Release);
        if old == TAG_DELETED {
            self.h(H_TOMBS).fetch_sub(1, Ordering::Relaxed);
        }
        self.h(H_USED).fetch_add(1, Ordering::Relaxed);
    }

    /// Writer only: points `slot` at a newer record (and renews its check byte).
    pub(crate) fn set_loc(&self, slot: u64, loc: u64) {
        let h = self.tag_word(slot).load(Ordering::Relaxed) & TAG_HASH_BITS;
        self.loc_word(slot).store(loc, Ordering::Relaxed);
        self.tag_word(slot)
            .store(tag_for(h, loc), Ordering::Release);
    }

    /// Writer only, after a writer died while publishing (format-spec.md §10.1): renews the
    /// check byte of every slot that fails it only because the dead writer stored its new
    /// position and not yet its new tag, which `key_hash(loc)` proves by giving the slot hash
    /// of the key at `loc` equal to the slot's. Other failing slots are left to be reported.
    /// Returns the slots renewed.
    pub(crate) fn renew_torn_slots(&self, key_hash: impl Fn(u64) -> Option<u64>) -> u64 {
        let mut renewed = 0;
        for slot in 0..self.cap {
            let t = self.tag_word(slot).load(Ordering::Relaxed);
            if t == TAG_EMPTY || t == TAG_DELETED {
                continue;
            }
            let loc = self.loc_word(slot).load(Ordering::Relaxed);
            if !slot_intact(t, loc) && key_hash(loc) == Some(t & TAG_HASH_BITS) {
                self.tag_word(slot)
                    .store(tag_for(t & TAG_HASH_BITS, loc), Ordering::Release);
                renewed += 1;
            }
        }
        renewed
    }

    /// Writer only, after a writer died while publishing (format-spec.md §10.1): sets the
    /// header's counts of live and deleted slots from the slots themselves. The dead writer
    /// may have changed a slot and not yet the count that goes with it (`insert` and `remove`
    /// store the tag first), and applying its records again finds the slot done and skips it.
    pub(crate) fn recount_slots(&self) {
        let (mut used, mut tombs) = (0u64, 0u64);
        for slot in 0..self.cap {
            match self.tag_word(slot).load(Ordering::Relaxed) {
                TAG_EMPTY => {}
                TAG_DELETED => tombs += 1,
                _ => used += 1,
            }
        }
        self.h(H_USED).store(used, Ordering::Relaxed);
        self.h(H_TOMBS).store(tombs, Ordering::Relaxed);
    }

    /// Writer only: deletes the key in `slot`.
    pub(crate) fn remove(&self, slot: u64) {
        self.tag_word(slot).store(TAG_DELETED, Ordering::Release);
        self.h(H_USED).fetch_sub(1, Ordering::Relaxed);
        self.h(H_TOMBS).fetch_add(1, Ordering::Relaxed);
    }

    /// True if `extra` more inserts would take the table past 3/4 full (counting deleted
    /// slots, which lengthen probes as much as live ones).
    pub(crate) fn needs_resize(&self, extra: u64) -> bool {
        let used = self.h(H_USED).load(Ordering::Relaxed);
        let tombs = self.h(H_TOMBS).load(Ordering::Relaxed);
        (used + tombs + extra) * 4 > self.cap * 3
    }

    /// The file's size in bytes.
    pub(crate) fn file_bytes(&self) -> u64 {
        HEADER_BYTES + self.cap * SLOT_BYTES
    }

    /// Whether a smaller index would hold the live keys below the growth threshold
    /// ([`snug_capacity`]): what an explicit compaction shrinks to (format-spec.md §4.3).
    pub(crate) fn oversized(&self) -> bool {
        snug_capacity(self.used()) < self.cap
    }

    /// Live entries.
    pub(crate) fn used(&self) -> u64 {
        self.h(H_USED).load(Ordering::Relaxed)
    }

    /// The record position in `slot` if it holds a key and passes its check byte.
    pub(crate) fn slot_loc(&self, slot: u64) -> Option<u64> {
        if slot >= self.cap {
            return None;
        }
        let t = self.tag_word(slot).load(Ordering::Acquire);
        if t == TAG_EMPTY || t == TAG_DELETED {
            return None;
        }
        let loc = self.loc_word(slot).load(Ordering::Acquire);
        slot_intact(t, loc).then_some(loc)
    }

    /// `(slot, tag, loc)` of every slot that is neither empty nor deleted (whether or not it
    /// passes its check byte: see [`slot_intact`]).
    pub(crate) fn live_slots(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        (0..self.cap).filter_map(move |s| {
            let t = self.tag_word(s).load(Ordering::Acquire);
            (t != TAG_EMPTY && t != TAG_DELETED)
                .then(|| (s, t, self.loc_word(s).load(Ordering::Acquire)))
        })
    }

    /// Tests only: stores a slot's tag as it is, to make a torn or damaged slot.
    #[cfg(test)]
    pub(crate) fn store_tag(&self, slot: u64, tag: u64) {
        self.tag_word(slot).store(tag, Ordering::Release);
    }

    /// Raw insert used when copying into a fresh table (no deleted slots, no duplicates).
    pub(crate) fn insert_fresh(&self, tag: u64, loc: u64) {
        let mut slot = tag & self.mask;
        while self.tag_word(slot).load(Ordering::Relaxed) != TAG_EMPTY {
            slot = (slot + 1) & self.mask;
        }
        self.loc_word(slot).store(loc, Ordering::Relaxed);
        self.tag_word(slot).store(tag, Ordering::Relaxed);
        self.h(H_USED).fetch_add(1, Ordering::Relaxed);
    }

    /// The checksum of the sealed header words as they are when clean: every word of
    /// `0..H_SEALED` but `H_CRC`, with `H_DIRTY` taken as 0 (format-spec.md §4.1). A checkpoint
    /// computes it while the header is still dirty, so the dirty word cannot count as stored.
    fn header_crc(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        for i in (0..H_SEALED).filter(|&i| i != H_CRC) {
            let w = if i == H_DIRTY {
                0
            } else {
                self.h(i).load(Ordering::Relaxed)
            };
            h.update(&w.to_le_bytes());
        }
        h.finalize()
    }

    /// True if the header was sealed by a checkpoint and not modified since.
    pub(crate) fn is_clean(&self) -> bool {
        self.h(H_DIRTY).load(Ordering::Acquire) == 0
            && self.h(H_CRC).load(Ordering::Relaxed) == u64::from(self.header_crc())
    }

    /// Marks the index dirty and makes that durable before the first change after a
    /// checkpoint (format-spec.md §9.3).
    pub(crate) fn mark_dirty(&self) -> Result<()> {
        if self.h(H_DIRTY).load(Ordering::Acquire) == 0 {
            self.h(H_DIRTY).store(1, Ordering::Release);
            self.words
                .flush_range(0, HEADER_BYTES as usize, &self.path)?;
        }
        Ok(())
    }

    /// Checkpoint (format-spec.md §9.3): flush every slot, then write and flush the sealed
    /// header. Order matters for a crash: the slots reach the disk (msync) while the header on
    /// disk still says dirty; then the header fields and their checksum are stored, and
    /// `dirty = 0` last, so that a page the kernel writes back at any moment holds either a
    /// dirty header or a complete clean one; the final msync makes it durable. A header torn
    /// on the medium fails its checksum and is rebuilt rather than adopted.
    pub(crate) fn checkpoint(&self, fields: &[(usize, u64)]) -> Result<()> {
        self.h(H_DIRTY).store(1, Ordering::Release);
        self.words.flush_range(0, self.words.len(), &self.path)?;
        for &(i, v) in fields {
            self.h(i).store(v, Ordering::Relaxed);
        }
        self.h(H_CRC)
            .store(u64::from(self.header_crc()), Ordering::Relaxed);
        self.h(H_DIRTY).store(0, Ordering::Release);
        self.words.flush_range(0, HEADER_BYTES as usize, &self.path)
    }

    /// Bytes mapped.
    pub(crate) fn mapped_len(&self) -> usize {
        self.words.len()
    }
}

/// The smallest capacity (a power of two, at least [`MIN_CAPACITY`]) that holds `keys`
/// without passing the growth threshold of ¾ (format-spec.md §4.3): what an explicit
/// compaction shrinks an index to.
pub(crate) fn snug_capacity(keys: u64) -> u64 {
    keys.saturating_mul(4)
        .div_ceil(3)
        .max(MIN_CAPACITY)
        .next_power_of_two()
}

/// Smallest power-of-two capacity that holds `keys` at most half full.
pub(crate) fn capacity_for(keys: u64) -> u64 {
    (keys.saturating_mul(2))
        .max(MIN_CAPACITY)
        .next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of 1024 slots holding keys `hashes[i]` at positions `i + 1`.
    fn table(dir: &Path, hashes: &[u64]) -> IndexMap {
        let idx = IndexMap::create(dir, 1, MIN_CAPACITY, 0o600).expect("index file");
        for (i, &h) in hashes.iter().enumerate() {
            match idx.probe(h, |_| Ok(false)).expect("probe") {
                Probe::Absent { free: Some(slot) } => idx.insert(slot, h, i as u64 + 1),
                other => panic!("no room: {other:?}"),
            }
        }
        idx
    }

    fn find(idx: &IndexMap, h: u64, loc: u64) -> Result<Probe> {
        idx.probe(h, |l| Ok(l == loc))
    }

    fn flip(w: &AtomicU64, bit: u32) {
        w.fetch_xor(1 << bit, Ordering::Relaxed);
    }

    #[test]
    fn a_snapshot_keeps_what_the_file_held_and_is_checked_before_it_is_copied() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        let hashes = [5 << 12 | 7, 9 << 12 | 7];
        let idx = table(dir.path(), &hashes);
        let snap = IndexMap::open_snapshot(dir.path(), 1)?;
        assert_eq!(find(&snap, hashes[1], 2)?, find(&idx, hashes[1], 2)?);
        // Changes to the file after the copy do not show in it.
        let home = slot_hash(hashes[0]) & idx.mask;
        idx.remove(home);
        idx.set_loc(home + 1, 40);
        assert_eq!(
            find(&snap, hashes[0], 1)?,
            Probe::Found { slot: home, loc: 1 }
        );
        assert_eq!(
            find(&snap, hashes[1], 2)?,
            Probe::Found {
                slot: home + 1,
                loc: 2
            }
        );
        assert_eq!(snap.used(), 2);
        // A capacity that does not match the file's size is refused before any copy.
        let path = dir.path().join(file_name(1));
        drop((idx, snap));
        let mut bytes = std::fs::read(&path).expect("index file");
        bytes[H_CAP * 8..H_CAP * 8 + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        std::fs::write(&path, &bytes).expect("write index file");
        assert!(matches!(
            IndexMap::open_snapshot(dir.path(), 1),
            Err(Error::CorruptIndex {
                reason: "capacity does not match file size",
                ..
            })
        ));
        std::fs::write(&path, &bytes[..4096]).expect("write index file");
        assert!(matches!(
            IndexMap::open_snapshot(dir.path(), 1),
            Err(Error::CorruptIndex {
                reason: "index file is too short",
                ..
            })
        ));
        Ok(())
    }

    #[test]
    fn a_checkpoint_leaves_a_header_that_validates_as_clean() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        let idx = table(dir.path(), &[5 << 12 | 7, 9 << 12 | 7]);
        assert!(!idx.is_clean(), "a new index is dirty");
        idx.checkpoint(&[(H_CKPT_POS, 1 << 32 | 64), (H_NEXT_TXN, 9)])?;
        assert!(
            idx.is_clean(),
            "dirty = 0 and the CRC must match after a checkpoint"
        );
        // The stored CRC is the spec's: words 0..13 and 14..64 as they are on disk.
        let mut sealed = Vec::new();
        for i in (0..H_SEALED).filter(|&i| i != H_CRC) {
            sealed.extend_from_slice(&idx.h(i).load(Ordering::Relaxed).to_le_bytes());
        }
        assert_eq!(
            idx.h(H_CRC).load(Ordering::Relaxed),
            u64::from(crc32fast::hash(&sealed))
        );
        // Any later change of a sealed word, and marking dirty, make it unclean.
        idx.h(H_KEYS).fetch_add(1, Ordering::Relaxed);
        assert!(!idx.is_clean());
        idx.h(H_KEYS).fetch_sub(1, Ordering::Relaxed);
        assert!(idx.is_clean());
        idx.mark_dirty()?;
        assert!(!idx.is_clean());
        // A second checkpoint, from dirty again, is clean again.
        idx.checkpoint(&[(H_NEXT_TXN, 10)])?;
        assert!(idx.is_clean());
        Ok(())
    }

    #[test]
    fn no_slot_hash_lies_within_one_bit_of_empty_or_deleted() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let specials = (0..64)
            .map(|b| 1u64 << b)
            .chain(0..8)
            .chain((0..64).map(|b| 3 ^ 1 << b));
        let randoms = (0..100_000).map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            x
        });
        for hash in specials.chain(randoms) {
            let h = slot_hash(hash);
            assert_eq!(h & !TAG_HASH_BITS, 0);
            for loc in [0, 1, u64::MAX, hash] {
                let t = tag_for(h, loc);
                assert!(slot_intact(t, loc));
                assert!(
                    (t ^ TAG_EMPTY).count_ones() >= 2 && (t ^ TAG_DELETED).count_ones() >= 2,
                    "tag {t:#x} of hash {hash:#x}"
                );
            }
        }
    }

    #[test]
    fn every_flipped_bit_of_a_live_slot_is_an_error_not_a_missing_key() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        // Three keys with one home slot, so probes pass the slots of the others.
        let hashes = [5 << 12 | 7, 9 << 12 | 7, 11 << 12 | 7];
        let idx = table(dir.path(), &hashes);
        let home = slot_hash(hashes[0]) & idx.mask;
        for target in 0..3u64 {
            for word in [idx.tag_word(home + target), idx.loc_word(home + target)] {
                for bit in 0..64 {
                    flip(word, bit);
                    let found: Vec<Result<Probe>> = (0..3u64)
                        .map(|k| find(&idx, hashes[k as usize], k + 1))
                        .collect();
                    flip(word, bit);
                    for (k, r) in found.into_iter().enumerate() {
                        let k = k as u64;
                        let right = Probe::Found {
                            slot: home + k,
                            loc: k + 1,
                        };
                        // The damaged key's read fails; another key reads right or fails.
                        assert!(
                            matches!(r, Err(Error::CorruptIndex { .. }))
                                || (k != target && r.as_ref().ok() == Some(&right)),
                            "slot {target}, bit {bit}, key {k}: {r:?}"
                        );
                    }
                }
            }
        }
        for k in 0..3u64 {
            assert_eq!(
                find(&idx, hashes[k as usize], k + 1)?,
                Probe::Found {
                    slot: home + k,
                    loc: k + 1
                }
            );
        }
        // A key that is absent is only called absent once the whole run checked out.
        idx.tag_word(home + 1).fetch_xor(1 << 20, Ordering::Relaxed);
        assert!(find(&idx, 13 << 12 | 7, 99).is_err());
        Ok(())
    }

    #[test]
    fn a_flipped_bit_in_a_deleted_slot_never_hides_a_key_behind_it() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        let hashes = [5 << 12 | 7, 9 << 12 | 7];
        let idx = table(dir.path(), &hashes);
        let home = slot_hash(hashes[0]) & idx.mask;
        idx.remove(home);
        for word in [idx.tag_word(home), idx.loc_word(home)] {
            for bit in 0..64 {
                flip(word, bit);
                let r = find(&idx, hashes[1], 2);
                flip(word, bit);
                assert!(
                    matches!(
                        r,
                        Ok(Probe::Found { loc: 2, .. }) | Err(Error::CorruptIndex { .. })
                    ),
                    "bit {bit}: {r:?}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn repointing_renews_the_check_byte_and_a_torn_repoint_is_renewed_after_proof() -> Result<()> {
        let dir = tempfile::tempdir().expect("temp dir");
        let hashes = [5 << 12 | 7, 9 << 12 | 7];
        let idx = table(dir.path(), &hashes);
        let home = slot_hash(hashes[0]) & idx.mask;
        idx.set_loc(home, 40);
        assert_eq!(
            find(&idx, hashes[0], 40)?,
            Probe::Found {
                slot: home,
                loc: 40
            }
        );
        // A writer that died between the two stores of `set_loc`.
        idx.loc_word(home).store(41, Ordering::Relaxed);
        assert!(find(&idx, hashes[0], 41).is_err());
        // The proof fails (the key at 41 is another): nothing is renewed.
        assert_eq!(idx.renew_torn_slots(|_| Some(slot_hash(hashes[1]))), 0);
        assert!(find(&idx, hashes[0], 41).is_err());
        assert_eq!(idx.renew_torn_slots(|_| Some(slot_hash(hashes[0]))), 1);
        assert_eq!(
            find(&idx, hashes[0], 41)?,
            Probe::Found {
                slot: home,
                loc: 41
            }
        );
        Ok(())
    }
}
