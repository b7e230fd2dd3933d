//! A job queue shared by several processes: one producer, several workers and a stats process
//! open the same database directory at once. The producer pushes jobs onto a list; each worker
//! pops one job at a time in a transaction that also records who ran it and counts it, so a job
//! is run exactly once even when workers are killed; the stats process watches the counters.
//!
//! ```sh
//! cargo run --release --example job_queue -- /tmp/jobs.db 4 10000
//! ```
//!
//! The arguments are the database directory, the number of workers and the number of jobs.
//! Every process is this same program, started again with a role (`producer`, `worker`,
//! `stats`). Workers wait for work by polling with a short sleep.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ziggydb::Db;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("producer") => producer(Path::new(&args[2]), args[3].parse()?),
        Some("worker") => worker(Path::new(&args[2]), args[3].parse()?),
        Some("stats") => stats(Path::new(&args[2]), args[3].parse()?),
        _ => {
            let dir = args.get(1).map_or("job_queue.db", String::as_str);
            let workers: usize = args.get(2).map_or(Ok(4), |s| s.parse())?;
            let jobs: u64 = args.get(3).map_or(Ok(10_000), |s| s.parse())?;
            run(Path::new(dir), workers, jobs)
        }
    }
}

/// Starts every role as a process of its own, waits for them, and checks the outcome.
fn run(dir: &Path, workers: usize, jobs: u64) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::open(dir)?;
    db.clear()?; // a fresh run: FLUSHDB
    drop(db);

    let spawn = |role: &str, arg: String| -> std::io::Result<Child> {
        Command::new(std::env::current_exe()?)
            .arg(role)
            .arg(dir)
            .arg(arg)
            .spawn()
    };
    let started = Instant::now();
    let mut children = vec![spawn("stats", jobs.to_string())?];
    for id in 0..workers {
        children.push(spawn("worker", id.to_string())?);
    }
    children.push(spawn("producer", jobs.to_string())?);
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a process failed: {status}").into());
        }
    }

    let db = Db::open(dir)?;
    let done = counter(&db, b"done")?;
    let ran = db.hash(b"ran-by").len()?;
    println!(
        "{jobs} jobs, {workers} workers: {done} done, {ran} distinct, in {:.2?}",
        started.elapsed()
    );
    if done != jobs || ran != jobs {
        return Err("a job was lost or run twice".into());
    }
    Ok(())
}

/// Pushes `jobs` jobs in batches of 100, one transaction each, then a stop mark per worker.
fn producer(dir: &Path, jobs: u64) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::open(dir)?;
    let mut next = 0;
    while next < jobs {
        let batch: Vec<String> = (next..jobs.min(next + 100))
            .map(|n| format!("job-{n}"))
            .collect();
        next += batch.len() as u64;
        db.transaction(|tx| {
            tx.list(b"jobs").push_back(&batch)?; // RPUSH
            tx.incr_by(b"produced", batch.len() as i64)?;
            Ok(())
        })?;
    }
    db.set(b"producer-finished", true)?;
    Ok(())
}

/// Takes one job at a time until the producer has finished and the list is empty.
fn worker(dir: &Path, id: u32) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::open(dir)?;
    let me = format!("worker-{id}");
    loop {
        // Pop, record and count in one transaction: all three happen, or none.
        let job = db.transaction(|tx| {
            let Some(job) = tx.list(b"jobs").pop_front(1)?.pop() else {
                return Ok(None);
            };
            tx.hash(b"ran-by").set(&[(&job, me.as_bytes())])?; // HSET
            tx.incr_by(b"done", 1)?;
            Ok(Some(job))
        })?;
        if job.is_none() {
            if db.exists(b"producer-finished")? && db.list(b"jobs").is_empty()? {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Prints progress twice a second until every job is done.
fn stats(dir: &Path, jobs: u64) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::open(dir)?;
    loop {
        let done = counter(&db, b"done")?;
        let queued = db.list(b"jobs").len()?;
        println!(
            "produced {:>6}  queued {queued:>6}  done {done:>6}",
            counter(&db, b"produced")?
        );
        if done >= jobs {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The integer at `key`, 0 when it does not exist.
fn counter(db: &Db, key: &[u8]) -> ziggydb::Result<u64> {
    match db.get_value(key)? {
        Some(v) => Ok(v.as_int()?.try_into().unwrap_or(0)),
        None => Ok(0),
    }
}
