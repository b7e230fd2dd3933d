//! The command layer's `Session` across processes: a `BEGIN` held past its policy's limit
//! gives the cross-process writer lock up, so a writer in another process (the `ziggy`
//! binary, waiting for the lock) commits.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ziggydb::commands::{Clock, Policy, Reply, Session};
use ziggydb::{Db, Value};

use crate::util::{self, TestResult};

/// A clock that moves only when told to.
struct FakeClock(AtomicU64);

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn an_overdue_begin_lets_a_writer_in_another_process_commit() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    let start = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let clock = Arc::new(FakeClock(AtomicU64::new(u64::try_from(start)?)));
    let mut session = Session::new(
        &db,
        Policy {
            max_begin_hold: Some(Duration::from_secs(1)),
            ..Policy::trusted()
        },
    );
    session.set_clock(clock.clone());
    assert_eq!(session.execute(&[b"BEGIN"]), Reply::ok());
    assert_eq!(session.execute(&[b"SET", b"a", b"1"]), Reply::ok());

    // A writer in another process waits for the lock the BEGIN holds.
    let mut writer = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .args(["--lock-timeout-ms", "600000", "SET", "b", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        writer.try_wait()?.is_none(),
        "the writer committed while the BEGIN held the lock"
    );

    // Past the limit, the caller's timer rolls the transaction back.
    clock.0.fetch_add(1_001, Ordering::SeqCst);
    assert!(session.rollback_if_overdue());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = writer.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = writer.kill();
            return Err("the writer still waits for the lock after the rollback".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = writer.wait_with_output()?;
    assert!(
        status.success(),
        "{status}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.get_value(b"b")?, Some(Value::Bytes(b"2".to_vec())));
    assert_eq!(db.get_value(b"a")?, None);
    // The session's commands fail until it ends the transaction.
    assert!(session.execute(&[b"GET", b"a"]).is_error());
    assert_eq!(session.execute(&[b"ROLLBACK"]), Reply::ok());
    assert_eq!(session.execute(&[b"GET", b"b"]), Reply::bulk("2"));
    Ok(())
}
