//! One read path: every read gives the same answer through `Db`, a `Snapshot` and a
//! `WriteTxn`, with and without writes pending in the transaction.

use ziggydb::{Db, LexBound, Read, ScoreBound, SetOp, Value, ZAddFlags};

use crate::util::{self, TestResult};

/// Keys of every type, plus one that expires later, one already expired and one absent.
const KEYS: &[&[u8]] = &[
    b"bytes", b"str", b"int", b"float", b"json", b"list", b"set", b"zset", b"hash", b"later",
    b"expired", b"absent",
];

/// Far enough ahead that no read in the test reaches it.
fn later() -> u64 {
    util::now_ms() + 3_600_000
}

/// Writes one version of every key (`round` changes the data) through `tx`.
fn write_all(tx: &mut ziggydb::WriteTxn, round: u8, at: u64) -> ziggydb::Result<()> {
    let r = i64::from(round);
    tx.set(b"bytes", Value::Bytes(vec![round, 0xff, 7]))?;
    tx.set(b"str", format!("hello-{round}"))?;
    tx.set(b"int", 40 + r)?;
    tx.set(b"float", 1.5 + r as f64)?;
    tx.set(b"json", Value::Json(format!(r#"{{"a":[1,{r}],"b":"x"}}"#)))?;
    tx.list(b"list")
        .push_back(&[b"a".as_slice(), b"b", &[round], b"a"])?;
    tx.set_of(b"set").add(&[b"m1".as_slice(), &[b'm', round]])?;
    tx.zset(b"zset").add(
        ZAddFlags::default(),
        &[
            (1.0, b"one".as_slice()),
            (2.0 + r as f64, b"two"),
            (2.0, &[b'z', round]),
        ],
    )?;
    tx.hash(b"hash")
        .set(&[(b"f".as_slice(), b"v".as_slice()), (&[b'g', round], b"w")])?;
    tx.set_with_expiry(b"later", "soon", Some(at))?;
    tx.set_with_expiry(b"expired", "gone", Some(1))?;
    Ok(())
}

/// The changes a transaction makes on top of round 1: overwrites, deletes, a type change,
/// collection edits and a new key.
fn change_some(tx: &mut ziggydb::WriteTxn, at: u64) -> ziggydb::Result<()> {
    tx.delete(b"str")?;
    tx.set(b"int", "not a number any more")?;
    tx.list(b"list").push_front(&[b"front"])?;
    tx.set_of(b"set").remove(&[b"m1"])?;
    tx.zset(b"zset").incr_by(b"one", 10.0)?;
    tx.hash(b"hash").delete(&[b"f"])?;
    tx.delete(b"bytes")?;
    tx.list(b"bytes").push_back(&[b"now a list"])?;
    tx.set_with_expiry(b"absent", "new", Some(at + 1))?;
    tx.persist(b"later")?;
    Ok(())
}

/// Every read of `r` on every key, as text (errors by their message).
fn report(r: &impl Read) -> Vec<String> {
    fn show<T: std::fmt::Debug>(r: ziggydb::Result<T>) -> String {
        match r {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("error: {e}"),
        }
    }
    let inf = ScoreBound::Inclusive(f64::INFINITY);
    let ninf = ScoreBound::Inclusive(f64::NEG_INFINITY);
    let mut out = vec![
        show(r.count_existing(KEYS)),
        show(r.keys_matching("*")),
        show(r.keys_matching("*s*")),
        show(r.set_combine(SetOp::Union, &[b"set", b"absent"])),
        show(r.set_combine(SetOp::Inter, &[b"set", b"list"])),
    ];
    for &k in KEYS {
        let l = r.list_view(k);
        let s = r.set_view(k);
        let z = r.zset_view(k);
        let h = r.hash_view(k);
        let lines = [
            show(r.get(k)),
            show(r.value_type(k)),
            show(r.key_type(k)),
            show(r.exists(k)),
            show(r.expire_time(k)),
            show(r.expiry(k)),
            show(r.strlen(k)),
            show(r.get_range(k, 0, -1)),
            show(r.get_range(k, 1, 2)),
            show(r.json_get(k, &[])),
            show(r.json_get(k, &["$.a[1]"])),
            show(l.len()),
            show(l.is_empty()),
            show(l.range(0, -1)),
            show(l.range(-2, -1)),
            show(l.get(0)),
            show(l.get(-1)),
            show(l.positions(b"a", 1, 0, 0)),
            show(l.positions(b"a", -1, 1, 0)),
            show(s.len()),
            show(s.members()),
            show(s.contains(b"m1")),
            // All members (in a random order): as a sorted list.
            show(s.random(100).map(|mut m| {
                m.sort();
                m
            })),
            show(z.len()),
            show(z.range(0, -1, false)),
            show(z.range(0, 0, true)),
            show(z.score(b"one")),
            show(z.rank(b"two", false)),
            show(z.rank(b"two", true)),
            show(z.count(ninf, inf)),
            show(z.range_by_score(ScoreBound::Inclusive(2.0), inf, false, 0, -1)),
            show(z.range_by_score(ninf, inf, true, 1, 1)),
            show(z.lex_count(&LexBound::Min, &LexBound::Max)),
            show(z.range_by_lex(
                &LexBound::Inclusive(b"o".to_vec()),
                &LexBound::Max,
                false,
                0,
                -1,
            )),
            show(h.len()),
            show(h.get(b"f")),
            show(h.get_all()),
        ];
        out.extend(
            lines
                .into_iter()
                .map(|line| format!("{}: {line}", String::from_utf8_lossy(k))),
        );
    }
    out
}

/// The same reads through `Db`'s own methods (which a caller without the trait uses), on
/// the reads `Db` has.
fn db_report(db: &Db) -> Vec<String> {
    fn show<T: std::fmt::Debug>(r: ziggydb::Result<T>) -> String {
        match r {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("error: {e}"),
        }
    }
    let mut out = vec![show(db.count_existing(KEYS)), show(db.keys_matching(b"*"))];
    for &k in KEYS {
        out.extend([
            show(db.get_value(k)),
            show(db.get(k).and_then(|v| v.map(|v| v.to_value()).transpose())),
            show(db.value_type(k)),
            show(db.key_type(k)),
            show(db.exists(k)),
            show(db.expire_time(k)),
            show(db.expiry(k)),
            show(db.strlen(k)),
            show(db.get_range(k, 0, -1)),
            show(db.json_get(k, &[])),
            show(db.list(k).range(0, -1)),
            show(db.list(k).positions(b"a", 1, 0, 0)),
            show(db.set_of(k).members()),
            show(db.zset(k).range(0, -1, false)),
            show(db.hash(k).get_all()),
        ]);
    }
    out
}

/// As `db_report`, through the transaction's own methods and its write handles.
fn txn_report(tx: &mut ziggydb::WriteTxn) -> Vec<String> {
    fn show<T: std::fmt::Debug>(r: ziggydb::Result<T>) -> String {
        match r {
            Ok(v) => format!("{v:?}"),
            Err(e) => format!("error: {e}"),
        }
    }
    let mut out = vec![show(tx.count_existing(KEYS)), show(tx.keys_matching(b"*"))];
    for &k in KEYS {
        out.extend([
            show(tx.get(k)),
            show(tx.get(k)),
            show(tx.value_type(k)),
            show(tx.key_type(k)),
            show(tx.exists(k)),
            show(tx.expire_time(k)),
            show(tx.expiry(k)),
            show(tx.strlen(k)),
            show(tx.get_range(k, 0, -1)),
            show(tx.json_get(k, &[])),
            show(tx.list(k).range(0, -1)),
            show(tx.list(k).positions(b"a", 1, 0, 0)),
            show(tx.set_of(k).members()),
            show(tx.zset(k).range(0, -1, false)),
            show(tx.hash(k).get_all()),
        ]);
    }
    out
}

fn assert_same(what: &str, a: &[String], b: &[String]) {
    assert_eq!(a.len(), b.len(), "{what}: different numbers of reads");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x, y, "{what}: the read paths disagree");
    }
}

/// Every read, through `Db`, one `Snapshot`, a `WriteTxn` with nothing pending and a
/// `WriteTxn` whose pending writes are the difference to a second database, gives the same
/// answer (`Db::exists` on a list used to be `WRONGTYPE` where `WriteTxn::exists` said true).
#[test]
fn every_read_agrees_through_db_snapshot_and_transaction() -> TestResult {
    let at = later();
    let (d1, d2) = (util::tempdir(), util::tempdir());
    let db = Db::options().active_expiry(None).open(d1.path())?;
    let changed = Db::options().active_expiry(None).open(d2.path())?;
    db.transaction(|tx| write_all(tx, 1, at))?;
    changed.transaction(|tx| {
        write_all(tx, 1, at)?;
        change_some(tx, at)
    })?;

    // Nothing pending: the committed state, four ways.
    let committed = report(&db);
    assert!(
        committed.iter().any(|l| l == "list: true"),
        "EXISTS on a list is true"
    );
    assert_same("Db vs Snapshot", &committed, &db.view(|s| Ok(report(s)))?);
    let mut tx = db.begin_write()?;
    assert_same("Db vs idle WriteTxn", &committed, &report(&tx));
    assert_same(
        "Db vs idle WriteTxn (own methods)",
        &db_report(&db),
        &txn_report(&mut tx),
    );
    // Pending writes: the transaction sees what the other database committed.
    change_some(&mut tx, at)?;
    let pending = report(&tx);
    assert_same(
        "WriteTxn with pending writes vs Db",
        &pending,
        &report(&changed),
    );
    assert_same(
        "WriteTxn with pending writes vs Db (own methods)",
        &txn_report(&mut tx),
        &db_report(&changed),
    );
    assert_ne!(pending, committed, "the changes show");
    tx.rollback();
    assert_same("after rollback", &committed, &report(&db));
    Ok(())
}

/// The drifts `Db` and `WriteTxn` had, by name: `EXISTS` on a collection, `decr_by`.
#[test]
fn exists_is_true_for_a_collection_on_db_and_in_a_transaction() -> TestResult {
    let dir = util::tempdir();
    let db = Db::open(dir.path())?;
    db.transaction(|tx| tx.list(b"l").push_back(&[b"x"]))?;
    db.transaction(|tx| tx.hash(b"h").set(&[(b"f", b"v")]))?;
    for key in [&b"l"[..], b"h"] {
        assert!(db.exists(key)?, "Db::exists on a collection");
        let tx = db.begin_write()?;
        assert!(tx.exists(key)?, "WriteTxn::exists on a collection");
    }
    assert_eq!(db.count_existing(&[b"l", b"h", b"nope"])?, 2);
    assert_eq!(db.decr_by(b"n", 5)?, -5);
    Ok(())
}

/// Point reads through the one read path still count in the shared metrics, once each
/// (a read section retried because a commit landed counts only its last attempt).
#[test]
fn db_point_reads_are_counted_once() -> TestResult {
    let dir = util::tempdir();
    let db = Db::options().active_expiry(None).open(dir.path())?;
    db.set(b"k", 1i64)?;
    let before = db.metrics();
    db.exists(b"k")?;
    db.get_value(b"k")?;
    db.strlen(b"nope")?;
    db.view(|s| {
        s.get("k")?;
        s.exists("nope")
    })?;
    let after = db.metrics();
    assert_eq!(after.reads - before.reads, 5);
    assert_eq!(after.hits - before.hits, 3);
    assert_eq!(after.misses - before.misses, 2);
    Ok(())
}
