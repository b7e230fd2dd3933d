//! Segment records and the log scan on any bytes.
//!
//! Records of both forms: the 24-byte header and the short PUT that compaction writes
//! (format-spec.md §3.2.1), which must decode to the same fields and re-encode to the same
//! bytes, and which a log segment's scan never accepts inside a transaction.
//!
//! The input is decoded as records packed back to back (as in a compacted segment or the
//! WAL), and as a whole log segment with the engine's log scan, which stops at the first
//! transaction that is not valid (format-spec.md §3.3). Neither may panic or allocate more
//! than a small multiple of the input (a length read off the bytes is never trusted). A
//! record that decodes re-encodes to the same bytes; the transactions the scan returns are
//! well formed (records of one txn id, ended by a COMMIT with their count, ids increasing),
//! lie back to back from offset 64 to where the scan says the log ends, and scan the same
//! again once re-encoded.
//!
//! Byte 0 is a mode: with bit 0 set the record checksums in the rest are fixed up first
//! (walking the records as their lengths say), so that the fuzzer reaches the structure
//! behind the checksum; with bit 1 set the rest is scanned as a segment after a 64-byte
//! header of zeros rather than with its first 64 bytes as the header.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ziggydb::internals::{decode_record, encode_record, scan_log, Record};

/// Counts the largest single allocation of the thread that armed it.
struct Watch;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every call goes to `System` unchanged; the bookkeeping touches only const-initialised
// thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static WATCH: Watch = Watch;

/// Runs `f` and returns the largest single allocation it made on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, LARGEST.with(Cell::get))
}

const HEADER: usize = 64;
const RECORD_HEADER: usize = 24;

/// A LEB128 varint at `*at` (at most 10 bytes), advancing `*at`.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7F).checked_shl(7 * i)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The length a record header at the start of `b` announces, if it has one: either form,
/// the 24-byte header (format-spec.md §3.2) or a short PUT (§3.2.1).
fn announced(b: &[u8]) -> Option<usize> {
    let kind = *b.get(4)?;
    if kind & 0x80 != 0 || kind & 0xFC == 0x10 {
        let mut at = if kind & 0x80 != 0 { 5 } else { 6 };
        let key = usize::try_from(varint(b, &mut at)?).ok()?;
        let val = usize::try_from(varint(b, &mut at)?).ok()?;
        varint(b, &mut at)?;
        return at
            .checked_add(if kind & 1 != 0 { 8 } else { 0 })?
            .checked_add(key)?
            .checked_add(val);
    }
    let h = b.get(..RECORD_HEADER)?;
    let key = usize::from(u16::from_le_bytes([h[8], h[9]]));
    let val = u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize;
    Some(RECORD_HEADER + if h[6] & 1 != 0 { 8 } else { 0 } + key + val)
}

/// Writes the right checksum into every record from `at` on, as far as the lengths lead.
fn fix_crcs(buf: &mut [u8], mut at: usize) {
    while let Some(len) = buf.get(at..).and_then(announced) {
        let Some(body) = buf.get(at + 4..at + len) else {
            return;
        };
        let crc = crc32(body);
        buf[at..at + 4].copy_from_slice(&crc.to_le_bytes());
        at += len;
    }
}

/// CRC-32 (IEEE), bitwise: the fuzz package has no checksum crate of its own.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The checks on one decoded record at the start of `buf`.
fn check_record(buf: &[u8], r: &Record<'_>) {
    assert!(r.len <= buf.len(), "record longer than its bytes");
    assert!((1..=4).contains(&r.kind), "kind {}", r.kind);
    // A short PUT (format-spec.md §3.2.1) has its flags in the kind byte and decodes as a PUT.
    let expiry_flag = if r.short { buf[4] & 1 } else { buf[6] & 1 } != 0;
    assert!(!r.short || r.kind == 1, "a short record of kind {}", r.kind);
    assert_eq!(announced(buf), Some(r.len), "announced length");
    if !r.short {
        assert_eq!(
            r.len,
            RECORD_HEADER + if expiry_flag { 8 } else { 0 } + r.key.len() + r.value.len()
        );
    }
    // An expiry flag with a zero time is read as no expiry, and written without the field:
    // the one encoding the writer never produces.
    if expiry_flag && r.expires_at == 0 {
        return;
    }
    assert_eq!(
        encode_record(r),
        &buf[..r.len],
        "a decoded record re-encodes to other bytes"
    );
}

/// Records back to back from the start of `buf`; returns how many decoded.
fn decode_all(buf: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    loop {
        let (r, largest) = largest_allocation(|| decode_record(&buf[at..]));
        assert_eq!(largest, 0, "decoding a record allocated {largest} bytes");
        let Ok(r) = r else { return n };
        check_record(&buf[at..], &r);
        at += r.len;
        n += 1;
    }
}

/// The checks on the engine's scan of `seg`, a whole log segment.
fn check_scan(seg: &[u8]) {
    let (scan, largest) = largest_allocation(|| scan_log(seg));
    assert!(
        largest <= 64 * seg.len() + 4096,
        "the log scan allocated {largest} bytes at once for {} bytes",
        seg.len()
    );
    assert!(
        scan.end >= HEADER.min(seg.len()) && scan.end <= seg.len().max(HEADER),
        "log end {} outside the segment of {} bytes",
        scan.end,
        seg.len()
    );
    let mut at = HEADER;
    let mut prev = 0;
    let mut canonical = true;
    let mut again = vec![0u8; HEADER];
    for (txn, records) in &scan.txns {
        assert!(*txn > prev, "txn ids do not increase: {prev} then {txn}");
        prev = *txn;
        for &off in records {
            assert_eq!(off, at, "records of a transaction are not back to back");
            let r = decode_record(&seg[off..]).expect("a scanned record decodes");
            assert!(r.kind == 1 || r.kind == 2, "kind {} inside a txn", r.kind);
            assert!(!r.short, "a short PUT inside a log segment's transaction");
            assert_eq!(r.txn, *txn, "record of another txn");
            canonical &= !(seg[off + 6] & 1 != 0 && r.expires_at == 0);
            again.extend_from_slice(&encode_record(&r));
            at += r.len;
        }
        let commit = decode_record(&seg[at..]).expect("a commit follows the records");
        assert_eq!((commit.kind, commit.txn), (3, *txn), "commit record");
        assert_eq!(
            commit
                .value
                .get(..8)
                .map(|v| u64::from_le_bytes(v.try_into().unwrap())),
            Some(records.len() as u64),
            "commit count"
        );
        canonical &= !(seg[at + 6] & 1 != 0 && commit.expires_at == 0);
        again.extend_from_slice(&encode_record(&commit));
        at += commit.len;
    }
    if scan.txns.is_empty() {
        at = scan.end;
    }
    assert_eq!(at, scan.end, "the log ends right after its last commit");
    if canonical && seg.len() >= HEADER {
        assert_eq!(&again[HEADER..], &seg[HEADER..at], "re-encoded log differs");
        // What follows the log in `seg` is not part of it: the re-encoded log alone scans to
        // the same transactions, ending where it ends.
        let rescan = scan_log(&again);
        assert_eq!(rescan.txns, scan.txns, "re-encoded log scans differently");
        assert_eq!(rescan.end, again.len());
    }
}

/// One input.
pub fn fuzz(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    let mut seg = if mode & 2 != 0 {
        let mut s = vec![0u8; HEADER];
        s.extend_from_slice(&bytes);
        s
    } else {
        bytes.clone()
    };
    if mode & 1 != 0 {
        fix_crcs(&mut bytes, 0);
        fix_crcs(&mut seg, HEADER);
    }
    decode_all(&bytes);
    check_scan(&seg);
}
