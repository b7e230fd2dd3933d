//! Read-only use (format-spec.md §6.4): `OpenOptions::read_only` and `ziggy --read-only` on a
//! read-only mount and beside read-write processes, a crashed database, and the rule that a
//! read-only open changes nothing in the directory.
//!
//! The read-only mount is a tmpfs mounted, filled and remounted read-only by a shell script
//! run through `unshare --mount` (with `--user --map-root-user` when not root), so it exists
//! only in that private mount namespace; the script leaves what each command printed in a
//! directory outside the mount, for the test to check.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ziggydb::{Db, Error, Value};

use crate::util::{self, TestResult};

const ZIGGY: &str = env!("CARGO_BIN_EXE_ziggy");

/// Runs `ziggy -d DIR ARGS...`.
fn ziggy(dir: &Path, args: &[&str]) -> TestResult<Output> {
    Ok(Command::new(ZIGGY)
        .arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::null())
        .output()?)
}

/// Runs `ziggy`, checks that it succeeded, and returns what it printed.
fn ziggy_ok(dir: &Path, args: &[&str]) -> TestResult<String> {
    let out = ziggy(dir, args)?;
    assert!(
        out.status.success(),
        "ziggy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// One file as [`state`] sees it: name, size, modification and change times (ns), and a
/// checksum of its bytes.
type FileState = (String, u64, i64, i64, u32);

/// Every file of `dir`.
fn state(dir: &Path) -> TestResult<Vec<FileState>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let md = std::fs::symlink_metadata(e.path())?;
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            md.len(),
            md.mtime() * 1_000_000_000 + md.mtime_nsec(),
            md.ctime() * 1_000_000_000 + md.ctime_nsec(),
            util::crc32(&std::fs::read(e.path())?),
        ));
    }
    out.sort();
    Ok(out)
}

/// The command that puts a child in a private mount namespace.
fn namespace_wrapper() -> TestResult<Vec<&'static str>> {
    if util::find_program("unshare").is_none() {
        return Err("the read-only mount test needs `unshare` (util-linux) on the PATH".into());
    }
    Ok(if util::is_root()? {
        vec!["unshare", "--mount", "--propagation", "private"]
    } else {
        vec![
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
        ]
    })
}

/// In the mount namespace: a database made on a tmpfs, which is then remounted read-only;
/// every command after that leaves its output in `$OUT/NAME` and its exit status in
/// `$OUT/NAME.rc`, and the directory's listing (names, sizes, times, checksums) before and
/// after them is in `$OUT/before` and `$OUT/after`.
const MOUNT_SCRIPT: &str = r#"
set -eu
mount -t tmpfs -o size=16m ziggy-ro "$MNT"
z() { "$ZIGGY" -d "$MNT/db" "$@"; }
z SET k hello >/dev/null
z HSET h f1 v1 f2 v2 >/dev/null
z RPUSH l a b c >/dev/null
z SET n 41 >/dev/null
z DBSIZE >/dev/null
mount -o remount,ro "$MNT"
listing() { cd "$MNT/db" && for f in *; do stat -c '%n %s %.9Y %.9Z' "$f"; cksum < "$f"; done; }
listing > "$OUT/before"
run() { name=$1; shift; set +e; z "$@" > "$OUT/$name" 2>&1; echo $? > "$OUT/$name.rc"; set -e; }
run get --read-only GET k
run dbsize --read-only DBSIZE
run keys --read-only KEYS '*'
run hgetall --read-only HGETALL h
run lrange --read-only LRANGE l 0 -1
run check --read-only CHECK
run set --read-only SET k changed
run incr --read-only INCR n
run del --read-only DEL k
run compact --read-only COMPACT
run export --read-only EXPORT -
run backup --read-only BACKUP "$OUT/copy"
run hset --read-only HSET h f3 v3
run expire --read-only EXPIRE k 100
run plain GET k
run again --read-only GET k
listing > "$OUT/after"
"#;

#[test]
fn a_read_only_mount_serves_reads_and_refuses_every_write() -> TestResult {
    let wrapper = namespace_wrapper()?;
    let tmp = util::tempdir();
    let mnt = tmp.path().join("mnt");
    let out = tmp.path().join("out");
    std::fs::create_dir(&mnt)?;
    std::fs::create_dir(&out)?;
    let status = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .args(["sh", "-c", MOUNT_SCRIPT])
        .env("MNT", &mnt)
        .env("OUT", &out)
        .env("ZIGGY", ZIGGY)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::null())
        .output()?;
    assert!(
        status.status.success(),
        "the mount script failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let read = |name: &str| -> TestResult<(String, String)> {
        Ok((
            std::fs::read_to_string(out.join(name))?,
            std::fs::read_to_string(out.join(format!("{name}.rc")))?
                .trim()
                .to_owned(),
        ))
    };
    let expect_ok = |name: &str, want: &str| -> TestResult {
        let (text, rc) = read(name)?;
        assert_eq!((text.as_str(), rc.as_str()), (want, "0"), "{name}");
        Ok(())
    };
    expect_ok("get", "hello\n")?;
    expect_ok("dbsize", "4\n")?;
    let (keys, rc) = read("keys")?;
    let mut keys: Vec<&str> = keys.lines().collect();
    keys.sort_unstable();
    assert_eq!((keys, rc.as_str()), (vec!["h", "k", "l", "n"], "0"));
    expect_ok("hgetall", "f1\nv1\nf2\nv2\n")?;
    expect_ok("lrange", "a\nb\nc\n")?;
    expect_ok("check", "OK\n")?;
    expect_ok("again", "hello\n")?;
    let (export, rc) = read("export")?;
    assert_eq!((export.lines().count(), rc.as_str()), (4, "0"), "{export}");
    assert!(export.contains(r#""key":"k""#), "{export}");
    assert_eq!(read("backup")?.1, "0", "{:?}", read("backup")?.0);
    assert_eq!(ziggy_ok(&out.join("copy"), &["GET", "k"])?, "hello\n");
    for name in ["set", "incr", "del", "compact", "hset", "expire"] {
        let (text, rc) = read(name)?;
        assert!(
            text.starts_with("ERR database opened read-only") && rc == "1",
            "{name}: {text:?}, exit status {rc}"
        );
    }
    // Without --read-only: a clear error that says what to do.
    let (text, rc) = read("plain")?;
    assert_eq!(rc, "1");
    assert!(
        text.contains("read-only file system") && text.contains("--read-only"),
        "{text}"
    );
    let before = std::fs::read_to_string(out.join("before"))?;
    assert!(before.contains("MANIFEST") && before.contains("ziggy.shm"));
    assert_eq!(before, std::fs::read_to_string(out.join("after"))?);
    Ok(())
}

/// Runs `ziggy -d DIR ARGS...` as a user other than root: `nobody` (uid 65534) through
/// `setpriv` when this test runs as root, else as this user.
fn ziggy_unprivileged(dir: &Path, args: &[&str]) -> TestResult<Output> {
    let mut cmd = if util::is_root()? {
        if util::find_program("setpriv").is_none() {
            return Err(
                "run as root, this test needs `setpriv` (util-linux) on the PATH, \
                        to run ziggy as another user"
                    .into(),
            );
        }
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", ZIGGY]);
        c
    } else {
        Command::new(ZIGGY)
    };
    Ok(cmd
        .arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::null())
        .output()?)
}

#[test]
fn a_user_who_may_only_read_reads_read_only() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &["SET", "secret", "v1"])?;
    ziggy_ok(&dir, &["HSET", "h", "f", "1"])?;
    // Read permission, and no write permission, for everyone.
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(tmp.path(), 0o755)?;
    for e in std::fs::read_dir(&dir)? {
        mode(&e?.path(), 0o444)?;
    }
    mode(&dir, 0o555)?;
    let before = state(&dir)?;
    let out = ziggy_unprivileged(&dir, &["GET", "secret"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("permission denied") && err.contains("--read-only"),
        "{err}"
    );
    for (args, want) in [
        (&["--read-only", "GET", "secret"][..], "v1\n"),
        (&["--read-only", "HGETALL", "h"], "f\n1\n"),
        (&["--read-only", "DBSIZE"], "2\n"),
    ] {
        let out = ziggy_unprivileged(&dir, args)?;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8(out.stdout)?, want, "{args:?}");
    }
    let out = ziggy_unprivileged(&dir, &["--read-only", "SET", "secret", "v2"])?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stdout)?.starts_with("ERR database opened read-only"),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&dir)?, before);
    mode(&dir, 0o755)?;
    Ok(())
}

#[test]
fn a_read_only_open_leaves_the_directory_byte_for_byte_unchanged() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = Db::options().active_expiry(None).open(&dir)?;
        db.set(b"k", "v")?;
        db.set(b"n", 7i64)?;
        db.set(b"gone", "x")?;
        db.transaction(|tx| {
            tx.set_with_expiry(b"expired", "x", Some(util::now_ms() - 1))?;
            tx.hash(b"h").set(&[(&b"f"[..], &b"1"[..])])?;
            Ok(())
        })?;
        db.delete(b"gone")?;
    }
    let before = state(&dir)?;
    {
        let db = Db::options().read_only(true).open(&dir)?;
        assert_eq!(db.get_value(b"k")?, Some(Value::String("v".into())));
        assert_eq!(db.get_value(b"n")?, Some(Value::Int(7)));
        assert_eq!(db.get_value(b"gone")?, None);
        assert_eq!(db.get_value(b"expired")?, None);
        assert_eq!(
            db.mget(&[b"k", b"n", b"nope"])?,
            vec![Some(Value::String("v".into())), Some(Value::Int(7)), None]
        );
        assert_eq!(db.hash(b"h").get(b"f")?, Some(b"1".to_vec()));
        assert_eq!(db.len(), 4, "k, n, h and the expired key not yet deleted");
        let mut keys = db.keys()?;
        keys.sort();
        assert_eq!(keys, [&b"h"[..], b"k", b"n"]);
        let report = db.check()?;
        assert!(report.is_ok(), "{:?}", report.problems);
        // A session counts its commands in the shared state, which a read-only handle
        // may write.
        let mut session =
            ziggydb::commands::Session::new(&db, ziggydb::commands::Policy::trusted());
        assert_eq!(
            session.execute(&[b"PING"]),
            ziggydb::commands::Reply::Status("PONG".into())
        );
        assert!(db.sync().is_ok(), "nothing to make durable");
        // Every write is refused, and refused the same way.
        let refused: Vec<(&str, ziggydb::Result<()>)> = vec![
            ("set", db.set(b"k", "w")),
            ("delete", db.delete(b"k").map(drop)),
            ("incr", db.incr_by(b"n", 1).map(drop)),
            ("begin_write", db.begin_write().map(drop)),
            (
                "hash set",
                db.transaction(|tx| tx.hash(b"h").set(&[(&b"f"[..], &b"2"[..])]).map(drop)),
            ),
            ("compact", db.compact().map(drop)),
            ("expire_now", db.expire_now().map(drop)),
        ];
        for (what, r) in refused {
            assert!(matches!(r, Err(Error::ReadOnly)), "{what}: {r:?}");
        }
        assert_eq!(Error::ReadOnly.to_string(), "database opened read-only");
        assert_eq!(db.get_value(b"n")?, Some(Value::Int(7)));
        // Export and backup write the state it reads, elsewhere.
        let mut lines = Vec::new();
        assert_eq!(db.export(ziggydb::ExportFormat::JsonLines, &mut lines)?, 3);
        let lines = String::from_utf8(lines)?;
        assert!(
            lines.contains(r#""key":"k""#) && !lines.contains("gone"),
            "{lines}"
        );
        let stats = db.backup(tmp.path().join("copy"))?;
        assert_eq!(stats.keys, 4);
    }
    let copy = Db::open(tmp.path().join("copy"))?;
    assert_eq!(copy.get_value(b"n")?, Some(Value::Int(7)));
    drop(copy);
    assert_eq!(
        state(&dir)?,
        before,
        "a read-only session changed the directory"
    );
    // A read-only open of a missing directory creates nothing.
    let missing = tmp.path().join("missing");
    let r = Db::options().read_only(true).open(&missing);
    assert!(
        matches!(&r, Err(Error::InvalidArgument(m)) if m.contains("no database")),
        "{:?}",
        r.err()
    );
    assert!(!missing.exists());
    // Nor does one of an empty directory.
    std::fs::create_dir(&missing)?;
    assert!(Db::options().read_only(true).open(&missing).is_err());
    assert_eq!(std::fs::read_dir(&missing)?.count(), 0);
    // The database still opens read-write, and nothing was lost.
    let db = Db::open(&dir)?;
    db.incr_by(b"n", 1)?;
    assert_eq!(db.get_value(b"n")?, Some(Value::Int(8)));
    Ok(())
}

#[test]
fn a_read_only_open_of_a_crashed_database_says_it_needs_recovery() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &["SET", "k", "before"])?;
    // A process killed while it has the database open, after a commit: the index on disk is
    // marked dirty, and `ziggy.shm` holds the state of a writer that is gone.
    let mut proc = Command::new(ZIGGY)
        .arg("-d")
        .arg(&dir)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = proc.stdin.take().ok_or("stdin is piped")?;
    let mut stdout = BufReader::new(proc.stdout.take().ok_or("stdout is piped")?);
    writeln!(stdin, "SET k after")?;
    stdin.flush()?;
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    assert_eq!(line, "OK\n");
    proc.kill()?;
    proc.wait()?;
    let before = state(&dir)?;
    let out = ziggy(&dir, &["--read-only", "GET", "k"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    assert!(
        err.contains("needs recovery")
            && err.contains("not closed cleanly")
            && err.contains("open it once read-write or run `ziggy repair`"),
        "{err}"
    );
    let r = Db::options().read_only(true).open(&dir);
    assert!(
        matches!(r, Err(Error::NeedsRecovery { .. })),
        "{:?}",
        r.err()
    );
    assert_eq!(
        state(&dir)?,
        before,
        "a refused read-only open changed the directory"
    );
    // As the message says: one read-write open recovers it (and its close seals the index).
    assert_eq!(ziggy_ok(&dir, &["GET", "k"])?, "after\n");
    assert_eq!(ziggy_ok(&dir, &["--read-only", "GET", "k"])?, "after\n");
    Ok(())
}

/// A `ziggy` process attached read-write, running the commands sent to it.
struct Attached {
    proc: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Attached {
    fn start(dir: &Path, args: &[&str]) -> TestResult<Attached> {
        let mut proc = Command::new(ZIGGY)
            .arg("-d")
            .arg(dir)
            .args(args)
            .env_remove("ZIGGY_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = proc.stdin.take().ok_or("stdin is piped")?;
        let stdout = BufReader::new(proc.stdout.take().ok_or("stdout is piped")?);
        let mut a = Attached {
            proc,
            stdin,
            stdout,
        };
        // Once it answers, it is attached.
        assert_eq!(a.run("PING")?, "PONG");
        Ok(a)
    }

    /// Sends one command whose reply is one line, and returns it.
    fn run(&mut self, command: &str) -> TestResult<String> {
        Ok(self.lines(command, 1)?.trim_end().to_owned())
    }

    /// Sends one command and returns the first `n` lines of its reply.
    fn lines(&mut self, command: &str, n: usize) -> TestResult<String> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let mut reply = String::new();
        for _ in 0..n {
            self.stdout.read_line(&mut reply)?;
        }
        Ok(reply)
    }

    fn finish(mut self) -> TestResult {
        drop(self.stdin);
        assert!(self.proc.wait()?.success());
        Ok(())
    }
}

#[test]
fn read_only_and_read_write_processes_never_see_each_other_half_way() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &["MSET", "a", "1", "b", "1"])?;
    // A process attached read-write: a read-only open is refused and says by whom.
    let writer = Attached::start(&dir, &[])?;
    let out = ziggy(&dir, &["--read-only", "GET", "a"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("is open read-write")
            && err.contains(&format!("process {}", writer.proc.id())),
        "{err}"
    );
    // So is one of a directory without `ziggy.lock` (a copy, say): the test then reads which
    // files are locked instead of taking the lock.
    std::fs::remove_file(dir.join("ziggy.lock"))?;
    let out = ziggy(&dir, &["--read-only", "GET", "a"])?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is open read-write"), "{err}");
    assert!(!dir.join("ziggy.lock").exists());
    writer.finish()?;
    // Whether the writer's close left a `ziggy.lock` behind or not, none is there now.
    match std::fs::remove_file(dir.join("ziggy.lock")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        r => r?,
    }
    assert_eq!(
        ziggy_ok(&dir, &["--read-only", "MGET", "a", "b"])?,
        "1\n1\n"
    );
    assert!(!dir.join("ziggy.lock").exists());
    // A read-only process attached: read-write processes open, commit and compact without
    // waiting for it, and it goes on reading the state it opened, whole.
    let mut reader = Attached::start(&dir, &["--read-only"])?;
    assert_eq!(reader.lines("MGET a b", 2)?, "1\n1\n");
    let mut writer = Attached::start(&dir, &["--segment-size", "65536"])?;
    for i in 2..200 {
        assert_eq!(
            writer.run(&format!("MSET a {i} b {i} pad{i} {:0>900}", i))?,
            "OK"
        );
        if i % 50 == 0 {
            let reply = writer.run("COMPACT")?;
            assert!(reply.starts_with("OK reclaimed "), "{reply}");
        }
        assert_eq!(reader.lines("MGET a b", 2)?, "1\n1\n", "after commit {i}");
    }
    assert!(
        !dir.join("seg-00000001.zdb").exists(),
        "a compaction deleted the segment the reader reads"
    );
    // CHECK checks the snapshot, not the files as the writer left them now.
    assert_eq!(reader.run("CHECK")?, "OK");
    assert_eq!(reader.run("DBSIZE")?, "2");
    assert_eq!(reader.run("SET a 5")?, "ERR database opened read-only");
    // The read-only process holds no lock: the writer's close seals the index as if it were
    // alone, and the database opens as it left it.
    writer.finish()?;
    reader.finish()?;
    assert_eq!(ziggy_ok(&dir, &["MGET", "a", "b"])?, "199\n199\n");
    Ok(())
}
