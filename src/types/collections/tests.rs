//! Collections against in-memory models, through commits, reopening and compaction.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Db, Error, LexBound, Result, ScoreBound, SetOp, ZAddFlags};

fn open(dir: &std::path::Path) -> Result<Db> {
    Db::options()
        .segment_size(256 << 10)
        .auto_compact(false, 0.5, 0)
        .open(dir)
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn list_matches_a_vecdeque() -> Result<()> {
    let dir = tmp();
    let db = open(dir.path())?;
    let mut model = std::collections::VecDeque::new();
    for round in 0..40u32 {
        db.transaction(|tx| {
            let mut l = tx.list(b"l");
            for i in 0..50u32 {
                let v = format!("{round}-{i}").into_bytes();
                if i % 3 == 0 {
                    l.push_front(&[&v])?;
                } else {
                    l.push_back(&[&v])?;
                }
            }
            let popped = l.pop_front(7)?;
            let back = l.pop_back(3)?;
            Ok((popped, back))
        })
        .map(|(p, b)| {
            for i in 0..50u32 {
                let v = format!("{round}-{i}").into_bytes();
                if i % 3 == 0 {
                    model.push_front(v);
                } else {
                    model.push_back(v);
                }
            }
            let want_p: Vec<_> = (0..7).filter_map(|_| model.pop_front()).collect();
            let want_b: Vec<_> = (0..3).filter_map(|_| model.pop_back()).collect();
            assert_eq!(p, want_p);
            assert_eq!(b, want_b);
        })?;
    }
    let all: Vec<_> = model.iter().cloned().collect();
    assert_eq!(db.list(b"l").range(0, -1)?, all);
    assert_eq!(db.list(b"l").len()?, all.len() as u64);
    assert_eq!(db.list(b"l").range(-3, -1)?, all[all.len() - 3..].to_vec());
    assert_eq!(db.list(b"l").get(5)?, Some(all[5].clone()));
    db.transaction(|tx| {
        let mut l = tx.list(b"l");
        l.set(-1, b"last")?;
        assert!(matches!(l.set(100_000, b"x"), Err(Error::IndexOutOfRange)));
        assert_eq!(
            l.insert(true, b"last", b"before-last")?,
            all.len() as i64 + 1
        );
        assert_eq!(l.remove(0, b"before-last")?, 1);
        l.trim(1, -2)
    })?;
    let l = db.list(b"l").range(0, -1)?;
    assert_eq!(l.len(), all.len() - 2);
    assert_eq!(l[0], all[1]);
    assert!(matches!(db.get(b"l"), Err(Error::WrongType { .. })));
    assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
    Ok(())
}

#[test]
fn set_hash_and_zset_match_models_across_reopen_and_compaction() -> Result<()> {
    let dir = tmp();
    let mut set = BTreeSet::new();
    let mut hash = BTreeMap::new();
    let mut zset: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
    {
        let db = open(dir.path())?;
        let mut x = 11u64;
        for round in 0..30u64 {
            db.transaction(|tx| {
                for _ in 0..100 {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let m = format!("m{}", (x >> 40) % 700).into_bytes();
                    let score = ((x >> 20) % 1000) as f64 - 500.0;
                    if (x >> 8).is_multiple_of(4) {
                        tx.set_of(b"s").remove(&[&m])?;
                        tx.hash(b"h").delete(&[&m])?;
                        tx.zset(b"z").remove(&[&m])?;
                    } else {
                        tx.set_of(b"s").add(&[&m])?;
                        tx.hash(b"h").set(&[(&m, &round.to_le_bytes())])?;
                        tx.zset(b"z").add(ZAddFlags::default(), &[(score, &m)])?;
                    }
                }
                Ok(())
            })?;
            // Replay the same sequence on the models.
        }
        // Rebuild the models by replaying the generator.
        let mut x = 11u64;
        for round in 0..30u64 {
            for _ in 0..100 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let m = format!("m{}", (x >> 40) % 700).into_bytes();
                let score = ((x >> 20) % 1000) as f64 - 500.0;
                if (x >> 8).is_multiple_of(4) {
                    set.remove(&m);
                    hash.remove(&m);
                    zset.remove(&m);
                } else {
                    set.insert(m.clone());
                    hash.insert(m.clone(), round.to_le_bytes().to_vec());
                    zset.insert(m, score);
                }
            }
        }
        db.compact()?;
    }
    let db = open(dir.path())?;
    assert_eq!(
        db.set_of(b"s").members()?,
        set.iter().cloned().collect::<Vec<_>>()
    );
    assert_eq!(db.set_of(b"s").len()?, set.len() as u64);
    assert!(db
        .set_of(b"s")
        .contains(set.iter().next().expect("non-empty"))?);
    assert!(!db.set_of(b"s").contains(b"absent")?);
    assert_eq!(
        db.hash(b"h").get_all()?,
        hash.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    );
    let mut by_score: Vec<(Vec<u8>, f64)> = zset.iter().map(|(m, s)| (m.clone(), *s)).collect();
    by_score.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let z = db.zset(b"z");
    assert_eq!(z.range(0, -1, false)?, by_score);
    let mut rev = by_score.clone();
    rev.reverse();
    assert_eq!(z.range(0, 9, true)?, rev[..10].to_vec());
    for (i, (m, s)) in by_score.iter().enumerate().step_by(37) {
        assert_eq!(z.rank(m, false)?, Some(i as u64));
        assert_eq!(z.score(m)?, Some(*s));
    }
    let inside: Vec<_> = by_score
        .iter()
        .filter(|(_, s)| *s > -100.0 && *s <= 100.0)
        .cloned()
        .collect();
    let got = z.range_by_score(
        ScoreBound::Exclusive(-100.0),
        ScoreBound::Inclusive(100.0),
        false,
        0,
        -1,
    )?;
    assert_eq!(got, inside);
    assert_eq!(
        z.count(ScoreBound::Exclusive(-100.0), ScoreBound::Inclusive(100.0))?,
        inside.len() as u64
    );
    let all = z.range_by_score(
        ScoreBound::Inclusive(f64::NEG_INFINITY),
        ScoreBound::Inclusive(f64::INFINITY),
        true,
        2,
        5,
    )?;
    assert_eq!(all, rev[2..7].to_vec());
    let lex = z.range_by_lex(
        &LexBound::Inclusive(b"m1".to_vec()),
        &LexBound::Exclusive(b"m2".to_vec()),
        false,
        0,
        -1,
    )?;
    let want_lex: Vec<_> = zset
        .iter()
        .filter(|(m, _)| m.as_slice() >= &b"m1"[..] && m.as_slice() < &b"m2"[..])
        .map(|(m, s)| (m.clone(), *s))
        .collect();
    assert_eq!(lex, want_lex);
    // Set algebra and pops.
    db.transaction(|tx| {
        tx.set_of(b"t").add(&[b"m1", b"m2", b"zz"])?;
        let inter = tx.set_combine(SetOp::Inter, &[b"s", b"t"])?;
        let want: Vec<Vec<u8>> = [&b"m1"[..], b"m2"]
            .iter()
            .filter(|m| set.contains(**m))
            .map(|m| m.to_vec())
            .collect();
        assert_eq!(inter, want);
        let popped = tx.zset(b"z").pop(3, false)?;
        assert_eq!(popped, by_score[..3].to_vec());
        let top = tx.zset(b"z").pop(2, true)?;
        let n = by_score.len();
        assert_eq!(top, vec![by_score[n - 1].clone(), by_score[n - 2].clone()]);
        assert_eq!(tx.zset(b"z").pop(0, true)?, Vec::new());
        assert_eq!(tx.zset(b"z").len()?, n as u64 - 5);
        Ok(())
    })?;
    assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
    Ok(())
}

#[test]
fn deleting_a_big_collection_reclaims_its_pages_over_later_commits() -> Result<()> {
    let dir = tmp();
    let db = open(dir.path())?;
    for chunk in 0..20u32 {
        db.transaction(|tx| {
            let mut h = tx.hash(b"big");
            for i in chunk * 1000..(chunk + 1) * 1000 {
                h.set(&[(
                    format!("field-{i}").as_bytes(),
                    b"some value of moderate size",
                )])?;
            }
            Ok(())
        })?;
    }
    assert_eq!(db.hash(b"big").len()?, 20_000);
    let pages_before = db.metrics().live_bytes;
    assert!(db.delete(b"big")?);
    assert_eq!(db.hash(b"big").len()?, 0);
    // Later commits free the pages a bounded number at a time.
    for i in 0..40u32 {
        db.set(format!("k{i}").as_bytes(), "v")?;
    }
    let after = db.metrics().live_bytes;
    assert!(
        after * 20 < pages_before,
        "pages not reclaimed: {pages_before} -> {after}"
    );
    assert_eq!(db.len(), 40, "internal pages are not user keys");
    assert_eq!(db.keys()?.len(), 40);
    assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
    Ok(())
}

#[test]
fn rename_moves_a_collection_and_overwrite_retires_it() -> Result<()> {
    let dir = tmp();
    let db = open(dir.path())?;
    db.transaction(|tx| tx.set_of(b"a").add(&[b"x", b"y"]).map(|_| ()))?;
    db.transaction(|tx| tx.rename_key(b"a", b"b").map(|_| ()))?;
    assert_eq!(
        db.set_of(b"b").members()?,
        vec![b"x".to_vec(), b"y".to_vec()]
    );
    assert_eq!(db.set_of(b"a").len()?, 0);
    db.set(b"b", "now a string")?;
    assert_eq!(
        db.get_value(b"b")?,
        Some(crate::Value::String("now a string".into()))
    );
    assert!(matches!(
        db.set_of(b"b").len(),
        Err(Error::WrongType { .. })
    ));
    assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
    Ok(())
}

#[test]
fn a_change_rewrites_the_metadata_and_a_no_op_does_not() -> Result<()> {
    let dir = tmp();
    let db = open(dir.path())?;
    db.transaction(|tx| tx.list(b"l").push_back(&[b"a", b"b"]))?;
    let v0 = db.key_version(b"l")?;
    db.transaction(|tx| tx.list(b"l").set(0, b"x"))?;
    let v1 = db.key_version(b"l")?;
    assert_ne!(v0, v1, "LSET changes the version");
    db.transaction(|tx| {
        tx.list(b"l").set(0, b"x")?;
        tx.set_of(b"s").add(&[b"m"])
    })?;
    let (v2, s0) = (db.key_version(b"l")?, db.key_version(b"s")?);
    assert_ne!(v1, v2, "LSET to the same value still counts, as in Redis");
    db.transaction(|tx| tx.set_of(b"s").add(&[b"m"]))?;
    db.transaction(|tx| tx.set_of(b"s").remove(&[b"absent"]))?;
    assert_eq!(
        db.key_version(b"s")?,
        s0,
        "SADD and SREM that change nothing"
    );
    db.transaction(|tx| tx.hash(b"h").set(&[(b"f", b"1")]))?;
    let h0 = db.key_version(b"h")?;
    db.transaction(|tx| tx.hash(b"h").set(&[(b"f", b"1")]))?;
    let h1 = db.key_version(b"h")?;
    assert_ne!(h1, h0, "HSET of the same value counts, as in Redis");
    db.transaction(|tx| tx.hash(b"h").delete(&[b"g"]))?;
    assert_eq!(db.key_version(b"h")?, h1, "HDEL of an absent field");
    db.transaction(|tx| tx.hash(b"h").set(&[(b"f", b"2")]))?;
    assert_eq!(db.hash(b"h").get(b"f")?.as_deref(), Some(&b"2"[..]));
    Ok(())
}

/// A damaged collection is `CorruptCollection`, not an index error: short metadata in the
/// key's record, and a page the metadata names that is gone.
#[test]
fn damaged_collections_are_corrupt_collection_errors() -> Result<()> {
    let dir = tmp();
    let db = open(dir.path())?;
    db.transaction(|tx| tx.list(b"l").push_back(&[b"a", b"b"]))?;
    let mut tx = db.begin_write()?;
    let raw = tx.raw_get(b"l", false)?.expect("the list's record");
    let (vtype, payload) = (raw.vtype, raw.payload);
    // The metadata names the list's pages; cut it short.
    tx.raw_put(b"l", false, vtype, payload[..5].to_vec(), 0)?;
    assert!(
        matches!(tx.list(b"l").len(), Err(Error::CorruptCollection { .. })),
        "short metadata"
    );
    tx.raw_put(b"l", false, vtype, payload, 0)?;
    assert_eq!(tx.list(b"l").len()?, 2);
    // Every page of the collection gone: its root is missing.
    for coll in 0..64 {
        for page in 0..64 {
            tx.raw_del(&crate::db::pages::page_key(coll, page), true);
        }
    }
    assert!(
        matches!(
            tx.list(b"l").range(0, -1),
            Err(Error::CorruptCollection { .. })
        ),
        "missing page"
    );
    tx.rollback();
    Ok(())
}
