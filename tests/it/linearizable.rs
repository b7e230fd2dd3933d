//! A linearizability checker for the histories of single objects (one key, or one group of
//! keys always accessed together), after Wing & Gong and Lowe, as in Knossos and Porcupine.
//!
//! Linearizability is local (Herlihy & Wing): a history is linearizable iff the sub-history
//! of every object is. So each object is checked on its own, against a sequential [`Model`].
//! [`check`] searches for a linearization: a total order of the operations that respects
//! real time (an operation that responded before another was invoked comes first) and in
//! which every operation returns what the model returns. An operation without a response
//! (pending, or its process crashed) may take effect at any point after its invocation, or
//! not at all, with any result.
//!
//! The search walks a time-ordered list of invocation and response entries. At an
//! invocation, it tries to apply the operation to the model state: if the result matches and
//! the pair (set of linearized operations, model state) is new, the operation is linearized
//! and removed from the list, and the walk restarts from the head. At a response whose
//! operation is not linearized yet, no order extends the current prefix, so the search
//! backtracks to the last linearized operation and tries the next candidate. The memo of
//! visited pairs bounds the work by the number of distinct reachable configurations.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fmt::{self, Debug, Display};
use std::hash::Hash;

/// A sequential specification.
pub trait Model {
    /// The object's state; two equal states behave the same from then on.
    type State: Clone + Eq + Hash + Debug;
    /// An operation and its arguments.
    type Input: Debug;
    /// What an operation returned.
    type Output: Debug;
    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// The state after `input` if, applied to `state`, it can return `output` (`None`: the
    /// result is unknown, any is accepted); `None` if it cannot.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// One operation of a history: invoked at `inv`, responded at `resp` with `output`.
/// `output: None` is an operation that never responded; its `resp` is ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Op<I, O> {
    pub inv: u64,
    pub resp: u64,
    pub input: I,
    pub output: Option<O>,
}

impl<I, O> Op<I, O> {
    /// A completed operation.
    pub fn done(inv: u64, resp: u64, input: I, output: O) -> Self {
        Op {
            inv,
            resp,
            input,
            output: Some(output),
        }
    }

    /// An operation invoked at `inv` that never responded.
    pub fn pending(inv: u64, input: I) -> Self {
        Op {
            inv,
            resp: u64::MAX,
            input,
            output: None,
        }
    }
}

impl<I: Debug, O: Debug> Display for Op<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.output {
            Some(o) => write!(
                f,
                "[{}, {}] {:?} -> {:?}",
                self.inv, self.resp, self.input, o
            ),
            None => write!(f, "[{}, never] {:?} -> ?", self.inv, self.input),
        }
    }
}

/// The work a successful check took.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Operations in the history.
    pub ops: usize,
    /// Model steps tried.
    pub steps: u64,
    /// Distinct (linearized set, state) configurations visited.
    pub configurations: usize,
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No linearization exists; the message shows where the longest linearizable prefix
    /// found gets stuck.
    NotLinearizable(String),
    /// The search exceeded its step bound before finding a linearization or exhausting the
    /// possibilities: neither a pass nor a proof of a violation.
    TooHard(String),
}

impl Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::NotLinearizable(m) => write!(f, "not linearizable: {m}"),
            Failure::TooHard(m) => write!(f, "linearizability search gave up: {m}"),
        }
    }
}

const NIL: usize = usize::MAX;

type MemoKey = (u32, Box<[u64]>);

/// The memo key of a set of linearized operations, indexed in invocation order: such a set
/// is mostly a prefix, so it is stored as the number of leading full words and the rest up to
/// the last set bit.
fn memo_key(bits: &[u64]) -> MemoKey {
    let lo = bits
        .iter()
        .position(|w| *w != u64::MAX)
        .unwrap_or(bits.len());
    let hi = bits.iter().rposition(|w| *w != 0).map_or(0, |i| i + 1);
    (lo as u32, bits[lo..hi.max(lo)].into())
}

/// Searches for a linearization of `history` with respect to `model`, trying at most
/// `max_steps` model steps.
///
/// # Errors
/// [`Failure::NotLinearizable`] when none exists, [`Failure::TooHard`] when the bound ran out.
pub fn check<M: Model>(
    model: &M,
    history: &[Op<M::Input, M::Output>],
    max_steps: u64,
) -> Result<Stats, Failure> {
    // Operations in invocation order, so that linearized sets are near-prefixes.
    let mut ops: Vec<&Op<M::Input, M::Output>> = history.iter().collect();
    ops.sort_by_key(|o| (o.inv, o.resp));
    let n = ops.len();
    for o in &ops {
        assert!(
            o.output.is_none() || o.resp >= o.inv,
            "an operation responded before it was invoked: {o}"
        );
    }
    // Entries: (time, is a response, operation). At equal times invocations come first, so
    // operations that touch at one instant count as concurrent.
    let mut entries: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, o) in ops.iter().enumerate() {
        entries.push((o.inv, false, i));
        if o.output.is_some() {
            entries.push((o.resp, true, i));
        }
    }
    entries.sort_unstable();
    let m = entries.len();
    let head = m;
    let mut next = vec![NIL; m + 1];
    let mut prev = vec![NIL; m + 1];
    let mut call_at = vec![NIL; n];
    let mut ret_at = vec![NIL; n];
    let mut last = head;
    for (pos, &(_, is_ret, op)) in entries.iter().enumerate() {
        next[last] = pos;
        prev[pos] = last;
        last = pos;
        if is_ret {
            ret_at[op] = pos;
        } else {
            call_at[op] = pos;
        }
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, x: usize| {
        next[prev[x]] = next[x];
        if next[x] != NIL {
            prev[next[x]] = prev[x];
        }
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, x: usize| {
        next[prev[x]] = x;
        if next[x] != NIL {
            prev[next[x]] = x;
        }
    };

    let mut bits = vec![0u64; n.div_ceil(64)];
    let mut memo: HashSet<(MemoKey, M::State)> = HashSet::new();
    let mut state = model.init();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut steps = 0u64;
    // Where the deepest prefix got stuck, for the message.
    let mut stuck: Option<(usize, String)> = None;
    let mut entry = next[head];
    while entry != NIL {
        let (_, is_ret, op) = entries[entry];
        if !is_ret {
            steps += 1;
            if steps > max_steps {
                return Err(Failure::TooHard(format!(
                    "{max_steps} model steps for {n} operations, {} configurations visited, \
                     {} operations linearized at that point",
                    memo.len(),
                    stack.len()
                )));
            }
            if let Some(after) = model.step(&state, &ops[op].input, ops[op].output.as_ref()) {
                bits[op / 64] |= 1 << (op % 64);
                if memo.insert((memo_key(&bits), after.clone())) {
                    stack.push((op, std::mem::replace(&mut state, after)));
                    unlink(&mut next, &mut prev, call_at[op]);
                    if ret_at[op] != NIL {
                        unlink(&mut next, &mut prev, ret_at[op]);
                    }
                    entry = next[head];
                    continue;
                }
                bits[op / 64] &= !(1 << (op % 64));
            }
            entry = next[entry];
            continue;
        }
        // `op` responded and is not linearized: the current prefix cannot be extended.
        if stuck.as_ref().is_none_or(|s| stack.len() > s.0) {
            stuck = Some((
                stack.len(),
                describe_stuck(&ops, &stack, &state, entry, &entries, &next, head),
            ));
        }
        let Some((undo, before)) = stack.pop() else {
            let (depth, why) = stuck.unwrap_or_default();
            return Err(Failure::NotLinearizable(format!(
                "{n} operations, at most {depth} linearize in order; {why}"
            )));
        };
        state = before;
        bits[undo / 64] &= !(1 << (undo % 64));
        if ret_at[undo] != NIL {
            relink(&mut next, &mut prev, ret_at[undo]);
        }
        relink(&mut next, &mut prev, call_at[undo]);
        entry = next[call_at[undo]];
    }
    Ok(Stats {
        ops: n,
        steps,
        configurations: memo.len(),
    })
}

fn describe_stuck<I: Debug, O: Debug, S: Debug>(
    ops: &[&Op<I, O>],
    stack: &[(usize, S)],
    state: &S,
    blocked_at: usize,
    entries: &[(u64, bool, usize)],
    next: &[usize],
    head: usize,
) -> String {
    const SHOWN: usize = 6;
    let mut s = String::new();
    let from = stack.len().saturating_sub(SHOWN);
    let lin: Vec<String> = stack[from..]
        .iter()
        .map(|(o, _)| ops[*o].to_string())
        .collect();
    s += &format!(
        "after {}{}\n  state {state:?}\n  and none of the operations that can come next fits:",
        if from > 0 { "..., " } else { "" },
        if lin.is_empty() {
            "nothing".to_owned()
        } else {
            lin.join(",\n    ")
        }
    );
    let mut e = next[head];
    let mut shown = 0;
    while e != NIL && e != blocked_at {
        let (_, is_ret, op) = entries[e];
        if !is_ret {
            if shown < SHOWN * 2 {
                s += &format!("\n    {}", ops[op]);
            }
            shown += 1;
        }
        e = next[e];
    }
    if shown > SHOWN * 2 {
        s += &format!("\n    ... {} more", shown - SHOWN * 2);
    }
    s += &format!(
        "\n  while {} had responded, so one of them must come next",
        ops[entries[blocked_at].2]
    );
    s
}

// ---------------------------------------------------------------------------------------------
// Models

/// A register: one plain key read with GET and written with SET or DEL; starts absent.
pub struct Register;

#[derive(Debug, Clone, PartialEq)]
pub enum RegIn {
    /// SET (`Some`) or DEL (`None`).
    Write(Option<String>),
    Read,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RegOut {
    Written,
    Value(Option<String>),
}

impl Model for Register {
    type State = Option<String>;
    type Input = RegIn;
    type Output = RegOut;
    fn init(&self) -> Self::State {
        None
    }
    fn step(&self, s: &Self::State, i: &RegIn, o: Option<&RegOut>) -> Option<Self::State> {
        match (i, o) {
            (RegIn::Write(v), None | Some(RegOut::Written)) => Some(v.clone()),
            (RegIn::Read, None) => Some(s.clone()),
            (RegIn::Read, Some(RegOut::Value(v))) => (v == s).then(|| s.clone()),
            _ => None,
        }
    }
}

/// A counter: INCRBY returns the new value, GET the value; starts at 0 (absent).
pub struct Counter;

#[derive(Debug, Clone, PartialEq)]
pub enum CounterIn {
    Incr(i64),
    Get,
}

impl Model for Counter {
    type State = i64;
    type Input = CounterIn;
    type Output = i64;
    fn init(&self) -> i64 {
        0
    }
    fn step(&self, s: &i64, i: &CounterIn, o: Option<&i64>) -> Option<i64> {
        let (after, result) = match i {
            CounterIn::Incr(by) => (s + by, s + by),
            CounterIn::Get => (*s, *s),
        };
        o.is_none_or(|o| *o == result).then_some(after)
    }
}

/// A list used as a queue: LPUSH of one value (returns the new length), RPOP (returns the
/// tail or nothing), and a read of every element, head first.
pub struct Queue;

#[derive(Debug, Clone, PartialEq)]
pub enum QueueIn {
    Push(String),
    Pop,
    ReadAll,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueueOut {
    Len(u64),
    Popped(Option<String>),
    All(Vec<String>),
}

impl Model for Queue {
    type State = VecDeque<String>;
    type Input = QueueIn;
    type Output = QueueOut;
    fn init(&self) -> Self::State {
        VecDeque::new()
    }
    fn step(&self, s: &Self::State, i: &QueueIn, o: Option<&QueueOut>) -> Option<Self::State> {
        let mut after = s.clone();
        let result = match i {
            QueueIn::Push(v) => {
                after.push_front(v.clone());
                QueueOut::Len(after.len() as u64)
            }
            QueueIn::Pop => QueueOut::Popped(after.pop_back()),
            QueueIn::ReadAll => QueueOut::All(after.iter().cloned().collect()),
        };
        o.is_none_or(|o| *o == result).then_some(after)
    }
}

/// A set: SADD and SREM of one member (return 1 if it changed the set, else 0), SISMEMBER
/// (1 or 0) and SCARD.
pub struct Set;

#[derive(Debug, Clone, PartialEq)]
pub enum SetIn {
    Add(String),
    Remove(String),
    Contains(String),
    Card,
}

impl Model for Set {
    type State = BTreeSet<String>;
    type Input = SetIn;
    type Output = u64;
    fn init(&self) -> Self::State {
        BTreeSet::new()
    }
    fn step(&self, s: &Self::State, i: &SetIn, o: Option<&u64>) -> Option<Self::State> {
        let mut after = s.clone();
        let result = match i {
            SetIn::Add(m) => after.insert(m.clone()) as u64,
            SetIn::Remove(m) => after.remove(m) as u64,
            SetIn::Contains(m) => s.contains(m) as u64,
            SetIn::Card => s.len() as u64,
        };
        o.is_none_or(|o| *o == result).then_some(after)
    }
}

/// A map from fields to values, as a hash (HSET, HDEL, HGET, HLEN) or a sorted set with
/// scores as values (ZADD, ZREM, ZSCORE, ZCARD). A put returns 1 if the field is new, else 0
/// (as HSET, and ZADD without CH); a delete 1 if the field was there.
pub struct Map;

#[derive(Debug, Clone, PartialEq)]
pub enum MapIn {
    Put(String, String),
    Delete(String),
    Get(String),
    Len,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MapOut {
    Count(u64),
    Value(Option<String>),
}

impl Model for Map {
    type State = BTreeMap<String, String>;
    type Input = MapIn;
    type Output = MapOut;
    fn init(&self) -> Self::State {
        BTreeMap::new()
    }
    fn step(&self, s: &Self::State, i: &MapIn, o: Option<&MapOut>) -> Option<Self::State> {
        let mut after = s.clone();
        let result = match i {
            MapIn::Put(f, v) => MapOut::Count(after.insert(f.clone(), v.clone()).is_none() as u64),
            MapIn::Delete(f) => MapOut::Count(after.remove(f).is_some() as u64),
            MapIn::Get(f) => MapOut::Value(s.get(f).cloned()),
            MapIn::Len => MapOut::Count(s.len() as u64),
        };
        o.is_none_or(|o| *o == result).then_some(after)
    }
}

/// Accounts that start with given balances, changed by transfers (transactions over two
/// keys) and read all at once (MGET): one object, since every operation is atomic over it.
pub struct Bank {
    pub initial: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BankIn {
    Transfer { from: usize, to: usize, amount: i64 },
    ReadAll,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BankOut {
    Done,
    Balances(Vec<i64>),
}

impl Model for Bank {
    type State = Vec<i64>;
    type Input = BankIn;
    type Output = BankOut;
    fn init(&self) -> Vec<i64> {
        self.initial.clone()
    }
    fn step(&self, s: &Vec<i64>, i: &BankIn, o: Option<&BankOut>) -> Option<Vec<i64>> {
        match (i, o) {
            (BankIn::Transfer { from, to, amount }, None | Some(BankOut::Done)) => {
                let mut after = s.clone();
                after[*from] -= amount;
                after[*to] += amount;
                Some(after)
            }
            (BankIn::ReadAll, None) => Some(s.clone()),
            (BankIn::ReadAll, Some(BankOut::Balances(b))) => (b == s).then(|| s.clone()),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checker can fail

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: u64 = 1_000_000;

    fn w(inv: u64, resp: u64, v: Option<&str>) -> Op<RegIn, RegOut> {
        Op::done(inv, resp, RegIn::Write(v.map(Into::into)), RegOut::Written)
    }

    fn r(inv: u64, resp: u64, v: Option<&str>) -> Op<RegIn, RegOut> {
        Op::done(inv, resp, RegIn::Read, RegOut::Value(v.map(Into::into)))
    }

    fn incr(inv: u64, resp: u64, result: i64) -> Op<CounterIn, i64> {
        Op::done(inv, resp, CounterIn::Incr(1), result)
    }

    fn not_linearizable<M: Model>(model: &M, h: &[Op<M::Input, M::Output>]) -> String {
        match check(model, h, BOUND) {
            Err(Failure::NotLinearizable(m)) => m,
            other => panic!("expected a violation in {h:?}, got {other:?}"),
        }
    }

    #[test]
    fn accepts_sequential_and_concurrent_register_histories() {
        let h = vec![
            r(1, 2, None),
            w(3, 10, Some("a")),
            // Concurrent with the write: either value.
            r(4, 5, None),
            r(5, 6, Some("a")),
            w(11, 15, Some("b")),
            w(13, 20, Some("c")),
            // After both concurrent writes, either order: b last.
            r(21, 22, Some("b")),
            r(23, 24, Some("b")),
            w(25, 26, None),
            r(27, 28, None),
        ];
        let stats = check(&Register, &h, BOUND).expect("linearizable");
        assert_eq!(stats.ops, h.len());
        // A read that sees the new value while the write is still running, then one that
        // sees it too.
        let h = vec![w(1, 100, Some("a")), r(2, 3, Some("a")), r(4, 5, Some("a"))];
        check(&Register, &h, BOUND).expect("linearizable");
        // Two readers seeing two concurrent writes in the same order.
        let h = vec![
            w(0, 100, Some("a")),
            w(0, 100, Some("b")),
            r(10, 20, Some("a")),
            r(30, 40, Some("b")),
            r(15, 25, Some("a")),
            r(35, 45, Some("b")),
        ];
        check(&Register, &h, BOUND).expect("linearizable");
    }

    #[test]
    fn rejects_two_readers_seeing_concurrent_writes_in_opposite_orders() {
        // Each reader alone is fine, and every read is neither stale nor from the future in
        // real time; but reader 1 saw a then b, reader 2 b then a.
        let h = vec![
            w(0, 100, Some("a")),
            w(0, 100, Some("b")),
            r(10, 20, Some("a")),
            r(30, 40, Some("b")),
            r(10, 20, Some("b")),
            r(30, 40, Some("a")),
        ];
        let m = not_linearizable(&Register, &h);
        assert!(m.contains("none of the operations"), "{m}");
    }

    #[test]
    fn rejects_a_read_going_back_to_an_older_value_after_another_read_saw_the_newer() {
        // No real-time staleness per read: the write of b is still running. But once a read
        // has returned b, a later read cannot return a.
        let h = vec![
            w(0, 1, Some("a")),
            w(2, 100, Some("b")),
            r(10, 20, Some("b")),
            r(30, 40, Some("a")),
        ];
        not_linearizable(&Register, &h);
    }

    #[test]
    fn rejects_a_stale_read() {
        let h = vec![w(1, 2, Some("a")), w(3, 4, Some("b")), r(5, 6, Some("a"))];
        let m = not_linearizable(&Register, &h);
        assert!(m.contains("Value(Some(\"a\"))"), "{m}");
        // The initial state is stale after a completed write.
        not_linearizable(&Register, &[w(1, 2, Some("a")), r(3, 4, None)]);
        // A DEL is a write too.
        not_linearizable(
            &Register,
            &[w(1, 2, Some("a")), w(3, 4, None), r(5, 6, Some("a"))],
        );
    }

    #[test]
    fn rejects_a_read_from_the_future_and_a_value_never_written() {
        not_linearizable(&Register, &[r(1, 2, Some("a")), w(3, 4, Some("a"))]);
        not_linearizable(&Register, &[r(1, 2, Some("zz"))]);
    }

    #[test]
    fn counters_reject_a_lost_increment_and_out_of_order_results() {
        let ok = vec![incr(1, 5, 2), incr(2, 3, 1), incr(6, 7, 3)];
        check(&Counter, &ok, BOUND).expect("linearizable");
        // Lost increment: two INCRs both return 1.
        not_linearizable(&Counter, &[incr(1, 2, 1), incr(3, 4, 1)]);
        // Concurrent, still lost.
        not_linearizable(&Counter, &[incr(1, 4, 1), incr(2, 3, 1)]);
        // The later INCR returned the smaller value.
        not_linearizable(&Counter, &[incr(1, 2, 2), incr(3, 4, 1)]);
        // A final GET that misses an increment.
        not_linearizable(
            &Counter,
            &[
                incr(1, 2, 1),
                incr(3, 4, 2),
                Op::done(5, 6, CounterIn::Get, 1),
            ],
        );
    }

    #[test]
    fn pending_operations_may_or_may_not_take_effect() {
        // A write that never responded may be seen...
        let h = vec![
            Op::pending(1, RegIn::Write(Some("a".into()))),
            r(5, 6, Some("a")),
        ];
        check(&Register, &h, BOUND).expect("linearizable");
        // ...or not...
        let h = vec![
            Op::pending(1, RegIn::Write(Some("a".into()))),
            r(5, 6, None),
        ];
        check(&Register, &h, BOUND).expect("linearizable");
        // ...but not before it was invoked, and not undone once seen.
        let h = vec![
            r(1, 2, Some("a")),
            Op::pending(3, RegIn::Write(Some("a".into()))),
        ];
        not_linearizable(&Register, &h);
        let h = vec![
            Op::pending(1, RegIn::Write(Some("a".into()))),
            r(5, 6, Some("a")),
            r(7, 8, None),
        ];
        not_linearizable(&Register, &h);
        // A pending INCR may explain a later result, with any result of its own.
        let h = vec![Op::pending(1, CounterIn::Incr(1)), incr(5, 6, 2)];
        check(&Counter, &h, BOUND).expect("linearizable");
    }

    #[test]
    fn queues_are_fifo_in_real_time() {
        let push = |inv, resp, v: &str, len| {
            Op::done(inv, resp, QueueIn::Push(v.into()), QueueOut::Len(len))
        };
        let pop = |inv, resp, v: Option<&str>| {
            Op::done(inv, resp, QueueIn::Pop, QueueOut::Popped(v.map(Into::into)))
        };
        let all = |inv, resp, v: &[&str]| {
            Op::done(
                inv,
                resp,
                QueueIn::ReadAll,
                QueueOut::All(v.iter().map(|s| s.to_string()).collect()),
            )
        };
        let ok = vec![
            push(1, 2, "a", 1),
            // Concurrent pushes: b first.
            push(3, 10, "c", 3),
            push(4, 5, "b", 2),
            pop(11, 12, Some("a")),
            pop(13, 14, Some("b")),
            all(15, 16, &["c"]),
            pop(17, 18, Some("c")),
            pop(19, 20, None),
        ];
        check(&Queue, &ok, BOUND).expect("linearizable");
        // Popped out of order.
        let bad = vec![push(1, 2, "a", 1), push(3, 4, "b", 2), pop(5, 6, Some("b"))];
        not_linearizable(&Queue, &bad);
        // Popped twice.
        let bad = vec![
            push(1, 2, "a", 1),
            pop(3, 4, Some("a")),
            pop(5, 6, Some("a")),
        ];
        not_linearizable(&Queue, &bad);
        // A push whose reported length misses an earlier push.
        let bad = vec![push(1, 2, "a", 1), push(3, 4, "b", 1)];
        not_linearizable(&Queue, &bad);
        // Empty while a completed push was never popped.
        let bad = vec![push(1, 2, "a", 1), pop(3, 4, None)];
        not_linearizable(&Queue, &bad);
    }

    #[test]
    fn sets_answer_membership_and_cardinality_in_real_time() {
        let op = |inv, resp, i: SetIn, o| Op::done(inv, resp, i, o);
        let ok = vec![
            op(1, 2, SetIn::Add("m".into()), 1),
            op(3, 10, SetIn::Remove("m".into()), 1),
            op(4, 5, SetIn::Contains("m".into()), 1),
            op(6, 7, SetIn::Card, 0),
            op(11, 12, SetIn::Add("n".into()), 1),
            op(13, 14, SetIn::Add("n".into()), 0),
            op(15, 16, SetIn::Card, 1),
        ];
        check(&Set, &ok, BOUND).expect("linearizable");
        // Membership seen gone, then back without an add.
        let bad = vec![
            op(1, 2, SetIn::Add("m".into()), 1),
            op(3, 100, SetIn::Remove("m".into()), 1),
            op(4, 5, SetIn::Contains("m".into()), 0),
            op(6, 7, SetIn::Contains("m".into()), 1),
        ];
        not_linearizable(&Set, &bad);
        // A lost add: the set reads empty after an add that changed it.
        let bad = vec![
            op(1, 2, SetIn::Add("m".into()), 1),
            op(3, 4, SetIn::Card, 0),
        ];
        not_linearizable(&Set, &bad);
    }

    #[test]
    fn maps_reject_a_lost_update_and_a_stale_field() {
        let op = |inv, resp, i: MapIn, o| Op::done(inv, resp, i, o);
        let put = |f: &str, v: &str| MapIn::Put(f.into(), v.into());
        let get = |f: &str| MapIn::Get(f.into());
        let val = |v: Option<&str>| MapOut::Value(v.map(Into::into));
        let ok = vec![
            op(1, 2, put("f", "a"), MapOut::Count(1)),
            op(3, 10, put("f", "b"), MapOut::Count(0)),
            op(4, 5, get("f"), val(Some("b"))),
            op(6, 7, get("f"), val(Some("b"))),
            op(11, 12, MapIn::Delete("f".into()), MapOut::Count(1)),
            op(13, 14, MapIn::Len, MapOut::Count(0)),
        ];
        check(&Map, &ok, BOUND).expect("linearizable");
        // A field overwritten by a completed put reads its old value.
        let bad = vec![
            op(1, 2, put("f", "a"), MapOut::Count(1)),
            op(3, 4, put("f", "b"), MapOut::Count(0)),
            op(5, 6, get("f"), val(Some("a"))),
        ];
        not_linearizable(&Map, &bad);
        // Two puts of a new field both report it new: one of them lost the other.
        let bad = vec![
            op(1, 5, put("f", "a"), MapOut::Count(1)),
            op(2, 6, put("f", "b"), MapOut::Count(1)),
        ];
        not_linearizable(&Map, &bad);
    }

    #[test]
    fn banks_reject_a_read_of_half_a_transfer() {
        let bank = Bank {
            initial: vec![10, 10],
        };
        let t = |inv, resp, from, to, amount| {
            Op::done(
                inv,
                resp,
                BankIn::Transfer { from, to, amount },
                BankOut::Done,
            )
        };
        let read = |inv, resp, b: &[i64]| {
            Op::done(inv, resp, BankIn::ReadAll, BankOut::Balances(b.to_vec()))
        };
        let ok = vec![
            t(1, 10, 0, 1, 3),
            read(2, 3, &[10, 10]),
            read(4, 5, &[7, 13]),
        ];
        check(&bank, &ok, BOUND).expect("linearizable");
        // Half a transfer: the sum is off.
        not_linearizable(&bank, &[t(1, 10, 0, 1, 3), read(2, 3, &[7, 10])]);
        // Sums right, but a state no order of the transfers passes through.
        let bad = vec![t(1, 2, 0, 1, 3), t(3, 4, 1, 0, 5), read(5, 6, &[7, 13])];
        not_linearizable(&bank, &bad);
    }

    #[test]
    fn many_concurrent_operations_check_quickly_and_the_bound_is_reported() {
        // 8 writers at a time over 4000 writes and reads: the memo keeps this small.
        let mut h = Vec::new();
        for round in 0..500u64 {
            let t = round * 100;
            for k in 0..8u64 {
                h.push(w(t + k, t + 50 + k, Some(&format!("v{round}.{k}"))));
            }
            h.push(r(t + 60, t + 70, Some(&format!("v{round}.3"))));
        }
        let stats = check(&Register, &h, BOUND).expect("linearizable");
        assert!(stats.steps < 200_000, "{stats:?}");
        match check(&Register, &h, 100) {
            Err(Failure::TooHard(m)) => assert!(m.contains("100 model steps"), "{m}"),
            other => panic!("expected the bound to be reported, got {other:?}"),
        }
    }
}
