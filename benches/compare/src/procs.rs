//! Several processes on one database. The harness re-executes its own binary with the
//! `worker` role; each worker opens the database, says `ready` (or `error <why>`), waits for
//! `go` on its standard input, works, and prints `done <ops>`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{key, value, Rng};
use crate::engines::{Kind, Mode, Res};

/// How long a worker may take to open its database.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// What one run of P workers gave.
pub enum Outcome {
    /// Operations done by all workers and the wall time from `go` to the last `done`.
    Ran { ops: u64, secs: f64 },
    /// A worker could not open the database (the first error reported).
    Refused(String),
}

impl Outcome {
    pub fn rate(&self) -> Option<f64> {
        match self {
            Outcome::Ran { ops, secs } => Some(*ops as f64 / secs),
            Outcome::Refused(_) => None,
        }
    }
}

/// Starts `p` workers with `args` (after `worker`), runs them, and gathers their counts.
pub fn run_workers(p: usize, args: &[String]) -> Res<Outcome> {
    let exe = std::env::current_exe()?;
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let mut children: Vec<Child> = Vec::new();
    for i in 0..p {
        let mut child = Command::new(&exe)
            .arg("worker")
            .args(args)
            .arg(i.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().ok_or("worker without stdout")?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send((i, line)).is_err() {
                    break;
                }
            }
        });
        children.push(child);
    }
    drop(tx);
    let outcome = drive(&mut children, &rx);
    for c in &mut children {
        if outcome
            .as_ref()
            .map_or(true, |o| matches!(o, Outcome::Refused(_)))
        {
            let _ = c.kill();
        }
        let _ = c.wait();
    }
    outcome
}

fn drive(children: &mut [Child], rx: &mpsc::Receiver<(usize, String)>) -> Res<Outcome> {
    let p = children.len();
    let mut ready = 0;
    while ready < p {
        let (i, line) = rx
            .recv_timeout(READY_TIMEOUT)
            .map_err(|_| "a worker neither opened the database nor failed")?;
        if let Some(why) = line.strip_prefix("error ") {
            return Ok(Outcome::Refused(format!("process {}: {why}", i + 1)));
        }
        if line == "ready" {
            ready += 1;
        }
    }
    let start = Instant::now();
    for c in children.iter_mut() {
        let stdin = c.stdin.as_mut().ok_or("worker without stdin")?;
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
    }
    let mut done = 0;
    let mut ops = 0;
    while done < p {
        let (i, line) = rx.recv().map_err(|_| "a worker exited without reporting")?;
        if let Some(n) = line.strip_prefix("done ") {
            ops += n.parse::<u64>()?;
            done += 1;
        } else if let Some(why) = line.strip_prefix("error ") {
            return Err(format!("worker {} failed: {why}", i + 1).into());
        }
    }
    Ok(Outcome::Ran {
        ops,
        secs: start.elapsed().as_secs_f64(),
    })
}

/// The worker role: `worker <engine> <dir> <task> <lo> <hi> <amount> <index>`, where
/// `task` is `reads` or `mixed` (`amount` in milliseconds, keys `lo..hi`) or `counter`
/// (`amount` increments of key `lo`'s counter), or the data-type mix roles of
/// [`crate::mix`].
pub fn worker(args: &[String]) -> Res<()> {
    let [engine, dir, task, lo, hi, amount, index] = args else {
        return Err(format!("worker takes 7 arguments, got {}", args.len()).into());
    };
    if task.starts_with("mix-") {
        return crate::mix::worker(engine, dir, task, amount.parse()?, index.parse()?);
    }
    let kind = Kind::from_id(engine).ok_or_else(|| format!("unknown engine {engine}"))?;
    let (lo, hi, amount, index): (u64, u64, u64, u64) =
        (lo.parse()?, hi.parse()?, amount.parse()?, index.parse()?);
    let e = match kind.open(Path::new(dir), Mode::Durable) {
        Ok(e) => e,
        Err(why) => {
            println!("error {}", one_line(&why.to_string()));
            return Ok(());
        }
    };
    wait_for_go()?;
    let mut rng = Rng(1000 + index);
    let ops = match task.as_str() {
        "reads" | "mixed" => {
            let writes = task == "mixed";
            let mut r = e.reader()?;
            let dur = Duration::from_millis(amount);
            let start = Instant::now();
            let mut ops = 0u64;
            while start.elapsed() < dur {
                for _ in 0..16 {
                    let k = key(0, lo + rng.below(hi - lo));
                    if writes && rng.below(10) == 0 {
                        e.write(&[(k, value(&mut rng))], true)?;
                    } else if r.get(&k)?.is_none() {
                        return Err("a loaded key is missing".into());
                    }
                }
                ops += 16;
            }
            ops
        }
        "counter" => {
            let k = counter_key(lo);
            for _ in 0..amount {
                e.increment(&k)?;
            }
            amount
        }
        other => return Err(format!("unknown worker task {other}").into()),
    };
    println!("done {ops}");
    Ok(())
}

/// The key of the shared counter of run `run`.
pub fn counter_key(run: u64) -> Vec<u8> {
    format!("shared-counter-{run}").into_bytes()
}

/// Announces `ready` and blocks until the harness says `go`.
pub fn wait_for_go() -> Res<()> {
    println!("ready");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() != "go" {
        return Err("the harness went away before the start".into());
    }
    Ok(())
}

pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
