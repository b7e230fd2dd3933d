//! Bitmaps, HyperLogLog and LCS through the library: typed calls against the values written,
//! the HyperLogLog's error bound, its stored encoding, bounded allocation, and bits and
//! HyperLogLogs written by several processes at once.

use std::process::Command;
use std::time::Duration;

use ziggydb::{
    BitOp, BitUnit, BitfieldOp, BitfieldType, Db, Error, Overflow, Value, ValueType, HLL_SIZE,
    MAX_BIT_OFFSET,
};

use crate::util::{self, child_param, child_role, report, Child, Rng, TestResult};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn bits_round_trip_through_the_typed_calls() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    // A bit pattern chosen at random, written bit by bit, read back whole and by bit.
    let mut rng = Rng::new(0xb175);
    let bits: Vec<bool> = (0..300).map(|_| rng.range(0, 2) == 1).collect();
    db.transaction(|tx| {
        for (i, &b) in bits.iter().enumerate() {
            assert!(!tx.setbit(b"bm", i as u64, b)?, "a new bit was clear");
        }
        Ok(())
    })?;
    let bytes = db.get_value(b"bm")?.expect("written");
    let Value::Bytes(bytes) = bytes else {
        panic!("a bitmap is bytes, got {bytes:?}")
    };
    assert_eq!(bytes.len(), 300usize.div_ceil(8));
    for (i, &b) in bits.iter().enumerate() {
        assert_eq!(bytes[i / 8] & (0x80 >> (i % 8)) != 0, b, "bit {i}");
        assert_eq!(db.getbit(b"bm", i as u64)?, b, "bit {i}");
    }
    let ones = bits.iter().filter(|b| **b).count() as u64;
    assert_eq!(db.bitcount(b"bm", None)?, ones);
    let first_one = bits.iter().position(|b| *b).map_or(-1, |p| p as i64);
    assert_eq!(db.bitpos(b"bm", true, None)?, first_one);
    let (from, to) = (17u64, 250u64);
    let in_range = bits[from as usize..=to as usize]
        .iter()
        .filter(|b| **b)
        .count() as u64;
    assert_eq!(
        db.bitcount(b"bm", Some((from as i64, to as i64, BitUnit::Bit)))?,
        in_range
    );

    // NOT twice is the value again; AND with its NOT is all zeros.
    db.transaction(|tx| {
        tx.bitop(BitOp::Not, b"inv", &[b"bm"])?;
        tx.bitop(BitOp::Not, b"back", &[b"inv"])?;
        tx.bitop(BitOp::And, b"none", &[b"bm", b"inv"])?;
        Ok(())
    })?;
    assert_eq!(db.get_value(b"back")?, Some(Value::Bytes(bytes.clone())));
    assert_eq!(db.bitcount(b"none", None)?, 0);
    assert_eq!(db.bitcount(b"inv", None)?, bytes.len() as u64 * 8 - ones);

    // Integer fields read back what was stored, at any width and alignment.
    let i13 = BitfieldType {
        signed: true,
        bits: 13,
    };
    let u63 = BitfieldType {
        signed: false,
        bits: 63,
    };
    let out = db.transaction(|tx| {
        tx.bitfield(
            b"f",
            &[
                BitfieldOp::Set {
                    ty: i13,
                    offset: 5,
                    value: -4000,
                    overflow: Overflow::Wrap,
                },
                BitfieldOp::Set {
                    ty: u63,
                    offset: 18,
                    value: i64::MAX,
                    overflow: Overflow::Wrap,
                },
                BitfieldOp::IncrBy {
                    ty: i13,
                    offset: 5,
                    delta: -1000,
                    overflow: Overflow::Fail,
                },
            ],
        )
    })?;
    assert_eq!(out, vec![Some(0), Some(0), None]);
    assert_eq!(
        db.bitfield_get(b"f", &[(i13, 5), (u63, 18)])?,
        vec![-4000, i64::MAX]
    );
    assert_eq!(db.strlen(b"f")?, 11);
    Ok(())
}

#[test]
fn bit_commands_keep_the_ttl_and_read_numbers_as_digits() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let later = ziggydb::testing::clock_ms() + 3_600_000;
    db.transaction(|tx| tx.set_with_expiry(b"t", "a", Some(later)))?;
    db.transaction(|tx| tx.setbit(b"t", 7, true))?;
    assert_eq!(db.get_value(b"t")?, Some(Value::String("a".into())));
    assert_eq!(db.expiry(b"t")?, Some(later));
    db.transaction(|tx| tx.pfadd(b"h", &[b"x"]))?;
    db.transaction(|tx| tx.expire_at(b"h", later))?;
    db.transaction(|tx| tx.pfadd(b"h", &[b"y"]))?;
    assert_eq!(db.expiry(b"h")?, Some(later));
    // An integer's bits are its digits', as in Redis: "12" is 0x31 0x32.
    db.set(b"n", 12i64)?;
    assert_eq!(db.bitcount(b"n", None)?, 6);
    assert!(db.getbit(b"n", 2)?);
    // Setting a bit that is set already changes nothing; another makes "16", bytes.
    assert!(db.transaction(|tx| tx.setbit(b"n", 14, true))?);
    assert_eq!(db.get_value(b"n")?, Some(Value::Int(12)));
    assert!(!db.transaction(|tx| tx.setbit(b"n", 13, true))?);
    assert_eq!(db.get_value(b"n")?, Some(Value::Bytes(b"16".to_vec())));
    Ok(())
}

/// A HyperLogLog's estimate of 100,000 distinct elements, for several deterministic sets of
/// elements, is within Redis's bound: each within 3 standard errors (0.81% each), and their
/// mean absolute error within 2 (Redis's own test allows 5%).
#[test]
fn hyperloglog_counts_within_its_error_bound() -> TestResult {
    const N: u64 = 100_000;
    const STD_ERROR: f64 = 0.0081;
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let mut errors = Vec::new();
    for seed in 1..=5u64 {
        let mut rng = Rng::new(seed);
        let key = format!("hll{seed}");
        // Distinct elements: a counter with random bytes beside it.
        let elements: Vec<Vec<u8>> = (0..N)
            .map(|i| format!("{i}:{}", rng.next_u64()).into_bytes())
            .collect();
        for chunk in elements.chunks(10_000) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            db.transaction(|tx| tx.pfadd(key.as_bytes(), &refs))?;
        }
        // Adding them again changes nothing.
        let refs: Vec<&[u8]> = elements[..1000].iter().map(Vec::as_slice).collect();
        assert!(!db.transaction(|tx| tx.pfadd(key.as_bytes(), &refs))?);
        let count = db.pfcount(&[key.as_bytes()])?;
        let error = (count as f64 - N as f64) / N as f64;
        assert!(
            error.abs() < 3.0 * STD_ERROR,
            "seed {seed}: {count} for {N} ({:.2}%)",
            error * 100.0
        );
        eprintln!("seed {seed}: {count} for {N} ({:+.3}%)", error * 100.0);
        errors.push(error.abs());
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    assert!(mean < 2.0 * STD_ERROR, "mean absolute error {mean}");

    // The union of two halves counts as the whole, merged or counted together.
    let mut rng = Rng::new(99);
    let elements: Vec<Vec<u8>> = (0..N)
        .map(|i| format!("{i}/{}", rng.next_u64()).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
    db.transaction(|tx| {
        tx.pfadd(b"whole", &refs)?;
        tx.pfadd(b"half1", &refs[..N as usize / 2])?;
        tx.pfadd(b"half2", &refs[N as usize / 2..])?;
        tx.pfmerge(b"merged", &[b"half1", b"half2"])
    })?;
    let whole = db.pfcount(&[b"whole"])?;
    assert_eq!(db.pfcount(&[b"half1", b"half2"])?, whole);
    assert_eq!(db.pfcount(&[b"merged"])?, whole);
    assert_eq!(db.get_value(b"merged")?, db.get_value(b"whole")?);
    Ok(())
}

#[test]
fn hyperloglog_values_have_their_own_encoding() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    db.transaction(|tx| tx.pfadd(b"h", &[]))?;
    let Some(Value::Bytes(v)) = db.get_value(b"h")? else {
        panic!("a HyperLogLog is bytes")
    };
    assert_eq!(v.len(), HLL_SIZE);
    assert_eq!(HLL_SIZE, 12_296);
    assert_eq!(&v[..8], b"ZHLL\x01\x00\x00\x00");
    assert!(v[8..].iter().all(|b| *b == 0));
    // A copy of the bytes is a HyperLogLog too; anything else is refused by type.
    db.set(b"copy", Value::Bytes(v.clone()))?;
    db.transaction(|tx| tx.pfadd(b"copy", &[b"a"]))?;
    assert_eq!(db.pfcount(&[b"copy"])?, 1);
    let mut bad = v.clone();
    bad[4] = 9; // an unknown version
    db.set(b"bad", Value::Bytes(bad))?;
    db.set(b"text", "not one")?;
    db.transaction(|tx| tx.list(b"list").push_back(&[b"x"]))?;
    for (key, actual) in [
        (&b"bad"[..], ValueType::Bytes),
        (b"text", ValueType::String),
        (b"list", ValueType::List),
    ] {
        match db.pfcount(&[key]) {
            Err(Error::WrongType { actual: a, .. }) => assert_eq!(a, actual),
            other => panic!("{key:?}: {other:?}"),
        }
        assert!(matches!(
            db.transaction(|tx| tx.pfadd(key, &[b"y"])),
            Err(Error::WrongType { .. })
        ));
    }
    Ok(())
}

/// The largest offsets and inputs are refused with an error before memory is taken: an
/// offset past 2^32 - 1, an LCS table past 512 MiB. (A value of 512 MiB, the highest offset's,
/// is no longer refused: a value may be larger than a segment, format-spec.md §3.3.)
#[test]
fn huge_offsets_and_inputs_are_refused_before_allocating() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    assert!(!db.getbit(b"k", MAX_BIT_OFFSET)?);
    assert!(matches!(
        db.transaction(|tx| tx.setbit(b"k", MAX_BIT_OFFSET + 1, true)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        db.getbit(b"k", u64::MAX),
        Err(Error::InvalidArgument(_))
    ));
    assert!(!db.exists(b"k")?);
    let big = vec![b'x'; 12_000];
    db.set(b"a", Value::Bytes(big.clone()))?;
    db.set(b"b", Value::Bytes(big))?;
    assert!(matches!(
        db.lcs(b"a", b"b"),
        Err(Error::OutOfMemory { bytes }) if bytes > 512 << 20
    ));
    // Against an empty value the table is one row: no refusal.
    assert_eq!(db.lcs_len(b"a", b"missing")?, 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Several processes

#[test]
fn child_set_bits() {
    let Some(dir) = child_role("setbits") else {
        return;
    };
    let (id, procs, n): (u64, u64, u64) = (
        child_param("ZIGGY_ID"),
        child_param("ZIGGY_PROCS"),
        child_param("ZIGGY_N"),
    );
    let db = Db::open(&dir).expect("open");
    report("READY");
    assert_eq!(util::read_command().as_deref(), Some("go"));
    for i in (id..n).step_by(procs as usize) {
        let element = format!("e{i}");
        db.transaction(|tx| {
            tx.setbit(b"bits", i, true)?;
            tx.pfadd(b"seen", &[element.as_bytes()])?;
            Ok(())
        })
        .expect("setbit and pfadd");
    }
    report("PASS");
}

/// Four processes set interleaved bits of one bitmap and add elements to one HyperLogLog
/// at once: every bit is set in the end (no read-modify-write lost another's), and the
/// HyperLogLog is the one a single process builds from all the elements.
#[test]
fn processes_setting_bits_at_once_lose_none() -> TestResult {
    const PROCS: u64 = 4;
    const N: u64 = 600;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(Db::open(&dir)?);
    let mut children: Vec<Child> = (0..PROCS)
        .map(|id| {
            Child::spawn(
                "bits::child_set_bits",
                "setbits",
                &dir,
                &[
                    ("ZIGGY_ID", id.to_string()),
                    ("ZIGGY_PROCS", PROCS.to_string()),
                    ("ZIGGY_N", N.to_string()),
                ],
            )
        })
        .collect();
    for c in &mut children {
        c.expect("READY", LONG);
    }
    for c in &mut children {
        c.send("go");
    }
    for c in &mut children {
        c.expect("PASS", LONG);
        c.wait_success(LONG);
    }
    let db = Db::open(&dir)?;
    assert_eq!(db.bitcount(b"bits", None)?, N);
    assert_eq!(db.bitpos(b"bits", false, None)?, N as i64);
    let elements: Vec<String> = (0..N).map(|i| format!("e{i}")).collect();
    let refs: Vec<&[u8]> = elements.iter().map(|e| e.as_bytes()).collect();
    db.transaction(|tx| tx.pfadd(b"alone", &refs))?;
    assert_eq!(db.get_value(b"seen")?, db.get_value(b"alone")?);
    Ok(())
}

/// The `ziggy` binary runs the commands, and a second process reads what the first wrote.
#[test]
fn the_cli_runs_the_bit_commands() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let run = |args: &[&str]| -> TestResult<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(&dir)
            .args(args)
            .env_remove("ZIGGY_DIR")
            .output()?;
        Ok(String::from_utf8(out.stdout)?)
    };
    run(&["SETBIT", "k", "7", "1"])?;
    run(&["PFADD", "h", "a", "b", "c"])?;
    run(&["SET", "x", "ohmytext"])?;
    run(&["SET", "y", "mynewtext"])?;
    assert_eq!(run(&["GETBIT", "k", "7"])?.trim(), "1");
    assert_eq!(run(&["BITCOUNT", "k"])?.trim(), "1");
    assert_eq!(run(&["PFCOUNT", "h"])?.trim(), "3");
    assert_eq!(run(&["LCS", "x", "y"])?.trim(), "mytext");
    assert_eq!(run(&["SUBSTR", "x", "2", "3"])?.trim(), "my");
    assert_eq!(
        run(&["PFADD", "x", "a"])?.trim(),
        "WRONGTYPE Key is not a valid HyperLogLog string value."
    );
    Ok(())
}

/// The smallest `ulimit -d` (heap, to 1 MiB) under which `ziggy -d dir ARGS` succeeds.
fn min_heap_kib(dir: &std::path::Path, args: &[&str]) -> TestResult<u64> {
    let works = |kib: u64| -> TestResult<bool> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -d {kib} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(dir)
            .args(args)
            .env_remove("ZIGGY_DIR")
            .env("MALLOC_ARENA_MAX", "1")
            .output()?;
        Ok(out.status.success() && !out.stdout.starts_with(b"ERR"))
    };
    let (mut lo, mut hi) = (1u64 << 10, 1u64 << 20);
    if !works(hi)? {
        return Err(format!("{args:?} fails even under a {hi} KiB heap").into());
    }
    while hi - lo > 1 << 10 {
        let mid = (lo + hi) / 2;
        if works(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// `BITOP` of a 4 MiB value with itself 16 times needs about the heap of one source: the
/// sources are read in place one at a time, not copied all at once (which needed 64 MiB
/// more).
#[test]
fn bitop_of_many_sources_holds_one_copy() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = Db::open(&dir)?;
        db.set(b"big", Value::Bytes(vec![0x5a; 4 << 20]))?;
    }
    let one = min_heap_kib(&dir, &["BITOP", "OR", "d1", "big"])?;
    let mut args = vec!["BITOP", "OR", "d16"];
    args.extend(std::iter::repeat_n("big", 16));
    let many = min_heap_kib(&dir, &args)?;
    assert!(
        many < one + (8 << 10),
        "16 sources need {many} KiB of heap, one {one} KiB"
    );
    let db = Db::open(&dir)?;
    assert_eq!(db.get_value(b"d16")?, db.get_value(b"big")?);
    Ok(())
}
