//! Pub/Sub across the processes of a directory: `ziggy.pubsub` opened and initialised, the
//! subscriber registry kept, messages appended to the ring and read from it, and waiting on
//! the ring's futex (format-spec.md §5.4).
//!
//! Publishers serialise on the file's `flock` (a killed publisher's lock is released by the
//! kernel, and the message it was writing was never published: `head` moves only after the
//! whole message is in the ring). Subscribers never take it: each reads the ring at its own
//! cursor, so a slow subscriber holds up no one; one that falls more than the ring behind
//! finds its slots overwritten and its subscription ends ([`Read::Overrun`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::wake::CancelToken;
use crate::error::{Error, Result};
use crate::format::pubsub::*;
use crate::os::lock::LockFile;
use crate::os::map::{futex_wait, futex_wait_any, futex_wake_all, FutexWord, SharedWords};

pub(crate) use crate::format::pubsub::{
    Read, KIND_CHANNEL, KIND_PATTERN, KIND_SHARD, MAX_MESSAGE, MAX_NAME,
};

/// How long a publisher trusts that a subscriber's process it found alive still is, before
/// it reads `/proc` again: the delay before a dead subscriber stops being counted.
const ALIVE_FOR: Duration = Duration::from_millis(20);

/// A registry entry of this process: its kind and name.
type LocalKey = (u64, Vec<u8>);

/// This process's view of `ziggy.pubsub`, shared by every handle on the directory.
pub(crate) struct PubSub {
    file: LockFile,
    map: SharedWords,
    /// Threads of this process take the file's lock one at a time (a `flock` is the open
    /// file's, not a thread's).
    writing: Mutex<()>,
    /// This process's registry entries: (kind, name) to (entry, subscribers).
    local: Mutex<HashMap<LocalKey, (usize, u64)>>,
    /// Processes of registry entries found alive, and when.
    alive: Mutex<HashMap<(u32, u64), Instant>>,
    pid: u32,
    start: u64,
    lock_timeout: Option<Duration>,
}

/// One live registry entry, as a scan reads it.
pub(crate) struct Entry {
    pub(crate) kind: u64,
    pub(crate) name: Vec<u8>,
    pub(crate) count: u64,
}

impl PubSub {
    /// Opens `ziggy.pubsub` in `dir`, creating it with `mode` if needed and initialising it
    /// (holding its lock) if it is new, was left half-initialised, or is from before a
    /// reboot.
    pub(crate) fn open(
        dir: &std::path::Path,
        mode: u32,
        lock_timeout: Option<Duration>,
    ) -> Result<Self> {
        let path = dir.join("ziggy.pubsub");
        let file = LockFile::open(&path, mode)?;
        file.lock_exclusive(lock_timeout, &path)?;
        let r = Self::prepare(&file, &path);
        file.unlock();
        let map = r?;
        let pid = std::process::id();
        Ok(PubSub {
            file,
            map,
            writing: Mutex::new(()),
            local: Mutex::new(HashMap::new()),
            alive: Mutex::new(HashMap::new()),
            pid,
            start: crate::os::proc::process_start(pid).unwrap_or(0),
            lock_timeout,
        })
    }

    /// Checks the file (holding its lock) and initialises it if it must; returns its map.
    fn prepare(file: &LockFile, path: &PathBuf) -> Result<SharedWords> {
        let corrupt = |reason| Error::CorruptShm {
            file: path.clone(),
            reason,
        };
        let len = file.file.metadata().map_err(|e| Error::io(path, e))?.len();
        let boot = crate::os::proc::boot_id();
        if len == FILE_LEN {
            let map = SharedWords::open(&file.file, path)?;
            let w = map.words();
            let get = |i: usize| w[i].load(Ordering::Acquire);
            if get(H_MAGIC) == MAGIC && (get(H_BOOT0), get(H_BOOT1)) == boot {
                if get(H_VERSION) != VERSION {
                    return Err(Error::IncompatibleVersion {
                        file: path.clone(),
                        found: u16::try_from(get(H_VERSION)).unwrap_or(u16::MAX),
                        supported: VERSION as u16,
                    });
                }
                if get(H_ENTRIES) != ENTRIES as u64 || get(H_SLOTS) != SLOTS {
                    return Err(corrupt("ziggy.pubsub has another size of registry or ring"));
                }
                return Ok(map);
            }
        }
        // New, half-initialised (its creator died before the magic), or from an earlier
        // boot: no process of this boot has it mapped, since every process maps it only
        // after seeing the magic of this boot under the lock held now.
        file.file.set_len(0).map_err(|e| Error::io(path, e))?;
        crate::os::map::fallocate(&file.file, FILE_LEN).map_err(|e| Error::io(path, e))?;
        let map = SharedWords::open(&file.file, path)?;
        let w = map.words();
        w[H_VERSION].store(VERSION, Ordering::Relaxed);
        w[H_BOOT0].store(boot.0, Ordering::Relaxed);
        w[H_BOOT1].store(boot.1, Ordering::Relaxed);
        w[H_ENTRIES].store(ENTRIES as u64, Ordering::Relaxed);
        w[H_SLOTS].store(SLOTS, Ordering::Relaxed);
        w[H_MAGIC].store(MAGIC, Ordering::Release);
        Ok(map)
    }

    fn w(&self, i: usize) -> &AtomicU64 {
        &self.map.words()[i]
    }

    /// The published end of the ring: a subscriber starts reading here.
    pub(crate) fn head(&self) -> u64 {
        self.w(H_HEAD).load(Ordering::SeqCst)
    }

    /// Appends one message (at most [`MAX_MESSAGE`] bytes of channel and payload together),
    /// to a shard channel if `shard`, and wakes sleeping subscribers.
    pub(crate) fn publish(&self, channel: &[u8], payload: &[u8], shard: bool) -> Result<()> {
        let len = channel.len().saturating_add(payload.len());
        if len > MAX_MESSAGE {
            return Err(Error::ValueTooLarge {
                len,
                max: MAX_MESSAGE,
            });
        }
        let _one = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.file
            .lock_exclusive(self.lock_timeout, &self.file.path)?;
        let words = self.map.words();
        // Only a holder of the lock moves `head`.
        let head = self.w(H_HEAD).load(Ordering::Acquire);
        let new = write_message(words, head, channel, payload, self.pid, shard);
        self.w(H_HEAD).store(new, Ordering::SeqCst);
        self.w(H_MESSAGES).fetch_add(1, Ordering::Relaxed);
        self.file.unlock();
        if self.w(H_SLEEPERS).load(Ordering::SeqCst) > 0 {
            futex_wake_all(self.w(H_HEAD));
        }
        Ok(())
    }

    /// Reads the message at `seq`, waiting until `deadline` (forever if `None`) for one to be
    /// published there, or until `cancel` is cancelled; `None` if none was by then.
    pub(crate) fn read(
        &self,
        seq: u64,
        deadline: Option<Instant>,
        cancel: Option<&CancelToken>,
    ) -> Option<Read> {
        loop {
            // Read before the check: a cancel after it moves the word, so the sleep below
            // returns at once.
            let cancel_seen = cancel.map(|c| c.word().load(Ordering::SeqCst) as u32);
            let head = self.head();
            if seq < head {
                return Some(read_message(self.map.words(), seq, head));
            }
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return None;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return None;
            }
            let sleepers = self.w(H_SLEEPERS);
            sleepers.fetch_add(1, Ordering::SeqCst);
            if self.head() == seq {
                // `head` only grows; its low half changes with every publish.
                match (cancel, cancel_seen) {
                    (Some(c), Some(seen)) => futex_wait_any(
                        &[
                            FutexWord {
                                word: self.w(H_HEAD),
                                seen: seq as u32,
                                shared: true,
                            },
                            FutexWord {
                                word: c.word(),
                                seen,
                                shared: false,
                            },
                        ],
                        Some(Instant::now() + left),
                    ),
                    _ => futex_wait(self.w(H_HEAD), seq as u32, left),
                }
            }
            let _ = sleepers.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            });
        }
    }

    /// Adds one subscriber of this process to `(kind, name)` in the registry.
    pub(crate) fn register(&self, kind: u64, name: &[u8]) -> Result<()> {
        if name.len() > MAX_NAME {
            return Err(Error::InvalidArgument(format!(
                "a channel name or pattern of {} bytes is longer than the {MAX_NAME} bytes \
                 Pub/Sub allows",
                name.len()
            )));
        }
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((e, count)) = local.get_mut(&(kind, name.to_vec())) {
            *count += 1;
            self.w(entry_word(*e, E_COUNT))
                .store(*count, Ordering::Release);
            return Ok(());
        }
        let e = self.claim()?;
        let words = self.map.words();
        let kw = self.w(entry_word(e, E_KIND));
        let generation = (kw.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xffff_ffff;
        kw.store(generation << 32, Ordering::Relaxed);
        self.w(entry_word(e, E_START))
            .store(self.start, Ordering::Relaxed);
        self.w(entry_word(e, E_COUNT)).store(1, Ordering::Relaxed);
        write_name(words, e, name);
        kw.store(
            kind | (name.len() as u64) << 8 | generation << 32,
            Ordering::SeqCst,
        );
        self.w(H_HIGH).fetch_max(e as u64 + 1, Ordering::SeqCst);
        local.insert((kind, name.to_vec()), (e, 1));
        Ok(())
    }

    /// Removes one subscriber of this process from `(kind, name)`.
    pub(crate) fn unregister(&self, kind: u64, name: &[u8]) {
        let mut local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let key = (kind, name.to_vec());
        let Some((e, count)) = local.get_mut(&key) else {
            return;
        };
        let e = *e;
        *count -= 1;
        if *count > 0 {
            self.w(entry_word(e, E_COUNT))
                .store(*count, Ordering::Release);
            return;
        }
        local.remove(&key);
        let kw = self.w(entry_word(e, E_KIND));
        kw.store(kw.load(Ordering::Relaxed) & !0xffff_ffff, Ordering::SeqCst);
        self.w(entry_word(e, E_COUNT)).store(0, Ordering::Relaxed);
        self.w(entry_word(e, E_PID)).store(0, Ordering::SeqCst);
    }

    /// A free registry entry, claimed for this process (its kind still 0).
    fn claim(&self) -> Result<usize> {
        for e in 0..ENTRIES {
            let pid = self.w(entry_word(e, E_PID));
            if pid
                .compare_exchange(0, u64::from(self.pid), Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(e);
            }
        }
        // Full: reclaim the entries of dead processes and try once more.
        self.scan(|_| {});
        for e in 0..ENTRIES {
            let pid = self.w(entry_word(e, E_PID));
            if pid
                .compare_exchange(0, u64::from(self.pid), Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(e);
            }
        }
        Err(Error::InvalidArgument(format!(
            "the Pub/Sub registry is full: {ENTRIES} channels and patterns are subscribed \
             across the processes of this database"
        )))
    }

    /// Calls `f` with every live registry entry, and frees the entries of processes that
    /// died (format-spec.md §5.4).
    pub(crate) fn scan(&self, mut f: impl FnMut(&Entry)) {
        let words = self.map.words();
        let high = (self.w(H_HIGH).load(Ordering::SeqCst) as usize).min(ENTRIES);
        for e in 0..high {
            let kw = self.w(entry_word(e, E_KIND));
            let k1 = kw.load(Ordering::SeqCst);
            let kind = k1 & 0xff;
            if kind == 0 {
                continue;
            }
            let pid = self.w(entry_word(e, E_PID)).load(Ordering::Acquire);
            let start = self.w(entry_word(e, E_START)).load(Ordering::Acquire);
            let count = self.w(entry_word(e, E_COUNT)).load(Ordering::Acquire);
            let len = ((k1 >> 8) & 0xffff) as usize;
            let name = read_name(words, e, len);
            std::sync::atomic::fence(Ordering::Acquire);
            if kw.load(Ordering::Relaxed) != k1 || pid == 0 {
                continue;
            }
            let Ok(pid32) = u32::try_from(pid) else {
                continue;
            };
            if !self.is_alive(pid32, start) {
                // Free it, unless it changed meanwhile (a new generation): the kind first,
                // so that no scan reads it while the pid is given back.
                if kw
                    .compare_exchange(k1, k1 & !0xffff_ffff, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    let _ = self.w(entry_word(e, E_PID)).compare_exchange(
                        pid,
                        0,
                        Ordering::SeqCst,
                        Ordering::Relaxed,
                    );
                }
                continue;
            }
            f(&Entry { kind, name, count });
        }
    }

    /// Whether the process `pid` started at `start` is alive (this process is; others by
    /// `/proc`, believed for [`ALIVE_FOR`]).
    fn is_alive(&self, pid: u32, start: u64) -> bool {
        if pid == self.pid && start == self.start {
            return true;
        }
        let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = alive.get(&(pid, start)) {
            if at.elapsed() < ALIVE_FOR {
                return true;
            }
        }
        let yes = crate::os::proc::process_alive(pid, start);
        if yes {
            alive.insert((pid, start), Instant::now());
        } else {
            alive.remove(&(pid, start));
        }
        yes
    }
}

impl crate::engine::Shared {
    /// This process's `ziggy.pubsub`, opened (and created) at the first call.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only handle (Pub/Sub writes the shared file),
    /// [`Error::Forked`], and the errors of [`PubSub::open`].
    pub(crate) fn pubsub(&self) -> Result<Arc<PubSub>> {
        self.check_fork()?;
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        let mut slot = self.pubsub.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = slot.as_ref() {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(PubSub::open(&self.dir, self.mode, self.opts.lock_timeout)?);
        *slot = Some(Arc::clone(&p));
        Ok(p)
    }
}
