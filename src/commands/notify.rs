//! Keyspace notifications of the command layer (Redis `notify-keyspace-events`): which
//! events each write command publishes, with Redis 7's names and in Redis's order.
//!
//! One place for every command: a write command's events are worked out after it ran, from
//! the command, its arguments, its reply and which of its keys exist before and after, and
//! noted in the transaction ([`WriteTxn::note_event`]), which publishes them when it commits
//! and drops them if it rolls back (format-spec.md §5.4). With notifications off (the
//! default) nothing here runs: the session reads one word of `ziggy.shm` per write command.

use crate::commands::exec::View;
use crate::commands::reply::Reply;
use crate::commands::table::{CommandId, CommandSpec, Kind};
use crate::engine::notify::events as ev;
use crate::{Db, WriteTxn};

/// The database number the events name (`__keyspace@0__`); numbered databases set it.
pub(crate) const DB: u32 = crate::types::pubsub::NOTIFY_DB;

/// The classes enabled now (0: off): one word load.
pub(crate) fn flags(db: &Db) -> u32 {
    crate::types::pubsub::notify_flags(&db.inner)
}

/// What a command's events need of the state before it ran.
pub(crate) struct Before {
    flags: u32,
    keys: Vec<Vec<u8>>,
    existed: Vec<bool>,
    /// The first key had a time to live (for `GETEX ... PERSIST`).
    had_ttl: bool,
    /// The transaction's writes of collection pages before the command.
    internal: u64,
}

/// The keys `args` names, by the command's key positions (as `COMMAND GETKEYS` finds them).
fn command_keys(args: &[&[u8]]) -> Vec<Vec<u8>> {
    match crate::commands::introspect::get_keys(args) {
        Reply::Array(keys) => keys
            .into_iter()
            .filter_map(|k| match k {
                Reply::Bulk(k) => Some(k),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Before a write command `spec` (`args` its argv) runs against `view`: what its events
/// will need, or `None` if notifications are off or it writes nothing.
pub(crate) fn before(
    db: &Db,
    view: &dyn View,
    spec: &CommandSpec,
    args: &[&[u8]],
    internal: u64,
) -> Option<Before> {
    let flags = flags(db);
    if flags == 0 || spec.kind != Kind::Write {
        return None;
    }
    let keys = command_keys(args);
    let existed = keys
        .iter()
        .map(|k| view.count_existing(&[k.as_slice()]).unwrap_or(0) > 0)
        .collect();
    let had_ttl = spec.id == CommandId::Getex
        && keys
            .first()
            .is_some_and(|k| matches!(view.expire_time(k), Ok(Some(Some(_)))));
    Some(Before {
        flags,
        keys,
        existed,
        had_ttl,
        internal,
    })
}

/// Notes in `tx` the events of the command `args` that ran in it and replied `reply`.
pub(crate) fn note(
    tx: &mut WriteTxn,
    before: Before,
    id: CommandId,
    args: &[&[u8]],
    reply: &Reply,
) {
    let changed = tx.internal_writes() != before.internal;
    let list = events(&before, id, args, reply, changed, |k| {
        WriteTxn::count_existing(tx, &[k]).unwrap_or(0) > 0
    });
    let db = tx.database();
    for (class, event, key) in list {
        tx.note_event(before.flags, db, class, event, &key);
    }
}

/// Publishes at once the events of the command `args` that ran and committed on its own
/// (a blocking pop, whose transaction the library commits), replying `reply`.
pub(crate) fn publish(db: &Db, before: Before, id: CommandId, args: &[&[u8]], reply: &Reply) {
    let list = events(&before, id, args, reply, true, |k| {
        db.count_existing(&[k]).unwrap_or(0) > 0
    });
    let mut notes = Vec::new();
    for (class, event, key) in list {
        crate::types::pubsub::format_event(&mut notes, before.flags, DB, class, event, &key);
    }
    crate::types::pubsub::publish_notes(&db.inner, &notes);
}

/// An event: its class, its name, its key.
type Event = (u32, &'static str, Vec<u8>);

/// Collects events in order, adding Redis's `new` before the first event of a key the
/// command created.
struct Out<'a, F: Fn(&[u8]) -> bool> {
    before: &'a Before,
    exists: F,
    list: Vec<Event>,
    created: Vec<Vec<u8>>,
}

impl<F: Fn(&[u8]) -> bool> Out<'_, F> {
    fn existed(&self, key: &[u8]) -> bool {
        self.before
            .keys
            .iter()
            .zip(&self.before.existed)
            .find(|(k, _)| k.as_slice() == key)
            .is_none_or(|(_, e)| *e)
    }

    fn push(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if event != "del"
            && !self.existed(key)
            && !self.created.iter().any(|k| k == key)
            && (self.exists)(key)
        {
            self.created.push(key.to_vec());
            self.list.push((ev::NEW, "new", key.to_vec()));
        }
        self.list.push((class, event, key.to_vec()));
    }

    /// `del` if the command emptied `key` (a pop took its last element).
    fn del_if_gone(&mut self, key: &[u8]) {
        if self.existed(key) && !(self.exists)(key) {
            self.list.push((ev::GENERIC, "del", key.to_vec()));
        }
    }

    /// A `...STORE` command's destination: its event if it holds something now, `del` if
    /// it held something before and the result was empty.
    fn stored(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if (self.exists)(key) {
            self.push(class, event, key);
        } else {
            self.del_if_gone(key);
        }
    }
}

/// Whether `reply` counts something done: a positive integer, or anything but nil, an
/// empty array or 0.
fn did(reply: &Reply) -> bool {
    match reply {
        Reply::Int(n) => *n > 0,
        Reply::Nil | Reply::NilArray => false,
        Reply::Array(a) | Reply::Push(a) | Reply::Set(a) => !a.is_empty(),
        Reply::Error(_) => false,
        _ => true,
    }
}

fn is(arg: Option<&&[u8]>, word: &str) -> bool {
    arg.is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// The argument after the keys of a command whose keys follow their count (`LMPOP`'s
/// `LEFT`/`RIGHT`, `ZMPOP`'s `MIN`/`MAX`).
fn after_keys<'a>(id: CommandId, args: &'a [&'a [u8]]) -> Option<&'a &'a [u8]> {
    let at = usize::try_from(id.keynum_at()?).ok()?;
    let n = crate::commands::parse_int(args.get(at)?)?;
    args.get(at + 1 + usize::try_from(n).ok()?)
}

/// The first element of an array reply (the key of `BLPOP`, `LMPOP`, `BZPOPMIN`...).
fn first_bulk(reply: &Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::Array(a) | Reply::Push(a) => match a.first() {
            Some(Reply::Bulk(k)) => Some(k.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The events of the command `args` (`id`) that replied `reply`, in order.
fn events(
    before: &Before,
    id: CommandId,
    args: &[&[u8]],
    reply: &Reply,
    changed: bool,
    exists: impl Fn(&[u8]) -> bool,
) -> Vec<Event> {
    use crate::commands::bits::BitsId as B;
    use crate::commands::collections::CollectionId as L;
    use crate::commands::keyspace::KeyspaceId as K;
    use CommandId as C;
    let mut out = Out {
        before,
        exists,
        list: Vec::new(),
        created: Vec::new(),
    };
    if reply.is_error() {
        return out.list;
    }
    let key = args.get(1).copied().unwrap_or_default();
    let arg = |i: usize| args.get(i);
    match id {
        C::Set => {
            let opts = args.get(3..).unwrap_or_default();
            let get = opts.iter().any(|o| o.eq_ignore_ascii_case(b"GET"));
            let nx = opts.iter().any(|o| o.eq_ignore_ascii_case(b"NX"));
            let xx = opts.iter().any(|o| o.eq_ignore_ascii_case(b"XX"));
            let existed = out.existed(key);
            let written = if get {
                !(nx && existed || xx && !existed)
            } else {
                *reply != Reply::Nil
            };
            if written {
                out.push(ev::STRING, "set", key);
                let mut i = 0;
                let mut expires = false;
                while i < opts.len() {
                    let o = opts[i].to_ascii_uppercase();
                    if matches!(o.as_slice(), b"EX" | b"PX" | b"EXAT" | b"PXAT") {
                        expires = true;
                        i += 1;
                    } else if o == b"TYPE" {
                        i += 1;
                    }
                    i += 1;
                }
                if expires {
                    out.push(ev::GENERIC, "expire", key);
                }
            }
        }
        C::Setnx if did(reply) => out.push(ev::STRING, "set", key),
        C::Setex | C::Psetex | C::Setexp => {
            out.push(ev::STRING, "set", key);
            out.push(ev::GENERIC, "expire", key);
        }
        C::Getset => out.push(ev::STRING, "set", key),
        C::Getdel if did(reply) => out.push(ev::GENERIC, "del", key),
        C::Getex if did(reply) => {
            let opt = arg(2).map(|o| o.to_ascii_uppercase());
            match opt.as_deref() {
                Some(b"EX" | b"PX" | b"EXAT" | b"PXAT") => {
                    if (out.exists)(key) {
                        out.push(ev::GENERIC, "expire", key);
                    } else {
                        out.list.push((ev::GENERIC, "del", key.to_vec()));
                    }
                }
                Some(b"PERSIST") if before.had_ttl => out.push(ev::GENERIC, "persist", key),
                _ => {}
            }
        }
        C::Mset => {
            for pair in args[1..].chunks_exact(2) {
                out.push(ev::STRING, "set", pair[0]);
            }
        }
        C::Msetnx if did(reply) => {
            for pair in args[1..].chunks_exact(2) {
                out.push(ev::STRING, "set", pair[0]);
            }
        }
        C::Append => out.push(ev::STRING, "append", key),
        C::Setrange if arg(3).is_some_and(|v| !v.is_empty()) => {
            out.push(ev::STRING, "setrange", key);
        }
        C::Incr | C::Incrby | C::Decr | C::Decrby => out.push(ev::STRING, "incrby", key),
        C::Incrbyfloat => out.push(ev::STRING, "incrbyfloat", key),
        C::Del | C::Unlink => {
            let mut seen: Vec<&[u8]> = Vec::new();
            for k in &args[1..] {
                if !seen.contains(k) {
                    seen.push(k);
                    out.del_if_gone(k);
                }
            }
        }
        C::Rename | C::Renamenx if did(reply) && arg(1) != arg(2) => {
            let dst = args[2];
            if !out.existed(dst) {
                out.created.push(dst.to_vec());
                out.list.push((ev::NEW, "new", dst.to_vec()));
            }
            out.push(ev::GENERIC, "rename_from", key);
            out.push(ev::GENERIC, "rename_to", dst);
        }
        C::Copy if did(reply) => out.push(ev::GENERIC, "copy_to", args[2]),
        C::Expire | C::Pexpire | C::Expireat | C::Pexpireat if did(reply) => {
            if (out.exists)(key) {
                out.push(ev::GENERIC, "expire", key);
            } else {
                out.list.push((ev::GENERIC, "del", key.to_vec()));
            }
        }
        C::Persist if did(reply) => out.push(ev::GENERIC, "persist", key),
        C::Coll(c) => match c {
            L::Lpush | L::Lpushx if did(reply) => out.push(ev::LIST, "lpush", key),
            L::Rpush | L::Rpushx if did(reply) => out.push(ev::LIST, "rpush", key),
            L::Lpop | L::Rpop if did(reply) => {
                out.push(ev::LIST, if c == L::Lpop { "lpop" } else { "rpop" }, key);
                out.del_if_gone(key);
            }
            L::Lset => out.push(ev::LIST, "lset", key),
            L::Linsert if did(reply) => out.push(ev::LIST, "linsert", key),
            L::Lrem if did(reply) => {
                out.push(ev::LIST, "lrem", key);
                out.del_if_gone(key);
            }
            L::Ltrim if out.existed(key) => {
                out.push(ev::LIST, "ltrim", key);
                out.del_if_gone(key);
            }
            L::Lmove | L::Blmove | L::Rpoplpush | L::Brpoplpush if did(reply) => {
                let (from_left, to_left) = match c {
                    L::Lmove | L::Blmove => (is(arg(3), "LEFT"), is(arg(4), "LEFT")),
                    _ => (false, true),
                };
                let dst = args[2];
                out.push(ev::LIST, if to_left { "lpush" } else { "rpush" }, dst);
                out.push(ev::LIST, if from_left { "lpop" } else { "rpop" }, key);
                out.del_if_gone(key);
            }
            L::Blpop | L::Brpop => {
                if let Some(k) = first_bulk(reply) {
                    out.push(ev::LIST, if c == L::Blpop { "lpop" } else { "rpop" }, &k);
                    out.del_if_gone(&k);
                }
            }
            L::Lmpop | L::Blmpop => {
                if let Some(k) = first_bulk(reply) {
                    let left = is(after_keys(id, args), "LEFT");
                    out.push(ev::LIST, if left { "lpop" } else { "rpop" }, &k);
                    out.del_if_gone(&k);
                }
            }
            L::Sadd if did(reply) => out.push(ev::SET, "sadd", key),
            L::Srem if did(reply) => {
                out.push(ev::SET, "srem", key);
                out.del_if_gone(key);
            }
            L::Spop if did(reply) => {
                out.push(ev::SET, "spop", key);
                out.del_if_gone(key);
            }
            L::Smove if did(reply) => {
                out.push(ev::SET, "srem", key);
                out.del_if_gone(key);
                out.push(ev::SET, "sadd", args[2]);
            }
            L::Sinterstore => out.stored(ev::SET, "sinterstore", key),
            L::Sunionstore => out.stored(ev::SET, "sunionstore", key),
            L::Sdiffstore => out.stored(ev::SET, "sdiffstore", key),
            L::Zadd if did(reply) || changed => {
                // The options come before the first score.
                let incr = args
                    .iter()
                    .skip(2)
                    .take_while(|a| crate::commands::parse_float(a).is_none())
                    .any(|a| a.eq_ignore_ascii_case(b"INCR"));
                out.push(ev::ZSET, if incr { "zincr" } else { "zadd" }, key);
            }
            L::Zincrby => out.push(ev::ZSET, "zincr", key),
            L::Zrem | L::Zremrangebyscore | L::Zremrangebyrank | L::Zremrangebylex
                if did(reply) =>
            {
                let event = match c {
                    L::Zrem => "zrem",
                    L::Zremrangebyscore => "zremrangebyscore",
                    L::Zremrangebyrank => "zremrangebyrank",
                    _ => "zremrangebylex",
                };
                out.push(ev::ZSET, event, key);
                out.del_if_gone(key);
            }
            L::Zpopmin | L::Zpopmax if did(reply) => {
                out.push(
                    ev::ZSET,
                    if c == L::Zpopmin {
                        "zpopmin"
                    } else {
                        "zpopmax"
                    },
                    key,
                );
                out.del_if_gone(key);
            }
            L::Bzpopmin | L::Bzpopmax => {
                if let Some(k) = first_bulk(reply) {
                    let event = if c == L::Bzpopmin {
                        "zpopmin"
                    } else {
                        "zpopmax"
                    };
                    out.push(ev::ZSET, event, &k);
                    out.del_if_gone(&k);
                }
            }
            L::Zmpop | L::Bzmpop => {
                if let Some(k) = first_bulk(reply) {
                    let min = is(after_keys(id, args), "MIN");
                    out.push(ev::ZSET, if min { "zpopmin" } else { "zpopmax" }, &k);
                    out.del_if_gone(&k);
                }
            }
            L::Zunionstore => out.stored(ev::ZSET, "zunionstore", key),
            L::Zinterstore => out.stored(ev::ZSET, "zinterstore", key),
            L::Zdiffstore => out.stored(ev::ZSET, "zdiffstore", key),
            L::Zrangestore => out.stored(ev::ZSET, "zrangestore", key),
            L::Hset | L::Hmset => out.push(ev::HASH, "hset", key),
            L::Hsetnx if did(reply) => out.push(ev::HASH, "hset", key),
            L::Hdel if did(reply) => {
                out.push(ev::HASH, "hdel", key);
                out.del_if_gone(key);
            }
            L::Hincrby => out.push(ev::HASH, "hincrby", key),
            L::Hincrbyfloat => out.push(ev::HASH, "hincrbyfloat", key),
            _ => {}
        },
        C::Bits(b) => match b {
            // Redis publishes only a change: a bit set to what it was is none (unless the
            // string grew for it, which is not told apart here).
            B::Setbit
                if !out.existed(key)
                    || Some(match reply {
                        Reply::Int(1) => &b"1"[..],
                        _ => &b"0"[..],
                    }) != arg(3).copied() =>
            {
                out.push(ev::STRING, "setbit", key);
            }
            B::Bitop => {
                if let Some(dst) = arg(2) {
                    out.stored(ev::STRING, "set", dst);
                }
            }
            B::Bitfield
                if args.iter().any(|a| {
                    a.eq_ignore_ascii_case(b"SET") || a.eq_ignore_ascii_case(b"INCRBY")
                }) =>
            {
                out.push(ev::STRING, "setbit", key);
            }
            B::Pfadd if did(reply) => out.push(ev::STRING, "pfadd", key),
            B::Pfmerge => out.push(ev::STRING, "pfadd", key),
            _ => {}
        },
        C::Keyspace(k) => match k {
            K::Restore => out.push(ev::GENERIC, "restore", key),
            K::Sort => {
                if let Some(i) = args.iter().position(|a| a.eq_ignore_ascii_case(b"STORE")) {
                    if let Some(dst) = args.get(i + 1) {
                        out.stored(ev::LIST, "sortstore", dst);
                    }
                }
            }
            _ => {}
        },
        _ => {}
    }
    out.list
}

/// The parameters `CONFIG` knows: those shared by every process on the directory.
const PARAMETERS: [&str; 1] = ["notify-keyspace-events"];

/// `CONFIG GET|SET|RESETSTAT|HELP` (`args` after the name), with Redis's replies, for the
/// settings of the database: `notify-keyspace-events`.
pub(crate) fn config(db: &Db, args: &[&[u8]]) -> Reply {
    let Some(sub) = args.first() else {
        return Reply::error("ERR wrong number of arguments for 'config' command");
    };
    let sub_lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    let wrong = || {
        Reply::error(format!(
            "ERR wrong number of arguments for 'config|{sub_lower}' command"
        ))
    };
    let rest = &args[1..];
    match sub_lower.as_str() {
        "get" if rest.is_empty() => wrong(),
        "get" => {
            let mut found = Vec::new();
            for pattern in rest {
                let lower = pattern.to_ascii_lowercase();
                for name in PARAMETERS {
                    if found.iter().any(|(n, _)| *n == Reply::bulk(name)) {
                        continue;
                    }
                    if lower == name.as_bytes() {
                        // Named outright, it is echoed as given, as Redis does.
                        found.push((Reply::bulk(*pattern), Reply::bulk(db.keyspace_events())));
                    } else if crate::commands::glob_match(&lower, name.as_bytes()) {
                        found.push((Reply::bulk(name), Reply::bulk(db.keyspace_events())));
                    }
                }
            }
            Reply::Map(found)
        }
        "set" if rest.is_empty() || !rest.len().is_multiple_of(2) => wrong(),
        "set" => {
            let mut value = None;
            for pair in rest.chunks_exact(2) {
                let name = pair[0].to_ascii_lowercase();
                if !PARAMETERS.iter().any(|p| p.as_bytes() == name) {
                    return Reply::error(format!(
                        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                        String::from_utf8_lossy(pair[0])
                    ));
                }
                let failed = |why: &str| {
                    Reply::error(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
                        String::from_utf8_lossy(pair[0])
                    ))
                };
                if value.is_some() {
                    return failed("duplicate parameter");
                }
                if ev::parse(pair[1]).is_none() {
                    return failed("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
                }
                value = Some(pair[1]);
            }
            match value.map(|v| db.set_keyspace_events(v)) {
                Some(Err(e)) => crate::commands::exec::error_reply(&e),
                _ => Reply::ok(),
            }
        }
        "resetstat" if rest.is_empty() => Reply::ok(),
        "resetstat" => wrong(),
        "help" if !rest.is_empty() => wrong(),
        "help" => Reply::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "HELP",
                "    Prints this help.",
            ]
            .into_iter()
            .map(|l| Reply::Status(l.into()))
            .collect(),
        ),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(sub)
        )),
    }
}
