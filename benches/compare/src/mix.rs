//! The data-type mix, ZiggyDB against a local Redis. One round is nine commands: INCR,
//! LPUSH, RPOP, SADD, SISMEMBER, ZADD, ZRANGE 0 9, HSET, HGET, on five shared keys with
//! members drawn from 10,000. ZiggyDB runs each write as its own transaction in
//! `Durability::Batched` with a 1 s bound (Redis's `appendfsync everysec` loses at most about
//! a second too) and reads without the writer lock; Redis is driven through the `redis`
//! crate's synchronous client, one command per round trip or pipelined.

use std::time::{Duration, Instant};

use ziggydb::{Db, Durability, WriteTxn, ZAddFlags};

use crate::common::Rng;
use crate::engines::Res;
use crate::procs::{one_line, wait_for_go};

/// Commands per round.
pub const ROUND: u64 = 9;
/// Rounds per batch: per Redis pipeline, and per ZiggyDB transaction in the batched runs.
pub const PIPELINE_ROUNDS: u64 = 10;
const MEMBERS: u64 = 10_000;

/// The columns, in table order.
pub const COLUMNS: [&str; 2] = ["ZiggyDB (batched, 1 s)", "Redis (everysec)"];

/// The two ways of issuing commands, each a row per process count: (row label, ZiggyDB
/// worker task, Redis worker task). A batch is what each side offers for sending many
/// commands at once: a pipeline for Redis (one round trip), a transaction for ZiggyDB (one
/// commit).
pub const STYLES: [(&str, &str, &str); 2] = [
    ("one command per call", "mix-ziggy", "mix-redis"),
    (
        "10 rounds per batch (ZiggyDB transaction, Redis pipeline)",
        "mix-ziggy-batch",
        "mix-redis-pipelined",
    ),
];

/// One round's arguments.
struct Round {
    member: Vec<u8>,
    probe: Vec<u8>,
    score: f64,
    value: Vec<u8>,
}

fn round(rng: &mut Rng) -> Round {
    Round {
        member: format!("m{}", rng.below(MEMBERS)).into_bytes(),
        probe: format!("m{}", rng.below(MEMBERS)).into_bytes(),
        score: rng.below(1_000_000) as f64,
        value: format!("v{:016x}", rng.next_u64()).into_bytes(),
    }
}

/// The worker role for the mix: `target` is a ZiggyDB directory or a Redis `host:port`.
pub fn worker(_engine: &str, target: &str, task: &str, millis: u64, index: u64) -> Res<()> {
    let dur = Duration::from_millis(millis);
    let mut rng = Rng(5000 + index);
    let ops = match task {
        "mix-ziggy" | "mix-ziggy-batch" => {
            let db = match Db::options()
                .durability(Durability::Batched {
                    max_delay: Duration::from_secs(1),
                })
                .open(target)
            {
                Ok(db) => db,
                Err(why) => {
                    println!("error {}", one_line(&why.to_string()));
                    return Ok(());
                }
            };
            wait_for_go()?;
            let ops = if task == "mix-ziggy" {
                run_for(dur, || ziggy_round(&db, &round(&mut rng)))?
            } else {
                run_for(dur, || {
                    let rounds: Vec<Round> =
                        (0..PIPELINE_ROUNDS).map(|_| round(&mut rng)).collect();
                    db.transaction(|tx| {
                        for r in &rounds {
                            ziggy_tx_round(tx, r)?;
                        }
                        Ok(())
                    })?;
                    Ok(ROUND * PIPELINE_ROUNDS)
                })?
            };
            db.sync()?;
            ops
        }
        "mix-redis" | "mix-redis-pipelined" => {
            let client = redis::Client::open(format!("redis://{target}/"))?;
            let mut con = match client.get_connection() {
                Ok(c) => c,
                Err(why) => {
                    println!("error {}", one_line(&why.to_string()));
                    return Ok(());
                }
            };
            wait_for_go()?;
            if task == "mix-redis" {
                run_for(dur, || redis_round(&mut con, &round(&mut rng)))?
            } else {
                run_for(dur, || {
                    let mut pipe = redis::pipe();
                    for _ in 0..PIPELINE_ROUNDS {
                        add_round(&mut pipe, &round(&mut rng));
                    }
                    pipe.query::<()>(&mut con)?;
                    Ok(ROUND * PIPELINE_ROUNDS)
                })?
            }
        }
        other => return Err(format!("unknown mix task {other}").into()),
    };
    println!("done {ops}");
    Ok(())
}

fn run_for(dur: Duration, mut step: impl FnMut() -> Res<u64>) -> Res<u64> {
    let start = Instant::now();
    let mut ops = 0;
    while start.elapsed() < dur {
        ops += step()?;
    }
    Ok(ops)
}

fn ziggy_round(db: &Db, r: &Round) -> Res<u64> {
    db.incr_by(b"mix:counter", 1)?;
    db.transaction(|tx| tx.list(b"mix:list").push_front(&[&r.value]))?;
    db.transaction(|tx| tx.list(b"mix:list").pop_back(1))?;
    db.transaction(|tx| tx.set_of(b"mix:set").add(&[&r.member]))?;
    std::hint::black_box(db.set_of(b"mix:set").contains(&r.probe)?);
    db.transaction(|tx| {
        tx.zset(b"mix:zset")
            .add(ZAddFlags::default(), &[(r.score, &r.member)])
    })?;
    std::hint::black_box(db.zset(b"mix:zset").range(0, 9, false)?);
    db.transaction(|tx| tx.hash(b"mix:hash").set(&[(&r.member, &r.value)]))?;
    std::hint::black_box(db.hash(b"mix:hash").get(&r.probe)?);
    Ok(ROUND)
}

/// One round inside a transaction: the same nine commands, committed with the batch.
fn ziggy_tx_round(tx: &mut WriteTxn, r: &Round) -> ziggydb::Result<()> {
    tx.incr_by(b"mix:counter", 1)?;
    tx.list(b"mix:list").push_front(&[&r.value])?;
    tx.list(b"mix:list").pop_back(1)?;
    tx.set_of(b"mix:set").add(&[&r.member])?;
    std::hint::black_box(tx.set_of(b"mix:set").contains(&r.probe)?);
    tx.zset(b"mix:zset")
        .add(ZAddFlags::default(), &[(r.score, &r.member)])?;
    std::hint::black_box(tx.zset(b"mix:zset").range(0, 9, false)?);
    tx.hash(b"mix:hash").set(&[(&r.member, &r.value)])?;
    std::hint::black_box(tx.hash(b"mix:hash").get(&r.probe)?);
    Ok(())
}

fn add_round(p: &mut redis::Pipeline, r: &Round) {
    p.cmd("INCR").arg("mix:counter").ignore();
    p.cmd("LPUSH").arg("mix:list").arg(&r.value).ignore();
    p.cmd("RPOP").arg("mix:list").ignore();
    p.cmd("SADD").arg("mix:set").arg(&r.member).ignore();
    p.cmd("SISMEMBER").arg("mix:set").arg(&r.probe).ignore();
    p.cmd("ZADD")
        .arg("mix:zset")
        .arg(r.score)
        .arg(&r.member)
        .ignore();
    p.cmd("ZRANGE").arg("mix:zset").arg(0).arg(9).ignore();
    p.cmd("HSET")
        .arg("mix:hash")
        .arg(&r.member)
        .arg(&r.value)
        .ignore();
    p.cmd("HGET").arg("mix:hash").arg(&r.probe).ignore();
}

/// One round, one command per round trip.
fn redis_round(con: &mut redis::Connection, r: &Round) -> Res<u64> {
    let _: i64 = redis::cmd("INCR").arg("mix:counter").query(con)?;
    let _: i64 = redis::cmd("LPUSH")
        .arg("mix:list")
        .arg(&r.value)
        .query(con)?;
    let _: Option<Vec<u8>> = redis::cmd("RPOP").arg("mix:list").query(con)?;
    let _: i64 = redis::cmd("SADD")
        .arg("mix:set")
        .arg(&r.member)
        .query(con)?;
    let _: bool = redis::cmd("SISMEMBER")
        .arg("mix:set")
        .arg(&r.probe)
        .query(con)?;
    let _: i64 = redis::cmd("ZADD")
        .arg("mix:zset")
        .arg(r.score)
        .arg(&r.member)
        .query(con)?;
    let _: Vec<Vec<u8>> = redis::cmd("ZRANGE")
        .arg("mix:zset")
        .arg(0)
        .arg(9)
        .query(con)?;
    let _: i64 = redis::cmd("HSET")
        .arg("mix:hash")
        .arg(&r.member)
        .arg(&r.value)
        .query(con)?;
    let _: Option<Vec<u8>> = redis::cmd("HGET")
        .arg("mix:hash")
        .arg(&r.probe)
        .query(con)?;
    Ok(ROUND)
}

/// The server's version, from `INFO server`.
pub fn redis_version(addr: &str) -> Res<String> {
    let mut con = redis::Client::open(format!("redis://{addr}/"))?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut con)?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("unknown")
        .trim()
        .to_string())
}

/// Empties the Redis database before a run.
pub fn flush_redis(addr: &str) -> Res<()> {
    let mut con = redis::Client::open(format!("redis://{addr}/"))?.get_connection()?;
    redis::cmd("FLUSHALL").query::<()>(&mut con)?;
    Ok(())
}
