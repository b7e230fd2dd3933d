//! Limits and security: collection members larger than a segment, file modes, and
//! access refused to another user. (Key, value and transaction size limits are tested in
//! `basic.rs`; a killed lock holder in `crash.rs`.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use ziggydb::{Db, Error};

use crate::util::{self, TestResult};

#[test]
fn collection_members_may_be_larger_than_a_segment() -> TestResult {
    let tmp = util::tempdir();
    // Inner tree nodes carry members as bounds, so one insert rewrites about the tree's
    // height times the member size: 6 KiB members need more than 64 KiB segments.
    let db = Db::options()
        .segment_size(1 << 20)
        .open(util::db_path(&tmp))?;
    let member = |i: u8, len: usize| vec![b'a' + i % 26; len];
    // Members bigger than a tree node (4 KiB), many of them (splits copy them into inner
    // nodes as bounds): stored and read back.
    for i in 0..12u8 {
        db.transaction(|tx| tx.set_of(b"s").add(&[member(i, 6 << 10)]))?;
        db.transaction(|tx| tx.hash(b"h").set(&[(member(i, 6 << 10), b"v".to_vec())]))?;
        db.transaction(|tx| tx.list(b"l").push_back(&[member(i, 6 << 10)]))?;
    }
    assert_eq!(db.set_of(b"s").members()?.len(), 12);
    assert!(db.set_of(b"s").contains(&member(5, 6 << 10))?);
    assert_eq!(db.hash(b"h").len()?, 12);
    assert_eq!(db.list(b"l").get(11)?, Some(member(11, 6 << 10)));
    // A member larger than a segment is stored too: its transaction goes to a large
    // segment (format-spec.md §3.3).
    let big = member(1, 2 << 20);
    db.transaction(|tx| tx.set_of(b"s").add(&[&big]).map(drop))?;
    db.transaction(|tx| tx.hash(b"h").set(&[(&big, b"v")]).map(drop))?;
    db.transaction(|tx| tx.list(b"l").push_back(&[&big]).map(drop))?;
    assert!(db.set_of(b"s").contains(&big)?);
    assert_eq!(db.hash(b"h").len()?, 13);
    assert_eq!(db.list(b"l").len()?, 13);
    assert_eq!(db.list(b"l").get(12)?, Some(big));
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    Ok(())
}

/// Runs `ziggy -d DIR ARGS` under `umask`, asserting success.
fn ziggy_with_umask(umask: &str, dir: &Path, args: &[&str]) -> TestResult {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .output()?;
    assert!(
        out.status.success(),
        "ziggy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn created_files_have_the_database_mode_whatever_the_umask() -> TestResult {
    for (umask, forbidden) in [("000", 0o002), ("077", 0o077)] {
        let tmp = util::tempdir();
        let dir = tmp.path().join("db");
        ziggy_with_umask(umask, &dir, &["SET", "k", "v"])?;
        ziggy_with_umask(umask, &dir, &["COMPACT"])?;
        let mut seen = 0;
        let mode = std::fs::metadata(&dir)?.permissions().mode() & 0o777;
        assert_eq!(mode & forbidden, 0, "umask {umask}: mode {mode:o}");
        let mode = std::fs::metadata(&dir)?.permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "umask {umask}: the database directory");
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let mode = e.metadata()?.permissions().mode() & 0o7777;
            assert_eq!(mode, 0o600, "umask {umask}: {:?}", e.file_name());
            seen += 1;
        }
        assert!(seen >= 5, "umask {umask}: only {seen} files");
    }
    Ok(())
}

#[test]
fn a_directory_of_another_user_gives_a_clear_error() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    Db::open(&dir)?.set(b"k", "v")?;
    if !util::is_root()? {
        // Our own directory, made unreadable.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000))?;
        let r = Db::open(&dir).map(drop);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        match r {
            Err(e @ Error::PermissionDenied { .. }) => {
                assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
            }
            other => panic!("an unreadable directory gave {other:?}"),
        }
        return Ok(());
    }
    // As root every permission check passes: run the CLI as `nobody` on root's 0700 database
    // (setpriv is in util-linux; without it the case is not tested here).
    if util::find_program("setpriv").is_none() {
        println!("skipped: running as root and setpriv is missing");
        return Ok(());
    }
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .args(["GET", "k"])
        .env_remove("ZIGGY_DIR")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "nobody read root's database");
    assert!(
        err.contains("permission denied on") && err.contains(&dir.display().to_string()),
        "stderr: {err}"
    );
    Ok(())
}
