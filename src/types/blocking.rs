//! Blocking pops (Redis `BLPOP`, `BRPOP`, `BLMOVE`, `BRPOPLPUSH`, `BLMPOP`, `BZPOPMIN`,
//! `BZPOPMAX`, `BZMPOP`) and waiting for a change of keys, across processes.
//!
//! A waiter sleeps on the wake words of its keys in `ziggy.shm` (format-spec.md §9.6), which
//! every commit that writes a key bumps once it is published: it uses no CPU while it waits
//! and wakes as soon as a commit in any process touches one of its keys. A pop is an ordinary
//! write transaction under the writer lock, so each element goes to exactly one waiter; a
//! waiter that finds its keys empty again (another took the element) goes back to sleep with
//! its deadline. Within a process, waiters are served in the order they started waiting.

use std::time::{Duration, Instant};

use crate::db::txn::WriteTxn;
use crate::db::Db;
pub use crate::engine::wake::CancelToken;
use crate::engine::wake::Waiter;
use crate::error::{Error, Result};

/// How long a blocking call waits, and what may end it sooner.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ziggydb::{CancelToken, Wait};
/// let token = CancelToken::new();
/// let wait = Wait::timeout(Duration::from_millis(10)).cancel_on(&token);
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = ziggydb::Db::open(dir.path().join("db"))?;
/// assert_eq!(db.list(b"jobs").pop_front_blocking(wait)?, None); // nothing came in 10 ms
/// # Ok::<(), ziggydb::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Wait {
    timeout: Option<Duration>,
    cancel: Option<CancelToken>,
}

impl Wait {
    /// No timeout: wait until the call succeeds (or is cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"q").push_back(&["x"]))?;
    /// assert_eq!(db.list(b"q").pop_front_blocking(ziggydb::Wait::forever())?, Some(b"x".to_vec()));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn forever() -> Self {
        Self::default()
    }

    /// Wait at most `timeout` (zero: look once and do not wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let wait = ziggydb::Wait::timeout(Duration::from_millis(250));
    /// assert_eq!(wait.timeout_duration(), Some(Duration::from_millis(250)));
    /// ```
    pub fn timeout(timeout: Duration) -> Self {
        Wait {
            timeout: Some(timeout),
            cancel: None,
        }
    }

    /// Redis's timeout argument: seconds, fractions allowed, 0 = forever.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a negative, infinite or NaN number of seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ziggydb::Wait;
    /// assert_eq!(Wait::from_secs_f64(0.5)?.timeout_duration(), Some(Duration::from_millis(500)));
    /// assert_eq!(Wait::from_secs_f64(0.0)?.timeout_duration(), None); // forever
    /// assert!(Wait::from_secs_f64(-1.0).is_err());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn from_secs_f64(secs: f64) -> Result<Self> {
        if secs.is_nan() || secs < 0.0 {
            return Err(Error::InvalidArgument(format!(
                "timeout is negative or not a number: {secs}"
            )));
        }
        if secs == 0.0 {
            return Ok(Self::forever());
        }
        Duration::try_from_secs_f64(secs)
            .map(Self::timeout)
            .map_err(|_| Error::InvalidArgument(format!("timeout is out of range: {secs}")))
    }

    /// Also end the wait when `token` is cancelled; a cancelled call returns as one whose
    /// timeout passed (`Ok(None)`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::{CancelToken, Wait};
    /// let token = CancelToken::new();
    /// let canceller = token.clone();
    /// let t = std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(20));
    ///     canceller.cancel();
    /// });
    /// let got = db.list(b"never").pop_front_blocking(Wait::forever().cancel_on(&token))?;
    /// assert_eq!(got, None); // cancelled
    /// t.join().unwrap();
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn cancel_on(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// The timeout, `None` for none.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ziggydb::Wait::forever().timeout_duration(), None);
    /// ```
    pub fn timeout_duration(&self) -> Option<Duration> {
        self.timeout
    }

    /// The token that ends the wait early, if any.
    pub(crate) fn cancel_token(&self) -> Option<&CancelToken> {
        self.cancel.as_ref()
    }
}

impl From<Duration> for Wait {
    fn from(timeout: Duration) -> Self {
        Wait::timeout(timeout)
    }
}

impl From<Option<Duration>> for Wait {
    fn from(timeout: Option<Duration>) -> Self {
        timeout.map_or_else(Wait::forever, Wait::timeout)
    }
}

/// Members with their scores, as a sorted-set pop returns them.
pub type ScoredMembers = Vec<(Vec<u8>, f64)>;

/// An end of a list: Redis's `LEFT` (the head) and `RIGHT` (the tail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// The head (`LEFT`, index 0).
    Front,
    /// The tail (`RIGHT`, index -1).
    Back,
}

/// The longest a waiter sleeps before it looks at its keys again although no wake word
/// moved: covers a committer killed between its publish and its bump of the wake word
/// (format-spec.md §9.6), at the cost of one look a second.
const RECHECK: Duration = Duration::from_secs(1);

/// Runs `step` until it returns something, sleeping on the wake words of `keys` between
/// tries, until `wait`'s deadline or its cancellation. `step` gets the waiter (for
/// [`Waiter::first_in_line`]) and whether this is the first try.
fn block<T>(
    db: &Db,
    keys: &[&[u8]],
    wait: &Wait,
    queued: bool,
    mut step: impl FnMut(&Waiter<'_>, bool) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let shared = &db.inner;
    shared.check_fork()?;
    shared.writable()?;
    let start = Instant::now();
    let deadline = wait.timeout.and_then(|t| start.checked_add(t));
    let cancel = wait.cancel.as_ref();
    let waiter = shared.waiter(keys, queued);
    let recheck_every = crate::os::pause::recheck(RECHECK);
    let mut first = true;
    loop {
        // Read before the check: a commit after the check moves a word, so the sleep below
        // returns at once (format-spec.md §9.6 step W2).
        let seen = waiter.seen(cancel);
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return Ok(None);
        }
        if let Some(found) = step(&waiter, first)? {
            return Ok(Some(found));
        }
        first = false;
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(None);
        }
        let recheck = now + recheck_every;
        let until = deadline.map_or(recheck, |d| d.min(recheck));
        crate::os::pause::point("wait");
        waiter.sleep(&seen, Some(until), cancel);
    }
}

/// Whether `key` holds something to take (a non-empty collection read by `len`) and it is
/// this waiter's turn; a key of another type counts as empty (the type is checked again,
/// under the writer lock, by the pop).
fn worth_trying(waiter: &Waiter<'_>, key: &[u8], len: impl Fn(&[u8]) -> Result<u64>) -> bool {
    waiter.first_in_line(key) && matches!(len(key), Ok(n) if n > 0)
}

/// Runs `f` in a write transaction, committed if it returns something, rolled back if not.
fn try_write<T>(db: &Db, f: impl FnOnce(&mut WriteTxn) -> Result<Option<T>>) -> Result<Option<T>> {
    let mut tx = db.begin_write()?;
    match f(&mut tx) {
        Ok(Some(v)) => {
            tx.commit()?;
            Ok(Some(v))
        }
        Ok(None) => {
            tx.rollback();
            Ok(None)
        }
        Err(e) => {
            tx.rollback();
            Err(e)
        }
    }
}

/// The length of the list at `key` in `tx`; a key of another type is an error only on the
/// first try (as Redis checks the type when the command runs, and serves a blocked client
/// only from a list).
fn len_in(first: bool, len: Result<u64>) -> Result<u64> {
    match len {
        Err(Error::WrongType { .. }) if !first => Ok(0),
        other => other,
    }
}

impl WriteTxn {
    /// Moves an element from one end of the list `src` to an end of the list `dst` (Redis
    /// `LMOVE`; `RPOPLPUSH` is `(End::Back, End::Front)`); `src` may be `dst` (a rotation).
    /// Returns the element, or `None` if `src` is empty.
    ///
    /// # Errors
    /// [`Error::WrongType`] if `src` is not a list, or `dst` is not one while `src` has an
    /// element; write errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::End;
    /// db.transaction(|tx| tx.list(b"todo").push_back(&["a", "b"]))?;
    /// let moved = db.transaction(|tx| tx.list_move(b"todo", b"doing", End::Front, End::Back))?;
    /// assert_eq!(moved, Some(b"a".to_vec()));
    /// assert_eq!(db.list(b"doing").range(0, -1)?, vec![b"a".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn list_move(
        &mut self,
        src: &[u8],
        dst: &[u8],
        from: End,
        to: End,
    ) -> Result<Option<Vec<u8>>> {
        if self.list(src).is_empty()? {
            return Ok(None);
        }
        // The destination's type is checked before anything is taken.
        self.list(dst).len()?;
        let mut source = self.list(src);
        let popped = match from {
            End::Front => source.pop_front(1)?,
            End::Back => source.pop_back(1)?,
        };
        let Some(v) = popped.into_iter().next() else {
            return Ok(None);
        };
        let mut dest = self.list(dst);
        match to {
            End::Front => dest.push_front(&[&v])?,
            End::Back => dest.push_back(&[&v])?,
        };
        Ok(Some(v))
    }
}

impl Db {
    /// Pops up to `count` elements from `end` of the first non-empty list of `keys`, in
    /// their order, waiting for one to be pushed (by any process) if all are empty (Redis
    /// `BLPOP`, `BRPOP`, `BLMPOP`). Returns the index in `keys` of the list popped from and
    /// the elements, or `None` if `wait` ended first. Waiters of this process are served in
    /// the order they started waiting; see [`Db::wait_for_change`] for the wake-up.
    ///
    /// # Errors
    /// [`Error::WrongType`] if a key before the first non-empty list holds another type
    /// when the call starts (later, such a key is passed over, as Redis serves a blocked
    /// client only from a list); [`Error::ReadOnly`]; the errors of a write transaction.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// use ziggydb::{End, Wait};
    /// db.transaction(|tx| tx.list(b"high").push_back(&["urgent"]))?;
    /// let got = db.pop_lists_blocking(&["low", "high"], End::Front, 1, Wait::forever())?;
    /// assert_eq!(got, Some((1, vec![b"urgent".to_vec()])));
    /// let none = db.pop_lists_blocking(&[b"low"], End::Front, 1, Duration::from_millis(5))?;
    /// assert_eq!(none, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_lists_blocking<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        end: End,
        count: u64,
        wait: impl Into<Wait>,
    ) -> Result<Option<(usize, Vec<Vec<u8>>)>> {
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        block(self, &keys, &wait.into(), true, |waiter, first| {
            if !first
                && !keys
                    .iter()
                    .any(|k| worth_trying(waiter, k, |k| self.list(k).len()))
            {
                return Ok(None);
            }
            try_write(self, |tx| {
                for (i, k) in keys.iter().enumerate() {
                    let n = len_in(first, tx.list(k).len())?;
                    if n == 0 || !waiter.first_in_line(k) {
                        continue;
                    }
                    let mut list = tx.list(k);
                    let popped = match end {
                        End::Front => list.pop_front(count.max(1))?,
                        End::Back => list.pop_back(count.max(1))?,
                    };
                    return Ok(Some((i, popped)));
                }
                Ok(None)
            })
        })
    }

    /// [`WriteTxn::list_move`], waiting for an element to be pushed to `src` (by any process)
    /// if it is empty (Redis `BLMOVE`, `BRPOPLPUSH`). `None` if `wait` ended first.
    ///
    /// # Errors
    /// As [`WriteTxn::list_move`] and [`Db::pop_lists_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::{End, Wait};
    /// db.transaction(|tx| tx.list(b"queue").push_back(&["job"]))?;
    /// let job = db.move_list_blocking(b"queue", b"working", End::Front, End::Back, Wait::forever())?;
    /// assert_eq!(job, Some(b"job".to_vec()));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn move_list_blocking(
        &self,
        src: &[u8],
        dst: &[u8],
        from: End,
        to: End,
        wait: impl Into<Wait>,
    ) -> Result<Option<Vec<u8>>> {
        block(self, &[src], &wait.into(), true, |waiter, first| {
            if !first && !worth_trying(waiter, src, |k| self.list(k).len()) {
                return Ok(None);
            }
            try_write(self, |tx| {
                let n = len_in(first, tx.list(src).len())?;
                if n == 0 || !waiter.first_in_line(src) {
                    return Ok(None);
                }
                tx.list_move(src, dst, from, to)
            })
        })
    }

    /// Pops up to `count` members with the lowest scores (highest if `max`) from the first
    /// non-empty sorted set of `keys`, waiting for a member to be added (by any process) if
    /// all are empty (Redis `BZPOPMIN`, `BZPOPMAX`, `BZMPOP`). Returns the index in `keys`
    /// of the sorted set and the members with their scores, best first; `None` if `wait`
    /// ended first.
    ///
    /// # Errors
    /// As [`Db::pop_lists_blocking`], for sorted sets.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Wait;
    /// db.transaction(|tx| tx.zset(b"tasks").add(Default::default(), &[(2.0, "b"), (1.0, "a")]))?;
    /// let got = db.pop_zsets_blocking(&[b"tasks"], false, 1, Wait::forever())?;
    /// assert_eq!(got, Some((0, vec![(b"a".to_vec(), 1.0)])));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_zsets_blocking<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        max: bool,
        count: u64,
        wait: impl Into<Wait>,
    ) -> Result<Option<(usize, ScoredMembers)>> {
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        block(self, &keys, &wait.into(), true, |waiter, first| {
            if !first
                && !keys
                    .iter()
                    .any(|k| worth_trying(waiter, k, |k| self.zset(k).len()))
            {
                return Ok(None);
            }
            try_write(self, |tx| {
                for (i, k) in keys.iter().enumerate() {
                    let n = len_in(first, tx.zset(k).len())?;
                    if n == 0 || !waiter.first_in_line(k) {
                        continue;
                    }
                    return Ok(Some((i, tx.zset(k).pop(count.max(1), max)?)));
                }
                Ok(None)
            })
        })
    }

    /// Waits until a transaction committed by any process after the call began writes or
    /// deletes one of `keys` (an expiry deleting one counts). Returns the index in `keys` of
    /// a key that changed, or `None` if `wait` ended first. For cache invalidation and
    /// reactive readers; it takes no lock.
    ///
    /// The waiter sleeps on the wake words of the keys' buckets in `ziggy.shm`
    /// (format-spec.md §9.6) and uses no CPU meanwhile; when a commit touches a key of one
    /// of its buckets it wakes and compares each key's version (the transaction that last
    /// wrote it), and for a key absent then and now, reads the log written since it last
    /// looked, so a key created and deleted again in between is seen too. Should that log
    /// have been compacted away meanwhile, the key is reported as changed.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only handle (its snapshot never changes); read errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// let writer = db.clone();
    /// let t = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(20));
    ///     writer.set(b"config", "v2")
    /// });
    /// let changed = db.wait_for_change(&["other", "config"], Duration::from_secs(30))?;
    /// assert_eq!(changed, Some(1));
    /// t.join().unwrap()?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn wait_for_change<K: AsRef<[u8]>>(
        &self,
        keys: &[K],
        wait: impl Into<Wait>,
    ) -> Result<Option<usize>> {
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        let wait = wait.into();
        self.inner.writable()?;
        // The mark first, then the versions: a write in between is either in the versions
        // or found in the log after the mark (a false alarm at worst, never a miss).
        let mut mark = self.log_mark();
        let versions = keys
            .iter()
            .map(|k| self.key_version(k))
            .collect::<Result<Vec<_>>>()?;
        block(self, &keys, &wait, false, |_, first| {
            if first {
                return Ok(None);
            }
            let now_mark = self.log_mark();
            for (i, k) in keys.iter().enumerate() {
                let v = self.key_version(k)?;
                if v != versions[i] {
                    return Ok(Some(i));
                }
                if v.is_none() && self.key_written_since(k, false, mark) != Some(false) {
                    return Ok(Some(i));
                }
            }
            mark = now_mark;
            Ok(None)
        })
    }
}
