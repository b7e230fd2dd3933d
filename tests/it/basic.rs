//! Single-process basics: typed values, overwrite, delete, counting, INCR, limits, expiry and
//! persistence across reopen.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ziggydb::{Db, Error, Value, ValueType};

use crate::util::{self, TestResult};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Every variant of `Value`, with edge cases, under distinct keys.
fn typed_cases() -> TestResult<Vec<(Vec<u8>, Value)>> {
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    Ok(vec![
        (b"bytes/all".to_vec(), Value::Bytes(all_bytes.clone())),
        (b"bytes/empty".to_vec(), Value::Bytes(Vec::new())),
        (b"bytes/zeros".to_vec(), Value::Bytes(vec![0; 1000])),
        (
            b"string/unicode".to_vec(),
            Value::String("h\u{e9}llo, w\u{f6}rld \u{2713} \u{1F980}".into()),
        ),
        (b"string/empty".to_vec(), Value::String(String::new())),
        (b"string/digits".to_vec(), Value::String("12345".into())),
        (b"int/min".to_vec(), Value::Int(i64::MIN)),
        (b"int/max".to_vec(), Value::Int(i64::MAX)),
        (b"int/zero".to_vec(), Value::Int(0)),
        (b"int/neg".to_vec(), Value::Int(-42)),
        (b"float/frac".to_vec(), Value::Float(3.5)),
        (b"float/neg-zero".to_vec(), Value::Float(-0.0)),
        (b"float/inf".to_vec(), Value::Float(f64::INFINITY)),
        (b"float/-inf".to_vec(), Value::Float(f64::NEG_INFINITY)),
        (b"float/tiny".to_vec(), Value::Float(f64::MIN_POSITIVE)),
        (b"float/pi".to_vec(), Value::Float(std::f64::consts::PI)),
        (b"bool/true".to_vec(), Value::Bool(true)),
        (b"bool/false".to_vec(), Value::Bool(false)),
        (b"ts/now".to_vec(), Value::Timestamp(1_700_000_000_123)),
        (b"ts/before-1970".to_vec(), Value::Timestamp(-1)),
        (
            b"json/object".to_vec(),
            Value::json(r#"{"a":[1,2,{"b":null}],"c":"d\u00e9"}"#)?,
        ),
        (b"json/scalar".to_vec(), Value::json("42")?),
        (
            all_bytes,
            Value::String("the key holds every byte value".into()),
        ),
    ])
}

fn assert_same_value(key: &[u8], got: &Value, want: &Value) {
    assert_eq!(got, want, "value of key {key:?}");
    assert_eq!(got.value_type(), want.value_type(), "type of key {key:?}");
    if let (Value::Float(a), Value::Float(b)) = (got, want) {
        assert_eq!(a.to_bits(), b.to_bits(), "float bits of key {key:?}");
    }
}

fn check_typed(db: &Db, cases: &[(Vec<u8>, Value)]) -> TestResult {
    for (k, want) in cases {
        let got = db.get(k)?.ok_or_else(|| format!("key {k:?} is missing"))?;
        assert_eq!(got.value_type(), want.value_type(), "stored type of {k:?}");
        match want {
            Value::Bytes(b) => assert_eq!(&*got, &b[..], "raw bytes of {k:?}"),
            Value::String(s) | Value::Json(s) => assert_eq!(&*got, s.as_bytes()),
            _ => {}
        }
        assert_same_value(k, &got.to_value()?, want);
        let owned = db.get_value(k)?.ok_or_else(|| format!("get_value {k:?}"))?;
        assert_same_value(k, &owned, want);
    }
    let keys: Vec<&[u8]> = cases.iter().map(|(k, _)| &k[..]).collect();
    let many = db.mget(&keys)?;
    assert_eq!(many.len(), cases.len());
    for ((k, want), got) in cases.iter().zip(&many) {
        assert_same_value(k, got.as_ref().ok_or("mget missed a key")?, want);
    }
    Ok(())
}

#[test]
fn every_value_type_round_trips_and_survives_reopen() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let cases = typed_cases()?;
    {
        let db = Db::open(&path)?;
        for (k, v) in &cases {
            db.set(k, v.clone())?;
        }
        check_typed(&db, &cases)?;
        assert_eq!(db.len(), cases.len() as u64);
    }
    let db = Db::open(&path)?;
    check_typed(&db, &cases)?;
    assert_eq!(db.len(), cases.len() as u64);
    Ok(())
}

#[test]
fn empty_key_and_empty_value_are_ordinary() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    {
        let db = Db::open(&path)?;
        assert!(!db.exists(b"")?);
        db.set(b"", b"")?;
        assert!(db.exists(b"")?);
        assert_eq!(db.get(b"")?.as_deref(), Some(&b""[..]));
        db.set(b"empty", Vec::<u8>::new())?;
        assert_eq!(db.get_value(b"empty")?, Some(Value::Bytes(Vec::new())));
        assert_eq!(db.len(), 2);
    }
    let db = Db::open(&path)?;
    assert_eq!(db.get_value(b"")?, Some(Value::Bytes(Vec::new())));
    assert_eq!(db.get_value(b"empty")?, Some(Value::Bytes(Vec::new())));
    assert!(db.delete(b"")?);
    assert!(!db.exists(b"")?);
    Ok(())
}

#[test]
fn overwrite_replaces_value_and_type() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    db.set(b"k", 5i64)?;
    assert_eq!(db.get_value(b"k")?, Some(Value::Int(5)));
    db.set(b"k", "now a string")?;
    assert_eq!(
        db.get(b"k")?.map(|v| v.value_type()),
        Some(ValueType::String)
    );
    assert_eq!(
        db.get_value(b"k")?,
        Some(Value::String("now a string".into()))
    );
    db.set(b"k", Value::json("[1,2,3]")?)?;
    assert_eq!(db.get_value(b"k")?, Some(Value::Json("[1,2,3]".into())));
    db.set(b"k", true)?;
    assert_eq!(db.get_value(b"k")?, Some(Value::Bool(true)));
    db.set(b"k", vec![0u8, 1, 2])?;
    assert_eq!(db.get_value(b"k")?, Some(Value::Bytes(vec![0, 1, 2])));
    // A long value replaced by a short one and back: no stale bytes show through.
    db.set(b"k", vec![b'a'; 5000])?;
    db.set(b"k", b"b".to_vec())?;
    assert_eq!(db.get(b"k")?.as_deref(), Some(&b"b"[..]));
    assert_eq!(db.len(), 1);
    Ok(())
}

#[test]
fn delete_and_exists() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    {
        let db = Db::open(&path)?;
        assert!(
            !db.delete(b"never")?,
            "deleting an absent key reports false"
        );
        db.set(b"a", 1i64)?;
        db.set(b"b", 2i64)?;
        assert!(db.exists(b"a")?);
        assert!(db.delete(b"a")?, "deleting a present key reports true");
        assert!(!db.exists(b"a")?);
        assert!(db.get(b"a")?.is_none());
        assert!(!db.delete(b"a")?, "a second delete reports false");
        assert_eq!(db.len(), 1);
        db.set(b"a", 3i64)?;
        assert_eq!(db.get_value(b"a")?, Some(Value::Int(3)));
        assert!(db.delete(b"b")?);
    }
    let db = Db::open(&path)?;
    assert_eq!(db.get_value(b"a")?, Some(Value::Int(3)));
    assert!(!db.exists(b"b")?, "a delete survives reopen");
    assert_eq!(db.len(), 1);
    Ok(())
}

#[test]
fn len_and_keys_track_the_key_set() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let mut want: Vec<Vec<u8>> = Vec::new();
    {
        let db = Db::open(&path)?;
        assert_eq!(db.len(), 0);
        assert!(db.is_empty());
        assert!(db.keys()?.is_empty());
        db.transaction(|tx| {
            for i in 0..300u32 {
                tx.set(format!("key/{i}").as_bytes(), i64::from(i))?;
            }
            Ok(())
        })?;
        for i in (0..300u32).step_by(7) {
            assert!(db.delete(format!("key/{i}").as_bytes())?);
        }
        // Overwrites do not add keys.
        db.set(b"key/1", "again")?;
        for i in 0..300u32 {
            if i % 7 != 0 {
                want.push(format!("key/{i}").into_bytes());
            }
        }
        want.sort();
        let mut got = db.keys()?;
        got.sort();
        assert_eq!(got, want);
        assert_eq!(db.len(), want.len() as u64);
        assert!(!db.is_empty());
        assert_eq!(db.metrics().keys, want.len() as u64);
    }
    let db = Db::open(&path)?;
    let mut got = db.keys()?;
    got.sort();
    assert_eq!(got, want, "keys after reopen");
    assert_eq!(db.len(), want.len() as u64);
    Ok(())
}

#[test]
fn incr_by_counts_and_refuses_overflow_and_non_integers() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    assert_eq!(db.incr_by(b"n", 1)?, 1, "an absent key counts from 0");
    assert_eq!(db.incr_by(b"n", 41)?, 42);
    assert_eq!(db.incr_by(b"n", -50)?, -8);
    assert_eq!(db.get_value(b"n")?, Some(Value::Int(-8)));

    // Text holding a decimal integer counts, and the result is stored as an integer.
    db.set(b"s", "10")?;
    assert_eq!(db.incr_by(b"s", 5)?, 15);
    assert_eq!(db.get_value(b"s")?, Some(Value::Int(15)));
    db.set(b"raw", b"-7".to_vec())?;
    assert_eq!(db.incr_by(b"raw", 8)?, 1);

    db.set(b"max", i64::MAX)?;
    assert!(matches!(db.incr_by(b"max", 1), Err(Error::Overflow)));
    assert_eq!(
        db.get_value(b"max")?,
        Some(Value::Int(i64::MAX)),
        "unchanged after overflow"
    );
    db.set(b"min", i64::MIN)?;
    assert!(matches!(db.incr_by(b"min", -1), Err(Error::Overflow)));
    assert_eq!(db.get_value(b"min")?, Some(Value::Int(i64::MIN)));
    assert_eq!(db.incr_by(b"min", i64::MAX)?, -1);

    let not_ints: Vec<(&[u8], Value)> = vec![
        (b"text", Value::String("abc".into())),
        (b"plus", Value::String("+5".into())),
        (b"spaced", Value::String(" 5".into())),
        (b"empty", Value::String(String::new())),
        (b"float", Value::Float(1.0)),
        (b"bool", Value::Bool(true)),
        (b"json", Value::json("1")?),
        (b"ts", Value::Timestamp(5)),
        (b"huge", Value::String("9223372036854775808".into())),
    ];
    for (k, v) in &not_ints {
        db.set(k, v.clone())?;
        let r = db.incr_by(k, 1);
        assert!(
            matches!(r, Err(Error::NotAnInteger)),
            "incr_by on {v:?} gave {r:?}"
        );
        assert_eq!(
            db.get_value(k)?.as_ref(),
            Some(v),
            "{k:?} unchanged after a failed incr"
        );
    }
    Ok(())
}

#[test]
fn metrics_count_reads_hits_misses_and_commits() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let m0 = db.metrics();
    db.set(b"a", 1i64)?;
    db.set(b"b", 2i64)?;
    db.set(b"c", 3i64)?;
    let m1 = db.metrics();
    assert_eq!(m1.commits - m0.commits, 3, "commits");
    assert_eq!(m1.keys, 3);
    assert!(m1.live_bytes > 0);
    for k in [&b"a"[..], b"b", b"c", b"x", b"y"] {
        db.get(k)?;
    }
    let m2 = db.metrics();
    assert_eq!(m2.reads - m1.reads, 5, "reads");
    assert_eq!(m2.hits - m1.hits, 3, "hits");
    assert_eq!(m2.misses - m1.misses, 2, "misses");
    db.begin_write()?.rollback();
    assert_eq!(db.metrics().rollbacks - m2.rollbacks, 1, "rollbacks");
    assert_eq!(db.metrics().processes, 1, "only this process is attached");
    Ok(())
}

#[test]
fn oversized_keys_are_refused() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let big_key = vec![b'k'; 65_536];
    match db.set(&big_key, b"v") {
        Err(Error::KeyTooLarge { len, max }) => {
            assert_eq!(len, 65_536);
            assert_eq!(max, 65_535);
        }
        other => panic!("a 64 KiB key gave {other:?}"),
    }
    assert!(!db.exists(&big_key)?);
    let max_key = vec![b'm'; 65_535];
    db.set(&max_key, b"largest key")?;
    assert_eq!(db.get(&max_key)?.as_deref(), Some(&b"largest key"[..]));
    assert_eq!(db.keys()?, vec![max_key]);
    Ok(())
}

#[test]
fn values_and_transactions_larger_than_a_segment_commit_and_oversized_values_are_refused(
) -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .segment_size(64 << 10)
        .open(util::db_path(&tmp))?;
    // A value twice the segment size goes to a large segment (format-spec.md §3.3).
    db.set(b"big-value", vec![7u8; 128 << 10])?;
    assert_eq!(db.get(b"big-value")?.map(|v| v.len()), Some(128 << 10));

    // Each value fits, the whole transaction does not fit in a segment: it commits whole.
    db.transaction(|tx| {
        for i in 0..8 {
            tx.set(format!("part/{i}").as_bytes(), vec![1u8; 16 << 10])?;
        }
        Ok(())
    })?;
    for i in 0..8 {
        assert_eq!(
            db.get(format!("part/{i}").as_bytes())?.map(|v| v.len()),
            Some(16 << 10)
        );
    }
    // A value past 512 MiB (Redis's limit) is refused before it is built.
    let tx = db.begin_write()?;
    let r = tx.check_value_size(b"huge", (512 << 20) + 1);
    assert!(
        matches!(r, Err(Error::ValueTooLarge { .. })),
        "a value of 512 MiB + 1 gave {r:?}"
    );
    tx.rollback();
    // Still usable, and small values are fine.
    db.set(b"fits", vec![3u8; 16 << 10])?;
    assert_eq!(db.get(b"fits")?.map(|v| v.len()), Some(16 << 10));
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    Ok(())
}

#[test]
fn invalid_json_is_refused() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    assert!(matches!(Value::json("{nope"), Err(Error::InvalidJson(_))));
    let r = db.set(b"j", Value::Json("{\"a\": ".into()));
    assert!(matches!(r, Err(Error::InvalidJson(_))), "got {r:?}");
    assert!(!db.exists(b"j")?);
    db.set(b"j", Value::Json("{\"a\": 1}".into()))?;
    assert_eq!(db.get_value(b"j")?, Some(Value::Json("{\"a\": 1}".into())));
    Ok(())
}

#[test]
fn expired_keys_are_invisible() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let past = now_ms() - 60_000;
    let future = now_ms() + 3_600_000;
    {
        let db = Db::open(&path)?;
        db.set(b"old", "was here")?;
        db.transaction(|tx| {
            tx.set_with_expiry(b"gone", "expired", Some(past))?;
            tx.set_with_expiry(b"old", "expired too", Some(past))?;
            tx.set_with_expiry(b"later", "still here", Some(future))?;
            tx.set_with_expiry(b"soon", "briefly", Some(now_ms() + 1_000))?;
            tx.set_with_expiry(b"counter", 41i64, Some(past))?;
            Ok(())
        })?;
        for k in [&b"gone"[..], b"old", b"counter"] {
            assert!(db.get(k)?.is_none(), "{k:?} expired");
            assert!(!db.exists(k)?, "{k:?} expired");
            assert_eq!(db.get_value(k)?, None);
        }
        assert_eq!(
            db.mget(&[b"gone", b"later", b"old"])?,
            vec![None, Some(Value::String("still here".into())), None]
        );
        assert_eq!(
            db.get_value(b"soon")?,
            Some(Value::String("briefly".into()))
        );
        let mut tx = db.begin_write()?;
        assert_eq!(
            tx.get(b"gone")?,
            None,
            "a transaction does not see an expired key"
        );
        assert!(!tx.exists(b"old")?);
        assert_eq!(
            tx.incr_by(b"counter", 1)?,
            1,
            "an expired counter counts from 0"
        );
        tx.commit()?;
        assert_eq!(db.get_value(b"counter")?, Some(Value::Int(1)));

        std::thread::sleep(Duration::from_millis(1_300));
        assert!(db.get(b"soon")?.is_none(), "expired while open");
        db.set(b"gone", "back")?;
        assert_eq!(db.get_value(b"gone")?, Some(Value::String("back".into())));
    }
    let db = Db::open(&path)?;
    assert!(db.get(b"old")?.is_none(), "still expired after reopen");
    assert!(db.get(b"soon")?.is_none());
    assert_eq!(
        db.get_value(b"later")?,
        Some(Value::String("still here".into()))
    );
    assert_eq!(db.get_value(b"gone")?, Some(Value::String("back".into())));
    assert_eq!(db.get_value(b"counter")?, Some(Value::Int(1)));
    Ok(())
}

#[test]
fn reopen_keeps_every_commit() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    for round in 0..3u32 {
        let db = Db::open(&path)?;
        for i in 0..1000u32 {
            let want = format!("v{}", i + 1000 * (round.saturating_sub(1)));
            if round > 0 {
                assert_eq!(
                    db.get_value(format!("k{i}").as_bytes())?,
                    Some(Value::String(want)),
                    "round {round} key {i}"
                );
            }
        }
        db.transaction(|tx| {
            for i in 0..1000u32 {
                tx.set(format!("k{i}").as_bytes(), format!("v{}", i + 1000 * round))?;
            }
            Ok(())
        })?;
        assert_eq!(db.len(), 1000);
    }
    Ok(())
}
