//! Random operation sequences against a fresh database and a `BTreeMap` model.
//!
//! The input is read as a list of operations (set, delete, get, INCRBY, begin, commit,
//! rollback, reopen, compact). Writes made outside a transaction commit on their own; inside
//! one they are held in an overlay of the model until commit. Every read is compared with the
//! model, and at the end every key, the key count and `check()` are.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::Input;
use ziggydb::{Db, Durability, Error, Value, WriteTxn};

/// The smallest segment the engine accepts, so that a few kilobytes of writes fill one.
const SEGMENT_SIZE: u64 = 64 << 10;

#[derive(Debug)]
enum Op {
    Set(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    Get(Vec<u8>),
    IncrBy(Vec<u8>, i64),
    Begin,
    Commit,
    Rollback,
    Reopen,
    Compact,
}

/// Keys come from a small set so that operations hit the same keys often; a few are long.
fn key(b: u8) -> Vec<u8> {
    match b {
        0..=239 => format!("k{}", b % 24).into_bytes(),
        _ => vec![b'L'; usize::from(b - 239) * 3000],
    }
}

fn decode(input: &mut Input<'_>) -> Option<Op> {
    let op = input.byte()?;
    Some(match op % 10 {
        0 | 1 => {
            let k = key(input.byte()?);
            let len = usize::from(input.byte()?) * 17;
            let fill = input.byte()?;
            Op::Set(k, (0..len).map(|i| fill.wrapping_add(i as u8)).collect())
        }
        2 => Op::Delete(key(input.byte()?)),
        3 => Op::Get(key(input.byte()?)),
        4 => {
            let k = key(input.byte()?);
            let d = i64::from(input.byte()? as i8);
            // Now and then a delta near the limits, to reach the overflow check.
            Op::IncrBy(
                k,
                if op >= 200 {
                    d.wrapping_mul(i64::MAX / 64)
                } else {
                    d
                },
            )
        }
        5 => Op::Begin,
        6 => Op::Commit,
        7 => Op::Rollback,
        8 => Op::Reopen,
        _ => Op::Compact,
    })
}

struct Harness {
    opts: ziggydb::OpenOptions,
    path: std::path::PathBuf,
    db: Option<Db>,
    tx: Option<WriteTxn>,
    /// Committed state.
    model: BTreeMap<Vec<u8>, Value>,
    /// Writes of the open transaction; `None` marks a delete.
    overlay: BTreeMap<Vec<u8>, Option<Value>>,
}

impl Harness {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("database is open")
    }

    /// What the open transaction sees for `key`.
    fn tx_view(&self, key: &[u8]) -> Option<Value> {
        match self.overlay.get(key) {
            Some(v) => v.clone(),
            None => self.model.get(key).cloned(),
        }
    }

    fn check_committed(&self, key: &[u8]) {
        let got = self.db().get(key).expect("get");
        let got = got.map(|v| v.to_value().expect("stored value decodes"));
        assert_eq!(
            got,
            self.model.get(key).cloned(),
            "committed value of {:?}",
            show(key)
        );
    }

    fn set(&mut self, k: Vec<u8>, v: Vec<u8>) {
        let r = match self.tx.as_mut() {
            Some(tx) => tx.set(&k, v.clone()),
            None => self.db().set(&k, v.clone()),
        };
        match r {
            Ok(()) => {
                if self.tx.is_some() {
                    self.overlay.insert(k, Some(Value::Bytes(v)));
                } else {
                    self.model.insert(k, Value::Bytes(v));
                }
            }
            Err(e) if too_large(&e) => {}
            Err(e) => panic!("set {:?}: {e}", show(&k)),
        }
    }

    fn delete(&mut self, k: Vec<u8>) {
        if let Some(tx) = self.tx.as_mut() {
            let existed = match tx.delete(&k) {
                Ok(existed) => existed,
                Err(e) if too_large(&e) => return,
                Err(e) => panic!("delete {:?} in txn: {e}", show(&k)),
            };
            assert_eq!(
                existed,
                self.tx_view(&k).is_some(),
                "delete {:?} in txn",
                show(&k)
            );
            self.overlay.insert(k, None);
        } else {
            let existed = self.db().delete(&k).expect("delete");
            assert_eq!(
                existed,
                self.model.remove(&k).is_some(),
                "delete {:?}",
                show(&k)
            );
        }
    }

    fn incr_by(&mut self, k: Vec<u8>, d: i64) {
        let current = if self.tx.is_some() {
            self.tx_view(&k)
        } else {
            self.model.get(&k).cloned()
        };
        let expected = match current {
            None => Ok(d),
            Some(v) => v
                .as_int()
                .and_then(|n| n.checked_add(d).ok_or(Error::Overflow)),
        };
        let got = match self.tx.as_mut() {
            Some(tx) => tx.incr_by(&k, d),
            None => self.db().incr_by(&k, d),
        };
        match (expected, got) {
            (Ok(want), Ok(n)) => {
                assert_eq!(n, want, "INCRBY {:?} {d}", show(&k));
                if self.tx.is_some() {
                    self.overlay.insert(k, Some(Value::Int(n)));
                } else {
                    self.model.insert(k, Value::Int(n));
                }
            }
            (Err(Error::NotAnInteger), Err(Error::NotAnInteger))
            | (Err(Error::Overflow), Err(Error::Overflow)) => {}
            (Ok(_), Err(e)) if self.tx.is_some() && too_large(&e) => {}
            (want, got) => panic!("INCRBY {:?} {d}: expected {want:?}, got {got:?}", show(&k)),
        }
    }

    fn get(&self, k: &[u8]) {
        if let Some(tx) = &self.tx {
            assert_eq!(
                tx.get(k).expect("get in txn"),
                self.tx_view(k),
                "txn get {:?}",
                show(k)
            );
        }
        // Outside the transaction only committed writes are visible.
        self.check_committed(k);
    }

    fn end_txn(&mut self, commit: bool) {
        let Some(tx) = self.tx.take() else { return };
        let overlay = std::mem::take(&mut self.overlay);
        if commit {
            match tx.commit() {
                Ok(()) => {}
                Err(e) if too_large(&e) => return,
                Err(e) => panic!("commit: {e}"),
            }
            for (k, v) in overlay {
                match v {
                    Some(v) => self.model.insert(k, v),
                    None => self.model.remove(&k),
                };
            }
        } else {
            tx.rollback();
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Set(k, v) => self.set(k, v),
            Op::Delete(k) => self.delete(k),
            Op::Get(k) => self.get(&k),
            Op::IncrBy(k, d) => self.incr_by(k, d),
            Op::Begin => {
                if self.tx.is_none() {
                    self.tx = Some(self.db().begin_write().expect("begin_write"));
                }
            }
            Op::Commit => self.end_txn(true),
            Op::Rollback => self.end_txn(false),
            Op::Reopen => {
                self.end_txn(false);
                self.db = None;
                self.db = Some(self.opts.clone().open(&self.path).expect("reopen"));
            }
            Op::Compact => {
                // Compaction takes the writer lock, which our own open transaction holds.
                if self.tx.is_none() {
                    self.db().compact().expect("compact");
                }
            }
        }
    }

    fn verify_all(&self) {
        let db = self.db();
        let mut keys = db.keys().expect("keys");
        keys.sort();
        let want: Vec<&Vec<u8>> = self.model.keys().collect();
        assert_eq!(keys.iter().collect::<Vec<_>>(), want, "key set");
        assert_eq!(db.len(), self.model.len() as u64, "len");
        for k in self.model.keys() {
            self.check_committed(k);
        }
        let report = db.check().expect("check");
        assert!(
            report.is_ok(),
            "check found problems: {:?}",
            report.problems
        );
    }
}

/// A write, or a whole transaction, too big for one segment: it is refused and changes
/// nothing.
fn too_large(e: &Error) -> bool {
    matches!(e, Error::ValueTooLarge { .. } | Error::KeyTooLarge { .. })
}

/// A key as text for assertion messages, shortened.
fn show(k: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(k).chars().take(20).collect();
    if k.len() > 20 {
        format!("{s}...({} bytes)", k.len())
    } else {
        s
    }
}

fn run(data: &[u8], dir: &Path) {
    let mut input = Input(data);
    let Some(mode) = input.byte() else { return };
    let durability = if mode & 1 == 0 {
        Durability::Immediate
    } else {
        Durability::Batched {
            max_delay: Duration::from_millis(5),
        }
    };
    let opts = Db::options()
        .durability(durability)
        .segment_size(SEGMENT_SIZE)
        .lock_timeout(Some(Duration::from_secs(5)))
        .auto_compact(mode & 2 != 0, 0.3, 0);
    let path = dir.join("db");
    let db = opts.clone().open(&path).expect("open");
    let mut h = Harness {
        opts,
        path,
        db: Some(db),
        tx: None,
        model: BTreeMap::new(),
        overlay: BTreeMap::new(),
    };
    while let Some(op) = decode(&mut input) {
        h.apply(op);
    }
    h.end_txn(mode & 4 != 0);
    h.verify_all();
    // What was committed survives closing and reopening.
    h.apply(Op::Reopen);
    h.verify_all();
}

/// One input.
pub fn fuzz(data: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    run(data, dir.path());
}
