//! `ziggy-server`: the Redis protocol (RESP2, and RESP3 after `HELLO 3`) served on a
//! ZiggyDB directory. Other `ziggy-server` processes, the `ziggy` tool and programs that
//! embed the library may use the same directory at the same time; each sees the others'
//! commits.
//!
//! Runtime: tokio's multi-threaded reactor for the sockets, and its blocking pool for the
//! database (a command may wait for the writer lock or an fsync; the reactor never does).
//! See `conn.rs` for how a connection runs and `handler.rs` for what the server answers
//! itself.

mod combine;
mod config;
mod conn;
mod handler;
mod state;

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;

use crate::config::Args;
use crate::state::Server;

/// How long a stop waits for connections to finish the batch they are running.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Writes a line to standard error, prefixed with the process id.
pub fn log(msg: &str) {
    eprintln!("ziggy-server[{}]: {msg}", std::process::id());
}

fn main() -> ExitCode {
    let args = Args::parse();
    let db = match ziggydb::OpenOptions::new()
        .durability(args.durability())
        .open(&args.dir)
    {
        Ok(db) => db,
        Err(e) => {
            log(&format!("cannot open {}: {e}", args.dir.display()));
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ziggy-server")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log(&format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, db))
}

async fn run(args: Args, db: ziggydb::Db) -> ExitCode {
    let mut tcp = Vec::new();
    let mut port: u16 = 0;
    if args.port >= 0 {
        let Ok(wanted) = u16::try_from(args.port) else {
            log(&format!("--port {} is out of range", args.port));
            return ExitCode::FAILURE;
        };
        port = wanted;
        for addr in args.binds() {
            let ip: IpAddr = match addr.trim_start_matches('-').parse() {
                Ok(ip) => ip,
                Err(_) => {
                    log(&format!("--bind {addr}: not an IP address"));
                    return ExitCode::FAILURE;
                }
            };
            match TcpListener::bind(SocketAddr::new(ip, port)).await {
                Ok(l) => {
                    if port == 0 {
                        port = l.local_addr().map_or(0, |a| a.port());
                    }
                    tcp.push(l);
                }
                Err(e) => log(&format!("cannot listen on {ip} port {port}: {e}")),
            }
        }
        if tcp.is_empty() {
            log("no address to listen on could be bound");
            return ExitCode::FAILURE;
        }
    }
    let unix = match &args.unixsocket {
        Some(path) => {
            use std::os::unix::fs::FileTypeExt as _;
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
            match UnixListener::bind(path) {
                Ok(l) => {
                    if let Some(mode) = args.unixsocketperm {
                        use std::os::unix::fs::PermissionsExt as _;
                        let perms = std::fs::Permissions::from_mode(mode);
                        if let Err(e) = std::fs::set_permissions(path, perms) {
                            log(&format!("cannot set the mode of {}: {e}", path.display()));
                            return ExitCode::FAILURE;
                        }
                    }
                    Some(l)
                }
                Err(e) => {
                    log(&format!("cannot listen on {}: {e}", path.display()));
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    if tcp.is_empty() && unix.is_none() {
        log("nothing to listen on: give a --port or a --unixsocket");
        return ExitCode::FAILURE;
    }
    // The write thread's transactions are bounded (at most 4096 simple writes), so no
    // limit on how long they hold the lock: one rolled back would fail writes of clients
    // that did nothing wrong.
    let write_policy = ziggydb::commands::Policy {
        max_begin_hold: None,
        ..handler::policy(&args)
    };
    let writes = match combine::start(&db, write_policy) {
        Ok(writes) => writes,
        Err(e) => {
            log(&format!("cannot start the write thread: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let server = Arc::new(Server::new(db, args, port, writes));
    // The line tests and scripts wait for (with --port 0, it names the port chosen).
    println!("ziggy-server ready: port {port} pid {}", std::process::id());
    let _ = std::io::stdout().flush();
    log(&format!(
        "serving {} on port {port}{}",
        server.db.path().display(),
        server
            .args
            .unixsocket
            .as_ref()
            .map(|p| format!(" and {}", p.display()))
            .unwrap_or_default()
    ));

    // Every listener and connection holds a sender; the stop waits until all are dropped.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    for listener in tcp {
        tokio::spawn(accept_tcp(Arc::clone(&server), listener, alive.clone()));
    }
    if let Some(listener) = unix {
        tokio::spawn(accept_unix(Arc::clone(&server), listener, alive.clone()));
    }
    drop(alive);

    let mut stop = server.shutdown.subscribe();
    let signals = async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    };
    tokio::select! {
        name = signals => log(&format!("{name}: stopping")),
        () = conn::stopped(&mut stop) => log("stopping"),
    }
    server.request_shutdown();
    if tokio::time::timeout(STOP_GRACE, all_done.recv())
        .await
        .is_err()
    {
        log("some connections did not finish their commands in time; stopping anyway");
    }
    let db = server.db.clone();
    let synced = tokio::task::spawn_blocking(move || db.sync()).await;
    if let Some(path) = &server.args.unixsocket {
        let _ = std::fs::remove_file(path);
    }
    match synced {
        Ok(Ok(())) => {
            log("stopped: every acknowledged write is on stable storage");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            log(&format!("stopped, but the final sync failed: {e}"));
            ExitCode::FAILURE
        }
        Err(e) => {
            log(&format!("stopped, but the final sync failed: {e}"));
            ExitCode::FAILURE
        }
    }
}

const DENIED: &str = "-DENIED ziggy-server is running in protected mode because protected \
mode is enabled and no password is set for the default user. In this mode connections are \
only accepted from the loopback interface or the Unix socket. Start it with --requirepass, or \
with --protected-mode no if every client that can reach it may use the database.\r\n";

async fn accept_tcp(server: Arc<Server>, listener: TcpListener, alive: mpsc::Sender<()>) {
    let mut stop = server.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = conn::stopped(&mut stop) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let local = stream
                    .local_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string());
                let is_local = peer.ip().is_loopback() || peer.ip().to_canonical().is_loopback();
                let server = Arc::clone(&server);
                let alive = alive.clone();
                tokio::spawn(async move {
                    let _alive = alive;
                    connection(server, stream, peer.to_string(), local, is_local).await;
                });
            }
            Err(e) => {
                // Out of file descriptors, for one: wait a little rather than spin.
                log(&format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn accept_unix(server: Arc<Server>, listener: UnixListener, alive: mpsc::Sender<()>) {
    let mut stop = server.shutdown.subscribe();
    let path = server
        .args
        .unixsocket
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = conn::stopped(&mut stop) => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let server = Arc::clone(&server);
                let alive = alive.clone();
                let addr = format!("{path}:0");
                tokio::spawn(async move {
                    let _alive = alive;
                    connection(server, stream, addr.clone(), addr, true).await;
                });
            }
            Err(e) => {
                log(&format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection<S>(server: Arc<Server>, mut stream: S, addr: String, laddr: String, local: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    if server.args.protected_mode && server.args.requirepass.is_none() && !local {
        let _ = stream.write_all(DENIED.as_bytes()).await;
        return;
    }
    let Some(client) = server.register(addr, laddr) else {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    };
    conn::serve(server, client, stream).await;
}
