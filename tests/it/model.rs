//! Random operation sequences against a `BTreeMap` model: set, delete, INCR, reads, commit,
//! rollback and reopen, comparing the whole database with the model after every step that
//! ends a transaction.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use ziggydb::{Db, Durability, Error, Value, WriteTxn};

use crate::util;

const KEYS: u8 = 10;

fn key(k: u8) -> Vec<u8> {
    if k == KEYS - 1 {
        // One binary key with bytes that are not text.
        vec![0, 0xFF, b'k', 0x80]
    } else {
        format!("model/{k}").into_bytes()
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// `auto`: outside a transaction, as a single-operation commit.
    Set {
        k: u8,
        v: Value,
        auto: bool,
    },
    Delete {
        k: u8,
        auto: bool,
    },
    Incr {
        k: u8,
        by: i64,
        auto: bool,
    },
    Read(u8),
    Commit,
    Rollback,
    Reopen,
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        "[a-z0-9 ]{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("12"),
            Just("-3"),
            Just("+4"),
            Just(" 5"),
            Just("0"),
            Just("9223372036854775807")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
        prop_oneof![-1000i64..1000, Just(i64::MAX), Just(i64::MIN), any::<i64>()]
            .prop_map(Value::Int),
        prop::num::f64::NORMAL.prop_map(Value::Float),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Timestamp),
        Just(Value::Json(r#"{"x":[1,true,null]}"#.to_owned())),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..KEYS, value(), any::<bool>()).prop_map(|(k, v, auto)| Op::Set { k, v, auto }),
        2 => (0..KEYS, any::<bool>()).prop_map(|(k, auto)| Op::Delete { k, auto }),
        3 => (0..KEYS, prop_oneof![-5i64..5, Just(i64::MAX), Just(i64::MIN)], any::<bool>())
            .prop_map(|(k, by, auto)| Op::Incr { k, by, auto }),
        2 => (0..KEYS).prop_map(Op::Read),
        3 => Just(Op::Commit),
        1 => Just(Op::Rollback),
        1 => Just(Op::Reopen),
    ]
}

/// INCR as the model computes it: ints, and text holding a plain decimal integer.
fn model_incr(cur: Option<&Value>, by: i64) -> Result<i64, &'static str> {
    let parse = |b: &[u8]| -> Result<i64, &'static str> {
        let s = std::str::from_utf8(b).map_err(|_| "not an integer")?;
        let plain = !s.is_empty()
            && s.bytes()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == b'-' && s.len() > 1));
        if !plain {
            return Err("not an integer");
        }
        s.parse().map_err(|_| "not an integer")
    };
    let n = match cur {
        None => 0,
        Some(Value::Int(i)) => *i,
        Some(Value::String(s)) => parse(s.as_bytes())?,
        Some(Value::Bytes(b)) => parse(b)?,
        Some(_) => return Err("not an integer"),
    };
    n.checked_add(by).ok_or("overflow")
}

fn check_incr(
    want: Result<i64, &'static str>,
    got: ziggydb::Result<i64>,
) -> Result<Option<i64>, TestCaseError> {
    match (want, got) {
        (Ok(w), Ok(g)) => {
            prop_assert_eq!(w, g);
            Ok(Some(g))
        }
        (Err("overflow"), Err(Error::Overflow))
        | (Err("not an integer"), Err(Error::NotAnInteger)) => Ok(None),
        (w, g) => Err(TestCaseError::fail(format!(
            "incr: model {w:?}, database {g:?}"
        ))),
    }
}

fn err(e: ziggydb::Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Compares everything the database holds with the model.
fn compare(db: &Db, model: &BTreeMap<Vec<u8>, Value>, when: &str) -> Result<(), TestCaseError> {
    let mut keys = db.keys().map_err(err)?;
    keys.sort();
    let want: Vec<Vec<u8>> = model.keys().cloned().collect();
    prop_assert_eq!(&keys, &want, "keys {}", when);
    prop_assert_eq!(db.len(), model.len() as u64, "len {}", when);
    let all: Vec<Vec<u8>> = (0..KEYS).map(key).collect();
    let refs: Vec<&[u8]> = all.iter().map(|k| &k[..]).collect();
    let got = db.mget(&refs).map_err(err)?;
    for (k, g) in all.iter().zip(got) {
        prop_assert_eq!(g.as_ref(), model.get(k), "mget of {:?} {}", k, when);
        let single = db.get_value(k).map_err(err)?;
        prop_assert_eq!(single.as_ref(), model.get(k), "get of {:?} {}", k, when);
    }
    Ok(())
}

struct Open {
    tx: WriteTxn,
    view: BTreeMap<Vec<u8>, Value>,
}

fn run(ops: Vec<Op>, batched: bool) -> Result<(), TestCaseError> {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let open = || {
        let mut o = Db::options().segment_size(64 << 10);
        if batched {
            o = o.durability(Durability::Batched {
                max_delay: Duration::from_millis(5),
            });
        }
        o.open(&path).map_err(err)
    };
    let mut db = open()?;
    let mut committed: BTreeMap<Vec<u8>, Value> = BTreeMap::new();
    let mut pending: Option<Open> = None;
    for (step, op) in ops.into_iter().enumerate() {
        let when = format!("after step {step} ({op:?})");
        let auto = match &op {
            Op::Set { auto, .. } | Op::Delete { auto, .. } | Op::Incr { auto, .. } => {
                *auto && pending.is_none()
            }
            _ => false,
        };
        if auto {
            match op {
                Op::Set { k, v, .. } => {
                    db.set(&key(k), v.clone()).map_err(err)?;
                    committed.insert(key(k), v);
                }
                Op::Delete { k, .. } => {
                    let existed = db.delete(&key(k)).map_err(err)?;
                    prop_assert_eq!(existed, committed.remove(&key(k)).is_some(), "{}", when);
                }
                Op::Incr { k, by, .. } => {
                    let want = model_incr(committed.get(&key(k)), by);
                    if let Some(n) = check_incr(want, db.incr_by(&key(k), by))? {
                        committed.insert(key(k), Value::Int(n));
                    }
                }
                _ => unreachable!("only writes run outside a transaction"),
            }
            compare(&db, &committed, &when)?;
            continue;
        }
        match op {
            Op::Set { .. } | Op::Delete { .. } | Op::Incr { .. } => {
                if pending.is_none() {
                    pending = Some(Open {
                        tx: db.begin_write().map_err(err)?,
                        view: committed.clone(),
                    });
                }
                let Some(Open { tx, view }) = pending.as_mut() else {
                    unreachable!("a transaction was just begun")
                };
                match op {
                    Op::Set { k, v, .. } => {
                        tx.set(&key(k), v.clone()).map_err(err)?;
                        view.insert(key(k), v);
                    }
                    Op::Delete { k, .. } => {
                        let existed = tx.delete(&key(k)).map_err(err)?;
                        prop_assert_eq!(existed, view.remove(&key(k)).is_some(), "{}", when);
                    }
                    Op::Incr { k, by, .. } => {
                        let want = model_incr(view.get(&key(k)), by);
                        if let Some(n) = check_incr(want, tx.incr_by(&key(k), by))? {
                            view.insert(key(k), Value::Int(n));
                        }
                    }
                    _ => unreachable!("matched above"),
                }
            }
            Op::Read(k) => match &pending {
                Some(p) => {
                    let got = p.tx.get(&key(k)).map_err(err)?;
                    prop_assert_eq!(got.as_ref(), p.view.get(&key(k)), "txn read {}", when);
                    // Readers outside the transaction see only committed state.
                    let outside = db.get_value(&key(k)).map_err(err)?;
                    prop_assert_eq!(outside.as_ref(), committed.get(&key(k)), "{}", when);
                }
                None => {
                    let got = db.get_value(&key(k)).map_err(err)?;
                    prop_assert_eq!(got.as_ref(), committed.get(&key(k)), "{}", when);
                }
            },
            Op::Commit => {
                if let Some(p) = pending.take() {
                    p.tx.commit().map_err(err)?;
                    committed = p.view;
                }
                compare(&db, &committed, &when)?;
            }
            Op::Rollback => {
                if let Some(p) = pending.take() {
                    p.tx.rollback();
                }
                compare(&db, &committed, &when)?;
            }
            Op::Reopen => {
                // An open transaction is dropped, which rolls it back.
                pending = None;
                drop(db);
                db = open()?;
                compare(&db, &committed, &when)?;
            }
        }
    }
    drop(pending);
    compare(&db, &committed, "at the end")?;
    drop(db);
    let db = open()?;
    compare(&db, &committed, "reopened at the end")?;
    let report = db.check().map_err(err)?;
    prop_assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn database_matches_a_btreemap_model(
        ops in prop::collection::vec(op(), 1..80),
        batched in any::<bool>(),
    ) {
        run(ops, batched)?;
    }
}

#[test]
fn model_incr_follows_the_documented_rules() {
    assert_eq!(model_incr(None, 3), Ok(3));
    assert_eq!(model_incr(Some(&Value::String("-12".into())), 2), Ok(-10));
    assert!(model_incr(Some(&Value::String("+4".into())), 1).is_err());
    assert!(model_incr(Some(&Value::String(" 5".into())), 1).is_err());
    assert!(model_incr(Some(&Value::String("-".into())), 1).is_err());
    assert!(model_incr(Some(&Value::Float(1.0)), 1).is_err());
    assert_eq!(model_incr(Some(&Value::Int(i64::MAX)), 1), Err("overflow"));
}
