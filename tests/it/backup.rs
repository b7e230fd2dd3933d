//! `backup`: an online, consistent copy while another process writes; refusals and a
//! failed copy that leaves nothing behind; the `BACKUP` command.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ziggydb::testing::{set_fault_plan, FaultAction, FaultOp, FaultPlan};
use ziggydb::{Db, Error, Value};

use crate::util::{self, child_role, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(120);

fn seq_key(i: i64) -> Vec<u8> {
    format!("item-{i:08}").into_bytes()
}

/// Writes transactions until told to stop: transaction `i` sets `item-i` and sets `last`
/// to `i`, so a consistent copy holds exactly the items up to its `last`.
#[test]
fn child_sequence_writer() {
    let Some(dir) = child_role("sequence-writer") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    report("READY");
    let mut i = 0i64;
    loop {
        i += 1;
        db.transaction(|tx| {
            tx.set(&seq_key(i), vec![b'v'; 200])?;
            tx.set(b"last", i)
        })
        .expect("commit");
        if i == 2000 {
            report("WARM");
        }
        if i % 64 == 0 && std::path::Path::new(&dir).join("stop").exists() {
            break;
        }
    }
    report(format!("LAST {i}"));
    report("PASS");
}

/// Checks that `dir` holds a consistent prefix of the writer's sequence; returns its `last`.
fn assert_prefix(dir: &Path) -> TestResult<i64> {
    let db = Db::open(dir)?;
    let Some(Value::Int(last)) = db.get_value(b"last")? else {
        return Err("the copy has no `last`".into());
    };
    assert!(last > 0);
    assert_eq!(db.len(), last as u64 + 1, "items 1..=last and `last`");
    for i in [1, last / 2, last] {
        assert!(db.get(&seq_key(i))?.is_some(), "item {i} of {last}");
    }
    assert!(db.get(&seq_key(last + 1))?.is_none());
    let report = db.check()?;
    assert!(report.is_ok(), "{:?}", report.problems);
    Ok(last)
}

#[test]
fn a_backup_taken_while_another_process_writes_is_a_consistent_prefix() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    // Small segments, so that the writer rotates during the copies.
    drop(Db::options().segment_size(256 << 10).open(&dir)?);
    let mut writer = Child::spawn(
        "backup::child_sequence_writer",
        "sequence-writer",
        &dir,
        &[],
    );
    writer.expect("READY", LONG);
    writer.expect("WARM", LONG);
    let db = Db::open(&dir)?;
    let mut lasts = Vec::new();
    for round in 0..3 {
        let dest = tmp.path().join(format!("copy-{round}"));
        let Some(Value::Int(before)) = db.get_value(b"last")? else {
            return Err("no `last` yet".into());
        };
        let stats = db.backup(&dest)?;
        assert!(stats.segments >= 1 && stats.bytes > 0);
        // The copy has an index already: it opens without a rebuild.
        assert!(std::fs::read_dir(&dest)?
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("index-"))));
        let last = assert_prefix(&dest)?;
        assert!(
            last >= before,
            "the copy holds every commit made before the backup began: {last} < {before}"
        );
        assert_eq!(stats.keys, last as u64 + 1);
        lasts.push(last);
    }
    std::fs::write(dir.join("stop"), b"")?;
    let line = writer.expect("LAST ", LONG);
    writer.expect("PASS", LONG);
    writer.wait_success(LONG);
    let final_last: i64 = line.trim_start_matches("LAST ").trim().parse()?;
    assert!(
        lasts.windows(2).all(|w| w[0] <= w[1]),
        "later copies hold more: {lasts:?}"
    );
    assert!(lasts.iter().all(|&l| l <= final_last));
    // A copy is a database of its own: writing to it leaves the original alone.
    let copy = Db::open(tmp.path().join("copy-0"))?;
    copy.set(b"only-in-copy", 1i64)?;
    assert_eq!(db.get(b"only-in-copy")?.map(|v| v.to_vec()), None);
    assert_eq!(db.get_value(b"last")?, Some(Value::Int(final_last)));
    Ok(())
}

#[test]
fn child_backup_on_a_full_disk() {
    let Some(dir) = child_role("backup-full-disk") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    for i in 0..500 {
        db.set(&seq_key(i), vec![b'x'; 100]).expect("set");
    }
    let dest = dir.with_file_name("copy");
    set_fault_plan(Some(FaultPlan {
        op: FaultOp::Write,
        nth: 1,
        action: FaultAction::Fail(libc::ENOSPC),
        sticky: true,
    }));
    let r = db.backup(&dest);
    set_fault_plan(None);
    assert!(matches!(r, Err(Error::DiskFull { .. })), "{r:?}");
    assert!(!dest.exists(), "a failed backup leaves no directory behind");
    // Once space is back, the backup works.
    let stats = db.backup(&dest).expect("backup after the fault");
    assert_eq!(stats.keys, 500);
    report("PASS");
}

#[test]
fn a_failed_backup_leaves_nothing_and_a_full_destination_is_refused() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    util::run_child_to_success(
        "backup::child_backup_on_a_full_disk",
        "backup-full-disk",
        &dir,
        LONG,
    );
    let db = Db::open(&dir)?;
    assert_eq!(Db::open(tmp.path().join("copy"))?.len(), 500);
    let busy = tmp.path().join("busy");
    std::fs::create_dir(&busy)?;
    std::fs::write(busy.join("file"), b"mine")?;
    let r = db.backup(&busy);
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    assert_eq!(std::fs::read(busy.join("file"))?, b"mine");
    assert!(matches!(db.backup(&dir), Err(Error::InvalidArgument(_))));
    Ok(())
}

#[test]
fn the_backup_command_copies_the_database() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let dest = tmp.path().join("dest");
    let ziggy = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(&dir)
            .args(args)
            .output()
    };
    assert!(
        ziggy(&["RPUSH".as_ref(), "l".as_ref(), "a".as_ref(), "b".as_ref()])?
            .status
            .success()
    );
    let out = ziggy(&["BACKUP".as_ref(), dest.as_os_str()])?;
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8(out.stdout)?.starts_with("OK 1 keys"));
    let out = ziggy(&["BACKUP".as_ref(), dest.as_os_str()])?;
    assert_eq!(
        out.status.code(),
        Some(1),
        "a second copy into it is refused"
    );
    assert!(String::from_utf8(out.stdout)?.contains("not empty"));
    let copy = Db::open(&dest)?;
    assert_eq!(
        copy.list(b"l").range(0, -1)?,
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    Ok(())
}
