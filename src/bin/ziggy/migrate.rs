//! `ziggy -d DIR IMPORT redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`: copies every key of a
//! live Redis server (or `ziggy-server`) into the database, over the Redis protocol.
//!
//! Keys come from `SCAN`; for each, `TYPE` and `PEXPIRETIME` (`PTTL` on a server older than
//! Redis 7), then its value by type: `GET`, `LRANGE`, `SSCAN`, `ZRANGE ... WITHSCORES` or
//! `HSCAN`, 1000 members at a time, so that a big collection never sits in memory whole.
//! Requests for a window of keys go out together (a pipeline). Each key is written as
//! `DEL`, then its members, then `PEXPIREAT`, through the command layer, in transactions of
//! at most 1000 commands (or 1 MiB of them): other processes see the import progress batch by
//! batch. Keys of the types ZiggyDB does not have (streams, modules' types) are skipped and
//! counted. The copy is not one point in time: a key the server changes during the import
//! may be copied half before and half after the change.

use std::io::{self, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use ziggydb::commands::{execute_in, Reply};
use ziggydb::{Db, WriteTxn};

use crate::client::{scan_page, Conn, Failure, Target};
use crate::print::Format;

/// Keys whose type and expiry are asked for in one pipeline, and whose first chunk is.
const WINDOW: usize = 100;
/// Members read in one request.
const CHUNK: usize = 1000;
/// Commands written by one transaction at most.
const BATCH_COMMANDS: u64 = 1000;
/// Bytes (of arguments) after which a transaction is committed: a transaction holds some
/// 30 times the bytes of the members it adds in tree pages until it commits.
const BATCH_BYTES: usize = 1 << 20;

/// `IMPORT redis://...` as a one-shot command; `None` for any other command.
///
/// # Errors
/// If standard output cannot be written or the database fails (a full disk): the import
/// stops, with the batches before committed.
pub fn import_redis(
    db: &Db,
    format: Format,
    command: &[&[u8]],
) -> anyhow::Result<Option<ExitCode>> {
    let [name, url, rest @ ..] = command else {
        return Ok(None);
    };
    if !name.eq_ignore_ascii_case(b"import") || !url.starts_with(b"redis://") {
        return Ok(None);
    }
    if !rest.is_empty() {
        eprintln!("ziggy: IMPORT redis://HOST:PORT takes no options");
        return Ok(Some(ExitCode::from(2)));
    }
    let url = String::from_utf8_lossy(url);
    let target = match Target::default().with_uri(&url) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("ziggy: {msg}");
            return Ok(Some(ExitCode::from(2)));
        }
    };
    let mut conn = match Conn::open(&target) {
        Ok(conn) => conn,
        Err(msg) => {
            eprintln!("{msg}");
            return Ok(Some(ExitCode::FAILURE));
        }
    };
    let mut import = Import {
        writer: Writer {
            db,
            tx: None,
            commands: 0,
            bytes: 0,
        },
        absolute: true,
        imported: 0,
        failed: 0,
        skipped: Vec::new(),
    };
    // PEXPIRETIME (Redis 7) gives the expiry as it is; before it, PTTL and the clock.
    import.absolute = !matches!(
        remote(&mut conn, &[b"PEXPIRETIME", b"ziggy:import:probe"])?,
        Reply::Error(_)
    );
    let mut cursor = b"0".to_vec();
    loop {
        let reply = remote(&mut conn, &[b"SCAN", &cursor, b"COUNT", b"1000"])?;
        let (next, keys) = scan_page(reply).context("SCAN")?;
        for window in keys.chunks(WINDOW) {
            import.window(&mut conn, window)?;
        }
        if next == b"0" {
            break;
        }
        cursor = next;
    }
    import.writer.commit()?;
    for (ty, n) in &import.skipped {
        eprintln!(
            "ziggy: skipped {n} key{} of type {ty}, which ZiggyDB does not have",
            if *n == 1 { "" } else { "s" }
        );
    }
    let mut buf = Vec::new();
    format.write(
        &Reply::Int(i64::try_from(import.imported).unwrap_or(i64::MAX)),
        &mut buf,
    );
    let mut out = io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    if import.failed > 0 {
        eprintln!("ziggy: {} keys could not be imported", import.failed);
        return Ok(Some(ExitCode::FAILURE));
    }
    Ok(Some(ExitCode::SUCCESS))
}

/// Sends one request and waits for its reply.
fn remote(conn: &mut Conn, args: &[&[u8]]) -> anyhow::Result<Reply> {
    conn.command(args).map_err(lost)
}

fn lost(e: Failure) -> anyhow::Error {
    anyhow::anyhow!("the server's connection failed: {e}")
}

/// Writes commands into the database in transactions of bounded size.
struct Writer<'a> {
    db: &'a Db,
    tx: Option<WriteTxn>,
    commands: u64,
    bytes: usize,
}

impl Writer<'_> {
    /// Runs `args` in the open transaction (a new one once it is full).
    fn run(&mut self, args: &[&[u8]]) -> anyhow::Result<Reply> {
        if self.commands >= BATCH_COMMANDS || self.bytes >= BATCH_BYTES {
            self.commit()?;
        }
        if self.tx.is_none() {
            self.tx = Some(
                self.db
                    .begin_write()
                    .context("cannot begin a transaction")?,
            );
        }
        let tx = self.tx.as_mut().context("no transaction")?;
        self.commands += 1;
        self.bytes += args.iter().map(|a| a.len() + 32).sum::<usize>();
        Ok(execute_in(self.db, tx, args))
    }

    fn commit(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.tx.take() {
            tx.commit()
                .context("cannot commit the import's transaction")?;
        }
        self.commands = 0;
        self.bytes = 0;
        Ok(())
    }
}

/// The types a key can have here, and how each is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    List,
    Set,
    ZSet,
    Hash,
}

impl Kind {
    fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "string" => Kind::String,
            "list" => Kind::List,
            "set" => Kind::Set,
            "zset" => Kind::ZSet,
            "hash" => Kind::Hash,
            _ => return None,
        })
    }

    /// The request for the chunk at `at` (an index, or a scan cursor).
    fn read(self, key: &[u8], at: &[u8]) -> Vec<Vec<u8>> {
        let end = || {
            let start: u64 = std::str::from_utf8(at)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (start + CHUNK as u64 - 1).to_string().into_bytes()
        };
        let count = CHUNK.to_string().into_bytes();
        let words: Vec<&[u8]> = match self {
            Kind::String => vec![b"GET", key],
            Kind::List => return vec![b"LRANGE".to_vec(), key.to_vec(), at.to_vec(), end()],
            Kind::ZSet => {
                return vec![
                    b"ZRANGE".to_vec(),
                    key.to_vec(),
                    at.to_vec(),
                    end(),
                    b"WITHSCORES".to_vec(),
                ]
            }
            Kind::Set => vec![b"SSCAN", key, at, b"COUNT", &count],
            Kind::Hash => vec![b"HSCAN", key, at, b"COUNT", &count],
        };
        words.into_iter().map(<[u8]>::to_vec).collect()
    }

    /// The command that adds members (`None` for a string).
    fn writer(self) -> &'static [u8] {
        match self {
            Kind::String => b"SET",
            Kind::List => b"RPUSH",
            Kind::Set => b"SADD",
            Kind::ZSet => b"ZADD",
            Kind::Hash => b"HSET",
        }
    }
}

/// A key whose value is still being read: what to ask for next.
struct Pending {
    key: Vec<u8>,
    kind: Kind,
    /// The next index (lists, sorted sets) or scan cursor (sets, hashes).
    next: Vec<u8>,
    expires_at: Option<i64>,
    members: u64,
}

struct Import<'a> {
    writer: Writer<'a>,
    /// Whether the server has PEXPIRETIME.
    absolute: bool,
    imported: u64,
    failed: u64,
    /// Keys skipped, by type.
    skipped: Vec<(String, u64)>,
}

impl Import<'_> {
    /// Imports the keys of one window: types and expiries in one pipeline, then the first
    /// chunk of every key in another, then the rest of the big ones one request at a time.
    fn window(&mut self, conn: &mut Conn, keys: &[Vec<u8>]) -> anyhow::Result<()> {
        let ttl: &[u8] = if self.absolute {
            b"PEXPIRETIME"
        } else {
            b"PTTL"
        };
        for key in keys {
            conn.send(&[b"TYPE", key])?;
            conn.send(&[ttl, key])?;
        }
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            let ty = conn.read_reply(false).map_err(lost)?;
            let expiry = conn.read_reply(false).map_err(lost)?;
            let ty = match ty {
                Reply::Status(t) => t,
                other => anyhow::bail!("TYPE replied {other:?}"),
            };
            let expires_at = match expiry {
                Reply::Int(n) if n >= 0 && self.absolute => Some(n),
                Reply::Int(n) if n >= 0 => Some(now_ms().saturating_add(n)),
                // -1: no expiry; -2: the key is gone already.
                Reply::Int(-1) => None,
                Reply::Int(_) => continue,
                other => anyhow::bail!("{} replied {other:?}", String::from_utf8_lossy(ttl)),
            };
            if ty == "none" {
                continue;
            }
            let Some(kind) = Kind::of(&ty) else {
                match self.skipped.iter_mut().find(|(t, _)| *t == ty) {
                    Some((_, n)) => *n += 1,
                    None => self.skipped.push((ty, 1)),
                }
                continue;
            };
            found.push(Pending {
                key: key.clone(),
                kind,
                next: b"0".to_vec(),
                expires_at,
                members: 0,
            });
        }
        for p in &found {
            let request = p.kind.read(&p.key, &p.next);
            conn.send(&ziggydb::commands::as_args(&request))?;
        }
        let mut more = Vec::new();
        for mut p in found {
            let reply = conn.read_reply(false).map_err(lost)?;
            if self.chunk(&mut p, reply, true)? {
                more.push(p);
            }
        }
        for mut p in more {
            loop {
                let request = p.kind.read(&p.key, &p.next);
                let reply = remote(conn, &ziggydb::commands::as_args(&request))?;
                if !self.chunk(&mut p, reply, false)? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Writes one chunk of `p`'s value (the first: after a `DEL`); true if more is to be
    /// read. When the value is complete, sets its expiry and counts the key.
    fn chunk(&mut self, p: &mut Pending, reply: Reply, first: bool) -> anyhow::Result<bool> {
        let name = String::from_utf8_lossy(&p.key).into_owned();
        let (items, next) = match (p.kind, reply) {
            (_, Reply::Error(e)) => {
                // The key changed type, or the server refused: it is left out.
                eprintln!("ziggy: key '{name}' not imported: the server replied {e}");
                self.failed += 1;
                return Ok(false);
            }
            (Kind::String, Reply::Bulk(v)) => (vec![v], None),
            // Gone since TYPE.
            (Kind::String, _) => (Vec::new(), None),
            (Kind::List | Kind::ZSet, Reply::Array(items)) => {
                let per_member = if p.kind == Kind::ZSet { 2 } else { 1 };
                let full = items.len() == CHUNK * per_member;
                let bytes = bulks(items)?;
                let next = full.then(|| {
                    let at: u64 = std::str::from_utf8(&p.next)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    (at + CHUNK as u64).to_string().into_bytes()
                });
                (bytes, next)
            }
            (Kind::Set | Kind::Hash, reply) => {
                let (cursor, items) = scan_page(reply)?;
                (items, (cursor != b"0").then_some(cursor))
            }
            (_, other) => anyhow::bail!("reading '{name}' got {other:?}"),
        };
        if first && !self.write(p, &[b"DEL", &p.key.clone()])? {
            return Ok(false);
        }
        if !items.is_empty() {
            let mut args: Vec<&[u8]> = Vec::with_capacity(items.len() + 2);
            args.push(p.kind.writer());
            args.push(&p.key);
            match p.kind {
                // Redis replies member then score; ZADD takes score then member.
                Kind::ZSet => {
                    for pair in items.chunks(2) {
                        if let [member, score] = pair {
                            args.push(score);
                            args.push(member);
                        }
                    }
                }
                _ => args.extend(items.iter().map(Vec::as_slice)),
            }
            let args = args.clone();
            if !self.write(p, &args)? {
                return Ok(false);
            }
            p.members += items.len() as u64;
        }
        if let Some(next) = next {
            p.next = next;
            return Ok(true);
        }
        if p.members == 0 {
            // Gone (or emptied) since TYPE: the DEL was right.
            return Ok(false);
        }
        if let Some(at) = p.expires_at {
            let at = at.to_string();
            if !self.write(p, &[b"PEXPIREAT", &p.key.clone(), at.as_bytes()])? {
                return Ok(false);
            }
        }
        self.imported += 1;
        Ok(false)
    }

    /// Runs one write; false (with a warning, and the key counted as failed) if it failed.
    fn write(&mut self, p: &Pending, args: &[&[u8]]) -> anyhow::Result<bool> {
        match self.writer.run(args)? {
            Reply::Error(e) => {
                eprintln!(
                    "ziggy: key '{}' not imported: {e}",
                    String::from_utf8_lossy(&p.key)
                );
                self.failed += 1;
                Ok(false)
            }
            _ => Ok(true),
        }
    }
}

/// The bulk strings of an array reply.
fn bulks(items: Vec<Reply>) -> anyhow::Result<Vec<Vec<u8>>> {
    items
        .into_iter()
        .map(|item| match item {
            Reply::Bulk(b) => Ok(b),
            other => Err(anyhow::anyhow!("expected a string, got {other:?}")),
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
