//! `ziggy -h HOST -p PORT [-a PASSWORD]`: `ziggy` as the client of a Redis-protocol server
//! (`ziggy-server` or Redis), as redis-cli is. The same one-shot form, scripts on standard
//! input, shell (prompt `127.0.0.1:6379>`, history, hints and completion), `--pipe`,
//! `--scan`, `-r`/`-i`/`-x`/`-e` and output formats as on a database directory; replies are
//! decoded from the server's RESP2 or RESP3 and printed by the same printer.
//!
//! Ctrl-C while `ziggy` waits for a reply (a `BLPOP` that blocks, a slow server) drops the
//! connection, which ends the command on the server: the shell says `(interrupted)` and
//! connects again for the next command; a script or a one-shot command ends with status
//! 130. While subscribed (`SUBSCRIBE`), messages print as they come until Ctrl-C ends
//! `ziggy`, as it ends redis-cli.

use std::io::{self, IsTerminal as _, Read, Write};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::ArgMatches;
use ziggydb::commands::{as_args, decode_reply, split_in_place, Reply};

use crate::print::Format;
use crate::repl::{self, Outcome};
use crate::{interrupt, Args, LineRead};

/// How often a wait for a reply looks whether Ctrl-C was pressed.
const POLL: Duration = Duration::from_millis(100);
/// Bytes read from the connection at a time.
const CHUNK: usize = 64 << 10;

/// The server to connect to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// A Unix socket, which overrides host and port.
    pub socket: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The database `SELECT`ed after connecting (0: none is sent).
    pub db: u32,
    /// `HELLO 3` after connecting.
    pub resp3: bool,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            host: "127.0.0.1".into(),
            port: 6379,
            socket: None,
            user: None,
            password: None,
            db: 0,
            resp3: false,
        }
    }
}

impl Target {
    /// The address as redis-cli names it in its messages: `host:port` or the socket's path.
    pub fn address(&self) -> String {
        match &self.socket {
            Some(path) => path.display().to_string(),
            None if self.host.contains(':') => format!("[{}]:{}", self.host, self.port),
            None => format!("{}:{}", self.host, self.port),
        }
    }

    /// Reads `redis://[[USERNAME]:PASSWORD@]HOST[:PORT][/DB]` (as redis-cli's `-u`) over
    /// `self`: what the URI gives replaces what `self` has. User and password may be
    /// percent-encoded.
    ///
    /// # Errors
    /// A message saying what is wrong with the URI.
    pub fn with_uri(mut self, uri: &str) -> Result<Target, String> {
        let rest = uri
            .strip_prefix("redis://")
            .ok_or_else(|| format!("Invalid URI scheme in '{uri}': expected redis://"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                // redis-cli reads `redis://secret@host` as a password.
                None => ("", Some(userinfo)),
            };
            if !user.is_empty() {
                self.user = Some(percent_decode(user)?);
            }
            if let Some(p) = password {
                self.password = Some(percent_decode(p)?);
            }
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("Invalid host in '{uri}': no ']' after an IPv6 address"))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if !host.is_empty() {
            self.host = host.to_owned();
        }
        if let Some(port) = port {
            self.port = port
                .parse()
                .map_err(|_| format!("Invalid port '{port}' in '{uri}'"))?;
        }
        if !path.is_empty() {
            self.db = path
                .parse()
                .map_err(|_| format!("Invalid database number '{path}' in '{uri}'"))?;
        }
        Ok(self)
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("Invalid percent-encoding in '{text}'"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{text}' is not UTF-8 once decoded"))
}

/// A connection's socket.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why no reply came.
#[derive(Debug)]
pub enum Failure {
    /// The server closed the connection.
    Closed,
    Io(io::Error),
    /// The server sent bytes that are no reply.
    Protocol(String),
    /// Ctrl-C ended the wait.
    Interrupted,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Closed => f.write_str("Server closed the connection"),
            Failure::Io(e) => f.write_str(&os_message(e)),
            Failure::Protocol(e) => write!(f, "{e}"),
            Failure::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// An I/O error's text as the C library words it (`Connection refused`), without Rust's
/// ` (os error 111)`.
fn os_message(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    match text.find(" (os error") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

/// Where the reply being received ends, found as its bytes arrive: a resumable walk over
/// the RESP framing that never re-reads what it has passed, so that a reply of a million
/// elements arriving in many reads costs one pass (and one [`decode_reply`] at the end).
#[derive(Debug, Default)]
struct Frame {
    /// Bytes of the reply walked so far.
    pos: usize,
    /// Elements still to come in each open aggregate, innermost last.
    open: Vec<u64>,
}

impl Frame {
    /// The length of the reply at the start of `buf` once all of it is there, else `None`.
    fn advance(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        let bad = |what: &str| format!("Protocol error: invalid {what} in a reply");
        loop {
            let Some(&kind) = buf.get(self.pos) else {
                return Ok(None);
            };
            let Some(cr) = buf[self.pos + 1..].iter().position(|&b| b == b'\r') else {
                return Ok(None);
            };
            let line_end = self.pos + 1 + cr + 2;
            if line_end > buf.len() {
                return Ok(None);
            }
            let text = &buf[self.pos + 1..self.pos + 1 + cr];
            let number = || {
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
            };
            let complete = match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
                    self.pos = line_end;
                    true
                }
                b'$' | b'=' | b'!' => {
                    let n = number().ok_or_else(|| bad("bulk length"))?;
                    if n < 0 {
                        self.pos = line_end;
                    } else {
                        let end = usize::try_from(n)
                            .ok()
                            .and_then(|n| line_end.checked_add(n)?.checked_add(2))
                            .ok_or_else(|| bad("bulk length"))?;
                        if end > buf.len() {
                            return Ok(None);
                        }
                        self.pos = end;
                    }
                    true
                }
                b'*' | b'~' | b'>' | b'%' => {
                    let n = number().ok_or_else(|| bad("aggregate length"))?;
                    self.pos = line_end;
                    let n = u64::try_from(n).unwrap_or(0);
                    let n = if kind == b'%' { n.saturating_mul(2) } else { n };
                    if n == 0 {
                        true
                    } else {
                        if self.open.len() >= ziggydb::commands::MAX_REPLY_DEPTH {
                            return Err("Protocol error: reply nested too deep".into());
                        }
                        self.open.push(n);
                        false
                    }
                }
                other => {
                    return Err(format!(
                        "Protocol error: unknown reply type '{}'",
                        char::from(other).escape_default()
                    ))
                }
            };
            if complete {
                loop {
                    match self.open.last_mut() {
                        None => return Ok(Some(self.pos)),
                        Some(left) => {
                            *left -= 1;
                            if *left > 0 {
                                break;
                            }
                            self.open.pop();
                        }
                    }
                }
            }
        }
    }
}

/// One connection to the server, and what redis-cli's prompt shows of its state.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    frame: Frame,
    /// Inside `MULTI`.
    pub in_multi: bool,
    /// The database selected.
    pub db: u32,
}

impl Conn {
    /// Connects to `target`, authenticates, and sends `HELLO 3` and `SELECT` as asked.
    ///
    /// # Errors
    /// redis-cli's message: `Could not connect to Redis at HOST:PORT: REASON`, or the
    /// server's refusal of `AUTH`, `HELLO` or `SELECT`.
    pub fn open(target: &Target) -> Result<Conn, String> {
        let refused = |e: &io::Error| {
            format!(
                "Could not connect to Redis at {}: {}",
                target.address(),
                os_message(e)
            )
        };
        let stream = match &target.socket {
            Some(path) => Stream::Unix(UnixStream::connect(path).map_err(|e| refused(&e))?),
            None => {
                let addrs = (target.host.as_str(), target.port)
                    .to_socket_addrs()
                    .map_err(|e| refused(&e))?;
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                let mut connected = None;
                for addr in addrs {
                    match TcpStream::connect(addr) {
                        Ok(s) => {
                            connected = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let stream = connected.ok_or_else(|| refused(&last))?;
                let _ = stream.set_nodelay(true);
                Stream::Tcp(stream)
            }
        };
        stream
            .set_read_timeout(Some(POLL))
            .map_err(|e| refused(&e))?;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            start: 0,
            frame: Frame::default(),
            in_multi: false,
            db: 0,
        };
        let mut step = |args: &[&[u8]], what: &str| -> Result<(), String> {
            match conn.command(args) {
                Ok(Reply::Error(e)) => Err(format!("{what} failed: {e}")),
                Ok(_) => Ok(()),
                Err(e) => Err(format!("{what} failed: {e}")),
            }
        };
        if let Some(password) = &target.password {
            match &target.user {
                Some(user) => step(&[b"AUTH", user.as_bytes(), password.as_bytes()], "AUTH")?,
                None => step(&[b"AUTH", password.as_bytes()], "AUTH")?,
            }
        }
        if target.resp3 {
            step(&[b"HELLO", b"3"], "HELLO 3")?;
        }
        if target.db != 0 {
            step(&[b"SELECT", target.db.to_string().as_bytes()], "SELECT")?;
            conn.db = target.db;
        }
        Ok(conn)
    }

    /// Sends one command.
    ///
    /// # Errors
    /// If the connection cannot be written.
    pub fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        encode_command(args, &mut out);
        self.stream.write_all(&out)
    }

    /// Sends one command and waits for its reply (not interruptible).
    ///
    /// # Errors
    /// See [`Conn::read_reply`].
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Reply, Failure> {
        self.send(args).map_err(Failure::Io)?;
        self.read_reply(false)
    }

    /// Waits for the next reply; with `interruptible`, Ctrl-C (see [`interrupt::Waiting`])
    /// ends the wait.
    ///
    /// # Errors
    /// A [`Failure`]; the connection is of no further use after any but `Interrupted`.
    pub fn read_reply(&mut self, interruptible: bool) -> Result<Reply, Failure> {
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if let Some(len) = self
                .frame
                .advance(&self.buf[self.start..])
                .map_err(Failure::Protocol)?
            {
                let (reply, used) = decode_reply(&self.buf[self.start..self.start + len])
                    .map_err(|e| Failure::Protocol(e.to_string()))?
                    .ok_or_else(|| Failure::Protocol("Protocol error: incomplete reply".into()))?;
                self.start += used;
                self.frame = Frame::default();
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return Ok(reply);
            }
            if self.start > 0 && self.start >= self.buf.len() / 2 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Failure::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    if interruptible && interrupt::cancelled() {
                        return Err(Failure::Interrupted);
                    }
                }
                Err(e) => return Err(Failure::Io(e)),
            }
        }
    }
}

/// Appends `args` as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn is_named(args: &[&[u8]], names: &[&str]) -> bool {
    args.first()
        .is_some_and(|n| names.iter().any(|m| n.eq_ignore_ascii_case(m.as_bytes())))
}

/// A client's session: the server, the connection when there is one, how replies print.
pub struct Client {
    target: Target,
    conn: Option<Conn>,
    options: repl::Options,
}

impl Client {
    pub fn new(target: Target, options: repl::Options) -> Self {
        Client {
            target,
            conn: None,
            options,
        }
    }

    /// Connects unless connected.
    ///
    /// # Errors
    /// Why it could not (redis-cli's message).
    pub fn connect(&mut self) -> Result<&mut Conn, String> {
        if self.conn.is_none() {
            self.conn = Some(Conn::open(&self.target)?);
        }
        self.conn.as_mut().ok_or_else(String::new)
    }

    /// Runs `args` and prints its reply; while subscribed after it, every message as it
    /// comes, until the connection ends. True if it failed.
    ///
    /// # Errors
    /// If standard output cannot be written.
    pub fn run_command(&mut self, args: &[&[u8]]) -> io::Result<bool> {
        let format = self.options.format;
        let conn = match self.connect() {
            Ok(conn) => conn,
            Err(msg) => {
                eprintln!("{msg}");
                return Ok(true);
            }
        };
        if let Err(e) = conn.send(args) {
            eprintln!("Error: {}", os_message(&e));
            self.conn = None;
            return Ok(true);
        }
        let subscribes = is_named(args, &["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"]);
        if subscribes && format == Format::Tty {
            repl::print_line("Reading messages... (press Ctrl-C to quit)")?;
        }
        let reply = loop {
            let waiting = interrupt::Waiting::start();
            let result = conn.read_reply(true);
            drop(waiting);
            match result {
                // In RESP3 a push (an invalidation, a message) may come before the reply.
                Ok(Reply::Push(items)) if !subscribes => {
                    print_reply(format, args, &Reply::Push(items), false)?;
                }
                Ok(reply) => break reply,
                Err(Failure::Interrupted) => {
                    // Dropping the connection ends the command on the server; the shell
                    // connects again at once, as redis-cli does.
                    self.conn = None;
                    if !repl::interactive() {
                        eprintln!("ziggy: interrupted");
                        return Ok(true);
                    }
                    if let Err(msg) = self.connect() {
                        eprintln!("{msg}");
                    }
                    return Ok(false);
                }
                Err(e) => {
                    eprintln!("Error: {e}");
                    self.conn = None;
                    return Ok(true);
                }
            }
        };
        self.track(args, &reply);
        print_reply(format, args, &reply, self.options.one_shot)?;
        let failed = reply.is_error();
        if subscribes && !failed {
            // Subscribed: the other channels' confirmations and the messages, as they come,
            // until the server closes the connection or Ctrl-C ends `ziggy`.
            let conn = self
                .conn
                .as_mut()
                .ok_or_else(|| io::Error::other("no connection"))?;
            loop {
                match conn.read_reply(false) {
                    Ok(reply) => print_reply(format, args, &reply, false)?,
                    Err(e) => {
                        eprintln!("Error: {e}");
                        self.conn = None;
                        return Ok(true);
                    }
                }
            }
        }
        Ok(failed)
    }

    /// Follows what the prompt shows: `MULTI` opens a transaction, `EXEC` and `DISCARD`
    /// end it, `SELECT` changes the database, `RESET` undoes both.
    fn track(&mut self, args: &[&[u8]], reply: &Reply) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let ok = !reply.is_error();
        if is_named(args, &["MULTI"]) && ok {
            conn.in_multi = true;
        } else if is_named(args, &["EXEC", "DISCARD", "RESET"]) {
            conn.in_multi = false;
        }
        // A new connection (after Ctrl-C or a lost one) selects the same database.
        if is_named(args, &["SELECT"]) && ok {
            if let Some(n) = args
                .get(1)
                .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
            {
                conn.db = n;
                self.target.db = n;
            }
        }
        if is_named(args, &["RESET"]) {
            conn.db = 0;
            self.target.db = 0;
        }
    }

    /// Runs `args` `times` times (`None`: until interrupted), pausing `-i` between runs;
    /// true if any run failed.
    fn run_repeated(&mut self, args: &[&[u8]], times: Option<u64>) -> io::Result<bool> {
        let mut failed = false;
        let mut done = 0u64;
        while times.is_none_or(|n| done < n) {
            if done > 0 {
                if let Some(pause) = self.options.interval {
                    std::thread::sleep(pause);
                }
            }
            failed |= self.run_command(args)?;
            done += 1;
            if interrupt::take() {
                if repl::interactive() {
                    repl::print_line("(interrupted)")?;
                }
                break;
            }
        }
        Ok(failed)
    }

    /// One line of the shell or of a script: a repeat count, `quit`, `help`, `clear`,
    /// `:set hints`, or a command for the server. Also says whether it failed.
    fn run_line_status(&mut self, args: &[&[u8]]) -> io::Result<(Outcome, bool)> {
        if args.is_empty() {
            return Ok((Outcome::Continue, false));
        }
        let Ok((count, args)) = repl::repeat_count(args) else {
            repl::print_line(repl::INVALID_REPEAT)?;
            return Ok((Outcome::Continue, true));
        };
        if args[0].starts_with(b":") {
            return repl::set_preference(args).map(|o| (o, false));
        }
        if crate::is_quit(args) {
            return Ok((Outcome::Quit, false));
        }
        if crate::answer_help(args)? {
            return Ok((Outcome::Continue, false));
        }
        if args.len() == 1 && args[0].eq_ignore_ascii_case(b"clear") {
            let mut out = io::stdout().lock();
            if out.is_terminal() {
                out.write_all(b"\x1b[H\x1b[2J")?;
                out.flush()?;
            }
            return Ok((Outcome::Continue, false));
        }
        let failed = self.run_repeated(args, Some(count))?;
        Ok((Outcome::Continue, failed))
    }
}

impl crate::shell::Lines for Client {
    /// As redis-cli's: `127.0.0.1:6379[2](TX)> `, `redis /tmp/redis.sock> `, or
    /// `not connected> `.
    fn prompt(&self) -> String {
        let Some(conn) = &self.conn else {
            return "not connected> ".into();
        };
        let mut prompt = match &self.target.socket {
            Some(path) => format!("redis {}", path.display()),
            None => self.target.address(),
        };
        if conn.db != 0 {
            prompt.push_str(&format!("[{}]", conn.db));
        }
        if conn.in_multi {
            prompt.push_str("(TX)");
        }
        prompt.push_str("> ");
        prompt
    }

    fn run_line(&mut self, args: &[&[u8]]) -> io::Result<Outcome> {
        self.run_line_status(args).map(|(outcome, _)| outcome)
    }
}

/// Prints a server's reply as a reply of the embedded session prints (see `run_one`).
fn print_reply(format: Format, args: &[&[u8]], reply: &Reply, one_shot: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let info = is_named(args, &["INFO"]) && matches!(format, Format::Raw | Format::Tty);
    match reply {
        // INFO's text prints as it is, as redis-cli prints it.
        Reply::Bulk(text) | Reply::Verbatim { text, .. } if info => out.write_all(text)?,
        Reply::Array(_) | Reply::Map(_) | Reply::Set(_) | Reply::Push(_) => {
            format.write_to(reply, &mut out)?;
        }
        _ => {
            let mut buf = Vec::new();
            format.write(reply, &mut buf);
            if one_shot && format == Format::Raw && reply.is_error() && buf.ends_with(b"\n\n") {
                buf.pop();
            }
            out.write_all(&buf)?;
        }
    }
    out.flush()
}

/// The options that name or shape a database directory, which a client has none of.
const DIRECTORY_OPTIONS: [(&str, &str); 6] = [
    ("dir", "-d"),
    ("durability", "--durability"),
    ("segment_size", "--segment-size"),
    ("read_only", "--read-only"),
    ("mode", "--mode"),
    ("lock_timeout_ms", "--lock-timeout-ms"),
];

/// `ziggy -h/-p/-s/-u ...`: runs as a server's client.
pub fn main(args: &Args, matches: &ArgMatches) -> ExitCode {
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    for (id, flag) in DIRECTORY_OPTIONS {
        if given(id) {
            eprintln!(
                "ziggy: {flag} is for a database directory; it cannot be used with a server \
                 (-h, -p, -s or -u)"
            );
            return ExitCode::from(2);
        }
    }
    let mut target = Target::default();
    if let Some(uri) = &args.uri {
        target = match target.with_uri(uri) {
            Ok(t) => t,
            Err(msg) => {
                eprintln!("ziggy: {msg}");
                return ExitCode::from(2);
            }
        };
    }
    if let Some(host) = &args.host {
        target.host.clone_from(host);
    }
    if let Some(port) = args.port {
        target.port = port;
    }
    target.socket.clone_from(&args.socket);
    if let Some(password) = &args.password {
        target.password = Some(password.clone());
    }
    if let Some(user) = &args.user {
        target.user = Some(user.clone());
    }
    if let Some(db) = args.db_number {
        target.db = db;
    }
    target.resp3 |= args.resp3;
    let on_command_line = given("password") || args.uri.as_deref().is_some_and(|u| u.contains('@'));
    if on_command_line && !args.no_auth_warning {
        eprintln!(
            "Warning: Using a password with '-a' or '-u' option on the command line interface \
             may not be safe."
        );
    }
    match run(args, target) {
        Ok(code) => code,
        Err(err) if crate::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ziggy: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, target: Target) -> anyhow::Result<ExitCode> {
    let mut options = args.options();
    let mut command = args.command_bytes();
    if !command.is_empty() && crate::answer_help(&as_args(&command))? {
        return Ok(ExitCode::SUCCESS);
    }
    if args.stdin_last_arg {
        let mut last = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut last)
            .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
        command.push(last);
    }
    interrupt::install_handler();
    let interactive = command.is_empty() && !args.pipe && !args.scan && io::stdin().is_terminal();
    if args.pipe {
        return pipe(&target);
    }
    options.one_shot = !command.is_empty();
    let mut client = Client::new(target, options);
    if let Err(msg) = client.connect() {
        eprintln!("{msg}");
        if !interactive {
            return Ok(ExitCode::FAILURE);
        }
    }
    if args.scan {
        return scan_keys(&mut client, args);
    }
    let failed = if !command.is_empty() {
        let times = match args.repeat {
            None => Some(1),
            Some(n) if n < 0 => None,
            Some(n) => Some(n.unsigned_abs()),
        };
        client.run_repeated(&as_args(&command), times)?
    } else if interactive {
        crate::shell::run_lines(&mut client, None)?;
        false
    } else {
        run_script(&mut client, args.exit_on_error)?
    };
    if interrupt::ever() && !repl::interactive() {
        return Ok(ExitCode::from(130));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The commands of standard input, one a line, as on a database directory; true if one
/// failed and `-e` stopped the script there.
fn run_script(client: &mut Client, exit_on_error: bool) -> anyhow::Result<bool> {
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match crate::read_line(&mut stdin, &mut line)? {
            LineRead::End => return Ok(false),
            LineRead::Line => {}
            LineRead::TooLong(bytes) => {
                repl::print_line(&format!(
                    "ERR not enough memory for a line of {bytes} bytes; it was skipped"
                ))?;
                continue;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let ranges = match split_in_place(&mut line) {
            Ok(ranges) => ranges,
            Err(e) => {
                repl::print_line(&e.to_string())?;
                continue;
            }
        };
        let args: Vec<&[u8]> = ranges.into_iter().map(|(s, e)| &line[s..e]).collect();
        let (outcome, failed) = client.run_line_status(&args)?;
        if outcome == Outcome::Quit || interrupt::ever() {
            return Ok(false);
        }
        if failed && exit_on_error {
            return Ok(true);
        }
    }
}

/// `--scan`: every key (matching `--pattern`), one a line, from the server's `SCAN`.
fn scan_keys(client: &mut Client, args: &Args) -> anyhow::Result<ExitCode> {
    let conn = client.connect().map_err(|msg| anyhow::anyhow!(msg))?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut cursor = b"0".to_vec();
    let count = args.count.map(|n| n.to_string());
    loop {
        let line = args.scan_line(&cursor, count.as_deref());
        let reply = conn
            .command(&line)
            .map_err(|e| anyhow::anyhow!("Error: {e}"))?;
        let (next, keys) = scan_page(reply)?;
        for key in keys {
            out.write_all(&key)?;
            out.write_all(b"\n")?;
        }
        if next == b"0" {
            break;
        }
        cursor = next;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The cursor and the keys of a `SCAN` (or `SSCAN`, `HSCAN`, `ZSCAN`) reply.
///
/// # Errors
/// An error reply, or a reply of another shape.
pub fn scan_page(reply: Reply) -> anyhow::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let Reply::Array(mut parts) = reply else {
        anyhow::bail!("SCAN replied {reply:?}");
    };
    let (Some(Reply::Array(items)), Some(Reply::Bulk(next)), None) =
        (parts.pop(), parts.pop(), parts.pop())
    else {
        anyhow::bail!("SCAN replied an unexpected shape");
    };
    let items = items
        .into_iter()
        .map(|item| match item {
            Reply::Bulk(b) => Ok(b),
            other => Err(anyhow::anyhow!("SCAN replied {other:?} as a key")),
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((next, items))
}

/// `--pipe`: standard input goes to the server as it is (RESP, or inline commands), then an
/// `ECHO` of a random mark; the replies are counted until the mark comes back, and the
/// errors printed to standard error, as redis-cli --pipe does. Exit status 1 if any
/// command failed.
fn pipe(target: &Target) -> anyhow::Result<ExitCode> {
    let mut conn = match Conn::open(target) {
        Ok(conn) => conn,
        Err(msg) => {
            eprintln!("{msg}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let mark: Vec<u8> = {
        let mut bytes = [0u8; 20];
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id());
        let mut x = seed as u64 | 1;
        for b in &mut bytes {
            // xorshift: the mark only has to differ from what the input echoes.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = b'a' + (x % 26) as u8;
        }
        bytes.to_vec()
    };
    let mut writer = conn.stream.try_clone()?;
    let mark_sent = mark.clone();
    let sender = std::thread::spawn(move || -> io::Result<()> {
        let mut input = io::stdin().lock();
        let mut chunk = vec![0u8; CHUNK];
        let mut last = b'\n';
        loop {
            let n = input.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            writer.write_all(&chunk[..n])?;
            last = chunk[n - 1];
        }
        let mut tail = Vec::new();
        if last != b'\n' {
            tail.extend_from_slice(b"\r\n");
        }
        encode_command(&[b"ECHO", &mark_sent], &mut tail);
        writer.write_all(&tail)?;
        let mut out = io::stdout().lock();
        writeln!(out, "All data transferred. Waiting for the last reply...")?;
        out.flush()?;
        let _ = writer.shutdown_write();
        Ok(())
    });
    let (mut replies, mut errors) = (0u64, 0u64);
    let result = loop {
        match conn.read_reply(false) {
            Ok(Reply::Bulk(b)) if b == mark => break Ok(()),
            Ok(reply) => {
                replies += 1;
                if let Reply::Error(e) = reply {
                    errors += 1;
                    eprintln!("{e}");
                }
            }
            Err(e) => break Err(e),
        }
    };
    let sent = sender
        .join()
        .map_err(|_| anyhow::anyhow!("the thread sending standard input failed"))?;
    if let Err(e) = result {
        if let Err(send) = sent {
            anyhow::bail!("--pipe: cannot send standard input: {}", os_message(&send));
        }
        anyhow::bail!("--pipe: Error: {e} after {replies} replies");
    }
    sent.map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "Last reply received from server.\nerrors: {errors}, replies: {replies}"
    )?;
    out.flush()?;
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_read_as_redis_cli_reads_them() {
        let t = Target::default()
            .with_uri("redis://ann:p%40ss@example.com:7000/3")
            .unwrap();
        assert_eq!(t.host, "example.com");
        assert_eq!(t.port, 7000);
        assert_eq!(t.user.as_deref(), Some("ann"));
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        assert_eq!(t.db, 3);
        let t = Target::default().with_uri("redis://[::1]:6380").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 6380));
        assert_eq!(t.address(), "[::1]:6380");
        let t = Target::default().with_uri("redis://secret@h").unwrap();
        assert_eq!((t.user, t.password.as_deref()), (None, Some("secret")));
        assert!(Target::default().with_uri("http://h").is_err());
        assert!(Target::default().with_uri("redis://h:port").is_err());
        assert!(Target::default().with_uri("redis://h/x").is_err());
        assert!(Target::default().with_uri("redis://%zz@h").is_err());
    }

    /// Feeds `bytes` to a [`Frame`] one byte at a time; where it says the reply ends.
    fn frame_end(bytes: &[u8]) -> Option<usize> {
        let mut frame = Frame::default();
        for n in 0..=bytes.len() {
            if let Some(end) = frame.advance(&bytes[..n]).unwrap() {
                return Some(end);
            }
        }
        None
    }

    #[test]
    fn frames_end_where_the_decoder_ends_them() {
        let replies: [&[u8]; 9] = [
            b"+OK\r\n",
            b"$-1\r\n",
            b"$3\r\na\r\n\r\n",
            b"*2\r\n$1\r\na\r\n*-1\r\n",
            b"*3\r\n:1\r\n*2\r\n+a\r\n*0\r\n$0\r\n\r\n",
            b"%1\r\n+k\r\n~2\r\n,1.5\r\n#t\r\n",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"*0\r\n",
        ];
        for reply in replies {
            let mut with_more = reply.to_vec();
            with_more.extend_from_slice(b"+NEXT\r\n");
            let (_, used) = decode_reply(&with_more).unwrap().unwrap();
            assert_eq!(frame_end(&with_more), Some(used), "{reply:?}");
            assert_eq!(frame_end(&reply[..reply.len() - 1]), None, "{reply:?}");
        }
        assert!(Frame::default().advance(b"?x\r\n").is_err());
        assert!(Frame::default().advance(b"$x\r\n").is_err());
    }
}
