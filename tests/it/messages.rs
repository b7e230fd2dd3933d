//! Messages that say what happened, once: an OS error printed once, `CHECK` one problem per
//! line, a busy lock named for what holds it, `INFO` counting every attached process, and no
//! blank line after a one-shot command's error.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ziggydb::{Db, Error};

use crate::util::{self, TestResult};

fn ziggy(dir: &Path, args: &[&str]) -> TestResult<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::null())
        .output()?)
}

#[test]
fn an_os_error_is_printed_once() -> TestResult {
    let tmp = util::tempdir();
    // A path through a symbolic link to itself: ELOOP, an OS error with no error of its own.
    std::os::unix::fs::symlink("loop", tmp.path().join("loop"))?;
    let dir = tmp.path().join("loop").join("db");
    // The library: the OS error is the cause, not repeated in the message.
    let err = Db::open(&dir)
        .err()
        .ok_or("opened a path through a symbolic link loop")?;
    let Error::Io { source, .. } = &err else {
        return Err(format!("expected an I/O error, got {err:?}").into());
    };
    let os = source.to_string();
    assert!(os.contains("os error"), "{os}");
    assert!(
        !err.to_string().contains(&os),
        "message repeats its cause: {err}"
    );
    assert!(err.to_string().contains("loop"), "{err}");
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert_eq!(cause.as_deref(), Some(os.as_str()));
    // The CLI prints the chain: each part once.
    let out = ziggy(&dir, &["GET", "a"])?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
    assert!(stderr.contains(&os), "{stderr}");
    Ok(())
}

#[test]
fn check_prints_one_problem_per_line() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    // Attached throughout, so the other process's open adopts the state as it is.
    let db = Db::open(&dir)?;
    let keys: Vec<String> = (0..5).map(|i| format!("key{i}")).collect();
    for k in &keys {
        db.set(k.as_bytes(), "some value")?;
    }
    // Found before any is damaged: the walk stops at the first damaged record.
    let found = keys
        .iter()
        .map(|k| util::find_put(&dir, k.as_bytes()).ok_or("record not found"))
        .collect::<Result<Vec<_>, _>>()?;
    for (file, rec) in found {
        util::flip_byte(&file, rec.value_offset as u64);
    }
    let problems = db.check()?.problems;
    assert!(problems.len() >= keys.len(), "{problems:?}");

    let out = ziggy(&dir, &["CHECK"])?;
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout)?;
    let lines: Vec<&str> = text.lines().collect();
    let n = problems.len();
    assert_eq!(lines[0], format!("ERR check found {n} problems:"), "{text}");
    assert_eq!(&lines[1..], &problems[..], "{text}");
    Ok(())
}

/// Takes an exclusive `flock` on `path` (created if missing) and keeps it while the file
/// lives.
fn hold_flock(path: &Path) -> TestResult<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    // SAFETY: a valid descriptor owned by `f`.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(f)
}

#[test]
fn a_busy_lock_is_named_for_what_holds_it() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    Db::open(&dir)?.set(b"a", "1")?;

    // ziggy.lock is held while a process opens the database as the first to attach, and
    // ziggy.shm with it (a warm attach takes ziggy.shm alone, and fails only then).
    let held = hold_flock(&dir.join("ziggy.lock"))?;
    let held_shm = hold_flock(&dir.join("ziggy.shm"))?;
    let err = Db::options()
        .lock_timeout(Some(Duration::from_millis(100)))
        .open(&dir)
        .err()
        .ok_or("opened while ziggy.lock was held")?;
    assert!(
        matches!(
            err,
            Error::Busy {
                lock: "ziggy.lock",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("another process was opening or repairing the database (ziggy.lock)"),
        "{text}"
    );
    assert!(!text.contains("writer"), "{text}");
    let out = ziggy(&dir, &["--lock-timeout-ms", "100", "GET", "a"])?;
    let stderr = String::from_utf8(out.stderr)?;
    assert!(
        stderr.contains("opening or repairing the database"),
        "{stderr}"
    );
    assert!(!stderr.contains("writer"), "{stderr}");
    drop(held_shm);
    drop(held);

    // writer.lock: another writer.
    let db = Db::open(&dir)?;
    let tx = db.begin_write()?;
    let out = ziggy(&dir, &["--lock-timeout-ms", "100", "SET", "a", "2"])?;
    let stdout = String::from_utf8(out.stdout)?;
    assert!(
        stdout.contains("another writer held the lock (writer.lock)"),
        "{stdout}"
    );
    tx.rollback();
    Ok(())
}

#[test]
fn a_one_shot_error_reply_is_one_line_with_no_blank_line_after_it() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let out = ziggy(&dir, &["INCR"])?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "ERR wrong number of arguments for 'incr' command\n"
    );
    let out = ziggy(&dir, &["-r", "2", "SET", "k", "v", "NX", "XX"])?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "ERR syntax error\n".repeat(2)
    );
    // In a script, redis-cli's empty line after an error stays, as scripts written for
    // redis-cli (and the differential test against it) expect.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(b"INCR\nPING\n")?;
    let out = child.wait_with_output()?;
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "ERR wrong number of arguments for 'incr' command\n\nPONG\n"
    );
    Ok(())
}

/// An idle `ziggy` shell attached to `dir`, answering on a pipe.
fn attached_shell(dir: &Path) -> TestResult<(Child, std::process::ChildStdin)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("stdin")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("stdout")?).lines();
    writeln!(stdin, "PING")?;
    // Attached once it answers.
    assert_eq!(lines.next().transpose()?.as_deref(), Some("PONG"));
    Ok((child, stdin))
}

fn info_field(dir: &Path, name: &str) -> TestResult<Option<String>> {
    let out = ziggy(dir, &["INFO", "processes"])?;
    let text = String::from_utf8(out.stdout)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim_end().to_owned()))
}

/// The lines of `/proc/locks` about `ziggy.shm`, with each holder's command line.
fn shm_locks(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(md) = std::fs::metadata(dir.join("ziggy.shm")) else {
        return String::new();
    };
    let ino = format!(":{} ", md.ino());
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks
        .lines()
        .filter(|l| l.contains(&ino))
        .map(|l| {
            let pid = l.split_whitespace().nth(4).unwrap_or("");
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!(
                "{l}  {}\n",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            )
        })
        .collect()
}

#[test]
fn info_counts_every_attached_process_beyond_the_process_table() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    Db::open(&dir)?.set(b"a", "1")?;
    // The shared process table has 112 slots; attach more processes than that.
    const SHELLS: usize = 116;
    let mut shells = Vec::new();
    let result = (|| -> TestResult {
        for _ in 0..SHELLS {
            shells.push(attached_shell(&dir)?);
        }
        // The shells and the INFO process itself.
        let want = (SHELLS + 1).to_string();
        assert_eq!(
            info_field(&dir, "attached_processes")?.as_deref(),
            Some(want.as_str()),
            "{}",
            shm_locks(&dir)
        );
        assert_eq!(
            info_field(&dir, "attached_processes_listed")?.as_deref(),
            Some("112")
        );
        let metrics = Db::open(&dir)?.metrics();
        assert_eq!(metrics.processes, SHELLS as u64 + 1, "{}", shm_locks(&dir));
        Ok(())
    })();
    for (mut child, stdin) in shells {
        drop(stdin);
        child.wait()?;
    }
    result?;
    assert_eq!(
        info_field(&dir, "attached_processes")?.as_deref(),
        Some("1")
    );
    Ok(())
}
