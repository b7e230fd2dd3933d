//! The on-disk hash index: a memory-mapped open-addressing table shared by all processes
//! (format-spec.md §4).
//!
//! A slot is two atomic words: `tag` (0 empty, 1 deleted, otherwise the key's 64-bit hash
//! forced to be ≥ 2) and `loc` (the position of the key's newest record). Only the process
//! holding the writer lock stores to slots, between the two increments of the sequence lock;
//! readers load them atomically and validate the whole probe with the sequence lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::map::SharedWords;
use crate::record::FORMAT_VERSION;

pub(crate) const INDEX_MAGIC: u64 = u64::from_le_bytes(*b"ZGIDX\r\n\x1a");
pub(crate) const HEADER_BYTES: u64 = 4096;
const HEADER_WORDS: usize = (HEADER_BYTES / 8) as usize;
pub(crate) const SLOT_BYTES: u64 = 16;
pub(crate) const MIN_CAPACITY: u64 = 1024;

pub(crate) const TAG_EMPTY: u64 = 0;
pub(crate) const TAG_DELETED: u64 = 1;

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

/// The slot tag for a hash.
/// Where a user key comes in a scan (format-spec.md §8.1): its tag with the bits reversed.
pub(crate) fn scan_order(key: &[u8]) -> u64 {
    tag_of(hash_key(key)).reverse_bits()
}

pub(crate) fn tag_of(hash: u64) -> u64 {
    if hash < 2 {
        hash + 2
    } else {
        hash
    }
}

/// Name of the index file of generation `gen`.
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
    /// Creates index file `gen` with `cap` slots (a power of two), marked dirty.
    pub(crate) fn create(dir: &Path, gen: u64, cap: u64) -> Result<Self> {
        let path = dir.join(file_name(gen));
        let file = crate::io::create(&path)?;
        crate::io::allocate(&file, HEADER_BYTES + cap * SLOT_BYTES, &path)?;
        let words = SharedWords::open(&file, &path)?;
        crate::io::powerloss::after_map(&file, &path);
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
        idx.h(H_DIRTY).store(1, Ordering::Relaxed);
        idx.h(H_MAGIC).store(INDEX_MAGIC, Ordering::Release);
        Ok(idx)
    }

    /// Opens index file `gen`, checking its header against the file size.
    pub(crate) fn open(dir: &Path, gen: u64) -> Result<Self> {
        let path = dir.join(file_name(gen));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let bad = |reason| Error::CorruptIndex {
            file: path.clone(),
            reason,
        };
        if len < HEADER_BYTES + MIN_CAPACITY * SLOT_BYTES {
            return Err(bad("index file is too short"));
        }
        let words = SharedWords::open(&file, &path)?;
        crate::io::powerloss::after_map(&file, &path);
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
    pub(crate) fn scan_ordered(
        &self,
        from: u64,
        max_visit: u64,
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
                if t >= 2 && t & self.mask == home {
                    let loc = self.loc_word(slot).load(Ordering::Acquire);
                    if loc != 0 {
                        go_on &= f(t.reverse_bits(), loc)?;
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
        mut matches: impl FnMut(u64) -> Result<bool>,
    ) -> Result<Probe> {
        let tag = tag_of(hash);
        let mut slot = hash & self.mask;
        let mut free = None;
        for _ in 0..self.cap {
            let t = self.tag_word(slot).load(Ordering::Acquire);
            if t == TAG_EMPTY {
                return Ok(Probe::Absent {
                    free: free.or(Some(slot)),
                });
            }
            if t == TAG_DELETED {
                free = free.or(Some(slot));
            } else if t == tag {
                let loc = self.loc_word(slot).load(Ordering::Acquire);
                if loc != 0 && matches(loc)? {
                    return Ok(Probe::Found { slot, loc });
                }
            }
            slot = (slot + 1) & self.mask;
        }
        Ok(Probe::Absent { free })
    }

    /// Writer only: stores a new key in `slot` (from `Probe::Absent { free }`).
    pub(crate) fn insert(&self, slot: u64, hash: u64, loc: u64) {
        let old = self.tag_word(slot).load(Ordering::Relaxed);
        self.loc_word(slot).store(loc, Ordering::Relaxed);
        self.tag_word(slot).store(tag_of(hash), Ordering::Release);
        if old == TAG_DELETED {
            self.h(H_TOMBS).fetch_sub(1, Ordering::Relaxed);
        }
        self.h(H_USED).fetch_add(1, Ordering::Relaxed);
    }

    /// Writer only: points `slot` at a newer record.
    pub(crate) fn set_loc(&self, slot: u64, loc: u64) {
        self.loc_word(slot).store(loc, Ordering::Release);
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

    /// Live entries.
    pub(crate) fn used(&self) -> u64 {
        self.h(H_USED).load(Ordering::Relaxed)
    }

    /// The record position in `slot` if it holds a key.
    pub(crate) fn slot_loc(&self, slot: u64) -> Option<u64> {
        if slot >= self.cap || self.tag_word(slot).load(Ordering::Acquire) < 2 {
            return None;
        }
        Some(self.loc_word(slot).load(Ordering::Acquire))
    }

    /// `(slot, loc)` of every live slot.
    pub(crate) fn live_slots(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        (0..self.cap).filter_map(move |s| {
            let t = self.tag_word(s).load(Ordering::Acquire);
            (t >= 2).then(|| (s, t, self.loc_word(s).load(Ordering::Acquire)))
        })
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

    fn header_crc(&self) -> u32 {
        let mut h = crc32fast::Hasher::new();
        for i in (0..H_SEALED).filter(|&i| i != H_CRC) {
            h.update(&self.h(i).load(Ordering::Relaxed).to_le_bytes());
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

    /// Checkpoint: flush every slot, then write and flush the sealed header.
    pub(crate) fn checkpoint(&self, fields: &[(usize, u64)]) -> Result<()> {
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

/// Smallest power-of-two capacity that holds `keys` at most half full.
pub(crate) fn capacity_for(keys: u64) -> u64 {
    (keys.saturating_mul(2))
        .max(MIN_CAPACITY)
        .next_power_of_two()
}
