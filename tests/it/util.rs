//! Shared helpers: temporary directories, child processes, a Redis server to compare with,
//! file-level inspection of a database directory, a CRC-32 and a small seeded random number
//! generator.

use std::collections::VecDeque;
use std::fmt::Display;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Result type of the tests: any error fails the test with its message.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Environment variable naming the role a child process plays.
pub const ROLE_VAR: &str = "ZIGGY_CHILD_ROLE";
/// Environment variable giving a child the database directory.
pub const DIR_VAR: &str = "ZIGGY_TEST_DIR";
/// Prefix of the lines a child reports on; whatever the test harness prints is ignored.
const MARK: &str = "::ziggy-child:: ";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ziggy-it-")
        .tempdir()
        .expect("create a temporary directory")
}

/// Whether this process runs as root (files it creates belong to uid 0).
pub fn is_root() -> TestResult<bool> {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempdir();
    let probe = tmp.path().join("probe");
    std::fs::write(&probe, b"")?;
    Ok(std::fs::metadata(&probe)?.uid() == 0)
}

/// The database directory inside a temporary directory (the engine creates it).
pub fn db_path(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("db")
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// In a child entry point: the database directory if this process was started to play
/// `role`, else `None` (the entry point then returns at once).
pub fn child_role(role: &str) -> Option<PathBuf> {
    if std::env::var(ROLE_VAR).ok()? != role {
        return None;
    }
    Some(PathBuf::from(
        std::env::var_os(DIR_VAR).expect("a child process is given its directory"),
    ))
}

/// In a child: a numeric parameter passed in the environment.
pub fn child_param<T: std::str::FromStr>(name: &str) -> T {
    let text = std::env::var(name).unwrap_or_else(|_| panic!("child parameter {name} is set"));
    text.parse()
        .unwrap_or_else(|_| panic!("child parameter {name}={text} parses"))
}

/// `ZIGGY_SOAK` (at least 1, default 1): how many times the crash, power-loss, fault and
/// stress tests multiply their rounds.
pub fn soak() -> u64 {
    std::env::var("ZIGGY_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1u64)
        .max(1)
}

/// In a child: ends its role with `PASS`, or with `FAIL <error>` and a panic.
pub fn end_child(r: TestResult) {
    if let Err(e) = r {
        report(format!("FAIL {e}"));
        panic!("{e}");
    }
    report("PASS");
}

/// In a child: reports one line to the parent, flushed at once.
pub fn report(msg: impl Display) {
    let mut out = std::io::stdout().lock();
    // The leading newline keeps the line apart from anything the harness printed before.
    writeln!(out, "\n{MARK}{msg}").expect("write to the parent");
    out.flush().expect("flush to the parent");
}

/// In a child: the next line the parent sent, or `None` once the parent closed stdin.
pub fn read_command() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end().to_owned()),
    }
}

/// A child process running one child entry point of this test binary.
pub struct Child {
    name: String,
    proc: std::process::Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pending: VecDeque<String>,
    stderr: Arc<Mutex<String>>,
    status: Option<ExitStatus>,
}

impl Child {
    /// Starts `entry` (the full test name, e.g. `multiprocess::child_incr`) with the role
    /// variable set to `role`, the directory `dir`, and extra environment variables.
    pub fn spawn(entry: &str, role: &str, dir: &Path, env: &[(&str, String)]) -> Child {
        Self::spawn_with(&[], entry, role, dir, env, None)
    }

    /// Like [`Child::spawn`], in the process group `group` (0: a new group, led by the child),
    /// so that the children of one test can be killed at one instant, away from the runner.
    pub fn spawn_in_group(
        entry: &str,
        role: &str,
        dir: &Path,
        env: &[(&str, String)],
        group: u32,
    ) -> Child {
        Self::spawn_with(&[], entry, role, dir, env, Some(group))
    }

    /// As [`Child::spawn`], run through the command `wrapper` (a program and its arguments,
    /// e.g. `unshare --mount`), which must exec the test binary in the same process, so that
    /// the child's exit status (a signal included) is the test binary's own. An empty
    /// `wrapper` runs the test binary directly.
    pub fn spawn_wrapped(
        wrapper: &[&str],
        entry: &str,
        role: &str,
        dir: &Path,
        env: &[(&str, String)],
    ) -> Child {
        Self::spawn_with(wrapper, entry, role, dir, env, None)
    }

    fn spawn_with(
        wrapper: &[&str],
        entry: &str,
        role: &str,
        dir: &Path,
        env: &[(&str, String)],
        group: Option<u32>,
    ) -> Child {
        let exe = std::env::current_exe().expect("path of the test binary");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(&exe),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg("--").arg(&exe);
                c
            }
        };
        cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"])
            .env(ROLE_VAR, role)
            .env(DIR_VAR, dir)
            .env_remove("ZIGGY_FAULT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(group) = group {
            std::os::unix::process::CommandExt::process_group(
                &mut cmd,
                i32::try_from(group).expect("a process group id"),
            );
        }
        let mut proc = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn a child process ({cmd:?}): {e}"));
        let stdout = proc.stdout.take().expect("child stdout");
        let mut err_pipe = proc.stderr.take().expect("child stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(MARK) {
                    if tx.send(line[at + MARK.len()..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        Child {
            name: format!("{role} (pid {})", proc.id()),
            stdin: proc.stdin.take(),
            proc,
            lines,
            pending: VecDeque::new(),
            stderr,
            status: None,
        }
    }

    /// What the child wrote to stderr so far (panic messages end up here).
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The next reported line, waiting up to `timeout`; `None` on timeout or once the child
    /// has exited and every line was read.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        if let Some(l) = self.pending.pop_front() {
            return Some(l);
        }
        self.lines.recv_timeout(timeout).ok()
    }

    /// Waits for a reported line starting with `prefix` and returns the rest of it; earlier
    /// lines are discarded. Panics (with the child's stderr) on timeout or exit.
    pub fn expect(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Some(l) if l.starts_with(prefix) => return l[prefix.len()..].trim().to_owned(),
                Some(_) => {}
                None => panic!(
                    "child {} did not report {prefix:?} within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr()
                ),
            }
        }
    }

    /// Sends one line to the child's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("child stdin is open");
        writeln!(stdin, "{line}").expect("write to the child");
        stdin.flush().expect("flush to the child");
    }

    /// Closes the child's stdin (children waiting for commands then finish).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Kills the child with SIGKILL (if it still runs) and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let _ = self.proc.kill();
        let s = self.proc.wait().expect("reap the child");
        self.status = Some(s);
        s
    }

    /// The exit status if the child has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.proc.try_wait().expect("poll the child");
        }
        self.status
    }

    /// Waits up to `timeout` for the child to exit by itself; kills it and panics if it
    /// does not.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.proc.try_wait().expect("poll the child") {
                self.status = Some(s);
                return s;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "child {} did not exit within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the child to exit and panics, showing its stderr, unless it succeeded.
    pub fn wait_success(&mut self, timeout: Duration) {
        let status = self.wait(timeout);
        // Let the stderr reader catch up before it is shown.
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            status.success(),
            "child {} failed with {status}; stderr:\n{}",
            self.name,
            self.stderr()
        );
    }

    /// Every reported line not yet read. Call after the child exited.
    pub fn drain(&mut self) -> Vec<String> {
        let mut out: Vec<String> = self.pending.drain(..).collect();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            out.push(l);
        }
        out
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.proc.id()
    }

    /// Sends signal `sig` to the child.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.proc.id()).expect("pid fits");
        // SAFETY: kill(2) only sends a signal; the child is not reaped before `wait`, `kill`
        // or drop, so its pid cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "signal {sig} to {}", self.name);
    }

    /// Waits (at most `timeout`) for a child that ends with [`end_child`]: its report lines,
    /// or an error if it reported `FAIL` or did not exit successfully after `PASS`.
    pub fn finish(&mut self, timeout: Duration) -> TestResult<Vec<String>> {
        let status = self.wait(timeout);
        let lines = self.drain();
        if let Some(fail) = lines.iter().find(|l| l.starts_with("FAIL ")) {
            return Err(fail.clone().into());
        }
        if !status.success() || !lines.iter().any(|l| l == "PASS") {
            return Err(format!(
                "the child failed ({status:?}): {lines:?}\n{}",
                self.stderr()
            )
            .into());
        }
        Ok(lines)
    }

    /// Label for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.proc.kill();
            let _ = self.proc.wait();
        }
    }
}

/// Runs the child entry point `entry` as role `role` on `dir` and asserts that it succeeds;
/// used for scenarios that install a process-wide fault plan, so that they cannot disturb
/// tests running in parallel in this process.
pub fn run_child_to_success(entry: &str, role: &str, dir: &Path, timeout: Duration) {
    let mut child = Child::spawn(entry, role, dir, &[]);
    child.wait_success(timeout);
    let lines = child.drain();
    assert!(
        lines.iter().any(|l| l == "PASS"),
        "child {} exited without reporting PASS (was the entry point name right?); lines: {lines:?}",
        child.name()
    );
}

// ---------------------------------------------------------------------------------------------
// Files of a database directory

/// Segment files (`seg-*.zdb`) in `dir`, in name order (oldest first).
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    files_matching(dir, "seg-", ".zdb")
}

/// Index files (`index-*.zdx`) in `dir`.
pub fn index_files(dir: &Path) -> Vec<PathBuf> {
    files_matching(dir, "index-", ".zdx")
}

fn files_matching(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the database directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .collect();
    v.sort();
    v
}

/// Total size of the segment files in `dir`.
pub fn segment_bytes(dir: &Path) -> u64 {
    segment_files(dir)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// The file name of `p`, for comparisons with paths in errors.
pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Segment header length and record header length of the on-disk format.
pub const SEGMENT_HEADER_LEN: usize = 64;
pub const RECORD_HEADER_LEN: usize = 24;
/// Record kinds.
pub const KIND_PUT: u8 = 1;
/// Kind byte of a short PUT (format-spec.md §3.2.1) with its value type in a byte of its own,
/// its two flag bits added; a kind byte with bit 7 set is a short PUT with its type packed in.
pub const KIND_SHORT_PUT: u8 = 0x10;

/// One record found by [`records`].
#[derive(Debug, Clone)]
pub struct RecordInfo {
    /// Offset of the record in its file.
    pub offset: usize,
    pub kind: u8,
    pub key: Vec<u8>,
    /// Offset of the value in the file.
    pub value_offset: usize,
    pub value_len: usize,
    /// Encoded length.
    pub len: usize,
}

/// Walks the records of a segment file's bytes from the first record on, stopping at
/// unwritten space, a malformed header or a bad checksum. Reads both record forms: the
/// 24-byte header of format-spec.md §3.2 and the short PUT of §3.2.1 that compaction writes.
pub fn records(bytes: &[u8]) -> Vec<RecordInfo> {
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while let Some((kind, key_at, key_len, val_len)) = bytes.get(at..).and_then(record_head) {
        let len = key_at + key_len + val_len;
        let Some(body) = bytes.get(at..at + len) else {
            break;
        };
        let stored = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        if stored != crc32(&body[4..]) {
            break;
        }
        out.push(RecordInfo {
            offset: at,
            kind,
            key: body[key_at..key_at + key_len].to_vec(),
            value_offset: at + key_at + key_len,
            value_len: val_len,
            len,
        });
        at += len;
    }
    out
}

/// Kind (a short PUT as `KIND_PUT`), key offset, key length and value length of the record
/// header at the start of `b`.
fn record_head(b: &[u8]) -> Option<(u8, usize, usize, usize)> {
    let h = head(b)?;
    Some((h.kind, h.key_at, h.key_len, h.val_len))
}

/// A record header read off disk, in either form (format-spec.md §3.2, §3.2.1).
#[derive(Debug, Clone, Copy)]
pub struct Head {
    /// 1–4; a short PUT is 1.
    pub kind: u8,
    /// Bit 0 expiry, bit 1 internal namespace.
    pub flags: u8,
    pub txn: u64,
    /// Offset of the key from the record's start.
    pub key_at: usize,
    pub key_len: usize,
    pub val_len: usize,
}

impl Head {
    /// Encoded length of the record.
    pub fn len(&self) -> usize {
        self.key_at + self.key_len + self.val_len
    }
}

/// The header at the start of `b`, if its kind byte is one of either form (nothing else is
/// checked, not even the checksum).
pub fn head(b: &[u8]) -> Option<Head> {
    let kind = *b.get(4)?;
    if kind & 0x80 != 0 || kind & 0xFC == KIND_SHORT_PUT {
        let mut at = if kind & 0x80 != 0 { 5 } else { 6 };
        let mut varint = || {
            let mut v = 0u64;
            for i in 0..10 {
                let byte = *b.get(at)?;
                at += 1;
                v |= u64::from(byte & 0x7F).checked_shl(7 * i)?;
                if byte & 0x80 == 0 {
                    return Some(v);
                }
            }
            None
        };
        let key_len = usize::try_from(varint()?).ok()?;
        let val_len = usize::try_from(varint()?).ok()?;
        let txn = varint()?;
        let flags = kind & 3;
        let exp = if flags & 1 != 0 { 8 } else { 0 };
        return Some(Head {
            kind: KIND_PUT,
            flags,
            txn,
            key_at: at + exp,
            key_len,
            val_len,
        });
    }
    let h = b.get(..RECORD_HEADER_LEN)?;
    let flags = h[6];
    if kind == 0 || kind > 4 {
        return None;
    }
    let exp = if flags & 1 != 0 { 8 } else { 0 };
    Some(Head {
        kind,
        flags,
        txn: u64::from_le_bytes(h[16..24].try_into().ok()?),
        key_at: RECORD_HEADER_LEN + exp,
        key_len: usize::from(u16::from_le_bytes([h[8], h[9]])),
        val_len: u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize,
    })
}

/// Offset just past the last intact record of a segment file's bytes.
pub fn end_of_records(bytes: &[u8]) -> usize {
    records(bytes)
        .last()
        .map_or(SEGMENT_HEADER_LEN, |r| r.offset + r.len)
}

/// The newest `PUT` record of `key` over all segment files of `dir`: (file, record).
pub fn find_put(dir: &Path, key: &[u8]) -> Option<(PathBuf, RecordInfo)> {
    let mut found = None;
    for f in segment_files(dir) {
        let bytes = std::fs::read(&f).expect("read a segment file");
        for r in records(&bytes) {
            if r.kind == KIND_PUT && r.key == key {
                found = Some((f.clone(), r));
            }
        }
    }
    found
}

/// Overwrites bytes of a file at `offset`.
pub fn write_at(path: &Path, offset: u64, data: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open a file for writing");
    f.write_all_at(data, offset).expect("write into a file");
    f.sync_all().expect("sync a file");
}

/// Inverts every bit of the byte at `offset` of a file.
pub fn flip_byte(path: &Path, offset: u64) {
    let bytes = std::fs::read(path).expect("read a file");
    let b = bytes[usize::try_from(offset).expect("offset fits")];
    write_at(path, offset, &[!b]);
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and crc32fast compute it).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

// ---------------------------------------------------------------------------------------------
// Randomness

/// A small xorshift generator. The seed comes from `ZIGGY_SEED` if set, else from the clock,
/// and is printed so a failing run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(label: &str) -> Rng {
        let seed = std::env::var("ZIGGY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{label}: ZIGGY_SEED={seed}");
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

// ---------------------------------------------------------------------------------------------
// A Redis server to compare with

/// A program on the `PATH`, if there is one.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A `redis-server` child process on a free port of 127.0.0.1, with no persistence and a
/// temporary working directory, killed by its PID when dropped.
pub struct RedisServer {
    proc: std::process::Child,
    port: u16,
    cli: PathBuf,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free port and waits until `redis-cli ping` answers.
    pub fn start(server: &Path, cli: &Path) -> TestResult<RedisServer> {
        let mut last_err = String::new();
        for _ in 0..5 {
            // A port free a moment ago; another process may take it first, hence the retries.
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let dir = tempdir();
            let proc = Command::new(server)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .args(["--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            let mut redis = RedisServer {
                proc,
                port,
                cli: cli.to_owned(),
                _dir: dir,
            };
            match redis.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return Ok(redis),
                Err(e) => last_err = e,
            }
        }
        Err(format!("redis-server did not start: {last_err}").into())
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.proc.try_wait() {
                return Err(format!("redis-server exited with {status}"));
            }
            let out = Command::new(&self.cli)
                .args(["-p", &self.port.to_string(), "ping"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output();
            if out.is_ok_and(|o| o.stdout.starts_with(b"PONG")) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("no PONG on port {} within {timeout:?}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis-cli` connected to this server, with no other arguments yet.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(&self.cli);
        cmd.args(["-p", &self.port.to_string()]);
        cmd
    }

    /// Runs `script` through `redis-cli` and returns what it printed.
    pub fn run(&self, script: &[u8]) -> TestResult<Vec<u8>> {
        pipe(self.cli(), script, "redis-cli")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // `Child::kill` signals the process by its PID.
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// Runs `cmd` with `script` on standard input; its standard output. Fails if it exits with
/// an error status.
pub fn pipe(mut cmd: Command, script: &[u8], what: &str) -> TestResult<Vec<u8>> {
    let mut proc = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = proc.stdin.take().ok_or("stdin is piped")?;
    let script = script.to_vec();
    // Written from another thread so that a full stdout pipe cannot block both sides.
    let writer = std::thread::spawn(move || stdin.write_all(&script));
    let out = proc.wait_with_output()?;
    writer.join().map_err(|_| "writer thread panicked")??;
    if !out.status.success() {
        return Err(format!(
            "{what} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(out.stdout)
}

/// Starts a Redis server for the test named `test`, or explains how to get one; `None` when
/// skipping was asked for with `ZIGGY_NO_REDIS=1`. Without `redis-server` and `redis-cli` on
/// the `PATH` the test fails.
pub fn redis_or_skip(test: &str) -> TestResult<Option<RedisServer>> {
    let server = find_program("redis-server");
    let cli = find_program("redis-cli");
    let (Some(server), Some(cli)) = (server, cli) else {
        if std::env::var("ZIGGY_NO_REDIS").is_ok_and(|v| v == "1") {
            eprintln!("{test} skipped: ZIGGY_NO_REDIS=1");
            return Ok(None);
        }
        return Err(format!(
            "the {test} needs redis-server and redis-cli on the PATH: install them with \
             `apt-get install redis-server redis-tools` (as .ci/run does), or set \
             ZIGGY_NO_REDIS=1 to skip this test"
        )
        .into());
    };
    Ok(Some(RedisServer::start(&server, &cli)?))
}

/// One argument as redis-cli's (and ziggy's) line splitter reads it back: bare when that is
/// safe, else in double quotes with `\xHH` escapes.
pub fn quote(arg: &[u8]) -> String {
    let bare = !arg.is_empty()
        && arg
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
    if bare {
        return String::from_utf8_lossy(arg).into_owned();
    }
    let mut s = String::from("\"");
    for &b in arg {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// A command line for redis-cli or ziggy: the arguments quoted, separated by spaces.
pub fn command_line(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// A reply of the differential and property tests, compared without order: `reply` with every array's elements in one order (by their RESP encoding), a set's too, and a map's pairs.
pub fn sorted(reply: &ziggydb::commands::Reply) -> ziggydb::commands::Reply {
    match reply {
        ziggydb::commands::Reply::Set(items) => {
            match sorted(&ziggydb::commands::Reply::Array(items.clone())) {
                ziggydb::commands::Reply::Array(items) => ziggydb::commands::Reply::Set(items),
                other => other,
            }
        }
        ziggydb::commands::Reply::Map(_) => sorted_pairs(reply),
        ziggydb::commands::Reply::Array(items) => {
            let mut items: Vec<(Vec<u8>, ziggydb::commands::Reply)> = items
                .iter()
                .map(|item| {
                    let item = sorted(item);
                    let mut key = Vec::new();
                    item.encode(ziggydb::commands::Protocol::Resp2, &mut key);
                    (key, item)
                })
                .collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            ziggydb::commands::Reply::Array(items.into_iter().map(|(_, item)| item).collect())
        }
        other => other.clone(),
    }
}

/// `reply`, an array of field/value pairs (or a RESP3 map), with the pairs in one order.
pub fn sorted_pairs(reply: &ziggydb::commands::Reply) -> ziggydb::commands::Reply {
    if let ziggydb::commands::Reply::Map(pairs) = reply {
        let mut pairs: Vec<(Vec<u8>, _)> = pairs
            .iter()
            .map(|(k, v)| {
                let mut key = Vec::new();
                k.encode(ziggydb::commands::Protocol::Resp3, &mut key);
                v.encode(ziggydb::commands::Protocol::Resp3, &mut key);
                (key, (k.clone(), v.clone()))
            })
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        return ziggydb::commands::Reply::Map(pairs.into_iter().map(|(_, pair)| pair).collect());
    }
    let ziggydb::commands::Reply::Array(items) = reply else {
        return reply.clone();
    };
    let mut pairs: Vec<(Vec<u8>, &[ziggydb::commands::Reply])> = items
        .chunks(2)
        .map(|pair| {
            let mut key = Vec::new();
            for item in pair {
                item.encode(ziggydb::commands::Protocol::Resp2, &mut key);
            }
            (key, pair)
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    ziggydb::commands::Reply::Array(
        pairs
            .into_iter()
            .flat_map(|(_, pair)| pair.to_vec())
            .collect(),
    )
}
