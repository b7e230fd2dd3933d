//! What the whole server shares: the database, the options, and the connected clients.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{watch, Notify};
use ziggydb::Db;

use crate::config::Args;

/// The server: one per process.
pub struct Server {
    pub db: Db,
    pub args: Args,
    /// The TCP port listened on (0 if none).
    pub port: u16,
    pub started: Instant,
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<Client>>>,
    /// Set to true to stop: listeners stop accepting, connections close after the batch
    /// they are running, and the process exits once the database is synced.
    pub shutdown: watch::Sender<bool>,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub output_limit_disconnects: AtomicU64,
    /// The thread that commits the simple writes of all connections together.
    pub writes: std::sync::mpsc::Sender<crate::combine::Job>,
    /// Values of Redis's encoding thresholds given to `CONFIG SET` (see [`TUNABLES`]).
    pub tunables: Mutex<BTreeMap<&'static str, String>>,
}

/// Redis's thresholds for its compact encodings (and the like), with Redis 7's defaults:
/// `CONFIG SET` takes them and `CONFIG GET` shows them, as programs and Redis's own tests
/// set them, but they change nothing here, where every collection is a B-tree. A name and
/// its older alias (`ziplist` for `listpack`) share one value, as in Redis.
pub const TUNABLES: &[(&str, &str, &str)] = &[
    // (name, alias or "", default)
    (
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        "128",
    ),
    ("hash-max-listpack-value", "hash-max-ziplist-value", "64"),
    ("list-max-listpack-size", "list-max-ziplist-size", "-2"),
    ("list-compress-depth", "", "0"),
    ("set-max-intset-entries", "", "512"),
    (
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        "128",
    ),
    ("zset-max-listpack-value", "zset-max-ziplist-value", "64"),
    ("hll-sparse-max-bytes", "", "3000"),
    ("stream-node-max-entries", "", "100"),
    ("stream-node-max-bytes", "", "4096"),
];

/// The name under which `name` (lower case, or an alias) is kept in [`Server::tunables`].
pub fn tunable(name: &str) -> Option<&'static str> {
    TUNABLES
        .iter()
        .find(|(n, alias, _)| *n == name || (!alias.is_empty() && *alias == name))
        .map(|(n, _, _)| *n)
}

/// One connected client, as `CLIENT LIST` shows it and `CLIENT KILL` reaches it.
pub struct Client {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub name: Mutex<Vec<u8>>,
    pub lib_name: Mutex<Vec<u8>>,
    pub lib_ver: Mutex<Vec<u8>>,
    /// The last command's name, lower case.
    pub last_cmd: Mutex<String>,
    /// Milliseconds since the server started, at the last command.
    pub last_active_ms: AtomicU64,
    /// Bytes received and not yet taken as whole requests.
    pub qbuf: AtomicUsize,
    /// Bytes of replies produced and not yet accepted by the socket.
    pub omem: AtomicUsize,
    pub resp3: AtomicBool,
    pub in_multi: AtomicBool,
    /// `CLIENT KILL`, an output buffer over its limit, or `QUIT`: close the connection.
    pub killed: AtomicBool,
    /// Wakes the connection's task to look at `killed`.
    pub kill: Notify,
    /// Ends the wait of the blocking command (`BLPOP`...) the client runs: cancelled by a
    /// kill, a disconnect, `CLIENT UNBLOCK` and the server's stop.
    pub cancel: ziggydb::CancelToken,
    /// Whether the client waits in a blocking command now (`CLIENT LIST`'s flag `b`,
    /// `INFO`'s `blocked_clients`).
    pub blocked: AtomicBool,
    /// Set by `CLIENT UNBLOCK id ERROR`: the blocked command replies with an error rather
    /// than as if its timeout had passed.
    pub unblock_error: AtomicBool,
}

/// Locks `m`, going on with the data if a thread panicked while holding it (every value
/// kept under these locks is valid at all times).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Server {
    pub fn new(
        db: Db,
        args: Args,
        port: u16,
        writes: std::sync::mpsc::Sender<crate::combine::Job>,
    ) -> Self {
        Server {
            db,
            args,
            port,
            started: Instant::now(),
            next_id: AtomicU64::new(1),
            clients: Mutex::new(BTreeMap::new()),
            shutdown: watch::channel(false).0,
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            output_limit_disconnects: AtomicU64::new(0),
            writes,
            tunables: Mutex::new(
                TUNABLES
                    .iter()
                    .map(|(n, _, d)| (*n, (*d).to_owned()))
                    .collect(),
            ),
        }
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a new client, or `None` if `maxclients` are connected already.
    pub fn register(&self, addr: String, laddr: String) -> Option<Arc<Client>> {
        self.connections_received.fetch_add(1, Ordering::Relaxed);
        let mut clients = lock(&self.clients);
        if clients.len() >= self.args.maxclients {
            self.rejected_connections.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let client = Arc::new(Client {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(Vec::new()),
            lib_name: Mutex::new(Vec::new()),
            lib_ver: Mutex::new(Vec::new()),
            last_cmd: Mutex::new("NULL".into()),
            last_active_ms: AtomicU64::new(self.now_ms()),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            resp3: AtomicBool::new(false),
            in_multi: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            cancel: ziggydb::CancelToken::new(),
            blocked: AtomicBool::new(false),
            unblock_error: AtomicBool::new(false),
        });
        if *self.shutdown.borrow() {
            // Stopping already: a blocking command of this client must not wait either.
            client.cancel.cancel();
        }
        clients.insert(id, Arc::clone(&client));
        Some(client)
    }

    pub fn unregister(&self, id: u64) {
        lock(&self.clients).remove(&id);
    }

    pub fn client_count(&self) -> usize {
        lock(&self.clients).len()
    }

    pub fn clients(&self) -> Vec<Arc<Client>> {
        lock(&self.clients).values().cloned().collect()
    }

    /// Asks every part of the server to stop.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
        // Blocked clients answer now (as if their timeout had passed), so that their
        // connections close; a client that starts a blocking command later finds its token
        // cancelled already, since only a running server resets it.
        for c in self.clients() {
            c.cancel.cancel();
        }
    }

    /// How many clients wait in a blocking command now.
    pub fn blocked_count(&self) -> usize {
        self.clients()
            .iter()
            .filter(|c| c.blocked.load(Ordering::SeqCst))
            .count()
    }

    /// The client numbered `id`, if connected.
    pub fn client(&self, id: u64) -> Option<Arc<Client>> {
        lock(&self.clients).get(&id).cloned()
    }

    /// `CLIENT LIST`'s line for `c` (without its newline).
    pub fn client_line(&self, c: &Client) -> String {
        let now = self.now_ms();
        let mut line = String::new();
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db=0 sub=0 psub=0 \
             ssub=0 multi=-1 qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 obl=0 oll=0 omem={} \
             tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            c.id,
            c.addr,
            c.laddr,
            String::from_utf8_lossy(&lock(&c.name)),
            c.created.elapsed().as_secs(),
            now.saturating_sub(c.last_active_ms.load(Ordering::Relaxed)) / 1000,
            if c.in_multi.load(Ordering::Relaxed) {
                "x"
            } else if c.blocked.load(Ordering::Relaxed) {
                "b"
            } else {
                "N"
            },
            c.qbuf.load(Ordering::Relaxed),
            c.omem.load(Ordering::Relaxed),
            lock(&c.last_cmd),
            if c.resp3.load(Ordering::Relaxed) {
                3
            } else {
                2
            },
            String::from_utf8_lossy(&lock(&c.lib_name)),
            String::from_utf8_lossy(&lock(&c.lib_ver)),
        );
        line
    }

    /// `INFO`'s `# Clients` section.
    pub fn info_clients(&self) -> String {
        let mut text = String::from("# Clients\r\n");
        let _ = write!(
            text,
            "connected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n\
             total_connections_received:{}\r\nrejected_connections:{}\r\n\
             client_output_buffer_limit_disconnections:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
            self.client_count(),
            self.args.maxclients,
            self.blocked_count(),
            self.connections_received.load(Ordering::Relaxed),
            self.rejected_connections.load(Ordering::Relaxed),
            self.output_limit_disconnects.load(Ordering::Relaxed),
            self.port,
            self.started.elapsed().as_secs(),
        );
        text
    }
}

impl Client {
    /// Marks the client for closing and wakes its task.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.cancel.cancel();
        self.kill.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }
}
