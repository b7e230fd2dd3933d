//! The Rust worker of the all-languages test: processes in every language open one database
//! directory at the same moment, each writes typed values, increments a shared counter,
//! appends to a shared list in transactions, waits for its peers and reads back every
//! peer's typed values with their types.
//!
//! ```sh
//! cargo run --release --example alllang_worker -- DIR NAME PEERS
//! ```
//!
//! DIR is the database directory, NAME this worker's name (`rust`), PEERS the
//! comma-separated names of every worker in the run (NAME among them). Prints `NAME ok` and
//! exits 0 when everything checked out; otherwise one line per problem on stderr, exit 1.

use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::{Db, Value};

const INT: i64 = -9_007_199_254_740_993;
const FLOAT: f64 = 0.1;
const TIMESTAMP_MS: i64 = 1_767_225_600_123;
const BYTES: &[u8] = b"zig\0gy\xff";

fn json_doc(name: &str) -> String {
    format!(r#"{{"lang":"{name}","list":[1,2.5,null,true,"x"]}}"#)
}

fn key(name: &str, kind: &str) -> String {
    format!("typed:{name}:{kind}")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, name, peers] = args.as_slice() else {
        eprintln!("usage: alllang_worker DIR NAME PEERS");
        std::process::exit(2);
    };
    let peers: Vec<&str> = peers.split(',').collect();
    match run(Path::new(dir), name, &peers) {
        Ok(problems) if problems.is_empty() => println!("{name} ok"),
        Ok(problems) => {
            for p in problems {
                eprintln!("{name}: {p}");
            }
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    }
}

fn run(dir: &Path, name: &str, peers: &[&str]) -> ziggydb::Result<Vec<String>> {
    // 1. Open with default options.
    let db = Db::open(dir)?;

    // 2. The typed values, each its own commit.
    db.set(key(name, "int"), Value::Int(INT))?;
    db.set(key(name, "float"), Value::Float(FLOAT))?;
    db.set(key(name, "bool"), Value::Bool(true))?;
    db.set(key(name, "timestamp"), Value::Timestamp(TIMESTAMP_MS))?;
    db.set(key(name, "json"), Value::json(json_doc(name))?)?;
    db.set(key(name, "bytes"), Value::Bytes(BYTES.to_vec()))?;
    db.set(
        key(name, "string"),
        Value::String(format!("ziggy ✓ {name}")),
    )?;

    // 3, 4. The counters.
    db.incr_by("all:ready", 1)?;
    for _ in 0..500 {
        db.incr_by("all:counter", 1)?;
    }

    // 5. The list, one transaction per entry.
    for i in 0..100 {
        let entry = format!("{name}:{i}");
        db.transaction(|tx| tx.list(b"all:list").push_back(&[entry.as_bytes()]))?;
    }

    // 6. Done; wait for every peer.
    db.incr_by("all:done", 1)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = match db.get_value("all:done")? {
            Some(v) => v.as_int()?,
            None => 0,
        };
        if done >= peers.len() as i64 {
            break;
        }
        if Instant::now() > deadline {
            return Ok(vec!["timed out waiting for peers".into()]);
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    // 7. Every peer's typed values.
    let mut problems = Vec::new();
    for p in peers {
        check_peer(&db, p, &mut problems)?;
    }
    Ok(problems)
}

fn check_peer(db: &Db, p: &str, problems: &mut Vec<String>) -> ziggydb::Result<()> {
    let want_json: serde_json::Value =
        serde_json::from_str(&json_doc(p)).expect("the document parses");
    let expected: [(&str, Value); 7] = [
        ("int", Value::Int(INT)),
        ("float", Value::Float(FLOAT)),
        ("bool", Value::Bool(true)),
        ("timestamp", Value::Timestamp(TIMESTAMP_MS)),
        ("json", Value::Json(json_doc(p))),
        ("bytes", Value::Bytes(BYTES.to_vec())),
        ("string", Value::String(format!("ziggy ✓ {p}"))),
    ];
    for (kind, want) in expected {
        let got = db.get_value(key(p, kind))?;
        let ok = match (&got, &want) {
            // Floats bit-exactly; JSON structurally.
            (Some(Value::Float(g)), Value::Float(w)) => g.to_bits() == w.to_bits(),
            (Some(Value::Json(g)), Value::Json(_)) => {
                serde_json::from_str::<serde_json::Value>(g).ok().as_ref() == Some(&want_json)
            }
            (Some(g), w) => g == w,
            (None, _) => false,
        };
        if !ok {
            problems.push(format!(
                "peer {p} {kind}: expected {want:?}, read {}",
                got.map_or("nothing".to_string(), |v| format!("{v:?}"))
            ));
        }
    }
    Ok(())
}
