//! The library API as a C ABI and language bindings see it: stable error codes, errors that
//! say what happened, handles and transactions across threads, processes and `fork()`.

use std::collections::BTreeSet;
use std::process::Command;

use ziggydb::{Db, Error, ErrorCode};

use crate::util::{self, child_role, report, Child, TestResult};

/// The codes are a contract: these never change. A new error gets a new code (and a row in
/// README's table, which `the_readme_table_lists_every_error_code` checks).
#[test]
fn error_codes_are_stable_and_unique() {
    let pinned = [
        (ErrorCode::Io, 10, "IO"),
        (ErrorCode::DiskFull, 12, "DISK_FULL"),
        (ErrorCode::OutOfMemory, 15, "OUT_OF_MEMORY"),
        (ErrorCode::CorruptIndex, 23, "CORRUPT_INDEX"),
        (ErrorCode::CorruptShm, 25, "CORRUPT_SHM"),
        (ErrorCode::CorruptCollection, 26, "CORRUPT_COLLECTION"),
        (ErrorCode::CorruptValue, 27, "CORRUPT_VALUE"),
        (ErrorCode::OptionsMismatch, 46, "OPTIONS_MISMATCH"),
        (ErrorCode::Busy, 60, "BUSY"),
        (ErrorCode::ReadOnly, 62, "READ_ONLY"),
        (ErrorCode::Forked, 63, "FORKED"),
        (ErrorCode::TxnActive, 64, "TXN_ACTIVE"),
        (ErrorCode::InvalidArgument, 80, "INVALID_ARGUMENT"),
        (ErrorCode::WrongType, 100, "WRONG_TYPE"),
        (ErrorCode::IndexOutOfRange, 106, "INDEX_OUT_OF_RANGE"),
    ];
    for (kind, code, name) in pinned {
        assert_eq!((kind.code(), kind.name()), (code, name));
        assert_eq!(ErrorCode::from_code(code), Some(kind));
    }
    let codes: BTreeSet<i32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
    let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(codes.len(), ErrorCode::ALL.len(), "codes are unique");
    assert_eq!(names.len(), ErrorCode::ALL.len(), "names are unique");
    assert!(
        !codes.contains(&0) && !codes.contains(&1),
        "0 and 1 are the C ABI's OK and NOTFOUND"
    );
    for c in ErrorCode::ALL {
        assert!(
            c.name()
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{c:?}"
        );
    }
    // Errors carry their kind.
    assert_eq!(Error::Overflow.code(), 103);
    assert_eq!(Error::NotAnInteger.name(), "NOT_AN_INTEGER");
    let wrong = Error::WrongType {
        expected: ziggydb::ValueType::String,
        actual: ziggydb::ValueType::List,
    };
    assert_eq!(wrong.kind(), ErrorCode::WrongType);
}

/// README's table of error codes is the one the bindings follow: it must list every code
/// with its name, and nothing else.
#[test]
fn the_readme_table_lists_every_error_code() -> TestResult {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let section = readme
        .split("\n### Errors\n")
        .nth(1)
        .ok_or("README has an Errors section")?;
    let section = section.split("\n#").next().unwrap_or_default();
    let mut rows = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let Ok(code) = cells[1].parse::<i32>() {
            rows.insert((code, cells[2].trim_matches('`').to_owned()));
        }
    }
    let want: BTreeSet<(i32, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.code(), c.name().to_owned()))
        .collect();
    assert_eq!(rows, want);
    Ok(())
}

/// A damaged `ziggy.shm` is reported as the shared state, not as the index: here it has the
/// wrong size while a process uses it, and a second process's open says so.
#[test]
fn a_damaged_shared_state_is_corrupt_shm() -> TestResult {
    let dir = util::tempdir();
    let db = Db::open(dir.path())?;
    db.set(b"k", 1i64)?;
    // Growing never takes pages from under this process's mapping.
    let shm = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("ziggy.shm"))?;
    shm.set_len(shm.metadata()?.len() + 4096)?;
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir.path())
        .args(["get", "k"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("shared state") && err.contains("ziggy.shm") && !err.contains("index file"),
        "{err}"
    );
    Ok(())
}

/// A write transaction belongs to no thread: begun on one, it can be moved to another and
/// committed there, and the first thread may meanwhile wait for the writer lock like any
/// other (it used to be refused at once as a "second transaction on this thread").
#[test]
fn a_transaction_moves_between_threads() -> TestResult {
    let dir = util::tempdir();
    let db = Db::options()
        .lock_timeout(Some(std::time::Duration::from_secs(60)))
        .active_expiry(None)
        .open(dir.path())?;
    let mut tx = db.begin_write()?;
    tx.set(b"k", 1i64)?;
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let other = std::thread::spawn(move || -> ziggydb::Result<()> {
        tx.incr_by(b"k", 1)?;
        started_tx.send(()).ok();
        // Long enough that the first thread is usually waiting for the lock by now; the
        // test holds either way.
        std::thread::sleep(std::time::Duration::from_millis(50));
        tx.commit()
    });
    started_rx.recv()?;
    // This thread began the transaction now committed elsewhere: it waits, then writes.
    let mut mine = db.begin_write()?;
    assert_eq!(
        mine.incr_by(b"k", 10)?,
        12,
        "sees the moved transaction's commit"
    );
    mine.commit()?;
    other.join().map_err(|_| "the other thread panicked")??;
    assert_eq!(db.get_value(b"k")?, Some(ziggydb::Value::Int(12)));
    Ok(())
}

/// Inside `transaction`'s closure a second write on the same database would wait for the
/// lock the closure's transaction holds: it is `TxnActive` at once, even with no timeout.
#[test]
fn a_write_inside_a_transaction_closure_is_txn_active_not_a_deadlock() -> TestResult {
    let dir = util::tempdir();
    let db = Db::options()
        .lock_timeout(None)
        .active_expiry(None)
        .open(dir.path())?;
    let inner = db.transaction(|tx| {
        tx.set(b"a", 1i64)?;
        Ok((
            db.begin_write().map(drop),
            db.set(b"b", 2i64),
            db.compact().map(drop),
        ))
    })?;
    for r in [inner.0, inner.1, inner.2] {
        assert!(matches!(r, Err(Error::TxnActive { .. })), "{r:?}");
    }
    // The closure's own transaction committed, and the next one proceeds.
    assert_eq!(db.get_value(b"a")?, Some(ziggydb::Value::Int(1)));
    db.set(b"b", 2i64)?;
    // Another database's transaction inside the closure is fine.
    let dir2 = util::tempdir();
    let db2 = Db::open(dir2.path())?;
    db.transaction(|_| db2.set(b"x", 1i64))?;
    Ok(())
}

/// `update` returns the closure's own error type, rolling the transaction back.
#[test]
fn update_returns_the_callers_error_type() -> TestResult {
    #[derive(Debug)]
    enum AppError {
        Db(Error),
        Refused(u32),
    }
    impl From<Error> for AppError {
        fn from(e: Error) -> Self {
            AppError::Db(e)
        }
    }
    let dir = util::tempdir();
    let db = Db::open(dir.path())?;
    let r: Result<(), AppError> = db.update(|tx| {
        tx.set(b"k", 1i64)?;
        Err(AppError::Refused(7))
    });
    assert!(matches!(r, Err(AppError::Refused(7))), "{r:?}");
    assert_eq!(db.get_value(b"k")?, None, "rolled back");
    let r: Result<i64, AppError> = db.update(|tx| {
        tx.set(b"k", "text")?;
        Ok(tx.incr_by(b"k", 1)?)
    });
    assert!(matches!(r, Err(AppError::Db(Error::NotAnInteger))), "{r:?}");
    let n: Result<i64, AppError> = db.update(|tx| Ok(tx.incr_by(b"n", 5)?));
    assert_eq!(n.map_err(|e| format!("{e:?}"))?, 5);
    Ok(())
}

/// Forks this process, runs `child` in the child and returns its exit code (the child exits
/// with what `child` returns, at once, running no destructors of the parent's state).
fn in_forked_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: fork() has no memory-safety preconditions; the child runs only `child` (the
    // test keeps no other threads that hold locks `child` needs) and then _exit()s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(99);
        // SAFETY: _exit ends the child at once; no state is used after it.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer for the call.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status}");
    libc::WEXITSTATUS(status)
}

/// A handle used in a forked child is `Forked` for reads and writes, never the parent's
/// locks and process slot; dropping it there releases nothing of the parent's (not even
/// the writer lock of a transaction the parent holds); a new open in the child attaches
/// afresh and works; the parent goes on as before.
///
/// The forks happen in a child process of their own (one thread of test code): a fork of
/// the test runner, whose other threads may hold locks, could leave the forked child stuck
/// on one of them.
#[test]
fn a_handle_used_after_fork_is_forked_and_a_new_open_works() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut child = Child::spawn("api::child_fork", "api-fork", &dir, &[]);
    child.finish(std::time::Duration::from_secs(120))?;
    Ok(())
}

/// The body of `a_handle_used_after_fork_is_forked_and_a_new_open_works`.
#[test]
fn child_fork() {
    let Some(dir) = child_role("api-fork") else {
        return;
    };
    match fork_checks(&dir) {
        Ok(()) => report("PASS"),
        Err(e) => report(format!("FAIL {e}")),
    }
}

fn fork_checks(dir: &std::path::Path) -> TestResult {
    // No background threads: the child of a fork has none.
    let opts = || {
        Db::options()
            .active_expiry(None)
            .auto_compact(false, 0.5, 0)
            .lock_timeout(Some(std::time::Duration::from_millis(300)))
    };
    let db = opts().open(dir)?;
    db.set(b"k", 1i64)?;
    let mut tx = Some(db.begin_write()?);
    tx.as_mut().ok_or("tx")?.set(b"held", 1i64)?;
    let path = dir.to_path_buf();
    let held = &mut tx;
    let code = in_forked_child(move || {
        let Some(mut tx) = held.take() else {
            return 98;
        };
        fn forked<T>(r: &ziggydb::Result<T>) -> bool {
            matches!(r, Err(Error::Forked { .. }))
        }
        if !forked(&db.set(b"k", 2i64)) {
            return 1;
        }
        if !forked(&db.get_value(b"k")) || !forked(&db.exists(b"k")) {
            return 2;
        }
        if !forked(&tx.set(b"x", 1i64).and_then(|()| tx.get(b"k"))) {
            return 3;
        }
        // Dropping the parent's transaction here must not release the parent's lock.
        drop(tx);
        let Ok(fresh) = opts().open(&path) else {
            return 4;
        };
        if !matches!(fresh.set(b"k", 3i64), Err(Error::Busy { .. })) {
            return 5; // the parent's writer lock was lost
        }
        if fresh.get_value(b"k").ok() != Some(Some(ziggydb::Value::Int(1))) {
            return 6;
        }
        drop(db);
        0
    });
    assert_eq!(code, 0, "the child's check that failed");
    tx.take().ok_or("tx")?.commit()?;
    // The parent's handle and locks are intact, and another process can write.
    let db = opts().open(dir)?;
    assert_eq!(db.get_value(b"held")?, Some(ziggydb::Value::Int(1)));
    db.set(b"k", 4i64)?;
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(["incrby", "k", "1"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.get_value(b"k")?, Some(ziggydb::Value::Int(5)));
    // A child that opens the database itself attaches as a process of its own.
    let path = dir.to_path_buf();
    let code = in_forked_child(move || match opts().open(&path) {
        Ok(db) => i32::from(db.incr_by(b"k", 10).is_err()),
        Err(_) => 7,
    });
    assert_eq!(code, 0);
    assert_eq!(db.get_value(b"k")?, Some(ziggydb::Value::Int(15)));
    assert!(db.check()?.is_ok());
    Ok(())
}

/// A second open of a directory this process has open, with other options, is an error
/// naming the option: it used to return the first handle, whose options then applied
/// silently (a 1 ms lock timeout asked for waited the first handle's 10 s).
#[test]
fn a_second_open_with_other_options_is_options_mismatch() -> TestResult {
    let dir = util::tempdir();
    let db = Db::options().active_expiry(None).open(dir.path())?;
    let again = |o: ziggydb::OpenOptions| match o.open(dir.path()) {
        Err(Error::OptionsMismatch { option, .. }) => Ok(Some(option)),
        Err(e) => Err(e),
        Ok(_) => Ok(None),
    };
    let quick = Some(std::time::Duration::from_millis(1));
    let batched = ziggydb::Durability::Batched {
        max_delay: std::time::Duration::from_millis(5),
    };
    assert_eq!(
        again(Db::options().active_expiry(None).lock_timeout(quick))?,
        Some("lock_timeout")
    );
    assert_eq!(
        again(Db::options().active_expiry(None).durability(batched))?,
        Some("durability")
    );
    assert_eq!(
        again(Db::options().active_expiry(None).segment_size(1 << 20))?,
        Some("segment_size")
    );
    assert_eq!(again(Db::options())?, Some("active_expiry"));
    // The same options share the open handle.
    assert_eq!(again(Db::options().active_expiry(None))?, None);
    db.set(b"k", 1i64)?;
    drop(db);
    // Once every handle is closed, any options open it.
    assert_eq!(again(Db::options().lock_timeout(quick))?, None);
    Ok(())
}
