//! Progress of long operations: [`with_progress`] runs a closure with a callback that
//! [`Db::import`](crate::Db::import), [`Db::export`](crate::Db::export),
//! [`Db::backup`](crate::Db::backup), [`repair`](crate::repair),
//! [`Db::compact`](crate::Db::compact), [`Db::check`](crate::Db::check) and a
//! [`WriteTxn::clear`](crate::WriteTxn::clear) (`FLUSHDB`) call as they go.
//!
//! The callback is scoped to the closure and to the calling thread rather than passed to each
//! operation: one hook then reaches the operations however they are called, the commands
//! (`IMPORT`, `EXPORT`, `BACKUP`, `COMPACT`, `CHECK`, `FLUSHDB` through
//! [`Session`](crate::commands::Session) or `commands::execute_in`) and the C ABI included,
//! without a `_with_progress` twin of each, and a database opened without one costs nothing.
//! Work done on other threads (the background compactor) reports nothing.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Which operation a [`Progress`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Task {
    /// [`Db::import`](crate::Db::import): bytes of the input, read twice (a check, then the
    /// writes), so the total is twice its length.
    Import,
    /// [`Db::export`](crate::Db::export): keys written.
    Export,
    /// [`Db::backup`](crate::Db::backup): bytes of segment files copied.
    Backup,
    /// [`repair`](crate::repair): bytes of segment files read (the rebuild and the check
    /// that follow are not counted: the last report comes when they are done).
    Repair,
    /// [`Db::compact`](crate::Db::compact): bytes of the compacted segments' records read.
    Compact,
    /// [`Db::check`](crate::Db::check): bytes of records checked in the segments.
    Check,
    /// [`WriteTxn::clear`](crate::WriteTxn::clear) (`FLUSHDB`): keys deleted (the commit
    /// that follows is not counted).
    Flush,
}

impl Task {
    /// The operation's name as its command spells it (`IMPORT`, `FLUSHDB`...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Task::Import => "IMPORT",
            Task::Export => "EXPORT",
            Task::Backup => "BACKUP",
            Task::Repair => "REPAIR",
            Task::Compact => "COMPACT",
            Task::Check => "CHECK",
            Task::Flush => "FLUSHDB",
        }
    }
}

/// What [`Progress::done`] and [`Progress::total`] count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// Bytes (of an input, of segment files or of records).
    Bytes,
    /// Keys.
    Keys,
}

/// How far an operation has come: `done` of `total`. For one operation the callback sees
/// `done` start at 0, never decrease and never pass `total`, and the last call has
/// `done == total` (once the operation succeeded; one that fails stops wherever it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The operation.
    pub task: Task,
    /// What `done` and `total` count.
    pub unit: Unit,
    /// How much is done.
    pub done: u64,
    /// How much there is to do in all.
    pub total: u64,
}

type Report = Rc<dyn Fn(Progress)>;

thread_local! {
    /// The callback of the innermost [`with_progress`] on this thread.
    static REPORT: RefCell<Option<Report>> = const { RefCell::new(None) };
    /// The operation being metered on this thread, if any.
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
    /// Whether `METER` holds one: the test [`advance`] makes on every record.
    static METERING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, calling `report` with the [`Progress`] of every long operation `f` runs on this
/// thread (see the module documentation for which). Calls are spaced out: about a thousand
/// for an operation, however large, plus the first and the last.
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = ziggydb::Db::open(dir.path().join("db"))?;
/// use std::sync::{Arc, Mutex};
/// use ziggydb::progress::{with_progress, Task};
/// for i in 0..100 {
///     db.set(format!("k{i}"), i)?;
/// }
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = Arc::clone(&seen);
/// let mut out = Vec::new();
/// with_progress(
///     move |p| log.lock().unwrap().push((p.task, p.done, p.total)),
///     || db.export(ziggydb::ExportFormat::JsonLines, &mut out),
/// )?;
/// let seen = seen.lock().unwrap();
/// assert_eq!(seen.first(), Some(&(Task::Export, 0, 100)));
/// assert_eq!(seen.last(), Some(&(Task::Export, 100, 100)));
/// # Ok::<(), ziggydb::Error>(())
/// ```
pub fn with_progress<T>(report: impl Fn(Progress) + 'static, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Report>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            REPORT.with(|r| *r.borrow_mut() = previous);
        }
    }
    let previous = REPORT.with(|r| r.borrow_mut().replace(Rc::new(report)));
    let _restore = Restore(previous);
    f()
}

/// An operation being metered: reports when `done` reaches `next`.
struct Meter {
    report: Report,
    task: Task,
    unit: Unit,
    done: u64,
    total: u64,
    next: u64,
    step: u64,
}

impl Meter {
    fn progress(&self) -> Progress {
        Progress {
            task: self.task,
            unit: self.unit,
            done: self.done.min(self.total),
            total: self.total,
        }
    }
}

/// Runs `f` as operation `task` of `total` `unit`s, its steps counted by [`advance`]: the
/// callback of [`with_progress`], if any, hears of it at the start, as it goes and, if `f`
/// succeeds, at its end (`done == total`). Inside another metered operation `f` is not
/// metered (its steps would be in the outer one's units).
pub(crate) fn task<T, E>(
    task: Task,
    unit: Unit,
    total: u64,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let nested = METERING.with(Cell::get);
    let report = if nested {
        None
    } else {
        REPORT.with(|r| r.borrow().clone())
    };
    let Some(report) = report else {
        return f();
    };
    let meter = Meter {
        report: Rc::clone(&report),
        task,
        unit,
        done: 0,
        total,
        next: 0,
        step: (total / 1000).max(1),
    };
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            METER.with(|m| m.borrow_mut().take());
            METERING.with(|m| m.set(false));
        }
    }
    let first = meter.progress();
    METER.with(|m| *m.borrow_mut() = Some(meter));
    METERING.with(|m| m.set(true));
    let end = End;
    report(first);
    let result = f();
    drop(end);
    if result.is_ok() {
        report(Progress {
            task,
            unit,
            done: total,
            total,
        });
    }
    result
}

/// Counts `n` more units of the operation being metered on this thread (nothing if none).
pub(crate) fn advance(n: u64) {
    if !METERING.with(Cell::get) {
        return;
    }
    // The callback runs with nothing borrowed, so it may itself use the database.
    let due = METER.with(|m| {
        let mut m = m.borrow_mut();
        let meter = m.as_mut()?;
        meter.done = meter.done.saturating_add(n);
        // The last report is `task`'s own, at the end.
        if meter.done < meter.next || meter.done >= meter.total {
            return None;
        }
        meter.next = meter.done.saturating_add(meter.step);
        Some((Rc::clone(&meter.report), meter.progress()))
    });
    if let Some((report, progress)) = due {
        report(progress);
    }
}
