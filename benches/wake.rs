//! Wake-up latency across processes (issue 17, format-spec.md §9.6): how long after a push
//! committed in one process a blocking pop waiting in another has the element, and how long
//! after a write `wait_for_change` in another process returns.
//!
//! The harness re-executes its own binary as a `waiter` process, which loops on
//! `list.pop_front_blocking` (or `wait_for_change`) with no timeout and prints, for each
//! element, the wall-clock nanoseconds at which it had it. The harness waits until the
//! waiter sleeps (`Metrics::waiters`), pauses 1–3 ms, reads the clock and commits the push
//! (holding that time as the element); latency = the waiter's time − the push's time, so it
//! includes the push's own commit (batched durability: no fsync in it), the wake-up, and the
//! waiter's pop transaction. Both processes read the same `CLOCK_REALTIME`.
//!
//! `cargo bench --bench wake` (2,000 wake-ups per case), `cargo bench --bench wake -- --quick`
//! (200). `--rounds N` overrides.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ziggydb::{Db, Durability, Wait};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn open(dir: &Path) -> Res<Db> {
    Ok(Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(10),
        })
        .open(dir)?)
}

/// The waiter role: `waiter DIR pop|change ROUNDS`.
fn waiter(dir: &Path, case: &str, rounds: u64) -> Res<()> {
    let db = open(dir)?;
    println!("ready");
    for _ in 0..rounds {
        let t = match case {
            "pop" => {
                let v = db
                    .list(b"jobs")
                    .pop_front_blocking(Wait::forever())?
                    .ok_or("a wait without timeout ended")?;
                let at = now_ns();
                let pushed: u128 = String::from_utf8(v)?.parse()?;
                at.saturating_sub(pushed)
            }
            _ => {
                let before = db.get(b"watched")?.map(|v| v.as_bytes().to_vec());
                db.wait_for_change(&[b"watched"], Wait::forever())?
                    .ok_or("a wait without timeout ended")?;
                let at = now_ns();
                let now = db.get(b"watched")?.ok_or("watched was written")?;
                let now = now.as_bytes().to_vec();
                if Some(&now) == before.as_ref() {
                    return Err("woken with no change".into());
                }
                let written: u128 = String::from_utf8(now)?.parse()?;
                at.saturating_sub(written)
            }
        };
        println!("{t}");
    }
    Ok(())
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run_case(case: &str, rounds: u64) -> Res<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("db");
    let db = open(&dir)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("waiter")
        .arg(&dir)
        .arg(case)
        .arg(rounds.to_string())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    if lines.next().transpose()?.as_deref() != Some("ready") {
        return Err("the waiter did not start".into());
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut lat = Vec::with_capacity(rounds as usize);
    for _ in 0..rounds {
        let deadline = Instant::now() + Duration::from_secs(30);
        while db.metrics().waiters == 0 {
            if Instant::now() > deadline {
                return Err("the waiter never waited".into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(1000 + rng % 2000));
        let t = now_ns().to_string();
        match case {
            "pop" => db.transaction(|tx| tx.list(b"jobs").push_back(&[&t]))?,
            _ => {
                db.set(b"watched", t.as_str())?;
                0
            }
        };
        let line = lines.next().ok_or("the waiter ended")??;
        lat.push(line.trim().parse::<u128>()?);
    }
    child.wait()?;
    lat.sort_unstable();
    let us = |ns: u128| ns as f64 / 1000.0;
    println!(
        "{:<32} {:>6} wake-ups: median {:>7.1} µs, p90 {:>7.1} µs, p99 {:>7.1} µs, max {:>8.1} µs",
        match case {
            "pop" => "BLPOP across processes",
            _ => "wait_for_change across processes",
        },
        lat.len(),
        us(percentile(&lat, 0.5)),
        us(percentile(&lat, 0.9)),
        us(percentile(&lat, 0.99)),
        us(*lat.last().unwrap_or(&0)),
    );
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("waiter") {
        let dir = Path::new(args.get(2).ok_or("waiter DIR")?);
        let case = args.get(3).ok_or("waiter DIR CASE")?;
        let rounds = args.get(4).ok_or("waiter DIR CASE ROUNDS")?.parse()?;
        return waiter(dir, case, rounds);
    }
    // nextest lists every target's tests (`--list`): a bench has none to list, and must
    // not run for minutes when asked.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(if quick { 200 } else { 2000 });
    for case in ["pop", "change"] {
        run_case(case, rounds)?;
    }
    Ok(())
}
