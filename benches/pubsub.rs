//! Pub/Sub across processes (issue 17, format-spec.md §5.4): how soon a message published in
//! one process is delivered to subscribers asleep in others, and how many messages per second
//! go from one process to another.
//!
//! The harness re-executes its own binary with roles. Latency: `--subs` subscriber processes
//! (1, then 4) sleep on the ring; the harness publishes a message carrying the wall-clock
//! time every millisecond; each subscriber reports the median, 99th percentile and maximum of
//! (time delivered − time published). Throughput: one subscriber process acknowledges every
//! 2048 messages on a channel of its own, and the harness publishes 64-byte messages (two ring
//! slots each) with at most 8192 unacknowledged (half the ring, so that the subscriber is
//! never overrun);
//! messages per second from the first publish to the last acknowledgement. Also PUBLISH
//! alone with no subscriber.
//!
//! `cargo bench --bench pubsub` (2000 latency samples, 500,000 messages),
//! `cargo bench --bench pubsub -- --quick` (200 and 50,000: seconds).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ziggydb::Db;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Subscriber role for the latency run: `lat DIR N`.
fn latency_worker(dir: &Path, n: usize) -> Res<()> {
    let db = Db::open(dir)?;
    let mut sub = db.subscribe(&["lat"])?;
    println!("ready");
    std::io::stdout().flush()?;
    let mut lat = Vec::with_capacity(n);
    while lat.len() < n {
        let m = sub
            .next_message(Some(Duration::from_secs(60)))?
            .ok_or("no message within 60 s")?;
        let now = now_ns();
        let sent: u64 = std::str::from_utf8(&m.payload)?.parse()?;
        lat.push(now.saturating_sub(sent));
    }
    lat.sort_unstable();
    let q = |f: f64| lat[((lat.len() as f64 * f).ceil() as usize).clamp(1, lat.len()) - 1];
    println!(
        "lat {:.1} {:.1} {:.1}",
        q(0.5) as f64 / 1e3,
        q(0.99) as f64 / 1e3,
        q(1.0) as f64 / 1e3
    );
    Ok(())
}

/// Subscriber role for the throughput run: `tp DIR N`.
fn throughput_worker(dir: &Path, n: u64) -> Res<()> {
    let db = Db::open(dir)?;
    let mut sub = db.subscribe(&["tp"])?;
    println!("ready");
    std::io::stdout().flush()?;
    let mut got = 0u64;
    while got < n {
        sub.next_message(Some(Duration::from_secs(60)))?
            .ok_or("no message within 60 s")?;
        got += 1;
        if got.is_multiple_of(2048) || got == n {
            db.publish("tp-ack", got.to_string())?;
        }
    }
    println!("done {got}");
    Ok(())
}

fn spawn(role: &str, dir: &Path, n: u64) -> Res<(Child, BufReader<std::process::ChildStdout>)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([role, &dir.display().to_string(), &n.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().ok_or("worker stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    if line.trim() != "ready" {
        return Err(format!("worker said {line:?}").into());
    }
    Ok((child, out))
}

fn latency(dir: &Path, subs: usize, n: usize) -> Res<()> {
    let db = Db::open(dir)?;
    let mut workers = Vec::new();
    for _ in 0..subs {
        workers.push(spawn("lat", dir, n as u64)?);
    }
    for _ in 0..n {
        db.publish("lat", now_ns().to_string())?;
        // Long enough for every subscriber to be asleep again: the wake-up is measured.
        std::thread::sleep(Duration::from_millis(1));
    }
    for (i, (mut child, mut out)) in workers.into_iter().enumerate() {
        let mut line = String::new();
        out.read_line(&mut line)?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() != Some(&"lat") || f.len() != 4 {
            return Err(format!("worker said {line:?}").into());
        }
        println!(
            "latency  {subs} subscriber process(es), #{i}: median {} µs, p99 {} µs, max {} µs ({n} messages)",
            f[1], f[2], f[3]
        );
        child.wait()?;
    }
    Ok(())
}

fn throughput(dir: &Path, n: u64) -> Res<()> {
    let db = Db::open(dir)?;
    let mut acks = db.subscribe(&["tp-ack"])?;
    let (mut child, mut out) = spawn("tp", dir, n)?;
    let payload = vec![b'm'; 64];
    let start = Instant::now();
    let mut acked = 0u64;
    for i in 0..n {
        while i - acked >= 8192 {
            let m = acks
                .next_message(Some(Duration::from_secs(60)))?
                .ok_or("no acknowledgement within 60 s")?;
            acked = std::str::from_utf8(&m.payload)?.parse()?;
        }
        db.publish("tp", &payload)?;
    }
    while acked < n {
        let m = acks
            .next_message(Some(Duration::from_secs(60)))?
            .ok_or("no acknowledgement within 60 s")?;
        acked = std::str::from_utf8(&m.payload)?.parse()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let mut line = String::new();
    out.read_line(&mut line)?;
    child.wait()?;
    println!(
        "throughput  1 publisher -> 1 subscriber process: {:.0} messages/s (64-byte payload, {n} messages, {secs:.2} s)",
        n as f64 / secs
    );
    drop(acks);
    let alone = n.min(200_000);
    let start = Instant::now();
    for _ in 0..alone {
        db.publish("nobody", &payload)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "publish alone (no subscriber): {:.0} messages/s, {:.2} µs each",
        alone as f64 / secs,
        secs * 1e6 / alone as f64
    );
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("lat") => return latency_worker(Path::new(&args[2]), args[3].parse()?),
        Some("tp") => return throughput_worker(Path::new(&args[2]), args[3].parse()?),
        _ => {}
    }
    // nextest lists every target's tests (`--list`): a bench has none to list, and must
    // not run for minutes when asked.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let (samples, messages) = if quick {
        (200, 50_000)
    } else {
        (2000, 500_000)
    };
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("db");
    latency(&dir, 1, samples)?;
    latency(&dir, 4, samples)?;
    throughput(&dir, messages)?;
    Ok(())
}
