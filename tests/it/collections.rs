//! Lists, sets, sorted sets and hashes: Redis's semantics through the library, rollback,
//! binary-safe members, a 100,000-member sorted set checked against a model, the `ziggy`
//! binary answering collection commands on a pipe, and four processes writing the same
//! collections at once.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use ziggydb::{Db, Durability, Error, LexBound, ScoreBound, SetOp, Value, ZAddFlags};

use crate::util::{self, child_param, child_role, report, Child, Rng, TestResult};

fn open(tmp: &tempfile::TempDir) -> TestResult<Db> {
    Ok(Db::open(util::db_path(tmp))?)
}

fn strings(items: &[Vec<u8>]) -> Vec<String> {
    items
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

fn members(items: &[(Vec<u8>, f64)]) -> Vec<String> {
    items
        .iter()
        .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Lists

#[test]
fn list_indexes_count_from_either_end() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        let mut l = tx.list(b"l");
        assert_eq!(l.push_back(&["c", "d", "e"])?, 3);
        // LPUSH inserts one after the other: the last value ends up first.
        assert_eq!(l.push_front(&["b", "a"])?, 5);
        Ok(())
    })?;
    let l = db.list(b"l");
    assert_eq!(strings(&l.range(0, -1)?), ["a", "b", "c", "d", "e"]);
    assert_eq!(strings(&l.range(-2, -1)?), ["d", "e"]);
    assert_eq!(strings(&l.range(-100, 1)?), ["a", "b"]);
    assert_eq!(strings(&l.range(3, 100)?), ["d", "e"]);
    assert!(l.range(3, 2)?.is_empty());
    assert!(l.range(5, 10)?.is_empty());
    assert!(l.range(-1, -2)?.is_empty());
    assert_eq!(l.get(-1)?.as_deref(), Some(&b"e"[..]));
    assert_eq!(l.get(-5)?.as_deref(), Some(&b"a"[..]));
    assert_eq!(l.get(-6)?, None);
    assert_eq!(l.get(5)?, None);

    db.transaction(|tx| {
        let mut l = tx.list(b"l");
        l.set(-1, b"E")?;
        assert!(matches!(l.set(5, b"x"), Err(Error::IndexOutOfRange)));
        assert!(matches!(l.set(-6, b"x"), Err(Error::IndexOutOfRange)));
        assert_eq!(l.insert(true, b"c", b"b2")?, 6);
        assert_eq!(l.insert(false, b"E", b"f")?, 7);
        assert_eq!(l.insert(true, b"nope", b"x")?, -1);
        Ok(())
    })?;
    assert_eq!(
        strings(&db.list(b"l").range(0, -1)?),
        ["a", "b", "b2", "c", "d", "E", "f"]
    );
    db.transaction(|tx| {
        assert!(matches!(
            tx.list(b"nope").set(0, b"x"),
            Err(Error::NoSuchKey)
        ));
        assert_eq!(tx.list(b"nope").insert(true, b"a", b"x")?, 0);
        tx.list(b"l").trim(1, -2)
    })?;
    assert_eq!(
        strings(&db.list(b"l").range(0, -1)?),
        ["b", "b2", "c", "d", "E"]
    );
    Ok(())
}

#[test]
fn list_pops_removals_and_positions() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        let mut l = tx.list(b"l");
        l.push_back(&["x", "a", "x", "b", "x", "c", "x"])?;
        // From the head, from the tail, then all.
        assert_eq!(l.remove(1, b"x")?, 1);
        assert_eq!(l.remove(-2, b"x")?, 2);
        assert_eq!(strings(&l.range(0, -1)?), ["a", "x", "b", "c"]);
        assert_eq!(l.remove(0, b"x")?, 1);
        assert_eq!(l.remove(0, b"nope")?, 0);
        l.push_back(&["a", "b", "a"])?;
        // a b c a b a
        assert_eq!(l.positions(b"a", 1, 0, 0)?, [0, 3, 5]);
        assert_eq!(l.positions(b"a", 2, 1, 0)?, [3]);
        assert_eq!(l.positions(b"a", -1, 2, 0)?, [5, 3]);
        assert_eq!(l.positions(b"a", 1, 0, 3)?, [0]);
        assert_eq!(l.positions(b"a", -1, 0, 2)?, [5]);
        assert!(l.positions(b"z", 1, 0, 0)?.is_empty());
        assert!(matches!(
            l.positions(b"a", 0, 0, 0),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(strings(&l.pop_front(2)?), ["a", "b"]);
        assert_eq!(strings(&l.pop_back(2)?), ["a", "b"]);
        assert!(l.pop_back(0)?.is_empty());
        assert_eq!(strings(&l.pop_back(10)?), ["a", "c"]);
        assert!(l.pop_front(1)?.is_empty());
        Ok(())
    })?;
    assert!(!db.exists(b"l")?, "an emptied list disappears");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sets

#[test]
fn set_membership_and_combinations() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        assert_eq!(tx.set_of(b"a").add(&["1", "2", "3", "2"])?, 3);
        assert_eq!(tx.set_of(b"b").add(&["2", "3", "4"])?, 3);
        assert_eq!(tx.set_of(b"c").add(&["3", "5"])?, 2);
        assert_eq!(tx.set_of(b"a").remove(&["1", "9"])?, 1);
        assert_eq!(tx.set_of(b"a").add(&["1"])?, 1);
        Ok(())
    })?;
    let sets: [&[u8]; 3] = [b"a", b"b", b"c"];
    assert_eq!(strings(&db.set_combine(SetOp::Inter, &sets)?), ["3"]);
    assert_eq!(
        strings(&db.set_combine(SetOp::Union, &sets)?),
        ["1", "2", "3", "4", "5"]
    );
    assert_eq!(strings(&db.set_combine(SetOp::Diff, &sets)?), ["1"]);
    // A missing key is an empty set.
    assert!(db.set_combine(SetOp::Inter, &[b"a", b"nope"])?.is_empty());
    assert!(db.set_combine(SetOp::Diff, &[b"nope", b"a"])?.is_empty());
    assert_eq!(db.set_of(b"a").len()?, 3);
    assert!(db.set_of(b"a").contains(b"2")?);
    assert!(!db.set_of(b"a").contains(b"4")?);

    db.transaction(|tx| {
        assert_eq!(tx.set_combine_store(SetOp::Union, b"u", &sets)?, 5);
        // The destination may be a source, and is replaced whatever it held.
        tx.set(b"str", "text")?;
        assert_eq!(tx.set_combine_store(SetOp::Diff, b"str", &[b"u", b"b"])?, 2);
        assert_eq!(tx.set_combine_store(SetOp::Inter, b"u", &[b"u", b"c"])?, 2);
        assert_eq!(
            tx.set_combine_store(SetOp::Inter, b"gone", &[b"a", b"nope"])?,
            0
        );
        Ok(())
    })?;
    assert_eq!(strings(&db.set_of(b"u").members()?), ["3", "5"]);
    assert_eq!(strings(&db.set_of(b"str").members()?), ["1", "5"]);
    assert!(!db.exists(b"gone")?);
    Ok(())
}

#[test]
fn set_random_members_and_pop() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let all: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    db.transaction(|tx| {
        tx.set_of(b"s").add(&all)?;
        let s = tx.set_of(b"s");
        let distinct = s.random(5)?;
        assert_eq!(distinct.len(), 5);
        let mut dedup = distinct.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), 5, "a positive count gives distinct members");
        assert_eq!(s.random(100)?.len(), 20, "at most every member");
        assert_eq!(s.random(-50)?.len(), 50, "a negative count may repeat");
        assert!(s.random(0)?.is_empty());
        Ok(())
    })?;
    let popped = db.transaction(|tx| tx.set_of(b"s").pop(15))?;
    assert_eq!(popped.len(), 15);
    let left = db.set_of(b"s").members()?;
    assert_eq!(left.len(), 5);
    let mut together: Vec<String> = strings(&popped);
    together.extend(strings(&left));
    together.sort();
    assert_eq!(together, all, "popped and left partition the set");
    db.transaction(|tx| tx.set_of(b"s").pop(10))?;
    assert!(!db.exists(b"s")?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Sorted sets

#[test]
fn sorted_set_ties_are_ordered_by_member_bytes() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        let items: [(f64, &[u8]); 7] = [
            (1.0, b"b"),
            (1.0, b"a"),
            (1.0, b"B"),
            (1.0, b"ab"),
            (0.0, b"z"),
            (-0.0, b"y"),
            (2.0, b"\x00"),
        ];
        assert_eq!(tx.zset(b"z").add(ZAddFlags::default(), &items)?, 7);
        Ok(())
    })?;
    let z = db.zset(b"z");
    // -0 sorts as 0.
    assert_eq!(
        members(&z.range(0, -1, false)?),
        ["y", "z", "B", "a", "ab", "b", "\0"]
    );
    assert_eq!(
        members(&z.range(0, -1, true)?),
        ["\0", "b", "ab", "a", "B", "z", "y"]
    );
    assert_eq!(z.rank(b"ab", false)?, Some(4));
    assert_eq!(z.rank(b"ab", true)?, Some(2));
    assert_eq!(z.rank(b"nope", false)?, None);
    assert_eq!(members(&z.range(-2, -1, false)?), ["b", "\0"]);
    assert_eq!(members(&z.range(0, 0, true)?), ["\0"]);
    Ok(())
}

#[test]
fn sorted_set_score_bounds_and_limits() -> TestResult {
    use ScoreBound::{Exclusive as Ex, Inclusive as In};
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let items: Vec<(f64, String)> = vec![
        (f64::NEG_INFINITY, "ninf".into()),
        (-1.5, "neg".into()),
        (0.0, "zero".into()),
        (1.0, "one-a".into()),
        (1.0, "one-b".into()),
        (2.0, "two".into()),
        (f64::INFINITY, "inf".into()),
    ];
    db.transaction(|tx| tx.zset(b"z").add(ZAddFlags::default(), &items))?;
    let z = db.zset(b"z");
    let by = |min, max, rev, offset, limit| -> TestResult<Vec<String>> {
        Ok(members(&z.range_by_score(min, max, rev, offset, limit)?))
    };
    let inf = f64::INFINITY;
    assert_eq!(
        by(In(1.0), In(2.0), false, 0, -1)?,
        ["one-a", "one-b", "two"]
    );
    assert_eq!(by(Ex(1.0), In(2.0), false, 0, -1)?, ["two"]);
    assert_eq!(by(In(0.0), Ex(1.0), false, 0, -1)?, ["zero"]);
    assert_eq!(by(Ex(0.0), Ex(2.0), false, 0, -1)?, ["one-a", "one-b"]);
    assert_eq!(by(In(-inf), In(inf), false, 0, -1)?.len(), 7);
    assert_eq!(by(Ex(-inf), Ex(inf), false, 0, -1)?.len(), 5);
    assert!(by(In(2.0), In(1.0), false, 0, -1)?.is_empty());
    assert!(by(Ex(1.0), Ex(1.0), false, 0, -1)?.is_empty());
    // LIMIT offset count, forwards and backwards.
    assert_eq!(
        by(In(-inf), In(inf), false, 2, 3)?,
        ["zero", "one-a", "one-b"]
    );
    assert_eq!(by(In(-inf), In(inf), true, 1, 2)?, ["two", "one-b"]);
    assert_eq!(by(In(-inf), In(inf), false, 5, -1)?, ["two", "inf"]);
    assert!(by(In(-inf), In(inf), false, 7, -1)?.is_empty());
    assert!(by(In(-inf), In(inf), false, 0, 0)?.is_empty());
    assert_eq!(z.count(Ex(-1.5), In(1.0))?, 3);
    assert_eq!(z.count(In(-inf), In(inf))?, 7);
    assert_eq!(z.count(Ex(2.0), Ex(inf))?, 0);

    db.transaction(|tx| {
        let mut z = tx.zset(b"z");
        assert_eq!(z.remove_range_by_score(Ex(-inf), Ex(1.0))?, 2);
        assert_eq!(z.remove_range_by_rank(-2, -1)?, 2);
        assert_eq!(z.remove_range_by_rank(5, 10)?, 0);
        Ok(())
    })?;
    assert_eq!(
        members(&db.zset(b"z").range(0, -1, false)?),
        ["ninf", "one-a", "one-b"]
    );
    Ok(())
}

#[test]
fn sorted_set_lexicographic_ranges() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let items: Vec<(f64, &str)> = ["a", "aa", "ab", "b", "ba", "c"]
        .into_iter()
        .map(|m| (0.0, m))
        .collect();
    db.transaction(|tx| tx.zset(b"z").add(ZAddFlags::default(), &items))?;
    let z = db.zset(b"z");
    let inc = |s: &str| LexBound::Inclusive(s.as_bytes().to_vec());
    let exc = |s: &str| LexBound::Exclusive(s.as_bytes().to_vec());
    let lex = |min: LexBound, max: LexBound, rev, offset, limit| -> TestResult<Vec<String>> {
        Ok(members(&z.range_by_lex(&min, &max, rev, offset, limit)?))
    };
    assert_eq!(lex(LexBound::Min, LexBound::Max, false, 0, -1)?.len(), 6);
    assert_eq!(lex(inc("aa"), exc("b"), false, 0, -1)?, ["aa", "ab"]);
    assert_eq!(lex(exc("a"), inc("b"), false, 0, -1)?, ["aa", "ab", "b"]);
    assert_eq!(lex(LexBound::Min, exc("aa"), false, 0, -1)?, ["a"]);
    assert_eq!(lex(inc("b"), LexBound::Max, true, 0, 2)?, ["c", "ba"]);
    assert_eq!(lex(LexBound::Min, LexBound::Max, false, 2, 2)?, ["ab", "b"]);
    assert!(lex(LexBound::Max, LexBound::Min, false, 0, -1)?.is_empty());
    assert!(lex(exc("b"), exc("b"), false, 0, -1)?.is_empty());
    Ok(())
}

/// What `ZADD` with `flags` does to a member whose score is `old` when given `new`: the score
/// afterwards and whether the member counts in the reply, as Redis documents the options.
fn zadd_model(flags: ZAddFlags, old: Option<f64>, new: f64) -> (Option<f64>, bool) {
    match old {
        None if flags.xx => (None, false),
        None => (Some(new), true),
        Some(o) => {
            let refused = flags.nx || (flags.gt && new <= o) || (flags.lt && new >= o);
            if !refused && new != o {
                (Some(new), flags.ch)
            } else {
                (Some(o), false)
            }
        }
    }
}

#[test]
fn zadd_flags_in_every_combination() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    // Members "up", "down", "same" start at 5; "new" does not exist.
    let cases: [(&[u8], Option<f64>, f64); 4] = [
        (b"new", None, 1.0),
        (b"up", Some(5.0), 7.0),
        (b"down", Some(5.0), 3.0),
        (b"same", Some(5.0), 5.0),
    ];
    let mut tried = 0;
    for bits in 0u8..32 {
        let flags = ZAddFlags {
            nx: bits & 1 != 0,
            xx: bits & 2 != 0,
            gt: bits & 4 != 0,
            lt: bits & 8 != 0,
            ch: bits & 16 != 0,
        };
        let key = format!("z{bits}");
        let conflicting = flags.nx && (flags.xx || flags.gt || flags.lt) || flags.gt && flags.lt;
        let result = db.transaction(|tx| {
            let start: [(f64, &[u8]); 3] = [(5.0, b"up"), (5.0, b"down"), (5.0, b"same")];
            tx.zset(key.as_bytes()).add(ZAddFlags::default(), &start)?;
            let items: Vec<(f64, &[u8])> = cases.iter().map(|(m, _, s)| (*s, *m)).collect();
            tx.zset(key.as_bytes()).add(flags, &items)
        });
        if conflicting {
            assert!(
                matches!(result, Err(Error::InvalidArgument(_))),
                "{flags:?}: {result:?}"
            );
            assert!(!db.exists(key.as_bytes())?, "a refused ZADD rolls back");
            continue;
        }
        tried += 1;
        let mut want_count = 0;
        for (member, old, new) in cases {
            let (score, counted) = zadd_model(flags, old, new);
            want_count += u64::from(counted);
            assert_eq!(
                db.zset(key.as_bytes()).score(member)?,
                score,
                "{flags:?} member {:?}",
                String::from_utf8_lossy(member)
            );
        }
        assert_eq!(result?, want_count, "{flags:?}");
    }
    assert_eq!(
        tried, 14,
        "7 valid combinations of NX, XX, GT and LT, each with and without CH"
    );
    Ok(())
}

#[test]
fn zset_increments_pops_and_nan() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        let mut z = tx.zset(b"z");
        assert_eq!(z.incr_by(b"a", 2.5)?, 2.5);
        assert_eq!(z.incr_by(b"a", -1.0)?, 1.5);
        assert_eq!(z.incr_by(b"b", f64::INFINITY)?, f64::INFINITY);
        assert!(matches!(
            z.incr_by(b"b", f64::NEG_INFINITY),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            z.add(ZAddFlags::default(), &[(f64::NAN, "c")]),
            Err(Error::NotAFloat)
        ));
        z.add(ZAddFlags::default(), &[(0.0, "c"), (9.0, "d")])?;
        Ok(())
    })?;
    let z = db.zset(b"z");
    assert_eq!(z.score(b"b")?, Some(f64::INFINITY));
    assert_eq!(members(&z.range(0, -1, false)?), ["c", "a", "d", "b"]);
    let lowest = db.transaction(|tx| tx.zset(b"z").pop(2, false))?;
    assert_eq!(lowest, [(b"c".to_vec(), 0.0), (b"a".to_vec(), 1.5)]);
    assert_eq!(members(&db.zset(b"z").range(0, -1, false)?), ["d", "b"]);
    db.transaction(|tx| tx.zset(b"z").remove(&["b", "d", "nope"]))?;
    assert!(!db.exists(b"z")?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Hashes

#[test]
fn hash_fields_and_counters() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        let mut h = tx.hash(b"h");
        assert_eq!(h.set(&[("b", "2"), ("a", "1")])?, 2);
        assert_eq!(h.set(&[("a", "10"), ("c", "3")])?, 1);
        assert!(!h.set_if_absent(b"a", b"x")?);
        assert!(h.set_if_absent(b"d", b"4")?);
        assert_eq!(h.incr_by(b"n", 5)?, 5);
        assert_eq!(h.incr_by(b"n", -7)?, -2);
        assert!(matches!(h.incr_by(b"c", i64::MAX), Err(Error::Overflow)));
        assert!(matches!(h.incr_by(b"d", 1), Ok(5)));
        h.set(&[("t", "text")])?;
        assert!(matches!(h.incr_by(b"t", 1), Err(Error::NotAnInteger)));
        assert!(matches!(h.incr_by_float(b"t", 1.0), Err(Error::NotAFloat)));
        assert_eq!(h.incr_by_float(b"f", 0.5)?, 0.5);
        assert_eq!(h.incr_by_float(b"f", 2.0)?, 2.5);
        assert_eq!(h.delete(&["t", "nope"])?, 1);
        Ok(())
    })?;
    let h = db.hash(b"h");
    assert_eq!(h.len()?, 6);
    assert_eq!(h.get(b"a")?.as_deref(), Some(&b"10"[..]));
    assert_eq!(h.get(b"f")?.as_deref(), Some(&b"2.5"[..]));
    assert_eq!(h.get(b"nope")?, None);
    let all: Vec<(String, String)> = h
        .get_all()?
        .into_iter()
        .map(|(f, v)| {
            (
                String::from_utf8_lossy(&f).into(),
                String::from_utf8_lossy(&v).into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("a", "10"),
        ("b", "2"),
        ("c", "3"),
        ("d", "5"),
        ("f", "2.5"),
        ("n", "-2"),
    ]
    .iter()
    .map(|(f, v)| (f.to_string(), v.to_string()))
    .collect();
    assert_eq!(all, want);
    db.transaction(|tx| tx.hash(b"h").delete(&["a", "b", "c", "d", "f", "n"]))?;
    assert!(!db.exists(b"h")?);
    assert_eq!(db.key_type(b"h")?, "none");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Across types

#[test]
fn wrong_type_both_ways() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        tx.set(b"str", "text")?;
        tx.list(b"list").push_back(&["a"])?;
        tx.set_of(b"set").add(&["a"])?;
        tx.zset(b"zset").add(ZAddFlags::default(), &[(1.0, "a")])?;
        tx.hash(b"hash").set(&[("f", "v")])?;
        Ok(())
    })?;
    for (key, ty) in [
        (&b"list"[..], "list"),
        (b"set", "set"),
        (b"zset", "zset"),
        (b"hash", "hash"),
    ] {
        assert_eq!(db.key_type(key)?, ty);
        assert!(
            matches!(db.get(key), Err(Error::WrongType { .. })),
            "GET {ty}"
        );
        let incr = db.transaction(|tx| tx.incr_by(key, 1));
        assert!(matches!(incr, Err(Error::WrongType { .. })), "INCR {ty}");
    }
    let wrong = |r: ziggydb::Result<u64>| matches!(r, Err(Error::WrongType { .. }));
    for key in [&b"str"[..], b"set", b"zset", b"hash"] {
        assert!(wrong(db.list(key).len()), "LLEN");
        assert!(wrong(db.transaction(|tx| tx.list(key).push_back(&["x"]))));
    }
    for key in [&b"str"[..], b"list", b"zset", b"hash"] {
        assert!(wrong(db.set_of(key).len()), "SCARD");
        assert!(wrong(db.transaction(|tx| tx.set_of(key).add(&["x"]))));
    }
    for key in [&b"str"[..], b"list", b"set", b"hash"] {
        assert!(wrong(db.zset(key).len()), "ZCARD");
        assert!(wrong(db.transaction(|tx| {
            tx.zset(key).add(ZAddFlags::default(), &[(1.0, "x")])
        })));
    }
    for key in [&b"str"[..], b"list", b"set", b"zset"] {
        assert!(wrong(db.hash(key).len()), "HLEN");
        assert!(wrong(db.transaction(|tx| tx.hash(key).set(&[("f", "v")]))));
    }
    assert!(matches!(
        db.set_combine(SetOp::Union, &[b"set", b"list"]),
        Err(Error::WrongType { .. })
    ));
    // A failed write left everything as it was; SET replaces a collection.
    assert_eq!(db.list(b"list").len()?, 1);
    db.set(b"list", "now a string")?;
    assert_eq!(
        db.get_value(b"list")?,
        Some(Value::String("now a string".into()))
    );
    assert!(wrong(db.list(b"list").len()));
    Ok(())
}

#[test]
fn members_are_binary_safe() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    // Every byte value alone, the empty string, and every byte value in one member.
    let mut all: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    all.push(Vec::new());
    all.push((0..=255u8).collect());
    let mut sorted = all.clone();
    sorted.sort();
    db.transaction(|tx| {
        tx.list(b"l").push_back(&all)?;
        assert_eq!(tx.set_of(b"s").add(&all)?, 258);
        let scored: Vec<(f64, &[u8])> = all.iter().map(|m| (0.0, m.as_slice())).collect();
        assert_eq!(tx.zset(b"z").add(ZAddFlags::default(), &scored)?, 258);
        let pairs: Vec<(&[u8], &[u8])> = all.iter().map(|m| (m.as_slice(), m.as_slice())).collect();
        assert_eq!(tx.hash(b"h").set(&pairs)?, 258);
        Ok(())
    })?;
    assert_eq!(db.list(b"l").range(0, -1)?, all);
    assert_eq!(db.set_of(b"s").members()?, sorted);
    let z: Vec<Vec<u8>> = db
        .zset(b"z")
        .range(0, -1, false)?
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(z, sorted, "equal scores order by bytes, 0x00 to 0xff");
    for m in &all {
        assert!(db.set_of(b"s").contains(m)?);
        assert_eq!(db.hash(b"h").get(m)?.as_ref(), Some(m));
        assert_eq!(db.zset(b"z").score(m)?, Some(0.0));
        assert_eq!(
            db.zset(b"z").rank(m, false)?,
            sorted.iter().position(|x| x == m).map(|p| p as u64)
        );
    }
    let lex = db.zset(b"z").range_by_lex(
        &LexBound::Exclusive(vec![0x7f]),
        &LexBound::Inclusive(vec![0x81]),
        false,
        0,
        -1,
    )?;
    let lex: Vec<Vec<u8>> = lex.into_iter().map(|(m, _)| m).collect();
    assert_eq!(lex, [vec![0x80], vec![0x81]]);
    // The members survive a reopen.
    drop(db);
    let db = open(&tmp)?;
    assert_eq!(db.set_of(b"s").members()?, sorted);
    assert_eq!(db.list(b"l").get(-1)?, all.last().cloned());
    Ok(())
}

#[test]
fn rollback_leaves_collections_as_they_were() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        tx.list(b"l").push_back(&["a", "b"])?;
        tx.set_of(b"s").add(&["a"])?;
        tx.zset(b"z").add(ZAddFlags::default(), &[(1.0, "a")])?;
        tx.hash(b"h").set(&[("f", "1")])?;
        Ok(())
    })?;
    let mut tx = db.begin_write()?;
    tx.list(b"l").pop_front(2)?;
    tx.list(b"new").push_back(&["x"])?;
    tx.set_of(b"s").add(&["b", "c"])?;
    tx.zset(b"z").incr_by(b"a", 10.0)?;
    tx.zset(b"z").remove(&["a"])?;
    tx.hash(b"h").incr_by(b"f", 5)?;
    tx.delete(b"h")?;
    assert!(!tx.exists(b"l")?, "the transaction sees its own pops");
    tx.rollback();
    // A transaction dropped without commit rolls back too.
    {
        let mut tx = db.begin_write()?;
        tx.set_of(b"s").remove(&["a"])?;
        tx.rename_key(b"z", b"z2")?;
    }
    // A failed closure rolls back the writes it made before failing.
    let failed = db.transaction(|tx| {
        tx.list(b"l").push_back(&["c"])?;
        tx.hash(b"h").incr_by(b"f", i64::MAX)
    });
    assert!(matches!(failed, Err(Error::Overflow)));
    assert_eq!(strings(&db.list(b"l").range(0, -1)?), ["a", "b"]);
    assert!(!db.exists(b"new")?);
    assert_eq!(strings(&db.set_of(b"s").members()?), ["a"]);
    assert_eq!(db.zset(b"z").score(b"a")?, Some(1.0));
    assert!(!db.exists(b"z2")?);
    assert_eq!(db.hash(b"h").get(b"f")?.as_deref(), Some(&b"1"[..]));
    assert!(db.check()?.is_ok());
    Ok(())
}

#[test]
fn collections_keep_their_expiry_and_expire() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    db.transaction(|tx| {
        tx.list(b"long").push_back(&["a"])?;
        tx.set_expiry(b"long", Some(now + 3_600_000))?;
        tx.set_of(b"short").add(&["a"])?;
        tx.set_expiry(b"short", Some(now + 50))?;
        Ok(())
    })?;
    db.transaction(|tx| {
        tx.list(b"long").push_back(&["b"])?;
        tx.set_of(b"short").add(&["b"])
    })?;
    assert_eq!(
        db.expiry(b"long")?,
        Some(now + 3_600_000),
        "a push keeps the TTL"
    );
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(
        db.set_of(b"short").len()?,
        0,
        "an expired set reads as absent"
    );
    assert_eq!(db.transaction(|tx| tx.set_of(b"short").add(&["c"]))?, 1);
    assert_eq!(db.expiry(b"short")?, None, "a new set has no TTL");
    assert_eq!(strings(&db.set_of(b"short").members()?), ["c"]);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Size: a 100,000-member sorted set against a model

#[test]
fn large_sorted_set_matches_a_model() -> TestResult {
    const N: usize = 100_000;
    let tmp = util::tempdir();
    let db = Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(10),
        })
        .open(util::db_path(&tmp))?;
    let mut rng = Rng::from_env("large_sorted_set_matches_a_model");
    // Few distinct scores, so most members tie and order by member bytes.
    let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
    let mut items: Vec<(f64, Vec<u8>)> = Vec::with_capacity(N);
    while model.len() < N {
        let member = format!("m{:08x}", rng.next_u64() as u32).into_bytes();
        let score = rng.range(0, 500) as f64 / 4.0 - 50.0;
        // A member drawn twice keeps its first score, as in `items`.
        if !model.contains_key(&member) {
            model.insert(member.clone(), score);
            items.push((score, member));
        }
    }
    for chunk in items.chunks(5_000) {
        db.transaction(|tx| tx.zset(b"big").add(ZAddFlags::default(), chunk))?;
    }
    let mut order: Vec<(f64, Vec<u8>)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));

    let z = db.zset(b"big");
    assert_eq!(z.len()?, N as u64);
    for _ in 0..200 {
        let rank = rng.range(0, N as u64) as usize;
        let (score, member) = &order[rank];
        assert_eq!(
            z.rank(member, false)?,
            Some(rank as u64),
            "rank of {member:?}"
        );
        assert_eq!(z.rank(member, true)?, Some((N - 1 - rank) as u64));
        assert_eq!(z.score(member)?, Some(*score));
    }
    assert_eq!(z.score(b"absent")?, None);
    let expect = |from: usize, n: usize| -> Vec<(Vec<u8>, f64)> {
        order[from..from + n]
            .iter()
            .map(|(s, m)| (m.clone(), *s))
            .collect()
    };
    for start in [0, 1, 4_999, 5_000, 50_000, N - 10] {
        let stop = (start + 9) as i64;
        assert_eq!(
            z.range(start as i64, stop, false)?,
            expect(start, 10),
            "range at {start}"
        );
    }
    assert_eq!(z.range(-10, -1, false)?, expect(N - 10, 10));
    let mut top = expect(N - 3, 3);
    top.reverse();
    assert_eq!(z.range(0, 2, true)?, top);
    // Score windows with exclusive bounds and LIMIT.
    for (lo, hi) in [(-50.0, -49.0), (0.0, 0.25), (12.5, 20.0), (74.0, 80.0)] {
        let inside: Vec<(Vec<u8>, f64)> = order
            .iter()
            .filter(|(s, _)| *s > lo && *s <= hi)
            .map(|(s, m)| (m.clone(), *s))
            .collect();
        let got = z.range_by_score(
            ScoreBound::Exclusive(lo),
            ScoreBound::Inclusive(hi),
            false,
            0,
            -1,
        )?;
        assert_eq!(got, inside, "({lo} {hi}");
        assert_eq!(
            z.count(ScoreBound::Exclusive(lo), ScoreBound::Inclusive(hi))?,
            inside.len() as u64
        );
        let page = z.range_by_score(
            ScoreBound::Exclusive(lo),
            ScoreBound::Inclusive(hi),
            false,
            7,
            5,
        )?;
        assert_eq!(
            page,
            inside.iter().skip(7).take(5).cloned().collect::<Vec<_>>()
        );
    }
    // Removing a slice of ranks keeps ranks and counts right around it.
    let removed = db.transaction(|tx| tx.zset(b"big").remove_range_by_rank(1_000, 1_999))?;
    assert_eq!(removed, 1_000);
    order.drain(1_000..2_000);
    let z = db.zset(b"big");
    assert_eq!(z.len()?, (N - 1_000) as u64);
    for rank in [0, 999, 1_000, 1_001, 50_000, N - 1_001] {
        assert_eq!(z.rank(&order[rank].1, false)?, Some(rank as u64));
    }
    assert!(db.check()?.is_ok());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The `ziggy` binary on a pipe

/// Runs `ziggy` on `dir` with `script` on standard input and returns standard output.
fn ziggy(dir: &std::path::Path, extra: &[&str], script: &str) -> TestResult<String> {
    let mut proc = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    proc.stdin
        .take()
        .ok_or("stdin is piped")?
        .write_all(script.as_bytes())?;
    let out = proc.wait_with_output()?;
    assert!(
        out.status.success(),
        "ziggy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn ziggy_binary_prints_collection_replies_like_redis_cli() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    // Each command with the raw output redis-cli prints for it (a pipe: no annotations,
    // array elements one per line, nil as an empty line, an empty line after an error).
    let session: &[(&str, &str)] = &[
        ("RPUSH l a b c", "3"),
        ("LPUSH l z", "4"),
        ("LRANGE l 0 -1", "z\na\nb\nc"),
        ("LRANGE l -2 -1", "b\nc"),
        ("LINDEX l 9", ""),
        ("LSET l 9 x", "ERR index out of range\n"),
        ("LPOS l b", "2"),
        ("LPOP l 2", "z\na"),
        ("RPOP l", "c"),
        ("LLEN l", "1"),
        ("SADD s b a c a", "3"),
        ("SMEMBERS s", "a\nb\nc"),
        ("SMISMEMBER s a x", "1\n0"),
        ("SINTERSTORE d s nope", "0"),
        ("ZADD z 1 a 2 b 2 c 1.5 \"x y\"", "4"),
        ("ZRANGE z 0 -1 WITHSCORES", "a\n1\nx y\n1.5\nb\n2\nc\n2"),
        ("ZRANGE z (1 +inf BYSCORE LIMIT 1 2", "b\nc"),
        ("ZREVRANGE z 0 0", "c"),
        (
            "ZADD z NX XX 1 a",
            "ERR XX and NX options at the same time are not compatible\n",
        ),
        ("ZADD z GT CH 0 a 3 b", "1"),
        ("ZADD z INCR 0.25 a", "1.25"),
        ("ZSCORE z nope", ""),
        ("ZCOUNT z -inf (2", "2"),
        ("ZRANK z b", "3"),
        ("ZPOPMAX z", "b\n3"),
        ("HSET h f 1 g 2", "2"),
        ("HINCRBY h f 41", "42"),
        ("HINCRBYFLOAT h g 0.5", "2.5"),
        ("HGETALL h", "f\n42\ng\n2.5"),
        ("HMGET h f nope", "42\n"),
        ("SET str v", "OK"),
        (
            "LPUSH str x",
            "WRONGTYPE Operation against a key holding the wrong kind of value\n",
        ),
        (
            "GET h",
            "WRONGTYPE Operation against a key holding the wrong kind of value\n",
        ),
        (
            "ZRANGE z 0 1 LIMIT 0 1",
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\n",
        ),
        (
            "HSET h f",
            "ERR wrong number of arguments for 'hset' command\n",
        ),
        ("MULTI", "OK"),
        ("SADD s d", "QUEUED"),
        ("SCARD s", "QUEUED"),
        ("EXEC", "1\n4"),
        ("BEGIN", "OK"),
        ("RPUSH l tmp", "2"),
        ("ROLLBACK", "OK"),
        ("LRANGE l 0 -1", "b"),
        ("TYPE z", "zset"),
    ];
    let script: String = session.iter().map(|(cmd, _)| format!("{cmd}\n")).collect();
    let want: String = session.iter().map(|(_, out)| format!("{out}\n")).collect();
    let got = ziggy(&dir, &[], &script)?;
    assert_eq!(got, want, "replies to:\n{script}");

    // The annotated format tells a nil array from an empty one.
    let tty = ziggy(
        &dir,
        &["--no-raw"],
        "LPOP nope 1\nLPOP l 0\nSPOP nope 1\nZSCORE z a\nLPOS l b COUNT 0\n",
    )?;
    assert_eq!(
        tty,
        "(nil)\n(empty array)\n(empty array)\n\"1.25\"\n1) (integer) 0\n"
    );
    // A second process sees what the first one wrote.
    let db = Db::open(&dir)?;
    assert_eq!(db.zset(b"z").score(b"a")?, Some(1.25));
    assert_eq!(db.hash(b"h").get(b"f")?.as_deref(), Some(&b"42"[..]));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Four processes on the same collections

const PROCS: u64 = 4;
const ROUNDS: u64 = 200;
const LONG: Duration = Duration::from_secs(120);

#[test]
fn child_collection_writer() {
    let Some(dir) = child_role("collection-writer") else {
        return;
    };
    let id: u64 = child_param("ZIGGY_ID");
    let db = Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(10),
        })
        .open(&dir)
        .expect("open");
    report("READY");
    assert_eq!(util::read_command().as_deref(), Some("go"));
    for i in 0..ROUNDS {
        db.transaction(|tx| {
            let mine = format!("{id}:{i}");
            tx.list(b"mp:list").push_front(&[&mine])?;
            tx.hash(b"mp:hash")
                .incr_by(b"total", (id * 1000 + i) as i64)?;
            tx.hash(b"mp:hash")
                .incr_by(format!("p{id}").as_bytes(), 1)?;
            tx.zset(b"mp:zset").incr_by(b"shared", 0.5)?;
            tx.zset(b"mp:zset")
                .incr_by(format!("p{id}").as_bytes(), 1.0)?;
            // Ten members every process adds, and one of its own per round.
            tx.set_of(b"mp:set")
                .add(&[mine, format!("common:{}", i % 10)])?;
            Ok(())
        })
        .expect("a transaction");
    }
    report("PASS");
}

#[test]
fn four_processes_update_shared_collections_without_losing_any() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    let mut children: Vec<Child> = (0..PROCS)
        .map(|id| {
            Child::spawn(
                "collections::child_collection_writer",
                "collection-writer",
                &dir,
                &[("ZIGGY_ID", id.to_string())],
            )
        })
        .collect();
    for c in &mut children {
        c.expect("READY", LONG);
    }
    for c in &mut children {
        c.send("go");
    }
    // Meanwhile the list only ever grows, and each read is one committed state.
    let mut last = 0;
    while children.iter_mut().any(|c| c.try_status().is_none()) {
        let len = db.list(b"mp:list").len()?;
        assert!(len >= last, "LLEN went from {last} to {len}");
        last = len;
        std::thread::sleep(Duration::from_millis(2));
    }
    for c in &mut children {
        c.wait_success(LONG);
        assert!(c.drain().iter().any(|l| l == "PASS"), "{} passed", c.name());
    }

    let n = PROCS * ROUNDS;
    assert_eq!(db.list(b"mp:list").len()?, n);
    let total: u64 = (0..PROCS)
        .flat_map(|id| (0..ROUNDS).map(move |i| id * 1000 + i))
        .sum();
    let hash = db.hash(b"mp:hash");
    assert_eq!(hash.get(b"total")?, Some(total.to_string().into_bytes()));
    let zset = db.zset(b"mp:zset");
    assert_eq!(zset.score(b"shared")?, Some(n as f64 * 0.5));
    for id in 0..PROCS {
        let p = format!("p{id}");
        assert_eq!(
            hash.get(p.as_bytes())?,
            Some(ROUNDS.to_string().into_bytes())
        );
        assert_eq!(zset.score(p.as_bytes())?, Some(ROUNDS as f64));
    }
    assert_eq!(db.set_of(b"mp:set").len()?, n + 10);
    // LPUSH prepends, so each process's elements appear newest first, none lost or repeated.
    let list = strings(&db.list(b"mp:list").range(0, -1)?);
    for id in 0..PROCS {
        let prefix = format!("{id}:");
        let mine: Vec<&String> = list.iter().filter(|e| e.starts_with(&prefix)).collect();
        let want: Vec<String> = (0..ROUNDS).rev().map(|i| format!("{id}:{i}")).collect();
        assert_eq!(
            mine,
            want.iter().collect::<Vec<_>>(),
            "elements of process {id}"
        );
    }
    assert!(db.check()?.is_ok());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The newer commands through `ziggy`, and scans while another process writes

#[test]
fn ziggy_binary_runs_the_newer_collection_commands() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let session: &[(&str, &str)] = &[
        ("LPUSHX l a", "0"),
        ("RPUSH l m", "1"),
        ("LPUSHX l a", "2"),
        ("RPUSHX l z", "3"),
        ("SADD s a b", "2"),
        ("SMOVE s t a", "1"),
        ("SINTERCARD 2 s t", "0"),
        ("SSCAN t 0", "0\na"),
        ("ZADD z1 1 a 2 b", "2"),
        ("ZADD z2 3 b 4 c", "2"),
        ("ZUNION 2 z1 z2 WITHSCORES", "a\n1\nc\n4\nb\n5"),
        ("ZINTER 2 z1 z2 AGGREGATE MAX WITHSCORES", "b\n3"),
        ("ZDIFF 2 z1 z2", "a"),
        ("ZUNIONSTORE u 2 z1 t WEIGHTS 2 10", "2"),
        ("ZRANGE u 0 -1 WITHSCORES", "b\n4\na\n12"),
        ("ZINTERCARD 2 z1 z2 LIMIT 5", "1"),
        ("ZRANK z2 c WITHSCORE", "1\n4"),
        ("ZADD lex 0 a 0 b 0 c", "3"),
        ("ZREMRANGEBYLEX lex [b +", "2"),
        ("HSET h f v", "1"),
        ("HSCAN h 0 MATCH f*", "0\nf\nv"),
        ("ZSCAN z1 0 MATCH a", "0\na\n1"),
        (
            "ZUNION 0 z1",
            "ERR at least 1 input key is needed for 'zunion' command\n",
        ),
        ("SSCAN t x", "ERR invalid cursor\n"),
    ];
    let script: String = session.iter().map(|(cmd, _)| format!("{cmd}\n")).collect();
    let want: String = session.iter().map(|(_, out)| format!("{out}\n")).collect();
    assert_eq!(ziggy(&dir, &[], &script)?, want, "replies to:\n{script}");
    Ok(())
}

/// Members every scan must return, and the churn the writer adds and removes around them.
const SCAN_KEEP: usize = 1500;
const SCAN_CHURN: usize = 40;

#[test]
fn child_scan_churner() {
    let Some(dir) = child_role("scan-churner") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    let mut round = 0u64;
    let mut first = true;
    while !db.exists(b"sc:stop").expect("a read") {
        db.transaction(|tx| {
            // Every other round adds a batch of members, the next removes it again, so the
            // count goes up and down between pages; each member sorts next to a kept one,
            // in member order as in hash order. Kept members' values and scores change too.
            let batch = round - round % 2;
            let churn: Vec<String> = (0..SCAN_CHURN as u64)
                .map(|j| {
                    format!(
                        "keep:{}:c{batch}",
                        (batch * 37 + j * 101) % SCAN_KEEP as u64
                    )
                })
                .collect();
            if round % 2 == 0 {
                tx.set_of(b"sc:set").add(&churn)?;
                let pairs: Vec<(&String, &str)> = churn.iter().map(|m| (m, "x")).collect();
                tx.hash(b"sc:hash").set(&pairs)?;
                let scored: Vec<(f64, &String)> = churn.iter().map(|m| (round as f64, m)).collect();
                tx.zset(b"sc:zset").add(ZAddFlags::default(), &scored)?;
            } else {
                tx.set_of(b"sc:set").remove(&churn)?;
                tx.hash(b"sc:hash").delete(&churn)?;
                tx.zset(b"sc:zset").remove(&churn)?;
            }
            let kept = format!("keep:{}", round as usize % SCAN_KEEP);
            tx.hash(b"sc:hash").set(&[(&kept, round.to_string())])?;
            tx.zset(b"sc:zset").incr_by(kept.as_bytes(), 1.0)?;
            tx.incr_by(b"sc:rounds", 1)?;
            Ok(())
        })
        .expect("a transaction");
        round += 1;
        if first {
            report("READY");
            first = false;
        }
    }
    report("PASS");
}

/// `SSCAN`, `HSCAN` and `ZSCAN` with a small `COUNT`, run through a session while another
/// process adds and removes members between the pages (and rewrites kept ones): every
/// member present for the whole scan comes back, and each scan ends.
#[test]
fn scans_return_every_kept_member_while_another_process_writes() -> TestResult {
    use ziggydb::commands::{Policy, Reply, Session};
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&tmp)?;
    let keep: Vec<String> = (0..SCAN_KEEP).map(|i| format!("keep:{i}")).collect();
    db.transaction(|tx| {
        tx.set_of(b"sc:set").add(&keep)?;
        let pairs: Vec<(&String, &str)> = keep.iter().map(|m| (m, "v")).collect();
        tx.hash(b"sc:hash").set(&pairs)?;
        let scored: Vec<(f64, &String)> = keep.iter().map(|m| (0.0, m)).collect();
        tx.zset(b"sc:zset").add(ZAddFlags::default(), &scored)?;
        Ok(())
    })?;
    let mut child = Child::spawn("collections::child_scan_churner", "scan-churner", &dir, &[]);
    child.expect("READY", LONG);
    let mut session = Session::new(&db, Policy::trusted());
    let rounds = |db: &Db| -> TestResult<i64> {
        Ok(match db.get_value(b"sc:rounds")? {
            Some(Value::Int(n)) => n,
            _ => 0,
        })
    };
    let mut overlapped = 0;
    for attempt in 0..40 {
        for (cmd, key, step) in [
            ("SSCAN", "sc:set", 1),
            ("HSCAN", "sc:hash", 2),
            ("ZSCAN", "sc:zset", 2),
        ] {
            let before = rounds(&db)?;
            let mut cursor = b"0".to_vec();
            let mut seen = std::collections::BTreeSet::new();
            let mut pages = 0;
            loop {
                let args: [&[u8]; 5] = [cmd.as_bytes(), key.as_bytes(), &cursor, b"COUNT", b"3"];
                let reply = session.execute(&args);
                let Reply::Array(parts) = &reply else {
                    return Err(format!("{cmd}: {reply:?}").into());
                };
                let [Reply::Bulk(next), Reply::Array(items)] = &parts[..] else {
                    return Err(format!("{cmd}: {reply:?}").into());
                };
                for item in items.iter().step_by(step) {
                    if let Reply::Bulk(m) = item {
                        seen.insert(m.clone());
                    }
                }
                pages += 1;
                assert!(pages < 100_000, "{cmd} never ends");
                cursor = next.clone();
                if cursor == b"0" {
                    break;
                }
            }
            let missing: Vec<&String> = keep
                .iter()
                .filter(|m| !seen.contains(m.as_bytes()))
                .collect();
            assert!(
                missing.is_empty(),
                "{cmd} (attempt {attempt}) missed {missing:?}"
            );
            if rounds(&db)? >= before + 2 {
                overlapped += 1;
            }
        }
        if overlapped >= 6 {
            break;
        }
    }
    db.set(b"sc:stop", 1i64)?;
    child.wait_success(LONG);
    assert!(child.drain().iter().any(|l| l == "PASS"));
    // The writer committed between the pages of several scans: the test saw churn.
    assert!(
        overlapped >= 6,
        "only {overlapped} scans overlapped the writer"
    );
    Ok(())
}
