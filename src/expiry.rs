//! Active expiry, random keys and key versions: work that samples the shared index
//! (format-spec.md §8, §9). Lazy expiry (an expired key reads as absent) is in the read path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{now_ms, Hit, Shared};
use crate::error::Result;
use crate::index::IndexMap;
use crate::record::KIND_PUT;
use crate::shm::{W_EXPIRED, W_EXPIRING};

/// Keys sampled per round of an active expiry pass (Redis samples 20).
pub(crate) const EXPIRE_SAMPLE: usize = 20;
/// Slots one round visits at least, and at most, while looking for keys with an expiry:
/// between the two, as many as should hold a full sample given how many keys have one.
const EXPIRE_MIN_VISIT: u64 = 4096;
const EXPIRE_MAX_VISIT: u64 = 1 << 16;
/// Rounds per pass at most; a round repeats only while more than a quarter of the sample
/// had expired, as in Redis.
const EXPIRE_ROUNDS: usize = 16;

/// A cheap per-process pseudo-random sequence (splitmix64) for sampling.
fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut s = STATE.load(Ordering::Relaxed);
    if s == 0 {
        s = now_ms() ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    }
    s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    STATE.store(s, Ordering::Relaxed);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Shared {
    /// Visits live slots from a random one until `f` has counted `want` records (it returns
    /// whether a record counts) or `max_visit` slots were visited.
    fn sample_slots(
        &self,
        idx: &IndexMap,
        want: usize,
        max_visit: u64,
        mut f: impl FnMut(&Hit) -> Result<bool>,
    ) -> Result<()> {
        let start = random_u64() % idx.cap;
        let mut seen = 0;
        for i in 0..idx.cap.min(max_visit) {
            if seen >= want {
                break;
            }
            let slot = (start + i) % idx.cap;
            if let Some(loc) = idx.slot_loc(slot) {
                let (map, meta) = self.segs.record_at(loc)?;
                if f(&Hit { map, meta })? {
                    seen += 1;
                }
            }
        }
        Ok(())
    }

    /// A random live, unexpired key (Redis `RANDOMKEY`); `None` if there is none.
    pub(crate) fn random_key(&self) -> Result<Option<Vec<u8>>> {
        self.read_consistent(|idx| {
            let mut found = None;
            self.sample_slots(idx, 1, u64::MAX, |h| {
                let usable = h.meta.kind == KIND_PUT && !h.meta.internal && !h.expired();
                if usable {
                    found = Some(h.meta.key(&h.map).to_vec());
                }
                Ok(usable)
            })?;
            Ok(found)
        })
    }

    /// Deletes expired keys through the log, sampling as Redis's active expiry does.
    /// Returns how many keys it deleted.
    pub(crate) fn expire_pass(self: &Arc<Self>, timeout: Option<Duration>) -> Result<u64> {
        self.writable()?;
        let mut total = 0;
        for _ in 0..EXPIRE_ROUNDS {
            // No key has an expiry: nothing to look for (the count is kept at every publish).
            let volatile_keys = self.shm.get(W_EXPIRING);
            if volatile_keys == 0 {
                break;
            }
            let mut expired = Vec::new();
            let now = now_ms();
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
                let start = random_u64() % idx.cap;
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
            if expired.is_empty() {
                break;
            }
            let mut txn = crate::txn::WriteTxn::new(self.begin_writer(timeout)?)?;
            let mut n = 0;
            for key in &expired {
                // Re-check under the lock: the key may have been rewritten meanwhile.
                if self.lookup_raw(key)?.is_some_and(|h| h.expired()) {
                    txn.raw_del(key, false);
                    n += 1;
                }
            }
            // An ordinary commit: through the log, and a collection's pages are reclaimed.
            txn.commit()?;
            self.shm.add(W_EXPIRED, n);
            total += n;
            if expired.len() * 4 <= EXPIRE_SAMPLE {
                break;
            }
        }
        Ok(total)
    }
}
