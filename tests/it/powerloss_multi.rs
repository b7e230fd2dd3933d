//! Power loss with several writer processes: three child processes open one database at once
//! and commit concurrently, all journaling into one power-loss journal (the seam orders the
//! records of every process in one sequence, see `io::powerloss`), until one of them reaches
//! a chosen I/O call and kills the whole process group at that instant (or the parent does,
//! after a chosen delay). The parent then cuts the power, reopens and checks.
//!
//! Processes share fsyncs (format-spec.md §9.4): a committer returns without syncing when
//! another process's fsync already covered its commit, and in `Batched` mode each process's
//! flusher syncs whatever every process published. So what a cut may lose depends on the
//! order of effects and syncs across processes, which is what the shared journal records.
//!
//! Transaction `s` of process `p` sets `seq/p = s`, increments `total` and stores the new
//! value `g` in `t/p/s` (1.5 KiB, so the log rotates), moves an amount between two of eight
//! accounts (created by the first increment, so their sum stays 0), and every tenth writes
//! 100 `bulk/` keys (so the index grows). After each commit returns, the process notes
//! `ACK p s` in the journal.
//!
//! Checks after each cut: the database opens; for every process `p`, `seq/p = L_p` with every
//! transaction acknowledged (in `Batched` mode: acknowledged before the start of the last
//! completed fsync of a segment file, by any process) present and at most one more; the keys
//! of transactions `1..=L_p` exactly, nothing of later ones; `total = Σ L_p` and the `g` of
//! the surviving transactions exactly `1..=total`, so the survivors are a prefix of the
//! common log, not a prefix of each process's commits only; every account balance as the
//! surviving transfers left it (sum 0); `check()`; and a commit after recovery.
//!
//! The same with compaction running meanwhile (format-spec.md §11): either a fourth process
//! calls `Db::compact()` in a loop, its I/O journaled like the writers' (so a cut can fall on
//! one of its calls), or auto-compaction runs in every writer. The workload then also leaves
//! dead space: each transaction overwrites `scratch/p` (1.5 KiB) and every tenth deletes the
//! `bulk/` keys of the tenth before it, so compaction copies some records and drops others,
//! while the index still grows. Compaction notes its steps in the journal, which tells where
//! each cut fell; a sync of a compaction output is not a sync of the log.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::testing::{
    power_cut, power_loss_note, set_fault_plan, set_power_loss_journal, FaultAction, FaultOp,
    FaultPlan, PowerCut, PowerLossEvent,
};
use ziggydb::{Db, Durability, Value};

use crate::util::{self, child_param, child_role, read_command, report, Child, Rng, TestResult};

const ENTRY: &str = "powerloss_multi::child_powerloss_multi_writer";
const ROLE: &str = "powerloss-multi-writer";
const COMPACTOR_ENTRY: &str = "powerloss_multi::child_powerloss_multi_compactor";
const COMPACTOR_ROLE: &str = "powerloss-multi-compactor";
const PROCS: usize = 3;
const TXNS: u64 = 30;
const ACCOUNTS: u64 = 8;
const PAD: usize = 1500;
const BULK: u64 = 100;
const WAIT: Duration = Duration::from_secs(60);
const SEGMENT: u64 = 64 << 10;

/// What compacts while the writers commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compaction {
    /// Nothing: the plain workload, auto-compaction off.
    Off,
    /// A process of its own calls `Db::compact()` in a loop.
    Process,
    /// Auto-compaction in every writer, with thresholds low enough to trigger often.
    Auto,
}

impl Compaction {
    fn name(self) -> &'static str {
        match self {
            Compaction::Off => "off",
            Compaction::Process => "process",
            Compaction::Auto => "auto",
        }
    }

    fn from_env() -> Compaction {
        match std::env::var("ZIGGY_COMPACTION").as_deref() {
            Ok("process") => Compaction::Process,
            Ok("auto") => Compaction::Auto,
            _ => Compaction::Off,
        }
    }

    /// Whether the workload leaves dead space (overwrites and deletes) for compaction.
    fn churn(self) -> bool {
        self != Compaction::Off
    }
}

/// One configuration of a run.
#[derive(Clone, Copy, Debug)]
struct Setup {
    batched: bool,
    compaction: Compaction,
}

impl Setup {
    fn label(self) -> String {
        let mode = if self.batched { "batched" } else { "immediate" };
        match self.compaction {
            Compaction::Off => mode.to_owned(),
            c => format!("{mode}, compaction {}", c.name()),
        }
    }

    /// The children of a round: the writers, then the compactor process if any.
    fn children(self) -> usize {
        PROCS + usize::from(self.compaction == Compaction::Process)
    }

    fn options(self) -> ziggydb::OpenOptions {
        let mut options = Db::options().segment_size(SEGMENT);
        options = if self.compaction == Compaction::Auto {
            // Dead space passes these after a few dozen transactions, and again after each
            // compaction reclaimed it.
            options.auto_compact(true, 0.2, 24 << 10)
        } else {
            options.auto_compact(false, 0.5, 0)
        };
        if self.batched {
            options = options.durability(Durability::Batched {
                max_delay: Duration::from_millis(3),
            });
        }
        options
    }
}

fn seq_key(p: u64) -> Vec<u8> {
    format!("seq/{p}").into_bytes()
}

fn t_key(p: u64, s: u64) -> Vec<u8> {
    format!("t/{p}/{s}").into_bytes()
}

fn fill(p: u64, s: u64) -> String {
    char::from(b'a' + ((p * 7 + s) % 26) as u8)
        .to_string()
        .repeat(PAD)
}

fn acct(i: u64) -> Vec<u8> {
    format!("acct/{i}").into_bytes()
}

fn bulk_key(p: u64, s: u64, j: u64) -> Vec<u8> {
    format!("bulk/{p}/{s}/{j}").into_bytes()
}

fn has_bulk(s: u64) -> bool {
    s % 10 == 5
}

fn scratch_key(p: u64) -> Vec<u8> {
    format!("scratch/{p}").into_bytes()
}

fn scratch(p: u64, s: u64) -> String {
    format!("{s}:{}", fill(p + 1, s))
}

/// With churn, the transaction whose `bulk/` keys transaction `s` deletes.
fn bulk_dropped_by(s: u64) -> Option<u64> {
    s.checked_sub(10).filter(|&b| has_bulk(b))
}

/// Whether the `bulk/` keys of transaction `b` exist once transaction `l` is the last.
fn bulk_alive(b: u64, l: u64, churn: bool) -> bool {
    has_bulk(b) && b <= l && !(churn && b + 10 <= l)
}

/// The transfer of transaction `s` of process `p`: amount, from, to.
fn transfer(p: u64, s: u64) -> (i64, u64, u64) {
    let from = (p * 7 + s) % ACCOUNTS;
    let to = (p * 3 + s * 5 + 1) % ACCOUNTS;
    (
        ((p + s) % 9 + 1) as i64,
        from,
        if to == from { (to + 1) % ACCOUNTS } else { to },
    )
}

fn run_txn(db: &Db, p: u64, s: u64, churn: bool) -> ziggydb::Result<()> {
    db.transaction(|tx| {
        tx.set(&seq_key(p), s as i64)?;
        let g = tx.incr_by(b"total", 1)?;
        tx.set(&t_key(p, s), format!("{p}:{s}:{g}:{}", fill(p, s)))?;
        let (amount, from, to) = transfer(p, s);
        tx.incr_by(&acct(from), -amount)?;
        tx.incr_by(&acct(to), amount)?;
        if has_bulk(s) {
            for j in 0..BULK {
                tx.set(&bulk_key(p, s, j), format!("{p}/{s}/{j}"))?;
            }
        }
        if churn {
            tx.set(&scratch_key(p), scratch(p, s))?;
            if let Some(b) = bulk_dropped_by(s) {
                for j in 0..BULK {
                    tx.delete(&bulk_key(p, b, j))?;
                }
            }
        }
        Ok(())
    })
}

/// What every child does first: turns the journal on and arms its fault plan, if any. The
/// configuration of the run.
fn arm_child() -> Setup {
    let journal: String = child_param("ZIGGY_JOURNAL");
    let cut: String = child_param("ZIGGY_CUT");
    set_power_loss_journal(Some(Path::new(&journal))).expect("journal");
    if let Some((op, nth)) = cut.split_once(':') {
        let op = match op {
            "sync" => FaultOp::Sync,
            "write" => FaultOp::Write,
            _ => FaultOp::Any,
        };
        set_fault_plan(Some(FaultPlan {
            op,
            nth: nth.parse().expect("nth"),
            action: FaultAction::KillGroup,
            sticky: false,
        }));
    }
    Setup {
        batched: std::env::var("ZIGGY_BATCHED").is_ok(),
        compaction: Compaction::from_env(),
    }
}

/// Opens the database; `Busy` (a lock that stayed taken for the whole lock timeout, which a
/// loaded machine can make happen) is a reason to try again, the parent bounds the wait.
fn open(dir: &Path, setup: Setup) -> Db {
    loop {
        match setup.options().open(dir) {
            Err(ziggydb::Error::Busy { .. }) => continue,
            r => return r.expect("open"),
        }
    }
}

/// One writer: turns the journal on, waits for the parent's `GO`, opens the database and
/// commits its transactions, until its fault plan (if any) kills the process group.
#[test]
fn child_powerloss_multi_writer() {
    let Some(dir) = child_role(ROLE) else {
        return;
    };
    let p: u64 = child_param("ZIGGY_PROC");
    let setup = arm_child();
    let batched = setup.batched;
    report("READY");
    assert_eq!(read_command().as_deref(), Some("GO"));
    let db = open(&dir, setup);
    for s in 1..=TXNS {
        // `Busy`: the writer lock stayed taken for the whole lock timeout, which a loaded
        // machine can make happen; the transaction did not begin, so it is run again.
        while let Err(e) = run_txn(&db, p, s, setup.compaction.churn()) {
            assert!(matches!(e, ziggydb::Error::Busy { .. }), "commit: {e}");
        }
        power_loss_note(&format!("ACK {p} {s}"));
        if batched && s % 6 == 0 {
            // Let the flushers sync mid-run, so cuts land on both sides of their fsyncs.
            std::thread::sleep(Duration::from_millis(4));
        }
    }
    drop(db);
    set_fault_plan(None);
    report("PASS");
}

/// The compactor: turns the journal on, waits for `GO`, opens the database and compacts in a
/// loop until every writer committed its last transaction (then once more), unless its fault
/// plan (or a writer's) kills the process group first.
#[test]
fn child_powerloss_multi_compactor() {
    let Some(dir) = child_role(COMPACTOR_ROLE) else {
        return;
    };
    let setup = arm_child();
    report("READY");
    assert_eq!(read_command().as_deref(), Some("GO"));
    let db = open(&dir, setup);
    loop {
        let finished = (0..PROCS as u64).try_fold(true, |all, p| {
            Ok::<_, ziggydb::Error>(
                all && db.get_value(&seq_key(p))? == Some(Value::Int(TXNS as i64)),
            )
        });
        let finished = finished.expect("read");
        match db.compact() {
            Ok(_) => {}
            // The writers kept the writer lock for the whole lock timeout (a loaded machine
            // can make that happen): the compaction gave up, cleanly; try again.
            Err(ziggydb::Error::Busy { .. }) => continue,
            Err(e) => panic!("compact: {e}"),
        }
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(db);
    set_fault_plan(None);
    report("PASS");
}

/// Where a round is cut.
#[derive(Clone, Copy, Debug)]
enum CutAt {
    /// No kill: the cut comes after every process finished.
    End,
    /// Child `killer` (a writer, or the compactor after them) kills the group before its
    /// `nth` call of kind `op`.
    Call {
        killer: usize,
        op: &'static str,
        nth: u64,
    },
    /// The parent kills the group this long after `GO`.
    After(Duration),
}

/// Runs the children on a new database until the cut, cuts the power and returns what the
/// cut reports, whether the processes were killed (rather than all finishing first), and the
/// children's process ids.
fn run_round(
    dir: &Path,
    journal: &Path,
    setup: Setup,
    at: CutAt,
) -> TestResult<(PowerCut, bool, Vec<u32>)> {
    let mut children: Vec<Child> = Vec::with_capacity(setup.children());
    for p in 0..setup.children() {
        let cut = match at {
            CutAt::Call { killer, op, nth } if killer == p => format!("{op}:{nth}"),
            _ => "none".to_owned(),
        };
        let mut env = vec![
            ("ZIGGY_JOURNAL", journal.display().to_string()),
            ("ZIGGY_PROC", p.to_string()),
            ("ZIGGY_CUT", cut),
            ("ZIGGY_COMPACTION", setup.compaction.name().to_owned()),
        ];
        if setup.batched {
            env.push(("ZIGGY_BATCHED", "1".to_owned()));
        }
        let group = children.first().map_or(0, Child::id);
        let (entry, role) = if p < PROCS {
            (ENTRY, ROLE)
        } else {
            (COMPACTOR_ENTRY, COMPACTOR_ROLE)
        };
        children.push(Child::spawn_in_group(entry, role, dir, &env, group));
    }
    let pids = children.iter().map(Child::id).collect();
    let group = children[0].id();
    for c in &mut children {
        c.expect("READY", WAIT);
    }
    for c in &mut children {
        c.send("GO");
    }
    if let CutAt::After(delay) = at {
        std::thread::sleep(delay);
        // Fails harmlessly if every writer has finished already.
        let _ = std::process::Command::new("kill")
            .args(["-9", "--", &format!("-{group}")])
            .status();
    }
    let mut killed = false;
    for c in &mut children {
        let status = c.wait(WAIT);
        if status.signal() == Some(9) {
            killed = true;
        } else {
            // Let the stderr reader catch up before it is shown.
            std::thread::sleep(Duration::from_millis(20));
            assert!(
                status.success(),
                "{at:?}: child {} died otherwise ({status}): {}",
                c.name(),
                c.stderr()
            );
        }
    }
    Ok((power_cut(journal, dir)?, killed, pids))
}

/// What one check found.
struct Found {
    /// Transactions recovered, over all processes.
    recovered: u64,
    /// Acknowledged transactions lost (inside the batched window).
    lost: u64,
    /// The step a compaction was at when the power went (format-spec.md §11), if one was
    /// running.
    compacting: Option<u32>,
    /// Compactions completed before the cut, and the records they copied.
    compactions: u64,
    copied: u64,
}

/// Checks the database after a cut.
fn verify(dir: &Path, cut: &PowerCut, setup: Setup, label: &str) -> TestResult<Found> {
    let churn = setup.compaction.churn();
    let mut acked = [0u64; PROCS];
    let mut durable = [0u64; PROCS];
    let mut outputs: BTreeSet<u32> = BTreeSet::new();
    let (mut compacting, mut compactions, mut copied) = (None, 0, 0);
    for e in &cut.events {
        match e {
            PowerLossEvent::Note(n) => {
                if let Some(rest) = n.strip_prefix("ACK ") {
                    let (p, s) = rest.split_once(' ').ok_or("a malformed note")?;
                    acked[p.parse::<usize>()?] = s.parse()?;
                } else if let Some(id) = n.strip_prefix("compaction output ") {
                    outputs.insert(id.parse()?);
                } else if let Some(step) = n.strip_prefix("compaction step ") {
                    compacting = Some(step.parse::<u32>()?);
                } else if let Some(rest) = n.strip_prefix("compaction done: ") {
                    compacting = None;
                    compactions += 1;
                    if let Some((n, _)) = rest.split_once(" records copied") {
                        copied += n.parse::<u64>()?;
                    }
                }
            }
            // Began after these acknowledgements, and completed: it covers them (§9.4). A
            // compaction output is not the log: its sync covers no commit.
            PowerLossEvent::Sync(p) => {
                let segment = p
                    .file_name()
                    .and_then(|f| f.to_str()?.strip_prefix("seg-")?.split_once('.'))
                    .and_then(|(id, _)| id.parse::<u32>().ok());
                if segment.is_some_and(|id| !outputs.contains(&id)) {
                    durable = acked;
                }
            }
            _ => {}
        }
    }
    let must = if setup.batched { durable } else { acked };
    let db = Db::open(dir).map_err(|e| format!("{label}: reopening after the cut failed: {e}"))?;
    let int = |k: &[u8]| -> TestResult<Option<i64>> {
        match db.get_value(k)? {
            None => Ok(None),
            Some(Value::Int(i)) => Ok(Some(i)),
            Some(v) => Err(format!("{label}: {} holds {v:?}", String::from_utf8_lossy(k)).into()),
        }
    };
    let mut want_keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut balance = [0i64; ACCOUNTS as usize];
    let mut touched = [false; ACCOUNTS as usize];
    let mut gs = Vec::new();
    let mut recovered = 0;
    let mut lost = 0;
    let mut seqs = [0u64; PROCS];
    // For the messages: what every process and the shared counter came back to.
    let found = (0..PROCS as u64)
        .map(|p| int(&seq_key(p)))
        .collect::<TestResult<Vec<_>>>()?;
    let found = format!("seq of each process {found:?}, total {:?}", int(b"total")?);
    for (p, (&must, &acked)) in must.iter().zip(&acked).enumerate() {
        let p = p as u64;
        let l = u64::try_from(int(&seq_key(p))?.unwrap_or(0))?;
        assert!(
            (must..=acked + 1).contains(&l),
            "{label}: process {p} recovered to transaction {l}; acknowledged {acked}, \
             durable {must} ({found})"
        );
        recovered += l;
        seqs[p as usize] = l;
        lost += acked.saturating_sub(l);
        if l > 0 {
            want_keys.insert(seq_key(p));
        }
        for s in 1..=l {
            let k = t_key(p, s);
            let v = db
                .get(&k)?
                .ok_or_else(|| format!("{label}: t/{p}/{s} lost, recovered to {l}"))?;
            let v = String::from_utf8(v.to_vec())?;
            let mut parts = v.splitn(4, ':');
            let (vp, vs, g, f) = (parts.next(), parts.next(), parts.next(), parts.next());
            assert_eq!(
                (vp, vs, f),
                (
                    Some(p.to_string().as_str()),
                    Some(s.to_string().as_str()),
                    Some(fill(p, s).as_str())
                ),
                "{label}: the value of t/{p}/{s}"
            );
            gs.push(g.ok_or("no g")?.parse::<u64>()?);
            want_keys.insert(k);
            let (amount, from, to) = transfer(p, s);
            balance[from as usize] -= amount;
            balance[to as usize] += amount;
            touched[from as usize] = true;
            touched[to as usize] = true;
            if bulk_alive(s, l, churn) {
                for j in 0..BULK {
                    let k = bulk_key(p, s, j);
                    assert_eq!(
                        db.get(&k)?.as_deref(),
                        Some(format!("{p}/{s}/{j}").as_bytes()),
                        "{label}: bulk/{p}/{s}/{j}, recovered to {l}"
                    );
                    want_keys.insert(k);
                }
            }
        }
    }
    if churn {
        for (p, &l) in seqs.iter().enumerate() {
            let k = scratch_key(p as u64);
            let want = (l > 0).then(|| scratch(p as u64, l));
            assert_eq!(
                db.get(&k)?.as_deref(),
                want.as_deref().map(str::as_bytes),
                "{label}: scratch/{p}, recovered to {l}"
            );
            if want.is_some() {
                want_keys.insert(k);
            }
        }
    }
    let total = u64::try_from(int(b"total")?.unwrap_or(0))?;
    assert_eq!(total, recovered, "{label}: total against the seq keys");
    if total > 0 {
        want_keys.insert(b"total".to_vec());
    }
    gs.sort_unstable();
    assert!(
        gs.iter().copied().eq(1..=total),
        "{label}: the surviving transactions are not a prefix of the log: {gs:?}"
    );
    let mut sum = 0;
    for i in 0..ACCOUNTS {
        let got = int(&acct(i))?;
        let want = touched[i as usize].then_some(balance[i as usize]);
        assert_eq!(got, want, "{label}: acct/{i}");
        sum += got.unwrap_or(0);
        if want.is_some() {
            want_keys.insert(acct(i));
        }
    }
    assert_eq!(sum, 0, "{label}: the account sum");
    let keys: BTreeSet<Vec<u8>> = db.keys()?.into_iter().collect();
    assert!(
        keys == want_keys,
        "{label}: the key set: extra {:?}, missing {:?}",
        keys.difference(&want_keys)
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        want_keys
            .difference(&keys)
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>()
    );
    crate::powerloss::check_and_commit(&db, label)?;
    Ok(Found {
        recovered,
        lost,
        compacting,
        compactions,
        copied,
    })
}

/// Runs the cut rounds of one configuration: one without a kill (which counts each child's
/// calls), then `rounds · soak` rounds of three cuts each, spread over every child (the
/// compactor too) and over time.
fn cut_concurrent(setup: Setup, rounds: u64) -> TestResult {
    let started = Instant::now();
    let mode = setup.label();
    let mut rng = Rng::from_env(&format!("powerloss_multi_{mode}"));
    let round = |at: CutAt| -> TestResult<(PowerCut, bool, Found)> {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        let (cut, killed, _) = run_round(&dir, &tmp.path().join("journal"), setup, at)?;
        let found = verify(&dir, &cut, setup, &format!("{mode}, {at:?}"))?;
        Ok((cut, killed, found))
    };
    // A run without a kill counts each process's calls (and is the cut after the end).
    let t0 = Instant::now();
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let (full, _, pids) = run_round(&dir, &tmp.path().join("journal"), setup, CutAt::End)?;
    let found = verify(&dir, &full, setup, &format!("{mode}, End"))?;
    drop(tmp);
    let run_time = t0.elapsed();
    assert_eq!(
        found.recovered,
        PROCS as u64 * TXNS,
        "{mode}: a closed database lost commits at a power cut"
    );
    if setup.compaction != Compaction::Off {
        assert!(
            found.compactions > 0 && found.copied > 0,
            "{mode}: no compaction copied anything ({} compactions)",
            found.compactions
        );
    }
    let calls: Vec<[u64; 4]> = pids
        .iter()
        .map(|pid| full.calls_by_process.get(pid).copied())
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{mode}: a child journaled nothing"))?;
    let children = setup.children();
    let rounds = rounds * util::soak();
    let mut plan = Vec::new();
    for i in 0..rounds {
        // Every killer, spread over its syncs (the process that creates the database makes
        // more of them, and which one does varies), then over its writes, then by time. With
        // a compactor process, every other round is cut by it.
        let killer = if children > PROCS && i % 2 == 1 {
            PROCS
        } else {
            (i as usize / (children - PROCS + 1)) % PROCS
        };
        let [writes, syncs, ..] = calls[killer];
        let frac = |n: u64| 1 + (n * (2 * i + 1) / (2 * rounds)).min(n.saturating_sub(1));
        plan.push(CutAt::Call {
            killer,
            op: "sync",
            nth: frac(syncs) + rng.range(0, 2),
        });
        plan.push(CutAt::Call {
            killer,
            op: "sync",
            nth: 1 + rng.range(0, syncs.max(1)),
        });
        if i % 2 == 0 || killer == PROCS {
            plan.push(CutAt::Call {
                killer,
                op: "write",
                nth: 1 + rng.range(0, writes.max(1)),
            });
        } else {
            let ms = run_time.as_millis() as u64;
            plan.push(CutAt::After(Duration::from_millis(
                rng.range(ms / 10, ms.max(2)),
            )));
        }
    }
    let (mut cuts, mut killed_rounds, mut verified, mut lost) = (1u64, 0u64, found.recovered, 0);
    let mut undone = full.writes_undone + full.truncations + full.names_undone;
    let (mut maps, mut shared) = (full.maps_restored, full.shared_syncs);
    let (mut by_compactor, mut compactions, mut copied) = (0u64, found.compactions, found.copied);
    // Cuts that fell inside a compaction, by the step it was at.
    let mut inside = [0u64; 6];
    let planned_rounds = plan.len() as u64;
    // Planned cuts that killed the writers mid-run, at the planned point or an earlier one.
    let mut planned_killed = 0u64;
    for planned in plan {
        // A run under another load than the one that counted the calls may make fewer of
        // them, or end sooner: a cut that fell after the end is cut again, at half the call
        // count or half the delay each time, until one falls mid-run (at most 6 times).
        let mut next = Some(planned);
        let mut tries = 0;
        while let Some(at) = next.take() {
            let (cut, killed, found) = round(at)?;
            tries += 1;
            cuts += 1;
            killed_rounds += u64::from(killed);
            verified += found.recovered;
            lost += found.lost;
            undone += cut.writes_undone + cut.truncations + cut.names_undone;
            maps += cut.maps_restored;
            shared += cut.shared_syncs;
            compactions += found.compactions;
            copied += found.copied;
            if killed {
                planned_killed += 1;
                if let Some(step) = found.compacting {
                    inside[step as usize] += 1;
                }
                if matches!(at, CutAt::Call { killer, .. } if killer == PROCS) {
                    by_compactor += 1;
                }
            } else if tries < 7 {
                next = match at {
                    CutAt::Call { killer, op, nth } if nth > 1 => Some(CutAt::Call {
                        killer,
                        op,
                        nth: nth / 2,
                    }),
                    CutAt::After(d) if d > Duration::from_millis(1) => Some(CutAt::After(d / 2)),
                    _ => None,
                };
            }
        }
    }
    let in_compaction: u64 = inside.iter().sum();
    println!(
        "power loss with {PROCS} writers ({mode}): {cuts} cuts ({killed_rounds} killing the \
         writers mid-run), {verified} recovered commits verified, {lost} acknowledged commits \
         lost in the batched window, {undone} unsynced effects undone, {maps} index files reset \
         to their last msync, {shared} deciding fsyncs shared across processes, {:.1?}",
        started.elapsed()
    );
    if setup.compaction != Compaction::Off {
        println!(
            "  compaction ({}): {in_compaction} cuts inside a compaction (by step 1-5: {:?}), \
             {by_compactor} on a call of the compactor process, {compactions} compactions \
             completed before their cut, {copied} records copied by them",
            setup.compaction.name(),
            &inside[1..]
        );
    }
    if !setup.batched {
        assert_eq!(lost, 0);
    }
    assert!(
        planned_killed * 2 > planned_rounds,
        "{mode}: only {planned_killed} of {planned_rounds} planned cuts fell mid-run, even \
         when cut again earlier ({killed_rounds} of {cuts} rounds in all)"
    );
    assert!(
        shared > 0,
        "{mode}: no fsync of one process decided the fate of another's writes"
    );
    if setup.compaction != Compaction::Off {
        assert!(in_compaction > 0, "{mode}: no cut fell inside a compaction");
    }
    Ok(())
}

fn cut_concurrent_writers(batched: bool) -> TestResult {
    let setup = Setup {
        batched,
        compaction: Compaction::Off,
    };
    cut_concurrent(setup, 16)
}

#[test]
fn power_cut_with_concurrent_writers_loses_no_acknowledged_commit() -> TestResult {
    cut_concurrent_writers(false)
}

#[test]
fn power_cut_with_concurrent_batched_writers_loses_at_most_the_unsynced_window() -> TestResult {
    cut_concurrent_writers(true)
}

/// Rounds of the compaction variants (three cuts each, times `ZIGGY_SOAK`).
const COMPACTION_ROUNDS: u64 = 8;

#[test]
fn power_cut_with_writers_and_a_compactor_process_loses_no_acknowledged_commit() -> TestResult {
    let setup = Setup {
        batched: false,
        compaction: Compaction::Process,
    };
    cut_concurrent(setup, COMPACTION_ROUNDS)
}

#[test]
fn power_cut_with_batched_writers_and_a_compactor_process_loses_at_most_the_window() -> TestResult {
    let setup = Setup {
        batched: true,
        compaction: Compaction::Process,
    };
    cut_concurrent(setup, COMPACTION_ROUNDS)
}

#[test]
fn power_cut_with_auto_compacting_writers_loses_no_acknowledged_commit() -> TestResult {
    let setup = Setup {
        batched: false,
        compaction: Compaction::Auto,
    };
    cut_concurrent(setup, COMPACTION_ROUNDS)
}

#[test]
fn power_cut_with_auto_compacting_batched_writers_loses_at_most_the_window() -> TestResult {
    let setup = Setup {
        batched: true,
        compaction: Compaction::Auto,
    };
    cut_concurrent(setup, COMPACTION_ROUNDS)
}
