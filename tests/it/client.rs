//! `ziggy -h HOST -p PORT`: the tool as a client of a real redis-server and a real
//! ziggy-server (one-shot commands, scripts, errors, `--pipe`, SUBSCRIBE, Ctrl-C on a
//! blocked command), and data moved in both directions: `IMPORT ... FORMAT RESP` of what
//! `EXPORT FORMAT RESP` writes, and `IMPORT redis://` from a live Redis, round-tripped
//! Redis → ZiggyDB → Redis with every key, type, member and expiry compared.
//!
//! Waits are generous (the tests run on a loaded machine) and never assert on how long
//! something took.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ziggydb::commands::{decode_reply, Reply};

use crate::util::{self, RedisServer, TestResult};

const PATIENCE: Duration = Duration::from_secs(60);

fn ziggy_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ziggy")
}

/// Runs `ziggy ARGS` with `stdin`; its output, whatever its status.
fn ziggy(args: &[&str], stdin: &[u8]) -> TestResult<Output> {
    let mut proc = Command::new(ziggy_bin())
        .args(args)
        .env_remove("ZIGGY_DIR")
        .env_remove("REDISCLI_AUTH")
        .env("ZIGGY_HISTFILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = proc.stdin.take().ok_or("stdin is piped")?;
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let out = proc.wait_with_output()?;
    // A broken pipe is fine: ziggy need not read all of its input (a one-shot command).
    let _ = writer.join().map_err(|_| "writer thread panicked")?;
    Ok(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `ziggy-server` on a free port, serving `dir`; stopped when dropped.
struct ZiggyServer {
    child: Child,
    port: u16,
}

/// The `ziggy-server` binary next to `ziggy`, built (or brought up to date) by cargo once
/// per test process: it is a package of its own, which this test binary does not build.
fn ziggy_server_bin() -> TestResult<PathBuf> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let bin_dir = Path::new(ziggy_bin())
                .parent()
                .ok_or("ziggy has no directory")?;
            let profile = bin_dir
                .file_name()
                .and_then(|p| p.to_str())
                .ok_or("no profile directory")?;
            let target_dir = bin_dir.parent().ok_or("no target directory")?;
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "ziggy-server",
                    "--bin",
                    "ziggy-server",
                ])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            match profile {
                "debug" => {}
                "release" => {
                    build.arg("--release");
                }
                other => {
                    build.args(["--profile", other]);
                }
            }
            let status = build
                .status()
                .map_err(|e| format!("cannot run cargo to build ziggy-server: {e}"))?;
            if !status.success() {
                return Err(format!("cargo build -p ziggy-server failed: {status}"));
            }
            Ok(bin_dir.join("ziggy-server"))
        })
        .clone()
        .map_err(Into::into)
}

impl ZiggyServer {
    fn start(dir: &Path, extra: &[&str]) -> TestResult<ZiggyServer> {
        let mut child = Command::new(ziggy_server_bin()?)
            .arg("--dir")
            .arg(dir)
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("stdout is piped")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("no port in ziggy-server's ready line {line:?}"))?;
        Ok(ZiggyServer { child, port })
    }
}

impl Drop for ZiggyServer {
    fn drop(&mut self) {
        // `Child::kill` signals the process by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain RESP2 connection, to check what the servers hold without `ziggy`.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(port: u16) -> TestResult<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(PATIENCE))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    fn call(&mut self, args: &[&[u8]]) -> TestResult<Reply> {
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            req.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            req.extend_from_slice(arg);
            req.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&req)?;
        loop {
            if let Some((reply, used)) = decode_reply(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn ok(&mut self, args: &[&[u8]]) -> TestResult<Reply> {
        let reply = self.call(args)?;
        if reply.is_error() {
            return Err(format!("{args:?} replied {reply:?}").into());
        }
        Ok(reply)
    }
}

/// The servers of a test: a redis-server and a ziggy-server (on its own directory).
struct Servers {
    redis: RedisServer,
    ziggy: ZiggyServer,
    ziggy_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

fn servers(test: &str) -> TestResult<Option<Servers>> {
    let Some(redis) = util::redis_or_skip(test)? else {
        return Ok(None);
    };
    let tmp = util::tempdir();
    let ziggy_dir = tmp.path().join("served.db");
    let ziggy = ZiggyServer::start(&ziggy_dir, &[])?;
    Ok(Some(Servers {
        redis,
        ziggy,
        ziggy_dir,
        _tmp: tmp,
    }))
}

impl Servers {
    /// Both servers' ports, named.
    fn ports(&self) -> [(&'static str, u16); 2] {
        [
            ("redis-server", self.redis.port()),
            ("ziggy-server", self.ziggy.port),
        ]
    }
}

fn path_str(p: &Path) -> TestResult<&str> {
    Ok(p.to_str().ok_or("path is not UTF-8")?)
}

/// `redis-cli -p PORT`, for the server on `port` (either kind).
fn redis_cli(port: u16) -> TestResult<Command> {
    let cli = util::find_program("redis-cli").ok_or("redis-cli is not on the PATH")?;
    let mut cmd = Command::new(cli);
    cmd.args(["-p", &port.to_string()]).stdin(Stdio::null());
    Ok(cmd)
}

#[test]
fn one_shot_commands_print_as_redis_cli_prints_them() -> TestResult {
    let Some(s) = servers("client mode's one-shot test")? else {
        return Ok(());
    };
    // Writes, with what they print (raw).
    let writes: &[(&[&str], &str)] = &[
        (&["SET", "greeting", "hello world"], "OK\n"),
        (&["INCR", "n"], "1\n"),
        (&["RPUSH", "l", "a", "b", "c"], "3\n"),
        (&["SET", "bin", "a\u{1}\u{7f}b \"q\""], "OK\n"),
        (&["ZADD", "z", "1.5", "m", "inf", "top"], "2\n"),
        (&["HSET", "h", "f", "v"], "1\n"),
    ];
    // Reads, printed as redis-cli prints them, to a terminal and raw.
    let reads: &[&[&str]] = &[
        &["GET", "greeting"],
        &["GET", "missing"],
        &["LRANGE", "l", "0", "-1"],
        &["LRANGE", "missing", "0", "-1"],
        &["GET", "bin"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["HGETALL", "h"],
        &["EXISTS", "l", "h", "missing"],
        &["GET", "l"],
    ];
    for (name, port) in s.ports() {
        let port_arg = port.to_string();
        for (line, printed) in writes {
            let mut args = vec!["-h", "127.0.0.1", "-p", &port_arg];
            args.extend_from_slice(line);
            let out = ziggy(&args, b"")?;
            assert_eq!(
                text(&out.stdout),
                *printed,
                "{name} {line:?}: {}",
                text(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(0), "{name} {line:?}");
        }
        for line in reads {
            for format in ["--no-raw", "--raw"] {
                let mut args = vec!["-h", "127.0.0.1", "-p", &port_arg, format];
                args.extend_from_slice(line);
                let ours = ziggy(&args, b"")?;
                let theirs = redis_cli(port)?.arg(format).args(*line).output()?;
                let what = format!("{name} {format} {line:?}: {}", text(&ours.stderr));
                let error = line[..2] == ["GET", "l"];
                let mut expected = text(&theirs.stdout);
                if error && format == "--raw" {
                    // A one-shot error is one line, as on a directory (redis-cli adds a
                    // blank line).
                    expected.pop();
                }
                assert_eq!(text(&ours.stdout), expected, "{what}");
                // An error reply is exit status 1, as for a one-shot command on a directory
                // (redis-cli exits 0).
                assert_eq!(ours.status.code(), Some(i32::from(error)), "{what}");
                if error {
                    assert!(text(&ours.stdout).contains("WRONGTYPE"), "{what}");
                }
            }
        }
    }
    // What ziggy-server wrote is in its directory: the embedded mode reads it.
    let out = ziggy(&["-d", path_str(&s.ziggy_dir)?, "GET", "greeting"], b"")?;
    assert_eq!(text(&out.stdout), "hello world\n");
    Ok(())
}

#[test]
fn scripts_on_standard_input_run_as_redis_cli_runs_them() -> TestResult {
    let Some(s) = servers("client mode's script test")? else {
        return Ok(());
    };
    let script = b"SET counter 10\nINCRBY counter 5\nGET counter\nNOSUCHCOMMAND x\n\
                   MULTI\nINCR counter\nINCR counter\nEXEC\nRPUSH q \"two words\" 'x y'\n\
                   LRANGE q 0 -1\nPING\n";
    for (name, port) in s.ports() {
        let port_arg = port.to_string();
        let _ = redis_cli(port)?.args(["DEL", "counter", "q"]).output()?;
        let ours = ziggy(&["-p", &port_arg], script)?;
        let _ = redis_cli(port)?.args(["DEL", "counter", "q"]).output()?;
        let theirs = util::pipe(redis_cli(port)?, script, "redis-cli")?;
        assert_eq!(text(&ours.stdout), text(&theirs), "{name}");
        assert!(
            text(&ours.stdout).contains("\n17\n"),
            "{name}: {}",
            text(&ours.stdout)
        );
        // A script goes on after an error and exits 0, as redis-cli's; -e stops it.
        assert_eq!(ours.status.code(), Some(0), "{name}");
        let stopped = ziggy(&["-p", &port_arg, "-e"], script)?;
        assert_eq!(stopped.status.code(), Some(1), "{name}");
        assert!(!text(&stopped.stdout).contains("PONG"), "{name}");
        // The -r repeat and the shell's leading count work too.
        let out = ziggy(&["-p", &port_arg, "-r", "3", "INCR", "rep"], b"")?;
        assert_eq!(text(&out.stdout), "1\n2\n3\n", "{name}");
        let out = ziggy(&["-p", &port_arg], b"2 INCR rep\n")?;
        assert_eq!(text(&out.stdout), "4\n5\n", "{name}");
    }
    Ok(())
}

#[test]
fn client_mode_errors_are_redis_clis_and_bad_options_exit_2() -> TestResult {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let out = ziggy(
        &["-h", "127.0.0.1", "-p", &port.to_string(), "GET", "a"],
        b"",
    )?;
    assert_eq!(
        text(&out.stderr),
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n")
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "-h is the host, not the help");
    // A script and --pipe fail the same way.
    let out = ziggy(&["-p", &port.to_string()], b"PING\n")?;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("Could not connect to Redis at 127.0.0.1:"));
    let out = ziggy(&["-p", &port.to_string(), "--pipe"], b"PING\r\n")?;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("Could not connect to Redis at 127.0.0.1:"));
    let tmp = util::tempdir();
    let sock = tmp.path().join("none.sock");
    let out = ziggy(&["-s", path_str(&sock)?, "PING"], b"")?;
    assert_eq!(
        text(&out.stderr),
        format!(
            "Could not connect to Redis at {}: No such file or directory\n",
            sock.display()
        )
    );
    // A directory and a server together, and a server's options without a server: exit 2.
    let dir = tmp.path().join("db");
    for args in [
        &["-d", path_str(&dir)?, "-h", "127.0.0.1", "PING"][..],
        &["-p", "1", "--durability", "batched", "PING"],
        &["-a", "secret", "PING"],
        &["-p", "1", "-u", "http://x", "PING"],
    ] {
        let out = ziggy(args, b"")?;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!dir.exists(), "nothing is created");
    // IMPORT redis:// is the tool's one-shot command: a script (and so the library, and a
    // server on it) refuses it rather than connect anywhere.
    let db = tmp.path().join("imported");
    let url = format!("redis://127.0.0.1:{port}");
    let out = ziggy(
        &["-d", path_str(&db)?],
        format!("IMPORT {url}\n").as_bytes(),
    )?;
    assert_eq!(
        text(&out.stdout),
        "ERR IMPORT redis://HOST:PORT works only as a one-shot command: ziggy -d DIR IMPORT \
         redis://HOST:PORT\n\n"
    );
    let out = ziggy(&["-d", path_str(&db)?, "IMPORT", &url], b"")?;
    assert_eq!(
        text(&out.stderr),
        format!("Could not connect to Redis at 127.0.0.1:{port}: Connection refused\n")
    );
    assert_eq!(out.status.code(), Some(1));
    // --help is still the help.
    let out = ziggy(&["--help"], b"")?;
    assert!(
        text(&out.stdout).contains("-h <HOSTNAME>"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(0));
    Ok(())
}

#[test]
fn a_password_is_sent_with_auth_and_a_wrong_one_is_an_error() -> TestResult {
    let tmp = util::tempdir();
    let server = ZiggyServer::start(&tmp.path().join("db"), &["--requirepass", "s3cret"])?;
    let port = server.port.to_string();
    let out = ziggy(&["-p", &port, "-a", "s3cret", "SET", "k", "v"], b"")?;
    assert_eq!(text(&out.stdout), "OK\n", "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("Warning: Using a password"));
    let out = ziggy(
        &["-p", &port, "-a", "s3cret", "--no-auth-warning", "GET", "k"],
        b"",
    )?;
    assert_eq!(
        (text(&out.stdout).as_str(), text(&out.stderr).as_str()),
        ("v\n", "")
    );
    let out = ziggy(
        &[
            "-u",
            &format!("redis://:s3cret@127.0.0.1:{port}"),
            "GET",
            "k",
        ],
        b"",
    )?;
    assert_eq!(text(&out.stdout), "v\n");
    let out = ziggy(&["-p", &port, "-a", "wrong", "GET", "k"], b"")?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("AUTH failed: "),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let out = ziggy(&["-p", &port, "GET", "k"], b"")?;
    assert!(
        text(&out.stdout).starts_with("NOAUTH"),
        "{}",
        text(&out.stdout)
    );
    Ok(())
}

#[test]
fn pipe_mode_sends_the_protocol_and_counts_the_replies() -> TestResult {
    let Some(s) = servers("client mode's --pipe test")? else {
        return Ok(());
    };
    let mut input = Vec::new();
    for i in 0..2000 {
        let (k, v) = (format!("pk{i}"), format!("v{i}"));
        input.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    input.extend_from_slice(b"RPUSH pl inline\r\nINCR pk1\r\n*2\r\n$4\r\nLLEN\r\n$2\r\npl");
    for (name, port) in s.ports() {
        let out = ziggy(&["-p", &port.to_string(), "--pipe"], &input)?;
        assert_eq!(
            text(&out.stdout),
            "All data transferred. Waiting for the last reply...\nLast reply received from \
             server.\nerrors: 1, replies: 2003\n",
            "{name}"
        );
        assert!(
            text(&out.stderr).contains("not an integer"),
            "{name}: {}",
            text(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        let mut conn = Conn::connect(port)?;
        assert_eq!(
            conn.ok(&[b"GET", b"pk1999"])?,
            Reply::Bulk(b"v1999".to_vec()),
            "{name}"
        );
        assert_eq!(conn.ok(&[b"LLEN", b"pl"])?, Reply::Int(1), "{name}");
    }
    Ok(())
}

/// Reads `child`'s standard output a line at a time on a thread.
fn lines_of(child: &mut Child) -> TestResult<mpsc::Receiver<String>> {
    let stdout = child.stdout.take().ok_or("stdout is piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

fn spawn_ziggy(args: &[&str]) -> TestResult<Child> {
    Ok(Command::new(ziggy_bin())
        .args(args)
        .env("ZIGGY_HISTFILE", "/dev/null")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}

fn signal(child: &Child, sig: libc::c_int) -> TestResult {
    let pid = libc::pid_t::try_from(child.id())?;
    // SAFETY: kill(2) with the PID of a child this test started and has not waited for.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

fn wait_exit(child: &mut Child) -> TestResult<std::process::ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("ziggy did not exit".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn subscribe_prints_each_message_published_by_another_client() -> TestResult {
    let Some(s) = servers("client mode's SUBSCRIBE test")? else {
        return Ok(());
    };
    for (name, port) in s.ports() {
        let port_arg = port.to_string();
        let mut sub = spawn_ziggy(&["-p", &port_arg, "SUBSCRIBE", "news", "sport"])?;
        let lines = lines_of(&mut sub)?;
        let mut seen = Vec::new();
        let next = |seen: &mut Vec<String>| -> TestResult<String> {
            let line = lines
                .recv_timeout(PATIENCE)
                .map_err(|_| format!("{name}: no more output after {seen:?}"))?;
            seen.push(line.clone());
            Ok(line)
        };
        for expected in ["subscribe", "news", "1", "subscribe", "sport", "2"] {
            assert_eq!(next(&mut seen)?, expected, "{name}");
        }
        // Subscribed on both channels: a message published by another client reaches it.
        let mut publisher = Conn::connect(port)?;
        assert_eq!(
            publisher.ok(&[b"PUBLISH", b"sport", b"goal!"])?,
            Reply::Int(1),
            "{name}"
        );
        assert_eq!(
            publisher.ok(&[b"PUBLISH", b"news", b"two words"])?,
            Reply::Int(1)
        );
        for expected in ["message", "sport", "goal!", "message", "news", "two words"] {
            assert_eq!(next(&mut seen)?, expected, "{name}");
        }
        // Ctrl-C ends it, as it ends redis-cli.
        signal(&sub, libc::SIGINT)?;
        let status = wait_exit(&mut sub)?;
        assert!(!status.success(), "{name}: {status}");
    }
    Ok(())
}

#[test]
fn ctrl_c_ends_a_blocked_command_and_the_server_forgets_it() -> TestResult {
    let Some(redis) = util::redis_or_skip("client mode's Ctrl-C test")? else {
        return Ok(());
    };
    let port = redis.port();
    let mut conn = Conn::connect(port)?;
    let blocked = |conn: &mut Conn| -> TestResult<bool> {
        let Reply::Bulk(info) = conn.ok(&[b"INFO", b"clients"])? else {
            return Err("INFO is not a string".into());
        };
        Ok(!text(&info).contains("blocked_clients:0"))
    };
    let mut child = spawn_ziggy(&["-p", &port.to_string(), "BLPOP", "jobs", "0"])?;
    let deadline = Instant::now() + PATIENCE;
    while !blocked(&mut conn)? {
        assert!(Instant::now() < deadline, "ziggy's BLPOP never blocked");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGINT)?;
    let status = wait_exit(&mut child)?;
    assert_eq!(status.code(), Some(130));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .ok_or("stderr")?
        .read_to_string(&mut stderr)?;
    assert_eq!(stderr, "ziggy: interrupted\n");
    // The connection is gone, and its BLPOP with it: a push stays in the list.
    let deadline = Instant::now() + PATIENCE;
    while blocked(&mut conn)? {
        assert!(
            Instant::now() < deadline,
            "the BLPOP stayed blocked on the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    conn.ok(&[b"RPUSH", b"jobs", b"j1"])?;
    assert_eq!(conn.ok(&[b"LLEN", b"jobs"])?, Reply::Int(1));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Moving data in: IMPORT FORMAT RESP, and IMPORT redis://

/// A database with every type, binary keys and members, special scores and expiries.
fn fill(db: &ziggydb::Db) -> TestResult {
    use ziggydb::commands::{as_args, execute_in};
    let far = (util::now_ms() + 3_600_000).to_string();
    let lines: Vec<Vec<Vec<u8>>> = vec![
        vec![b"SET".to_vec(), b"s".to_vec(), b"plain".to_vec()],
        vec![
            b"SET".to_vec(),
            b"k\xff\x00".to_vec(),
            b"v\r\n\x00\xfe".to_vec(),
        ],
        vec![b"SET".to_vec(), b"empty".to_vec(), Vec::new()],
        vec![
            b"SET".to_vec(),
            b"ttl".to_vec(),
            b"x".to_vec(),
            b"PXAT".to_vec(),
            far.clone().into_bytes(),
        ],
        vec![
            b"RPUSH".to_vec(),
            b"l".to_vec(),
            b"a".to_vec(),
            b"a".to_vec(),
            b"\x00b".to_vec(),
        ],
        vec![
            b"SADD".to_vec(),
            b"set".to_vec(),
            b"x".to_vec(),
            b"y\xff".to_vec(),
        ],
        vec![
            b"ZADD".to_vec(),
            b"z".to_vec(),
            b"0.1".to_vec(),
            b"a".to_vec(),
            b"inf".to_vec(),
            b"b".to_vec(),
            b"-inf".to_vec(),
            b"c".to_vec(),
            b"1e300".to_vec(),
            b"d".to_vec(),
            b"-2.5".to_vec(),
            b"e".to_vec(),
        ],
        vec![
            b"HSET".to_vec(),
            b"h".to_vec(),
            b"f".to_vec(),
            b"v".to_vec(),
            b"g\x00".to_vec(),
            b"w".to_vec(),
        ],
        vec![b"PEXPIREAT".to_vec(), b"h".to_vec(), far.into_bytes()],
    ];
    let mut tx = db.begin_write()?;
    for line in &lines {
        let reply = execute_in(db, &mut tx, &as_args(line));
        if reply.is_error() {
            return Err(format!("{line:?}: {reply:?}").into());
        }
    }
    // A list bigger than an import batch.
    let big: Vec<String> = (0..2500).map(|i| format!("item{i}")).collect();
    let mut rpush: Vec<&[u8]> = vec![b"RPUSH", b"big"];
    rpush.extend(big.iter().map(|s| s.as_bytes()));
    assert!(!execute_in(db, &mut tx, &rpush).is_error());
    tx.commit()?;
    Ok(())
}

fn export_resp(db: &ziggydb::Db) -> TestResult<Vec<u8>> {
    let mut out = Vec::new();
    db.export(ziggydb::ExportFormat::Resp, &mut out)?;
    Ok(out)
}

#[test]
fn import_format_resp_loads_what_export_format_resp_wrote() -> TestResult {
    let tmp = util::tempdir();
    let a = ziggydb::Db::open(tmp.path().join("a"))?;
    fill(&a)?;
    let dump = export_resp(&a)?;
    // The library.
    let b = ziggydb::Db::open(tmp.path().join("b"))?;
    let stats = b.import_resp(std::io::Cursor::new(&dump))?;
    assert_eq!(export_resp(&b)?, dump);
    // DEL and a write per key, and PEXPIREAT for the two that expire.
    assert_eq!(stats.commands, 9 * 2 + 2 + 2);
    drop(b);
    // The command, from a file and from standard input (a file and a pipe).
    let file = tmp.path().join("dump.resp");
    std::fs::write(&file, &dump)?;
    for (dir, args, stdin) in [
        (
            "c",
            vec!["IMPORT", path_str(&file)?, "FORMAT", "RESP"],
            Vec::new(),
        ),
        ("d", vec!["IMPORT", "-", "FORMAT", "resp"], dump.clone()),
    ] {
        let dir = tmp.path().join(dir);
        let mut full = vec!["-d", path_str(&dir)?];
        full.extend(args);
        let out = ziggy(&full, &stdin)?;
        assert_eq!(text(&out.stdout), "22\n", "{}", text(&out.stderr));
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(export_resp(&ziggydb::Db::open(&dir)?)?, dump);
    }
    let dir = tmp.path().join("e");
    let out = Command::new(ziggy_bin())
        .args(["-d", path_str(&dir)?, "IMPORT", "-", "FORMAT", "RESP"])
        .stdin(std::fs::File::open(&file)?)
        .output()?;
    assert_eq!(text(&out.stdout), "22\n", "{}", text(&out.stderr));
    assert_eq!(export_resp(&ziggydb::Db::open(&dir)?)?, dump);
    Ok(())
}

#[test]
fn import_format_resp_takes_what_redis_cli_pipe_sends() -> TestResult {
    let tmp = util::tempdir();
    let db = ziggydb::Db::open(tmp.path().join("db"))?;
    // Multibulk and inline commands, CRLF or LF, blank lines, no newline at the end.
    let input = b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$3\r\n1\n2\r\n\r\nRPUSH q x \"y z\"\nINCR n\r\n\nHSET h f v";
    let stats = db.import_resp(std::io::Cursor::new(&input[..]))?;
    assert_eq!(stats.commands, 4);
    assert_eq!(db.get(b"a")?.as_deref(), Some(&b"1\n2"[..]));
    assert_eq!(
        db.list(b"q").range(0, -1)?,
        [b"x".to_vec(), b"y z".to_vec()]
    );
    let mut session = ziggydb::commands::Session::new(&db, ziggydb::commands::Policy::trusted());
    assert_eq!(session.execute(&[b"GET", b"n"]), Reply::Bulk(b"1".to_vec()));
    assert_eq!(db.hash(b"h").get(b"f")?.as_deref(), Some(&b"v"[..]));
    Ok(())
}

#[test]
fn import_format_resp_checks_every_command_before_it_writes() -> TestResult {
    let tmp = util::tempdir();
    let db = ziggydb::Db::open(tmp.path().join("db"))?;
    let cases: [(&[u8], &str); 7] = [
        (
            b"SET a 1\nSET b 2\nNOSUCH x\n",
            "import file line 3: unknown command 'NOSUCH'",
        ),
        (
            b"SET a 1\n\nSET b\n",
            "import file line 3: ERR wrong number of arguments for 'set' command",
        ),
        (
            b"SET a 1\nCOMPACT\n",
            "import file line 2: COMPACT cannot run in an import",
        ),
        (
            b"SET a 1\nMULTI\n",
            "import file line 2: MULTI cannot run in an import",
        ),
        (
            b"SET a 1\nSET b \"open\n",
            "import file line 2: Protocol error: unbalanced quotes",
        ),
        // A length no transaction could hold is refused when its header is read: the
        // bytes it announces are never read or allocated.
        (
            b"SET a 1\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$400000000\r\nxyz",
            "import file line 2: a command declares 400000",
        ),
        (
            b"SET a 1\r\n*2\r\n$3\r\nGET\r\n$5\r\nab",
            "import file line 2: the file ends in the middle of a command",
        ),
    ];
    for (input, says) in cases {
        let err = db.import_resp(std::io::Cursor::new(input)).unwrap_err();
        assert_eq!(
            err.code(),
            ziggydb::ErrorCode::BadImportLine as i32,
            "{err}"
        );
        assert!(err.to_string().starts_with(says), "{err}\nexpected: {says}");
        assert_eq!(db.keys()?.len(), 0, "nothing is written: {says}");
    }
    // A command that fails as it runs ends the import; its batch is not written.
    let err = db
        .import_resp(std::io::Cursor::new(&b"SET a 1\nRPUSH a x\nSET c 3\n"[..]))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("import file line 2: RPUSH failed: WRONGTYPE"),
        "{err}"
    );
    assert_eq!(db.keys()?.len(), 0);
    // The same from the tool: one line, exit status 1.
    let file = tmp.path().join("bad.resp");
    std::fs::write(&file, b"SET a 1\nSET b\n")?;
    let out = ziggy(
        &[
            "-d",
            path_str(&tmp.path().join("db2"))?,
            "IMPORT",
            path_str(&file)?,
            "FORMAT",
            "RESP",
        ],
        b"",
    )?;
    assert_eq!(
        text(&out.stdout),
        "ERR import file line 2: ERR wrong number of arguments for 'set' command\n"
    );
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}

/// A key, its type, its value and its expiry time, as a server replies them.
type KeyState = (Vec<u8>, Reply, Reply, Reply);

/// Every key of the server on `port` (a RESP2 connection), with what it holds: its type,
/// its value (sets and hashes in one order) and its expiry time.
fn snapshot(port: u16) -> TestResult<Vec<KeyState>> {
    let mut conn = Conn::connect(port)?;
    let mut keys = Vec::new();
    let mut cursor = b"0".to_vec();
    loop {
        let Reply::Array(mut page) = conn.ok(&[b"SCAN", &cursor, b"COUNT", b"500"])? else {
            return Err("SCAN is not an array".into());
        };
        let (Some(Reply::Array(found)), Some(Reply::Bulk(next))) = (page.pop(), page.pop()) else {
            return Err("SCAN's shape".into());
        };
        for key in found {
            if let Reply::Bulk(key) = key {
                keys.push(key);
            }
        }
        if next == b"0" {
            break;
        }
        cursor = next;
    }
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let ty = conn.ok(&[b"TYPE", &key])?;
        let value = match &ty {
            Reply::Status(t) if t == "string" => conn.ok(&[b"GET", &key])?,
            Reply::Status(t) if t == "list" => conn.ok(&[b"LRANGE", &key, b"0", b"-1"])?,
            Reply::Status(t) if t == "set" => util::sorted(&conn.ok(&[b"SMEMBERS", &key])?),
            Reply::Status(t) if t == "zset" => {
                conn.ok(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"])?
            }
            Reply::Status(t) if t == "hash" => util::sorted_pairs(&conn.ok(&[b"HGETALL", &key])?),
            other => other.clone(),
        };
        let expiry = conn.ok(&[b"PEXPIRETIME", &key])?;
        out.push((key, ty, value, expiry));
    }
    Ok(out)
}

#[test]
fn a_redis_database_round_trips_through_ziggydb_with_every_key_member_and_expiry() -> TestResult {
    let Some(source) = util::redis_or_skip("the Redis round-trip test")? else {
        return Ok(());
    };
    let Some(target) = util::redis_or_skip("the Redis round-trip test")? else {
        return Ok(());
    };
    let mut conn = Conn::connect(source.port())?;
    let far = (util::now_ms() + 3_600_000).to_string();
    let far2 = (util::now_ms() + 7_200_000).to_string();
    let big_list: Vec<String> = (0..2500).map(|i| format!("e{}", i % 7)).collect();
    let big_members: Vec<String> = (0..2500).map(|i| format!("m{i}")).collect();
    let setup: Vec<Vec<&[u8]>> = vec![
        vec![b"SET", b"s", b"plain"],
        vec![b"SET", b"bin\xff\x00key", b"v\r\n\x00\xfe"],
        vec![b"SET", b"empty", b""],
        vec![b"SET", b"n", b"12345"],
        vec![b"SET", b"ttl", b"x", b"PXAT", far.as_bytes()],
        vec![b"RPUSH", b"l", b"a", b"a", b"\x00b"],
        vec![b"SADD", b"set", b"x", b"y\xff", b"1"],
        vec![
            b"ZADD", b"z", b"0.1", b"a", b"inf", b"b", b"-inf", b"c", b"1e300", b"d", b"-2.5",
            b"e", b"3", b"f",
        ],
        vec![b"HSET", b"h", b"f", b"v", b"g\x00", b"w"],
        vec![b"PEXPIREAT", b"h", far2.as_bytes()],
        vec![b"PEXPIREAT", b"z", far.as_bytes()],
        vec![b"XADD", b"stream", b"*", b"a", b"1"],
    ];
    for line in &setup {
        conn.ok(line)?;
    }
    // Collections bigger than a read (1000 members) and an import batch.
    for (cmd, key) in [(&b"RPUSH"[..], &b"biglist"[..]), (b"SADD", b"bigset")] {
        let mut args: Vec<&[u8]> = vec![cmd, key];
        args.extend(
            if cmd == b"RPUSH" {
                &big_list
            } else {
                &big_members
            }
            .iter()
            .map(|s| s.as_bytes()),
        );
        conn.ok(&args)?;
    }
    let scores: Vec<String> = (0..2500).map(|i| format!("{}.25", i * 3)).collect();
    let mut zadd: Vec<&[u8]> = vec![b"ZADD", b"bigz"];
    let mut hset: Vec<&[u8]> = vec![b"HSET", b"bigh"];
    for (m, s) in big_members.iter().zip(&scores) {
        zadd.extend([s.as_bytes(), m.as_bytes()]);
        hset.extend([m.as_bytes(), s.as_bytes()]);
    }
    conn.ok(&zadd)?;
    conn.ok(&hset)?;
    // Many small keys: several SCAN pages and import windows.
    let many: Vec<String> = (0..1500).map(|i| format!("key:{i}")).collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for k in &many {
        mset.extend([k.as_bytes(), k.as_bytes()]);
    }
    conn.ok(&mset)?;

    // Redis → ZiggyDB.
    let tmp = util::tempdir();
    let dir = tmp.path().join("db");
    let url = format!("redis://127.0.0.1:{}", source.port());
    let out = ziggy(&["-d", path_str(&dir)?, "IMPORT", &url], b"")?;
    // The 9 small keys but the stream, 4 big ones and the 1500.
    let keys = 9 + 4 + 1500;
    assert_eq!(
        text(&out.stdout),
        format!("{keys}\n"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stderr),
        "ziggy: skipped 1 key of type stream, which ZiggyDB does not have\n"
    );
    assert_eq!(out.status.code(), Some(0));
    let out = ziggy(&["-d", path_str(&dir)?, "DBSIZE"], b"")?;
    assert_eq!(text(&out.stdout), format!("{keys}\n"));

    // ZiggyDB → Redis: EXPORT FORMAT RESP piped into redis-cli --pipe, and into ziggy's
    // own --pipe as a client.
    let dump = ziggy(
        &["-d", path_str(&dir)?, "EXPORT", "-", "FORMAT", "RESP"],
        b"",
    )?;
    assert_eq!(dump.status.code(), Some(0), "{}", text(&dump.stderr));
    let mut expected = snapshot(source.port())?;
    expected.retain(|(key, ..)| key != b"stream");
    assert_eq!(expected.len(), keys);
    let mut cli = target.cli();
    cli.arg("--pipe");
    let piped = util::pipe(cli, &dump.stdout, "redis-cli --pipe")?;
    assert!(text(&piped).contains("errors: 0,"), "{}", text(&piped));
    let got = snapshot(target.port())?;
    assert_eq!(got.len(), expected.len());
    for (got, want) in got.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    Conn::connect(target.port())?.ok(&[b"FLUSHALL"])?;
    let out = ziggy(&["-p", &target.port().to_string(), "--pipe"], &dump.stdout)?;
    assert!(
        text(&out.stdout).contains("errors: 0,"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(snapshot(target.port())?, expected);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The shell, through a pseudo-terminal made by util-linux `script`

/// `ziggy ARGS` in a pseudo-terminal, with what it printed so far collected by a thread.
struct Pty {
    proc: Child,
    stdin: std::process::ChildStdin,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    seen: usize,
}

impl Pty {
    fn start(args: &[&str], home: &Path) -> TestResult<Pty> {
        if Command::new("script").arg("--version").output().is_err() {
            return Err("the shell tests need util-linux `script` (Debian: bsdutils)".into());
        }
        // `exec`: the shell that `script` runs must not see the Ctrl-C too.
        let command = format!("exec '{}' {}", ziggy_bin(), args.join(" "));
        let mut proc = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("TERM", "xterm")
            .env("SHELL", "/bin/sh")
            .env("HOME", home)
            .env_remove("ZIGGY_HISTFILE")
            .env_remove("ZIGGY_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = proc.stdin.take().ok_or("stdin is piped")?;
        let mut stdout = proc.stdout.take().ok_or("stdout is piped")?;
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Ok(Pty {
            proc,
            stdin,
            output,
            seen: 0,
        })
    }

    /// Waits until `text` appears after what earlier expectations used up.
    fn expect(&mut self, text: &str) -> TestResult {
        let deadline = Instant::now() + PATIENCE;
        loop {
            {
                let out = self.output.lock().unwrap();
                let rest = &out[self.seen.min(out.len())..];
                if let Some(at) = rest.windows(text.len()).position(|w| w == text.as_bytes()) {
                    self.seen += at + text.len();
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "no {text:?} in the shell's output after {:?}",
                        String::from_utf8_lossy(rest)
                    )
                    .into());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, keys: &str) -> TestResult {
        self.stdin.write_all(keys.as_bytes())?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Ctrl-D at an empty prompt; waits for the shell to exit successfully.
    fn exit(mut self) -> TestResult {
        self.send("\x04")?;
        let status = wait_exit(&mut self.proc)?;
        assert!(status.success(), "the shell exited with {status}");
        Ok(())
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.proc.try_wait() {
            let _ = self.proc.kill();
            let _ = self.proc.wait();
        }
    }
}

#[test]
fn the_shell_shows_redis_clis_prompt_hints_and_goes_on_after_ctrl_c() -> TestResult {
    let Some(redis) = util::redis_or_skip("client mode's shell test")? else {
        return Ok(());
    };
    let tmp = util::tempdir();
    let port = redis.port().to_string();
    let prompt = format!("127.0.0.1:{port}");
    let mut sh = Pty::start(&["-h", "127.0.0.1", "-p", &port], tmp.path())?;
    sh.expect(&format!("{prompt}> "))?;
    sh.send("SET greeting hi\r")?;
    sh.expect("OK")?;
    sh.expect(&format!("{prompt}> "))?;
    sh.send("MULTI\r")?;
    sh.expect(&format!("{prompt}(TX)> "))?;
    sh.send("INCR n\r")?;
    sh.expect("QUEUED")?;
    sh.send("EXEC\r")?;
    sh.expect("1) (integer) 1")?;
    sh.expect(&format!("{prompt}> "))?;
    sh.send("SELECT 2\r")?;
    sh.expect(&format!("{prompt}[2]> "))?;
    // A hint shows the arguments still to type, in grey, as on a directory.
    sh.send("INCRBY ")?;
    sh.expect("\x1b[90mkey increment")?;
    sh.send("\x03")?;
    sh.expect(&format!("{prompt}[2]> "))?;
    // Ctrl-C ends a blocked BLPOP; the shell connects again, to the same database.
    sh.send("BLPOP jobs 0\r")?;
    let mut conn = Conn::connect(redis.port())?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let Reply::Bulk(info) = conn.ok(&[b"INFO", b"clients"])? else {
            return Err("INFO is not a string".into());
        };
        if !text(&info).contains("blocked_clients:0") {
            break;
        }
        assert!(Instant::now() < deadline, "BLPOP never blocked");
        std::thread::sleep(Duration::from_millis(20));
    }
    sh.send("\x03")?;
    sh.expect("(interrupted)")?;
    sh.expect(&format!("{prompt}[2]> "))?;
    sh.send("SET in2 yes\r")?;
    sh.expect("OK")?;
    assert_eq!(conn.ok(&[b"SELECT", b"2"])?, Reply::Status("OK".into()));
    assert_eq!(conn.ok(&[b"GET", b"in2"])?, Reply::Bulk(b"yes".to_vec()));
    sh.exit()?;
    let history = std::fs::read_to_string(tmp.path().join(".ziggy_history"))?;
    assert!(
        history.lines().any(|l| l == "SET greeting hi"),
        "{history:?}"
    );
    Ok(())
}

/// The largest resident set, in bytes, of the children this test process has waited for.
fn children_max_rss() -> TestResult<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage(2) fills the rusage struct it is given, which lives on this frame;
    // it is zeroed before, so it is initialized whatever the call does.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: zeroed above and filled by the kernel: every field is initialized.
    let usage = unsafe { usage.assume_init() };
    Ok(u64::try_from(usage.ru_maxrss)? * 1024)
}

#[test]
fn an_import_of_big_collections_keeps_its_transactions_small() -> TestResult {
    // 40 collections of 5,000 members, written 1000 members a command and interleaved:
    // 200,000 members, 4 MB of arguments. In one transaction they held some 30 times
    // that in tree pages; in transactions of 1 MiB of arguments the import stays small.
    let tmp = util::tempdir();
    let file = tmp.path().join("collections.resp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for chunk in 0..5 {
        for c in 0..10 {
            let members: Vec<String> = (chunk * 1000..(chunk + 1) * 1000)
                .map(|i| format!("m{i}"))
                .collect();
            let line = |cmd: &str, key: String, pairs: bool| -> String {
                let mut s = format!("{cmd} {key}");
                for (i, m) in members.iter().enumerate() {
                    if pairs {
                        s.push_str(&format!(" {} {m}", chunk * 1000 + i));
                    } else {
                        s.push_str(&format!(" {m}"));
                    }
                }
                s.push('\n');
                s
            };
            out.write_all(line("RPUSH", format!("list:{c}"), false).as_bytes())?;
            out.write_all(line("SADD", format!("set:{c}"), false).as_bytes())?;
            out.write_all(line("ZADD", format!("z:{c}"), true).as_bytes())?;
            out.write_all(line("HSET", format!("h:{c}"), true).as_bytes())?;
        }
    }
    out.flush()?;
    drop(out);
    let dir = tmp.path().join("db");
    let out = ziggy(
        &[
            "-d",
            path_str(&dir)?,
            "IMPORT",
            path_str(&file)?,
            "FORMAT",
            "RESP",
        ],
        b"",
    )?;
    assert_eq!(text(&out.stdout), "200\n", "{}", text(&out.stderr));
    let rss = children_max_rss()?;
    eprintln!("import peak RSS {} MB", rss >> 20);
    assert!(
        rss < 80 << 20,
        "the import's resident set reached {} MB",
        rss >> 20
    );
    let db = ziggydb::Db::open(&dir)?;
    assert_eq!(db.list(b"list:9").len()?, 5000);
    Ok(())
}
