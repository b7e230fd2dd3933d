//! `ziggy.shm`: the runtime state shared by every attached process (format-spec.md §5).
//!
//! The file is 8 KiB, mapped read-write by every process and accessed only as aligned atomic
//! 64-bit words. It holds the sequence lock that publishes commits, the published end of the
//! log, counters, and the process table. Nothing in it is needed after a reboot: a cold open
//! rebuilds it from the manifest and the index header.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::os::map::SharedWords;

pub(crate) const SHM_LEN: u64 = 8192;
pub(crate) const SHM_MAGIC: u64 = u64::from_le_bytes(*b"ZGSHM\r\n\x1a");
/// The layout version of this file (format-spec.md §5.1); every change of its layout bumps it.
/// Layout 3 attaches a warm state without `ziggy.lock` (§6.1), which a build of layout 2
/// would misjudge (it takes an attached process for none), so the two refuse each other.
pub(crate) const SHM_VERSION: u64 = 3;
/// Word `W_READY` of an initialised file of this layout. Builds of layout 1 check only that
/// `ready` is 1 before attaching beside a running process, so a value other than 1 makes
/// them refuse to attach beside a build of this layout (format-spec.md §5.1, §6.1).
pub(crate) const SHM_READY: u64 = 3;
/// Word `W_READY` while a first attacher rebuilds the index after it published the state
/// (format-spec.md §10.4): attachable by this build, which then reads through the rule of
/// §10.4, and a value every build that checks `ready = 3` refuses to attach beside.
pub(crate) const SHM_READY_REBUILDING: u64 = 1 << 63 | 3;

// Word indexes (byte offset = 8 × index); see format-spec.md §5.1.
pub(crate) const W_MAGIC: usize = 0;
pub(crate) const W_VERSION: usize = 1;
pub(crate) const W_BOOT0: usize = 2;
pub(crate) const W_BOOT1: usize = 3;
pub(crate) const W_READY: usize = 4;
/// The sequence lock: odd while a writer publishes.
pub(crate) const W_SEQ: usize = 8;
pub(crate) const W_INDEX_GEN: usize = 16;
/// Published end of the log, as a position (segment << 32 | offset).
pub(crate) const W_LOG_POS: usize = 17;
pub(crate) const W_NEXT_TXN: usize = 18;
pub(crate) const W_NEXT_SEG: usize = 19;
/// Everything before this position is on stable storage.
pub(crate) const W_DURABLE_POS: usize = 20;
/// Position of the transaction being published while `W_SEQ` is odd.
pub(crate) const W_PUB_START: usize = 21;
pub(crate) const W_POISONED: usize = 22;
/// Bytes of the active segment file that are allocated.
pub(crate) const W_ACTIVE_ALLOC: usize = 23;
pub(crate) const W_KEYS: usize = 24;
pub(crate) const W_LIVE_BYTES: usize = 25;
pub(crate) const W_DEAD_BYTES: usize = 26;
pub(crate) const W_COMMITS: usize = 27;
pub(crate) const W_ROLLBACKS: usize = 28;
pub(crate) const W_COMPACTIONS: usize = 29;
pub(crate) const W_WAL_BYTES: usize = 30;
pub(crate) const W_LAST_CHECKPOINT_MS: usize = 31;
pub(crate) const W_SEGMENTS: usize = 32;
pub(crate) const W_SEGMENT_BYTES: usize = 33;
pub(crate) const W_RETIRED_READS: usize = 34;
pub(crate) const W_RETIRED_HITS: usize = 35;
pub(crate) const W_RETIRED_MISSES: usize = 36;
pub(crate) const W_EXPIRED: usize = 37;
pub(crate) const W_COMMIT_MICROS: usize = 38;
/// Id of the segment a rotation is creating (0 = none); lets a later writer finish it.
pub(crate) const W_ROTATING: usize = 39;
/// Bumped whenever segment files are deleted, so processes drop their maps of them.
pub(crate) const W_SEG_EPOCH: usize = 40;
pub(crate) const W_CHECKPOINTS: usize = 41;
/// User keys whose record carries an expiry time.
pub(crate) const W_EXPIRING: usize = 42;
/// Commands run through the command layer (`commands::Session` counts each one).
pub(crate) const W_COMMANDS: usize = 43;
/// The database clock: Unix ms at this boot by the slowest clock of any process attached
/// since the shared state was created (0: unset); see format-spec.md §5.3.
pub(crate) const W_CLOCK: usize = 44;
/// The database id from the manifest (0 if it has none), written into every checkpoint.
pub(crate) const W_DB_ID: usize = 45;
/// Incremented after every fsync of the log that advanced `durable_pos`; committers waiting
/// for another process's fsync sleep on its low half as a futex (format-spec.md §9.4).
pub(crate) const W_SYNC_EPOCH: usize = 46;
/// The hand-off word of `writer.lock`: 0, or the claim of a process that has waited long for
/// it, which the others let have it (format-spec.md §5.1, §6.6; `lock::claim`).
pub(crate) const W_LOCK_CLAIM: usize = 47;
/// The next ticket of the order of claims of `writer.lock` (format-spec.md §5.1, §6.6;
/// `lock::queue`): a process that must wait for the lock takes one (fetch-and-add).
pub(crate) const W_LOCK_TICKET: usize = 83;
/// What the first attacher, holding `ziggy.lock` and `ziggy.shm` exclusively, is doing: its
/// pid in the low 32 bits, one of the `OPENER_*` phases above them (§5.1, §6.5). A waiter
/// names the phase, and waits longer, only if the pid is the lock's holder.
pub(crate) const W_OPENER: usize = 80;
/// `W_OPENER` phases: a first attacher checking and repairing a warm state, and one
/// rebuilding the shared state (a cold start).
pub(crate) const OPENER_OPENING: u64 = 1;
pub(crate) const OPENER_RECOVERING: u64 = 2;
/// While `W_READY` is `SHM_READY_REBUILDING`: the checkpoint position of the old index that
/// readers use until the rebuilt one is published (format-spec.md §10.4); 0 otherwise.
pub(crate) const W_REBUILD_FROM: usize = 81;
/// Waiters registered on the wake table, in every process (format-spec.md §9.6): a commit
/// calls FUTEX_WAKE on the words it bumps only while this is not 0. A waiter killed while
/// registered is taken off when its process slot is claimed again (`P_WAITING`).
pub(crate) const W_WAKE_SLEEPERS: usize = 82;
/// The wake table: word `W_WAKE_BASE + b` counts the commits that wrote a user key of
/// bucket `b`; waiters sleep on its low half as a futex (format-spec.md §9.6).
pub(crate) const W_WAKE_BASE: usize = 84;
/// Buckets of the wake table: words 84–111.
pub(crate) const W_WAKE_BUCKETS: usize = 28;
/// The keyspace notification classes enabled (`CONFIG SET notify-keyspace-events`), one bit
/// per class as `crate::types::pubsub::events` numbers them; 0 (the state's creation) = off
/// (format-spec.md §5.4).
pub(crate) const W_NOTIFY: usize = 112;
/// Read views (format-spec.md §8.2): a count bumped when a writer could not save the old
/// slot values registered views need (every view registered before it is then too old).
pub(crate) const W_VIEWS_LOST: usize = 125;
/// The odd sequence value of the last publish whose old slot values are saved in the undo
/// ring of `ziggy.views`.
pub(crate) const W_UNDO_SEQ: usize = 126;
/// Read views registered in every process; a publish saves old slot values while not 0.
pub(crate) const W_VIEWS: usize = 127;
/// User keys by value type: word `W_TYPE_KEYS + tag` for type tags below `TYPE_TAGS`.
pub(crate) const W_TYPE_KEYS: usize = 48;
/// Type tags with a key counter.
pub(crate) const TYPE_TAGS: usize = 32;

/// Process table: slots of 8 words from word 128 to the end of the file.
pub(crate) const PROC_BASE: usize = 128;
pub(crate) const PROC_WORDS: usize = 8;
pub(crate) const PROC_SLOTS: usize = (SHM_LEN as usize / 8 - PROC_BASE) / PROC_WORDS;
// Slot words: 0 pid, 1 start time (clock ticks since boot, from /proc), 2 reads, 3 hits,
// 4 misses, 5 waiters on the wake table, 6 the ticket of a wait for `writer.lock`.
pub(crate) const P_PID: usize = 0;
pub(crate) const P_START: usize = 1;
pub(crate) const P_READS: usize = 2;
pub(crate) const P_HITS: usize = 3;
pub(crate) const P_MISSES: usize = 4;
/// Waiters of the process registered on the wake table (counted in `W_WAKE_SLEEPERS`).
pub(crate) const P_WAITING: usize = 5;
/// While the process waits for `writer.lock`: its ticket in the order of claims (high 32
/// bits) and its pid (low 32 bits); 0 otherwise (format-spec.md §6.6).
pub(crate) const P_TICKET: usize = 6;

/// Typed view of the mapped shm file.
pub(crate) struct Shm {
    pub(crate) map: SharedWords,
}

impl Shm {
    pub(crate) fn w(&self, i: usize) -> &AtomicU64 {
        // Indexes are the constants above, all below SHM_LEN / 8; the map is SHM_LEN long.
        &self.map.words()[i]
    }
    pub(crate) fn get(&self, i: usize) -> u64 {
        self.w(i).load(Ordering::Acquire)
    }
    pub(crate) fn set(&self, i: usize, v: u64) {
        self.w(i).store(v, Ordering::Release);
    }
    pub(crate) fn add(&self, i: usize, v: u64) {
        self.w(i).fetch_add(v, Ordering::Relaxed);
    }
    pub(crate) fn sub(&self, i: usize, v: u64) {
        // Saturating: counters are statistics and may be approximate after a crash.
        let _ = self
            .w(i)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some(c.saturating_sub(v))
            });
    }
    pub(crate) fn proc_word(&self, slot: usize, w: usize) -> &AtomicU64 {
        self.w(PROC_BASE + slot * PROC_WORDS + w)
    }
}

pub(crate) use crate::os::proc::{boot_id, process_progress, process_start};

/// Encodes a log position.
pub(crate) const fn pos(seg: u32, off: u32) -> u64 {
    ((seg as u64) << 32) | off as u64
}
pub(crate) const fn pos_seg(p: u64) -> u32 {
    (p >> 32) as u32
}
pub(crate) const fn pos_off(p: u64) -> u32 {
    p as u32
}
