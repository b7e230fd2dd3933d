//! Active expiry, random keys and key versions: work that samples the shared index
//! (format-spec.md §8, §9). Lazy expiry (an expired key reads as absent) is in the read path.
//! Also the clocks expiry is judged by: this process's wall clock, and the database clock
//! that bounds what active expiry may delete for everyone (format-spec.md §5.3).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::{now_ms, Hit, Shared};
use crate::error::Result;
use crate::format::record::KIND_PUT;
use crate::format::shm::{Shm, W_CLOCK, W_EXPIRING};

/// How far ahead of the database clock a key's expiry may be when active expiry deletes it
/// (format-spec.md §5.3): no key is deleted for everyone earlier than its expiry time minus
/// this, by the database clock.
pub(crate) const CLOCK_TOLERANCE_MS: u64 = 60_000;

/// This process's wall clock in Unix milliseconds: what reads judge expiry by, and what
/// relative expiries are counted from. With the test hooks, `ZIGGY_CLOCK_OFFSET_MS` (signed)
/// moves it, so a test can run a process whose clock is set wrong.
pub(crate) fn wall_ms() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    #[cfg(feature = "test-hooks")]
    let ms = ms.saturating_add_signed(test_clock_offset());
    ms
}

/// `ZIGGY_CLOCK_OFFSET_MS`, read once (0 if unset or not a number).
#[cfg(feature = "test-hooks")]
fn test_clock_offset() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var("ZIGGY_CLOCK_OFFSET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// Milliseconds since the machine booted (`CLOCK_BOOTTIME`, read from `/proc/uptime`): one
/// clock every process of the machine shares, which no one can set, and which runs during
/// suspend. `None` where it cannot be read.
fn boot_ms() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    // Seconds with two decimals; exact in an f64 for any uptime.
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

/// This process's idea of when the machine booted, in Unix ms (at least 1: 0 means unset).
fn own_boot_epoch() -> Option<u64> {
    Some(wall_ms().saturating_sub(boot_ms()?).max(1))
}

/// Joins this process's clock to the database clock at attach (format-spec.md §5.3): the
/// database clock's boot epoch is the earliest that any process attached since the shared
/// state was created has seen, so it is never ahead of the clock of any of them.
pub(crate) fn join_clock(shm: &Shm) {
    let Some(mine) = own_boot_epoch() else { return };
    let _ = shm
        .w(W_CLOCK)
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            (cur == 0 || mine < cur).then_some(mine)
        });
}

/// The database clock now, in Unix ms; `None` if it is not set or the boot clock cannot be
/// read.
pub(crate) fn db_clock_ms(shm: &Shm) -> Option<u64> {
    match shm.get(W_CLOCK) {
        0 => None,
        epoch => epoch.checked_add(boot_ms()?),
    }
}

/// The latest expiry time active expiry may delete now: by this process's clock the key
/// has expired, and by the database clock it expires within [`CLOCK_TOLERANCE_MS`]. A
/// process whose clock runs ahead thus deletes nothing that is live for the others beyond
/// the tolerance (format-spec.md §5.3).
pub(crate) fn deletable_until(shm: &Shm) -> u64 {
    let own = now_ms();
    db_clock_ms(shm).map_or(own, |db| own.min(db.saturating_add(CLOCK_TOLERANCE_MS)))
}

/// Keys sampled per round of an active expiry pass (Redis samples 20).
pub(crate) const EXPIRE_SAMPLE: usize = 20;
/// Slots one round visits at least, and at most, while looking for keys with an expiry:
/// between the two, as many as should hold a full sample given how many keys have one.
const EXPIRE_MIN_VISIT: u64 = 4096;
const EXPIRE_MAX_VISIT: u64 = 1 << 16;
/// Rounds per pass at most; a round repeats only while more than a quarter of the sample
/// had expired, as in Redis.
const EXPIRE_ROUNDS: usize = 16;
/// Keys one commit of an expiry pass deletes at most (format-spec.md §9.1).
pub(crate) const EXPIRE_BATCH: usize = 64;
/// How long a batch re-checks its keys under the writer lock at most before it commits
/// what it has (format-spec.md §9.1).
pub(crate) const EXPIRE_BATCH_TIME: Duration = Duration::from_millis(1);

/// Deletes the keys of a batch that are still expired by a time, in one commit, and empties
/// the batch; returns how many it deleted. The engine finds expired keys; deleting them is
/// an ordinary write transaction (a collection's pages must be reclaimed), one layer up:
/// `crate::db::expire_batch`, handed to [`Shared::expire_pass`] and to the background
/// worker at open.
pub(crate) type ExpireBatch =
    fn(&Arc<Shared>, &mut Vec<Vec<u8>>, u64, Option<Duration>) -> Result<u64>;

impl Shared {
    /// A random live, unexpired key (Redis `RANDOMKEY`), every one equally likely; `None` if
    /// there is none. Slots are drawn at random until one holds a usable key (uniform over
    /// the usable keys, since every slot is equally likely); after 64 misses (a nearly empty
    /// index) the usable keys are counted and one is picked by its position.
    pub(crate) fn random_key(&self) -> Result<Option<Vec<u8>>> {
        const TRIES: usize = 64;
        self.read_consistent(|idx| {
            let usable_key = |loc| -> Result<Option<Vec<u8>>> {
                let (map, meta) = self.segs.record_at(loc)?;
                let h = Hit { map, meta };
                let usable = h.meta.kind == KIND_PUT
                    && !h.meta.internal
                    && !h.expired()
                    && !idx.pending_user_delete(h.meta.key(&h.map));
                Ok(usable.then(|| h.meta.key(&h.map).to_vec()))
            };
            for _ in 0..TRIES {
                if let Some(loc) = idx.slot_loc(crate::os::random::below(idx.cap)) {
                    if let Some(key) = usable_key(loc)? {
                        return Ok(Some(key));
                    }
                }
            }
            let mut usable = 0u64;
            for slot in 0..idx.cap {
                if let Some(loc) = idx.slot_loc(slot) {
                    usable += u64::from(usable_key(loc)?.is_some());
                }
            }
            let mut pick = crate::os::random::below(usable);
            for slot in 0..idx.cap {
                if let Some(loc) = idx.slot_loc(slot) {
                    if let Some(key) = usable_key(loc)? {
                        if pick == 0 {
                            return Ok(Some(key));
                        }
                        pick -= 1;
                    }
                }
            }
            Ok(None)
        })
    }

    /// Deletes expired keys through the log, sampling as Redis's active expiry does.
    /// Returns how many keys it deleted.
    ///
    /// The sampling is a read section: it takes no lock, so a pass that finds nothing to
    /// delete never takes the writer lock. Keys found expired are deleted in batches of at
    /// most [`EXPIRE_BATCH`] keys, each under the writer lock for at most about
    /// [`EXPIRE_BATCH_TIME`] of re-checking plus its commit (format-spec.md §9.1), so that a
    /// process stopped in its background work can be caught holding the lock only in such a
    /// short window.
    pub(crate) fn expire_pass(
        self: &Arc<Self>,
        timeout: Option<Duration>,
        expire_batch: ExpireBatch,
    ) -> Result<u64> {
        self.writable()?;
        let mut total = 0;
        // Keys seen expired and not yet deleted, at most one batch.
        let mut batch: Vec<Vec<u8>> = Vec::new();
        let now = deletable_until(&self.shm);
        for _ in 0..EXPIRE_ROUNDS {
            // No key has an expiry: nothing to look for (the count is kept at every publish).
            let volatile_keys = self.shm.get(W_EXPIRING);
            if volatile_keys == 0 {
                break;
            }
            let mut expired = Vec::new();
            self.read_consistent(|idx| {
                expired.clear();
                // Like Redis, sample keys that have an expiry (Redis keeps them in a separate
                // table; here they are found by skipping others, within a bounded walk long
                // enough to meet a full sample when few keys have one). Only headers and
                // keys are read.
                let visit = (EXPIRE_SAMPLE as u64)
                    .saturating_mul(idx.cap)
                    .div_ceil(volatile_keys)
                    .clamp(EXPIRE_MIN_VISIT, EXPIRE_MAX_VISIT);
                let start = crate::os::random::below(idx.cap);
                let mut seen = 0;
                for i in 0..idx.cap.min(visit) {
                    if seen >= EXPIRE_SAMPLE {
                        break;
                    }
                    let Some(loc) = idx.slot_loc((start + i) % idx.cap) else {
                        continue;
                    };
                    if let Some((at, key)) = self.segs.user_record_at(loc)? {
                        if at != 0 {
                            seen += 1;
                            if at <= now {
                                expired.push(key);
                            }
                        }
                    }
                }
                Ok(())
            })?;
            // Repeat while more than a quarter of the sample had expired, as Redis does.
            let again = expired.len() * 4 > EXPIRE_SAMPLE;
            for key in expired {
                if !batch.contains(&key) {
                    batch.push(key);
                }
            }
            // Until the batch is full, sample on without the lock (a key sampled twice is
            // deleted once); a full batch is deleted before sampling more.
            if batch.len() + EXPIRE_SAMPLE > EXPIRE_BATCH {
                total += expire_batch(self, &mut batch, now, timeout)?;
            }
            if !again {
                break;
            }
        }
        if !batch.is_empty() {
            total += expire_batch(self, &mut batch, now, timeout)?;
        }
        Ok(total)
    }
}
