//! `ziggy-server` over raw RESP: real server processes on free ports, real sockets.
//!
//! Each test starts its own servers (`--port 0`, the port read back from the ready line) on
//! a temporary directory, and waits with generous timeouts: the tests run on a loaded
//! machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ziggydb::commands::{decode_reply, Policy, Reply, Session};

/// How long any single wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ziggy-server"))
            .arg("--dir")
            .arg(dir)
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ziggy-server starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the ready line");
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the ready line {line:?}"));
        Server { child, port }
    }

    fn connect(&self) -> Conn {
        Conn::tcp(self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kb * 1024
    }

    fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// Waits for the process to end; its exit status.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Conn {
    stream: Box<dyn ReadWrite>,
    buf: Vec<u8>,
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

impl Conn {
    fn tcp(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn send_cmd(&mut self, args: &[&[u8]]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.send(&out);
    }

    /// The next reply, or `None` if the server closed the connection first.
    fn try_reply(&mut self) -> Option<Reply> {
        loop {
            if let Some((reply, used)) = decode_reply(&self.buf).expect("a valid reply") {
                self.buf.drain(..used);
                return Some(reply);
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn reply(&mut self) -> Reply {
        self.try_reply()
            .expect("a reply before the connection closed")
    }

    fn cmd(&mut self, args: &[&str]) -> Reply {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.send_cmd(&args);
        self.reply()
    }

    /// True once the server has closed the connection (after any replies still unread).
    fn closed(&mut self) -> bool {
        while self.try_reply().is_some() {}
        true
    }
}

fn bulk(s: &str) -> Reply {
    Reply::bulk(s)
}

fn status(s: &str) -> Reply {
    Reply::Status(s.into())
}

fn error_text(r: &Reply) -> String {
    match r {
        Reply::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn pipelined_multibulk_and_inline_requests_are_answered_in_order() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &[]);
    let mut c = server.connect();
    let mut out = Vec::new();
    for i in 0..300 {
        if i % 2 == 0 {
            out.extend_from_slice(format!("SET k{i} \"v {i}\"\r\n").as_bytes());
        } else {
            let k = format!("k{i}");
            let v = format!("v {i}");
            out.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                    k.len(),
                    v.len()
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(format!("GET k{i}\r\n").as_bytes());
    }
    out.extend_from_slice(b"INCR n\r\nINCR n\r\n\r\nPING\r\n");
    c.send(&out);
    for i in 0..300 {
        assert_eq!(c.reply(), status("OK"), "SET k{i}");
        assert_eq!(c.reply(), bulk(&format!("v {i}")), "GET k{i}");
    }
    assert_eq!(c.reply(), Reply::Int(1));
    assert_eq!(c.reply(), Reply::Int(2));
    assert_eq!(c.reply(), status("PONG"));
    assert_eq!(c.cmd(&["ECHO", "hi"]), bulk("hi"));
}

#[test]
fn multi_exec_and_watch_per_connection() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &[]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.cmd(&["MULTI"]), status("OK"));
    assert_eq!(a.cmd(&["SET", "x", "1"]), status("QUEUED"));
    assert_eq!(a.cmd(&["INCR", "x"]), status("QUEUED"));
    // Another connection is not inside a's transaction.
    assert_eq!(b.cmd(&["GET", "x"]), Reply::Nil);
    assert_eq!(
        a.cmd(&["EXEC"]),
        Reply::Array(vec![status("OK"), Reply::Int(2)])
    );
    assert_eq!(a.cmd(&["WATCH", "x"]), status("OK"));
    assert_eq!(b.cmd(&["SET", "x", "changed"]), status("OK"));
    assert_eq!(a.cmd(&["MULTI"]), status("OK"));
    assert_eq!(a.cmd(&["SET", "x", "mine"]), status("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]), Reply::NilArray);
    assert_eq!(b.cmd(&["GET", "x"]), bulk("changed"));
}

#[test]
fn a_password_is_required_before_anything_else() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &["--requirepass", "s3cret"]);
    let mut c = server.connect();
    assert!(error_text(&c.cmd(&["GET", "k"])).starts_with("NOAUTH"));
    assert!(error_text(&c.cmd(&["AUTH", "wrong"])).starts_with("WRONGPASS"));
    assert!(error_text(&c.cmd(&["AUTH", "other", "s3cret"])).starts_with("WRONGPASS"));
    assert!(error_text(&c.cmd(&["HELLO", "3"])).starts_with("NOAUTH"));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), status("OK"));
    assert_eq!(c.cmd(&["SET", "k", "v"]), status("OK"));
    // RESET signs the connection out again.
    assert_eq!(c.cmd(&["RESET"]), status("RESET"));
    assert!(error_text(&c.cmd(&["GET", "k"])).starts_with("NOAUTH"));

    // HELLO with AUTH signs in and switches to RESP3 at once.
    let mut h = server.connect();
    let hello = h.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "me"]);
    assert!(
        matches!(hello, Reply::Map(_)),
        "HELLO 3 replies a map: {hello:?}"
    );
    h.send(b"*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n");
    assert_eq!(h.reply(), bulk("me"));
    // In RESP3 CONFIG GET replies a map: its bytes on the wire say which protocol is spoken.
    let mut raw = [0u8; 64];
    h.send(b"CONFIG GET port\r\n");
    let n = h.stream.read(&mut raw).expect("read");
    assert!(
        raw[..n].starts_with(b"%1\r\n"),
        "a RESP3 map: {:?}",
        &raw[..n]
    );
}

#[test]
fn malformed_requests_get_an_error_and_a_closed_connection() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &[]);
    let cases: [(&[u8], &str); 5] = [
        (b"*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
        (
            b"*1\r\n$99999999999\r\n",
            "Protocol error: invalid bulk length",
        ),
        (
            b"*99999999999\r\n",
            "Protocol error: invalid multibulk length",
        ),
        (b"*1\r\nGET\r\n", "Protocol error: expected '$'"),
        (
            b"SET \"a b\r\n",
            "Protocol error: unbalanced quotes in request",
        ),
    ];
    for (bytes, expected) in cases {
        let mut c = server.connect();
        // Whatever came before the bad request is answered first.
        c.send(b"PING\r\n");
        c.send(bytes);
        assert_eq!(c.reply(), status("PONG"));
        let text = error_text(&c.reply());
        assert!(text.contains(expected), "{bytes:?}: {text}");
        assert!(c.closed());
    }
    // The server goes on serving.
    assert_eq!(server.connect().cmd(&["PING"]), status("PONG"));
}

#[test]
fn an_unfinished_request_over_the_query_buffer_limit_closes_the_client() {
    let dir = tempdir();
    let server = Server::start(
        &dir.path().join("db"),
        &["--client-query-buffer-limit", "1mb"],
    );
    let before = server.rss();
    let mut c = server.connect();
    // A bulk string may declare up to 512 MB; its bytes are kept only up to the limit.
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    while sent < 64 << 20 {
        if c.stream.write_all(&chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
    assert!(sent < 64 << 20, "the server kept reading {sent} bytes");
    let text = match c.try_reply() {
        Some(r) => error_text(&r),
        None => String::from("closed"),
    };
    assert!(text.contains("query buffer") || text == "closed", "{text}");
    assert!(
        server.rss() < before + (32 << 20),
        "memory grew from {before} to {}",
        server.rss()
    );
    assert_eq!(server.connect().cmd(&["PING"]), status("PONG"));
}

#[test]
fn a_client_that_never_reads_is_closed_and_memory_stays_bounded() {
    let dir = tempdir();
    let server = Server::start(
        &dir.path().join("db"),
        &["--client-output-buffer-limit", "4mb"],
    );
    let mut setter = server.connect();
    let value = "v".repeat(256 * 1024);
    assert_eq!(setter.cmd(&["SET", "big", &value]), status("OK"));
    let before = server.rss();
    // 4000 GETs of 256 KiB: 1 GiB of replies, never read.
    let stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream.set_write_timeout(Some(PATIENCE)).expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let done = Arc::new(AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    let sender = std::thread::spawn(move || {
        let request = b"GET big\r\n".repeat(100);
        for _ in 0..40 {
            if writer.write_all(&request).is_err() {
                break;
            }
        }
        done2.store(true, Ordering::SeqCst);
    });
    let deadline = Instant::now() + PATIENCE;
    let mut peak = 0;
    // The server closes it: the client's id leaves CLIENT LIST.
    loop {
        peak = peak.max(server.rss());
        let list = setter.cmd(&["CLIENT", "LIST"]);
        let lines = match list {
            Reply::Bulk(t) | Reply::Verbatim { text: t, .. } => {
                String::from_utf8_lossy(&t).lines().count()
            }
            other => panic!("CLIENT LIST replied {other:?}"),
        };
        if lines == 1 && done.load(Ordering::SeqCst) {
            break;
        }
        assert!(Instant::now() < deadline, "the client was never closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    sender.join().expect("sender");
    assert!(
        peak < before + (64 << 20),
        "memory grew from {before} to {peak} for a client that never reads"
    );
    let info = setter.cmd(&["INFO", "clients"]);
    let text = String::from_utf8_lossy(info.bulk_bytes().expect("INFO text")).into_owned();
    assert!(
        text.contains("client_output_buffer_limit_disconnections:1"),
        "{text}"
    );
    drop(stream);
    assert_eq!(server.connect().cmd(&["PING"]), status("PONG"));
}

#[test]
fn client_commands_name_list_and_kill_connections() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &[]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "alpha"]), status("OK"));
    assert!(error_text(&a.cmd(&["CLIENT", "SETNAME", "has space"])).contains("cannot contain"));
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), bulk("alpha"));
    let Reply::Int(id_b) = b.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID is an integer");
    };
    let list = a.cmd(&["CLIENT", "LIST"]);
    let text = String::from_utf8_lossy(list.bulk_bytes().expect("text")).into_owned();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("name=alpha"), "{text}");
    assert!(text.contains(&format!("id={id_b} ")), "{text}");
    let info = b.cmd(&["CLIENT", "INFO"]);
    let info = String::from_utf8_lossy(info.bulk_bytes().expect("text")).into_owned();
    assert!(info.starts_with(&format!("id={id_b} ")), "{info}");
    assert_eq!(
        a.cmd(&["CLIENT", "KILL", "ID", &id_b.to_string()]),
        Reply::Int(1)
    );
    assert!(b.closed());
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", "999999"]), Reply::Int(0));
    assert!(error_text(&a.cmd(&["CLIENT", "KILL", "1.2.3.4:5"])).contains("No such client"));
    assert_eq!(a.cmd(&["PING"]), status("PONG"));
    assert_eq!(a.cmd(&["QUIT"]), status("OK"));
    assert!(a.closed());
}

/// `CLIENT REPLY OFF|SKIP|ON` as Redis has them: silenced replies are not sent (the
/// commands still run, also pipelined writes that the server would otherwise commit
/// together), `SKIP` silences only the next command, `ON` answers `OK`, and Pub/Sub messages
/// and subscribe confirmations are sent whatever the mode.
#[test]
fn client_reply_off_skip_and_on() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &[]);
    let mut a = server.connect();
    let mut b = server.connect();
    let cmds: Vec<Vec<&[u8]>> = vec![
        vec![b"CLIENT", b"REPLY", b"OFF"],
        vec![b"SET", b"k", b"1"],
        vec![b"INCR", b"k"],
        vec![b"PING", b"silenced"],
        vec![b"CLIENT", b"REPLY", b"ON"],
        vec![b"GET", b"k"],
    ];
    for c in &cmds {
        a.send_cmd(c);
    }
    assert_eq!(a.reply(), status("OK"), "only CLIENT REPLY ON answers");
    assert_eq!(a.reply(), bulk("2"), "the silenced writes ran");
    a.send_cmd(&[b"CLIENT", b"REPLY", b"SKIP"]);
    a.send_cmd(&[b"PING", b"skipped"]);
    a.send_cmd(&[b"PING", b"answered"]);
    assert_eq!(a.reply(), bulk("answered"));
    assert!(error_text(&a.cmd(&["CLIENT", "REPLY", "MAYBE"])).contains("syntax error"));
    a.send_cmd(&[b"CLIENT", b"REPLY", b"OFF"]);
    a.send_cmd(&[b"SUBSCRIBE", b"ch"]);
    assert_eq!(a.reply(), array(&["subscribe", "ch"], Some(1)));
    assert_eq!(b.cmd(&["PUBLISH", "ch", "hi"]), Reply::Int(1));
    assert_eq!(a.reply(), array(&["message", "ch", "hi"], None));
    assert_eq!(b.cmd(&["GET", "k"]), bulk("2"));
}

/// Redis's encoding thresholds: `CONFIG SET` takes them (a name and its `ziplist` alias
/// share one value), `CONFIG GET` shows them, a value that is not an integer is refused and
/// sets nothing, and settings the server cannot change at run time are still refused.
#[test]
fn config_set_takes_redis_encoding_thresholds() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &[]);
    let mut a = server.connect();
    let get = |c: &mut Conn, name: &str| match c.cmd(&["CONFIG", "GET", name]) {
        Reply::Array(v) if v.len() == 2 => v[1].clone(),
        other => panic!("CONFIG GET {name}: {other:?}"),
    };
    assert_eq!(get(&mut a, "zset-max-ziplist-entries"), bulk("128"));
    assert_eq!(
        a.cmd(&[
            "CONFIG",
            "SET",
            "zset-max-ziplist-entries",
            "7",
            "list-compress-depth",
            "2"
        ]),
        status("OK")
    );
    assert_eq!(get(&mut a, "zset-max-listpack-entries"), bulk("7"));
    assert_eq!(get(&mut a, "zset-max-ziplist-entries"), bulk("7"));
    assert_eq!(get(&mut a, "list-compress-depth"), bulk("2"));
    let e = error_text(&a.cmd(&[
        "CONFIG",
        "SET",
        "set-max-intset-entries",
        "9",
        "hash-max-listpack-value",
        "x",
    ]));
    assert!(e.contains("couldn't be parsed into an integer"), "{e}");
    assert_eq!(
        get(&mut a, "set-max-intset-entries"),
        bulk("512"),
        "a bad pair sets nothing"
    );
    let e = error_text(&a.cmd(&["CONFIG", "SET", "maxmemory", "100"]));
    assert!(e.contains("not supported"), "{e}");
    // No snapshots is what the server does anyway; a snapshot schedule it cannot keep.
    assert_eq!(a.cmd(&["CONFIG", "SET", "save", ""]), status("OK"));
    let e = error_text(&a.cmd(&["CONFIG", "SET", "save", "900 1"]));
    assert!(e.contains("not supported"), "{e}");
    assert_eq!(
        a.cmd(&[
            "CONFIG",
            "SET",
            "notify-keyspace-events",
            "KEA",
            "hash-max-listpack-entries",
            "3"
        ]),
        status("OK")
    );
    assert_eq!(get(&mut a, "notify-keyspace-events"), bulk("AKE"));
    assert_eq!(get(&mut a, "hash-max-ziplist-entries"), bulk("3"));
}

#[test]
fn maxclients_and_idle_timeout_close_connections() {
    let dir = tempdir();
    let server = Server::start(
        &dir.path().join("db"),
        &["--maxclients", "2", "--timeout", "1"],
    );
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.cmd(&["PING"]), status("PONG"));
    assert_eq!(b.cmd(&["PING"]), status("PONG"));
    let mut c = server.connect();
    assert!(error_text(&c.reply()).contains("max number of clients"));
    assert!(c.closed());
    // Idle for more than a second: closed by the server (the read would wait PATIENCE).
    let start = Instant::now();
    assert!(a.closed());
    assert!(start.elapsed() < PATIENCE);
    assert!(b.closed());
    // The slots are free again.
    let mut d = server.connect();
    assert_eq!(d.cmd(&["PING"]), status("PONG"));
}

#[test]
fn sharded_pubsub_and_keyspace_events_span_the_server_and_an_embedded_process() {
    let dir = tempdir();
    let path = dir.path().join("db");
    let server = Server::start(&path, &[]);
    let db = ziggydb::Db::open(&path).expect("embedded open");
    let mut sub = server.connect();
    assert_eq!(
        sub.cmd(&["SSUBSCRIBE", "orders"]),
        array(&["ssubscribe", "orders"], Some(1))
    );
    let mut c = server.connect();
    assert_eq!(c.cmd(&["SPUBLISH", "orders", "o1"]), Reply::Int(1));
    // A channel space of its own: no ordinary subscriber of that name.
    assert_eq!(c.cmd(&["PUBLISH", "orders", "p"]), Reply::Int(0));
    assert_eq!(db.spublish("orders", "o2").expect("spublish"), 1);
    assert_eq!(sub.reply(), array(&["smessage", "orders", "o1"], None));
    assert_eq!(sub.reply(), array(&["smessage", "orders", "o2"], None));
    assert_eq!(
        c.cmd(&["PUBSUB", "SHARDNUMSUB", "orders"]),
        Reply::Array(vec![bulk("orders"), Reply::Int(1)])
    );
    // Keyspace notifications set through the server are the directory's: an embedded
    // writer publishes them too.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        status("OK")
    );
    assert_eq!(db.keyspace_events(), "AKE");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Reply::Array(vec![bulk("notify-keyspace-events"), bulk("AKE")])
    );
    let mut r3 = server.connect();
    assert!(matches!(r3.cmd(&["HELLO", "3"]), Reply::Map(_)));
    assert_eq!(
        r3.cmd(&["SUBSCRIBE", "__keyevent@0__:lpush"]),
        push(&["subscribe", "__keyevent@0__:lpush"], Some(1))
    );
    let mut session = Session::new(&db, Policy::default());
    assert_eq!(session.execute(&[b"LPUSH", b"jobs", b"a"]), Reply::Int(1));
    assert_eq!(
        r3.reply(),
        push(&["message", "__keyevent@0__:lpush", "jobs"], None)
    );
    assert_eq!(
        r3.cmd(&["SSUBSCRIBE", "orders"]),
        push(&["ssubscribe", "orders"], Some(1))
    );
    assert_eq!(db.spublish("orders", "o3").expect("spublish"), 2);
    assert_eq!(r3.reply(), push(&["smessage", "orders", "o3"], None));
    assert_eq!(sub.reply(), array(&["smessage", "orders", "o3"], None));
    // Administration or server-side files are not for clients.
    assert!(error_text(&c.cmd(&["BACKUP", "/tmp/x"])).starts_with("NOPERM"));
    assert_eq!(c.cmd(&["PING"]), status("PONG"));
}

#[test]
fn the_unix_socket_serves_the_same_database() {
    let dir = tempdir();
    let sock = dir.path().join("ziggy.sock");
    let server = Server::start(
        &dir.path().join("db"),
        &["--unixsocket", sock.to_str().expect("utf-8 path")],
    );
    assert_eq!(server.connect().cmd(&["SET", "k", "tcp"]), status("OK"));
    let stream = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut u = Conn {
        stream: Box::new(stream),
        buf: Vec::new(),
    };
    assert_eq!(u.cmd(&["GET", "k"]), bulk("tcp"));
}

#[test]
fn one_client_in_a_transaction_does_not_hold_up_the_others() {
    // Connections run on threads of their own: a client whose BEGIN holds the writer lock
    // (and a writer waiting behind it) leaves reads of every other client answered.
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &["--max-begin-hold-ms", "60000"]);
    let mut a = server.connect();
    let mut b = server.connect();
    let mut r = server.connect();
    assert_eq!(a.cmd(&["SET", "seen", "yes"]), status("OK"));
    assert_eq!(a.cmd(&["BEGIN"]), status("OK"));
    assert_eq!(a.cmd(&["SET", "k", "in-txn"]), status("OK"));
    // b's write waits for the lock...
    b.send(b"SET k from-b\r\n");
    std::thread::sleep(Duration::from_millis(200));
    // ...while r is answered.
    assert_eq!(r.cmd(&["GET", "seen"]), bulk("yes"));
    assert_eq!(r.cmd(&["PING"]), status("PONG"));
    assert_eq!(a.cmd(&["COMMIT"]), status("OK"));
    assert_eq!(b.reply(), status("OK"));
    assert_eq!(r.cmd(&["GET", "k"]), bulk("from-b"));
}

fn push(words: &[&str], count: Option<i64>) -> Reply {
    let mut v: Vec<Reply> = words.iter().map(|w| bulk(w)).collect();
    v.extend(count.map(Reply::Int));
    Reply::Push(v)
}

/// A RESP2 reply as it is decoded: a push arrives as an array.
fn array(words: &[&str], count: Option<i64>) -> Reply {
    let Reply::Push(v) = push(words, count) else {
        unreachable!()
    };
    Reply::Array(v)
}

#[test]
fn pubsub_across_two_servers_and_an_embedded_process() {
    let dir = tempdir();
    let path = dir.path().join("db");
    let s1 = Server::start(&path, &[]);
    let s2 = Server::start(&path, &[]);
    let db = ziggydb::Db::open(&path).expect("embedded open");
    let mut sub = s1.connect();
    sub.send_cmd(&[b"SUBSCRIBE", b"news", b"other"]);
    assert_eq!(sub.reply(), array(&["subscribe", "news"], Some(1)));
    assert_eq!(sub.reply(), array(&["subscribe", "other"], Some(2)));
    let mut c2 = s2.connect();
    assert_eq!(c2.cmd(&["PUBLISH", "news", "hello"]), Reply::Int(1));
    assert_eq!(db.publish("other", "from the library").expect("publish"), 1);
    assert_eq!(sub.reply(), array(&["message", "news", "hello"], None));
    assert_eq!(
        sub.reply(),
        array(&["message", "other", "from the library"], None)
    );
    // Subscribed mode over RESP2.
    assert!(error_text(&sub.cmd(&["GET", "k"])).contains("only (P|S)SUBSCRIBE"));
    assert_eq!(sub.cmd(&["PING"]), array(&["pong", ""], None));
    assert_eq!(
        c2.cmd(&["PUBSUB", "NUMSUB", "news", "none"]),
        Reply::Array(vec![
            bulk("news"),
            Reply::Int(1),
            bulk("none"),
            Reply::Int(0)
        ])
    );
    // RESP3: pushes, and any command while subscribed.
    let mut r3 = s2.connect();
    assert!(matches!(r3.cmd(&["HELLO", "3"]), Reply::Map(_)));
    assert_eq!(
        r3.cmd(&["PSUBSCRIBE", "n*"]),
        push(&["psubscribe", "n*"], Some(1))
    );
    assert_eq!(r3.cmd(&["SET", "k", "v"]), status("OK"));
    assert_eq!(c2.cmd(&["PUBLISH", "news", "again"]), Reply::Int(2));
    assert_eq!(r3.reply(), push(&["pmessage", "n*", "news", "again"], None));
    assert_eq!(sub.reply(), array(&["message", "news", "again"], None));
    // Unsubscribed, the connection runs commands again; a closed subscriber stops counting.
    sub.send_cmd(&[b"UNSUBSCRIBE"]);
    assert_eq!(sub.reply(), array(&["unsubscribe", "news"], Some(1)));
    assert_eq!(sub.reply(), array(&["unsubscribe", "other"], Some(0)));
    assert_eq!(sub.cmd(&["GET", "k"]), bulk("v"));
    drop(r3);
    let deadline = std::time::Instant::now() + PATIENCE;
    while c2.cmd(&["PUBLISH", "news", "x"]) != Reply::Int(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the closed subscriber stops counting"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn two_servers_and_an_embedded_process_share_one_directory() {
    let dir = tempdir();
    let path = dir.path().join("db");
    let s1 = Server::start(&path, &["--durability", "batched"]);
    let s2 = Server::start(&path, &[]);
    let db = ziggydb::Db::open(&path).expect("embedded open");
    let mut c1 = s1.connect();
    let mut c2 = s2.connect();
    assert_eq!(c1.cmd(&["SET", "from1", "a"]), status("OK"));
    assert_eq!(c2.cmd(&["GET", "from1"]), bulk("a"));
    db.set(b"embedded", "e").expect("set");
    assert_eq!(c1.cmd(&["GET", "embedded"]), bulk("e"));
    assert_eq!(c2.cmd(&["RPUSH", "list", "x", "y"]), Reply::Int(2));
    assert_eq!(c1.cmd(&["LLEN", "list"]), Reply::Int(2));
    assert_eq!(
        db.get(b"from1").expect("get").map(|v| v.to_vec()),
        Some(b"a".to_vec())
    );

    // Increments from all three at once: none lost.
    let per = 200;
    let threads: Vec<_> = [s1.port, s2.port]
        .into_iter()
        .flat_map(|port| [port, port])
        .map(|port| {
            std::thread::spawn(move || {
                let mut c = Conn::tcp(port);
                for _ in 0..per {
                    assert!(matches!(c.cmd(&["INCR", "n"]), Reply::Int(_)));
                }
            })
        })
        .collect();
    for _ in 0..per {
        db.incr_by(b"n", 1).expect("INCR from the embedded process");
    }
    for t in threads {
        t.join().expect("client thread");
    }
    let want = (per * 5).to_string();
    assert_eq!(c1.cmd(&["GET", "n"]), bulk(&want));
    assert_eq!(c2.cmd(&["GET", "n"]), bulk(&want));
}

#[test]
fn sigterm_loses_no_acknowledged_write() {
    let dir = tempdir();
    let path = dir.path().join("db");
    let mut server = Server::start(&path, &["--durability", "batched"]);
    let acked = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let port = server.port;
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                let mut c = Conn::tcp(port);
                // Pipelines of 10, so that batches are running when the signal comes.
                loop {
                    c.send(&b"INCR n\r\n".repeat(10));
                    for _ in 0..10 {
                        match c.try_reply() {
                            Some(Reply::Int(_)) => {
                                acked.fetch_add(1, Ordering::SeqCst);
                            }
                            Some(other) => panic!("INCR replied {other:?}"),
                            None => return,
                        }
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while acked.load(Ordering::SeqCst) < 500 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.terminate();
    let status = server.wait();
    assert!(status.success(), "the server stopped with {status}");
    for c in clients {
        c.join().expect("client thread");
    }
    let acked = acked.load(Ordering::SeqCst);
    let db = ziggydb::Db::open(&path).expect("open");
    let n: u64 = db
        .get_value(b"n")
        .expect("get")
        .map(|v| v.as_int().expect("a number"))
        .expect("n exists") as u64;
    assert!(n >= acked, "{acked} increments acknowledged, {n} kept");
}

#[test]
fn config_get_and_info_report_the_server() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &["--durability", "batched"]);
    let mut c = server.connect();
    let port = server.port.to_string();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]),
        Reply::Array(vec![bulk("port"), bulk(&port)])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "appendfsync"]),
        Reply::Array(vec![bulk("appendfsync"), bulk("everysec")])
    );
    assert_eq!(c.cmd(&["CONFIG", "GET", "nosuch*"]), Reply::Array(vec![]));
    let info = c.cmd(&["INFO"]);
    let text = String::from_utf8_lossy(info.bulk_bytes().expect("INFO text")).into_owned();
    assert!(
        text.contains("# Clients\r\nconnected_clients:1\r\n"),
        "{text}"
    );
    assert!(text.contains("# Keyspace"), "{text}");
    assert_eq!(c.cmd(&["SELECT", "0"]), status("OK"));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "databases"]),
        Reply::Array(vec![bulk("databases"), bulk("16")])
    );
}

#[test]
fn select_is_per_connection() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &["--durability", "batched"]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.cmd(&["SELECT", "3"]), status("OK"));
    assert_eq!(a.cmd(&["SET", "k", "three"]), status("OK"));
    assert_eq!(b.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(b.cmd(&["SELECT", "3"]), status("OK"));
    assert_eq!(b.cmd(&["GET", "k"]), bulk("three"));
    assert_eq!(b.cmd(&["SWAPDB", "3", "4"]), status("OK"));
    assert_eq!(a.cmd(&["GET", "k"]), Reply::Nil);
    assert_eq!(a.cmd(&["SELECT", "4"]), status("OK"));
    assert_eq!(a.cmd(&["GET", "k"]), bulk("three"));
    assert_eq!(
        error_text(&a.cmd(&["SELECT", "16"])),
        "ERR DB index is out of range"
    );
}

fn info_field(c: &mut Conn, field: &str) -> u64 {
    let info = c.cmd(&["INFO", "stats"]);
    let text = String::from_utf8_lossy(info.bulk_bytes().expect("INFO text")).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {text}"))
}

#[test]
fn a_pipeline_of_writes_commits_once_with_each_reply_as_alone() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &[]);
    let mut c = server.connect();
    assert_eq!(c.cmd(&["SET", "s", "text"]), status("OK"));
    let before = info_field(&mut c, "transactions_committed");
    let mut pipeline = b"INCR n\r\n".repeat(50);
    // An error in the middle is that command's reply alone; the rest still run.
    pipeline.extend_from_slice(b"LPUSH s x\r\nINCRBY n notanumber\r\n");
    pipeline.extend_from_slice(&b"INCR n\r\n".repeat(49));
    pipeline.extend_from_slice(b"RPUSH l a b\r\nLPOP l\r\n");
    c.send(&pipeline);
    for i in 1..=50 {
        assert_eq!(c.reply(), Reply::Int(i));
    }
    assert!(error_text(&c.reply()).starts_with("WRONGTYPE"));
    assert!(error_text(&c.reply()).contains("not an integer"));
    for i in 51..=99 {
        assert_eq!(c.reply(), Reply::Int(i));
    }
    assert_eq!(c.reply(), Reply::Int(2));
    assert_eq!(c.reply(), bulk("a"));
    let after = info_field(&mut c, "transactions_committed");
    assert_eq!(
        after - before,
        1,
        "the pipeline's 103 writes committed as one"
    );
    assert_eq!(c.cmd(&["GET", "n"]), bulk("99"));
    assert_eq!(c.cmd(&["GET", "s"]), bulk("text"));
    assert_eq!(
        c.cmd(&["LRANGE", "l", "0", "-1"]),
        Reply::Array(vec![bulk("b")])
    );
}

#[test]
fn writes_of_many_clients_share_commits() {
    // Immediate durability: while one commit waits for its fsync, the other clients' writes
    // queue up and go into the next commit together.
    let dir = tempdir();
    let server = Server::start(&dir.path().join("db"), &["--durability", "immediate"]);
    let mut c = server.connect();
    let before = info_field(&mut c, "transactions_committed");
    let (clients, per) = (20, 100);
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = Conn::tcp(port);
                let own = format!("own{i}");
                for n in 1..=per {
                    assert!(matches!(c.cmd(&["INCR", "shared"]), Reply::Int(_)));
                    assert_eq!(c.cmd(&["INCR", &own]), Reply::Int(n));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let after = info_field(&mut c, "transactions_committed");
    let writes = (clients * per * 2) as u64;
    assert_eq!(
        c.cmd(&["GET", "shared"]),
        bulk(&(clients * per).to_string())
    );
    assert!(
        after - before < writes,
        "{writes} writes of {clients} clients took {} commits",
        after - before
    );
}

#[test]
fn shutdown_stops_the_server_and_keeps_its_writes() {
    let dir = tempdir();
    let path = dir.path().join("db");
    let mut server = Server::start(
        &path,
        &["--durability", "batched", "--sync-delay-ms", "60000"],
    );
    let mut c = server.connect();
    assert_eq!(c.cmd(&["SET", "k", "v"]), status("OK"));
    let mut other = server.connect();
    assert_eq!(other.cmd(&["PING"]), status("PONG"));
    c.send(b"SHUTDOWN\r\n");
    // No reply: the connection closes, as Redis's does; so does every other one.
    assert!(c.try_reply().is_none());
    assert!(other.closed());
    let status = server.wait();
    assert!(status.success(), "the server stopped with {status}");
    let db = ziggydb::Db::open(&path).expect("open");
    assert_eq!(
        db.get(b"k").expect("get").map(|v| v.to_vec()),
        Some(b"v".to_vec())
    );
}

/// `INFO clients`'s `blocked_clients`.
fn blocked_clients(c: &mut Conn) -> u64 {
    let info = c.cmd(&["INFO", "clients"]);
    let text = String::from_utf8_lossy(info.bulk_bytes().expect("INFO text")).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no blocked_clients in {text}"))
}

/// Waits until `blocked_clients` (asked through `admin`) is `n`.
fn wait_blocked(admin: &mut Conn, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    while blocked_clients(admin) != n {
        assert!(
            Instant::now() < deadline,
            "blocked_clients never became {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pair(a: &str, b: &str) -> Reply {
    Reply::Array(vec![bulk(a), bulk(b)])
}

#[test]
fn blocking_pops_wait_for_a_push_from_another_server_or_an_embedded_process() {
    let dir = tempdir();
    let path = dir.path().join("db");
    let s1 = Server::start(&path, &[]);
    let s2 = Server::start(&path, &[]);
    let db = ziggydb::Db::open(&path).expect("embedded open");
    let mut admin1 = s1.connect();
    let mut admin2 = s2.connect();

    // A waiter on s1 woken by the embedded process.
    let mut c1 = s1.connect();
    c1.send_cmd(&[b"BLPOP", b"jobs", b"0"]);
    wait_blocked(&mut admin1, 1);
    db.transaction(|tx| tx.list(b"jobs").push_back(&[b"a"]))
        .expect("push");
    assert_eq!(c1.reply(), pair("jobs", "a"));
    assert_eq!(blocked_clients(&mut admin1), 0);

    // A waiter on s2 woken by a client of s1; the pipelined command after it waits its turn.
    let mut c2 = s2.connect();
    c2.send(b"*3\r\n$5\r\nBRPOP\r\n$4\r\nnope\r\n$1\r\n0\r\nPING\r\n");
    wait_blocked(&mut admin2, 1);
    assert_eq!(admin1.cmd(&["RPUSH", "nope", "x", "y"]), Reply::Int(2));
    assert_eq!(c2.reply(), pair("nope", "y"));
    assert_eq!(c2.reply(), status("PONG"));
    // Exactly one element went: the other is still there.
    assert_eq!(
        admin2.cmd(&["LRANGE", "nope", "0", "-1"]),
        Reply::Array(vec![bulk("x")])
    );

    // A sorted-set pop, woken by ZADD from the embedded process's command layer.
    c1.send_cmd(&[b"BZPOPMIN", b"z", b"0"]);
    wait_blocked(&mut admin1, 1);
    let mut session = ziggydb::commands::Session::new(&db, ziggydb::commands::Policy::default());
    assert_eq!(session.execute(&[b"ZADD", b"z", b"2", b"m"]), Reply::Int(1));
    assert_eq!(
        c1.reply(),
        Reply::Array(vec![bulk("z"), bulk("m"), bulk("2")])
    );

    // A timeout in seconds: nil once it passes.
    let start = Instant::now();
    assert_eq!(c1.cmd(&["BLPOP", "empty", "0.2"]), Reply::NilArray);
    assert!(start.elapsed() >= Duration::from_millis(150));

    // Inside MULTI nothing waits, as in Redis.
    assert_eq!(c1.cmd(&["MULTI"]), status("OK"));
    assert_eq!(c1.cmd(&["BLPOP", "empty", "0"]), status("QUEUED"));
    assert_eq!(c1.cmd(&["EXEC"]), Reply::Array(vec![Reply::NilArray]));
}

#[test]
fn a_blocked_client_stops_waiting_on_unblock_kill_disconnect_and_shutdown() {
    let dir = tempdir();
    let path = dir.path().join("db");
    let mut server = Server::start(&path, &[]);
    let mut admin = server.connect();
    let mut c = server.connect();
    let Reply::Int(id) = c.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID is an integer")
    };
    let id = id.to_string();
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(0));

    // CLIENT UNBLOCK: as if the timeout had passed; then the client waits again.
    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    let list = admin.cmd(&["CLIENT", "LIST", "ID", &id]);
    let line = String::from_utf8_lossy(list.bulk_bytes().expect("CLIENT LIST")).into_owned();
    assert!(line.contains(" flags=b "), "{line}");
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    assert_eq!(c.reply(), Reply::NilArray);
    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]),
        Reply::Int(1)
    );
    assert_eq!(
        error_text(&c.reply()),
        "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    );
    assert!(
        error_text(&admin.cmd(&["CLIENT", "UNBLOCK", &id, "LATER"])).contains("TIMEOUT or ERROR")
    );

    // A client that goes away while it waits takes nothing: the next push stays.
    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    drop(c);
    wait_blocked(&mut admin, 0);
    assert_eq!(admin.cmd(&["RPUSH", "q", "kept"]), Reply::Int(1));
    assert_eq!(admin.cmd(&["LLEN", "q"]), Reply::Int(1));
    assert_eq!(admin.cmd(&["LPOP", "q"]), bulk("kept"));

    // CLIENT KILL of a waiting client closes it.
    let mut k = server.connect();
    let Reply::Int(kid) = k.cmd(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID is an integer")
    };
    k.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd(&["CLIENT", "KILL", "ID", &kid.to_string()]),
        Reply::Int(1)
    );
    assert!(k.closed());
    wait_blocked(&mut admin, 0);

    // SIGTERM with a client waiting forever: the server still stops, cleanly.
    let mut w = server.connect();
    w.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    server.terminate();
    assert!(server.wait().success());
    assert!(w.closed());
}
