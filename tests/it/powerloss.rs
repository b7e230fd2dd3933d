//! Power loss: a child process runs a workload with the seam's power-loss journal on and is
//! killed at a chosen I/O call (every sync point in turn, and points between syncs); the
//! parent then cuts the power (`testing::power_cut`: every effect not yet synced is undone,
//! unsynced index pages are lost, `ziggy.shm` is gone as after a reboot), reopens and checks
//! the database against a model of the workload.
//!
//! Transaction `s` of the workload sets `seq = s` and `t/<s>` (a few KiB, so the log rotates),
//! moves an amount between two of eight accounts (their sum stays 800), pushes onto a list
//! every other transaction, sets a hash field every third, deletes an older `t/` key every
//! fourth (so compaction has work), and writes 200 `bulk/` keys every tenth (so the index
//! grows). Halfway it compacts; at the end it closes (a checkpoint). After each commit returns,
//! the child notes `ACK s` in the journal, so the parent knows which syncs followed which
//! acknowledgement.
//!
//! Checks after each cut: the database opens; `seq = L` with every acknowledged transaction
//! present in `Immediate` mode (`L` ≥ the last ACK, ≤ it + 1), and in `Batched` mode every
//! transaction acknowledged before the start of the last completed fsync of a segment file
//! (an fsync covers what was written before it began; no commit runs during the compaction,
//! so such an fsync covers every commit acknowledged before it);
//! every key, the list and the hash exactly as transactions `1..=L` left them (nothing
//! partial); the account sum; `check()`; and a commit after recovery.
//!
//! Apart from that workload: a compaction while another thread overwrites the keys it copies,
//! in `Batched` mode with nothing syncing the overwrites, then a cut: every key must come back
//! with one of its values (format-spec.md §11 step 5).

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::testing::{
    power_cut, power_loss_note, set_fault_plan, set_power_loss_journal, FaultAction, FaultOp,
    FaultPlan, PowerCut, PowerLossEvent,
};
use ziggydb::{Db, Durability, Value};

use crate::util::{self, child_param, child_role, report, Child, TestResult};

const ENTRY: &str = "powerloss::child_powerloss_workload";
const ROLE: &str = "powerloss-workload";
const TXNS: u64 = 40;
const ACCOUNTS: u64 = 8;
const PAD: usize = 3000;
const BULK: u64 = 200;

fn t_key(s: u64) -> Vec<u8> {
    format!("t/{s}").into_bytes()
}

fn t_value(s: u64) -> String {
    let fill = char::from(b'a' + (s % 26) as u8);
    format!("{s}:{}", fill.to_string().repeat(PAD))
}

fn acct(i: u64) -> Vec<u8> {
    format!("acct/{i}").into_bytes()
}

fn bulk_key(s: u64, j: u64) -> Vec<u8> {
    format!("bulk/{s}/{j}").into_bytes()
}

/// The transfer of transaction `s > 1`: amount, from, to.
fn transfer(s: u64) -> (i64, u64, u64) {
    let from = s % ACCOUNTS;
    let to = (s * 3 + 1) % ACCOUNTS;
    (
        (s % 7 + 1) as i64,
        from,
        if to == from { (to + 1) % ACCOUNTS } else { to },
    )
}

fn run_txn(db: &Db, s: u64) -> ziggydb::Result<()> {
    db.transaction(|tx| {
        tx.set(b"seq", s as i64)?;
        tx.set(&t_key(s), t_value(s))?;
        if s == 1 {
            for i in 0..ACCOUNTS {
                tx.set(&acct(i), 100i64)?;
            }
        } else {
            let (amount, from, to) = transfer(s);
            tx.incr_by(&acct(from), -amount)?;
            tx.incr_by(&acct(to), amount)?;
        }
        if s % 2 == 0 {
            tx.list(b"jobs").push_back(&[format!("job-{s}")])?;
        }
        if s % 3 == 0 {
            tx.hash(b"h")
                .set(&[(format!("f{}", s % 10), format!("{s}"))])?;
        }
        if s % 4 == 0 && s > 2 {
            tx.delete(&t_key(s - 2))?;
        }
        if s % 10 == 5 {
            for j in 0..BULK {
                tx.set(&bulk_key(s, j), format!("{s}/{j}"))?;
            }
        }
        Ok(())
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Want {
    Text(String),
    Int(i64),
}

/// The state after transactions `1..=l`: scalar keys, the list, the hash.
#[derive(Default)]
struct Model {
    scalars: BTreeMap<Vec<u8>, Want>,
    jobs: Vec<Vec<u8>>,
    hash: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn model(l: u64) -> Model {
    let mut m = Model::default();
    let mut bal = [0i64; ACCOUNTS as usize];
    for s in 1..=l {
        m.scalars.insert(b"seq".to_vec(), Want::Int(s as i64));
        m.scalars.insert(t_key(s), Want::Text(t_value(s)));
        if s == 1 {
            bal = [100; ACCOUNTS as usize];
        } else {
            let (amount, from, to) = transfer(s);
            bal[from as usize] -= amount;
            bal[to as usize] += amount;
        }
        if s % 2 == 0 {
            m.jobs.push(format!("job-{s}").into_bytes());
        }
        if s % 3 == 0 {
            m.hash.insert(
                format!("f{}", s % 10).into_bytes(),
                s.to_string().into_bytes(),
            );
        }
        if s % 4 == 0 && s > 2 {
            m.scalars.remove(&t_key(s - 2));
        }
        if s % 10 == 5 {
            for j in 0..BULK {
                m.scalars
                    .insert(bulk_key(s, j), Want::Text(format!("{s}/{j}")));
            }
        }
    }
    if l > 0 {
        for (i, b) in bal.iter().enumerate() {
            m.scalars.insert(acct(i as u64), Want::Int(*b));
        }
    }
    m
}

/// The workload, run until the fault plan kills it (or to the end).
#[test]
fn child_powerloss_workload() {
    let Some(dir) = child_role(ROLE) else {
        return;
    };
    let journal: String = child_param("ZIGGY_JOURNAL");
    let batched = std::env::var("ZIGGY_BATCHED").is_ok();
    let op: String = child_param("ZIGGY_CUT_OP");
    let nth: u64 = child_param("ZIGGY_CUT_NTH");
    set_power_loss_journal(Some(Path::new(&journal))).expect("journal");
    if nth > 0 {
        let op = match op.as_str() {
            "sync" => FaultOp::Sync,
            "write" => FaultOp::Write,
            _ => FaultOp::Any,
        };
        set_fault_plan(Some(FaultPlan {
            op,
            nth,
            action: FaultAction::Kill,
            sticky: false,
        }));
    }
    let mut options = Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0);
    if batched {
        options = options.durability(Durability::Batched {
            max_delay: Duration::from_millis(5),
        });
    }
    let db = options.open(&dir).expect("open");
    for s in 1..=TXNS {
        run_txn(&db, s).expect("commit");
        power_loss_note(&format!("ACK {s}"));
        if s == TXNS / 2 {
            db.compact().expect("compact");
        }
        if batched && s % 8 == 0 {
            // Give the flusher a chance to sync mid-run, so cuts land on both sides of it.
            std::thread::sleep(Duration::from_millis(8));
        }
    }
    drop(db);
    set_fault_plan(None);
    report("PASS");
}

/// Runs the workload with a cut at the `nth` call of kind `op` (0: none), cuts the power and
/// returns what the cut reports.
fn run_and_cut(dir: &Path, journal: &Path, batched: bool, op: &str, nth: u64) -> PowerCut {
    std::fs::create_dir_all(dir).expect("create the database directory");
    let mut env = vec![
        ("ZIGGY_JOURNAL", journal.display().to_string()),
        ("ZIGGY_CUT_OP", op.to_owned()),
        ("ZIGGY_CUT_NTH", nth.to_string()),
    ];
    if batched {
        env.push(("ZIGGY_BATCHED", "1".to_owned()));
    }
    let mut child = Child::spawn(ENTRY, ROLE, dir, &env);
    let status = child.wait(Duration::from_secs(60));
    if nth == 0 {
        assert!(status.success(), "workload failed: {}", child.stderr());
    } else if status.signal() != Some(9) {
        // The workload ended before the nth call (a batched run syncs a varying number of
        // times): the cut then comes after it finished, which is a cut point too.
        assert!(
            status.success(),
            "{op}:{nth}: the child died otherwise ({status}): {}",
            child.stderr()
        );
    }
    power_cut(journal, dir).expect("power cut")
}

/// After a cut and the checks of its contents: `check` passes, a commit works, and `check`
/// passes again.
pub(crate) fn check_and_commit(db: &Db, label: &str) -> TestResult {
    let r = db.check()?;
    assert!(r.is_ok(), "{label}: check found {:?}", r.problems);
    db.set(b"after", "recovery")?;
    let r = db.check()?;
    assert!(
        r.is_ok(),
        "{label}: check after a commit found {:?}",
        r.problems
    );
    Ok(())
}

/// Checks the database after a cut; returns the recovered `seq` and the transactions lost.
fn verify(dir: &Path, cut: &PowerCut, batched: bool, label: &str) -> TestResult<(u64, u64)> {
    let mut acked = 0;
    let mut durable = 0;
    for e in &cut.events {
        match e {
            PowerLossEvent::Note(n) => {
                if let Some(s) = n.strip_prefix("ACK ") {
                    acked = s.parse()?;
                }
            }
            PowerLossEvent::Sync(p)
                if p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with("seg-")) =>
            {
                durable = acked;
            }
            _ => {}
        }
    }
    let must = if batched { durable } else { acked };
    let db = Db::open(dir).map_err(|e| format!("{label}: reopening after the cut failed: {e}"))?;
    let l = match db.get_value(b"seq")? {
        None => 0,
        Some(Value::Int(i)) => u64::try_from(i)?,
        Some(v) => return Err(format!("{label}: seq holds {v:?}").into()),
    };
    assert!(
        (must..=acked + 1).contains(&l),
        "{label}: recovered to transaction {l}; acknowledged {acked}, durable {must}"
    );
    let want = model(l);
    for (k, w) in &want.scalars {
        let got = match w {
            Want::Int(_) => db.get_value(k)?.map(|v| match v {
                Value::Int(i) => Want::Int(i),
                other => Want::Text(format!("{other:?}")),
            }),
            Want::Text(_) => db
                .get(k)?
                .map(|v| Want::Text(String::from_utf8_lossy(&v).into_owned())),
        };
        assert_eq!(
            got.as_ref(),
            Some(w),
            "{label}: key {} after recovering to {l}",
            String::from_utf8_lossy(k)
        );
    }
    let mut keys = db.keys()?;
    keys.sort();
    let mut want_keys: Vec<Vec<u8>> = want.scalars.keys().cloned().collect();
    if !want.jobs.is_empty() {
        want_keys.push(b"jobs".to_vec());
    }
    if !want.hash.is_empty() {
        want_keys.push(b"h".to_vec());
    }
    want_keys.sort();
    assert_eq!(keys, want_keys, "{label}: the key set at {l}");
    if l > 0 {
        let mut sum = 0;
        for i in 0..ACCOUNTS {
            if let Some(Value::Int(b)) = db.get_value(&acct(i))? {
                sum += b;
            }
        }
        assert_eq!(sum, 800, "{label}: the account sum at {l}");
    }
    assert_eq!(
        db.list(b"jobs").range(0, -1)?,
        want.jobs,
        "{label}: the list"
    );
    let hash: BTreeMap<Vec<u8>, Vec<u8>> = db.hash(b"h").get_all()?.into_iter().collect();
    assert_eq!(hash, want.hash, "{label}: the hash");
    check_and_commit(&db, label)?;
    Ok((l, acked.saturating_sub(l)))
}

/// The points to cut at: every `stride`th of `1..=n`, and `n` itself.
fn points(n: u64, stride: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (1..=n).step_by(stride.max(1) as usize).collect();
    if v.last() != Some(&n) && n > 0 {
        v.push(n);
    }
    v
}

fn cut_everywhere(batched: bool) -> TestResult {
    let started = Instant::now();
    let mode = if batched { "batched" } else { "immediate" };
    // A run without a cut counts the calls (and the cut after the end).
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let full = run_and_cut(&dir, &tmp.path().join("journal"), batched, "sync", 0);
    let (l, _) = verify(&dir, &full, batched, &format!("{mode}, cut after the end"))?;
    assert_eq!(
        l, TXNS,
        "{mode}: a closed database lost commits at a power cut"
    );
    let [writes, syncs, ..] = full.calls;
    // `ZIGGY_SOAK` cuts at more points between syncs (every sync point is cut at anyway).
    let soak = util::soak();
    // Every sync point (fsync, fdatasync, directory fsync, msync).
    let mut plan: Vec<(&str, u64)> = points(syncs, 1).into_iter().map(|n| ("sync", n)).collect();
    // Points between syncs: before the nth write.
    plan.extend(
        points(writes, (writes / (12 * soak)).max(1))
            .into_iter()
            .map(|n| ("write", n)),
    );
    let (mut cuts, mut verified, mut lost) = (1u64, l, 0u64);
    let mut undone = full.writes_undone + full.truncations + full.names_undone;
    let mut maps = full.maps_restored;
    for (op, nth) in plan {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        let cut = run_and_cut(&dir, &tmp.path().join("journal"), batched, op, nth);
        let (l, lost_here) = verify(&dir, &cut, batched, &format!("{mode}, cut at {op} {nth}"))?;
        cuts += 1;
        verified += l;
        lost += lost_here;
        undone += cut.writes_undone + cut.truncations + cut.names_undone;
        maps += cut.maps_restored;
    }
    println!(
        "power loss ({mode}): {cuts} cuts ({syncs} sync points, {writes} writes in the workload), \
         {verified} recovered commits verified, {lost} acknowledged commits lost in the \
         batched window, {undone} unsynced effects undone, {maps} index files reset to their \
         last msync, {:.1?}",
        started.elapsed()
    );
    if !batched {
        assert_eq!(lost, 0);
    }
    Ok(())
}

#[test]
fn power_cut_at_every_sync_point_loses_no_acknowledged_commit() -> TestResult {
    cut_everywhere(false)
}

#[test]
fn power_cut_in_batched_mode_loses_at_most_the_unsynced_window() -> TestResult {
    cut_everywhere(true)
}

const RACE_ENTRY: &str = "powerloss::child_compaction_beside_unsynced_commits";
const RACE_ROLE: &str = "powerloss-compaction-race";
const RACE_KEYS: u64 = 2000;

fn race_key(i: u64) -> Vec<u8> {
    format!("r/{i}").into_bytes()
}

fn race_value(i: u64, v: u64) -> String {
    format!("{v}:{i}:{}", "x".repeat(200))
}

/// Writes `RACE_KEYS` keys and makes them durable in a compacted segment, then compacts
/// again while a second thread overwrites the keys (from the last down, while the copy goes
/// from the first up) in `Batched` mode with a delay no run reaches: nothing syncs those
/// overwrites but what compaction itself does. Waits to be killed once the compaction
/// returned.
#[test]
fn child_compaction_beside_unsynced_commits() {
    let Some(dir) = child_role(RACE_ROLE) else {
        return;
    };
    let journal: String = child_param("ZIGGY_JOURNAL");
    set_power_loss_journal(Some(Path::new(&journal))).expect("journal");
    let db = Db::options()
        .segment_size(4 << 20)
        .auto_compact(false, 0.5, 0)
        .durability(Durability::Batched {
            max_delay: Duration::from_secs(3600),
        })
        .open(&dir)
        .expect("open");
    for chunk in 0..RACE_KEYS / 100 {
        db.transaction(|tx| {
            for i in chunk * 100..(chunk + 1) * 100 {
                tx.set(&race_key(i), race_value(i, 1))?;
            }
            Ok(())
        })
        .expect("commit");
    }
    db.sync().expect("sync");
    db.compact().expect("first compaction");
    power_loss_note("FIRST VALUES DURABLE");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let overwritten = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in (0..RACE_KEYS).rev() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                db.set(&race_key(i), race_value(i, 2)).expect("overwrite");
                power_loss_note(&format!("SET {i}"));
                overwritten.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        // Start the compaction once the overwrites run, so that they go on during its copy.
        while overwritten.load(std::sync::atomic::Ordering::Relaxed) < 10 {
            std::thread::yield_now();
        }
        db.compact().expect("second compaction");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    report("DONE");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A compaction copies only the records the index points to, so it leaves out a record that
/// a later commit replaced. Commits are visible before they are durable: if the victim holding
/// the replaced record is deleted before the replacing commit is synced, a power cut takes
/// the commit back and the key has neither value. Each key must come back with one of its
/// two values. Rounds run until three of them had overwrites committed while the compaction
/// copied (its step 2), which is when a record can be left out.
#[test]
fn power_cut_after_a_compaction_beside_unsynced_commits_loses_no_key() -> TestResult {
    let (mut rounds, mut raced, mut inside) = (0u64, 0u64, 0u64);
    while raced < 3 {
        rounds += 1;
        assert!(
            rounds <= 30,
            "in {} rounds only {raced} had an overwrite committed during the compaction's copy",
            rounds - 1
        );
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        std::fs::create_dir_all(&dir)?;
        let journal = tmp.path().join("journal");
        let env = [("ZIGGY_JOURNAL", journal.display().to_string())];
        let mut child = Child::spawn(RACE_ENTRY, RACE_ROLE, &dir, &env);
        child.expect("DONE", Duration::from_secs(120));
        let status = child.kill();
        assert_eq!(status.signal(), Some(9), "{}", child.stderr());
        let cut = power_cut(&journal, &dir)?;
        // Overwrites acknowledged between the second compaction's steps 2 and 3.
        let (mut second, mut copying, mut during) = (false, false, 0u64);
        for e in &cut.events {
            let PowerLossEvent::Note(n) = e else { continue };
            match n.as_str() {
                "FIRST VALUES DURABLE" => second = true,
                "compaction step 2" if second => copying = true,
                "compaction step 3" if second => copying = false,
                n if copying && n.starts_with("SET ") => during += 1,
                _ => {}
            }
        }
        raced += u64::from(during > 0);
        inside += during;
        let label = format!("round {rounds} ({during} overwrites during the copy)");
        let db = Db::open(&dir).map_err(|e| format!("{label}: reopening failed: {e}"))?;
        let mut lost = Vec::new();
        for i in 0..RACE_KEYS {
            let got = db.get(&race_key(i))?;
            let got = got.as_deref();
            if got != Some(race_value(i, 1).as_bytes()) && got != Some(race_value(i, 2).as_bytes())
            {
                lost.push(i);
            }
        }
        assert!(
            lost.is_empty(),
            "{label}: {} keys came back with neither of their values: {:?}",
            lost.len(),
            &lost[..lost.len().min(20)]
        );
        check_and_commit(&db, &label)?;
    }
    println!(
        "compaction beside unsynced commits: {rounds} rounds, {raced} with overwrites during \
         the copy ({inside} in all), no key lost"
    );
    Ok(())
}
