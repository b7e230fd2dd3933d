//! One connection's commands: what the server answers itself (authentication, `CLIENT`,
//! `HELLO`'s protocol switch, `CONFIG GET`, `QUIT`, `RESET`, `SHUTDOWN`, `INFO`'s clients
//! section), and everything else passed to the library's [`Session`]. Runs on a blocking
//! thread: a command may wait for the writer lock or an fsync.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ziggydb::commands::{glob_match, lookup, Policy, Protocol, Reply, Session};

use crate::state::{lock, Client, Server};

/// What the connection does after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next requests.
    Continue,
    /// Send what was produced, then close (`QUIT`, `SHUTDOWN`, a kill, an output buffer
    /// over its limit).
    Close,
}

/// Commands of blocking pops and pub/sub, answered with a clear error where the library has
/// no command for them (none today: the library has them all).
const NOT_BUILT: &[&str] = &[
    "BLPOP",
    "BRPOP",
    "BLMOVE",
    "BRPOPLPUSH",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "PUBLISH",
    "SPUBLISH",
    "PUBSUB",
];

/// Commands that may wait (outside `MULTI`) until another process or client pushes.
const BLOCKING: &[&str] = &[
    "BLPOP",
    "BRPOP",
    "BLMOVE",
    "BRPOPLPUSH",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
];

/// Whether `batch` has a command that may wait: the connection then watches the socket
/// while it runs, so that a client that goes away stops waiting.
pub fn may_block(batch: &[Vec<Vec<u8>>]) -> bool {
    batch.iter().any(|argv| {
        BLOCKING
            .iter()
            .any(|n| argv[0].eq_ignore_ascii_case(n.as_bytes()))
    })
}

/// Writes that a pipeline may run in one transaction: each checks everything that can make
/// it fail (its arguments, the key's type, a number's range) before it writes anything, so
/// that a failed one leaves nothing behind in the shared transaction.
const GROUPABLE: &[&[u8]] = &[
    b"SET", b"INCR", b"INCRBY", b"DECR", b"DECRBY", b"APPEND", b"LPUSH", b"RPUSH", b"LPOP",
    b"RPOP", b"SADD", b"SREM", b"HSET", b"HDEL", b"ZADD", b"ZREM", b"DEL",
];

/// Most commands in one pipeline transaction.
const MAX_GROUP: usize = 1024;

/// How many commands at the start of `batch` may run as one transaction.
pub fn groupable_run(batch: &[Vec<Vec<u8>>]) -> usize {
    batch
        .iter()
        .take(MAX_GROUP)
        .take_while(|argv| {
            argv.len() >= 2 && GROUPABLE.iter().any(|n| argv[0].eq_ignore_ascii_case(n))
        })
        .count()
}

/// Reads that never wait (readers take no lock) and cost little whatever the data: a batch
/// of only these runs on the reactor's thread, without a trip to the blocking pool.
const QUICK_READS: &[&[u8]] = &[
    b"GET",
    b"EXISTS",
    b"TTL",
    b"PTTL",
    b"TYPE",
    b"STRLEN",
    b"HGET",
    b"HEXISTS",
    b"HLEN",
    b"SISMEMBER",
    b"SCARD",
    b"ZSCORE",
    b"ZCARD",
    b"LLEN",
    b"LINDEX",
    b"PING",
    b"ECHO",
];

/// Whether `batch` may run on the reactor's thread: a few quick reads.
pub fn quick(batch: &[Vec<Vec<u8>>]) -> bool {
    batch.len() <= 64
        && batch
            .iter()
            .all(|argv| QUICK_READS.iter().any(|n| argv[0].eq_ignore_ascii_case(n)))
}

/// A connection's state, moved to a blocking thread for each batch of requests.
pub struct Conn {
    pub server: Arc<Server>,
    pub client: Arc<Client>,
    pub session: Session,
    pub protocol: Protocol,
    pub authed: bool,
    /// `CLIENT REPLY`: whether command replies are sent.
    pub replies: Replies,
    /// Set by `CLIENT REPLY`, so that the command that sets the mode is not the one a
    /// `SKIP` skips.
    replies_set: bool,
}

/// What `CLIENT REPLY` chose: every reply (`ON`), none (`OFF`), or none for the next
/// command (`SKIP`). Pub/Sub messages and (un)subscribe confirmations are sent whatever
/// the mode, as Redis sends its pushes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Replies {
    On,
    Off,
    Skip,
}

/// Replies are handed to the socket in pieces of about this size while a batch runs.
pub const CHUNK: usize = 64 * 1024;

impl Conn {
    pub fn new(server: Arc<Server>, client: Arc<Client>) -> Self {
        let session = new_session(&server, &client);
        let authed = server.args.requirepass.is_none();
        Conn {
            server,
            client,
            session,
            protocol: Protocol::Resp2,
            authed,
            replies: Replies::On,
            replies_set: false,
        }
    }

    /// Runs `batch` in order, encoding each reply into `out`; whole pieces of at least
    /// [`CHUNK`] bytes go to `send` as they fill (the socket writes them meanwhile). Stops
    /// early, with [`Flow::Close`], if the client is killed or its unread output exceeds the
    /// limit.
    pub fn run_batch(
        &mut self,
        batch: Vec<Vec<Vec<u8>>>,
        out: &mut Vec<u8>,
        send: &mut dyn FnMut(Vec<u8>),
    ) -> Flow {
        let limit = self.server.args.client_output_buffer_limit;
        let mut i = 0;
        while i < batch.len() {
            if self.client.is_killed() {
                return Flow::Close;
            }
            let group =
                if self.authed && !self.session.in_transaction() && self.replies == Replies::On {
                    groupable_run(&batch[i..])
                } else {
                    0
                };
            let flow = if group >= 2 {
                self.run_group(&batch[i..i + group], out);
                i += group;
                Flow::Continue
            } else {
                i += 1;
                self.command(&batch[i - 1], out)
            };
            if out.len() >= CHUNK {
                let piece = std::mem::take(out);
                let pending =
                    self.client.omem.fetch_add(piece.len(), Ordering::SeqCst) + piece.len();
                send(piece);
                if pending > limit {
                    self.server
                        .output_limit_disconnects
                        .fetch_add(1, Ordering::Relaxed);
                    crate::log(&format!(
                        "closing client id={} addr={}: {pending} bytes of replies unread, over \
                         client-output-buffer-limit {limit}",
                        self.client.id, self.client.addr
                    ));
                    self.client.kill();
                    return Flow::Close;
                }
            }
            if flow == Flow::Close {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// Runs consecutive pipelined writes (see [`GROUPABLE`]) in one write transaction: one
    /// lock acquisition and one commit (one fsync with `--durability immediate`) for all of
    /// them. Their replies are what each would have replied alone (each sees the writes
    /// before it; an error reply leaves the others be, as it would alone) and are sent only
    /// once the commit is done; if the commit fails, each gets its error.
    fn run_group(&mut self, group: &[Vec<Vec<u8>>], out: &mut Vec<u8>) {
        if self.session.execute(&[b"BEGIN"]).is_error() {
            for argv in group {
                self.command(argv, out);
            }
            return;
        }
        let mut replies = Vec::with_capacity(group.len());
        for argv in group {
            *lock(&self.client.last_cmd) = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
            let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            replies.push(self.session.execute(&args));
        }
        let commit = self.session.execute(&[b"COMMIT"]);
        self.client
            .last_active_ms
            .store(self.server.now_ms(), Ordering::Relaxed);
        for reply in &replies {
            self.reply(if commit.is_error() { &commit } else { reply }, out);
        }
    }

    /// Notes `name` as the client's last command, now.
    pub fn note_command(&self, name: &[u8]) {
        self.client
            .last_active_ms
            .store(self.server.now_ms(), Ordering::Relaxed);
        *lock(&self.client.last_cmd) = String::from_utf8_lossy(name).to_ascii_lowercase();
    }

    /// Runs one command, encoding its reply (if it has one) into `out`.
    pub fn command(&mut self, argv: &[Vec<u8>], out: &mut Vec<u8>) -> Flow {
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
        self.note_command(&argv[0]);
        let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        if !self.authed && !matches!(name.as_str(), "AUTH" | "HELLO" | "QUIT" | "RESET") {
            self.reply(&Reply::error("NOAUTH Authentication required."), out);
            return Flow::Continue;
        }
        let (reply, flow) = match name.as_str() {
            "AUTH" => (self.auth(&args[1..]), Flow::Continue),
            "HELLO" => (self.hello(&args), Flow::Continue),
            "CLIENT" => self.client_cmd(&args[1..]),
            "QUIT" => (Reply::ok(), Flow::Close),
            "RESET" => {
                self.reset();
                (Reply::Status("RESET".into()), Flow::Continue)
            }
            "SHUTDOWN" => {
                crate::log(&format!(
                    "SHUTDOWN asked by client id={} addr={}",
                    self.client.id, self.client.addr
                ));
                self.server.request_shutdown();
                // As Redis: a successful SHUTDOWN closes the connection with no reply.
                return Flow::Close;
            }
            "CONFIG" => (self.config(&args), Flow::Continue),
            "INFO" => (self.info(&args), Flow::Continue),
            "SELECT" if lookup(b"SELECT").is_none() => (select(&args), Flow::Continue),
            n if NOT_BUILT.contains(&n) && lookup(n.as_bytes()).is_none() => (
                Reply::error(format!(
                    "ERR '{n}' is not available in ziggy-server yet: sharded pub/sub is not \
                     built"
                )),
                Flow::Continue,
            ),
            n if BLOCKING.contains(&n) && !self.session.in_transaction() => {
                (self.blocking(&args), Flow::Continue)
            }
            _ => (self.session.execute(&args), Flow::Continue),
        };
        self.client
            .in_multi
            .store(self.session.in_transaction(), Ordering::Relaxed);
        let subscription = matches!(
            name.as_str(),
            "SUBSCRIBE"
                | "PSUBSCRIBE"
                | "UNSUBSCRIBE"
                | "PUNSUBSCRIBE"
                | "SSUBSCRIBE"
                | "SUNSUBSCRIBE"
        );
        if self.replies == Replies::On || subscription {
            self.reply(&reply, out);
        }
        if std::mem::take(&mut self.replies_set) {
            // CLIENT REPLY itself: a SKIP skips the command after it.
        } else if self.replies == Replies::Skip {
            self.replies = Replies::On;
        }
        // The further replies of a command with several (`SUBSCRIBE a b`: one per channel),
        // and any message already waiting; later messages are written as they come (conn.rs).
        let mut close = false;
        while let Some(more) = self.session.next_push(Some(std::time::Duration::ZERO)) {
            // An error here is a subscriber overrun by the ring: closed, as Redis closes it.
            close |= more.is_error();
            self.reply(&more, out);
        }
        if close {
            return Flow::Close;
        }
        flow
    }

    /// Runs a blocking command: it waits on this blocking thread (the connection's task
    /// watches the socket meanwhile: conn.rs) until its keys get an element, its timeout
    /// passes, or the client is unblocked, killed, gone, or the server stops.
    fn blocking(&mut self, args: &[&[u8]]) -> Reply {
        self.client.unblock_error.store(false, Ordering::SeqCst);
        self.client.blocked.store(true, Ordering::SeqCst);
        let reply = self.session.execute(args);
        self.client.blocked.store(false, Ordering::SeqCst);
        let unblocked_with_error = self.client.unblock_error.swap(false, Ordering::SeqCst);
        if self.client.cancel.is_cancelled()
            && !self.client.is_killed()
            && !*self.server.shutdown.borrow()
        {
            // `CLIENT UNBLOCK`: later blocking commands wait again.
            self.client.cancel.reset();
        }
        if unblocked_with_error && !reply.is_error() {
            return Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
        }
        reply
    }

    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: 1 if that client waited in a blocking command
    /// (it now answers as if its timeout had passed, or with an error), else 0.
    fn client_unblock(&self, args: &[&[u8]]) -> Reply {
        let error = match args.get(1) {
            None => false,
            Some(r) if r.eq_ignore_ascii_case(b"TIMEOUT") => false,
            Some(r) if r.eq_ignore_ascii_case(b"ERROR") => true,
            Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        };
        let Some(id) = std::str::from_utf8(args[0])
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
        else {
            return Reply::error("ERR value is not an integer or out of range");
        };
        let target = u64::try_from(id).ok().and_then(|id| self.server.client(id));
        match target {
            Some(c) if c.blocked.load(Ordering::SeqCst) => {
                if error {
                    c.unblock_error.store(true, Ordering::SeqCst);
                }
                c.cancel.cancel();
                Reply::Int(1)
            }
            _ => Reply::Int(0),
        }
    }

    fn reply(&self, reply: &Reply, out: &mut Vec<u8>) {
        reply.encode(self.protocol, out);
    }

    fn password_ok(&self, user: Option<&[u8]>, pass: &[u8]) -> Reply {
        let Some(required) = &self.server.args.requirepass else {
            return Reply::error(
                "ERR AUTH <password> called without any password configured for the default \
                 user. Are you sure your configuration is correct?",
            );
        };
        let user_ok = user.is_none_or(|u| u == b"default");
        if user_ok && constant_time_eq(pass, required.as_bytes()) {
            Reply::ok()
        } else {
            Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    fn auth(&mut self, args: &[&[u8]]) -> Reply {
        let reply = match args {
            [pass] => self.password_ok(None, pass),
            [user, pass] => self.password_ok(Some(user), pass),
            _ => return Reply::error("ERR syntax error"),
        };
        if !reply.is_error() {
            self.authed = true;
        }
        reply
    }

    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`: the server checks the password
    /// and sets the name (both are the connection's), the library's `HELLO` (when it has one)
    /// replies, and on success the connection speaks the protocol asked for.
    fn hello(&mut self, args: &[&[u8]]) -> Reply {
        let mut protocol = None;
        let mut rest = &args[1..];
        if let Some((first, tail)) = rest.split_first() {
            protocol = match *first {
                b"2" => Some(Protocol::Resp2),
                b"3" => Some(Protocol::Resp3),
                v if std::str::from_utf8(v).is_ok_and(|s| s.parse::<i64>().is_ok()) => {
                    return Reply::error("NOPROTO unsupported protocol version");
                }
                _ => return Reply::error("ERR Protocol version is not an integer or out of range"),
            };
            rest = tail;
        }
        let mut name = None;
        while let Some((opt, tail)) = rest.split_first() {
            if opt.eq_ignore_ascii_case(b"AUTH") && tail.len() >= 2 {
                let reply = self.password_ok(Some(tail[0]), tail[1]);
                if reply.is_error() {
                    return reply;
                }
                self.authed = true;
                rest = &tail[2..];
            } else if opt.eq_ignore_ascii_case(b"SETNAME") && !tail.is_empty() {
                name = Some(tail[0]);
                rest = &tail[1..];
            } else {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(opt)
                ));
            }
        }
        if !self.authed {
            return Reply::error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the \
                 client and select the RESP protocol version at the same time",
            );
        }
        if let Some(name) = name {
            if let Err(reply) = check_name(name) {
                return reply;
            }
            *lock(&self.client.name) = name.to_vec();
        }
        // The library answers HELLO and switches the session's reply shapes; the
        // connection's options (password, name) are done above.
        let mut argv: Vec<&[u8]> = vec![args[0]];
        argv.extend(args.get(1).copied());
        let reply = self.session.execute(&argv);
        if !reply.is_error() {
            if let Some(p) = protocol {
                self.protocol = p;
                self.client
                    .resp3
                    .store(p == Protocol::Resp3, Ordering::Relaxed);
            }
        }
        reply
    }

    /// `RESET`: a new session (an open `BEGIN` is rolled back, `MULTI` and `WATCH` are
    /// dropped), RESP2, no name, and signed out if there is a password.
    fn reset(&mut self) {
        self.session = new_session(&self.server, &self.client);
        self.protocol = Protocol::Resp2;
        self.client.resp3.store(false, Ordering::Relaxed);
        lock(&self.client.name).clear();
        self.authed = self.server.args.requirepass.is_none();
        self.replies = Replies::On;
    }

    fn client_cmd(&mut self, args: &[&[u8]]) -> (Reply, Flow) {
        let Some(sub) = args.first() else {
            return (
                Reply::error("ERR wrong number of arguments for 'client' command"),
                Flow::Continue,
            );
        };
        let sub = String::from_utf8_lossy(sub).to_ascii_uppercase();
        let rest = &args[1..];
        let reply = match (sub.as_str(), rest) {
            ("ID", []) => Reply::Int(i64::try_from(self.client.id).unwrap_or(i64::MAX)),
            ("GETNAME", []) => {
                let name = lock(&self.client.name).clone();
                if name.is_empty() {
                    Reply::Nil
                } else {
                    Reply::Bulk(name)
                }
            }
            ("SETNAME", [name]) => match check_name(name) {
                Ok(()) => {
                    *lock(&self.client.name) = name.to_vec();
                    Reply::ok()
                }
                Err(reply) => reply,
            },
            ("SETINFO", [attr, value]) => {
                if attr.eq_ignore_ascii_case(b"LIB-NAME") {
                    *lock(&self.client.lib_name) = value.to_vec();
                    Reply::ok()
                } else if attr.eq_ignore_ascii_case(b"LIB-VER") {
                    *lock(&self.client.lib_ver) = value.to_vec();
                    Reply::ok()
                } else {
                    Reply::error(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(attr)
                    ))
                }
            }
            ("INFO", []) => Reply::Verbatim {
                format: *b"txt",
                text: format!("{}\n", self.server.client_line(&self.client)).into_bytes(),
            },
            ("LIST", _) => self.client_list(rest),
            ("KILL", _) => return self.client_kill(rest),
            ("UNBLOCK", [_] | [_, _]) => self.client_unblock(rest),
            ("NO-EVICT" | "NO-TOUCH", [_]) => Reply::ok(),
            ("REPLY", [mode]) => {
                let mode = if mode.eq_ignore_ascii_case(b"ON") {
                    Replies::On
                } else if mode.eq_ignore_ascii_case(b"OFF") {
                    Replies::Off
                } else if mode.eq_ignore_ascii_case(b"SKIP") {
                    Replies::Skip
                } else {
                    return (Reply::error("ERR syntax error"), Flow::Continue);
                };
                self.replies = mode;
                self.replies_set = true;
                Reply::ok()
            }
            ("HELP", []) => Reply::Array(
                [
                    "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
                    "ID, GETNAME, SETNAME <name>, SETINFO LIB-NAME|LIB-VER <value>, INFO,",
                    "LIST [TYPE NORMAL] [ID <id> ...],",
                    "KILL <ip:port> | KILL [ID <id>] [ADDR <ip:port>] [LADDR <ip:port>] [SKIPME yes|no],",
                    "UNBLOCK <clientid> [TIMEOUT|ERROR], REPLY ON|OFF|SKIP",
                ]
                .iter()
                .map(|l| Reply::Status((*l).into()))
                .collect(),
            ),
            _ => Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                sub.to_ascii_lowercase()
            )),
        };
        (reply, Flow::Continue)
    }

    fn client_list(&self, args: &[&[u8]]) -> Reply {
        let mut ids: Option<Vec<u64>> = None;
        let mut i = 0;
        while i < args.len() {
            let opt = args[i];
            if opt.eq_ignore_ascii_case(b"TYPE") && i + 1 < args.len() {
                let t = args[i + 1];
                if !t.eq_ignore_ascii_case(b"normal") {
                    if [&b"master"[..], b"replica", b"pubsub"]
                        .iter()
                        .any(|k| t.eq_ignore_ascii_case(k))
                    {
                        return Reply::Verbatim {
                            format: *b"txt",
                            text: Vec::new(),
                        };
                    }
                    return Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(t)
                    ));
                }
                i += 2;
            } else if opt.eq_ignore_ascii_case(b"ID") && i + 1 < args.len() {
                let mut list = Vec::new();
                for id in &args[i + 1..] {
                    match std::str::from_utf8(id).ok().and_then(|s| s.parse().ok()) {
                        Some(n) if n > 0 => list.push(n),
                        _ => return Reply::error("ERR Invalid client ID"),
                    }
                }
                ids = Some(list);
                i = args.len();
            } else {
                return Reply::error("ERR syntax error");
            }
        }
        let mut text = String::new();
        for c in self.server.clients() {
            if ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
                text.push_str(&self.server.client_line(&c));
                text.push('\n');
            }
        }
        Reply::Verbatim {
            format: *b"txt",
            text: text.into_bytes(),
        }
    }

    /// `CLIENT KILL ip:port` (replies OK or an error) or `CLIENT KILL <filter> <value> ...`
    /// (replies how many were killed). Killing itself closes this connection after the reply.
    fn client_kill(&mut self, args: &[&[u8]]) -> (Reply, Flow) {
        let mut id: Option<u64> = None;
        let mut addr: Option<&[u8]> = None;
        let mut laddr: Option<&[u8]> = None;
        let old_form = args.len() == 1;
        let mut skipme = !old_form;
        if old_form {
            addr = Some(args[0]);
        } else {
            if args.is_empty() || !args.len().is_multiple_of(2) {
                return (Reply::error("ERR syntax error"), Flow::Continue);
            }
            for pair in args.chunks(2) {
                let (opt, value) = (pair[0], pair[1]);
                if opt.eq_ignore_ascii_case(b"ID") {
                    match std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()) {
                        Some(n) if n > 0 => id = Some(n),
                        _ => {
                            return (
                                Reply::error("ERR client-id should be greater than 0"),
                                Flow::Continue,
                            )
                        }
                    }
                } else if opt.eq_ignore_ascii_case(b"ADDR") {
                    addr = Some(value);
                } else if opt.eq_ignore_ascii_case(b"LADDR") {
                    laddr = Some(value);
                } else if opt.eq_ignore_ascii_case(b"SKIPME") {
                    if value.eq_ignore_ascii_case(b"yes") {
                        skipme = true;
                    } else if value.eq_ignore_ascii_case(b"no") {
                        skipme = false;
                    } else {
                        return (Reply::error("ERR syntax error"), Flow::Continue);
                    }
                } else if opt.eq_ignore_ascii_case(b"USER") {
                    if value != b"default" {
                        return (
                            Reply::error(format!(
                                "ERR No such user '{}'",
                                String::from_utf8_lossy(value)
                            )),
                            Flow::Continue,
                        );
                    }
                } else if opt.eq_ignore_ascii_case(b"TYPE") {
                    if !value.eq_ignore_ascii_case(b"normal") {
                        return (Reply::Int(0), Flow::Continue);
                    }
                } else {
                    return (Reply::error("ERR syntax error"), Flow::Continue);
                }
            }
        }
        let mut killed = 0;
        let mut me = false;
        for c in self.server.clients() {
            let matches = id.is_none_or(|id| c.id == id)
                && addr.is_none_or(|a| a == c.addr.as_bytes())
                && laddr.is_none_or(|a| a == c.laddr.as_bytes());
            if !matches || (skipme && c.id == self.client.id) {
                continue;
            }
            if c.id == self.client.id {
                me = true;
            } else {
                c.kill();
            }
            killed += 1;
        }
        let flow = if me { Flow::Close } else { Flow::Continue };
        if old_form {
            if killed == 0 {
                (Reply::error("ERR No such client"), flow)
            } else {
                (Reply::ok(), flow)
            }
        } else {
            (Reply::Int(killed), flow)
        }
    }

    /// `CONFIG`: the server's own parameters (read-only), and the database's shared ones
    /// (`notify-keyspace-events`), which the library's `CONFIG` reads and sets for every
    /// process on the directory. `argv` is the whole command.
    fn config(&mut self, argv: &[&[u8]]) -> Reply {
        let args = &argv[1..];
        let shared = |name: &[u8]| name.eq_ignore_ascii_case(b"notify-keyspace-events");
        if let Some(sub) = args.first() {
            if sub.eq_ignore_ascii_case(b"SET")
                && args.len() >= 3
                && args[1..].chunks(2).all(|pair| shared(pair[0]))
            {
                return self.session.execute(argv);
            }
            if sub.eq_ignore_ascii_case(b"SET") && args.len() >= 3 && args.len() % 2 == 1 {
                return self.config_set_tunables(argv);
            }
            if sub.eq_ignore_ascii_case(b"GET") && args.len() >= 2 {
                let mut found = match self.server_config(args) {
                    Reply::Map(found) => found,
                    other => return other,
                };
                if let Reply::Map(more) = self.session.execute(argv) {
                    found.extend(more);
                }
                return Reply::Map(found);
            }
        }
        self.server_config(args)
    }

    /// `CONFIG SET` of Redis's encoding thresholds (`crate::state::TUNABLES`), possibly with
    /// `notify-keyspace-events` among them: all of them are checked first, then all set, so
    /// that one bad pair sets none, as in Redis.
    fn config_set_tunables(&mut self, argv: &[&[u8]]) -> Reply {
        let mut set = Vec::new();
        let mut notify = None;
        for pair in argv[2..].chunks(2) {
            let name = String::from_utf8_lossy(pair[0]).to_ascii_lowercase();
            if name == "notify-keyspace-events" {
                notify = Some(pair[1]);
                continue;
            }
            if name == "save" && pair[1].iter().all(u8::is_ascii_whitespace) {
                // No snapshots, which is what ZiggyDB does: every commit is in the log.
                continue;
            }
            let Some(key) = crate::state::tunable(&name) else {
                return Reply::error(format!(
                    "ERR CONFIG SET of '{name}' is not supported by ziggy-server: restart it \
                     with the option changed"
                ));
            };
            let value = String::from_utf8_lossy(pair[1]).into_owned();
            if value.trim().parse::<i64>().is_err() {
                return Reply::error(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - argument \
                     couldn't be parsed into an integer"
                ));
            }
            set.push((key, value));
        }
        if let Some(flags) = notify {
            let reply =
                self.session
                    .execute(&[b"CONFIG", b"SET", b"notify-keyspace-events", flags]);
            if reply.is_error() {
                return reply;
            }
        }
        let mut tunables = lock(&self.server.tunables);
        for (key, value) in set {
            tunables.insert(key, value.trim().to_owned());
        }
        Reply::ok()
    }

    fn server_config(&self, args: &[&[u8]]) -> Reply {
        let Some(sub) = args.first() else {
            return Reply::error("ERR wrong number of arguments for 'config' command");
        };
        if sub.eq_ignore_ascii_case(b"GET") && args.len() >= 2 {
            let mut pairs = self.server.args.config_pairs(self.server.port);
            for (name, alias, _) in crate::state::TUNABLES {
                let value = lock(&self.server.tunables)
                    .get(name)
                    .cloned()
                    .unwrap_or_default();
                if !alias.is_empty() {
                    pairs.push((*alias, value.clone()));
                }
                pairs.push((*name, value));
            }
            // The library's number of databases, not a server option.
            for (name, value) in &mut pairs {
                if *name == "databases" {
                    *value = self.server.db.databases().to_string();
                }
            }
            let mut found = Vec::new();
            for (name, value) in &pairs {
                if args[1..]
                    .iter()
                    .any(|pat| glob_match(&pat.to_ascii_lowercase(), name.as_bytes()))
                {
                    found.push((Reply::bulk(*name), Reply::bulk(value.as_bytes())));
                }
            }
            Reply::Map(found)
        } else if sub.eq_ignore_ascii_case(b"SET") {
            Reply::error(
                "ERR CONFIG SET is not supported by ziggy-server: restart it with the option \
                 changed",
            )
        } else if sub.eq_ignore_ascii_case(b"RESETSTAT") && args.len() == 1 {
            Reply::ok()
        } else {
            Reply::error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            ))
        }
    }

    /// The library's `INFO`, and the server's `# Clients` section when all sections or
    /// `clients` are asked for.
    fn info(&mut self, args: &[&[u8]]) -> Reply {
        let reply = self.session.execute(args);
        let sections = &args[1..];
        let wanted = sections.is_empty()
            || sections.iter().any(|s| {
                [&b"all"[..], b"default", b"everything", b"clients"]
                    .iter()
                    .any(|n| s.eq_ignore_ascii_case(n))
            });
        match reply {
            Reply::Bulk(mut text) if wanted => {
                if !text.is_empty() {
                    text.extend_from_slice(b"\r\n");
                }
                text.extend_from_slice(self.server.info_clients().as_bytes());
                Reply::Bulk(text)
            }
            Reply::Verbatim { format, mut text } if wanted => {
                if !text.is_empty() {
                    text.extend_from_slice(b"\r\n");
                }
                text.extend_from_slice(self.server.info_clients().as_bytes());
                Reply::Verbatim { format, text }
            }
            other => other,
        }
    }

    /// Rolls back a `BEGIN` that has held the writer lock too long, for a client gone quiet.
    pub fn rollback_if_overdue(&mut self) {
        if self.session.rollback_if_overdue() {
            crate::log(&format!(
                "rolled back the BEGIN of client id={} addr={}: it held the writer lock too long",
                self.client.id, self.client.addr
            ));
        }
    }
}

/// What a session of this server may do: no administration commands and no files on the
/// server's machine (its clients are not necessarily the database's owner), and a `BEGIN`
/// that holds the writer lock for at most `--max-begin-hold-ms`.
/// A connection's session: blocking commands wait on the connection's blocking thread, and
/// the client's token ends the wait.
fn new_session(server: &Server, client: &Client) -> Session {
    let mut session = Session::new(&server.db, policy(&server.args));
    session.set_cancel(client.cancel.clone());
    session
}

pub fn policy(args: &crate::config::Args) -> Policy {
    Policy {
        max_begin_hold: Some(Duration::from_millis(args.max_begin_hold_ms.max(1))),
        ..Policy::restricted()
    }
}

/// `SELECT` while the library has only database 0.
fn select(args: &[&[u8]]) -> Reply {
    if args.len() != 2 {
        return Reply::error("ERR wrong number of arguments for 'select' command");
    }
    match std::str::from_utf8(args[1])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
    {
        Some(0) => Reply::ok(),
        Some(_) => Reply::error("ERR DB index is out of range"),
        None => Reply::error("ERR value is not an integer or out of range"),
    }
}

fn check_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        Ok(())
    } else {
        Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

/// Compares a password without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}
