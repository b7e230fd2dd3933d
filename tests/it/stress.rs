//! Concurrency stress: several processes × threads mix every kind of command on one database
//! while compaction and index growth run, and a history checker verifies the guarantees
//! between processes: every register, counter, the list, the set and the accounts have a
//! linearizable history (a complete search, see [`crate::linearizable`]), and multi-key reads
//! see whole transactions. Then stale readers: a reader stopped with SIGSTOP, or
//! killed, while it holds values of old files, neither blocks compaction nor reads freed data.
//!
//! Every operation is logged with its invocation and response times on `CLOCK_MONOTONIC`,
//! which is one clock for every process of the machine, so that histories of different
//! processes can be ordered in real time.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ziggydb::{Db, Durability, OpenOptions, Value, ZAddFlags};

use crate::linearizable as lin;
use crate::util::{self, child_param, child_role, report, Child, Rng, TestResult};

const LONG: Duration = Duration::from_secs(180);

/// Nanoseconds on `CLOCK_MONOTONIC`: system-wide, unlike the per-process origin of `Instant`.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_MONOTONIC is a clock id every Linux kernel supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// ---------------------------------------------------------------------------------------------
// Histories

/// One logged operation, or an expectation about the final state. `inv` and `resp` are
/// [`mono_ns`] before the call and after it returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// SET (`Some`) or DEL (`None`) of a register, or a group write (`reg` = `grp/G`, value
    /// = the version written to every key of the group).
    Write {
        reg: String,
        inv: u64,
        resp: u64,
        value: Option<String>,
    },
    /// GET of a register.
    Read {
        reg: String,
        inv: u64,
        resp: u64,
        value: Option<String>,
    },
    /// MGET of every key of a group.
    GroupRead {
        reg: String,
        inv: u64,
        resp: u64,
        values: Vec<Option<String>>,
    },
    /// INCR of a counter and its result.
    Incr {
        key: String,
        inv: u64,
        resp: u64,
        result: i64,
    },
    /// GET of a counter (absent reads as 0).
    CounterRead {
        key: String,
        inv: u64,
        resp: u64,
        value: i64,
    },
    /// MGET of every account.
    Accounts {
        inv: u64,
        resp: u64,
        balances: Vec<i64>,
    },
    /// A committed transfer.
    Transfer {
        inv: u64,
        resp: u64,
        from: usize,
        to: usize,
        amount: i64,
    },
    /// LPUSH of a unique value, and the length it returned.
    Push {
        inv: u64,
        resp: u64,
        value: String,
        len: u64,
    },
    /// RPOP, and what it returned.
    Pop {
        inv: u64,
        resp: u64,
        value: Option<String>,
    },
    /// Every element of the list, head first.
    ListRead {
        inv: u64,
        resp: u64,
        values: Vec<String>,
    },
    /// SADD, SREM or SISMEMBER of `member`, or SCARD (`member` empty), and its result.
    SetCmd {
        cmd: SetCmd,
        member: String,
        inv: u64,
        resp: u64,
        result: u64,
    },
    /// A command on the hash (`map` = `h`) or the sorted set (`z`, scores as values): HSET or
    /// ZADD of `value`, HDEL or ZREM, HGET or ZSCORE (`got`), HLEN or ZCARD (`field` empty);
    /// `count` is what a put, a delete or a length returned.
    MapCmd {
        map: String,
        cmd: MapCmd,
        field: String,
        value: Option<String>,
        inv: u64,
        resp: u64,
        count: u64,
        got: Option<String>,
    },
    /// The final state must hold `value` at `what` (`f thread`: that thread's filler keys).
    Expect { what: String, value: Option<String> },
}

/// The set commands of the workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SetCmd {
    Add,
    Remove,
    Contains,
    Card,
}

impl SetCmd {
    fn name(self) -> &'static str {
        match self {
            SetCmd::Add => "add",
            SetCmd::Remove => "rem",
            SetCmd::Contains => "has",
            SetCmd::Card => "card",
        }
    }

    fn parse(s: &str) -> Option<SetCmd> {
        [SetCmd::Add, SetCmd::Remove, SetCmd::Contains, SetCmd::Card]
            .into_iter()
            .find(|c| c.name() == s)
    }
}

/// The hash and sorted-set commands of the workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MapCmd {
    Put,
    Delete,
    Get,
    Len,
}

impl MapCmd {
    fn name(self) -> &'static str {
        match self {
            MapCmd::Put => "put",
            MapCmd::Delete => "del",
            MapCmd::Get => "get",
            MapCmd::Len => "len",
        }
    }

    fn parse(s: &str) -> Option<MapCmd> {
        [MapCmd::Put, MapCmd::Delete, MapCmd::Get, MapCmd::Len]
            .into_iter()
            .find(|c| c.name() == s)
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn unopt(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_owned())
}

impl Event {
    /// One line, tokens separated by spaces (no value contains a space).
    pub fn to_line(&self) -> String {
        match self {
            Event::Write {
                reg,
                inv,
                resp,
                value,
            } => format!("W {reg} {inv} {resp} {}", opt(value)),
            Event::Read {
                reg,
                inv,
                resp,
                value,
            } => format!("R {reg} {inv} {resp} {}", opt(value)),
            Event::GroupRead {
                reg,
                inv,
                resp,
                values,
            } => {
                let v: Vec<&str> = values.iter().map(opt).collect();
                format!("G {reg} {inv} {resp} {}", v.join(","))
            }
            Event::Incr {
                key,
                inv,
                resp,
                result,
            } => format!("I {key} {inv} {resp} {result}"),
            Event::CounterRead {
                key,
                inv,
                resp,
                value,
            } => format!("CR {key} {inv} {resp} {value}"),
            Event::Accounts {
                inv,
                resp,
                balances,
            } => {
                let v: Vec<String> = balances.iter().map(i64::to_string).collect();
                format!("A {inv} {resp} {}", v.join(","))
            }
            Event::Transfer {
                inv,
                resp,
                from,
                to,
                amount,
            } => format!("T {inv} {resp} {from} {to} {amount}"),
            Event::Push {
                inv,
                resp,
                value,
                len,
            } => format!("LP {inv} {resp} {value} {len}"),
            Event::Pop { inv, resp, value } => format!("RP {inv} {resp} {}", opt(value)),
            Event::ListRead { inv, resp, values } => {
                format!("LR {inv} {resp} -{}", values.join(","))
            }
            Event::SetCmd {
                cmd,
                member,
                inv,
                resp,
                result,
            } => format!("S {inv} {resp} {} -{member} {result}", cmd.name()),
            Event::MapCmd {
                map,
                cmd,
                field,
                value,
                inv,
                resp,
                count,
                got,
            } => format!(
                "M {map} {inv} {resp} {} -{field} {} {count} {}",
                cmd.name(),
                opt(value),
                opt(got)
            ),
            Event::Expect { what, value } => {
                format!("E {} {}", what.replace(' ', "/"), opt(value))
            }
        }
    }

    /// The inverse of [`Event::to_line`].
    pub fn parse(line: &str) -> Option<Event> {
        let t: Vec<&str> = line.split(' ').collect();
        let n = |i: usize| t.get(i).and_then(|s| s.parse::<u64>().ok());
        Some(match *t.first()? {
            "W" | "R" => {
                let (reg, inv, resp, value) = (t.get(1)?.to_string(), n(2)?, n(3)?, t.get(4)?);
                if t[0] == "W" {
                    Event::Write {
                        reg,
                        inv,
                        resp,
                        value: unopt(value),
                    }
                } else {
                    Event::Read {
                        reg,
                        inv,
                        resp,
                        value: unopt(value),
                    }
                }
            }
            "G" => Event::GroupRead {
                reg: t.get(1)?.to_string(),
                inv: n(2)?,
                resp: n(3)?,
                values: t.get(4)?.split(',').map(unopt).collect(),
            },
            "I" => Event::Incr {
                key: t.get(1)?.to_string(),
                inv: n(2)?,
                resp: n(3)?,
                result: t.get(4)?.parse().ok()?,
            },
            "CR" => Event::CounterRead {
                key: t.get(1)?.to_string(),
                inv: n(2)?,
                resp: n(3)?,
                value: t.get(4)?.parse().ok()?,
            },
            "A" => Event::Accounts {
                inv: n(1)?,
                resp: n(2)?,
                balances: t
                    .get(3)?
                    .split(',')
                    .map(|b| b.parse().ok())
                    .collect::<Option<_>>()?,
            },
            "T" => Event::Transfer {
                inv: n(1)?,
                resp: n(2)?,
                from: t.get(3)?.parse().ok()?,
                to: t.get(4)?.parse().ok()?,
                amount: t.get(5)?.parse().ok()?,
            },
            "LP" => Event::Push {
                inv: n(1)?,
                resp: n(2)?,
                value: t.get(3)?.to_string(),
                len: n(4)?,
            },
            "RP" => Event::Pop {
                inv: n(1)?,
                resp: n(2)?,
                value: unopt(t.get(3)?),
            },
            "LR" => {
                let all = t.get(3)?.strip_prefix('-')?;
                Event::ListRead {
                    inv: n(1)?,
                    resp: n(2)?,
                    values: if all.is_empty() {
                        Vec::new()
                    } else {
                        all.split(',').map(str::to_owned).collect()
                    },
                }
            }
            "S" => Event::SetCmd {
                inv: n(1)?,
                resp: n(2)?,
                cmd: SetCmd::parse(t.get(3)?)?,
                member: t.get(4)?.strip_prefix('-')?.to_owned(),
                result: n(5)?,
            },
            "M" => Event::MapCmd {
                map: t.get(1)?.to_string(),
                inv: n(2)?,
                resp: n(3)?,
                cmd: MapCmd::parse(t.get(4)?)?,
                field: t.get(5)?.strip_prefix('-')?.to_owned(),
                value: unopt(t.get(6)?),
                count: n(7)?,
                got: unopt(t.get(8)?),
            },
            "E" => Event::Expect {
                what: t.get(1)?.replacen('/', " ", 1),
                value: unopt(t.get(2)?),
            },
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The history checker

/// What [`check_history`] found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// One line per violation; empty when the history is consistent.
    pub problems: Vec<String>,
    /// Operations checked for linearizability.
    pub checked: u64,
    /// Objects (keys, groups of keys, the accounts) whose histories were checked.
    pub objects: usize,
    /// Operations of the largest object history.
    pub largest: usize,
    /// Model steps the searches took, over every object.
    pub steps: u64,
    /// Configurations the searches visited, over every object.
    pub configurations: usize,
    /// Time spent checking.
    pub elapsed: Duration,
    /// Final value of each counter implied by the history (number of INCRs).
    pub counters: BTreeMap<String, i64>,
    /// Final balances implied by the transfers.
    pub balances: Vec<i64>,
    /// Values pushed and not popped, sorted.
    pub list_left: Vec<String>,
}

/// The step bound of one object's linearizability search: far above what the default run
/// and soak runs need (a few steps per operation), low enough to fail in seconds, with a
/// clear message, rather than search for minutes.
const MAX_STEPS: u64 = 4_000_000;

/// The histories of every object, one per key or group of keys.
#[derive(Default)]
struct Objects {
    registers: BTreeMap<String, Vec<lin::Op<lin::RegIn, lin::RegOut>>>,
    counters: BTreeMap<String, Vec<lin::Op<lin::CounterIn, i64>>>,
    queue: Vec<lin::Op<lin::QueueIn, lin::QueueOut>>,
    set: Vec<lin::Op<lin::SetIn, u64>>,
    maps: BTreeMap<String, Vec<lin::Op<lin::MapIn, lin::MapOut>>>,
    bank: Vec<lin::Op<lin::BankIn, lin::BankOut>>,
}

fn run_check<M: lin::Model>(
    v: &mut Verdict,
    name: &str,
    model: &M,
    history: &[lin::Op<M::Input, M::Output>],
) {
    if history.is_empty() {
        return;
    }
    v.objects += 1;
    v.checked += history.len() as u64;
    v.largest = v.largest.max(history.len());
    match lin::check(model, history, MAX_STEPS) {
        Ok(stats) => {
            v.steps += stats.steps;
            v.configurations += stats.configurations;
        }
        Err(e) => v.problems.push(format!("{name}: {e}")),
    }
}

/// Checks a merged history of every process.
///
/// Every object's history must be linearizable (see [`lin::check`]): each register (a plain
/// key under SET, DEL and GET, or a group of keys written in one transaction and read with
/// one MGET), each counter, the list (LPUSH, RPOP and a final read of every element), the set
/// (SADD, SREM, SISMEMBER, SCARD), the hash and the sorted set, and the accounts (transfers, and MGETs of every account).
/// Besides, checked directly for clearer messages: a group read sees one version for all
/// keys, every account read sums to `accounts × initial`, no value is pushed or popped twice.
pub fn check_history(events: &[Event], accounts: usize, initial: i64) -> Verdict {
    use lin::Op;
    let started = Instant::now();
    let mut v = Verdict {
        balances: vec![initial; accounts],
        ..Verdict::default()
    };
    let mut o = Objects::default();
    let mut pushed: HashSet<&str> = HashSet::new();
    let mut popped: HashSet<&str> = HashSet::new();
    let mut pushes = Vec::new();
    for e in events {
        match e {
            Event::Write {
                reg,
                inv,
                resp,
                value,
            } => o.registers.entry(reg.clone()).or_default().push(Op::done(
                *inv,
                *resp,
                lin::RegIn::Write(value.clone()),
                lin::RegOut::Written,
            )),
            Event::Read {
                reg,
                inv,
                resp,
                value,
            } => o.registers.entry(reg.clone()).or_default().push(Op::done(
                *inv,
                *resp,
                lin::RegIn::Read,
                lin::RegOut::Value(value.clone()),
            )),
            Event::GroupRead {
                reg,
                inv,
                resp,
                values,
            } => {
                if values.iter().any(|x| x != &values[0]) {
                    v.problems
                        .push(format!("torn MGET of {reg} at {inv}: saw {values:?}"));
                }
                o.registers.entry(reg.clone()).or_default().push(Op::done(
                    *inv,
                    *resp,
                    lin::RegIn::Read,
                    lin::RegOut::Value(values[0].clone()),
                ));
            }
            Event::Incr {
                key,
                inv,
                resp,
                result,
            } => {
                *v.counters.entry(key.clone()).or_default() += 1;
                o.counters.entry(key.clone()).or_default().push(Op::done(
                    *inv,
                    *resp,
                    lin::CounterIn::Incr(1),
                    *result,
                ));
            }
            Event::CounterRead {
                key,
                inv,
                resp,
                value,
            } => o.counters.entry(key.clone()).or_default().push(Op::done(
                *inv,
                *resp,
                lin::CounterIn::Get,
                *value,
            )),
            Event::Accounts {
                inv,
                resp,
                balances,
            } => {
                let sum: i64 = balances.iter().sum();
                if balances.len() != accounts || sum != accounts as i64 * initial {
                    v.problems.push(format!(
                        "accounts read at {inv} sum to {sum}, not {}: {balances:?}",
                        accounts as i64 * initial
                    ));
                }
                o.bank.push(Op::done(
                    *inv,
                    *resp,
                    lin::BankIn::ReadAll,
                    lin::BankOut::Balances(balances.clone()),
                ));
            }
            Event::Transfer {
                inv,
                resp,
                from,
                to,
                amount,
            } => {
                v.balances[*from] -= amount;
                v.balances[*to] += amount;
                o.bank.push(Op::done(
                    *inv,
                    *resp,
                    lin::BankIn::Transfer {
                        from: *from,
                        to: *to,
                        amount: *amount,
                    },
                    lin::BankOut::Done,
                ));
            }
            Event::Push {
                inv,
                resp,
                value,
                len,
            } => {
                if !pushed.insert(value) {
                    v.problems.push(format!("{value} pushed twice"));
                }
                pushes.push(value.as_str());
                o.queue.push(Op::done(
                    *inv,
                    *resp,
                    lin::QueueIn::Push(value.clone()),
                    lin::QueueOut::Len(*len),
                ));
            }
            Event::Pop { inv, resp, value } => {
                if let Some(value) = value {
                    if !popped.insert(value) {
                        v.problems.push(format!("{value} popped twice"));
                    }
                }
                o.queue.push(Op::done(
                    *inv,
                    *resp,
                    lin::QueueIn::Pop,
                    lin::QueueOut::Popped(value.clone()),
                ));
            }
            Event::ListRead { inv, resp, values } => o.queue.push(Op::done(
                *inv,
                *resp,
                lin::QueueIn::ReadAll,
                lin::QueueOut::All(values.clone()),
            )),
            Event::SetCmd {
                cmd,
                member,
                inv,
                resp,
                result,
            } => {
                let m = member.clone();
                let input = match cmd {
                    SetCmd::Add => lin::SetIn::Add(m),
                    SetCmd::Remove => lin::SetIn::Remove(m),
                    SetCmd::Contains => lin::SetIn::Contains(m),
                    SetCmd::Card => lin::SetIn::Card,
                };
                o.set.push(Op::done(*inv, *resp, input, *result));
            }
            Event::MapCmd {
                map,
                cmd,
                field,
                value,
                inv,
                resp,
                count,
                got,
            } => {
                let f = field.clone();
                let (input, output) = match cmd {
                    MapCmd::Put => (
                        lin::MapIn::Put(f, value.clone().unwrap_or_default()),
                        lin::MapOut::Count(*count),
                    ),
                    MapCmd::Delete => (lin::MapIn::Delete(f), lin::MapOut::Count(*count)),
                    MapCmd::Get => (lin::MapIn::Get(f), lin::MapOut::Value(got.clone())),
                    MapCmd::Len => (lin::MapIn::Len, lin::MapOut::Count(*count)),
                };
                o.maps
                    .entry(map.clone())
                    .or_default()
                    .push(Op::done(*inv, *resp, input, output));
            }
            Event::Expect { .. } => {}
        }
    }
    for p in &popped {
        if !pushed.contains(p) {
            v.problems.push(format!("{p} popped but never pushed"));
        }
    }
    v.list_left = pushes
        .iter()
        .filter(|p| !popped.contains(*p))
        .map(|p| (*p).to_owned())
        .collect();
    v.list_left.sort();

    for (name, h) in &o.registers {
        run_check(&mut v, name, &lin::Register, h);
    }
    for (name, h) in &o.counters {
        run_check(&mut v, name, &lin::Counter, h);
    }
    run_check(&mut v, "list", &lin::Queue, &o.queue);
    run_check(&mut v, "set", &lin::Set, &o.set);
    for (name, h) in &o.maps {
        run_check(&mut v, name, &lin::Map, h);
    }
    let bank = lin::Bank {
        initial: vec![initial; accounts],
    };
    run_check(&mut v, "accounts", &bank, &o.bank);
    v.elapsed = started.elapsed();
    v
}

// ---------------------------------------------------------------------------------------------
// The workload

const REGISTERS: u64 = 8;
const COUNTERS: u64 = 4;
const ACCOUNTS: usize = 4;
const INITIAL: i64 = 1000;
const GROUPS: u64 = 2;
const GROUP_KEYS: u64 = 4;
const PAD: usize = 300;
const SET_MEMBERS: u64 = 6;
const MAP_FIELDS: u64 = 6;
const HASH: &[u8] = b"h/fields";
const ZSET: &[u8] = b"z/scores";

/// Runs a hash (`map` = `h`) or sorted-set (`z`) command; returns its count and value.
fn map_command(
    db: &Db,
    map: &str,
    cmd: MapCmd,
    field: &str,
    value: Option<&str>,
) -> ziggydb::Result<(u64, Option<String>)> {
    let f = field.as_bytes();
    let v = value.unwrap_or_default();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    Ok(match (map == "z", cmd) {
        (false, MapCmd::Put) => (db.transaction(|tx| tx.hash(HASH).set(&[(f, v)]))?, None),
        (false, MapCmd::Delete) => (db.transaction(|tx| tx.hash(HASH).delete(&[f]))?, None),
        (false, MapCmd::Get) => (0, db.hash(HASH).get(f)?.map(text)),
        (false, MapCmd::Len) => (db.hash(HASH).len()?, None),
        (true, MapCmd::Put) => {
            let score: f64 = v.parse().expect("a score");
            let added =
                db.transaction(|tx| tx.zset(ZSET).add(ZAddFlags::default(), &[(score, f)]))?;
            (added, None)
        }
        (true, MapCmd::Delete) => (db.transaction(|tx| tx.zset(ZSET).remove(&[f]))?, None),
        // Scores are integers, which `Display` prints without a fraction, as written.
        (true, MapCmd::Get) => (0, db.zset(ZSET).score(f)?.map(|s| s.to_string())),
        (true, MapCmd::Len) => (db.zset(ZSET).len()?, None),
    })
}

fn set_member(m: u64) -> String {
    format!("m{m}")
}

fn stress_options() -> OpenOptions {
    Db::options()
        .segment_size(64 << 10)
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(5),
        })
        .auto_compact(true, 0.3, 128 << 10)
        .active_expiry(Some(Duration::from_millis(20)))
        .lock_timeout(Some(Duration::from_secs(60)))
}

fn account(i: usize) -> Vec<u8> {
    format!("acct/{i}").into_bytes()
}

fn group_key(g: u64, i: u64) -> Vec<u8> {
    format!("g/{g}/{i}").into_bytes()
}

/// A register value: a unique id, padded so that overwrites leave dead bytes to compact.
fn padded(id: &str) -> String {
    format!("{id}~{}", "x".repeat(PAD))
}

fn unpadded(v: Option<Value>) -> Option<String> {
    match v {
        None => None,
        Some(Value::String(s)) => Some(s.split('~').next().unwrap_or("").to_owned()),
        Some(other) => Some(format!("unexpected:{other:?}").replace(' ', "_")),
    }
}

fn int_of(v: &Option<Value>) -> Option<i64> {
    match v {
        None => None,
        Some(Value::Int(i)) => Some(*i),
        Some(other) => panic!("expected an integer, found {other:?}"),
    }
}

/// Operation counts of one thread, by kind.
#[derive(Default)]
struct Tally {
    ops: u64,
    compactions: u64,
    expiry_checks: u64,
}

/// One thread of a stress process: a seeded random mix until `until`.
fn stress_thread(db: &Db, id: &str, seed: u64, until: Instant) -> (Vec<Event>, Tally) {
    let mut rng = Rng::new(seed);
    let mut ev = Vec::new();
    let mut tally = Tally::default();
    let mut n = 0u64;
    let mut fills = 0u64;
    let exp_key = format!("e/{id}").into_bytes();
    let mut exp: Option<(String, u64)> = None;
    let fail = |what: &str| -> ! { panic!("{id}: {what}") };
    while Instant::now() < until {
        n += 1;
        tally.ops += 1;
        let uid = format!("{id}.{n}");
        let roll = rng.range(0, 100);
        match roll {
            0..=14 | 30..=33 => {
                let r = rng.range(0, REGISTERS);
                let reg = format!("r/{r}");
                let value = (roll < 30).then(|| uid.clone());
                let inv = mono_ns();
                match &value {
                    Some(v) => db.set(reg.as_bytes(), padded(v)).expect("SET"),
                    None => {
                        db.delete(reg.as_bytes()).expect("DEL");
                    }
                }
                let resp = mono_ns();
                ev.push(Event::Write {
                    reg,
                    inv,
                    resp,
                    value,
                });
            }
            15..=29 => {
                let reg = format!("r/{}", rng.range(0, REGISTERS));
                let inv = mono_ns();
                let got = db.get_value(reg.as_bytes()).expect("GET");
                let resp = mono_ns();
                ev.push(Event::Read {
                    reg,
                    inv,
                    resp,
                    value: unpadded(got),
                });
            }
            34..=41 => {
                let key = format!("c/{}", rng.range(0, COUNTERS));
                let inv = mono_ns();
                let result = db.incr_by(key.as_bytes(), 1).expect("INCR");
                let resp = mono_ns();
                ev.push(Event::Incr {
                    key,
                    inv,
                    resp,
                    result,
                });
            }
            42..=49 => {
                let from = rng.range(0, ACCOUNTS as u64) as usize;
                let to = (from + 1 + rng.range(0, ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
                let amount = rng.range(1, 50) as i64;
                let inv = mono_ns();
                db.transaction(|tx| {
                    let a = tx.get(&account(from))?.map_or(Ok(0), |v| v.as_int())?;
                    let b = tx.get(&account(to))?.map_or(Ok(0), |v| v.as_int())?;
                    tx.set(&account(from), a - amount)?;
                    tx.set(b"pad/transfer", padded(&uid))?;
                    tx.set(&account(to), b + amount)
                })
                .expect("transfer");
                let resp = mono_ns();
                ev.push(Event::Transfer {
                    inv,
                    resp,
                    from,
                    to,
                    amount,
                });
            }
            50..=55 => {
                let keys: Vec<Vec<u8>> = (0..ACCOUNTS).map(account).collect();
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                let inv = mono_ns();
                let got = db.mget(&refs).expect("MGET accounts");
                let resp = mono_ns();
                let balances = got.iter().map(|v| int_of(v).unwrap_or(0)).collect();
                ev.push(Event::Accounts {
                    inv,
                    resp,
                    balances,
                });
            }
            56..=61 => {
                let g = rng.range(0, GROUPS);
                let inv = mono_ns();
                let version = db
                    .transaction(|tx| {
                        let version = tx.incr_by(format!("gv/{g}").as_bytes(), 1)?;
                        for i in 0..GROUP_KEYS {
                            tx.set(&group_key(g, i), version)?;
                            if i == 1 {
                                tx.set(b"pad/group", padded(&uid))?;
                            }
                        }
                        Ok(version)
                    })
                    .expect("group write");
                let resp = mono_ns();
                ev.push(Event::Write {
                    reg: format!("grp/{g}"),
                    inv,
                    resp,
                    value: Some(version.to_string()),
                });
            }
            62..=69 => {
                let g = rng.range(0, GROUPS);
                let keys: Vec<Vec<u8>> = (0..GROUP_KEYS).map(|i| group_key(g, i)).collect();
                let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                let inv = mono_ns();
                let got = db.mget(&refs).expect("MGET group");
                let resp = mono_ns();
                ev.push(Event::GroupRead {
                    reg: format!("grp/{g}"),
                    inv,
                    resp,
                    values: got
                        .iter()
                        .map(|v| int_of(v).map(|i| i.to_string()))
                        .collect(),
                });
            }
            70..=73 => {
                let inv = mono_ns();
                let len = db
                    .transaction(|tx| tx.list(b"l/queue").push_front(&[uid.as_bytes()]))
                    .expect("LPUSH");
                let resp = mono_ns();
                ev.push(Event::Push {
                    inv,
                    resp,
                    value: uid.clone(),
                    len,
                });
            }
            74..=77 => {
                let inv = mono_ns();
                let got = db
                    .transaction(|tx| tx.list(b"l/queue").pop_back(1))
                    .expect("RPOP");
                let resp = mono_ns();
                let value = got.first().map(|v| String::from_utf8_lossy(v).into_owned());
                ev.push(Event::Pop { inv, resp, value });
            }
            78..=80 => {
                // Members shared by every thread, so that results and reads interleave.
                let member = set_member(rng.range(0, SET_MEMBERS));
                let cmd = [SetCmd::Add, SetCmd::Remove, SetCmd::Contains, SetCmd::Card]
                    [rng.range(0, 4) as usize];
                let inv = mono_ns();
                let result = match cmd {
                    SetCmd::Add => {
                        db.transaction(|tx| tx.set_of(b"s/members").add(&[member.as_bytes()]))
                    }
                    SetCmd::Remove => {
                        db.transaction(|tx| tx.set_of(b"s/members").remove(&[member.as_bytes()]))
                    }
                    SetCmd::Contains => db
                        .set_of(b"s/members")
                        .contains(member.as_bytes())
                        .map(u64::from),
                    SetCmd::Card => db.set_of(b"s/members").len(),
                }
                .expect("set command");
                let resp = mono_ns();
                ev.push(Event::SetCmd {
                    cmd,
                    member: if cmd == SetCmd::Card {
                        String::new()
                    } else {
                        member
                    },
                    inv,
                    resp,
                    result,
                });
            }
            81..=86 => {
                // Fields shared by every thread, as for the set.
                let map = if roll <= 83 { "z" } else { "h" };
                let field = format!("{map}{}", rng.range(0, MAP_FIELDS));
                let cmd = [MapCmd::Put, MapCmd::Delete, MapCmd::Get, MapCmd::Len]
                    [rng.range(0, 4) as usize];
                let value = (cmd == MapCmd::Put).then(|| {
                    if map == "z" {
                        n.to_string()
                    } else {
                        uid.clone()
                    }
                });
                let inv = mono_ns();
                let (count, got) =
                    map_command(db, map, cmd, &field, value.as_deref()).expect("map command");
                let resp = mono_ns();
                ev.push(Event::MapCmd {
                    map: map.to_owned(),
                    cmd,
                    field: if cmd == MapCmd::Len {
                        String::new()
                    } else {
                        field
                    },
                    value,
                    inv,
                    resp,
                    count,
                    got,
                });
            }
            87..=90 => {
                let expires_at = util::now_ms() + rng.range(20, 80);
                db.transaction(|tx| tx.set_with_expiry(&exp_key, uid.as_str(), Some(expires_at)))
                    .expect("SET with expiry");
                exp = Some((uid.clone(), expires_at));
            }
            91..=94 => {
                let before = util::now_ms();
                let got = db.get_value(&exp_key).expect("GET of an expiring key");
                let after = util::now_ms();
                tally.expiry_checks += 1;
                match (&exp, got) {
                    (None, None) => {}
                    (None, Some(v)) => fail(&format!("expiring key holds {v:?} before any SET")),
                    (Some((want, at)), Some(v)) => {
                        if v != Value::String(want.clone()) {
                            fail(&format!("expiring key holds {v:?}, not {want}"));
                        }
                        if before >= *at {
                            fail(&format!("key expiring at {at} read at {before} as {v:?}"));
                        }
                    }
                    (Some((want, at)), None) => {
                        if after < *at {
                            fail(&format!("{want} expiring at {at} gone at {after}"));
                        }
                    }
                }
            }
            95..=98 => {
                // New keys, so that the index grows during the run.
                let first = fills;
                fills += 16;
                db.transaction(|tx| {
                    for f in first..fills {
                        tx.set(format!("f/{id}/{f}").as_bytes(), f as i64)?;
                    }
                    Ok(())
                })
                .expect("fill");
            }
            _ => {
                if rng.range(0, 16) == 0 {
                    db.compact().expect("COMPACT");
                    tally.compactions += 1;
                }
            }
        }
    }
    ev.push(Event::Expect {
        what: format!("f {id}"),
        value: Some(fills.to_string()),
    });
    (ev, tally)
}

#[test]
fn child_stress() {
    let Some(dir) = child_role("stress") else {
        return;
    };
    let proc_id: u64 = child_param("ZIGGY_STRESS_PROC");
    let threads: u64 = child_param("ZIGGY_STRESS_THREADS");
    let seed: u64 = child_param("ZIGGY_STRESS_SEED");
    let millis: u64 = child_param("ZIGGY_STRESS_MS");
    let out = PathBuf::from(std::env::var_os("ZIGGY_STRESS_OUT").expect("output file"));
    // One process commits with an fsync per commit, the others in batched mode, so that
    // both kinds of commit (and the shared group fsync) interleave.
    let mut opts = stress_options();
    if proc_id == 1 {
        opts = opts.durability(Durability::Immediate);
    }
    let db = opts.open(&dir).expect("open");
    report("READY");
    assert_eq!(util::read_command().as_deref(), Some("go"));
    let until = Instant::now() + Duration::from_millis(millis);
    let results: Vec<(Vec<Event>, Tally)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let db = db.clone();
                let id = format!("p{proc_id}t{t}");
                let seed = seed ^ (proc_id << 32) ^ (t << 48) ^ 0x5eed;
                s.spawn(move || stress_thread(&db, &id, seed, until))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a stress thread panicked"))
            .collect()
    });
    let mut text = String::new();
    let (mut ops, mut compactions, mut expiry) = (0, 0, 0);
    for (events, tally) in &results {
        for e in events {
            writeln!(text, "{}", e.to_line()).expect("format");
        }
        ops += tally.ops;
        compactions += tally.compactions;
        expiry += tally.expiry_checks;
    }
    std::fs::write(&out, text).expect("write the history");
    db.sync().expect("sync");
    report(format!("OPS {ops} {compactions} {expiry}"));
    report("PASS");
}

#[test]
fn processes_and_threads_mixing_every_command_keep_the_cross_process_guarantees() -> TestResult {
    // `ZIGGY_STRESS_PROCS` and `ZIGGY_STRESS_THREADS` widen a long run.
    let knob = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let procs = knob("ZIGGY_STRESS_PROCS", 3);
    let threads = knob("ZIGGY_STRESS_THREADS", 2);
    let millis = 5_000 * util::soak();
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut rng = Rng::from_env("stress");
    let seed = rng.next_u64();
    let db = stress_options().open(&dir)?;
    db.transaction(|tx| {
        for i in 0..ACCOUNTS {
            tx.set(&account(i), INITIAL)?;
        }
        Ok(())
    })?;
    let capacity_before = db.metrics().index_capacity;
    let compactions_before = db.metrics().compactions;
    let mut children: Vec<(Child, PathBuf)> = (0..procs)
        .map(|p| {
            let out = tmp.path().join(format!("history-{p}.txt"));
            let env = [
                ("ZIGGY_STRESS_PROC", p.to_string()),
                ("ZIGGY_STRESS_THREADS", threads.to_string()),
                ("ZIGGY_STRESS_SEED", seed.to_string()),
                ("ZIGGY_STRESS_MS", millis.to_string()),
                ("ZIGGY_STRESS_OUT", out.to_string_lossy().into_owned()),
            ];
            (
                Child::spawn("stress::child_stress", "stress", &dir, &env),
                out,
            )
        })
        .collect();
    for (c, _) in &mut children {
        c.expect("READY", LONG);
    }
    for (c, _) in &mut children {
        c.send("go");
    }
    let mut events = Vec::new();
    let (mut ops, mut explicit, mut expiry) = (0u64, 0u64, 0u64);
    for (c, out) in &mut children {
        let figures = c.expect("OPS", LONG);
        c.wait_success(LONG);
        let f: Vec<u64> = figures
            .split(' ')
            .map(|x| x.parse())
            .collect::<Result<_, _>>()?;
        ops += f[0];
        explicit += f[1];
        expiry += f[2];
        for line in std::fs::read_to_string(&*out)?.lines() {
            events.push(Event::parse(line).ok_or_else(|| format!("bad history line {line:?}"))?);
        }
    }

    // Final reads, after every operation of the run, join the history.
    let inv = mono_ns();
    for c in 0..COUNTERS {
        let key = format!("c/{c}");
        let value = int_of(&db.get_value(key.as_bytes())?).unwrap_or(0);
        events.push(Event::CounterRead {
            key,
            inv,
            resp: mono_ns(),
            value,
        });
    }
    let values = db
        .list(b"l/queue")
        .range(0, -1)?
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect();
    events.push(Event::ListRead {
        inv,
        resp: mono_ns(),
        values,
    });
    for m in 0..SET_MEMBERS {
        let member = set_member(m);
        let result = u64::from(db.set_of(b"s/members").contains(member.as_bytes())?);
        events.push(Event::SetCmd {
            cmd: SetCmd::Contains,
            member,
            inv,
            resp: mono_ns(),
            result,
        });
    }
    events.push(Event::SetCmd {
        cmd: SetCmd::Card,
        member: String::new(),
        inv,
        resp: mono_ns(),
        result: db.set_of(b"s/members").len()?,
    });
    for map in ["h", "z"] {
        for f in 0..MAP_FIELDS {
            let field = format!("{map}{f}");
            let (count, got) = map_command(&db, map, MapCmd::Get, &field, None)?;
            events.push(Event::MapCmd {
                map: map.to_owned(),
                cmd: MapCmd::Get,
                field,
                value: None,
                inv,
                resp: mono_ns(),
                count,
                got,
            });
        }
        let (count, got) = map_command(&db, map, MapCmd::Len, "", None)?;
        events.push(Event::MapCmd {
            map: map.to_owned(),
            cmd: MapCmd::Len,
            field: String::new(),
            value: None,
            inv,
            resp: mono_ns(),
            count,
            got,
        });
    }
    let keys: Vec<Vec<u8>> = (0..ACCOUNTS).map(account).collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let balances = db
        .mget(&refs)?
        .iter()
        .map(|v| int_of(v).unwrap_or(0))
        .collect();
    events.push(Event::Accounts {
        inv,
        resp: mono_ns(),
        balances,
    });
    for r in 0..REGISTERS {
        let reg = format!("r/{r}");
        let value = unpadded(db.get_value(reg.as_bytes())?);
        events.push(Event::Read {
            reg,
            inv,
            resp: mono_ns(),
            value,
        });
    }
    for g in 0..GROUPS {
        let keys: Vec<Vec<u8>> = (0..GROUP_KEYS).map(|i| group_key(g, i)).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let values = db
            .mget(&refs)?
            .iter()
            .map(|v| int_of(v).map(|i| i.to_string()))
            .collect();
        events.push(Event::GroupRead {
            reg: format!("grp/{g}"),
            inv,
            resp: mono_ns(),
            values,
        });
    }
    let verdict = check_history(&events, ACCOUNTS, INITIAL);
    assert!(
        verdict.problems.is_empty(),
        "{} violations in {} checked operations, first ones:\n{}",
        verdict.problems.len(),
        verdict.checked,
        verdict.problems[..verdict.problems.len().min(20)].join("\n")
    );
    checker_rejects_mutants_of(&events);

    // The final state the history implies.
    for (key, n) in &verdict.counters {
        assert_eq!(
            db.get_value(key.as_bytes())?,
            Some(Value::Int(*n)),
            "{key} after {n} INCRs"
        );
    }
    for (i, want) in verdict.balances.iter().enumerate() {
        assert_eq!(
            db.get_value(&account(i))?,
            Some(Value::Int(*want)),
            "account {i} after every transfer"
        );
    }
    let mut left: Vec<String> = db
        .list(b"l/queue")
        .range(0, -1)?
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect();
    left.sort();
    assert_eq!(left, verdict.list_left, "list = pushed values not popped");
    let mut expectations = 0;
    for e in &events {
        let Event::Expect { what, value } = e else {
            continue;
        };
        expectations += 1;
        let (kind, name) = what.split_once(' ').ok_or("expectation without a name")?;
        let got = match kind {
            "f" => {
                let n: u64 = value.as_deref().unwrap_or("0").parse()?;
                for f in 0..n {
                    assert_eq!(
                        db.get_value(format!("f/{name}/{f}").as_bytes())?,
                        Some(Value::Int(f as i64)),
                        "filler key f/{name}/{f}"
                    );
                }
                Some(n.to_string())
            }
            _ => return Err(format!("unknown expectation {what}").into()),
        };
        assert_eq!(&got, value, "final state of {what}");
    }
    // Every key written with an expiry has expired by now (the longest TTL is 80 ms).
    std::thread::sleep(Duration::from_millis(100));
    for p in 0..procs {
        for t in 0..threads {
            assert_eq!(db.get_value(format!("e/p{p}t{t}").as_bytes())?, None);
        }
    }

    let m = db.metrics();
    let compactions = m.compactions - compactions_before;
    eprintln!(
        "stress: {procs} processes x {threads} threads, {millis} ms: {ops} operations; {} \
         operations of {} objects checked linearizable in {:.2?} ({} search steps, {} \
         configurations, largest object history {}); {expectations} final-state expectations, {expiry} expiry checks, \
         {compactions} compactions ({explicit} asked for), index capacity {capacity_before} \
         -> {}, {} keys",
        verdict.checked,
        verdict.objects,
        verdict.elapsed,
        verdict.steps,
        verdict.configurations,
        verdict.largest,
        m.index_capacity,
        m.keys
    );
    assert!(
        compactions >= 1,
        "no compaction ran during the run ({explicit} asked for)"
    );
    assert!(
        m.index_capacity > capacity_before,
        "the index did not grow during the run ({capacity_before} slots, {} keys)",
        m.keys
    );
    assert!(verdict.checked > 1000, "only {} checked", verdict.checked);
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The checker can fail

/// Two certain violations planted in a copy of a real run's history must be found: the
/// checker is not vacuous on histories of that size. The final reads are invoked after every
/// other operation responded, so a final counter read one above the number of INCRs, and a
/// final register read of the first value written to `r/0` when a later write of `r/0` was
/// invoked after that one responded (values are unique), are both impossible.
fn checker_rejects_mutants_of(events: &[Event]) {
    // Only the final reads read counters with GET.
    let mut mutant = events.to_vec();
    for e in &mut mutant {
        if let Event::CounterRead { key, value, .. } = e {
            if key == "c/0" {
                *value += 1;
            }
        }
    }
    let v = check_history(&mutant, ACCOUNTS, INITIAL);
    assert!(
        v.problems
            .iter()
            .any(|p| p.starts_with("c/0: not linearizable")),
        "a final read of c/0 one too high was not reported: {:?}",
        v.problems
    );

    let writes: Vec<(u64, u64, &String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Write {
                reg,
                inv,
                resp,
                value: Some(value),
            } if reg == "r/0" => Some((*inv, *resp, value)),
            _ => None,
        })
        .collect();
    let first = writes.iter().min_by_key(|w| w.0).expect("r/0 was written");
    assert!(
        writes.iter().any(|w| w.0 > first.1),
        "no write of r/0 after the first one"
    );
    let mut mutant = events.to_vec();
    let at = mutant
        .iter()
        .position(|e| match e {
            Event::Read { reg, inv, .. } => {
                reg == "r/0"
                    && events.iter().all(|o| match o {
                        Event::Write { resp, .. } => resp < inv,
                        _ => true,
                    })
            }
            _ => false,
        })
        .expect("a final read of r/0");
    if let Event::Read { value, .. } = &mut mutant[at] {
        *value = Some(first.2.clone());
    }
    let v = check_history(&mutant, ACCOUNTS, INITIAL);
    assert!(
        v.problems
            .iter()
            .any(|p| p.starts_with("r/0: not linearizable")),
        "a final read of r/0 returning its first value was not reported: {:?}",
        v.problems
    );
}

fn w(reg: &str, inv: u64, resp: u64, value: Option<&str>) -> Event {
    Event::Write {
        reg: reg.into(),
        inv,
        resp,
        value: value.map(Into::into),
    }
}

fn r(reg: &str, inv: u64, resp: u64, value: Option<&str>) -> Event {
    Event::Read {
        reg: reg.into(),
        inv,
        resp,
        value: value.map(Into::into),
    }
}

fn incr(inv: u64, resp: u64, result: i64) -> Event {
    Event::Incr {
        key: "c".into(),
        inv,
        resp,
        result,
    }
}

fn group_read(inv: u64, resp: u64, values: &[Option<&str>]) -> Event {
    Event::GroupRead {
        reg: "g".into(),
        inv,
        resp,
        values: values.iter().map(|v| v.map(Into::into)).collect(),
    }
}

fn push(inv: u64, resp: u64, value: &str, len: u64) -> Event {
    Event::Push {
        inv,
        resp,
        value: value.into(),
        len,
    }
}

fn pop(inv: u64, resp: u64, value: Option<&str>) -> Event {
    Event::Pop {
        inv,
        resp,
        value: value.map(Into::into),
    }
}

fn set_cmd(inv: u64, resp: u64, cmd: SetCmd, member: &str, result: u64) -> Event {
    Event::SetCmd {
        cmd,
        member: member.into(),
        inv,
        resp,
        result,
    }
}

fn transfer(inv: u64, resp: u64, from: usize, to: usize, amount: i64) -> Event {
    Event::Transfer {
        inv,
        resp,
        from,
        to,
        amount,
    }
}

fn accounts(inv: u64, resp: u64, balances: &[i64]) -> Event {
    Event::Accounts {
        inv,
        resp,
        balances: balances.to_vec(),
    }
}

fn map_cmd(
    inv: u64,
    resp: u64,
    cmd: MapCmd,
    field: &str,
    value: Option<&str>,
    count: u64,
    got: Option<&str>,
) -> Event {
    Event::MapCmd {
        map: "h".into(),
        cmd,
        field: field.into(),
        value: value.map(Into::into),
        inv,
        resp,
        count,
        got: got.map(Into::into),
    }
}

#[test]
fn history_checker_accepts_a_linearizable_history() {
    let h = vec![
        r("x", 1, 2, None),
        w("x", 3, 10, Some("a")),
        // Concurrent with the write: either value is fine.
        r("x", 4, 5, None),
        r("x", 5, 6, Some("a")),
        w("x", 11, 15, Some("b")),
        // Concurrent writes b and c; a read after both may see either.
        w("x", 13, 20, Some("c")),
        r("x", 21, 22, Some("b")),
        group_read(1, 2, &[None, None]),
        w("g", 3, 4, Some("1")),
        group_read(5, 6, &[Some("1"), Some("1")]),
        incr(1, 5, 2),
        incr(2, 3, 1),
        Event::CounterRead {
            key: "c".into(),
            inv: 6,
            resp: 7,
            value: 2,
        },
        accounts(1, 2, &[10, 10]),
        transfer(3, 4, 0, 1, 5),
        accounts(5, 6, &[5, 15]),
        push(1, 2, "v1", 1),
        push(3, 4, "v2", 2),
        pop(5, 6, Some("v1")),
        Event::ListRead {
            inv: 7,
            resp: 8,
            values: vec!["v2".into()],
        },
        set_cmd(1, 2, SetCmd::Add, "m0", 1),
        set_cmd(3, 9, SetCmd::Remove, "m0", 1),
        set_cmd(4, 5, SetCmd::Contains, "m0", 1),
        set_cmd(6, 7, SetCmd::Card, "", 0),
        map_cmd(1, 2, MapCmd::Put, "h0", Some("v"), 1, None),
        map_cmd(3, 4, MapCmd::Get, "h0", None, 0, Some("v")),
        map_cmd(5, 6, MapCmd::Delete, "h0", None, 1, None),
        map_cmd(7, 8, MapCmd::Len, "", None, 0, None),
        Event::Expect {
            what: "f p0t0".into(),
            value: Some("16".into()),
        },
    ];
    let v = check_history(&h, 2, 10);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.checked, 28);
    // x, g, c, the accounts, the list, the set and the hash.
    assert_eq!(v.objects, 7);
    assert_eq!(v.counters.get("c"), Some(&2));
    assert_eq!(v.balances, vec![5, 15]);
    assert_eq!(v.list_left, vec!["v2".to_owned()]);
    for e in &h {
        assert_eq!(
            Event::parse(&e.to_line()).as_ref(),
            Some(e),
            "{}",
            e.to_line()
        );
    }
    let empty = Event::ListRead {
        inv: 1,
        resp: 2,
        values: Vec::new(),
    };
    assert_eq!(Event::parse(&empty.to_line()), Some(empty));
}

#[test]
fn history_checker_reports_every_kind_of_violation() {
    let cases: Vec<(Vec<Event>, &str)> = vec![
        (
            vec![
                w("x", 1, 2, Some("a")),
                w("x", 3, 4, Some("b")),
                r("x", 5, 6, Some("a")),
            ],
            "x: not linearizable",
        ),
        (
            // Two readers see the concurrent writes a and b in opposite orders.
            vec![
                w("x", 0, 100, Some("a")),
                w("x", 0, 100, Some("b")),
                r("x", 10, 20, Some("a")),
                r("x", 30, 40, Some("b")),
                r("x", 10, 20, Some("b")),
                r("x", 30, 40, Some("a")),
            ],
            "x: not linearizable",
        ),
        (
            vec![r("x", 1, 2, Some("a")), w("x", 3, 4, Some("a"))],
            "x: not linearizable",
        ),
        (
            vec![
                w("g", 1, 2, Some("1")),
                w("g", 3, 4, Some("2")),
                group_read(5, 6, &[Some("2"), Some("1")]),
            ],
            "torn MGET",
        ),
        (
            vec![
                w("g", 1, 2, Some("1")),
                w("g", 3, 4, Some("2")),
                group_read(5, 6, &[Some("1"), Some("1")]),
            ],
            "g: not linearizable",
        ),
        (vec![accounts(1, 2, &[10, 5])], "sum to 15"),
        (
            // Sums right, but the transfer had completed.
            vec![transfer(1, 2, 0, 1, 5), accounts(3, 4, &[10, 10])],
            "accounts: not linearizable",
        ),
        (vec![incr(1, 2, 1), incr(3, 4, 1)], "c: not linearizable"),
        (vec![incr(1, 2, 2), incr(3, 4, 1)], "c: not linearizable"),
        (
            vec![
                push(1, 2, "v", 1),
                pop(3, 4, Some("v")),
                pop(5, 6, Some("v")),
            ],
            "popped twice",
        ),
        (vec![pop(1, 2, Some("v"))], "never pushed"),
        (
            vec![
                push(1, 2, "v1", 1),
                push(3, 4, "v2", 2),
                pop(5, 6, Some("v2")),
            ],
            "list: not linearizable",
        ),
        (
            vec![
                set_cmd(1, 2, SetCmd::Add, "m0", 1),
                set_cmd(3, 4, SetCmd::Contains, "m0", 0),
            ],
            "set: not linearizable",
        ),
        (
            vec![
                map_cmd(1, 2, MapCmd::Put, "h0", Some("v"), 1, None),
                map_cmd(3, 4, MapCmd::Delete, "h0", None, 1, None),
                map_cmd(5, 6, MapCmd::Get, "h0", None, 0, Some("v")),
            ],
            "h: not linearizable",
        ),
    ];
    for (history, want) in cases {
        let v = check_history(&history, 2, 10);
        assert!(
            v.problems.iter().any(|p| p.contains(want)),
            "expected a problem containing {want:?} in {history:?}, got {:?}",
            v.problems
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Stale readers

const STALE_KEYS: u64 = 48;
const HELD_LEN: usize = 8192;

fn stale_key(i: u64) -> Vec<u8> {
    format!("k/{i}").into_bytes()
}

fn stale_value(round: u64, i: u64) -> String {
    format!("{round}:{i}:{}", "v".repeat(1000))
}

fn held_value() -> Vec<u8> {
    (0..HELD_LEN).map(|i| (i * 7 % 251) as u8).collect()
}

fn round_of(v: &Option<Value>, i: u64) -> u64 {
    let Some(Value::String(s)) = v else {
        panic!("k/{i} holds {v:?}");
    };
    let round: u64 = s
        .split(':')
        .next()
        .and_then(|r| r.parse().ok())
        .expect("a round");
    assert_eq!(s, &stale_value(round, i), "k/{i} is intact");
    round
}

/// Holds a value of the oldest segment and reads every key in one MGET in a loop, checking
/// that one MGET sees one round and that rounds never go back; on `final N` it reads until
/// round N is visible and reports.
#[test]
fn child_stale_reader() {
    let Some(dir) = child_role("stale-reader") else {
        return;
    };
    let db = Db::options()
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
        .open(&dir)
        .expect("open");
    let held = db.get(b"held").expect("read held").expect("held exists");
    assert_eq!(held.as_bytes(), &held_value()[..]);
    let want = Arc::new(AtomicU64::new(u64::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (want, stop) = (Arc::clone(&want), Arc::clone(&stop));
        std::thread::spawn(move || {
            while let Some(cmd) = util::read_command() {
                if let Some(n) = cmd.strip_prefix("final ") {
                    want.store(n.parse().expect("a round"), Ordering::SeqCst);
                }
            }
            stop.store(true, Ordering::SeqCst);
        });
    }
    let keys: Vec<Vec<u8>> = (0..STALE_KEYS).map(stale_key).collect();
    let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut last = 0;
    let mut reads = 0u64;
    report("HOLDING");
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let got = db.mget(&refs).expect("mget");
        reads += 1;
        let round = round_of(&got[0], 0);
        for (i, v) in got.iter().enumerate() {
            assert_eq!(round_of(v, i as u64), round, "one MGET saw two rounds");
        }
        assert!(round >= last, "went back from round {last} to {round}");
        last = round;
        assert_eq!(held.as_bytes(), &held_value()[..], "the held value changed");
        if round == want.load(Ordering::SeqCst) {
            break;
        }
        assert!(
            !stop.load(Ordering::SeqCst),
            "stdin closed before the final round"
        );
        assert!(Instant::now() < deadline, "round {last} never moved on");
    }
    // A new read of the held key, now in a compacted segment, and of the rest.
    let again = db.get(b"held").expect("read held").expect("held exists");
    assert_eq!(again.as_bytes(), held.as_bytes());
    report(format!("READS {reads}"));
    report("PASS");
}

fn write_round(db: &Db, round: u64) -> TestResult {
    db.transaction(|tx| {
        for i in 0..STALE_KEYS {
            tx.set(&stale_key(i), stale_value(round, i))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Compacts in another thread; fails if it does not finish within `limit`.
fn compact_within(db: &Db, limit: Duration) -> TestResult<ziggydb::CompactStats> {
    let (tx, rx) = std::sync::mpsc::channel();
    let db2 = db.clone();
    std::thread::spawn(move || {
        let _ = tx.send(db2.compact());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => Ok(r?),
        Err(_) => Err(format!("compaction did not finish within {limit:?}").into()),
    }
}

/// A database of 64 KiB segments without automatic compaction or expiry, with a round
/// written, its segment files, and a reader process holding a value read from them.
fn stale_reader_setup(dir: &Path) -> TestResult<(Db, Vec<PathBuf>, Child)> {
    let db = Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
        .open(dir)?;
    db.set(b"held", held_value())?;
    write_round(&db, 0)?;
    let old_files = util::segment_files(dir);
    let mut reader = Child::spawn("stress::child_stale_reader", "stale-reader", dir, &[]);
    reader.expect("HOLDING", LONG);
    Ok((db, old_files, reader))
}

#[test]
fn a_stopped_reader_holding_old_files_blocks_no_compaction_and_reads_correctly_after() -> TestResult
{
    const ROUNDS: u64 = 5;
    const SHORT_STOPS: u64 = 8;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let (db, old_files, mut reader) = stale_reader_setup(&dir)?;
    std::thread::sleep(Duration::from_millis(50));
    reader.signal(libc::SIGSTOP);
    let mut removed = 0;
    for round in 1..=ROUNDS {
        for _ in 0..4 {
            write_round(&db, round)?;
        }
        let stats = compact_within(&db, Duration::from_secs(30))?;
        removed += stats.segments_removed;
    }
    let still: Vec<_> = old_files.iter().filter(|f| f.exists()).collect();
    assert!(
        still.is_empty(),
        "segment files of the stopped reader's time still exist: {still:?}"
    );
    assert!(removed > 0, "no segment file was removed");
    let live = util::segment_bytes(&dir);
    assert!(
        live < 4 * (64 << 10),
        "compaction did not reclaim space: {live} bytes of segments"
    );
    // Another process can attach while the reader is stopped.
    let mut other = Child::spawn("multiprocess::child_attach", "attach", &dir, &[]);
    other.expect("ATTACHED", LONG);
    other.close_stdin();
    other.wait_success(LONG);

    reader.signal(libc::SIGCONT);
    // Short stops at whatever point of its read loop the reader has reached, each across
    // writes and a compaction that deletes the files it was reading.
    let mut rng = Rng::from_env("stale reader");
    for round in ROUNDS + 1..=ROUNDS + SHORT_STOPS {
        std::thread::sleep(Duration::from_millis(rng.range(0, 20)));
        reader.signal(libc::SIGSTOP);
        for _ in 0..4 {
            write_round(&db, round)?;
        }
        removed += compact_within(&db, Duration::from_secs(30))?.segments_removed;
        reader.signal(libc::SIGCONT);
    }
    eprintln!(
        "stale reader: stopped across {ROUNDS} compactions, then {SHORT_STOPS} short stops; \
         {removed} segment files removed, {live} bytes of segments after the long stop"
    );
    reader.send(&format!("final {}", ROUNDS + SHORT_STOPS));
    let reads: u64 = reader.expect("READS", LONG).parse()?;
    reader.close_stdin();
    reader.wait_success(LONG);
    assert!(reads >= 2, "the reader read {reads} times");
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}

#[test]
fn a_reader_killed_while_holding_old_files_blocks_no_compaction_or_open() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let (db, old_files, mut reader) = stale_reader_setup(&dir)?;
    write_round(&db, 1)?;
    std::thread::sleep(Duration::from_millis(20));
    reader.kill();
    for round in 2..=4 {
        for _ in 0..4 {
            write_round(&db, round)?;
        }
        compact_within(&db, Duration::from_secs(30))?;
    }
    assert!(old_files.iter().all(|f| !f.exists()), "old segments remain");
    // The dead reader's process-table slot is reclaimed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.metrics().processes != 1 {
        assert!(
            Instant::now() < deadline,
            "the killed reader still counts as attached: {:?}",
            db.metrics().attached
        );
        let _ = db.get(b"held")?;
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut other = Child::spawn("multiprocess::child_attach", "attach", &dir, &[]);
    other.expect("ATTACHED", LONG);
    other.close_stdin();
    other.wait_success(LONG);
    // Every process detached but this one: it is now the last and can still compact.
    write_round(&db, 5)?;
    compact_within(&db, Duration::from_secs(30))?;
    drop(db);
    let db = Db::open(&dir)?;
    assert_eq!(db.get(b"held")?.as_deref(), Some(&held_value()[..]));
    assert_eq!(round_of(&db.get_value(&stale_key(3))?, 3), 5);
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}
