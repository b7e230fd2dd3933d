//! `ziggy.pubsub`: the message ring and subscriber registry that Pub/Sub shares between the
//! processes of a directory (format-spec.md §5.4).
//!
//! The file is mapped read-write by every process that publishes or subscribes and is seen
//! only as aligned atomic 64-bit words, as `ziggy.shm` is. It has three parts: a header
//! (word 16 `head` is the published end of the ring and a futex), the registry of
//! subscriptions (one entry per process, kind and name, with that process's count), and a
//! ring of 64-byte slots holding messages. Only a holder of the file's `flock` writes to the
//! ring; anybody reads it. Nothing in it outlives a reboot.

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// "ZGPUB\r\n\x1a".
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"ZGPUB\r\n\x1a");
/// Layout version of the file (format-spec.md §5.4).
pub(crate) const VERSION: u64 = 1;

// Header words.
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_VERSION: usize = 1;
pub(crate) const H_BOOT0: usize = 2;
pub(crate) const H_BOOT1: usize = 3;
pub(crate) const H_ENTRIES: usize = 4;
pub(crate) const H_SLOTS: usize = 5;
/// Sequence number of the next slot to write: every slot before it holds a whole, published
/// message (or one that was overwritten). Its low 32 bits are the futex subscribers sleep on.
pub(crate) const H_HEAD: usize = 16;
/// Messages published since the file was initialised.
pub(crate) const H_MESSAGES: usize = 17;
/// Subscribers asleep on `head` (approximate: one killed asleep leaves it one too high,
/// which only costs publishers a wake-up call).
pub(crate) const H_SLEEPERS: usize = 18;
/// One past the highest registry entry ever claimed: publishers scan entries below it.
pub(crate) const H_HIGH: usize = 19;

/// Words of the header.
pub(crate) const HEADER_WORDS: usize = 512;
/// Registry entries, of [`ENTRY_WORDS`] words each.
pub(crate) const ENTRIES: usize = 1024;
pub(crate) const ENTRY_WORDS: usize = 32;
/// Entry words: 0 pid (0: free), 1 start time of that process (clock ticks since boot),
/// 2 `kind | name_len << 8 | generation << 32` (kind 0 while the entry is being written or
/// freed), 3 subscribers of that process, 4.. the name.
pub(crate) const E_PID: usize = 0;
pub(crate) const E_START: usize = 1;
pub(crate) const E_KIND: usize = 2;
pub(crate) const E_COUNT: usize = 3;
pub(crate) const E_NAME: usize = 4;
/// Longest channel name or pattern the registry holds.
pub(crate) const MAX_NAME: usize = (ENTRY_WORDS - E_NAME) * 8;
/// Entry kinds.
pub(crate) const KIND_CHANNEL: u64 = 1;
pub(crate) const KIND_PATTERN: u64 = 2;
/// A registry entry of a shard channel (`SSUBSCRIBE`); builds without sharded Pub/Sub
/// count neither it nor its messages.
pub(crate) const KIND_SHARD: u64 = 3;

/// Slots of the ring, of [`SLOT_WORDS`] words each: a stamp and 7 words of data.
pub(crate) const SLOTS: u64 = 32768;
pub(crate) const SLOT_WORDS: usize = 8;
/// Data bytes per slot.
pub(crate) const SLOT_DATA: usize = (SLOT_WORDS - 1) * 8;
/// Bytes of a message's header: channel length, payload length, CRC, publisher pid (u32 each).
pub(crate) const MSG_HEADER: usize = 16;
/// The most slots one message may take: a quarter of the ring.
pub(crate) const MAX_MSG_SLOTS: u64 = SLOTS / 4;
/// The most bytes of channel and payload together in one message.
pub(crate) const MAX_MESSAGE: usize = MAX_MSG_SLOTS as usize * SLOT_DATA - MSG_HEADER;

pub(crate) const REGISTRY_BASE: usize = HEADER_WORDS;
pub(crate) const RING_BASE: usize = REGISTRY_BASE + ENTRIES * ENTRY_WORDS;
/// Size of the file in bytes: a multiple of 4096.
pub(crate) const FILE_LEN: u64 = ((RING_BASE + SLOTS as usize * SLOT_WORDS) * 8) as u64;

const _: () = assert!(FILE_LEN.is_multiple_of(4096));
const _: () = assert!((RING_BASE * 8).is_multiple_of(4096));

/// Word `w` of registry entry `e`.
pub(crate) const fn entry_word(e: usize, w: usize) -> usize {
    REGISTRY_BASE + e * ENTRY_WORDS + w
}

/// Word `w` of the slot that holds sequence number `seq`.
pub(crate) fn slot_word(seq: u64, w: usize) -> usize {
    // `seq % SLOTS` is below 32768, so the conversion is exact.
    RING_BASE + (seq % SLOTS) as usize * SLOT_WORDS + w
}

/// Slots a message of `channel_len + payload_len` bytes takes.
pub(crate) fn slots_for(bytes: usize) -> u64 {
    ((MSG_HEADER + bytes).div_ceil(SLOT_DATA)) as u64
}

/// The CRC a message carries: CRC-32 (IEEE, `crc32fast`) of the channel then the payload;
/// inverted (all bits flipped) for a message of a shard channel (`SPUBLISH`), so that a
/// build without sharded Pub/Sub finds it damaged and skips it rather than delivering it to
/// a subscriber of the ordinary channel of that name (format-spec.md §5.4).
pub(crate) fn message_crc(channel: &[u8], payload: &[u8], shard: bool) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(channel);
    h.update(payload);
    if shard {
        !h.finalize()
    } else {
        h.finalize()
    }
}

/// The bit of a message's `pid` field that marks a message of a shard channel.
pub(crate) const SHARD_BIT: u32 = 1 << 31;

/// Packs `bytes` (at most 8) into a little-endian word, zero-padded.
fn pack(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(b)
}

/// Writes a name into the entry's name words (the caller holds the entry: its kind is 0).
pub(crate) fn write_name(words: &[AtomicU64], e: usize, name: &[u8]) {
    for (i, chunk) in name.chunks(8).enumerate() {
        words[entry_word(e, E_NAME + i)].store(pack(chunk), Ordering::Relaxed);
    }
}

/// Reads `len` bytes of an entry's name (`len` at most [`MAX_NAME`]).
pub(crate) fn read_name(words: &[AtomicU64], e: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for i in 0..len.min(MAX_NAME).div_ceil(8) {
        let w = words[entry_word(e, E_NAME + i)].load(Ordering::Relaxed);
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.truncate(len.min(MAX_NAME));
    out
}

/// Writes the message as sequence numbers `head .. head + slots_for(..)` and returns the new
/// head. The caller holds the file's lock (so no one else writes the ring) and then
/// publishes by storing the returned value into `head`; until then no reader looks at
/// these slots. Each slot is written as a sequence lock: stamp 0, data, stamp `seq + 1`.
pub(crate) fn write_message(
    words: &[AtomicU64],
    head: u64,
    channel: &[u8],
    payload: &[u8],
    pid: u32,
    shard: bool,
) -> u64 {
    let crc = message_crc(channel, payload, shard);
    let pid = if shard {
        pid | SHARD_BIT
    } else {
        pid & !SHARD_BIT
    };
    let mut header = [0u8; MSG_HEADER];
    // Lengths are checked against MAX_MESSAGE by the caller, so they fit in 32 bits.
    header[0..4].copy_from_slice(&(channel.len() as u32).to_le_bytes());
    header[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    header[8..12].copy_from_slice(&crc.to_le_bytes());
    header[12..16].copy_from_slice(&pid.to_le_bytes());
    let mut bytes = header
        .iter()
        .chain(channel.iter())
        .chain(payload.iter())
        .copied();
    let n = slots_for(channel.len() + payload.len());
    for k in 0..n {
        let seq = head + k;
        words[slot_word(seq, 0)].store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        for w in 1..SLOT_WORDS {
            let mut b = [0u8; 8];
            for byte in &mut b {
                *byte = bytes.next().unwrap_or(0);
            }
            words[slot_word(seq, w)].store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        if k == 0 {
            // A test stops a publisher here, its first slot written and the rest not, to
            // kill it mid-message.
            crate::os::pause::point("pubsub-publish");
        }
        words[slot_word(seq, 0)].store(seq + 1, Ordering::Release);
    }
    head + n
}

/// What reading the message at a sequence number found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A whole message, and the number of slots it took.
    Message {
        channel: Vec<u8>,
        payload: Vec<u8>,
        slots: u64,
        /// Published to a shard channel (`SPUBLISH`).
        shard: bool,
    },
    /// The slots were overwritten before or while they were read: the reader is more than
    /// the ring behind.
    Overrun,
    /// Slots whose stamps are right but whose content is not a message (its lengths are
    /// impossible, or its CRC does not match): skip `slots` slots (all up to `head` if the
    /// lengths cannot be believed).
    Damaged { slots: u64 },
}

/// Reads the message that starts at `seq`, which must be below `head` (read by the caller
/// before). Never trusts a length it has not bounded: a message is at most
/// [`MAX_MSG_SLOTS`] slots and ends at or before `head`.
pub(crate) fn read_message(words: &[AtomicU64], seq: u64, head: u64) -> Read {
    if head.saturating_sub(seq) > SLOTS {
        return Read::Overrun;
    }
    let mut data = Vec::with_capacity(SLOT_DATA);
    if !copy_slot(words, seq, &mut data) {
        return Read::Overrun;
    }
    let u32_at = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    let (clen, plen, crc) = (u32_at(0) as usize, u32_at(4) as usize, u32_at(8));
    let shard = u32_at(12) & SHARD_BIT != 0;
    let total = clen.saturating_add(plen);
    if total > MAX_MESSAGE {
        return Read::Damaged { slots: head - seq };
    }
    let slots = slots_for(total);
    if seq + slots > head {
        return Read::Damaged { slots: head - seq };
    }
    data.reserve(MSG_HEADER + total);
    for k in 1..slots {
        if !copy_slot(words, seq + k, &mut data) {
            return Read::Overrun;
        }
    }
    // The whole message was copied; check that its first slot was not overwritten meanwhile
    // (the others were checked as they were copied, after the first).
    fence(Ordering::Acquire);
    if words[slot_word(seq, 0)].load(Ordering::Relaxed) != seq + 1 {
        return Read::Overrun;
    }
    let channel = data[MSG_HEADER..MSG_HEADER + clen].to_vec();
    let payload = data[MSG_HEADER + clen..MSG_HEADER + total].to_vec();
    if message_crc(&channel, &payload, shard) != crc {
        return Read::Damaged { slots };
    }
    Read::Message {
        channel,
        payload,
        slots,
        shard,
    }
}

/// Appends the data bytes of the slot holding `seq` to `out`; false if the slot does not
/// hold `seq` (it was overwritten) before or after the copy.
fn copy_slot(words: &[AtomicU64], seq: u64, out: &mut Vec<u8>) -> bool {
    let stamp = words[slot_word(seq, 0)].load(Ordering::Acquire);
    if stamp != seq + 1 {
        return false;
    }
    let mut buf = [0u64; SLOT_WORDS - 1];
    for (w, b) in buf.iter_mut().enumerate() {
        *b = words[slot_word(seq, w + 1)].load(Ordering::Relaxed);
    }
    fence(Ordering::Acquire);
    if words[slot_word(seq, 0)].load(Ordering::Relaxed) != stamp {
        return false;
    }
    for b in buf {
        out.extend_from_slice(&b.to_le_bytes());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Vec<AtomicU64> {
        (0..FILE_LEN / 8).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn layout_is_page_aligned_and_sized() {
        assert_eq!(RING_BASE * 8, 266_240);
        assert_eq!(FILE_LEN, 266_240 + 2 * 1024 * 1024);
        assert_eq!(MAX_NAME, 224);
        assert_eq!(slots_for(0), 1);
        assert_eq!(slots_for(40), 1);
        assert_eq!(slots_for(41), 2);
    }

    #[test]
    fn a_message_round_trips_across_the_end_of_the_ring() {
        let w = ring();
        let payload: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let start = SLOTS - 3;
        let head = write_message(&w, start, b"chan", &payload, 7, false);
        assert_eq!(head, start + slots_for(4 + 1000));
        let got = read_message(&w, start, head);
        assert_eq!(
            got,
            Read::Message {
                channel: b"chan".to_vec(),
                payload,
                slots: head - start,
                shard: false,
            }
        );
    }

    #[test]
    fn a_shard_message_says_so_and_an_older_reader_skips_it() {
        let w = ring();
        let head = write_message(&w, 0, b"s", b"hi", 9, true);
        assert_eq!(
            read_message(&w, 0, head),
            Read::Message {
                channel: b"s".to_vec(),
                payload: b"hi".to_vec(),
                slots: 1,
                shard: true,
            }
        );
        // A reader that knows no shard bit checks the plain CRC, which the shard message
        // does not carry: it skips the message instead of delivering it.
        let crc = u32::from_le_bytes(
            w[slot_word(0, 2)].load(Ordering::Relaxed).to_le_bytes()[0..4]
                .try_into()
                .unwrap(),
        );
        assert_ne!(crc, message_crc(b"s", b"hi", false));
    }

    #[test]
    fn an_overwritten_message_is_an_overrun_never_other_bytes() {
        let w = ring();
        let h1 = write_message(&w, 0, b"a", b"first", 1, false);
        let mut head = h1;
        while head < SLOTS + 1 {
            head = write_message(&w, head, b"b", b"x", 1, false);
        }
        assert_eq!(read_message(&w, 0, head), Read::Overrun);
    }

    #[test]
    fn a_damaged_payload_fails_its_crc() {
        let w = ring();
        let head = write_message(&w, 0, b"a", b"payload", 1, false);
        let word = &w[slot_word(0, 3)];
        word.store(word.load(Ordering::Relaxed) ^ 1, Ordering::Relaxed);
        assert_eq!(read_message(&w, 0, head), Read::Damaged { slots: 1 });
    }
}
