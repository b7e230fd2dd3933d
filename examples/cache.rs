//! A cache that every process of an application shares, with no cache server to run: values
//! expire after a time to live, and when several processes miss the same key at once only one
//! of them computes it (the others wait for its result), so a slow backend is not stampeded.
//!
//! ```sh
//! cargo run --release --example cache -- /tmp/cache.db 4
//! ```
//!
//! The arguments are the database directory and the number of processes. Every process is
//! this same program, started again with the role `client`; each asks for the same 20 keys,
//! and the run ends by checking that each key was computed exactly once.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ziggydb::{Db, Value};

/// How long a computed value stays in the cache.
const TTL: Duration = Duration::from_secs(60);
/// How long a process may hold the right to compute a key before others may take it over
/// (it died, or the backend hangs).
const COMPUTE_LEASE: Duration = Duration::from_secs(5);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("client") {
        return client(Path::new(&args[2]));
    }
    let dir = Path::new(args.get(1).map_or("cache.db", String::as_str));
    let processes: usize = args.get(2).map_or(Ok(4), |s| s.parse())?;
    Db::open(dir)?.clear()?;

    let mut children = Vec::new();
    for _ in 0..processes {
        children.push(
            Command::new(std::env::current_exe()?)
                .arg("client")
                .arg(dir)
                .spawn()?,
        );
    }
    for mut child in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("a client failed: {status}").into());
        }
    }
    let db = Db::open(dir)?;
    let computed = db.hash(b"computations").get_all()?;
    println!("{processes} processes asked for 20 keys; computations per key:");
    for (key, times) in &computed {
        println!(
            "  {} -> {}",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(times)
        );
    }
    if computed.len() != 20 || computed.iter().any(|(_, n)| n.as_slice() != b"1") {
        return Err("a key was computed more than once, or never".into());
    }
    Ok(())
}

/// Asks for every key, as a request handler of a web application would.
fn client(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let db = Db::open(dir)?;
    for n in 0..20 {
        let key = format!("report:{n}");
        let value = cached(&db, key.as_bytes(), || slow_backend(n))?;
        assert_eq!(value.as_int()?, i64::from(n) * 1_000);
    }
    Ok(())
}

/// The value cached at `key`, or `compute`'s result, computed by one process at a time.
fn cached(db: &Db, key: &[u8], compute: impl Fn() -> Value) -> ziggydb::Result<Value> {
    let lease_key = [b"computing:", key].concat();
    loop {
        if let Some(value) = db.get_value(key)? {
            return Ok(value); // a hit
        }
        // A miss: take the lease (SET computing:key 1 NX PX 5000) or wait for whoever has it.
        // The check for the value is repeated inside the transaction: another process may
        // have stored it and dropped its lease since the read above.
        let lease_until = unix_ms(COMPUTE_LEASE);
        let outcome = db.transaction(|tx| {
            if let Some(value) = tx.get(key)? {
                return Ok(Lease::Cached(value));
            }
            let taken = tx
                .set_extended(&lease_key, 1)
                .if_absent()
                .expire_at(lease_until);
            Ok(if taken.run()?.written {
                Lease::Mine
            } else {
                Lease::Theirs
            })
        })?;
        match outcome {
            Lease::Cached(value) => return Ok(value),
            Lease::Theirs => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            Lease::Mine => {}
        }
        let value = compute();
        // Store the value with its time to live and drop the lease, in one transaction.
        db.transaction(|tx| {
            tx.set_extended(key, value.clone())
                .expire_at(unix_ms(TTL))
                .run()?;
            tx.delete(&lease_key)?;
            tx.hash(b"computations").incr_by(key, 1)?;
            Ok(())
        })?;
        return Ok(value);
    }
}

/// Who computes a missing value.
enum Lease {
    /// Nobody needs to: it is there now.
    Cached(Value),
    /// This process.
    Mine,
    /// Another process, which holds the lease.
    Theirs,
}

/// Stands in for a slow query.
fn slow_backend(n: u32) -> Value {
    std::thread::sleep(Duration::from_millis(20));
    Value::Int(i64::from(n) * 1_000)
}

/// The Unix time in milliseconds `after` from now.
fn unix_ms(after: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now + after).as_millis() as u64
}
