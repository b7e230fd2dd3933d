//! The Rust side of `bench.js`: the same calls as the Node benchmark, made directly on the
//! library, so that the Node figures can be read as a ratio to Rust's.
//!
//! `rust_baseline DIR N ROUNDS` opens DIR with batched durability (as bench.js does), stores
//! the same 16-byte string value at `bench:key`, then times N calls of each operation per
//! round and prints one line of JSON: the best round's nanoseconds per call of each.
//!
//! - `get`: `Db::get_value` (an owned, typed copy of the value, as the binding's `get` makes
//!   before it converts it to a JS string);
//! - `set`: `Db::set` of a 16-byte `&str` (a string value, its own transaction);
//! - `execute GET`: `Session::execute(["GET", key])` (the reply a binding's `execute` gets).

use std::time::Instant;

use ziggydb::commands::{Policy, Session};
use ziggydb::{Db, Durability};

fn best(rounds: usize, n: usize, mut f: impl FnMut(usize)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, n, rounds] = args.as_slice() else {
        return Err("usage: rust_baseline DIR N ROUNDS".into());
    };
    let (n, rounds): (usize, usize) = (n.parse()?, rounds.parse()?);
    let db = Db::options()
        .durability(Durability::Batched {
            max_delay: std::time::Duration::from_millis(50),
        })
        .open(dir)?;
    let value = "0123456789abcdef";
    db.set(b"bench:key", value)?;
    let mut fail: Option<ziggydb::Error> = None;

    let get = best(rounds, n, |_| match db.get_value(b"bench:key") {
        Ok(v) => {
            std::hint::black_box(v);
        }
        Err(e) => fail = Some(e),
    });
    let set = best(rounds, n, |_| {
        if let Err(e) = db.set(b"bench:key", value) {
            fail = Some(e);
        }
    });
    let mut session = Session::new(&db, Policy::trusted());
    let exec = best(rounds, n, |_| {
        std::hint::black_box(session.execute(&[b"GET", b"bench:key"]));
    });
    if let Some(e) = fail {
        return Err(e.into());
    }
    println!("{{\"get\":{get:.1},\"set\":{set:.1},\"execute GET\":{exec:.1}}}");
    Ok(())
}
