//! The files of a database directory as other users and other programs can meet them (issue
//! 11, items 6 and 7).
//!
//! Links: a symbolic link (or a hard link, a FIFO) planted under each name the engine opens
//! or creates, before an open and while a `ziggy` process has the database open, never makes
//! the engine touch the file it points at: the decoy stays byte for byte as it was, and every
//! command either works without following the link or is refused with the specific error.
//!
//! Modes: every file a database creates has the database's mode, whatever the umask of the
//! process creating it (`ziggy` run under `sh -c 'umask ...'`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ziggydb::{Db, Error};

use crate::util::{self, TestResult};

/// How long one command may take before `ziggy` is taken to hang.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
const SEGMENT_SIZE: &str = "65536";
/// What `ziggy` says when it refuses a link.
const LINK_REFUSED: &str = "is a symbolic link; ZiggyDB does not follow links";

/// `ziggy` as a co-process: one command per line in, one JSON reply per line out.
struct Ziggy {
    proc: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Ziggy {
    /// Starts `ziggy --json -d DIR ARGS...` under `sh` with the given umask.
    fn start(dir: &Path, umask: &str, args: &[&str]) -> TestResult<Ziggy> {
        let mut proc = umask_command(umask, "", dir, args)
            .arg("--json")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = proc.stdout.take().ok_or("stdout is piped")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Ziggy {
            stdin: proc.stdin.take(),
            proc,
            lines,
        })
    }

    /// Runs one command and returns its reply (JSON text).
    fn cmd(&mut self, line: &str) -> TestResult<String> {
        let stdin = self.stdin.as_mut().ok_or("stdin open")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        let short: String = line.chars().take(60).collect();
        Ok(self
            .lines
            .recv_timeout(REPLY_TIMEOUT)
            .map_err(|_| format!("no reply from ziggy to {short:?}"))?)
    }

    /// Closes its standard input and waits for it to exit.
    fn finish(mut self) -> TestResult {
        drop(self.stdin.take());
        let status = self.proc.wait()?;
        assert!(status.success(), "ziggy exited with {status}");
        Ok(())
    }
}

impl Drop for Ziggy {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// `sh -c 'umask UMASK; exec [WRAPPER] ziggy -d DIR ARGS...'`.
fn umask_command(umask: &str, wrapper: &str, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec {wrapper} \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(args);
    cmd
}

/// Runs one `ziggy` command under `umask`; its exit status and output. `timeout` ends it
/// if it hangs (a FIFO opened for reading waits for a writer).
fn ziggy_once(dir: &Path, umask: &str, args: &[&str]) -> TestResult<(bool, String)> {
    let out = umask_command(umask, "timeout 120", dir, args).output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// The decoy a link points at: a file outside the database, with content of its own.
fn decoy(tmp: &Path) -> TestResult<(PathBuf, Vec<u8>)> {
    let path = tmp.join("decoy");
    let bytes = "DECOY-DATA-KEEP-ME\n".repeat(5000).into_bytes();
    std::fs::write(&path, &bytes)?;
    Ok((path, bytes))
}

/// What is planted under a database name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plant {
    Symlink,
    HardLink,
    Fifo,
}

/// Puts `what` (pointing at `decoy`) under `name` in `dir`, moving a file there aside.
fn plant(dir: &Path, name: &str, what: Plant, decoy: &Path) -> TestResult {
    let path = dir.join(name);
    if std::fs::symlink_metadata(&path).is_ok() {
        std::fs::rename(&path, dir.with_extension(format!("aside-{name}")))?;
    }
    match what {
        Plant::Symlink => std::os::unix::fs::symlink(decoy, &path)?,
        Plant::HardLink => std::fs::hard_link(decoy, &path)?,
        Plant::Fifo => {
            let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
            // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
            let r = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
            assert_eq!(r, 0, "mkfifo {}", path.display());
        }
    }
    Ok(())
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// A value of about 1 KiB: 60 of them fill a 64 KiB segment.
fn big_value(round: u32, i: u32) -> String {
    format!("v{round}-{i}-{}", "x".repeat(1000))
}

/// Replies of a workload: what was acknowledged, and every refusal.
#[derive(Default)]
struct Outcome {
    /// Keys and the values acknowledged for them, newest last.
    model: BTreeMap<String, String>,
    /// Error replies, with their command.
    errors: Vec<String>,
}

impl Outcome {
    fn set(&mut self, z: &mut Ziggy, key: &str, value: &str) -> TestResult {
        let reply = z.cmd(&format!("SET {key} {value}"))?;
        if reply == "\"OK\"" {
            self.model.insert(key.into(), value.into());
        } else {
            self.errors.push(format!("SET {key}: {reply}"));
        }
        Ok(())
    }

    /// `MSET` of `n` small keys in batches of 100: enough keys make the index grow into a
    /// new generation.
    fn many_keys(&mut self, z: &mut Ziggy, n: u32) -> TestResult {
        for start in (0..n).step_by(100) {
            let pairs: Vec<(String, String)> = (start..(start + 100).min(n))
                .map(|i| (format!("k{i}"), format!("w{i}")))
                .collect();
            let line = pairs
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let reply = z.cmd(&format!("MSET {line}"))?;
            if reply == "\"OK\"" {
                self.model.extend(pairs);
            } else {
                self.errors.push(format!("MSET from k{start}: {reply}"));
            }
        }
        Ok(())
    }

    /// `rounds` times, `SET` of 150 keys of 1 KiB: each round rotates segments twice.
    fn fill(&mut self, z: &mut Ziggy, rounds: u32) -> TestResult {
        for round in 0..rounds {
            for i in 0..150 {
                self.set(z, &format!("r{i}"), &big_value(round, i))?;
            }
        }
        Ok(())
    }

    fn compact(&mut self, z: &mut Ziggy) -> TestResult {
        let reply = z.cmd("COMPACT")?;
        if !reply.starts_with("\"OK") {
            self.errors.push(format!("COMPACT: {reply}"));
        }
        Ok(())
    }

    /// Every acknowledged value reads back, and `CHECK` finds nothing wrong.
    fn verify(&self, z: &mut Ziggy) -> TestResult {
        for (k, v) in &self.model {
            assert_eq!(z.cmd(&format!("GET {k}"))?, format!("\"{v}\""), "GET {k}");
        }
        assert_eq!(z.cmd("CHECK")?, "\"OK\"");
        Ok(())
    }
}

/// The decoy is as it was; every refusal was the link's, named; a link still in place was
/// refused (it cannot have been used without following it).
fn judge(case: &str, dir: &Path, name: &str, decoy: &Path, bytes: &[u8], o: &Outcome) {
    assert!(
        std::fs::read(decoy).expect("read the decoy") == bytes,
        "{case}: the decoy was changed through {name}"
    );
    for e in &o.errors {
        assert!(
            e.contains(LINK_REFUSED) && e.contains(name),
            "{case}: an error other than the refusal of the link {name}: {e}"
        );
    }
    if is_symlink(&dir.join(name)) {
        assert!(
            !o.errors.is_empty(),
            "{case}: {name} is still a link after the database used that name"
        );
    }
}

/// Runs `case` for each of `cases`, all of them even after a failure, and fails with the
/// list of the cases that failed.
fn run_cases<C: std::fmt::Debug>(cases: Vec<C>, case: impl Fn(&C) -> TestResult) -> TestResult {
    let mut failed = Vec::new();
    for c in &cases {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(c))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed.push(format!("{c:?}: {e}")),
            Err(p) => failed.push(format!(
                "{c:?}: {}",
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| p.downcast_ref::<&str>().copied())
                    .unwrap_or("panicked")
            )),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
    Ok(())
}

/// Starts `ziggy` on a new database with 64 KiB segments.
fn new_db(tmp: &tempfile::TempDir) -> TestResult<(PathBuf, Ziggy)> {
    let dir = util::db_path(tmp);
    let mut z = Ziggy::start(&dir, "077", &["--segment-size", SEGMENT_SIZE])?;
    assert_eq!(z.cmd("SET first 1")?, "\"OK\"");
    Ok((dir, z))
}

/// After the workload: the links are removed, the database takes writes again, and holds
/// every acknowledged value.
fn recover(z: &mut Ziggy, dir: &Path, o: &mut Outcome) -> TestResult {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if is_symlink(&p) {
            std::fs::remove_file(&p)?;
        }
    }
    let errors = o.errors.len();
    o.set(z, "after", "links-removed")?;
    o.fill(z, 1)?;
    assert_eq!(
        o.errors.len(),
        errors,
        "writes still fail once the links are gone: {:?}",
        &o.errors[errors..]
    );
    o.verify(z)
}

/// A link planted for a file the open process creates later: the next segment of a
/// rotation, `MANIFEST.tmp`, the next index generation, a compaction's output.
#[test]
fn links_planted_while_a_process_has_the_database_open_are_not_followed() -> TestResult {
    type Work = fn(&mut Ziggy, &mut Outcome) -> TestResult;
    let rotate: Work = |z, o| {
        o.fill(z, 2)?;
        o.compact(z)
    };
    let grow_index: Work = |z, o| o.many_keys(z, 1500);
    let cases: Vec<(&str, Plant, Work)> = vec![
        ("seg-00000002.zdb", Plant::Symlink, rotate),
        ("MANIFEST.tmp", Plant::Symlink, rotate),
        ("index-00000002.zdx", Plant::Symlink, grow_index),
        ("seg-00000002.zdb", Plant::HardLink, rotate),
        ("index-00000002.zdx", Plant::HardLink, grow_index),
    ];
    run_cases(cases, |&(name, what, work)| {
        let case = format!("{what:?} {name} planted while open");
        let tmp = util::tempdir();
        let (decoy, bytes) = decoy(tmp.path())?;
        let (dir, mut z) = new_db(&tmp)?;
        plant(&dir, name, what, &decoy)?;
        let mut o = Outcome::default();
        work(&mut z, &mut o)?;
        judge(&case, &dir, name, &decoy, &bytes, &o);
        let path = dir.join(name);
        match what {
            // The name was used: refused while it is a link, or a regular file of the
            // database's now.
            Plant::Symlink => assert!(
                !o.errors.is_empty() || !is_symlink(&path),
                "{case}: the workload never reached {name}"
            ),
            // A file with another name is not truncated: it is replaced by a new file.
            Plant::HardLink => {
                assert!(o.errors.is_empty(), "{case}: {:?}", o.errors);
                assert_eq!(std::fs::metadata(&decoy)?.nlink(), 1, "{case}");
            }
            Plant::Fifo => unreachable!(),
        }
        recover(&mut z, &dir, &mut o)?;
        z.finish()?;
        assert_eq!(
            std::fs::read(&decoy)?,
            bytes,
            "{case}: decoy after recovery"
        );
        Ok(())
    })
}

/// Compaction writes its output into new segments: links planted for the next ids.
#[test]
fn links_planted_for_compaction_output_are_not_followed() -> TestResult {
    let tmp = util::tempdir();
    let (decoy, bytes) = decoy(tmp.path())?;
    let (dir, mut z) = new_db(&tmp)?;
    let mut o = Outcome::default();
    o.fill(&mut z, 2)?;
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let last = util::segment_files(&dir)
        .iter()
        .filter_map(|p| {
            util::file_name(p)
                .strip_prefix("seg-")?
                .strip_suffix(".zdb")?
                .parse::<u32>()
                .ok()
        })
        .max()
        .ok_or("segments")?;
    let names: Vec<String> = (last + 1..last + 6)
        .map(|id| format!("seg-{id:08}.zdb"))
        .collect();
    for name in &names {
        plant(&dir, name, Plant::Symlink, &decoy)?;
    }
    o.compact(&mut z)?;
    assert_eq!(std::fs::read(&decoy)?, bytes, "the decoy was changed");
    assert!(
        o.errors.iter().any(|e| e.contains(LINK_REFUSED))
            || names.iter().all(|n| {
                let p = dir.join(n);
                !is_symlink(&p)
            }),
        "compaction neither refused nor replaced the links: {:?}",
        o.errors
    );
    for e in &o.errors {
        assert!(e.contains(LINK_REFUSED), "{e}");
    }
    recover(&mut z, &dir, &mut o)?;
    o.compact(&mut z)?;
    assert!(o.errors.len() <= 1, "{:?}", o.errors);
    o.verify(&mut z)?;
    z.finish()
}

/// A link (or a hard link, a FIFO) put in place of each file of a closed database, or for a
/// file it creates later, before a process opens it.
#[test]
fn links_planted_before_an_open_are_not_followed() -> TestResult {
    let names = [
        "ziggy.shm",
        "ziggy.lock",
        "writer.lock",
        "sync.lock",
        "compact.lock",
        "MANIFEST",
        "MANIFEST.tmp",
        "seg-00000001.zdb",
        "seg-00000002.zdb",
        "index-00000001.zdx",
        "index-00000002.zdx",
    ];
    let mut cases: Vec<(&str, Plant)> = names.iter().map(|&n| (n, Plant::Symlink)).collect();
    cases.extend([
        ("ziggy.shm", Plant::HardLink),
        ("writer.lock", Plant::HardLink),
        ("ziggy.shm", Plant::Fifo),
    ]);
    run_cases(cases, |&(name, what)| {
        let case = format!("{what:?} {name} planted before an open");
        let tmp = util::tempdir();
        let (decoy, bytes) = decoy(tmp.path())?;
        let (dir, z) = new_db(&tmp)?;
        z.finish()?;
        plant(&dir, name, what, &decoy)?;
        let (opened, text) = ziggy_once(&dir, "077", &["GET", "first"])?;
        if opened {
            assert_eq!(text, "1\n", "{case}");
            let mut z = Ziggy::start(&dir, "077", &["--segment-size", SEGMENT_SIZE])?;
            let mut o = Outcome::default();
            o.model.insert("first".into(), "1".into());
            o.fill(&mut z, 2)?;
            o.many_keys(&mut z, 1500)?;
            o.compact(&mut z)?;
            judge(&case, &dir, name, &decoy, &bytes, &o);
            recover(&mut z, &dir, &mut o)?;
            z.finish()?;
        } else {
            let expected = match what {
                Plant::Symlink => LINK_REFUSED,
                Plant::HardLink => "is a file with other names (hard links), not a regular file",
                Plant::Fifo => "is a FIFO, not a regular file",
            };
            assert!(
                text.contains(expected) && text.contains(name),
                "{case}: open refused with another error: {text}"
            );
        }
        assert_eq!(
            std::fs::read(&decoy)?,
            bytes,
            "{case}: the decoy was changed"
        );
        if what == Plant::Symlink && is_symlink(&dir.join(name)) {
            assert!(!opened, "{case}: the database was used through {name}");
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Modes

/// The mode bits of `path` and, for a directory, of every entry in it (recursively).
fn modes(path: &Path) -> TestResult<Vec<(PathBuf, u32)>> {
    let md = std::fs::symlink_metadata(path)?;
    let mut v = vec![(path.to_path_buf(), md.permissions().mode() & 0o7777)];
    if md.is_dir() {
        for e in std::fs::read_dir(path)? {
            v.extend(modes(&e?.path())?);
        }
    }
    Ok(v)
}

/// Every file under `dir` has `file` as its mode, every directory (`dir` included) `dir_mode`.
fn assert_modes(dir: &Path, file: u32, dir_mode: u32) -> TestResult {
    let all = modes(dir)?;
    for (p, m) in &all {
        let want = if p.is_dir() { dir_mode } else { file };
        assert_eq!(*m, want, "{} has mode {m:04o}, not {want:04o}", p.display());
    }
    let files = all.iter().filter(|(p, _)| p.is_file()).count();
    assert!(files >= 8, "only {files} files under {}", dir.display());
    Ok(())
}

/// Writes enough to rotate segments, grow the index into a new generation and compact,
/// then copies the database with `BACKUP` into `backup`.
fn every_kind_of_file(z: &mut Ziggy, backup: &Path) -> TestResult {
    let mut o = Outcome::default();
    o.fill(z, 2)?;
    o.many_keys(z, 1500)?;
    o.compact(z)?;
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    let reply = z.cmd(&format!("BACKUP {}", backup.display()))?;
    assert!(reply.starts_with("\"OK"), "{reply}");
    Ok(())
}

#[test]
fn a_new_database_is_private_to_its_owner_whatever_the_umask() -> TestResult {
    let tmp = util::tempdir();
    let dir = tmp.path().join("deep/db");
    // ziggy creates the database directory, not missing parents.
    std::fs::create_dir(tmp.path().join("deep"))?;
    let backup = tmp.path().join("backup");
    let mut z = Ziggy::start(&dir, "022", &["--segment-size", SEGMENT_SIZE])?;
    every_kind_of_file(&mut z, &backup)?;
    z.finish()?;
    let segs = util::segment_files(&dir).len();
    assert!(segs >= 2, "{segs} segments");
    assert!(!util::index_files(&dir).is_empty());
    assert_modes(&dir, 0o600, 0o700)?;
    // The copy is opened once so that it has its lock files, shared state and index too.
    let (ok, text) = ziggy_once(&backup, "022", &["DBSIZE"])?;
    assert!(ok, "{text}");
    assert_modes(&backup, 0o600, 0o700)?;
    // A repair of a damaged database moves the originals aside and builds new files.
    let rec = crate::repair::all_records(&dir)
        .into_iter()
        .next()
        .ok_or("no record")?;
    util::flip_byte(&rec.file, rec.value_offset as u64);
    let (ok, text) = ziggy_once(&dir, "022", &["repair"])?;
    assert!(ok && text.contains("originals moved to"), "{text}");
    assert_modes(&dir, 0o600, 0o700)?;
    Ok(())
}

#[test]
fn a_group_database_keeps_its_mode_for_every_member() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let (ok, text) = ziggy_once(&dir, "022", &["--mode", "0660", "SET", "a", "b"])?;
    assert!(ok, "{text}");
    assert_modes(&dir, 0o660, 0o770)?;
    // Another member, with a umask that would make every file private: its new files
    // (shared state and lock files too, as after a reboot) get the database's mode.
    for name in ["ziggy.shm", "writer.lock", "sync.lock", "compact.lock"] {
        std::fs::remove_file(dir.join(name))?;
    }
    let backup = tmp.path().join("backup");
    let mut z = Ziggy::start(&dir, "077", &["--segment-size", SEGMENT_SIZE])?;
    every_kind_of_file(&mut z, &backup)?;
    z.finish()?;
    assert_modes(&dir, 0o660, 0o770)?;
    let (ok, text) = ziggy_once(&backup, "077", &["DBSIZE"])?;
    assert!(ok, "{text}");
    assert_modes(&backup, 0o660, 0o770)?;
    // The same mode again is accepted; another is refused, and nothing changes.
    let (ok, text) = ziggy_once(&dir, "077", &["--mode", "660", "GET", "a"])?;
    assert!(ok && text == "b\n", "{text}");
    let (ok, text) = ziggy_once(&dir, "022", &["--mode", "0600", "SET", "a", "c"])?;
    assert!(!ok, "{text}");
    assert!(
        text.contains("has file mode 0660, not the 0600 asked for"),
        "{text}"
    );
    let (_, text) = ziggy_once(&dir, "022", &["GET", "a"])?;
    assert_eq!(text, "b\n");
    assert_modes(&dir, 0o660, 0o770)
}

#[test]
fn a_mode_that_is_not_file_permission_bits_is_refused() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    for mode in [0o700, 0o4600, 0o440, 0o066] {
        match Db::options().mode(mode).open(&dir) {
            Err(Error::InvalidArgument(text)) => {
                assert!(text.contains(&format!("{mode:04o}")), "{text}")
            }
            other => panic!("mode {mode:04o}: {:?}", other.map(|_| ())),
        }
        assert!(!dir.exists(), "a refused mode created the directory");
    }
    let db = Db::options().mode(0o640).open(&dir)?;
    drop(db);
    assert!(matches!(
        Db::options().mode(0o600).open(&dir),
        Err(Error::ModeMismatch {
            found: 0o640,
            requested: 0o600,
            ..
        })
    ));
    Ok(())
}

/// Runs `ziggy --json -d DIR --segment-size 65536 ARGS` as user `uid`, group `gid` with the
/// supplementary group 65534, under `umask`, with `script` on standard input; fails on any
/// error reply.
fn ziggy_as(
    uid: u32,
    gid: u32,
    umask: &str,
    dir: &Path,
    args: &[&str],
    script: &str,
) -> TestResult {
    let mut proc = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--groups=65534")
        .args(["sh", "-c"])
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ziggy"))
        .args(["--json", "--segment-size", SEGMENT_SIZE, "-d"])
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = proc.stdin.take().ok_or("stdin is piped")?;
    stdin.write_all(script.as_bytes())?;
    drop(stdin);
    let out = proc.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("\"error\"")).collect();
    assert!(
        out.status.success() && errors.is_empty(),
        "ziggy as {uid}:{gid} {args:?}: {} {errors:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The probe's group-sharing case with real users: `daemon` creates a database with
/// `--mode 0660` in a set-group-ID directory of group `nogroup`; `nobody` (umask 022) and
/// `daemon` (umask 077) in turn write enough to rotate segments, grow the index and compact,
/// each through the other's files. Needs root (to change users) and `setpriv`.
#[test]
fn users_of_a_group_share_a_database_whatever_their_umask() -> TestResult {
    if !util::is_root()? || util::find_program("setpriv").is_none() {
        println!("skipped: needs root and setpriv; the umask tests cover one user");
        return Ok(());
    }
    let tmp = util::tempdir();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared)?;
    std::os::unix::fs::chown(&shared, Some(0), Some(65534))?;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o2770))?;
    let dir = shared.join("db");
    let script = |round: u32| {
        let mut s: String = (0..150)
            .map(|i| format!("SET r{i} {}\n", big_value(round, i)))
            .collect();
        s.push_str("MSET ");
        s.push_str(
            &(0..800)
                .map(|i| format!("k{round}-{i} w{i}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        s.push_str("\nCOMPACT\n");
        s
    };
    ziggy_as(1, 1, "022", &dir, &["--mode", "0660", "SET", "a", "1"], "")?;
    ziggy_as(65534, 65534, "022", &dir, &[], &script(1))?;
    ziggy_as(1, 1, "077", &dir, &[], &script(2))?;
    ziggy_as(65534, 65534, "022", &dir, &[], &script(3))?;
    let all = modes(&dir)?;
    let mut owners = std::collections::BTreeSet::new();
    for (p, m) in &all {
        let md = std::fs::metadata(p)?;
        let want = if md.is_dir() { 0o2770 } else { 0o660 };
        assert_eq!(*m, want, "{} has mode {m:04o}", p.display());
        assert_eq!(md.gid(), 65534, "{} has group {}", p.display(), md.gid());
        owners.insert(md.uid());
    }
    assert_eq!(
        owners.into_iter().collect::<Vec<_>>(),
        vec![1, 65534],
        "both users created files"
    );
    let db = Db::open(&dir)?;
    assert_eq!(db.check()?.problems, Vec::<String>::new());
    Ok(())
}

/// The probe's escalation: `nobody` owns a database directory and links its `ziggy.shm` to a
/// file only root may read; root runs `ziggy GET` there. The open is refused and the file is
/// untouched. Needs root.
#[test]
fn root_never_writes_through_a_link_in_another_users_directory() -> TestResult {
    if !util::is_root()? {
        println!(
            "skipped: needs root; links_planted_before_an_open_are_not_followed covers one user"
        );
        return Ok(());
    }
    let tmp = util::tempdir();
    let secret = tmp.path().join("rootonly");
    let bytes = "root:only:secret\n".repeat(100).into_bytes();
    std::fs::write(&secret, &bytes)?;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;
    let dir = util::db_path(&tmp);
    std::fs::create_dir(&dir)?;
    let link = dir.join("ziggy.shm");
    std::os::unix::fs::symlink(&secret, &link)?;
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534))?;
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534))?;
    let (ok, text) = ziggy_once(&dir, "022", &["GET", "x"])?;
    assert!(!ok, "the open worked: {text}");
    assert!(text.contains(LINK_REFUSED), "{text}");
    assert_eq!(std::fs::read(&secret)?, bytes, "root's file was changed");
    let mode = std::fs::metadata(&secret)?.permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    Ok(())
}
