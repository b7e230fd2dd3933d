//! Advisory file locks (fs2 `flock`) and the in-process writer lock (format-spec.md §6).
//!
//! `flock` locks belong to an open file description, so each process opens every lock file
//! once (the per-directory `Shared` state is a process-wide singleton) and serialises its own
//! threads with [`ProcLock`] before taking the file lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use fs2::FileExt;

use crate::error::{Error, Result};

/// A lock file opened once per process.
pub(crate) struct LockFile {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    /// The thread that waits in `flock` for this process ([`LockFile::lock_exclusive`]).
    pub(crate) waiter: Waiter,
}

/// This process's waiter for one lock file: a thread, started at the first wait, that blocks
/// in `flock(LOCK_EX)` on a duplicate of the file's descriptor (the same open file, so the
/// lock it gets is the process's) and hands the lock to the thread that asked for it, or
/// releases it at once if that thread stopped waiting. Dropping it ends the thread (once it
/// returns from `flock`, if it is in it).
#[derive(Default)]
pub(crate) struct Waiter {
    shared: Arc<WaiterShared>,
}

#[derive(Default)]
struct WaiterShared {
    state: Mutex<WaitState>,
    /// Wakes the waiter thread: a request, or the end.
    to_thread: Condvar,
    /// Wakes the requester: the lock granted, or an error.
    to_requester: Condvar,
}

#[derive(Default)]
struct WaitState {
    /// The waiter thread was started.
    thread: bool,
    /// A thread of this process waits for the lock.
    want: bool,
    /// The waiter thread got the lock for the requester, which has not taken it yet.
    granted: bool,
    /// The waiter thread is inside `flock`.
    blocking: bool,
    /// `flock` failed other than by a signal; for the requester.
    error: Option<std::io::Error>,
    /// The lock file is being closed: the thread ends.
    closed: bool,
    /// When the waiter thread's `flock` returned with the lock ([`stats`] only).
    granted_at: Option<Instant>,
    /// When this process took the lock ([`stats`] only).
    held_since: Option<Instant>,
}

impl WaiterShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.to_thread.notify_one();
    }
}

/// The waiter thread of one lock file (see [`Waiter`]).
fn waiter_thread(w: &WaiterShared, file: &File) {
    let mut st = w.lock();
    loop {
        if st.closed {
            return;
        }
        if !st.want || st.granted || st.error.is_some() {
            st = w
                .to_thread
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            continue;
        }
        st.blocking = true;
        drop(st);
        let got = loop {
            match FileExt::lock_exclusive(file) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        crate::os::pause::point("lock-granted");
        let at = stats::now();
        st = w.lock();
        st.blocking = false;
        match got {
            Ok(()) if st.want && !st.closed => {
                st.granted = true;
                st.granted_at = at;
                w.to_requester.notify_all();
            }
            // Nobody waits any more (the requester timed out): release at once.
            Ok(()) => {
                let _ = FileExt::unlock(file);
            }
            Err(e) => {
                if st.want {
                    st.error = Some(e);
                    w.to_requester.notify_all();
                }
            }
        }
    }
}

impl LockFile {
    /// Opens the lock file `path`, creating it with `mode` if it does not exist; never
    /// through a symbolic link ([`crate::os::io::open_or_create`]).
    pub(crate) fn open(path: &Path, mode: u32) -> Result<Self> {
        let file = crate::os::io::open_or_create(path, mode)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            waiter: Waiter::default(),
        })
    }

    /// Exclusive lock, waiting at most `timeout` (forever if `None`; `Some(0)` tries once).
    ///
    /// A quick non-blocking try first; then this process's waiter thread for the file blocks
    /// in `flock(LOCK_EX)` and hands the lock over the moment the kernel grants it, while the
    /// caller waits on a condition variable with its deadline (format-spec.md §6.2). Nothing
    /// polls: a release, or the death of the holder, wakes the waiter at once. The caller
    /// keeps its own threads from asking for one file's lock twice at once ([`ProcLock`] for
    /// `writer.lock`), as a `flock` belongs to the open file, not to a thread.
    pub(crate) fn lock_exclusive(&self, timeout: Option<Duration>, busy_path: &Path) -> Result<()> {
        self.lock_exclusive_with(timeout, busy_path, None, None)
    }

    /// [`LockFile::lock_exclusive`] with the hand-off of format-spec.md §6.6 through the
    /// claim word `claim` (in `ziggy.shm`): a wait that has lasted [`claim::AFTER`] claims the
    /// lock there, and while another process's claim binds, this process neither tries the
    /// lock nor keeps it when its waiter gets it, but sleeps on the word until the claim ends
    /// or lapses.
    ///
    /// Claims are made in the order of `queue`'s tickets: a process that finds it must wait
    /// takes one, and while a live process that is not stopped waits with an earlier ticket,
    /// it does not claim ([`queue`]).
    pub(crate) fn lock_exclusive_fair(
        &self,
        timeout: Option<Duration>,
        busy_path: &Path,
        claim: &AtomicU64,
        queue: queue::Queue<'_>,
    ) -> Result<()> {
        self.lock_exclusive_with(timeout, busy_path, Some(claim), Some(queue))
    }

    fn lock_exclusive_with(
        &self,
        timeout: Option<Duration>,
        busy_path: &Path,
        claim_word: Option<&AtomicU64>,
        queue: Option<queue::Queue<'_>>,
    ) -> Result<()> {
        let began = Instant::now();
        let deadline = timeout.map(|t| began + t);
        let me = std::process::id();
        // This process's ticket while it waits, withdrawn on every way out (the guard).
        let mut ticket = queue.map(queue::Ticket::new);
        // The earlier tickets this wait found stopped or gone (not waited for again), and the
        // one it deferred to at its last look (looked up in `/proc` if it is still there).
        let mut passed: Vec<u64> = Vec::new();
        let mut deferred_to = 0u64;
        // This process's claim in the word, 0 if it has none; renewed (or first made) at
        // `renew_at`.
        let mut mine = 0u64;
        let mut renew_at = began + claim::AFTER;
        let w = &self.waiter.shared;
        let counted = stats::on() && self.name() == "writer.lock";
        let asked = stats::now().filter(|_| counted);
        // No wait yet: a success of the first try is a fast acquisition.
        let mut first = true;
        'attempt: loop {
            // While another process's claim binds, wait for it to end (or lapse) instead of
            // taking the lock from under it.
            if let Some(c) = claim_word {
                // A claim this process already slept on once unchanged: its claimant is
                // looked up in `/proc`.
                let mut slept_on = 0u64;
                loop {
                    let cv = c.load(Ordering::Acquire);
                    if cv != mine {
                        // Ours, if we had one, lapsed and was replaced.
                        mine = 0;
                    }
                    let Some(left) = claim::binds(cv, me, cv == slept_on) else {
                        break;
                    };
                    let now = Instant::now();
                    let mut nap = left.min(claim::NAP);
                    if let Some(d) = deadline {
                        if now >= d {
                            return Err(self.busy(busy_path));
                        }
                        nap = nap.min(d - now);
                    }
                    stats::bump(stats::C::ClaimWaits);
                    first = false;
                    if let Some(t) = ticket.as_mut() {
                        t.take();
                    }
                    slept_on = cv;
                    crate::os::map::futex_wait(c, cv as u32, nap);
                }
            }
            let mut st = w.lock();
            // While the waiter thread is inside `flock` for this open file, a try of ours
            // would succeed as soon as its call does, and both would think they hold the lock.
            if !st.blocking && self.try_lock_exclusive()? {
                if counted {
                    if first {
                        stats::bump(stats::C::Acquires);
                        stats::bump(stats::C::Fast);
                    } else {
                        stats::time(
                            asked,
                            Some(stats::C::Acquires),
                            stats::C::WaitNs,
                            stats::C::WaitMax,
                        );
                    }
                    st.held_since = stats::now();
                }
                drop(st);
                if let Some(c) = claim_word {
                    claim::release(c, mine);
                }
                return Ok(());
            }
            if timeout == Some(Duration::ZERO) {
                drop(st);
                return Err(self.busy(busy_path));
            }
            if !st.thread {
                let file = self
                    .file
                    .try_clone()
                    .map_err(|e| Error::io(&self.path, e))?;
                let shared = Arc::clone(w);
                std::thread::Builder::new()
                    .name("ziggydb-lockwait".into())
                    .spawn(move || waiter_thread(&shared, &file))
                    .map_err(|e| Error::io(&self.path, e))?;
                st.thread = true;
            }
            // From here on this process waits: it takes its place in the order of claims.
            if let Some(t) = ticket.as_mut() {
                t.take();
            }
            st.want = true;
            w.to_thread.notify_one();
            loop {
                if st.granted {
                    st.granted = false;
                    st.want = false;
                    if let Some(c) = claim_word {
                        let cv = c.load(Ordering::Acquire);
                        if cv != mine && claim::binds(cv, me, false).is_some() {
                            // Another process claimed the lock: let go of it at once (the
                            // release wakes the claimant, blocked in `flock`) and wait for
                            // the claim to end.
                            st.granted_at = None;
                            drop(st);
                            let _ = FileExt::unlock(&self.file);
                            stats::bump(stats::C::Yields);
                            first = false;
                            continue 'attempt;
                        }
                        claim::release(c, mine);
                    }
                    if counted {
                        stats::time(
                            asked,
                            Some(stats::C::Acquires),
                            stats::C::WaitNs,
                            stats::C::WaitMax,
                        );
                        let at = st.granted_at.take();
                        stats::time(at, None, stats::C::HandoffNs, stats::C::HandoffMax);
                        st.held_since = stats::now();
                    }
                    return Ok(());
                }
                if let Some(e) = st.error.take() {
                    st.want = false;
                    drop(st);
                    if let Some(c) = claim_word {
                        claim::release(c, mine);
                    }
                    return Err(Error::io(&self.path, e));
                }
                let now = Instant::now();
                if let Some(d) = deadline {
                    if now >= d {
                        // The waiter thread, if it gets the lock later, releases it at once.
                        st.want = false;
                        drop(st);
                        if let Some(c) = claim_word {
                            claim::release(c, mine);
                        }
                        return Err(self.busy(busy_path));
                    }
                }
                let mut until = deadline;
                if let Some(c) = claim_word {
                    if now >= renew_at {
                        // Waited long enough: claim the lock, or renew this process's claim
                        // half-way through its term, unless another process's binds.
                        let cv = c.load(Ordering::Acquire);
                        if cv != mine {
                            mine = 0;
                        }
                        // A live waiter with an earlier ticket claims first (stopped or
                        // gone ones are passed over once `/proc` says so, at the second look).
                        let ahead = match ticket.as_ref() {
                            Some(t) if mine == 0 => t.ahead(deferred_to, &mut passed),
                            _ => 0,
                        };
                        deferred_to = ahead;
                        if ahead != 0 {
                            stats::bump(stats::C::Defers);
                            renew_at = now + queue::DEFER;
                        } else if claim::binds(cv, me, false).is_none() {
                            let new = claim::value(me, claim::TERM);
                            if c.compare_exchange(cv, new, Ordering::AcqRel, Ordering::Acquire)
                                .is_ok()
                            {
                                let made = mine == 0;
                                mine = new;
                                if made {
                                    stats::bump(stats::C::Claims);
                                    crate::os::pause::point("claim");
                                }
                                renew_at = now + claim::TERM / 2;
                            } else {
                                renew_at = now + claim::AFTER;
                            }
                        } else {
                            // Another's claim: claim when it ends (a waiter woken by its
                            // withdrawal looks at once) or could have lapsed.
                            renew_at = now + claim::NAP;
                        }
                    }
                    until = Some(until.map_or(renew_at, |d| d.min(renew_at)));
                }
                st = match until {
                    None => w
                        .to_requester
                        .wait(st)
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                    Some(u) => {
                        w.to_requester
                            .wait_timeout(st, u.saturating_duration_since(now))
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .0
                    }
                };
            }
        }
    }

    /// The error for a lock wait that timed out, naming the lock and its holder.
    fn busy(&self, busy_path: &Path) -> Error {
        Error::Busy {
            path: busy_path.to_path_buf(),
            lock: self.name(),
            holder: self.holder(),
        }
    }

    /// The lock's file name, for [`Error::Busy`] to say what held it.
    fn name(&self) -> &'static str {
        let name = self.path.file_name().and_then(|n| n.to_str());
        ["ziggy.lock", "writer.lock", "compact.lock", "sync.lock"]
            .into_iter()
            .find(|known| name == Some(known))
            .unwrap_or("lock")
    }

    /// This file as `/proc/locks` names it: "MAJOR:MINOR:INODE" in hex, hex, decimal.
    fn proc_locks_id(&self) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let md = self.file.metadata().ok()?;
        let dev = md.dev();
        // glibc's gnu_dev_major / gnu_dev_minor.
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        Some(format!("{major:02x}:{minor:02x}:{}", md.ino()))
    }

    /// How many open files hold a `flock` (shared or exclusive) on this file, waiters not
    /// counted, as `/proc/locks` tells it; `None` where the system does not say. Each
    /// process attached to a database holds one shared lock on `ziggy.shm`.
    pub(crate) fn holders(&self) -> Option<u64> {
        let id = self.proc_locks_id()?;
        // `/proc/locks` is read a page at a time, and locks taken or dropped anywhere in the
        // system between two reads shift its lines: one line can come twice (so holders are
        // counted by process id, one lock per process) or not at all (so read until two
        // readings agree).
        let count = || -> Option<u64> {
            let locks = std::fs::read_to_string("/proc/locks").ok()?;
            let pids: std::collections::BTreeSet<&str> = locks
                .lines()
                .filter_map(|line| {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    // "N: FLOCK ADVISORY READ PID MAJ:MIN:INO 0 EOF"; waiters carry "->".
                    (f.len() >= 6 && f[1] == "FLOCK" && f[5] == id).then(|| f[4])
                })
                .collect();
            Some(pids.len() as u64)
        };
        let mut last = count()?;
        for _ in 0..4 {
            let now = count()?;
            if now == last {
                break;
            }
            last = last.max(now);
        }
        Some(last)
    }

    /// The process holding an exclusive `flock` on this file, as `/proc/locks` tells it:
    /// "process PID (NAME)", with ", which is stopped" or ", which is a zombie" when
    /// `/proc/PID/stat` says so. `None` where the system does not say.
    pub(crate) fn holder(&self) -> Option<String> {
        let id = self.proc_locks_id()?;
        // `/proc/locks` is read a page at a time and a line can be missed when locks come and
        // go elsewhere meanwhile (see `holders`): a few readings before saying there is none.
        let pid: u32 = (0..4).find_map(|_| {
            let locks = std::fs::read_to_string("/proc/locks").ok()?;
            locks.lines().find_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                // "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INO 0 EOF"; waiters carry "->".
                (f.len() >= 6 && f[1] == "FLOCK" && f[3] == "WRITE" && f[5] == id)
                    .then(|| f[4].parse().ok())
                    .flatten()
            })
        })?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so split at the last ')'.
        let (name, state) = match (stat.find('('), stat.rfind(')')) {
            (Some(a), Some(b)) if a < b => (
                stat[a + 1..b].to_string(),
                stat[b + 1..].trim_start().chars().next(),
            ),
            _ => (String::new(), None),
        };
        let state = match state {
            Some('T' | 't') => ", which is stopped",
            Some('Z') => ", which is a zombie",
            _ => "",
        };
        Some(if name.is_empty() {
            format!("process {pid}{state}")
        } else {
            format!("process {pid} ({name}){state}")
        })
    }

    /// Whether any process holds a `flock` on this file (shared or exclusive), as
    /// `/proc/locks` tells without taking a lock; `None` where the system does not say.
    pub(crate) fn locked_by_anyone(&self) -> Option<bool> {
        use std::os::unix::fs::MetadataExt;
        let md = self.file.metadata().ok()?;
        let dev = md.dev();
        // As in `holder`: glibc's gnu_dev_major / gnu_dev_minor.
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
        let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
        let id = format!("{major:02x}:{minor:02x}:{}", md.ino());
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        Some(locks.lines().any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            f.len() >= 6 && f[1] == "FLOCK" && f[5] == id
        }))
    }

    pub(crate) fn try_lock_exclusive(&self) -> Result<bool> {
        match self.file.try_lock_exclusive() {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => Ok(false),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }

    pub(crate) fn lock_shared(&self) -> Result<()> {
        self.file
            .lock_shared()
            .map_err(|e| Error::io(&self.path, e))
    }

    pub(crate) fn unlock(&self) {
        if stats::on() {
            let since = self.waiter.shared.lock().held_since.take();
            stats::time(since, None, stats::C::HeldNs, stats::C::HeldMax);
        }
        // Unlocking cannot meaningfully fail for a valid descriptor; closing would release
        // the lock anyway.
        let _ = FileExt::unlock(&self.file);
    }
}

/// The hand-off word of `writer.lock` (format-spec.md §6.6, `ziggy.shm` word 47): 0, or the
/// claim of one waiting process, its pid in the high 32 bits and, in the low 32 bits, the
/// time the claim lapses unless renewed (Unix milliseconds, wrapping; odd, so that a claim is
/// never 0).
pub(crate) mod claim {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// A process that has waited this long for the lock claims it.
    pub(crate) const AFTER: Duration = Duration::from_millis(5);
    /// A claim lapses this long after it is made or renewed; its claimant renews it half-way
    /// (so a claimant behind a long transaction wakes twice a second, no more). It is long
    /// because the claimant that most needs its claim is the one that gets a CPU least: a
    /// stopped or dead claimant is found out by `/proc` instead ([`NAP`]); the term only
    /// bounds a claim whose pid went to another process.
    pub(crate) const TERM: Duration = Duration::from_millis(400);
    /// A process another's claim keeps waiting sleeps at most this long before it looks
    /// again; if the claim is then unchanged it asks `/proc` whether the claimant still
    /// exists and is not stopped. So a stopped or dead claimant holds the others up for about
    /// this long, and a lapsed claim for no time at all.
    pub(crate) const NAP: Duration = Duration::from_millis(100);

    /// Unix milliseconds, low 32 bits.
    fn now() -> u32 {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        ms as u32
    }

    /// The claim of process `pid` lapsing `term` from now.
    pub(crate) fn value(pid: u32, term: Duration) -> u64 {
        let until = now().wrapping_add(term.as_millis() as u32) | 1;
        u64::from(pid) << 32 | u64::from(until)
    }

    /// How much longer the claim word's value `c` keeps process `me` from taking the lock:
    /// `None` if it is 0, this process's own claim, or lapsed; with `check`, also if `/proc`
    /// says its claimant is gone, a zombie or stopped. A clock that jumps makes a claim lapse
    /// at once or after at most its term (the difference is read as a signed 32-bit number).
    pub(crate) fn binds(c: u64, me: u32, check: bool) -> Option<Duration> {
        if c == 0 {
            return None;
        }
        let pid = (c >> 32) as u32;
        if pid == me {
            return None;
        }
        let left = (c as u32).wrapping_sub(now()) as i32;
        if left <= 0 || left as u128 > TERM.as_millis() + 1 {
            return None;
        }
        if check && !matches!(crate::os::proc::process_progress(pid), Some((false, _))) {
            return None;
        }
        Some(Duration::from_millis(left as u64))
    }

    /// Withdraws this process's claim `mine` (0: none) and wakes the processes waiting on it.
    pub(crate) fn release(c: &AtomicU64, mine: u64) {
        if mine != 0
            && c.compare_exchange(mine, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            crate::os::map::futex_wake_all(c);
        }
    }
}

/// The order of claims of `writer.lock` (format-spec.md §6.6): a process that finds it must
/// wait takes a ticket from `ziggy.shm` word 83 (`lock_ticket`) and shows it in its process
/// slot (word `P_TICKET`, with its pid) until it stops waiting. When the claim word is free,
/// only the waiter with the earliest ticket of those alive and not stopped claims; the others
/// go on waiting (and taking a free lock, as before) and look again after [`DEFER`]. So the
/// process passed over longest claims next, not the first to get a CPU.
pub(crate) mod queue {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// A waiter that defers to an earlier ticket looks again after this long: then, if the
    /// same ticket is still there, it asks `/proc` whether its process is alive and not
    /// stopped, and passes over it if not.
    pub(crate) const DEFER: Duration = Duration::from_millis(10);

    /// Where the tickets are: the counter and the process table of `ziggy.shm`, and this
    /// process's slot in it (`None`: it has none, and claims without a ticket, as before).
    #[derive(Clone, Copy)]
    pub(crate) struct Queue<'a> {
        pub(crate) next: &'a AtomicU64,
        /// The process table: `slot_words` words per slot, the pid in word `pid_word` of a
        /// slot and the ticket in word `ticket_word` (the layout is `ziggy.shm`'s, §5.2,
        /// which the caller knows).
        pub(crate) procs: &'a [AtomicU64],
        pub(crate) slot: Option<usize>,
        pub(crate) slot_words: usize,
        pub(crate) pid_word: usize,
        pub(crate) ticket_word: usize,
    }

    /// Whether ticket word `a` was taken before `b` (the ticket numbers, in the high 32 bits,
    /// compared as a wrapping difference).
    fn before(a: u64, b: u64) -> bool {
        (((a >> 32) as u32).wrapping_sub((b >> 32) as u32) as i32) < 0
    }

    /// This process's ticket while it waits; withdrawn when dropped.
    pub(crate) struct Ticket<'a> {
        q: Queue<'a>,
        /// Its value in the slot (ticket << 32 | pid), 0 before one is taken.
        word: u64,
    }

    impl<'a> Ticket<'a> {
        pub(crate) fn new(q: Queue<'a>) -> Self {
            Ticket { q, word: 0 }
        }

        fn own(&self) -> Option<&'a AtomicU64> {
            let i = self.q.slot? * self.q.slot_words + self.q.ticket_word;
            self.q.procs.get(i)
        }

        /// Takes a ticket, if this wait has none yet.
        pub(crate) fn take(&mut self) {
            if self.word != 0 {
                return;
            }
            let Some(own) = self.own() else { return };
            let n = self.q.next.fetch_add(1, Ordering::AcqRel) as u32;
            self.word = u64::from(n) << 32 | u64::from(std::process::id());
            own.store(self.word, Ordering::Release);
        }

        /// The earliest ticket of another waiting process taken before this one, 0 if none.
        /// A ticket that was `last` (the one deferred to at the previous look) is looked up
        /// in `/proc`: if its process is gone or stopped it goes into `passed` and is not
        /// waited for again in this wait.
        pub(crate) fn ahead(&self, last: u64, passed: &mut Vec<u64>) -> u64 {
            if self.word == 0 {
                return 0;
            }
            let mut first = 0u64;
            for slot in self.q.procs.chunks_exact(self.q.slot_words) {
                let t = slot[self.q.ticket_word].load(Ordering::Acquire);
                if t == 0 || t == self.word || !before(t, self.word) {
                    continue;
                }
                // A ticket left in a slot that another process took since is no one's.
                if t as u32 as u64 != slot[self.q.pid_word].load(Ordering::Acquire)
                    || passed.contains(&t)
                {
                    continue;
                }
                if t == last
                    && !matches!(
                        crate::os::proc::process_progress(t as u32),
                        Some((false, _))
                    )
                {
                    passed.push(t);
                    continue;
                }
                if first == 0 || before(t, first) {
                    first = t;
                }
            }
            first
        }
    }

    impl Drop for Ticket<'_> {
        fn drop(&mut self) {
            if let Some(own) = self.own().filter(|_| self.word != 0) {
                let _ = own.compare_exchange(self.word, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

/// A mutex with no guard lifetime, so a write transaction can own it. It is held by no
/// thread: a transaction begun on one thread may be committed (and the lock released) on
/// another. Re-entry is told by scope instead: a thread inside [`ProcLock::scope`] (the
/// closure of `Db::transaction`) that asks for the lock again would wait for itself.
#[derive(Default)]
pub(crate) struct ProcLock {
    state: Mutex<ProcLockState>,
    cv: Condvar,
}

#[derive(Default)]
struct ProcLockState {
    held: bool,
    /// Threads queued in `acquire`. While any is queued, a thread arriving (or the one that
    /// just released, coming back) queues behind them instead of taking the free lock, so a
    /// thread that commits in a loop cannot starve another's `begin_write` until it times out.
    /// `release` wakes one only if there is one, since a `Condvar` notification is a system
    /// call whether or not anyone waits.
    waiters: u32,
}

/// Why [`ProcLock::acquire`] failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcquireError {
    TimedOut,
    /// The calling thread runs inside a [`ProcLock::scope`] of this lock: it holds the lock
    /// already, and would wait for itself.
    Reentrant,
}

thread_local! {
    /// The locks whose scope this thread is inside, by address.
    static SCOPES: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// While it lives, the thread that made it holds the lock (see [`ProcLock::scope`]). Not
/// `Send`: it marks this thread.
pub(crate) struct Scope {
    lock: usize,
    _thread_bound: std::marker::PhantomData<*const ()>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        SCOPES.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(i) = s.iter().rposition(|&l| l == self.lock) {
                s.remove(i);
            }
        });
    }
}

impl ProcLock {
    /// Takes the lock, waiting at most `timeout`. A thread that finds others queued queues
    /// behind them (no barging), so every waiter gets the lock within a few hand-overs.
    pub(crate) fn acquire(&self, timeout: Option<Duration>) -> Result<(), AcquireError> {
        if self.in_scope() {
            return Err(AcquireError::Reentrant);
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut queued = false;
        loop {
            if !st.held && (queued || st.waiters == 0) {
                break;
            }
            let wait = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        if queued {
                            st.waiters -= 1;
                            // A hand-over meant for this thread goes to the next one.
                            if !st.held && st.waiters > 0 {
                                self.cv.notify_one();
                            }
                        }
                        return Err(AcquireError::TimedOut);
                    }
                    Some(d - now)
                }
            };
            if !queued {
                st.waiters += 1;
                queued = true;
            }
            st = match wait {
                None => self
                    .cv
                    .wait(st)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(w) => {
                    self.cv
                        .wait_timeout(st, w)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
        if queued {
            st.waiters -= 1;
        }
        st.held = true;
        Ok(())
    }

    /// Marks the calling thread as holding the lock until the returned scope is dropped: an
    /// `acquire` from this thread meanwhile is [`AcquireError::Reentrant`] at once, instead
    /// of a wait for itself. For a caller that holds the lock and runs code it does not
    /// control on this thread (the closure of `Db::transaction`).
    pub(crate) fn scope(&self) -> Scope {
        let lock = self as *const Self as usize;
        SCOPES.with(|s| s.borrow_mut().push(lock));
        Scope {
            lock,
            _thread_bound: std::marker::PhantomData,
        }
    }

    fn in_scope(&self) -> bool {
        let me = self as *const Self as usize;
        SCOPES.with(|s| s.borrow().contains(&me))
    }

    pub(crate) fn release(&self) {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.held = false;
        let wake = st.waiters > 0;
        drop(st);
        if wake {
            self.cv.notify_one();
        }
    }
}

/// Counters of lock waits and log syncs, for the contention bench to tell where writers lose
/// time (`ZIGGY_LOCK_STATS=1`, test-hooks builds only; elsewhere every call is nothing).
pub(crate) mod stats {
    #[cfg(feature = "test-hooks")]
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    /// What is counted; `*Ns` are sums of nanoseconds, `*Max` maxima.
    #[derive(Clone, Copy)]
    pub(crate) enum C {
        /// `writer.lock` taken.
        Acquires,
        /// ... by the first try, without waiting.
        Fast,
        /// Time from asking for `writer.lock` (after the first try failed) to holding it.
        WaitNs,
        WaitMax,
        /// Time from the waiter thread's `flock` returning to the asking thread holding it:
        /// the lock held by a thread that is not running yet.
        HandoffNs,
        HandoffMax,
        /// Time `writer.lock` was held.
        HeldNs,
        HeldMax,
        /// fdatasyncs of the log and their time.
        Syncs,
        SyncNs,
        SyncMax,
        /// Sleeps on the sync epoch while another syncs, and their time.
        SyncSleeps,
        SyncSleepNs,
        SyncSleepMax,
        /// Claims of `writer.lock` made after a long wait (format-spec.md §6.6).
        Claims,
        /// Sleeps on another process's claim before trying the lock.
        ClaimWaits,
        /// Grants of `writer.lock` given up at once to another process's claim.
        Yields,
        /// Looks at the claim word that left it to a waiter with an earlier ticket.
        Defers,
    }

    /// The counters' names, in the order of [`C`].
    #[cfg(feature = "test-hooks")]
    pub(crate) const NAMES: [&str; 18] = [
        "acquires",
        "fast",
        "wait_ns",
        "wait_max",
        "handoff_ns",
        "handoff_max",
        "held_ns",
        "held_max",
        "syncs",
        "sync_ns",
        "sync_max",
        "sync_sleeps",
        "sync_sleep_ns",
        "sync_sleep_max",
        "claims",
        "claim_waits",
        "yields",
        "defers",
    ];

    #[cfg(feature = "test-hooks")]
    static COUNTERS: [AtomicU64; 18] = [const { AtomicU64::new(0) }; 18];

    /// Whether counting is on (read once).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn on() -> bool {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| std::env::var_os("ZIGGY_LOCK_STATS").is_some())
    }

    #[cfg(not(feature = "test-hooks"))]
    pub(crate) fn on() -> bool {
        false
    }

    /// The time now, if counting.
    pub(crate) fn now() -> Option<Instant> {
        on().then(Instant::now)
    }

    /// Adds 1 to `count` (if given) and the time since `since` to `sum` and `max`.
    #[cfg_attr(not(feature = "test-hooks"), allow(unused_variables))]
    pub(crate) fn time(since: Option<Instant>, count: Option<C>, sum: C, max: C) {
        #[cfg(feature = "test-hooks")]
        if let Some(t) = since {
            let ns = t.elapsed().as_nanos() as u64;
            if let Some(c) = count {
                COUNTERS[c as usize].fetch_add(1, Ordering::Relaxed);
            }
            COUNTERS[sum as usize].fetch_add(ns, Ordering::Relaxed);
            COUNTERS[max as usize].fetch_max(ns, Ordering::Relaxed);
        }
    }

    /// Adds 1 to `c`, if counting.
    #[cfg_attr(not(feature = "test-hooks"), allow(unused_variables))]
    pub(crate) fn bump(c: C) {
        #[cfg(feature = "test-hooks")]
        if on() {
            COUNTERS[c as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every counter, by name.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn snapshot() -> Vec<(&'static str, u64)> {
        NAMES
            .iter()
            .zip(&COUNTERS)
            .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn queued(lock: &ProcLock) -> u32 {
        lock.state.lock().expect("state").waiters
    }

    /// A thread that releases the lock and takes it again at once (a loop of commits) must
    /// not take it from a thread already waiting: with barging, `begin_write` beside such a
    /// loop could wait out its whole timeout.
    #[test]
    fn a_thread_taking_the_lock_again_queues_behind_a_waiter() {
        let lock = Arc::new(ProcLock::default());
        lock.acquire(None).expect("first");
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (lock, done) = (Arc::clone(&lock), Arc::clone(&done));
            std::thread::spawn(move || {
                let r = lock.acquire(Some(Duration::from_secs(30)));
                // Holds it until the main thread has tried: whether the waiter is still
                // queued or already holds the lock, that try must fail.
                while !done.load(Ordering::Relaxed) {
                    std::thread::yield_now();
                }
                lock.release();
                r
            })
        };
        while queued(&lock) == 0 {
            std::thread::yield_now();
        }
        lock.release();
        // Coming straight back, this thread finds the waiter queued and must not barge.
        let barged = lock.acquire(Some(Duration::ZERO));
        done.store(true, Ordering::Relaxed);
        assert_eq!(barged, Err(AcquireError::TimedOut));
        assert_eq!(waiter.join().expect("join"), Ok(()));
        assert_eq!(lock.acquire(Some(Duration::from_secs(5))), Ok(()));
        lock.release();
        // And under contention, a waiter beside a loop gets the lock every time.
        let stop = Arc::new(AtomicBool::new(false));
        let looper = {
            let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    lock.acquire(None).expect("looper acquires");
                    std::hint::black_box((0..2000).sum::<u64>());
                    lock.release();
                }
            })
        };
        for i in 0..200 {
            let r = lock.acquire(Some(Duration::from_secs(5)));
            assert_eq!(r, Ok(()), "waiter starved at its acquisition {i}");
            lock.release();
        }
        stop.store(true, Ordering::Relaxed);
        looper.join().expect("looper");
    }

    /// A claim binds others, never its claimant; it lapses at the end of its term; with the
    /// check, a claimant that no longer exists binds no one (format-spec.md §6.6).
    #[test]
    fn a_claim_binds_others_until_it_lapses_or_its_claimant_is_gone() {
        let me = std::process::id();
        // A process that exists and runs: this test's parent (the harness or a shell).
        let other = std::os::unix::process::parent_id();
        assert_eq!(claim::binds(0, me, true), None, "no claim");
        let mine = claim::value(me, claim::TERM);
        assert_eq!(claim::binds(mine, me, true), None, "its own claim");
        let theirs = claim::value(other, claim::TERM);
        let left = claim::binds(theirs, me, true).expect("another's claim binds");
        assert!(left <= claim::TERM + Duration::from_millis(1), "{left:?}");
        let lapsed = claim::value(other, Duration::ZERO) - 2;
        assert_eq!(claim::binds(lapsed, me, false), None, "a lapsed claim");
        // A pid above the kernel's maximum (4194304) names no process.
        let gone = claim::value(u32::MAX - 1, claim::TERM);
        assert!(
            claim::binds(gone, me, false).is_some(),
            "unchecked, it binds"
        );
        assert_eq!(
            claim::binds(gone, me, true),
            None,
            "checked, its claimant is gone"
        );
        // Withdrawing: only the claimant's own value is cleared.
        let word = AtomicU64::new(theirs);
        claim::release(&word, mine);
        assert_eq!(word.load(Ordering::Relaxed), theirs);
        claim::release(&word, theirs);
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }

    /// The order of claims (format-spec.md §6.6): a waiter defers to an earlier ticket of a
    /// live process, not to a later one, a stale one (its slot taken by another process) or,
    /// at the second look, one whose process is gone; and withdraws its own when dropped.
    #[test]
    fn a_waiter_defers_only_to_earlier_live_tickets() {
        // The layout of ziggy.shm's process table (format-spec.md §5.2).
        const PROC_WORDS: usize = 8;
        const P_PID: usize = 0;
        const P_TICKET: usize = 6;
        let me = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let gone = u32::MAX - 1;
        let procs: Vec<AtomicU64> = (0..4 * PROC_WORDS).map(|_| AtomicU64::new(0)).collect();
        // The ticket counter just below the wrap: earlier tickets compare as earlier across it.
        let next = AtomicU64::new(u64::from(u32::MAX));
        let q = queue::Queue {
            next: &next,
            procs: &procs,
            slot: Some(0),
            slot_words: PROC_WORDS,
            pid_word: P_PID,
            ticket_word: P_TICKET,
        };
        procs[P_PID].store(u64::from(me), Ordering::Relaxed);
        let mut t = queue::Ticket::new(q);
        let mut passed = Vec::new();
        assert_eq!(t.ahead(0, &mut passed), 0, "no ticket yet, no order");
        t.take();
        let mine = procs[P_TICKET].load(Ordering::Relaxed);
        assert_eq!(mine, u64::from(u32::MAX) << 32 | u64::from(me));
        let ticket = |n: u32, pid: u32| u64::from(n) << 32 | u64::from(pid);
        // Slot 1: the parent, a later ticket (after the wrap); slot 2: a stale ticket.
        procs[PROC_WORDS + P_PID].store(u64::from(parent), Ordering::Relaxed);
        procs[PROC_WORDS + P_TICKET].store(ticket(3, parent), Ordering::Relaxed);
        procs[2 * PROC_WORDS + P_PID].store(u64::from(parent), Ordering::Relaxed);
        procs[2 * PROC_WORDS + P_TICKET].store(ticket(1, gone), Ordering::Relaxed);
        assert_eq!(t.ahead(0, &mut passed), 0, "later and stale tickets");
        // The parent waits with an earlier ticket: deferred to, also when looked up.
        let early = ticket(u32::MAX - 5, parent);
        procs[PROC_WORDS + P_TICKET].store(early, Ordering::Relaxed);
        assert_eq!(t.ahead(0, &mut passed), early);
        assert_eq!(t.ahead(early, &mut passed), early, "alive, not stopped");
        // Slot 3: a process that is gone, with the earliest ticket: deferred to until the
        // second look finds it gone, then passed over.
        let dead = ticket(u32::MAX - 9, gone);
        procs[3 * PROC_WORDS + P_PID].store(u64::from(gone), Ordering::Relaxed);
        procs[3 * PROC_WORDS + P_TICKET].store(dead, Ordering::Relaxed);
        assert_eq!(t.ahead(early, &mut passed), dead);
        assert_eq!(
            t.ahead(dead, &mut passed),
            early,
            "the dead one passed over"
        );
        assert_eq!(t.ahead(early, &mut passed), early, "and stays passed over");
        drop(t);
        assert_eq!(procs[P_TICKET].load(Ordering::Relaxed), 0, "withdrawn");
        assert_eq!(next.load(Ordering::Relaxed), u64::from(u32::MAX) + 1);
    }

    #[test]
    fn a_timed_out_waiter_passes_the_hand_over_on() {
        let lock = Arc::new(ProcLock::default());
        lock.acquire(None).expect("first");
        // Held by no thread: the same thread waits like any other...
        assert_eq!(
            lock.acquire(Some(Duration::from_millis(20))),
            Err(AcquireError::TimedOut),
            "the same thread twice"
        );
        // ...unless it marked itself as the holder.
        {
            let _scope = lock.scope();
            assert_eq!(lock.acquire(None), Err(AcquireError::Reentrant), "in scope");
        }
        let other = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || lock.acquire(Some(Duration::from_millis(20))))
        };
        assert_eq!(other.join().expect("join"), Err(AcquireError::TimedOut));
        lock.release();
        // Nobody is queued any more: a new thread takes the free lock at once.
        let third = {
            let lock = Arc::clone(&lock);
            std::thread::spawn(move || lock.acquire(Some(Duration::ZERO)))
        };
        assert_eq!(third.join().expect("join"), Ok(()));
    }
}
