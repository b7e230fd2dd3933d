//! Waking waiters across processes (format-spec.md §9.6): the wake table of `ziggy.shm`.
//!
//! Every commit that writes a user key adds one to the wake word of the key's bucket after
//! it is published, and, if anyone waits, wakes the sleepers on that word (a futex on the
//! shared mapping). A waiter (a blocking pop, [`crate::Db::wait_for_change`]) reads the words
//! of its keys' buckets, checks its condition, and sleeps while none of the words moved: so
//! it uses no CPU while it waits and never misses a commit, and a commit to another key of
//! its bucket only makes it look again.
//!
//! In this process, waiters that pop are served in the order they started waiting: a waiter
//! may take from a key only when no older waiter of this process waits on that key
//! ([`Waiter::first_in_line`]).

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::engine::Shared;
use crate::format::shm::{P_WAITING, W_WAKE_BASE, W_WAKE_BUCKETS, W_WAKE_SLEEPERS};
use crate::os::map::FutexWord;

/// The bucket of the wake table that a write of the user key `key` bumps.
pub(crate) fn bucket_of(key: &[u8]) -> usize {
    // A hash with a seed of its own, so that buckets do not follow index slots.
    (xxhash_rust::xxh3::xxh3_64_with_seed(key, 0x7a69_6767_7977_616b) % W_WAKE_BUCKETS as u64)
        as usize
}

/// The set of buckets a transaction's user keys fall in, one bit each.
pub(crate) fn mask_of<'a>(keys: impl Iterator<Item = &'a [u8]>) -> u32 {
    keys.fold(0, |m, k| m | 1 << bucket_of(k))
}

/// A flag that ends a wait early ([`crate::Wait::cancel_on`]); clones share one flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicU64>);

impl CancelToken {
    /// A token not cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!ziggydb::CancelToken::new().is_cancelled());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends every wait that uses this token, now and until [`CancelToken::reset`]: each
    /// returns as if its timeout had passed. Async-signal-safe (an atomic add and one system
    /// call, no allocation, no lock), so a `SIGINT` handler may call it.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::{CancelToken, Wait};
    /// let token = CancelToken::new();
    /// token.cancel(); // before the wait: it returns at once
    /// assert_eq!(db.wait_for_change(&[b"k"], Wait::forever().cancel_on(&token))?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn cancel(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        self.0.fetch_or(1 << 63, Ordering::SeqCst);
        crate::os::map::futex_wake_private(&self.0);
    }

    /// Whether [`CancelToken::cancel`] was called since the last reset.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = ziggydb::CancelToken::new();
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst) >> 63 != 0
    }

    /// Makes the token usable for another wait.
    ///
    /// # Examples
    ///
    /// ```
    /// let token = ziggydb::CancelToken::new();
    /// token.cancel();
    /// token.reset();
    /// assert!(!token.is_cancelled());
    /// ```
    pub fn reset(&self) {
        self.0.fetch_and(!(1 << 63), Ordering::SeqCst);
    }

    pub(crate) fn word(&self) -> &AtomicU64 {
        &self.0
    }
}

/// This process's waiters on one database: the queue that orders pops, and a private word
/// bumped whenever a waiter leaves it (so that the next in line looks again).
#[derive(Default)]
pub(crate) struct Local {
    queue: Mutex<Vec<(u64, Vec<Vec<u8>>)>>,
    next_ticket: AtomicU64,
    left: AtomicU64,
}

impl Shared {
    /// After a commit was published (format-spec.md §9.6 step C2): whether any waiter is
    /// registered, so that the commit must bump the wake words of its buckets. A waiter that
    /// registers meanwhile is not missed: this fence and the one in [`Waiter::seen`] (after
    /// the registration, before the waiter's check) are sequentially consistent, so either
    /// the load below sees the registration, or the waiter's check sees this commit.
    pub(crate) fn anyone_waits(&self) -> bool {
        if self.read_only {
            return false;
        }
        crate::os::pause::point("wake");
        fence(Ordering::SeqCst);
        self.shm.w(W_WAKE_SLEEPERS).load(Ordering::SeqCst) != 0
    }

    /// After a commit that wrote user keys in the buckets of `mask` was published: bump
    /// their wake words and wake whoever sleeps on them (format-spec.md §9.6 step C2).
    pub(crate) fn wake_buckets(&self, mask: u32) {
        if mask == 0 || self.read_only {
            return;
        }
        let buckets = || (0..W_WAKE_BUCKETS).filter(|b| mask & (1 << b) != 0);
        for b in buckets() {
            self.shm.w(W_WAKE_BASE + b).fetch_add(1, Ordering::SeqCst);
        }
        crate::os::pause::point("wake-bumped");
        // SeqCst on both sides: either this load sees a waiter's registration, or that
        // waiter's first read of the word comes after the bump above.
        if self.shm.w(W_WAKE_SLEEPERS).load(Ordering::SeqCst) != 0 {
            for b in buckets() {
                crate::os::map::futex_wake_all(self.shm.w(W_WAKE_BASE + b));
            }
        }
    }

    /// Registers a waiter on `keys` (format-spec.md §9.6 step W1). `queued`: it takes from
    /// the keys, so it is served in turn among this process's waiters.
    pub(crate) fn waiter(&self, keys: &[&[u8]], queued: bool) -> Waiter<'_> {
        let mut buckets: Vec<usize> = keys.iter().map(|k| bucket_of(k)).collect();
        buckets.sort_unstable();
        buckets.dedup();
        let ticket = queued.then(|| {
            let t = self.wake.next_ticket.fetch_add(1, Ordering::Relaxed);
            let mut q = self.wake.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.push((t, keys.iter().map(|k| k.to_vec()).collect()));
            t
        });
        if let Some(slot) = self.slot {
            self.shm
                .proc_word(slot, P_WAITING)
                .fetch_add(1, Ordering::SeqCst);
        }
        self.shm.w(W_WAKE_SLEEPERS).fetch_add(1, Ordering::SeqCst);
        Waiter {
            shared: self,
            buckets,
            ticket,
        }
    }
}

/// A registered waiter; dropping it unregisters it.
pub(crate) struct Waiter<'a> {
    shared: &'a Shared,
    buckets: Vec<usize>,
    ticket: Option<u64>,
}

/// What a waiter saw before it checked its condition: it sleeps only while all of it holds.
pub(crate) struct Seen {
    words: Vec<u32>,
    left: u32,
    cancel: u32,
}

impl Waiter<'_> {
    /// Reads the wake words (and the in-process queue's word, and the cancel flag); to be
    /// called before the condition is checked, so that a commit after the check wakes the
    /// sleep that follows it.
    pub(crate) fn seen(&self, cancel: Option<&CancelToken>) -> Seen {
        // Pairs with the fence of `Shared::anyone_waits`: a commit that did not see this
        // waiter's registration is seen by the check that follows (format-spec.md §9.6).
        fence(Ordering::SeqCst);
        let w = |b: usize| self.shared.shm.w(W_WAKE_BASE + b).load(Ordering::SeqCst) as u32;
        Seen {
            words: self.buckets.iter().map(|&b| w(b)).collect(),
            left: self.shared.wake.left.load(Ordering::SeqCst) as u32,
            cancel: cancel.map_or(0, |c| c.word().load(Ordering::SeqCst) as u32),
        }
    }

    /// Whether no older waiter of this process that takes from keys waits on `key`.
    pub(crate) fn first_in_line(&self, key: &[u8]) -> bool {
        let Some(me) = self.ticket else { return true };
        let q = self
            .shared
            .wake
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        !q.iter()
            .any(|(t, keys)| *t < me && keys.iter().any(|k| k.as_slice() == key))
    }

    /// Sleeps until a wake word moves, a waiter of this process leaves the queue, `cancel`
    /// is cancelled, or `deadline` passes; or spuriously.
    pub(crate) fn sleep(
        &self,
        seen: &Seen,
        deadline: Option<Instant>,
        cancel: Option<&CancelToken>,
    ) {
        let shm = &self.shared.shm;
        let mut words: Vec<FutexWord<'_>> = self
            .buckets
            .iter()
            .zip(&seen.words)
            .map(|(&b, &s)| FutexWord {
                word: shm.w(W_WAKE_BASE + b),
                seen: s,
                shared: true,
            })
            .collect();
        if self.ticket.is_some() {
            words.push(FutexWord {
                word: &self.shared.wake.left,
                seen: seen.left,
                shared: false,
            });
        }
        if let Some(c) = cancel {
            words.push(FutexWord {
                word: c.word(),
                seen: seen.cancel,
                shared: false,
            });
        }
        crate::os::map::futex_wait_any(&words, deadline);
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let shared = self.shared;
        // Saturating: the words are shared, and a damaged or raced value must not wrap to
        // a huge count.
        let dec = |w: &AtomicU64| {
            let _ = w.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                Some(v.saturating_sub(1))
            });
        };
        dec(shared.shm.w(W_WAKE_SLEEPERS));
        if let Some(slot) = shared.slot {
            dec(shared.shm.proc_word(slot, P_WAITING));
        }
        if let Some(me) = self.ticket {
            let mut q = shared.wake.queue.lock().unwrap_or_else(|p| p.into_inner());
            q.retain(|(t, _)| *t != me);
            drop(q);
            shared.wake.left.fetch_add(1, Ordering::SeqCst);
            crate::os::map::futex_wake_private(&shared.wake.left);
        }
    }
}
