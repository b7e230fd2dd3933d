//! A [`Session`]: one connection's state, running commands against the database.
//!
//! A command outside a transaction runs on its own: reads go straight to the database, and
//! each write command is one write transaction (so `MSET` and `DEL a b` are atomic).
//! `MULTI` queues commands until `EXEC` runs them all in one write transaction, as Redis does;
//! `BEGIN` opens a write transaction that the following commands run in directly, showing
//! their real replies, until `COMMIT` or `ROLLBACK`.
//!
//! `WATCH` notes each key's version (the id of the transaction that last wrote it, in any
//! process). `EXEC` takes the writer lock first and then compares the versions: while it
//! holds the lock no process can commit, so if none changed, none changes before its own
//! commit; if one did, `EXEC` replies with a nil array and runs nothing, as Redis does. A
//! key that was absent when watched and is absent again is looked up in the log written
//! since the `WATCH`: if it was created and deleted meanwhile, or that can no longer be
//! told, `EXEC` aborts (see the `watch` module).
//!
//! `HELLO 3` switches the session to RESP3, as it switches a Redis connection: from then on
//! the commands whose replies Redis 7 gives in RESP3's own types give them too. Scores
//! (`ZSCORE`, `ZMSCORE`, `ZINCRBY`, `ZADD ... INCR`) are doubles; `WITHSCORES` replies and
//! `ZPOPMIN`/`ZPOPMAX` with a count are arrays of member/score pairs (a double score);
//! `HGETALL` is a map; `SMEMBERS`, `SINTER`, `SUNION`, `SDIFF` and `SPOP` with a count are
//! sets; `INFO` is a verbatim text. Everything else, and every reply under `HELLO 2` (the
//! default), is as before. Redis 7.0 gives no booleans for any command ZiggyDB has, and
//! `INCRBYFLOAT` and `HINCRBYFLOAT` stay bulk strings there, as here.

use crate::commands::collections::CollectionId;
use crate::commands::exec::{bulk_or_nil, error_reply, other, read, write};
use crate::commands::notify;
use crate::commands::parse::{
    parse, Cmd, Condition, GetExTtl, SetArgs, SetTtl, SetValue, WriteCmd,
};
use crate::commands::reply::Reply;
use crate::commands::resp::Protocol;
use crate::commands::table::{check_arity, lookup, unknown_command, CommandId, CommandSpec, Kind};
use crate::commands::watch::Watched;
use crate::{Db, WriteTxn};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a [`Session`] lets its caller do. A local tool whose user owns the database (the
/// `ziggy` CLI) trusts its caller: [`Policy::trusted`]. A server whose clients are not the
/// database's owner starts from [`Policy::restricted`] and opens what it means to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Whether the administration commands (`COMPACT`, `CHECK`, `BACKUP`, `EXPORT`,
    /// `IMPORT`: kind [`Kind::Admin`]) may run. Refused with `NOPERM` otherwise.
    pub admin: bool,
    /// Whether commands that name a file on the machine the database is on (`BACKUP`,
    /// `EXPORT`, `IMPORT`) may run, even with `admin`. Refused with `NOPERM` otherwise.
    pub server_files: bool,
    /// How long a `BEGIN` transaction may hold the cross-process writer lock (no other
    /// process, nor any other session, can commit meanwhile); `None`: as long as it likes.
    /// When it is exceeded, the transaction is rolled back (its writes are lost and the lock
    /// is released) at the session's next command, or when a caller that runs sessions
    /// calls [`Session::rollback_if_overdue`] (a server does so from a timer, for a client
    /// that has gone quiet). Every command after that fails, until `ROLLBACK` (which replies
    /// `OK`) or `COMMIT` (which replies with the error) ends the transaction: commands the
    /// client meant for the transaction never run outside it.
    pub max_begin_hold: Option<Duration>,
}

impl Policy {
    /// Everything allowed, with no limit on `BEGIN`: for a caller that owns the database.
    pub const fn trusted() -> Self {
        Policy {
            admin: true,
            server_files: true,
            max_begin_hold: None,
        }
    }

    /// No administration commands, no server-side files, and a `BEGIN` that holds the
    /// writer lock for at most 5 s: for callers that share the database with others.
    pub const fn restricted() -> Self {
        Policy {
            admin: false,
            server_files: false,
            max_begin_hold: Some(Duration::from_secs(5)),
        }
    }
}

impl Default for Policy {
    /// [`Policy::trusted`].
    fn default() -> Self {
        Policy::trusted()
    }
}

/// The time a [`Session`] reads: Unix time in milliseconds. It turns the relative expiry of
/// `EX`, `PX`, `EXPIRE`, `PEXPIRE`, `SETEX` and `GETEX` into an absolute time, counts what
/// `TTL` and `PTTL` reply from, and times a `BEGIN` against [`Policy::max_begin_hold`].
/// Whether a key has expired is still decided by the database on its own clock.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock, the default [`Clock`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        crate::commands::parse::now_ms()
    }
}

/// Commands queued by `MULTI`.
struct Multi {
    queue: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queueing, so `EXEC` must refuse to run.
    failed: bool,
}

/// One connection's state: the database, any open `MULTI` queue or `BEGIN` transaction, and
/// the keys `WATCH`ed.
pub struct Session {
    db: Db,
    policy: Policy,
    clock: Arc<dyn Clock>,
    txn: Option<WriteTxn>,
    /// When the open `BEGIN` transaction began, by [`Session::clock`].
    begun_at: u64,
    /// The `BEGIN` transaction was rolled back for holding the lock too long; commands fail
    /// until `COMMIT` or `ROLLBACK`.
    aborted: bool,
    multi: Option<Multi>,
    /// The keys `WATCH`ed.
    watched: Watched,
    /// The protocol `HELLO` chose: which types replies come in.
    protocol: Protocol,
    /// The session's number in this process, which `HELLO` replies as `id`.
    id: u64,
    /// The name `HELLO ... SETNAME` gave.
    name: Option<Vec<u8>>,
    /// Its subscriptions, and the replies of a `SUBSCRIBE` beyond the first.
    pubsub: crate::commands::pubsub::SessionPubSub,
    /// What ends a blocking command's wait early ([`Session::set_cancel`]).
    cancel: Option<crate::CancelToken>,
    /// Whether blocking commands wait ([`Session::set_blocking`]).
    blocking: bool,
    /// The database `SELECT` chose (format-spec.md §4.5).
    selected: u32,
}

/// The number the next session gets: sessions are numbered from 1 in each process.
static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

impl Session {
    /// A session on `db` (the handle is cloned; clones share one database), allowed what
    /// `policy` allows, with no transaction open and the system clock.
    pub fn new(db: &Db, policy: Policy) -> Self {
        Session {
            db: db.clone(),
            policy,
            clock: Arc::new(SystemClock),
            txn: None,
            begun_at: 0,
            aborted: false,
            multi: None,
            watched: Watched::default(),
            protocol: Protocol::Resp2,
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            name: None,
            pubsub: Default::default(),
            cancel: None,
            blocking: true,
            selected: 0,
        }
    }

    /// The database this session's commands use (Redis `SELECT`; 0 at first).
    pub fn database(&self) -> u32 {
        self.selected
    }

    /// Lets `token` end the wait of a blocking command (`BLPOP`, `BZPOPMIN`...): once it is
    /// cancelled the command replies as if its timeout had passed (a nil array), and so do
    /// later blocking commands until the token is reset. A shell cancels it from its
    /// `SIGINT` handler, for Ctrl-C.
    pub fn set_cancel(&mut self, token: crate::CancelToken) {
        self.cancel = Some(token);
    }

    /// Whether blocking commands wait (the default) or, with `false`, answer at once as they
    /// do inside `MULTI` (a nil reply when there is nothing to pop): for a caller that runs
    /// many sessions on one thread and must not let one of them stop the others.
    pub fn set_blocking(&mut self, blocking: bool) {
        self.blocking = blocking;
    }

    /// The protocol the session's replies are shaped for: [`Protocol::Resp2`] until a
    /// `HELLO 3`. A server encodes each reply with it ([`Reply::encode`]).
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The session's number in this process (from 1), as `HELLO` replies it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name given by `HELLO ... SETNAME name`, if any.
    pub fn client_name(&self) -> Option<&[u8]> {
        self.name.as_deref()
    }

    /// Replaces the clock the session reads (see [`Clock`]); for tests and for callers with
    /// a clock of their own.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// What this session allows.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// True while a `MULTI` queue or a `BEGIN` transaction is open (the prompt shows `(TX)`),
    /// including a `BEGIN` rolled back for holding the lock too long and not yet ended.
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some() || self.multi.is_some() || self.aborted
    }

    /// True while the session is subscribed to a channel or pattern (`SUBSCRIBE`,
    /// `PSUBSCRIBE`). Over RESP2 it is then in Redis's subscribed mode: only `SUBSCRIBE`,
    /// `PSUBSCRIBE`, `UNSUBSCRIBE`, `PUNSUBSCRIBE` and `PING` run (and `QUIT`, which a front
    /// end handles); a front end waits for messages with [`Session::next_push`].
    pub fn is_subscribed(&self) -> bool {
        self.pubsub.is_subscribed()
    }

    /// What the session has for its client besides the reply to each command, waiting at
    /// most `timeout` (`None`: until there is something) if it is subscribed; `None` if
    /// there is nothing:
    ///
    /// - first, the further replies of the last command: `SUBSCRIBE a b` replies once per
    ///   channel, as Redis does; [`Session::execute`] returns the first, and a front end
    ///   calls `next_push(Some(Duration::ZERO))` after every command until `None` to send
    ///   the rest;
    /// - then, while subscribed, each message as Redis sends it: `message`, channel,
    ///   payload, or `pmessage`, pattern, channel, payload ([`Reply::Push`]: a RESP3 push,
    ///   an array in RESP2), waking at once when any process publishes.
    ///
    /// A subscriber that fell further behind than the ring holds
    /// ([`Error::SubscriberOverrun`](crate::Error::SubscriberOverrun)) gets that error as a
    /// reply, and the session is no longer subscribed: a server closes such a connection, as
    /// Redis does.
    pub fn next_push(&mut self, timeout: Option<Duration>) -> Option<Reply> {
        if self.db.inner.check_fork().is_err() {
            return None;
        }
        self.pubsub.next_push(timeout)
    }

    /// Rolls back the `BEGIN` transaction if it has held the writer lock longer than
    /// [`Policy::max_begin_hold`]; true if it did. The session's commands do this
    /// themselves; a caller that keeps sessions open while their clients are quiet calls it
    /// from a timer, so that a quiet client does not keep every other writer waiting.
    pub fn rollback_if_overdue(&mut self) -> bool {
        let Some(limit) = self.policy.max_begin_hold else {
            return false;
        };
        if self.txn.is_none() {
            return false;
        }
        let held = self.clock.now_ms().saturating_sub(self.begun_at);
        if u128::from(held) <= limit.as_millis() {
            return false;
        }
        if let Some(tx) = self.txn.take() {
            tx.rollback();
        }
        self.aborted = true;
        true
    }

    /// The error every command gets after an overdue `BEGIN` was rolled back.
    fn aborted_reply(&self) -> Reply {
        Reply::error(format!(
            "ERR the transaction started by BEGIN was rolled back: it held the writer lock \
             longer than this session allows ({} ms); end it with ROLLBACK",
            self.policy.max_begin_hold.map_or(0, |d| d.as_millis())
        ))
    }

    /// A note about work that will be lost if the session ends now, if any.
    pub fn pending_warning(&self) -> Option<&'static str> {
        if self.txn.is_some() {
            Some("transaction started by BEGIN was rolled back: no COMMIT before the end")
        } else if self.multi.is_some() {
            Some("commands queued by MULTI were discarded: no EXEC before the end")
        } else {
            None
        }
    }

    /// Runs one command line as [`Session::execute`] does and hands its reply to `sink`: an
    /// `MGET` outside a transaction an element at a time as each value is read (so that a
    /// front end can write out a reply of a million values without holding it), any other
    /// reply whole. See [`ReplySink`](crate::commands::ReplySink).
    pub fn execute_to(&mut self, args: &[&[u8]], sink: &mut dyn crate::commands::ReplySink) {
        use crate::commands::parse::ReadCmd;
        use crate::commands::table::CommandId as C;
        match args.first().and_then(|name| lookup(name)) {
            Some(spec) if spec.id == C::Mget && self.runs_alone(spec, args.len()) => {
                if let Ok(Cmd::Read(ReadCmd::MGet(keys))) =
                    parse(spec, &args[1..], self.clock.now_ms())
                {
                    self.db.count_commands(1);
                    let keys = keys.iter().copied();
                    if let Err(e) = crate::commands::exec::stream_values(&self.db, keys, sink) {
                        sink.reply(error_reply(&e));
                    }
                    return;
                }
                sink.reply(self.execute(args));
            }
            _ => sink.reply(self.execute(args)),
        }
    }

    /// Runs one command line given packed ([`PackedArgs`](crate::commands::PackedArgs):
    /// the arguments one after another in one buffer, 4 bytes an argument for where each
    /// ends) as [`Session::execute_to`] runs it. An `MGET`, `EXISTS` or `MSET` outside a
    /// transaction reads its keys (and values) where they are in the buffer, so that a
    /// command of a million keys needs no list of slices (16 bytes an argument) beside it;
    /// any other command gets its arguments as slices, in a list allocated once at its size
    /// (an error reply if it cannot be).
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::commands::{split_packed, Collected, PackedArgs, Policy, Reply, Session};
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// let mut session = Session::new(&db, Policy::default());
    /// let mut line = b"MGET a b".to_vec();
    /// let ends = split_packed(&mut line).expect("balanced quotes");
    /// let args = PackedArgs::new(&line, &ends).expect("ends from split_packed");
    /// let mut sink = Collected::default();
    /// session.execute_packed(args, &mut sink);
    /// assert_eq!(sink.into_reply(), Reply::Array(vec![Reply::bulk("1"), Reply::Nil]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn execute_packed(
        &mut self,
        args: crate::commands::PackedArgs<'_>,
        sink: &mut dyn crate::commands::ReplySink,
    ) {
        use crate::commands::table::CommandId as C;
        let spec = args.get(0).and_then(|name| lookup(name));
        // MSET's pairs: keys and values alternating after its name.
        let paired = |id| id != C::Mset || args.len() % 2 == 1;
        if let Some(spec) = spec.filter(|s| {
            matches!(s.id, C::Mget | C::Exists | C::Mset)
                && paired(s.id)
                && (s.id != C::Mset || notify::flags(&self.db) == 0)
                && self.runs_alone(s, args.len())
        }) {
            self.db.count_commands(1);
            let keys = args.skip(1);
            match spec.id {
                C::Mget => {
                    if let Err(e) = crate::commands::exec::stream_values(&self.db, keys, sink) {
                        sink.reply(error_reply(&e));
                    }
                }
                C::Exists => sink.reply(self.db.count_existing_of(keys).map_or_else(
                    |e| error_reply(&e),
                    |n| Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                )),
                _ => {
                    // Written straight from the line, as from slices (`run_alone`).
                    let arg = move |i: usize| args.get(i).unwrap_or_default();
                    let pairs = args.len() / 2;
                    let written = self.db.begin_write().and_then(|tx| {
                        tx.commit_set_by(pairs, move |i| (arg(2 * i + 1), arg(2 * i + 2)))
                    });
                    sink.reply(written.map_or_else(|e| error_reply(&e), |()| Reply::ok()));
                }
            }
            return;
        }
        match args.to_slices() {
            Ok(slices) => self.execute_to(&slices, sink),
            Err(e) => {
                let reply = self.refuse_in_multi(Reply::error(e.to_string()));
                sink.reply(reply);
            }
        }
    }

    /// Whether `spec` with `argc` arguments (its name among them) runs now, outside any
    /// transaction, with nothing to refuse it: a command answered straight from the
    /// committed state then replies as [`Session::execute`] would.
    fn runs_alone(&self, spec: &CommandSpec, argc: usize) -> bool {
        self.selected == 0
            && self.multi.is_none()
            && self.txn.is_none()
            && !self.aborted
            && check_arity(spec, argc).is_ok()
            && self.allowed(spec).is_ok()
            && self
                .pubsub
                .refuse(spec.id, spec.name, self.protocol)
                .is_none()
    }

    /// Runs one command line, `args[0]` being the command name. An empty `args` is an
    /// unknown command.
    pub fn execute(&mut self, args: &[&[u8]]) -> Reply {
        use crate::commands::table::CommandId as C;
        let Some(spec) = args.first().and_then(|name| lookup(name)) else {
            return self.refuse_in_multi(unknown_command(args));
        };
        if let Err(reply) = check_arity(spec, args.len()) {
            return self.refuse_in_multi(reply);
        }
        if let Err(reply) = self.allowed(spec) {
            return self.refuse_in_multi(reply);
        }
        if let Some(reply) = self.pubsub.refuse(spec.id, spec.name, self.protocol) {
            return reply;
        }
        self.db.count_commands(1);
        self.rollback_if_overdue();
        if self.aborted {
            return match spec.id {
                C::Rollback => {
                    self.aborted = false;
                    Reply::ok()
                }
                C::Commit => {
                    self.aborted = false;
                    self.aborted_reply()
                }
                _ => self.aborted_reply(),
            };
        }
        if self.multi.is_some() && !matches!(spec.id, C::Multi | C::Exec | C::Discard | C::Watch) {
            if matches!(spec.kind, Kind::Admin | Kind::Control) {
                return self
                    .refuse_in_multi(Reply::error("ERR Command not allowed inside a transaction"));
            }
            // A subcommand is checked as a command of its own is: before it is queued.
            if spec.id == C::Command {
                if let Err(reply) = crate::commands::introspect::parse(&args[1..]) {
                    return self.refuse_in_multi(reply);
                }
            }
            if let Some(multi) = &mut self.multi {
                multi.queue.push(args.iter().map(|a| a.to_vec()).collect());
            }
            return Reply::Status("QUEUED".into());
        }
        match spec.id {
            C::Multi => self.multi(),
            C::Exec => self.exec(),
            C::Discard => match self.multi.take() {
                Some(_) => {
                    self.watched.clear();
                    Reply::ok()
                }
                None => Reply::error("ERR DISCARD without MULTI"),
            },
            C::Watch => self.watch(&args[1..]),
            C::Hello => self.hello(&args[1..]),
            // Subscribed mode would refuse the COMMIT that ends the transaction.
            C::Subscribe | C::Psubscribe | C::Ssubscribe if self.txn.is_some() => {
                Reply::error(format!("ERR {} inside BEGIN is not allowed", spec.name))
            }
            C::Publish
            | C::Subscribe
            | C::Psubscribe
            | C::Unsubscribe
            | C::Punsubscribe
            | C::Pubsub
            | C::Spublish
            | C::Ssubscribe
            | C::Sunsubscribe => self.pubsub.run(&self.db, spec.id, args),
            C::Config => notify::config(&self.db, &args[1..]),
            C::Ping if self.pubsub.is_subscribed() && self.protocol == Protocol::Resp2 => self
                .pubsub
                .ping(args, self.protocol)
                .unwrap_or_else(|| Reply::Status("PONG".into())),
            C::Unwatch => {
                self.watched.clear();
                Reply::ok()
            }
            C::Begin => self.begin(),
            C::Commit => match self.txn.take() {
                Some(tx) => tx
                    .commit()
                    .map_or_else(|e| error_reply(&e), |()| Reply::ok()),
                None => Reply::error("ERR COMMIT without BEGIN"),
            },
            C::Rollback => match self.txn.take() {
                Some(tx) => {
                    tx.rollback();
                    Reply::ok()
                }
                None => Reply::error("ERR ROLLBACK without BEGIN"),
            },
            _ if spec.kind == Kind::Admin && self.txn.is_some() => {
                Reply::error("ERR Command not allowed inside a transaction")
            }
            _ => match parse(spec, &args[1..], self.clock.now_ms()) {
                Ok(cmd) => {
                    let select = match &cmd {
                        Cmd::Keyspace(crate::commands::keyspace::Cmd::Select(n)) => Some(*n),
                        _ => None,
                    };
                    let result = match self.txn.as_mut() {
                        Some(tx) => run_noted(&self.db, tx, spec, args, cmd),
                        None if self.selected != 0 => {
                            run_in_database(&self.db, self.selected, spec, args, cmd)
                        }
                        None if spec.kind == Kind::Write && notify::flags(&self.db) != 0 => {
                            let cancel = self.cancel.as_ref().filter(|_| self.blocking);
                            run_notified(&self.db, spec, args, cmd, cancel, self.blocking)
                        }
                        None => run_alone(
                            &self.db,
                            cmd,
                            self.cancel.as_ref().filter(|_| self.blocking),
                            self.blocking,
                        ),
                    };
                    let reply = result.unwrap_or_else(|e| error_reply(&e));
                    if let Some(n) = select.filter(|_| !reply.is_error()) {
                        self.selected = n;
                    }
                    self.shaped(spec.id, args, reply)
                }
                Err(reply) => reply,
            },
        }
    }

    /// Whether the policy lets `spec` run.
    fn allowed(&self, spec: &CommandSpec) -> Result<(), Reply> {
        use crate::commands::table::CommandId as C;
        let refused = if spec.kind == Kind::Admin && !self.policy.admin {
            true
        } else {
            matches!(spec.id, C::Backup | C::Export | C::Import) && !self.policy.server_files
        };
        if refused {
            Err(Reply::error(format!(
                "NOPERM this session may not run the '{}' command",
                spec.name.to_ascii_lowercase()
            )))
        } else {
            Ok(())
        }
    }

    /// Replies `reply` (an error) and, inside `MULTI`, makes the coming `EXEC` fail.
    fn refuse_in_multi(&mut self, reply: Reply) -> Reply {
        if let Some(multi) = &mut self.multi {
            multi.failed = true;
        }
        reply
    }

    fn multi(&mut self) -> Reply {
        if self.multi.is_some() {
            return Reply::error("ERR MULTI calls can not be nested");
        }
        if self.txn.is_some() {
            return Reply::error("ERR MULTI inside BEGIN is not allowed");
        }
        self.multi = Some(Multi {
            queue: Vec::new(),
            failed: false,
        });
        Reply::ok()
    }

    fn watch(&mut self, keys: &[&[u8]]) -> Reply {
        if self.multi.is_some() {
            return Reply::error("ERR WATCH inside MULTI is not allowed");
        }
        if self.txn.is_some() {
            return Reply::error("ERR WATCH inside BEGIN is not allowed");
        }
        match self.watched.add(&self.db, self.selected, keys) {
            Ok(()) => Reply::ok(),
            Err(e) => error_reply(&e),
        }
    }

    fn exec(&mut self) -> Reply {
        let Some(multi) = self.multi.take() else {
            return Reply::error("ERR EXEC without MULTI");
        };
        let watched = std::mem::take(&mut self.watched);
        if multi.failed {
            return Reply::error("EXECABORT Transaction discarded because of previous errors.");
        }
        if multi.queue.is_empty() && watched.is_empty() {
            return Reply::Array(Vec::new());
        }
        let mut tx = match self.db.begin_write() {
            Ok(tx) => tx,
            Err(e) => return error_reply(&e),
        };
        if let Err(e) = tx.select(self.selected) {
            return error_reply(&e);
        }
        // The writer lock is held from here to the commit, so keys unchanged now stay
        // unchanged until this transaction's own commit.
        match watched.unchanged(&self.db) {
            Ok(true) => {}
            Ok(false) => {
                tx.rollback();
                return Reply::NilArray;
            }
            Err(e) => {
                tx.rollback();
                return error_reply(&e);
            }
        }
        // As in Redis, a command that fails does not stop the others or undo them.
        let mut replies = Vec::with_capacity(multi.queue.len());
        for args in &multi.queue {
            let args = crate::commands::split::as_args(args);
            // Only known commands were queued; an unknown one would be refused here.
            let Some(spec) = args.first().and_then(|name| lookup(name)) else {
                replies.push(unknown_command(&args));
                continue;
            };
            let reply = match parse(spec, &args[1..], self.clock.now_ms()) {
                Ok(cmd) => run_noted(&self.db, &mut tx, spec, &args, cmd)
                    .unwrap_or_else(|e| error_reply(&e)),
                // HELLO is queued as Redis queues it, and run by the session.
                Err(_) if spec.id == CommandId::Hello => self.hello(&args[1..]),
                // PUBLISH and PUBSUB are queued as Redis queues them, and run by the session.
                Err(_)
                    if matches!(
                        spec.id,
                        CommandId::Publish | CommandId::Pubsub | CommandId::Spublish
                    ) =>
                {
                    self.pubsub.run(&self.db, spec.id, &args)
                }
                Err(_) if spec.id == CommandId::Config => notify::config(&self.db, &args[1..]),
                Err(reply) => reply,
            };
            replies.push(self.shaped(spec.id, &args, reply));
        }
        // A SELECT among the commands stays in force after them, as in Redis.
        self.selected = tx.database();
        match tx.commit() {
            Ok(()) => Reply::Array(replies),
            Err(e) => error_reply(&e),
        }
    }

    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`, with Redis's checks
    /// in Redis's order. There are no users: `AUTH` accepts the user `default` with any
    /// password, as a Redis without `requirepass` does, and refuses any other user.
    fn hello(&mut self, args: &[&[u8]]) -> Reply {
        let mut protocol = self.protocol;
        let mut options = args;
        if let Some((version, rest)) = args.split_first() {
            protocol = match crate::commands::parse_int(version) {
                Some(2) => Protocol::Resp2,
                Some(3) => Protocol::Resp3,
                Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
                None => {
                    return Reply::error("ERR Protocol version is not an integer or out of range")
                }
            };
            options = rest;
        }
        let mut user = None;
        let mut name = None;
        let mut i = 0;
        while let Some(opt) = options.get(i) {
            let more = options.len() - i - 1;
            if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
                user = Some(options[i + 1]);
                i += 3;
            } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
                name = Some(options[i + 1]);
                i += 2;
            } else {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(opt).replace(['\r', '\n'], " ")
                ));
            }
        }
        if user.is_some_and(|u| u != b"default") {
            return Reply::error("WRONGPASS invalid username-password pair or user is disabled.");
        }
        if let Some(name) = name {
            if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                return Reply::error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            self.name = (!name.is_empty()).then(|| name.to_vec());
        }
        self.protocol = protocol;
        let text = |s: &str| Reply::bulk(s);
        Reply::Map(vec![
            (text("server"), text("ziggydb")),
            (text("version"), text(env!("CARGO_PKG_VERSION"))),
            (
                text("proto"),
                Reply::Int(if protocol == Protocol::Resp3 { 3 } else { 2 }),
            ),
            (
                text("id"),
                Reply::Int(i64::try_from(self.id).unwrap_or(i64::MAX)),
            ),
            (text("mode"), text("standalone")),
            (text("role"), text("master")),
            (text("modules"), Reply::Array(Vec::new())),
        ])
    }

    /// `reply` (to `args`, a command `id`) in the types the session's protocol gives it.
    fn shaped(&self, id: CommandId, args: &[&[u8]], reply: Reply) -> Reply {
        match self.protocol {
            Protocol::Resp2 => reply,
            Protocol::Resp3 => resp3(id, args, reply),
        }
    }

    fn begin(&mut self) -> Reply {
        if self.txn.is_some() {
            return Reply::error("ERR BEGIN calls can not be nested");
        }
        match self.db.begin_write() {
            Ok(mut tx) => {
                if let Err(e) = tx.select(self.selected) {
                    return error_reply(&e);
                }
                self.txn = Some(tx);
                self.begun_at = self.clock.now_ms();
                Reply::ok()
            }
            Err(e) => error_reply(&e),
        }
    }
}

/// A reply built for RESP2 (to `args`, a command `id`) in the types Redis 7 gives it over
/// RESP3 (see the module's documentation). An error stays as it is.
fn resp3(id: CommandId, args: &[&[u8]], reply: Reply) -> Reply {
    use CollectionId as L;
    use CommandId as C;
    if reply.is_error() {
        return reply;
    }
    let with_scores = || {
        args.get(4..)
            .is_some_and(|opts| opts.iter().any(|o| o.eq_ignore_ascii_case(b"WITHSCORES")))
    };
    match id {
        C::Coll(L::Zscore | L::Zincrby | L::Zadd) => double(reply),
        C::Coll(L::Zmscore) => map_items(reply, double),
        C::Coll(L::Zrange | L::Zrevrange | L::Zrangebyscore | L::Zrevrangebyscore)
            if with_scores() =>
        {
            scored_pairs(reply)
        }
        // With a count, pairs; without, one member and its score.
        C::Coll(L::Zpopmin | L::Zpopmax) if args.len() > 2 => scored_pairs(reply),
        // `[key, [[member, score], ...]]`.
        C::Coll(L::Zmpop | L::Bzmpop) => match reply {
            Reply::Array(mut items) if items.len() == 2 => {
                if let Some(Reply::Array(pairs)) = items.pop() {
                    let pairs = pairs
                        .into_iter()
                        .map(|p| match p {
                            Reply::Array(mut pair) => {
                                if let Some(score) = pair.pop() {
                                    pair.push(double(score));
                                }
                                Reply::Array(pair)
                            }
                            other => other,
                        })
                        .collect();
                    items.push(Reply::Array(pairs));
                }
                Reply::Array(items)
            }
            other => other,
        },
        C::Coll(L::Zpopmin | L::Zpopmax | L::Bzpopmin | L::Bzpopmax) => match reply {
            Reply::Array(mut items) => {
                if let Some(score) = items.pop() {
                    items.push(double(score));
                }
                Reply::Array(items)
            }
            other => other,
        },
        C::Coll(L::Hgetall) => match reply {
            Reply::Array(items) => {
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Reply::Map(pairs)
            }
            other => other,
        },
        C::Coll(L::Zrandmember) if args.len() > 3 => scored_pairs(reply),
        // `ZUNION numkeys key ... [options]`: WITHSCORES among the options after the keys.
        C::Coll(L::Zunion | L::Zinter | L::Zdiff)
            if crate::commands::parse_int(args.get(1).copied().unwrap_or_default())
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| args.get(n.saturating_add(2)..))
                .is_some_and(|opts| opts.iter().any(|o| o.eq_ignore_ascii_case(b"WITHSCORES"))) =>
        {
            scored_pairs(reply)
        }
        // `ZRANK key member WITHSCORE`: `[rank, score]`.
        C::Coll(L::Zrank | L::Zrevrank) if args.len() > 3 => match reply {
            Reply::Array(mut items) => {
                if let Some(score) = items.pop() {
                    items.push(double(score));
                }
                Reply::Array(items)
            }
            other => other,
        },
        C::Coll(L::Hrandfield) if args.len() > 3 => match reply {
            Reply::Array(items) => {
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(field), Some(value)) = (items.next(), items.next()) {
                    pairs.push(Reply::Array(vec![field, value]));
                }
                Reply::Array(pairs)
            }
            other => other,
        },
        C::Coll(L::Smembers | L::Sinter | L::Sunion | L::Sdiff) => set(reply),
        C::Coll(L::Spop) if args.len() > 2 => set(reply),
        C::Bits(id) => crate::commands::bits::resp3(id, reply),
        C::Info => match reply {
            Reply::Bulk(text) => Reply::Verbatim {
                format: *b"txt",
                text,
            },
            other => other,
        },
        _ => reply,
    }
}

/// A score printed as a bulk string, as a double.
fn double(reply: Reply) -> Reply {
    let score = reply
        .bulk_bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse::<f64>().ok());
    score.map_or(reply, Reply::Double)
}

fn map_items(reply: Reply, f: fn(Reply) -> Reply) -> Reply {
    match reply {
        Reply::Array(items) => Reply::Array(items.into_iter().map(f).collect()),
        other => other,
    }
}

fn set(reply: Reply) -> Reply {
    match reply {
        Reply::Array(items) => Reply::Set(items),
        other => other,
    }
}

/// A flat member, score, member, score... array as an array of [member, score] pairs.
fn scored_pairs(reply: Reply) -> Reply {
    match reply {
        Reply::Array(items) => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(member), Some(score)) = (items.next(), items.next()) {
                pairs.push(Reply::Array(vec![member, double(score)]));
            }
            Reply::Array(pairs)
        }
        other => other,
    }
}

/// Runs a non-control command outside any transaction; a write command gets a transaction of
/// its own, committed if it succeeds.
fn run_alone(
    db: &Db,
    cmd: Cmd<'_>,
    cancel: Option<&crate::CancelToken>,
    blocking: bool,
) -> crate::Result<Reply> {
    match cmd {
        // A session that must not wait runs a blocking pop in a transaction of its own,
        // where it does not wait.
        Cmd::Coll(cmd) if !blocking && cmd.blocks() => {
            let mut tx = db.begin_write()?;
            let reply = crate::commands::collections::run(db, Some(&mut tx), &cmd);
            if reply.is_error() {
                tx.rollback();
            } else {
                tx.commit()?;
            }
            Ok(reply)
        }
        Cmd::Coll(cmd) => Ok(crate::commands::collections::run_with(
            db, None, &cmd, cancel,
        )),
        Cmd::Keyspace(cmd) => crate::commands::keyspace::run(db, None, &cmd),
        Cmd::Bits(cmd) => Ok(crate::commands::bits::run(db, None, &cmd)),
        Cmd::Read(cmd) => read(db, cmd),
        // Deletes in several transactions if one cannot hold them all.
        Cmd::Write(WriteCmd::FlushDb) => {
            db.clear()?;
            Ok(Reply::ok())
        }
        // Written straight from the arguments, with no pending copy of each pair or value.
        Cmd::Write(WriteCmd::MSet(keys_and_values)) => {
            db.begin_write()?.commit_set_alternating(keys_and_values)?;
            Ok(Reply::ok())
        }
        Cmd::Write(WriteCmd::Set(SetArgs {
            key,
            value: SetValue::Bytes(value),
            ttl: SetTtl::Clear,
            condition: Condition::Always,
            get: false,
        })) => {
            db.begin_write()?.commit_set_many(&[(key, value)])?;
            Ok(Reply::ok())
        }
        Cmd::Write(WriteCmd::GetEx(key, GetExTtl::At(at))) => Ok(bulk_or_nil(
            db.begin_write()?.commit_get_and_expire_at(key, at)?,
        )),
        Cmd::Write(WriteCmd::GetSet(key, value)) => {
            let tx = db.begin_write()?;
            tx.check_value_size(key, value.len())?;
            let previous = tx.get(key)?;
            tx.commit_set_many(&[(key, value)])?;
            Ok(bulk_or_nil(previous))
        }
        Cmd::Write(cmd) => {
            let mut tx = db.begin_write()?;
            match write(&mut tx, cmd) {
                Ok(reply) => {
                    tx.commit()?;
                    Ok(reply)
                }
                Err(e) => {
                    tx.rollback();
                    Err(e)
                }
            }
        }
        Cmd::Server(cmd) => other(db, cmd),
    }
}

/// Runs a non-control command outside any transaction in database `index` (not 0): in a
/// transaction of its own that selects it, committed unless the command fails. Commands on
/// the whole database run as in database 0, `FLUSHDB` clears the selected database. A
/// blocking pop does not wait (as inside `MULTI`): waiting is for database 0.
fn run_in_database(
    db: &Db,
    index: u32,
    spec: &CommandSpec,
    args: &[&[u8]],
    cmd: Cmd<'_>,
) -> crate::Result<Reply> {
    match cmd {
        Cmd::Write(WriteCmd::FlushDb) => {
            db.clear_database(index)?;
            Ok(Reply::ok())
        }
        Cmd::Keyspace(crate::commands::keyspace::Cmd::FlushAll) | Cmd::Server(_) => {
            run_alone(db, cmd, None, false)
        }
        cmd => {
            let mut tx = db.begin_write()?;
            tx.select(index)?;
            let reply = run_noted(db, &mut tx, spec, args, cmd);
            match reply {
                Ok(reply) if !reply.is_error() => {
                    tx.commit()?;
                    Ok(reply)
                }
                other => {
                    tx.rollback();
                    other
                }
            }
        }
    }
}

/// Runs a non-control command inside the open transaction `tx`.
/// A command that fails leaves none of its writes behind (as each Redis command is atomic).
/// Runs one command line (`args[0]` the command name) inside `tx`, a transaction of `db` that
/// the caller holds, as a command between `BEGIN` and `COMMIT` runs: reads see the
/// transaction's writes, writes become part of it, and a command that fails leaves the
/// transaction as it was before that command. For front ends that own a transaction
/// themselves (the language bindings' transaction blocks, the C ABI's `ziggy_txn_exec`).
///
/// Transaction control (`MULTI`, `EXEC`, `BEGIN`, `COMMIT`, ...) and commands on the whole
/// database (`COMPACT`, `FLUSHDB`, ...) are refused with an error reply, as inside `BEGIN`.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::{execute_in, Reply};
/// # fn main() -> ziggydb::Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| ziggydb::Error::InvalidArgument(e.to_string()))?;
/// let db = ziggydb::Db::open(dir.path().join("db"))?;
/// let mut tx = db.begin_write()?;
/// assert_eq!(execute_in(&db, &mut tx, &[b"RPUSH", b"jobs", b"a", b"b"]), Reply::Int(2));
/// assert_eq!(execute_in(&db, &mut tx, &[b"LLEN", b"jobs"]), Reply::Int(2));
/// assert!(execute_in(&db, &mut tx, &[b"MULTI"]).is_error());
/// tx.commit()?;
/// assert_eq!(db.list(b"jobs").len()?, 2);
/// # Ok(())
/// # }
/// ```
pub fn execute_in(db: &Db, tx: &mut WriteTxn, args: &[&[u8]]) -> Reply {
    let Some(spec) = args.first().and_then(|name| lookup(name)) else {
        return unknown_command(args);
    };
    if let Err(reply) = check_arity(spec, args.len()) {
        return reply;
    }
    if matches!(spec.kind, Kind::Admin | Kind::Control) {
        return Reply::error("ERR Command not allowed inside a transaction");
    }
    db.count_commands(1);
    match parse(spec, &args[1..], crate::commands::parse::now_ms()) {
        Ok(cmd) => run_noted(db, tx, spec, args, cmd).unwrap_or_else(|e| error_reply(&e)),
        Err(reply) => reply,
    }
}

/// `reply`, the reply to `args` as a RESP2 session or [`execute_in`] gives it, in the types
/// Redis 7 gives it over RESP3 (a map for `HGETALL`, doubles for scores, sets for
/// `SMEMBERS`), as a session after `HELLO 3` replies. For bindings that hand replies to a
/// language with maps and floats, and run commands both in a session and through
/// [`execute_in`]: both then reply in the same shapes. An error reply, or one to an unknown
/// command, is returned as it is.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::{execute_in, to_resp3, Reply};
/// # fn main() -> ziggydb::Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| ziggydb::Error::InvalidArgument(e.to_string()))?;
/// let db = ziggydb::Db::open(dir.path().join("db"))?;
/// let mut tx = db.begin_write()?;
/// execute_in(&db, &mut tx, &[b"HSET", b"h", b"f", b"v"]);
/// let args: [&[u8]; 2] = [b"HGETALL", b"h"];
/// let reply = to_resp3(&args, execute_in(&db, &mut tx, &args));
/// assert_eq!(reply, Reply::Map(vec![(Reply::bulk("f"), Reply::bulk("v"))]));
/// # Ok(())
/// # }
/// ```
pub fn to_resp3(args: &[&[u8]], reply: Reply) -> Reply {
    match args.first().and_then(|name| lookup(name)) {
        Some(spec) => resp3(spec.id, args, reply),
        None => reply,
    }
}

/// [`run_in_txn`], noting the command's keyspace notifications in `tx` if they are on
/// (format-spec.md §5.4): published when `tx` commits.
fn run_noted(
    db: &Db,
    tx: &mut WriteTxn,
    spec: &CommandSpec,
    args: &[&[u8]],
    cmd: Cmd<'_>,
) -> crate::Result<Reply> {
    let before = notify::before(db, tx, spec, args, tx.internal_writes());
    let reply = run_in_txn(db, tx, cmd);
    if let (Some(before), Ok(reply)) = (before, &reply) {
        notify::note(tx, before, spec.id, args, reply);
    }
    reply
}

/// A write command run outside any transaction while keyspace notifications are on: in a
/// transaction of its own that publishes its events when it commits; a blocking pop, which
/// the library commits, publishes them after.
fn run_notified(
    db: &Db,
    spec: &CommandSpec,
    args: &[&[u8]],
    cmd: Cmd<'_>,
    cancel: Option<&crate::CancelToken>,
    blocking: bool,
) -> crate::Result<Reply> {
    match cmd {
        Cmd::Coll(c) if blocking && c.blocks() => {
            let before = notify::before(db, db, spec, args, 0);
            let reply = run_alone(db, Cmd::Coll(c), cancel, blocking)?;
            if let Some(before) = before {
                notify::publish(db, before, spec.id, args, &reply);
            }
            Ok(reply)
        }
        // Deletes in several transactions if one cannot hold them all; no events.
        Cmd::Write(WriteCmd::FlushDb) => run_alone(db, cmd, cancel, blocking),
        _ => {
            let mut tx = db.begin_write()?;
            let reply = run_noted(db, &mut tx, spec, args, cmd);
            match reply {
                Ok(reply) if !reply.is_error() => {
                    tx.commit()?;
                    Ok(reply)
                }
                other => {
                    tx.rollback();
                    other
                }
            }
        }
    }
}

fn run_in_txn(db: &Db, tx: &mut WriteTxn, cmd: Cmd<'_>) -> crate::Result<Reply> {
    let sp = tx.savepoint();
    let reply = match cmd {
        Cmd::Coll(cmd) => Ok(crate::commands::collections::run(db, Some(tx), &cmd)),
        Cmd::Keyspace(cmd) => crate::commands::keyspace::run(db, Some(tx), &cmd),
        Cmd::Bits(cmd) => Ok(crate::commands::bits::run(db, Some(tx), &cmd)),
        Cmd::Read(cmd) => read(tx, cmd),
        Cmd::Write(cmd) => write(tx, cmd),
        Cmd::Server(cmd) => other(db, cmd),
    };
    if matches!(reply, Err(_) | Ok(Reply::Error(_))) {
        tx.rollback_to(sp);
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::split::split_line;
    use crate::commands::table::{Group, COMMANDS};

    fn argv(line: &str) -> Vec<&'static [u8]> {
        split_line(line.as_bytes())
            .expect("a well-formed line")
            .into_iter()
            .map(|a| &*Vec::leak(a))
            .collect()
    }

    fn err(text: &str) -> Reply {
        Reply::error(text)
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s)
    }

    fn status(s: &str) -> Reply {
        Reply::Status(s.into())
    }

    fn array(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| bulk(s)).collect())
    }

    #[test]
    fn table_is_consistent() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert_ne!(spec.arity, 0, "{}", spec.name);
            assert!(
                COMMANDS[i + 1..].iter().all(|c| c.name != spec.name),
                "{} listed twice",
                spec.name
            );
            assert!(!spec.summary.is_empty());
        }
    }

    #[test]
    fn maintenance_commands_are_in_the_table_and_those_not_run_in_a_session_say_so(
    ) -> crate::Result<()> {
        for name in [
            "INFO", "CHECK", "REPAIR", "BACKUP", "EXPORT", "IMPORT", "COMPACT",
        ] {
            let spec = lookup(name.as_bytes()).expect(name);
            assert_eq!(spec.group, Group::Server, "{name}");
        }
        let mut f = Fixture::new()?;
        let Reply::Error(repair) = f.run("REPAIR") else {
            panic!("REPAIR in an open session is refused");
        };
        assert!(
            repair.starts_with("ERR REPAIR needs the database to itself")
                && repair.contains(" repair`"),
            "{repair}"
        );
        assert_eq!(
            f.run("EXPORT f FORMAT xml"),
            err("ERR unknown export format (expected JSONL or RESP)")
        );
        assert_eq!(f.run("EXPORT f FORMAT"), err("ERR syntax error"));
        assert_eq!(
            f.run("IMPORT /nowhere/f"),
            err("ERR cannot open /nowhere/f: No such file or directory (os error 2)")
        );
        assert!(matches!(f.run("MULTI"), Reply::Status(_)));
        assert_eq!(
            f.run("EXPORT f"),
            err("ERR Command not allowed inside a transaction")
        );
        assert_eq!(
            f.run("BACKUP"),
            err("ERR wrong number of arguments for 'backup' command")
        );
        Ok(())
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(lookup(b"get").unwrap().name, "GET");
        assert_eq!(lookup(b"GeTtYpE").unwrap().name, "GETTYPE");
        assert_eq!(lookup(b"json.get").unwrap().name, "JSON.GET");
        assert!(lookup(b"nope").is_none());
    }

    #[test]
    fn arity_errors_name_the_command_in_lower_case() {
        let arity = |line: &str| {
            let args = argv(line);
            check_arity(lookup(args[0]).unwrap(), args.len())
        };
        let e = err("ERR wrong number of arguments for 'get' command");
        assert_eq!(arity("GET"), Err(e.clone()));
        assert_eq!(arity("get a b"), Err(e));
        assert_eq!(
            arity("DEL"),
            Err(err("ERR wrong number of arguments for 'del' command"))
        );
        assert_eq!(
            arity("json.set k $"),
            Err(err("ERR wrong number of arguments for 'json.set' command"))
        );
        assert_eq!(arity("SCAN 0 MATCH x"), Ok(()));
    }

    #[test]
    fn unknown_command_quotes_its_arguments() {
        assert_eq!(
            unknown_command(&argv("foo a b")),
            err("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
        );
        assert_eq!(
            unknown_command(&argv("FOO")),
            err("ERR unknown command 'FOO', with args beginning with: ")
        );
        let long = format!("foo {} b", "x".repeat(200));
        let Reply::Error(text) = unknown_command(&argv(&long)) else {
            panic!()
        };
        assert!(text.ends_with(&format!("'{}' ", "x".repeat(128))), "{text}");
    }

    /// A session on a fresh database.
    struct Fixture {
        _dir: tempfile::TempDir,
        db: Db,
        session: Session,
    }

    impl Fixture {
        fn new() -> crate::Result<Self> {
            let dir =
                tempfile::tempdir().map_err(|e| crate::Error::InvalidArgument(e.to_string()))?;
            let db = Db::options()
                .active_expiry(None)
                .open(dir.path().join("db"))?;
            Ok(Fixture {
                _dir: dir,
                session: Session::new(&db, Policy::trusted()),
                db,
            })
        }

        /// Runs `line`, split as the shell splits it.
        fn run(&mut self, line: &str) -> Reply {
            self.session.execute(&argv(line))
        }

        /// Runs `line` and returns its integer reply.
        fn int(&mut self, line: &str) -> i64 {
            match self.run(line) {
                Reply::Int(n) => n,
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    /// A clock that moves only when told to.
    struct FakeClock(std::sync::atomic::AtomicU64);

    impl Clock for FakeClock {
        fn now_ms(&self) -> u64 {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl FakeClock {
        fn advance(&self, ms: u64) {
            self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// A fixture whose session runs under `policy` on a fake clock starting at the real time.
    fn with_policy(policy: Policy) -> crate::Result<(Fixture, Arc<FakeClock>)> {
        let mut f = Fixture::new()?;
        let clock = Arc::new(FakeClock(crate::commands::parse::now_ms().into()));
        f.session = Session::new(&f.db, policy);
        f.session.set_clock(clock.clone());
        Ok((f, clock))
    }

    /// True if another thread can take the writer lock and commit within a minute (it
    /// waits for the lock while a transaction holds it).
    fn another_writer_commits(db: &Db) -> bool {
        let db = db.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(db.set(b"other-writer", 1i64).is_ok());
        });
        rx.recv_timeout(Duration::from_secs(60)).unwrap_or(false)
    }

    #[test]
    fn a_restricted_policy_refuses_admin_commands_and_server_files() -> crate::Result<()> {
        let (mut f, _) = with_policy(Policy::restricted())?;
        let noperm = |name: &str| {
            err(&format!(
                "NOPERM this session may not run the '{name}' command"
            ))
        };
        assert_eq!(f.run("COMPACT"), noperm("compact"));
        assert_eq!(f.run("CHECK"), noperm("check"));
        assert_eq!(f.run("BACKUP /tmp/elsewhere"), noperm("backup"));
        assert_eq!(f.run("EXPORT /tmp/elsewhere"), noperm("export"));
        assert_eq!(f.run("IMPORT /etc/passwd"), noperm("import"));
        assert_eq!(f.run("SET k v"), Reply::ok());
        // Refused while queueing, so EXEC refuses to run anything.
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET k w"), status("QUEUED"));
        assert_eq!(f.run("COMPACT"), noperm("compact"));
        assert_eq!(
            f.run("EXEC"),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        assert_eq!(f.run("GET k"), bulk("v"));
        // Administration without server-side files.
        let (mut f, _) = with_policy(Policy {
            admin: true,
            server_files: false,
            max_begin_hold: None,
        })?;
        assert!(
            matches!(f.run("CHECK"), Reply::Status(_)),
            "{:?}",
            f.run("CHECK")
        );
        assert!(
            matches!(f.run("COMPACT"), Reply::Status(s) if s.starts_with("OK reclaimed 0 bytes"))
        );
        assert_eq!(f.run("EXPORT /tmp/elsewhere"), noperm("export"));
        assert_eq!(f.run("BACKUP /tmp/elsewhere"), noperm("backup"));
        Ok(())
    }

    #[test]
    fn a_begin_held_too_long_is_rolled_back_and_later_commands_fail_until_it_ends(
    ) -> crate::Result<()> {
        let policy = Policy {
            max_begin_hold: Some(Duration::from_secs(1)),
            ..Policy::trusted()
        };
        let (mut f, clock) = with_policy(policy)?;
        // Within the limit, a BEGIN commits as usual.
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert_eq!(f.run("SET a 1"), Reply::ok());
        clock.advance(1_000);
        assert_eq!(f.run("SET b 2"), Reply::ok());
        assert_eq!(f.run("COMMIT"), Reply::ok());
        assert_eq!(f.run("MGET a b"), array(&["1", "2"]));

        let aborted = err(
            "ERR the transaction started by BEGIN was rolled back: it held the writer lock \
             longer than this session allows (1000 ms); end it with ROLLBACK",
        );
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert_eq!(f.run("SET c 3"), Reply::ok());
        clock.advance(1_001);
        assert_eq!(f.run("SET d 4"), aborted);
        // Its writes are gone and the lock is free, though the session has not ended it.
        assert_eq!(f.db.get_value(b"c")?, None);
        assert!(another_writer_commits(&f.db));
        assert!(f.session.in_transaction());
        // Nothing meant for the transaction runs outside it.
        assert_eq!(f.run("SET e 5"), aborted);
        assert_eq!(f.run("COMMIT"), aborted);
        assert!(!f.session.in_transaction());
        assert_eq!(f.run("MGET c d e"), Reply::Array(vec![Reply::Nil; 3]));
        assert_eq!(f.run("SET e 5"), Reply::ok());

        // A caller's timer rolls back a quiet session's transaction; ROLLBACK ends it.
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert_eq!(f.run("SET f 6"), Reply::ok());
        assert!(!f.session.rollback_if_overdue());
        clock.advance(5_000);
        assert!(f.session.rollback_if_overdue());
        assert!(another_writer_commits(&f.db));
        assert_eq!(f.run("ROLLBACK"), Reply::ok());
        assert_eq!(f.run("GET f"), Reply::Nil);
        assert!(!f.session.in_transaction());

        // With no limit, a BEGIN may take as long as it likes.
        let (mut f, clock) = with_policy(Policy::trusted())?;
        assert_eq!(f.run("BEGIN"), Reply::ok());
        clock.advance(86_400_000);
        assert!(!f.session.rollback_if_overdue());
        assert_eq!(f.run("SET a 1"), Reply::ok());
        assert_eq!(f.run("COMMIT"), Reply::ok());
        Ok(())
    }

    #[test]
    fn relative_expiry_and_ttl_read_the_sessions_clock() -> crate::Result<()> {
        let (mut f, clock) = with_policy(Policy::trusted())?;
        // A day ahead of the database's own clock, so that nothing expires meanwhile.
        clock.advance(86_400_000);
        let t = clock.now_ms();
        assert_eq!(f.run("SET k v EX 10"), Reply::ok());
        assert_eq!(f.int("PEXPIRETIME k"), i64::try_from(t + 10_000).unwrap());
        assert_eq!(f.int("PTTL k"), 10_000);
        clock.advance(2_500);
        assert_eq!(f.int("PTTL k"), 7_500);
        assert_eq!(f.int("TTL k"), 8);
        assert_eq!(f.int("PEXPIRE k 300"), 1);
        assert_eq!(f.int("PEXPIRETIME k"), i64::try_from(t + 2_800).unwrap());
        assert_eq!(f.int("EXPIRE k 7"), 1);
        assert_eq!(f.int("PEXPIRETIME k"), i64::try_from(t + 9_500).unwrap());
        assert_eq!(f.run("SETEX s 3 v"), Reply::ok());
        assert_eq!(f.int("PEXPIRETIME s"), i64::try_from(t + 5_500).unwrap());
        assert_eq!(f.run("PSETEX s 30 v"), Reply::ok());
        assert_eq!(f.int("PEXPIRETIME s"), i64::try_from(t + 2_530).unwrap());
        assert_eq!(f.run("GETEX s PX 40"), bulk("v"));
        assert_eq!(f.int("PEXPIRETIME s"), i64::try_from(t + 2_540).unwrap());
        // Queued commands read the clock when EXEC runs them.
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET q v PX 100"), status("QUEUED"));
        clock.advance(1_000);
        assert_eq!(f.run("EXEC"), Reply::Array(vec![Reply::ok()]));
        assert_eq!(f.int("PEXPIRETIME q"), i64::try_from(t + 3_600).unwrap());
        Ok(())
    }

    /// Every command reads numbers with the same parser, as redis-server 7.0 reads them:
    /// a score is a double, an INCRBYFLOAT or HINCRBYFLOAT increment a long double.
    #[test]
    fn float_arguments_are_read_alike_by_every_command() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        let not_a_float = err("ERR value is not a valid float");
        let not_finite = err("ERR increment would produce NaN or Infinity");
        // Beyond a double: no score; an increment Redis holds in a long double, whose sum a
        // double cannot hold.
        assert_eq!(f.run("ZADD z 1e400 m"), not_a_float);
        assert_eq!(f.run("ZINCRBY z 1e400 m"), not_a_float);
        assert_eq!(f.run("SET t 1e400 TYPE float"), not_a_float);
        assert_eq!(f.run("INCRBYFLOAT x 1e400"), not_finite);
        assert_eq!(f.run("HINCRBYFLOAT h f 1e400"), not_finite);
        assert_eq!(f.run("SET big 1e400"), Reply::ok());
        assert_eq!(f.run("INCRBYFLOAT big 1"), not_finite);
        // Beyond a long double too.
        assert_eq!(f.run("INCRBYFLOAT x 1e5000"), not_a_float);
        assert_eq!(f.run("HINCRBYFLOAT h f 1e5000"), not_a_float);
        // Too small for a double: no score, a zero increment.
        assert_eq!(f.run("ZADD z 1e-400 m"), not_a_float);
        assert_eq!(f.run("INCRBYFLOAT x 1e-400"), bulk("0"));
        assert_eq!(f.run("HINCRBYFLOAT h f 1e-400"), bulk("0"));
        // Hexadecimal, as strtod reads it.
        assert_eq!(f.run("ZADD z 0x10 m"), Reply::Int(1));
        assert_eq!(f.run("ZSCORE z m"), bulk("16"));
        assert_eq!(f.run("ZINCRBY z 0x1p-2 m"), bulk("16.25"));
        assert_eq!(f.run("INCRBYFLOAT w 0x10"), bulk("16"));
        assert_eq!(f.run("HINCRBYFLOAT h g 0x10"), bulk("16"));
        assert_eq!(f.run("SET q 0x10"), Reply::ok());
        assert_eq!(f.run("INCRBYFLOAT q 1"), bulk("17"));
        // An infinity spelled out.
        assert_eq!(f.run("ZADD z infinity i"), Reply::Int(1));
        assert_eq!(f.run("INCRBYFLOAT v inf"), not_finite);
        assert_eq!(
            f.run("HINCRBYFLOAT h f inf"),
            err("ERR value is NaN or Infinity")
        );
        assert_eq!(f.run("ZADD z nan m"), not_a_float);
        // The ends of a score range are read by the same reader, as zslParseRange takes
        // strtod's result: hexadecimal, and beyond a double as infinity or zero.
        let not_a_bound = err("ERR min or max is not a float");
        assert_eq!(f.run("ZCOUNT z 0x10 +inf"), Reply::Int(2));
        assert_eq!(f.run("ZCOUNT z (0x1p4 1e400"), Reply::Int(2));
        assert_eq!(f.run("ZCOUNT z -1e5000 (1e5000"), Reply::Int(1));
        assert_eq!(f.run("ZCOUNT z nan 1"), not_a_bound);
        assert_eq!(f.run("ZCOUNT z 1 (nan"), not_a_bound);
        assert_eq!(f.run("ZRANGEBYSCORE z 1e-400 0x11"), array(&["m"]));
        assert_eq!(f.run("ZRANGE z (0x10 INF BYSCORE"), array(&["m", "i"]));
        assert_eq!(f.run("ZREMRANGEBYSCORE z 0x1p5 inf"), Reply::Int(1));
        assert_eq!(f.run("ZREMRANGEBYSCORE z 0x 1"), not_a_bound);
        Ok(())
    }

    /// `HELLO`'s reply as a map, with the fields that vary (`id`) taken out and returned.
    fn hello_map(reply: Reply) -> (Vec<(Reply, Reply)>, i64) {
        let Reply::Map(mut pairs) = reply else {
            panic!("HELLO replies with a map: {reply:?}");
        };
        let at = pairs
            .iter()
            .position(|(k, _)| *k == bulk("id"))
            .expect("an id");
        let Reply::Int(id) = pairs.remove(at).1 else {
            panic!("the id is an integer")
        };
        (pairs, id)
    }

    #[test]
    fn hello_chooses_the_protocol_and_replies_with_the_server_map() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.session.protocol(), Protocol::Resp2);
        let expected = |proto: i64| {
            vec![
                (bulk("server"), bulk("ziggydb")),
                (bulk("version"), bulk(env!("CARGO_PKG_VERSION"))),
                (bulk("proto"), Reply::Int(proto)),
                (bulk("mode"), bulk("standalone")),
                (bulk("role"), bulk("master")),
                (bulk("modules"), Reply::Array(Vec::new())),
            ]
        };
        let (map, id) = hello_map(f.run("HELLO"));
        assert_eq!(map, expected(2));
        assert_eq!(id, i64::try_from(f.session.id()).unwrap_or(-1));
        assert_eq!(f.session.protocol(), Protocol::Resp2);
        let (map, _) = hello_map(f.run("hello 3 AUTH default anything SETNAME app-1"));
        assert_eq!(map, expected(3));
        assert_eq!(f.session.protocol(), Protocol::Resp3);
        assert_eq!(f.session.client_name(), Some(&b"app-1"[..]));
        // A second session has another id.
        let other = Session::new(&f.db, Policy::trusted());
        assert_ne!(other.id(), f.session.id());
        // Errors leave the protocol as it was.
        for (line, text) in [
            ("HELLO 4", "NOPROTO unsupported protocol version"),
            ("HELLO 1", "NOPROTO unsupported protocol version"),
            ("HELLO -1", "NOPROTO unsupported protocol version"),
            (
                "HELLO 03",
                "ERR Protocol version is not an integer or out of range",
            ),
            (
                "HELLO x",
                "ERR Protocol version is not an integer or out of range",
            ),
            ("HELLO 2 foo", "ERR Syntax error in HELLO option 'foo'"),
            (
                "HELLO 2 AUTH default",
                "ERR Syntax error in HELLO option 'AUTH'",
            ),
            (
                "HELLO 2 setname",
                "ERR Syntax error in HELLO option 'setname'",
            ),
            (
                "HELLO 2 AUTH bob pw",
                "WRONGPASS invalid username-password pair or user is disabled.",
            ),
            (
                "HELLO 2 SETNAME 'a b'",
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ),
        ] {
            assert_eq!(f.run(line), err(text), "{line}");
            assert_eq!(f.session.protocol(), Protocol::Resp3, "{line}");
        }
        let (map, _) = hello_map(f.run("HELLO 2"));
        assert_eq!(map, expected(2));
        assert_eq!(f.session.protocol(), Protocol::Resp2);
        Ok(())
    }

    #[test]
    fn resp3_gives_redis_7_s_types_and_resp2_the_old_replies() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        for line in [
            "ZADD z 1.5 a 2 b 3 c",
            "HSET h f v g w",
            "SADD s x y",
            "SET n 1",
        ] {
            assert!(!f.run(line).is_error(), "{line}");
        }
        let scored = |items: &[(&str, f64)]| {
            Reply::Array(
                items
                    .iter()
                    .map(|(m, s)| Reply::Array(vec![bulk(m), Reply::Double(*s)]))
                    .collect(),
            )
        };
        // (command, RESP2 reply, RESP3 reply); each command is run under both.
        let cases: Vec<(&str, Reply, Reply)> = vec![
            ("ZSCORE z a", bulk("1.5"), Reply::Double(1.5)),
            ("ZSCORE z nope", Reply::Nil, Reply::Nil),
            (
                "ZMSCORE z a nope",
                Reply::Array(vec![bulk("1.5"), Reply::Nil]),
                Reply::Array(vec![Reply::Double(1.5), Reply::Nil]),
            ),
            (
                "ZRANGE z 0 1 WITHSCORES",
                array(&["a", "1.5", "b", "2"]),
                scored(&[("a", 1.5), ("b", 2.0)]),
            ),
            (
                "ZRANGE z (1.5 +inf BYSCORE LIMIT 0 1 withscores",
                array(&["b", "2"]),
                scored(&[("b", 2.0)]),
            ),
            ("ZRANGE z 0 0", array(&["a"]), array(&["a"])),
            (
                "ZREVRANGE z 0 0 WITHSCORES",
                array(&["c", "3"]),
                scored(&[("c", 3.0)]),
            ),
            (
                "ZRANGEBYSCORE z -inf 2 WITHSCORES",
                array(&["a", "1.5", "b", "2"]),
                scored(&[("a", 1.5), ("b", 2.0)]),
            ),
            (
                "ZREVRANGEBYSCORE z +inf 3 WITHSCORES",
                array(&["c", "3"]),
                scored(&[("c", 3.0)]),
            ),
            (
                "HGETALL h",
                array(&["f", "v", "g", "w"]),
                Reply::Map(vec![(bulk("f"), bulk("v")), (bulk("g"), bulk("w"))]),
            ),
            ("HGETALL nope", array(&[]), Reply::Map(Vec::new())),
            (
                "SMEMBERS s",
                array(&["x", "y"]),
                Reply::Set(vec![bulk("x"), bulk("y")]),
            ),
            (
                "SINTER s s",
                array(&["x", "y"]),
                Reply::Set(vec![bulk("x"), bulk("y")]),
            ),
            (
                "SUNION s",
                array(&["x", "y"]),
                Reply::Set(vec![bulk("x"), bulk("y")]),
            ),
            ("SDIFF s s", array(&[]), Reply::Set(Vec::new())),
            ("SISMEMBER s x", Reply::Int(1), Reply::Int(1)),
            ("GET n", bulk("1"), bulk("1")),
            ("HGET h f", bulk("v"), bulk("v")),
        ];
        for (line, resp2, _) in &cases {
            assert_eq!(&f.run(line), resp2, "{line} over RESP2");
        }
        let _ = f.run("HELLO 3");
        for (line, _, resp3) in &cases {
            assert_eq!(&f.run(line), resp3, "{line} over RESP3");
        }
        // Writes: the same commands, once under each protocol.
        assert_eq!(f.run("ZINCRBY z 1 a"), Reply::Double(2.5));
        assert_eq!(f.run("ZADD z INCR 1 a"), Reply::Double(3.5));
        assert_eq!(f.run("ZADD z NX INCR 1 a"), Reply::Nil);
        assert_eq!(f.run("ZADD z 9 q"), Reply::Int(1));
        assert_eq!(f.run("INCRBYFLOAT n 0.5"), bulk("1.5"));
        assert_eq!(
            f.run("ZPOPMIN z"),
            Reply::Array(vec![bulk("b"), Reply::Double(2.0)])
        );
        assert_eq!(f.run("ZPOPMAX z 1"), scored(&[("q", 9.0)]));
        assert_eq!(f.run("SPOP s 0"), Reply::Set(Vec::new()));
        assert!(matches!(f.run("SPOP s"), Reply::Bulk(_)));
        assert_eq!(f.run("ZSCORE z a"), Reply::Double(3.5));
        let Reply::Verbatim { format, text } = f.run("INFO keyspace") else {
            panic!("INFO is verbatim text over RESP3");
        };
        assert_eq!(&format, b"txt");
        assert!(text.starts_with(b"# Keyspace"), "{text:?}");
        // Errors are errors under either protocol.
        assert_eq!(
            f.run("ZSCORE n a"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        // Inside EXEC each queued reply is shaped, and HELLO is queued as Redis queues it.
        assert_eq!(f.run("MULTI"), status("OK"));
        assert_eq!(f.run("ZSCORE z a"), status("QUEUED"));
        assert_eq!(f.run("HELLO 2"), status("QUEUED"));
        assert_eq!(f.run("ZSCORE z a"), status("QUEUED"));
        let Reply::Array(replies) = f.run("EXEC") else {
            panic!("EXEC replies with an array");
        };
        assert_eq!(replies[0], Reply::Double(3.5));
        assert!(matches!(replies[1], Reply::Map(_)), "{:?}", replies[1]);
        assert_eq!(replies[2], bulk("3.5"));
        assert_eq!(f.session.protocol(), Protocol::Resp2);
        // And back over RESP2, the replies are as they were.
        assert_eq!(f.run("ZINCRBY z 1 a"), bulk("4.5"));
        assert_eq!(f.run("HGETALL h"), array(&["f", "v", "g", "w"]));
        assert!(matches!(f.run("INFO keyspace"), Reply::Bulk(_)));
        Ok(())
    }

    #[test]
    fn each_command_run_is_counted_in_the_shared_metrics() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        let before = f.db.metrics().commands;
        assert_eq!(f.run("PING"), status("PONG"));
        assert_eq!(f.run("SET k v"), Reply::ok());
        assert!(f.run("NOSUCH").is_error(), "not a command, not counted");
        assert_eq!(f.db.metrics().commands, before + 2);
        Ok(())
    }

    #[test]
    fn command_is_run_like_any_command() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        let count = i64::try_from(crate::commands::all().count()).unwrap_or(0);
        assert_eq!(f.run("command count"), Reply::Int(count));
        assert_eq!(f.run("COMMAND GETKEYS MSET a 1 b 2"), array(&["a", "b"]));
        assert_eq!(f.run("MULTI"), status("OK"));
        assert_eq!(
            f.run("COMMAND COUNT x"),
            err("ERR wrong number of arguments for 'command|count' command")
        );
        assert_eq!(
            f.run("EXEC"),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        assert_eq!(f.run("BEGIN"), status("OK"));
        assert_eq!(f.run("COMMAND COUNT"), Reply::Int(count));
        assert_eq!(f.run("ROLLBACK"), status("OK"));
        Ok(())
    }

    #[test]
    fn an_empty_argv_is_an_unknown_command_not_a_panic() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        let unknown = err("ERR unknown command '', with args beginning with: ");
        assert_eq!(f.session.execute(&[]), unknown);
        assert_eq!(
            crate::commands::parse(&[]).map(|_| ()),
            Err(unknown.clone())
        );
        // Inside MULTI it is refused like any unknown command, and EXEC then fails.
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.session.execute(&[]), unknown);
        assert_eq!(
            f.run("EXEC"),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        Ok(())
    }

    #[test]
    fn strings_and_counters() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("GET a"), Reply::Nil);
        assert_eq!(f.run("SET a hello"), Reply::ok());
        assert_eq!(f.run("get a"), bulk("hello"));
        assert_eq!(f.run("GETTYPE a"), bulk("bytes"));
        assert_eq!(f.run("GETTYPE nope"), Reply::Nil);
        assert_eq!(
            f.run("INCR a"),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(f.run("INCR n"), Reply::Int(1));
        assert_eq!(f.run("INCRBY n 10"), Reply::Int(11));
        assert_eq!(f.run("DECR n"), Reply::Int(10));
        assert_eq!(f.run("DECRBY n 20"), Reply::Int(-10));
        assert_eq!(f.run("GETTYPE n"), bulk("int"));
        assert_eq!(f.run("SET n 9223372036854775807"), Reply::ok());
        assert_eq!(
            f.run("INCR n"),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(f.run("GET n"), bulk("9223372036854775807"));
        assert_eq!(f.run("INCRBYFLOAT f 10.5"), bulk("10.5"));
        assert_eq!(f.run("INCRBYFLOAT f 0.1"), bulk("10.6"));
        assert_eq!(f.run("INCRBYFLOAT f -5.6"), bulk("5"));
        assert_eq!(f.run("SET s 3.0e3"), Reply::ok());
        assert_eq!(f.run("INCRBYFLOAT s 200"), bulk("3200"));
        assert_eq!(
            f.run("INCRBYFLOAT a 1"),
            err("ERR value is not a valid float")
        );
        assert_eq!(
            f.run("INCRBYFLOAT s inf"),
            err("ERR increment would produce NaN or Infinity")
        );
        assert_eq!(f.run("GET s"), bulk("3200"));
        Ok(())
    }

    #[test]
    fn string_commands() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SETNX k v1"), Reply::Int(1));
        assert_eq!(f.run("SETNX k v2"), Reply::Int(0));
        assert_eq!(f.run("GETSET k v3"), bulk("v1"));
        assert_eq!(f.run("GETSET new x"), Reply::Nil);
        assert_eq!(f.run("GETDEL new"), bulk("x"));
        assert_eq!(f.run("GETDEL new"), Reply::Nil);
        assert_eq!(f.run("EXISTS new"), Reply::Int(0));
        assert_eq!(f.run("APPEND k 45"), Reply::Int(4));
        assert_eq!(f.run("APPEND fresh abc"), Reply::Int(3));
        assert_eq!(f.run("GET k"), bulk("v345"));
        assert_eq!(f.run("STRLEN k"), Reply::Int(4));
        assert_eq!(f.run("STRLEN nope"), Reply::Int(0));
        assert_eq!(f.run("SET i 1234 TYPE int"), Reply::ok());
        assert_eq!(f.run("STRLEN i"), Reply::Int(4));
        assert_eq!(f.run("APPEND i 5"), Reply::Int(5));
        assert_eq!(f.run("INCR i"), Reply::Int(12346));
        assert_eq!(f.run("SET s \"This is a string\""), Reply::ok());
        assert_eq!(f.run("GETRANGE s 0 3"), bulk("This"));
        assert_eq!(f.run("GETRANGE s -3 -1"), bulk("ing"));
        assert_eq!(f.run("GETRANGE s 10 100"), bulk("string"));
        assert_eq!(f.run("GETRANGE nope 0 -1"), bulk(""));
        assert_eq!(f.run("SETRANGE s 10 Redis"), Reply::Int(16));
        assert_eq!(f.run("GET s"), bulk("This is a Redisg"));
        assert_eq!(f.run("SETRANGE pad 3 x"), Reply::Int(4));
        assert_eq!(f.run("GET pad"), Reply::bulk(b"\0\0\0x".to_vec()));
        assert_eq!(f.run("SETRANGE none 5 \"\""), Reply::Int(0));
        assert_eq!(f.run("EXISTS none"), Reply::Int(0));
        assert_eq!(f.run("SETRANGE s 0 \"\""), Reply::Int(16));
        assert_eq!(
            f.run("SETRANGE s 536870911 xx"),
            err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        );
        assert_eq!(f.run("MSETNX a 1 b 2"), Reply::Int(1));
        assert_eq!(f.run("MSETNX b 3 c 4"), Reply::Int(0));
        assert_eq!(f.run("EXISTS c"), Reply::Int(0));
        assert_eq!(
            f.run("MGET a b c"),
            Reply::Array(vec![bulk("1"), bulk("2"), Reply::Nil])
        );
        Ok(())
    }

    #[test]
    fn set_conditions_get_and_keepttl() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET k v1 XX"), Reply::Nil);
        assert_eq!(f.run("SET k v1 NX"), Reply::ok());
        assert_eq!(f.run("SET k v2 NX"), Reply::Nil);
        assert_eq!(f.run("SET k v3 GET"), bulk("v1"));
        assert_eq!(f.run("SET k v4 NX GET"), bulk("v3"));
        assert_eq!(f.run("GET k"), bulk("v3"));
        assert_eq!(f.run("SET new v GET"), Reply::Nil);
        assert_eq!(f.run("GET new"), bulk("v"));

        assert_eq!(f.run("SET k v EX 100"), Reply::ok());
        assert_eq!(f.run("SET k w KEEPTTL"), Reply::ok());
        assert!((99..=100).contains(&f.int("TTL k")));
        assert_eq!(f.run("SET k w XX KEEPTTL GET"), bulk("w"));
        assert!((99..=100).contains(&f.int("TTL k")));
        assert_eq!(f.run("SET k x"), Reply::ok());
        assert_eq!(f.run("TTL k"), Reply::Int(-1));
        Ok(())
    }

    #[test]
    fn ttl_commands() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("TTL k"), Reply::Int(-2));
        assert_eq!(f.run("PTTL k"), Reply::Int(-2));
        assert_eq!(f.run("EXPIRETIME k"), Reply::Int(-2));
        assert_eq!(f.run("EXPIRE k 10"), Reply::Int(0));
        assert_eq!(f.run("SET k v"), Reply::ok());
        assert_eq!(f.run("TTL k"), Reply::Int(-1));
        assert_eq!(f.run("PEXPIRETIME k"), Reply::Int(-1));
        assert_eq!(f.run("PERSIST k"), Reply::Int(0));
        assert_eq!(f.run("EXPIRE k 100 XX"), Reply::Int(0));
        assert_eq!(f.run("EXPIRE k 100 GT"), Reply::Int(0));
        assert_eq!(f.run("EXPIRE k 100 NX"), Reply::Int(1));
        assert_eq!(f.run("EXPIRE k 200 NX"), Reply::Int(0));
        assert_eq!(f.run("EXPIRE k 50 GT"), Reply::Int(0));
        assert_eq!(f.run("EXPIRE k 200 GT"), Reply::Int(1));
        assert_eq!(f.run("EXPIRE k 300 LT"), Reply::Int(0));
        assert_eq!(f.run("EXPIRE k 150 XX LT"), Reply::Int(1));
        assert!((149..=150).contains(&f.int("TTL k")));
        let pttl = f.int("PTTL k");
        assert!((149_000..=150_000).contains(&pttl), "{pttl}");
        assert_eq!(f.run("PEXPIREAT k 4102444800000"), Reply::Int(1));
        assert_eq!(f.run("EXPIRETIME k"), Reply::Int(4_102_444_800));
        assert_eq!(f.run("PEXPIRETIME k"), Reply::Int(4_102_444_800_000));
        assert_eq!(f.run("EXPIREAT k 4102444801"), Reply::Int(1));
        assert_eq!(f.run("PEXPIRETIME k"), Reply::Int(4_102_444_801_000));
        assert_eq!(f.run("PERSIST k"), Reply::Int(1));
        assert_eq!(f.run("TTL k"), Reply::Int(-1));
        assert_eq!(f.run("GET k"), bulk("v"));
        // A time in the past deletes the key at once.
        assert_eq!(f.run("EXPIRE k -1"), Reply::Int(1));
        assert_eq!(f.run("EXISTS k"), Reply::Int(0));
        assert_eq!(f.run("SET k v"), Reply::ok());
        assert_eq!(f.run("PEXPIREAT k 1"), Reply::Int(1));
        assert_eq!(f.run("GET k"), Reply::Nil);

        assert_eq!(f.run("SET g v PX 100000"), Reply::ok());
        assert_eq!(f.run("GETEX g"), bulk("v"));
        assert!(f.int("PTTL g") > 0);
        assert_eq!(f.run("GETEX g PERSIST"), bulk("v"));
        assert_eq!(f.run("TTL g"), Reply::Int(-1));
        assert_eq!(f.run("GETEX g EX 30"), bulk("v"));
        assert!((29..=30).contains(&f.int("TTL g")));
        assert_eq!(f.run("GETEX g PXAT 1"), bulk("v"));
        assert_eq!(f.run("EXISTS g"), Reply::Int(0));
        assert_eq!(f.run("GETEX g PERSIST"), Reply::Nil);

        assert_eq!(f.run("SETEX s 100 v"), Reply::ok());
        assert!((99..=100).contains(&f.int("TTL s")));
        assert_eq!(f.run("PSETEX s 100000 v"), Reply::ok());
        assert!((99..=100).contains(&f.int("TTL s")));
        assert_eq!(f.run("SETEXP s 7 v"), Reply::ok());
        assert!((6..=7).contains(&f.int("TTL s")));
        // INCR, APPEND, SETRANGE and INCRBYFLOAT keep the time to live; SET and GETSET clear it.
        assert_eq!(f.run("SET c 1"), Reply::ok());
        for line in [
            "INCR c",
            "APPEND s x",
            "SETRANGE s 0 y",
            "INCRBYFLOAT c 1.5",
        ] {
            let key = argv(line)[1];
            let key = String::from_utf8(key.to_vec()).unwrap();
            assert_eq!(f.run(&format!("EXPIRE {key} 100")), Reply::Int(1), "{line}");
            assert!(!f.run(line).is_error(), "{line}");
            assert!(f.int(&format!("TTL {key}")) > 0, "{line} keeps the TTL");
        }
        assert_eq!(f.run("GETSET s z"), bulk("yx"));
        assert_eq!(f.run("TTL s"), Reply::Int(-1));
        Ok(())
    }

    #[test]
    fn expired_keys_vanish_everywhere() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET gone v PX 1"), Reply::ok());
        assert_eq!(f.run("SET past v PXAT 1"), Reply::ok());
        assert_eq!(f.run("SET stays v EX 1000"), Reply::ok());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(f.run("GET gone"), Reply::Nil);
        assert_eq!(f.run("GET past"), Reply::Nil);
        assert_eq!(f.run("TTL gone"), Reply::Int(-2));
        assert_eq!(f.run("KEYS *"), array(&["stays"]));
        assert_eq!(f.run("EXISTS gone past stays"), Reply::Int(1));
        assert_eq!(f.run("GET stays"), bulk("v"));
        assert_eq!(f.run("SET gone again NX"), Reply::ok());
        Ok(())
    }

    #[test]
    fn key_commands() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MSET a 1 b 2 c 3"), Reply::ok());
        assert_eq!(
            f.run("MGET a nope c"),
            Reply::Array(vec![bulk("1"), Reply::Nil, bulk("3")])
        );
        assert_eq!(f.run("EXISTS a a nope b"), Reply::Int(3));
        assert_eq!(f.run("DBSIZE"), Reply::Int(3));
        assert_eq!(f.run("TYPE a"), status("string"));
        assert_eq!(f.run("TYPE nope"), status("none"));
        assert_eq!(f.run("DEL a nope a b"), Reply::Int(2));
        assert_eq!(f.run("UNLINK c"), Reply::Int(1));
        assert_eq!(f.run("DBSIZE"), Reply::Int(0));
        assert_eq!(f.run("RANDOMKEY"), Reply::Nil);

        assert_eq!(f.run("SET a 1 EX 100"), Reply::ok());
        assert_eq!(f.run("RENAME a b"), Reply::ok());
        assert_eq!(f.run("GET b"), bulk("1"));
        assert!(f.int("TTL b") > 0);
        assert_eq!(f.run("RENAME a b"), err("ERR no such key"));
        assert_eq!(f.run("RENAME b b"), Reply::ok());
        assert_eq!(f.run("SET c 3"), Reply::ok());
        assert_eq!(f.run("RENAMENX b c"), Reply::Int(0));
        assert_eq!(f.run("RENAMENX b d"), Reply::Int(1));
        assert_eq!(f.run("RENAMENX nope e"), err("ERR no such key"));
        assert_eq!(f.run("COPY d c"), Reply::Int(0));
        assert_eq!(f.run("COPY d c REPLACE"), Reply::Int(1));
        assert_eq!(f.run("GET c"), bulk("1"));
        assert!(f.int("TTL c") > 0);
        assert_eq!(f.run("COPY nope x"), Reply::Int(0));
        assert_eq!(
            f.run("COPY c c"),
            err("ERR source and destination objects are the same")
        );
        for _ in 0..10 {
            let key = f.run("RANDOMKEY");
            assert!(key == bulk("c") || key == bulk("d"), "{key:?}");
        }
        assert_eq!(f.run("MSET user:1 x user:2 y other z"), Reply::ok());
        assert_eq!(f.run("KEYS user:*"), array(&["user:1", "user:2"]));
        assert_eq!(f.run("KEYS nothing*"), Reply::Array(vec![]));
        assert_eq!(f.run("FLUSHDB"), Reply::ok());
        assert_eq!(f.run("DBSIZE"), Reply::Int(0));
        Ok(())
    }

    /// Runs `SCAN` from cursor 0 to the end with `options`, returning the keys and the
    /// number of calls.
    fn full_scan(f: &mut Fixture, options: &str) -> (Vec<String>, usize) {
        let mut cursor = "0".to_owned();
        let mut keys = Vec::new();
        let mut calls = 0;
        loop {
            calls += 1;
            let Reply::Array(reply) = f.run(&format!("SCAN {cursor} {options}")) else {
                panic!("SCAN replies with an array")
            };
            let [Reply::Bulk(next), Reply::Array(page)] = &reply[..] else {
                panic!("{reply:?}")
            };
            for key in page {
                let Reply::Bulk(key) = key else { panic!() };
                keys.push(String::from_utf8(key.clone()).unwrap());
            }
            cursor = String::from_utf8(next.clone()).unwrap();
            if cursor == "0" {
                return (keys, calls);
            }
        }
    }

    #[test]
    fn scan_pages_through_every_key_once() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        for i in 0..25 {
            assert_eq!(f.run(&format!("SET k{i:02} v")), Reply::ok());
        }
        assert_eq!(f.run("SET int 1 TYPE int"), Reply::ok());
        let (mut keys, calls) = full_scan(&mut f, "COUNT 10");
        keys.sort();
        let mut expected: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
        expected.insert(0, "int".into());
        assert_eq!(keys, expected, "every key once");
        assert!(calls >= 3, "pages of about 10 keys: {calls} calls");
        let (mut keys, _) = full_scan(&mut f, "MATCH k1* COUNT 3");
        keys.sort();
        assert_eq!(keys, (10..20).map(|i| format!("k{i}")).collect::<Vec<_>>());
        let (keys, _) = full_scan(&mut f, "TYPE string MATCH i*");
        assert_eq!(keys, ["int"]);
        let (keys, _) = full_scan(&mut f, "TYPE hash");
        assert!(keys.is_empty());
        Ok(())
    }

    #[test]
    fn typed_values_and_json() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET i 42 TYPE int"), Reply::ok());
        assert_eq!(f.run("GET i"), bulk("42"));
        assert_eq!(f.run("GETTYPE i"), bulk("int"));
        assert_eq!(f.run("TYPE i"), status("string"));
        assert_eq!(f.run("SET b on TYPE bool"), Reply::ok());
        assert_eq!(f.run("GET b"), bulk("true"));
        assert_eq!(f.run("SET x 2.50 TYPE float"), Reply::ok());
        assert_eq!(f.run("GET x"), bulk("2.5"));
        assert_eq!(f.run("SET j {} TYPE json"), Reply::ok());
        assert_eq!(f.run("GETTYPE j"), bulk("json"));
        assert!(f.run("SET j {x TYPE json").is_error());
        assert_eq!(f.run("GET j"), bulk("{}"));

        let doc = r#"'{"name": "ann", "tags": ["a", "b"], "n": {"x": 1}}'"#;
        assert_eq!(f.run(&format!("JSON.SET doc $ {doc}")), Reply::ok());
        assert_eq!(f.run("GETTYPE doc"), bulk("json"));
        assert_eq!(
            f.run("JSON.GET doc"),
            bulk(r#"{"name":"ann","tags":["a","b"],"n":{"x":1}}"#)
        );
        assert_eq!(f.run("JSON.GET doc $.tags[1]"), bulk(r#"["b"]"#));
        assert_eq!(f.run("JSON.GET doc .n.x"), bulk("1"));
        assert_eq!(f.run("JSON.GET doc $.nope"), bulk("[]"));
        assert_eq!(
            f.run("JSON.GET doc .nope"),
            err("ERR Path '$.nope' does not exist")
        );
        assert_eq!(f.run("JSON.GET nokey"), Reply::Nil);
        assert_eq!(
            f.run("JSON.GET i"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(f.run("JSON.SET doc $.n.y 2"), Reply::ok());
        assert_eq!(f.run("JSON.SET doc $.n.x 5 NX"), Reply::Nil);
        assert_eq!(f.run("JSON.SET doc $.n.z 5 XX"), Reply::Nil);
        assert_eq!(f.run("JSON.SET doc $.tags[0] '\"z\"'"), Reply::ok());
        assert_eq!(
            f.run("JSON.GET doc $.n $.tags"),
            bulk(r#"{"$.n":[{"x":1,"y":2}],"$.tags":[["z","b"]]}"#)
        );
        assert!(f.run("JSON.SET doc $ '{bad'").is_error());
        assert_eq!(
            f.run("JSON.SET fresh $.a 1"),
            err("ERR new objects must be created at the root")
        );
        assert_eq!(
            f.run("JSON.SET i $ 1"),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
        assert_eq!(f.run("EXPIRE doc 100"), Reply::Int(1));
        assert_eq!(f.run("JSON.SET doc $.n.x 7"), Reply::ok());
        assert!(f.int("TTL doc") > 0, "JSON.SET keeps the time to live");
        Ok(())
    }

    #[test]
    fn multi_exec_runs_queued_commands_together() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET s text"), Reply::ok());
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert!(f.session.in_transaction());
        assert_eq!(f.run("SET x 1"), status("QUEUED"));
        assert_eq!(f.run("INCR x"), status("QUEUED"));
        assert_eq!(f.run("INCR s"), status("QUEUED"));
        assert_eq!(f.run("SET x 1 BOGUS"), status("QUEUED"));
        assert_eq!(f.run("GET x"), status("QUEUED"));
        assert_eq!(f.run("DBSIZE"), status("QUEUED"));
        assert_eq!(f.run("MULTI"), err("ERR MULTI calls can not be nested"));
        assert_eq!(
            f.run("WATCH x"),
            err("ERR WATCH inside MULTI is not allowed")
        );
        assert_eq!(
            f.run("EXEC"),
            Reply::Array(vec![
                Reply::ok(),
                Reply::Int(2),
                err("ERR value is not an integer or out of range"),
                err("ERR syntax error"),
                bulk("2"),
                Reply::Int(2),
            ])
        );
        assert!(!f.session.in_transaction());
        assert_eq!(f.run("GET x"), bulk("2"));
        assert_eq!(f.run("EXEC"), err("ERR EXEC without MULTI"));
        assert_eq!(f.run("DISCARD"), err("ERR DISCARD without MULTI"));
        Ok(())
    }

    #[test]
    fn multi_refuses_after_a_bad_command_and_discard_drops() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET a 1"), status("QUEUED"));
        assert_eq!(
            f.run("GET"),
            err("ERR wrong number of arguments for 'get' command")
        );
        assert_eq!(
            f.run("EXEC"),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        assert_eq!(f.run("GET a"), Reply::Nil);

        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(
            f.run("COMPACT"),
            err("ERR Command not allowed inside a transaction")
        );
        assert!(f.run("EXEC").is_error());

        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET a 1"), status("QUEUED"));
        assert_eq!(f.run("DISCARD"), Reply::ok());
        assert_eq!(f.run("GET a"), Reply::Nil);
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::Array(vec![]));
        Ok(())
    }

    #[test]
    fn watch_aborts_exec_when_a_watched_key_changed() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET k 1"), Reply::ok());
        assert_eq!(f.run("WATCH k absent"), Reply::ok());
        f.db.set(b"k", "2")?; // another writer
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET k 3"), status("QUEUED"));
        assert_eq!(f.run("EXEC"), Reply::NilArray);
        assert_eq!(f.run("GET k"), bulk("2"));

        // EXEC cleared the watch: the next transaction runs.
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("SET k 3"), status("QUEUED"));
        assert_eq!(f.run("EXEC"), Reply::Array(vec![Reply::ok()]));

        // Creating a watched absent key counts as a change, and so does an empty EXEC.
        assert_eq!(f.run("WATCH absent"), Reply::ok());
        f.db.set(b"absent", "now")?;
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::NilArray);

        // So does a watched absent key created and deleted again before EXEC, as in Redis;
        // writes to other keys in between do not count.
        assert_eq!(f.run("WATCH gone"), Reply::ok());
        f.db.set(b"gone", "briefly")?;
        f.db.set(b"other", "x")?;
        f.db.delete(b"gone")?;
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::NilArray);
        assert_eq!(f.run("WATCH gone"), Reply::ok());
        for i in 0..200 {
            f.db.set(format!("filler-{i}").as_bytes(), vec![b'x'; 1000])?;
        }
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::Array(vec![]));

        // Unchanged keys, UNWATCH and DISCARD let EXEC run.
        assert_eq!(f.run("WATCH k"), Reply::ok());
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("INCR k"), status("QUEUED"));
        assert_eq!(f.run("EXEC"), Reply::Array(vec![Reply::Int(4)]));
        assert_eq!(f.run("WATCH k"), Reply::ok());
        f.db.set(b"k", "9")?;
        assert_eq!(f.run("UNWATCH"), Reply::ok());
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("INCR k"), status("QUEUED"));
        assert_eq!(f.run("EXEC"), Reply::Array(vec![Reply::Int(10)]));
        assert_eq!(f.run("WATCH k"), Reply::ok());
        f.db.set(b"k", "0")?;
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("DISCARD"), Reply::ok());
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::Array(vec![]));

        // The session's own write to a watched key also aborts, as in Redis; so does expiry.
        assert_eq!(f.run("WATCH k"), Reply::ok());
        assert_eq!(f.run("SET k mine"), Reply::ok());
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::NilArray);
        assert_eq!(f.run("SET t v PX 30"), Reply::ok());
        assert_eq!(f.run("WATCH t"), Reply::ok());
        std::thread::sleep(std::time::Duration::from_millis(40));
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("EXEC"), Reply::NilArray);
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert_eq!(
            f.run("WATCH k"),
            err("ERR WATCH inside BEGIN is not allowed")
        );
        assert_eq!(f.run("ROLLBACK"), Reply::ok());
        Ok(())
    }

    #[test]
    fn begin_commit_shows_real_replies_and_own_writes() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MSET a 1 b 2"), Reply::ok());
        assert_eq!(f.run("COMMIT"), err("ERR COMMIT without BEGIN"));
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert!(f.session.in_transaction());
        assert_eq!(f.run("BEGIN"), err("ERR BEGIN calls can not be nested"));
        assert_eq!(f.run("MULTI"), err("ERR MULTI inside BEGIN is not allowed"));
        assert_eq!(
            f.run("CHECK"),
            err("ERR Command not allowed inside a transaction")
        );
        assert_eq!(f.run("INCR a"), Reply::Int(2));
        assert_eq!(f.run("SET c 3"), Reply::ok());
        assert_eq!(f.run("DEL b"), Reply::Int(1));
        assert_eq!(f.run("SET d v PXAT 1"), Reply::ok());
        assert_eq!(f.run("DBSIZE"), Reply::Int(2));
        assert_eq!(f.run("DEL b d"), Reply::Int(0));
        assert_eq!(f.run("KEYS *"), array(&["a", "c"]));
        assert_eq!(
            f.run("MGET a b c"),
            Reply::Array(vec![bulk("2"), Reply::Nil, bulk("3")])
        );
        assert_eq!(f.run("EXISTS a b c"), Reply::Int(2));
        assert_eq!(f.run("PING"), status("PONG"));
        assert!(f.session.pending_warning().is_some());
        assert_eq!(f.run("COMMIT"), Reply::ok());
        assert!(f.session.pending_warning().is_none());
        assert_eq!(f.run("KEYS *"), array(&["a", "c"]));
        assert_eq!(f.run("GET a"), bulk("2"));
        Ok(())
    }

    /// Every write command, run inside `BEGIN` and then rolled back, leaves no trace; inside
    /// the transaction its reads see its writes.
    #[test]
    fn rollback_undoes_every_command() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(
            f.run("MSET s hello n 5 f 1.5 gone x ttl v other o"),
            Reply::ok()
        );
        assert_eq!(f.run("JSON.SET j $ '{\"a\":1}'"), Reply::ok());
        assert_eq!(f.run("EXPIRE ttl 1000"), Reply::Int(1));
        let before: Vec<Reply> = ["KEYS *", "MGET s n f gone ttl other j new", "TTL ttl"]
            .iter()
            .map(|l| f.run(l))
            .collect();
        assert_eq!(f.run("BEGIN"), Reply::ok());
        for (line, reply) in [
            ("SET s bye KEEPTTL", Reply::ok()),
            ("SETNX new 1", Reply::Int(1)),
            ("SETEX s2 10 x", Reply::ok()),
            ("GETSET n 6", bulk("5")),
            ("GETDEL gone", bulk("x")),
            ("GETEX ttl PERSIST", bulk("v")),
            ("MSETNX m1 1 m2 2", Reply::Int(1)),
            ("APPEND s !", Reply::Int(4)),
            ("SETRANGE s 0 B", Reply::Int(4)),
            ("INCRBYFLOAT f 1", bulk("2.5")),
            ("DECRBY n 2", Reply::Int(4)),
            ("RENAME other o2", Reply::ok()),
            ("COPY o2 o3", Reply::Int(1)),
            ("RENAMENX o3 o4", Reply::Int(1)),
            ("JSON.SET j $.b 2", Reply::ok()),
            ("PEXPIRE s 100000", Reply::Int(1)),
            ("PERSIST s", Reply::Int(1)),
            ("UNLINK m1", Reply::Int(1)),
            ("GET s", bulk("Bye!")),
            ("TTL ttl", Reply::Int(-1)),
            ("JSON.GET j", bulk(r#"{"a":1,"b":2}"#)),
            ("KEYS o*", array(&["o2", "o4"])),
            ("FLUSHDB", Reply::ok()),
            ("DBSIZE", Reply::Int(0)),
            ("RANDOMKEY", Reply::Nil),
            ("SET after 1", Reply::ok()),
            ("SCAN 0", Reply::Array(vec![bulk("0"), array(&["after"])])),
        ] {
            assert_eq!(f.run(line), reply, "{line}");
        }
        assert_eq!(f.run("ROLLBACK"), Reply::ok());
        let after: Vec<Reply> = ["KEYS *", "MGET s n f gone ttl other j new", "TTL ttl"]
            .iter()
            .map(|l| f.run(l))
            .collect();
        assert_eq!(before, after);
        Ok(())
    }

    #[test]
    fn admin_and_misc_commands() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("MSET a 1 b 2"), Reply::ok());
        let Reply::Status(compacted) = f.run("COMPACT") else {
            panic!("COMPACT is a status");
        };
        assert!(
            compacted.starts_with("OK reclaimed ") && compacted.ends_with("2 records copied)"),
            "{compacted}"
        );
        assert_eq!(f.run("CHECK"), Reply::ok());
        let Reply::Bulk(info) = f.run("INFO") else {
            panic!("INFO is a bulk string")
        };
        let info = String::from_utf8(info).unwrap();
        assert!(info.starts_with("# Server\r\n"), "{info}");
        assert!(info.contains("\r\n\r\n# Keyspace\r\ndb0:keys=2,"), "{info}");
        assert!(info.ends_with("\r\n"));
        let Reply::Bulk(stats) = f.run("INFO STATS") else {
            panic!("INFO is a bulk string")
        };
        assert!(stats.starts_with(b"# Stats\r\ntotal_commands_processed:"));
        assert_eq!(f.run("INFO nosuchsection"), bulk(""));
        assert_eq!(f.run("PING hi"), bulk("hi"));
        assert_eq!(f.run("ECHO hi"), bulk("hi"));
        assert_eq!(
            f.run("NOPE x"),
            err("ERR unknown command 'NOPE', with args beginning with: 'x' ")
        );
        Ok(())
    }
}
