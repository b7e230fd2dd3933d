//! Index files (format-spec.md §4) opened and probed after damage, or made of any bytes.
//!
//! Byte 0 picks the capacity (1024 << (b & 3) slots) and the mode (bits 2..4):
//!
//! - 0 and 1, a damaged table: the engine's insert fills the table with keys (byte 1 says how
//!   full, up to 3/4), deletes some (byte 2 says which), and the rest of the input is damage,
//!   four bytes each: a 24-bit offset into the file (modulo its length, top bit: set the byte
//!   rather than XOR it) and the byte. The file is opened with the engine's checks and every
//!   key probed, the engine's record check modelled by `holds(loc)` (true only at the key's
//!   own position). With no damage, or damage confined to the header of a file that opens,
//!   every probe is exact. With any damage, a probe is the key's own position, a miss, or
//!   `CorruptIndex`, never another position; with a single flipped bit in the slots, a live
//!   key is never missed.
//! - 2 and 3, any bytes: a header with a valid magic, version, generation and capacity (mode
//!   3: words 4..512 from the input, mode 2: zero), then the rest of the input as slots and
//!   zeros after it. Opening and probing may fail; they may not panic, hang, or visit more
//!   slots than the table has.
//!
//! Bit 4 of byte 0 makes the file 16 bytes longer or (bit 5) shorter than its capacity says,
//! which opening must refuse.
use std::path::Path;

use ziggydb::internals::Index;
use ziggydb::Error;

const HEADER: usize = 4096;
const SLOT: usize = 16;
const GEN: u64 = 1;

fn key(i: usize) -> Vec<u8> {
    format!("key{i}").into_bytes()
}

/// Where the record of key `i` is (never 0, which no record is at).
fn loc(i: usize) -> u64 {
    (1 << 32) + 64 + 40 * i as u64
}

/// The file's name for generation `GEN` (format-spec.md §4).
fn file_name() -> String {
    format!("index-{GEN:08}.zdx")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    None,
    /// Only header bytes changed.
    Header,
    /// One bit of the slots flipped, nothing else.
    OneSlotBit,
    Any,
}

fn classify(before: &[u8], after: &[u8]) -> Damage {
    if before.len() != after.len() {
        return Damage::Any;
    }
    let changed: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    match changed.as_slice() {
        [] => Damage::None,
        c if c.iter().all(|&i| i < HEADER) => Damage::Header,
        [i] if (before[*i] ^ after[*i]).count_ones() == 1 => Damage::OneSlotBit,
        _ => Damage::Any,
    }
}

/// Opens the index, checking that a refusal is one of the errors for a damaged file.
fn open(dir: &Path, must: bool) -> Option<Index> {
    match Index::open(dir, GEN) {
        Ok(idx) => Some(idx),
        Err(e) => {
            assert!(!must, "an undamaged index does not open: {e}");
            assert!(
                matches!(
                    e,
                    Error::CorruptIndex { .. } | Error::IncompatibleVersion { .. }
                ),
                "opening a damaged index: {e:?}"
            );
            None
        }
    }
}

/// Probes `key` with `holds`, checking that no more slots than the capacity are looked at.
fn probe(idx: &Index, key: &[u8], holds: impl Fn(u64) -> bool) -> ziggydb::Result<Option<u64>> {
    let mut visits = 0u64;
    let r = idx.probe_where(key, |l| {
        visits += 1;
        holds(l)
    });
    assert!(
        visits <= idx.capacity(),
        "{visits} slots checked in a table of {}",
        idx.capacity()
    );
    if let Ok(Some(l)) = r {
        assert!(
            holds(l),
            "found position {l:#x}, which does not hold the key"
        );
    }
    r
}

fn damaged_table(dir: &Path, cap: u64, fill: u8, del: u8, damage: &[u8], resize: Option<bool>) {
    let n = (cap * 3 / 4 * u64::from(fill) / 255) as usize;
    let every = usize::from(del % 16) + 2;
    let deleted = |i: usize| del != 0 && i % every == 0;
    let path = {
        let idx = Index::create(dir, cap / 2).expect("create index");
        assert_eq!(idx.capacity(), cap);
        for i in 0..n {
            idx.insert(&key(i), loc(i));
        }
        for i in (0..n).filter(|&i| deleted(i)) {
            assert!(
                idx.remove(&key(i), loc(i)).expect("remove"),
                "remove key {i}"
            );
        }
        idx.path().to_path_buf()
    };
    let before = std::fs::read(&path).expect("read index");
    let mut after = before.clone();
    for d in damage.chunks_exact(4) {
        let off = u32::from_le_bytes([d[0], d[1], d[2] & 0x7f, 0]) as usize % after.len();
        if d[2] & 0x80 != 0 {
            after[off] = d[3];
        } else {
            after[off] ^= d[3];
        }
    }
    match resize {
        Some(true) => after.extend_from_slice(&[0; SLOT]),
        Some(false) => after.truncate(after.len() - SLOT),
        None => {}
    }
    std::fs::write(&path, &after).expect("write index");
    let damage = classify(&before, &after);
    let Some(idx) = open(dir, damage == Damage::None) else {
        return;
    };
    assert!(resize.is_none(), "an index of the wrong size opened");
    let exact = matches!(damage, Damage::None | Damage::Header);
    // Keys never inserted are probed too: as many as the table has live keys, at least 64.
    for i in 0..n.max(64) * 2 {
        let live = i < n && !deleted(i);
        let r = probe(&idx, &key(i), |l| i < n && l == loc(i));
        match r {
            Ok(Some(l)) => assert!(live && l == loc(i), "key {i} found at {l:#x}"),
            Ok(None) => assert!(
                !live || !exact && damage != Damage::OneSlotBit,
                "live key {i} missed after damage {damage:?}"
            ),
            Err(Error::CorruptIndex { .. }) => {
                assert!(!exact, "CorruptIndex without damage to the slots")
            }
            Err(e) => panic!("probe of key {i}: {e:?}"),
        }
    }
}

fn any_bytes(dir: &Path, cap: u64, raw_header: bool, rest: &[u8], resize: Option<bool>) {
    let len = HEADER + cap as usize * SLOT;
    let mut file = vec![0u8; len];
    let words: [u64; 4] = [u64::from_le_bytes(*b"ZGIDX\r\n\x1a"), 1, GEN, cap];
    for (i, w) in words.iter().enumerate() {
        file[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    let body = if raw_header {
        &mut file[32..]
    } else {
        &mut file[HEADER..]
    };
    let take = rest.len().min(body.len());
    body[..take].copy_from_slice(&rest[..take]);
    match resize {
        Some(true) => file.extend_from_slice(&[0; SLOT]),
        Some(false) => file.truncate(len - SLOT),
        None => {}
    }
    std::fs::write(dir.join(file_name()), &file).expect("write index");
    let Some(idx) = open(dir, false) else { return };
    assert!(resize.is_none(), "an index of the wrong size opened");
    // Slots from the input hold any positions: say that a third of them hold the key.
    for i in 0..64 {
        let _ = probe(&idx, &key(i), |l| l % 3 == 0);
    }
}

/// One input.
pub fn fuzz(data: &[u8]) {
    let [mode, fill, del, rest @ ..] = data else {
        return;
    };
    let cap = 1024u64 << (mode & 3);
    let resize = match mode >> 4 & 3 {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    match mode >> 2 & 3 {
        0 | 1 => damaged_table(dir.path(), cap, *fill, *del, rest, resize),
        m => {
            // Here `fill` and `del` are slot bytes like the rest.
            any_bytes(dir.path(), cap, m == 3, &data[1..], resize);
        }
    }
}
