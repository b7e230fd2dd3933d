//! One client connection: read requests, run each batch of whole requests on a blocking
//! thread, write the replies, and close on `QUIT`, a protocol error, a kill, an idle timeout
//! or the server's shutdown.
//!
//! The reactor never waits for the database: a batch of a few quick reads (which take no
//! lock) runs on its thread, and any other batch (every whole request received so far,
//! which is how a pipeline arrives) runs in one `spawn_blocking` call, so the commits of
//! many connections run on many threads at once and share the engine's fsyncs (group
//! commit) instead of queueing behind each other. While a batch runs, no more is read from
//! the client (what it sends waits in the socket: the query buffer stays bounded), and the
//! replies it has produced so far are written as they come, in pieces; a client whose unread
//! replies pass `--client-output-buffer-limit` is closed.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::Instant;
use ziggydb::commands::{decode_request, Protocol, Reply};

use crate::handler::{Conn, Flow};
use crate::state::{Client, Server};

/// How often a connection with an open transaction checks whether its `BEGIN` is overdue.
const OVERDUE_CHECK: Duration = Duration::from_millis(250);
/// Bytes asked of the socket at a time.
const READ_SIZE: usize = 16 * 1024;
/// How long a subscribed connection's session waits for a message on a blocking thread
/// before it is handed back to the reactor, which then runs any command that came meanwhile.
const PUSH_WAIT: Duration = Duration::from_millis(50);

/// A subscribed connection's session waiting for messages on a blocking thread: it gives
/// back the connection, the messages it encoded, and whether to close (an overrun).
type Waiter = tokio::task::JoinHandle<(Conn, Vec<u8>, bool)>;

/// Waits on a blocking thread, at most [`PUSH_WAIT`], for the next message of `c`'s
/// subscriptions, then takes whatever else is ready (up to [`crate::handler::CHUNK`] bytes).
fn wait_for_messages(mut c: Conn) -> Waiter {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut close = false;
        let mut wait = Some(PUSH_WAIT);
        while out.len() < crate::handler::CHUNK && !close {
            let Some(reply) = c.session.next_push(wait) else {
                break;
            };
            // An error is a subscriber overrun by the ring (format-spec.md §5.4): Redis
            // closes such a client; so does this server, after the error.
            close = reply.is_error();
            reply.encode(c.protocol, &mut out);
            wait = Some(Duration::ZERO);
        }
        (c, out, close)
    })
}

/// Serves `stream` for `client` until it closes.
pub async fn serve<S>(server: Arc<Server>, client: Arc<Client>, stream: S)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut conn = Some(Conn::new(Arc::clone(&server), Arc::clone(&client)));
    let mut buf: Vec<u8> = Vec::new();
    let mut shutdown = server.shutdown.subscribe();
    let idle = (server.args.timeout > 0).then(|| Duration::from_secs(server.args.timeout));
    let qlimit = server.args.client_query_buffer_limit;
    let mut last_read = Instant::now();
    let mut waiter: Option<Waiter> = None;
    loop {
        // A request came while the session waited for messages: have it back first.
        if let Some(w) = waiter.take() {
            let Ok((c, out, close)) = w.await else { break };
            conn = Some(c);
            if wr.write_all(&out).await.is_err() || close {
                break;
            }
        }
        let mut batch = Vec::new();
        let mut protocol_error = None;
        let mut pos = 0;
        loop {
            match decode_request(&buf[pos..]) {
                Ok(Some((argv, used))) => {
                    pos += used;
                    if !argv.is_empty() {
                        batch.push(argv);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    protocol_error = Some(e);
                    break;
                }
            }
        }
        buf.drain(..pos);
        client.qbuf.store(buf.len(), Ordering::Relaxed);
        if !batch.is_empty() {
            match run_batch(&mut conn, batch, &mut wr, &mut rd, &mut buf, qlimit).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) | Err(_) => break,
            }
        }
        if let Some(e) = protocol_error {
            crate::log(&format!(
                "closing client id={} addr={}: {e}",
                client.id, client.addr
            ));
            let _ = send_reply(&mut wr, &e.reply(), protocol_of(&conn)).await;
            break;
        }
        if buf.len() > qlimit {
            crate::log(&format!(
                "closing client id={} addr={}: {} bytes of an unfinished request, over \
                 client-query-buffer-limit {qlimit}",
                client.id,
                client.addr,
                buf.len()
            ));
            let _ = send_reply(
                &mut wr,
                &Reply::error("ERR query buffer limit exceeded: closing the connection"),
                protocol_of(&conn),
            )
            .await;
            break;
        }
        if *shutdown.borrow() || client.is_killed() {
            break;
        }
        if buf.capacity() - buf.len() < READ_SIZE {
            buf.reserve(READ_SIZE);
        }
        let in_txn = conn.as_ref().is_some_and(|c| c.session.in_transaction());
        let idle_deadline = idle.map(|d| last_read + d);
        if conn.as_ref().is_some_and(|c| c.session.is_subscribed()) {
            if let Some(c) = conn.take() {
                waiter = Some(wait_for_messages(c));
            }
        }
        tokio::select! {
            joined = async { waiter.as_mut().expect("a waiter").await }, if waiter.is_some() => {
                waiter = None;
                let Ok((c, out, close)) = joined else { break };
                conn = Some(c);
                // A subscriber is never idle: it waits for messages by design.
                last_read = Instant::now();
                if wr.write_all(&out).await.is_err() || close {
                    break;
                }
            }
            r = rd.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => last_read = Instant::now(),
            },
            () = stopped(&mut shutdown) => break,
            () = client.kill.notified() => if client.is_killed() { break },
            () = sleep_until(idle_deadline) => {
                crate::log(&format!("closing client id={} addr={}: idle", client.id, client.addr));
                break;
            }
            () = tokio::time::sleep(OVERDUE_CHECK), if in_txn => {
                if let Some(mut c) = conn.take() {
                    conn = tokio::task::spawn_blocking(move || {
                        c.rollback_if_overdue();
                        c
                    })
                    .await
                    .ok();
                }
                if conn.is_none() {
                    break;
                }
            }
        }
    }
    if let Some(w) = waiter.take() {
        if let Ok((c, _, _)) = w.await {
            conn = Some(c);
        }
    }
    // Out of CLIENT LIST and maxclients before the client sees the connection close.
    server.unregister(client.id);
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    // The session ends on a blocking thread: rolling back a BEGIN releases the writer lock.
    if let Some(c) = conn {
        let _ = tokio::task::spawn_blocking(move || drop(c)).await;
    }
}

fn protocol_of(conn: &Option<Conn>) -> Protocol {
    conn.as_ref().map_or(Protocol::Resp2, |c| c.protocol)
}

/// Resolves once the server is stopping.
pub async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn send_reply<W: AsyncWrite>(
    wr: &mut WriteHalf<W>,
    reply: &Reply,
    protocol: Protocol,
) -> io::Result<()> {
    let mut out = Vec::new();
    reply.encode(protocol, &mut out);
    wr.write_all(&out).await
}

/// Writes one piece of replies, giving up if the client is killed meanwhile (a client over
/// its output limit does not read, so the write would wait forever).
async fn write_piece<W: AsyncWrite>(
    wr: &mut WriteHalf<W>,
    client: &Client,
    piece: &[u8],
) -> io::Result<()> {
    let mut written = 0;
    while written < piece.len() {
        tokio::select! {
            r = wr.write(&piece[written..]) => match r? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => written += n,
            },
            () = client.kill.notified() => {
                if client.is_killed() {
                    return Err(io::Error::other("client killed"));
                }
            }
        }
    }
    Ok(())
}

/// Runs `batch` on a blocking thread, writing its replies as they are produced. While a
/// batch with a blocking command (`BLPOP`...) runs, the socket is read too (into `buf`, up to
/// `qlimit` bytes, for the next batch), so that a client that closes its connection stops
/// waiting, as in Redis.
async fn run_batch<S: AsyncRead + AsyncWrite>(
    conn: &mut Option<Conn>,
    batch: Vec<Vec<Vec<u8>>>,
    wr: &mut WriteHalf<S>,
    rd: &mut ReadHalf<S>,
    buf: &mut Vec<u8>,
    qlimit: usize,
) -> io::Result<Flow> {
    let Some(mut c) = conn.take() else {
        return Ok(Flow::Close);
    };
    let client = Arc::clone(&c.client);
    if c.authed
        && c.replies == crate::handler::Replies::On
        && c.protocol == Protocol::Resp2
        && !c.session.in_transaction()
        && !c.session.is_subscribed()
        // The write thread's session is in database 0.
        && c.session.database() == 0
        && crate::handler::groupable_run(&batch) == batch.len()
    {
        // Simple writes only: committed together with other clients' (combine.rs). The
        // write thread's session shapes replies for RESP2; a RESP3 connection's writes run
        // in its own session below.
        let (done, replies) = tokio::sync::oneshot::channel();
        c.note_command(&batch[batch.len() - 1][0]);
        let protocol = c.protocol;
        let writes = c.server.writes.clone();
        *conn = Some(c);
        if writes.send(crate::combine::Job { batch, done }).is_err() {
            return Err(io::Error::other("the write thread has stopped"));
        }
        let replies = replies
            .await
            .map_err(|_| io::Error::other("the write thread has stopped"))?;
        let mut out = Vec::new();
        for reply in &replies {
            reply.encode(protocol, &mut out);
        }
        wr.write_all(&out).await?;
        return Ok(Flow::Continue);
    }
    // A read in a database other than 0 takes the writer lock, which may wait: not here.
    if c.session.database() == 0 && crate::handler::quick(&batch) {
        let mut pieces = Vec::new();
        let mut out = Vec::new();
        let flow = c.run_batch(batch, &mut out, &mut |piece| pieces.push(piece));
        *conn = Some(c);
        for piece in pieces {
            let len = piece.len();
            let r = write_piece(wr, &client, &piece).await;
            client.omem.fetch_sub(len, Ordering::SeqCst);
            r?;
        }
        if !(flow == Flow::Close && client.is_killed()) {
            wr.write_all(&out).await?;
        }
        return Ok(flow);
    }
    let mut watch_socket = crate::handler::may_block(&batch);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let mut handle = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let flow = c.run_batch(batch, &mut out, &mut |piece| {
            let _ = tx.send(piece);
        });
        (c, out, flow)
    });
    // On an error return the batch goes on without us and ends the session where it runs.
    let joined = loop {
        tokio::select! {
            biased;
            Some(piece) = rx.recv() => {
                let len = piece.len();
                let r = write_piece(wr, &client, &piece).await;
                client.omem.fetch_sub(len, Ordering::SeqCst);
                r?;
            }
            joined = &mut handle => break joined,
            r = rd.read_buf(buf), if watch_socket && buf.len() < qlimit => {
                if matches!(r, Ok(0) | Err(_)) {
                    // Gone: end the wait; the connection closes after the batch.
                    client.kill();
                    watch_socket = false;
                } else {
                    client.qbuf.store(buf.len(), Ordering::Relaxed);
                    if buf.capacity() - buf.len() < READ_SIZE {
                        buf.reserve(READ_SIZE);
                    }
                }
            }
        }
    };
    let (c, out, flow) = joined.map_err(|e| io::Error::other(format!("a command failed: {e}")))?;
    *conn = Some(c);
    while let Ok(piece) = rx.try_recv() {
        let len = piece.len();
        let r = write_piece(wr, &client, &piece).await;
        client.omem.fetch_sub(len, Ordering::SeqCst);
        r?;
    }
    if flow == Flow::Close && client.is_killed() {
        return Ok(Flow::Close);
    }
    wr.write_all(&out).await?;
    Ok(flow)
}
