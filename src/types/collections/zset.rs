//! Sorted sets (Redis `ZADD`, `ZRANGE`, `ZRANK`, …): two counted B+trees, one keyed by
//! member (holding the score) and one keyed by (score, member), so score lookups, ranks and
//! range starts all cost O(log n) and a range of M members O(log n + M).

use crate::db::pages::{load_or_create, store, Meta, Source};
use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::format::tree::{PageRead, Target, Tree};
use crate::format::value::ValueType;
use crate::types::collections::index_range;
use crate::types::read::Read;

const TY: ValueType = ValueType::ZSet;

/// A bound of a score range: `-inf`/`+inf` are `f64` infinities; `(` makes it exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreBound {
    /// Scores ≥ (or ≤) this.
    Inclusive(f64),
    /// Scores > (or <) this.
    Exclusive(f64),
}

/// A bound of a lexicographic range (Redis `[a`, `(a`, `-`, `+`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// Members ≥ (or ≤) this.
    Inclusive(Vec<u8>),
    /// Members > (or <) this.
    Exclusive(Vec<u8>),
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
}

/// Options of [`SortedSet::add`] (Redis `ZADD` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZAddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update when the new score is greater.
    pub gt: bool,
    /// Only update when the new score is less.
    pub lt: bool,
    /// Count changed members, not only added ones.
    pub ch: bool,
}

/// How [`Read::zset_combine`] merges the scores a member has in several inputs (Redis
/// `AGGREGATE SUM|MIN|MAX`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Aggregate {
    /// The sum of the weighted scores (an infinity minus an infinity gives 0, as in Redis).
    #[default]
    Sum,
    /// The lowest weighted score.
    Min,
    /// The highest weighted score.
    Max,
}

impl Aggregate {
    /// Merges `value` into `target` as Redis's `zunionInterAggregate` does.
    fn merge(self, target: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *target += value;
                if target.is_nan() {
                    *target = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *target {
                    *target = value;
                }
            }
            Aggregate::Max => {
                if value > *target {
                    *target = value;
                }
            }
        }
    }
}

/// A sorted set in a write transaction; see [`WriteTxn::zset`].
///
/// Stored as two counted B+trees, one keyed by member (holding the score) and one by
/// (score, member), so score lookups, ranks and range starts cost O(log n) and a range of
/// m members O(log n + m); see [Keys, values and collections](crate#keys-values-and-collections).
pub struct SortedSet<'t> {
    txn: &'t mut WriteTxn,
    key: Vec<u8>,
}

/// A sorted set for reading: from the committed state ([`Db::zset`]), one
/// [`crate::Snapshot`], or a write transaction ([`Read::zset_view`]). Every sorted set read
/// is written here once.
pub struct SortedSetView<'a, S = Db> {
    src: &'a S,
    key: std::borrow::Cow<'a, [u8]>,
}

impl<'a, S: Read> SortedSetView<'a, S> {
    pub(crate) fn new(src: &'a S, key: std::borrow::Cow<'a, [u8]>) -> Self {
        Self { src, key }
    }
}

impl SortedSetView<'_, Db> {
    /// Removes and returns the member with the lowest score, waiting for one to be added
    /// (by any process) if the sorted set is empty (Redis `BZPOPMIN key timeout`); `None` if
    /// `wait` ended first. See [`Db::pop_zsets_blocking`] for several keys.
    ///
    /// # Errors
    /// As [`Db::pop_zsets_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &[(5.0, "x")]))?;
    /// let got = db.zset(b"z").pop_min_blocking(ziggydb::Wait::forever())?;
    /// assert_eq!(got, Some((b"x".to_vec(), 5.0)));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_min_blocking(&self, wait: impl Into<crate::Wait>) -> Result<Option<(Vec<u8>, f64)>> {
        self.pop_blocking(false, wait.into())
    }

    /// Removes and returns the member with the highest score, waiting for one to be added
    /// if the sorted set is empty (Redis `BZPOPMAX key timeout`); `None` if `wait` ended
    /// first.
    ///
    /// # Errors
    /// As [`Db::pop_zsets_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// assert_eq!(db.zset(b"z").pop_max_blocking(Duration::from_millis(1))?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_max_blocking(&self, wait: impl Into<crate::Wait>) -> Result<Option<(Vec<u8>, f64)>> {
        self.pop_blocking(true, wait.into())
    }

    fn pop_blocking(&self, max: bool, wait: crate::Wait) -> Result<Option<(Vec<u8>, f64)>> {
        let got = self.src.pop_zsets_blocking(&[&*self.key], max, 1, wait)?;
        Ok(got.and_then(|(_, v)| v.into_iter().next()))
    }
}

impl WriteTxn {
    /// The sorted set at `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     assert_eq!(z.score(b"b")?, Some(2.0));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn zset(&mut self, key: impl AsRef<[u8]>) -> SortedSet<'_> {
        SortedSet {
            txn: self,
            key: key.as_ref().to_vec(),
        }
    }
}

impl WriteTxn {
    /// Stores [`Read::zset_combine`]'s result as the sorted set at `dest` (Redis
    /// `ZUNIONSTORE`, `ZINTERSTORE`, `ZDIFFSTORE`), replacing whatever `dest` held (an
    /// empty result deletes it); returns its size. `dest` may be one of `keys`.
    ///
    /// # Errors
    /// As [`Read::zset_combine`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::{Aggregate, SetOp};
    /// db.transaction(|tx| {
    ///     tx.zset(b"a").add(Default::default(), &[(1.0, "x"), (2.0, "y")])?;
    ///     tx.zset(b"b").add(Default::default(), &[(5.0, "x")])?;
    ///     tx.zset_combine_store(SetOp::Diff, b"d", &[b"a", b"b"], &[], Aggregate::Sum)
    /// })?;
    /// assert_eq!(db.zset(b"d").range(0, -1, false)?, vec![(b"y".to_vec(), 2.0)]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn zset_combine_store(
        &mut self,
        op: super::SetOp,
        dest: &[u8],
        keys: &[&[u8]],
        weights: &[f64],
        aggregate: Aggregate,
    ) -> Result<u64> {
        let items = zcombine(self, op, keys, weights, aggregate)?;
        self.delete(dest)?;
        let pairs: Vec<(f64, &[u8])> = items.iter().map(|(m, s)| (*s, m.as_slice())).collect();
        if pairs.is_empty() {
            return Ok(0);
        }
        self.zset(dest).add(ZAddFlags::default(), &pairs)
    }
}

impl Db {
    /// The sorted set at `key`, read without taking the writer lock (each call one consistent
    /// read; see [`Db::view`] for several).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &[(2.0, b"m")]))?;
    /// assert_eq!(db.zset(b"z").rank(b"m", false)?, Some(0));
    /// # Ok(()) }
    /// ```
    pub fn zset(&self, key: impl AsRef<[u8]>) -> SortedSetView<'_> {
        self.zset_view(key)
    }
}

/// Order-preserving encoding of a score: byte order equals numeric order.
#[allow(
    clippy::big_endian_bytes,
    reason = "byte order must equal numeric order"
)]
fn enc(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score }; // -0 sorts as 0, as in Redis
    let b = score.to_bits();
    let x = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    x.to_be_bytes()
}

#[allow(clippy::big_endian_bytes, reason = "inverse of `enc`")]
fn dec(b: &[u8]) -> f64 {
    let x = u64::from_be_bytes(b.get(..8).and_then(|s| s.try_into().ok()).unwrap_or([0; 8]));
    f64::from_bits(if x >> 63 == 1 { x & !(1 << 63) } else { !x })
}

fn score_key(score: f64, member: &[u8]) -> Vec<u8> {
    let mut k = enc(score).to_vec();
    k.extend_from_slice(member);
    k
}

pub(crate) fn stored_score(v: &[u8]) -> f64 {
    f64::from_bits(u64::from_le_bytes(
        v.get(..8).and_then(|s| s.try_into().ok()).unwrap_or([0; 8]),
    ))
}

fn split_entry((k, _): (Vec<u8>, Vec<u8>)) -> (Vec<u8>, f64) {
    (k.get(8..).unwrap_or(&[]).to_vec(), dec(&k))
}

/// Members with a score below `s`.
fn count_below(src: &impl PageRead, t: &Tree, s: f64) -> Result<u64> {
    if s == f64::NEG_INFINITY {
        return Ok(0);
    }
    t.rank_of(src, &enc(s), false)
}

/// Members with a score of at most `s`.
fn count_at_most(src: &impl PageRead, t: &Tree, len: u64, s: f64) -> Result<u64> {
    if s == f64::INFINITY {
        return Ok(len);
    }
    count_below(src, t, s.next_up())
}

/// Ranks `[start, end)` of the members within `min..max` in the score tree.
fn score_ranks(
    src: &impl PageRead,
    m: &Meta,
    min: ScoreBound,
    max: ScoreBound,
) -> Result<(u64, u64)> {
    let start = match min {
        ScoreBound::Inclusive(s) => count_below(src, &m.b, s)?,
        ScoreBound::Exclusive(s) => count_at_most(src, &m.b, m.len, s)?,
    };
    let end = match max {
        ScoreBound::Inclusive(s) => count_at_most(src, &m.b, m.len, s)?,
        ScoreBound::Exclusive(s) => count_below(src, &m.b, s)?,
    };
    Ok((start, end.max(start)))
}

/// The score every member has, if they all have one (the first and last of the score tree
/// agree).
fn uniform_score(src: &impl PageRead, m: &Meta) -> Result<Option<f64>> {
    let score_at = |rank: u64| -> Result<Option<f64>> {
        Ok(m.b.range(src, rank, 1)?.first().map(|(k, _)| dec(k)))
    };
    let (first, last) = (score_at(0)?, score_at(m.len.saturating_sub(1))?);
    Ok(first.filter(|f| last.is_some_and(|l| l.to_bits() == f.to_bits())))
}

/// Ranks `[start, end)` of the members within `min..max` when every member has `score`: in
/// the score tree such members are in member order.
fn lex_ranks(
    src: &impl PageRead,
    m: &Meta,
    score: f64,
    min: &LexBound,
    max: &LexBound,
) -> Result<(u64, u64)> {
    let rank = |k: &[u8], or_equal: bool| m.b.rank_of(src, &score_key(score, k), or_equal);
    let start = match min {
        LexBound::Min => 0,
        LexBound::Max => m.len,
        LexBound::Inclusive(k) => rank(k, false)?,
        LexBound::Exclusive(k) => rank(k, true)?,
    };
    let end = match max {
        LexBound::Min => 0,
        LexBound::Max => m.len,
        LexBound::Inclusive(k) => rank(k, true)?,
        LexBound::Exclusive(k) => rank(k, false)?,
    };
    Ok((start, end.max(start)))
}

/// Whether `member` lies within `min..max`.
fn in_lex(member: &[u8], min: &LexBound, max: &LexBound) -> bool {
    let above = match min {
        LexBound::Min => true,
        LexBound::Max => false,
        LexBound::Inclusive(k) => member >= k.as_slice(),
        LexBound::Exclusive(k) => member > k.as_slice(),
    };
    let below = match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::Inclusive(k) => member <= k.as_slice(),
        LexBound::Exclusive(k) => member < k.as_slice(),
    };
    above && below
}

/// Applies `rev`, `offset` and `limit` (negative = all) to ranks `[start, end)`.
fn window(start: u64, end: u64, rev: bool, offset: u64, limit: i64) -> (u64, u64, bool) {
    let n = end - start;
    let n_after = n.saturating_sub(offset);
    let take = if limit < 0 {
        n_after
    } else {
        n_after.min(limit as u64)
    };
    if rev {
        (end - offset.min(n) - take, take, true)
    } else {
        (start + offset.min(n), take, false)
    }
}

fn score_of(src: &impl Source, key: &[u8], member: &[u8]) -> Result<Option<f64>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(None);
    };
    Ok(m.a.get(src, member)?.map(|v| stored_score(&v)))
}

fn rank_of(src: &impl Source, key: &[u8], member: &[u8], rev: bool) -> Result<Option<u64>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(None);
    };
    let Some(v) = m.a.get(src, member)? else {
        return Ok(None);
    };
    let r =
        m.b.rank_of(src, &score_key(stored_score(&v), member), false)?;
    Ok(Some(if rev { m.len - 1 - r } else { r }))
}

fn by_rank(
    src: &impl Source,
    key: &[u8],
    start: i64,
    stop: i64,
    rev: bool,
) -> Result<Vec<(Vec<u8>, f64)>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    let (s, n) = index_range(start, stop, m.len);
    let s = if rev { m.len - s - n } else { s };
    members_at(src, &m, s, n, rev)
}

/// A page of a scan of the sorted set at `key`; see [`SortedSetView::scan`].
fn scan_of(
    src: &impl Source,
    key: &[u8],
    cursor: u64,
    count: usize,
    pattern: Option<&[u8]>,
) -> Result<super::SortedSetScanPage> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok((Vec::new(), 0));
    };
    let (page, next) = super::scan_tree(src, &m.a, m.len, cursor, count)?;
    let members = page
        .into_iter()
        .filter(|(k, _)| super::scan_match(pattern, k))
        .map(|(k, v)| (k, stored_score(&v)))
        .collect();
    Ok((members, next))
}

/// The members of the sorted set or set at `key` with their scores (a set's members score
/// 1, as Redis's `ZUNION` and its kin read them), in member order; `WrongType` for any
/// other type.
fn scored_members(src: &impl Source, key: &[u8]) -> Result<Vec<(Vec<u8>, f64)>> {
    match src.meta(key, TY) {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(m)) => Ok(m
            .a
            .range(src, 0, m.len)?
            .into_iter()
            .map(|(k, v)| (k, stored_score(&v)))
            .collect()),
        Err(Error::WrongType {
            actual: ValueType::Set,
            ..
        }) => {
            let Some(m) = src.meta(key, ValueType::Set)? else {
                return Ok(Vec::new());
            };
            Ok(m.a
                .range(src, 0, m.len)?
                .into_iter()
                .map(|(k, _)| (k, 1.0))
                .collect())
        }
        Err(e) => Err(e),
    }
}

/// The union, intersection or difference of the sorted sets (or sets) at `keys`, each
/// score multiplied by the input's weight (1 for inputs past `weights`) and merged by
/// `aggregate`, as Redis's `zunionInterDiffGenericCommand` computes them: union and
/// intersection take the inputs from the smallest to the largest (which decides what an
/// infinity minus an infinity gives); a difference keeps the first input's scores. Sorted
/// by score, then member.
pub(crate) fn zcombine(
    src: &impl Source,
    op: super::SetOp,
    keys: &[&[u8]],
    weights: &[f64],
    aggregate: Aggregate,
) -> Result<Vec<(Vec<u8>, f64)>> {
    use super::SetOp;
    use std::collections::BTreeMap;
    // Every key is read (and its type checked) before anything is combined.
    let mut inputs = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let weight = weights.get(i).copied().unwrap_or(1.0);
        inputs.push((scored_members(src, k)?, weight));
    }
    if op != SetOp::Diff {
        inputs.sort_by_key(|(members, _)| members.len());
    }
    let weighted = |score: f64, weight: f64| score * weight;
    let mut out: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
    let mut rest = inputs.iter().skip(1);
    let Some((first, w0)) = inputs.first() else {
        return Ok(Vec::new());
    };
    match op {
        SetOp::Union => {
            for (members, w) in &inputs {
                for (m, score) in members {
                    let mut value = weighted(*score, *w);
                    if value.is_nan() {
                        value = 0.0;
                    }
                    match out.get_mut(m) {
                        Some(acc) => aggregate.merge(acc, value),
                        None => {
                            out.insert(m.clone(), value);
                        }
                    }
                }
            }
        }
        SetOp::Inter => {
            let maps: Vec<(BTreeMap<&[u8], f64>, f64)> = rest
                .by_ref()
                .map(|(members, w)| {
                    (
                        members.iter().map(|(m, s)| (m.as_slice(), *s)).collect(),
                        *w,
                    )
                })
                .collect();
            'members: for (m, score) in first {
                let mut acc = weighted(*score, *w0);
                if acc.is_nan() {
                    acc = 0.0;
                }
                for (map, w) in &maps {
                    let Some(s) = map.get(m.as_slice()) else {
                        continue 'members;
                    };
                    aggregate.merge(&mut acc, weighted(*s, *w));
                }
                out.insert(m.clone(), acc);
            }
        }
        SetOp::Diff => {
            let others: std::collections::BTreeSet<&[u8]> = rest
                .flat_map(|(members, _)| members.iter().map(|(m, _)| m.as_slice()))
                .collect();
            for (m, score) in first {
                if !others.contains(m.as_slice()) {
                    out.insert(m.clone(), *score);
                }
            }
        }
    }
    let mut sorted: Vec<(Vec<u8>, f64)> = out.into_iter().collect();
    sorted.sort_by(|a, b| enc(a.1).cmp(&enc(b.1)).then_with(|| a.0.cmp(&b.0)));
    Ok(sorted)
}

/// Random members with their scores; see [`SortedSetView::random`].
fn random_of(src: &impl Source, key: &[u8], count: i64) -> Result<Vec<(Vec<u8>, f64)>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for p in crate::os::random::positions(m.len, count.unsigned_abs(), count >= 0) {
        out.extend(members_at(src, &m, p, 1, false)?);
    }
    Ok(out)
}

/// Members with scores at ranks `start..start + n` of the score tree, in reverse with `rev`.
fn members_at(
    src: &impl Source,
    m: &Meta,
    start: u64,
    n: u64,
    rev: bool,
) -> Result<Vec<(Vec<u8>, f64)>> {
    let mut out: Vec<_> =
        m.b.range(src, start, n)?
            .into_iter()
            .map(split_entry)
            .collect();
    if rev {
        out.reverse();
    }
    Ok(out)
}

fn by_score(
    src: &impl Source,
    key: &[u8],
    min: ScoreBound,
    max: ScoreBound,
    rev: bool,
    offset: u64,
    limit: i64,
) -> Result<Vec<(Vec<u8>, f64)>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    let (a, b) = score_ranks(src, &m, min, max)?;
    let (s, n, rev) = window(a, b, rev, offset, limit);
    members_at(src, &m, s, n, rev)
}

/// Members within `min..max` by member bytes (Redis `ZLEXCOUNT`): O(log n) when every
/// member has the same score, a read of every member otherwise.
fn lex_count(src: &impl Source, key: &[u8], min: &LexBound, max: &LexBound) -> Result<u64> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(0);
    };
    if let Some(score) = uniform_score(src, &m)? {
        let (a, b) = lex_ranks(src, &m, score, min, max)?;
        return Ok(b - a);
    }
    Ok(m.a
        .range(src, 0, m.len)?
        .iter()
        .filter(|(k, _)| in_lex(k, min, max))
        .count() as u64)
}

fn by_lex(
    src: &impl Source,
    key: &[u8],
    min: &LexBound,
    max: &LexBound,
    rev: bool,
    offset: u64,
    limit: i64,
) -> Result<Vec<(Vec<u8>, f64)>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    if let Some(score) = uniform_score(src, &m)? {
        let (a, b) = lex_ranks(src, &m, score, min, max)?;
        let (s, n, rev) = window(a, b, rev, offset, limit);
        return members_at(src, &m, s, n, rev);
    }
    // Members with different scores, for which Redis leaves the result unspecified: the
    // members within the bounds in member order, found by reading them all.
    let all: Vec<(Vec<u8>, f64)> =
        m.a.range(src, 0, m.len)?
            .into_iter()
            .filter(|(k, _)| in_lex(k, min, max))
            .map(|(k, v)| (k, stored_score(&v)))
            .collect();
    let (s, n, rev) = window(0, all.len() as u64, rev, offset, limit);
    let mut out = all
        .get(s as usize..(s + n) as usize)
        .unwrap_or(&[])
        .to_vec();
    if rev {
        out.reverse();
    }
    Ok(out)
}

fn count(src: &impl Source, key: &[u8], min: ScoreBound, max: ScoreBound) -> Result<u64> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(0);
    };
    let (a, b) = score_ranks(src, &m, min, max)?;
    Ok(b - a)
}

impl<S: Read> SortedSetView<'_, S> {
    /// Number of members (Redis `ZCARD`).
    ///
    /// # Errors
    /// [`Error::WrongType`]; read errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// assert_eq!(db.zset(b"z").len()?, 3);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.src
            .section(&mut |s| Ok(s.meta(&self.key, TY)?.map_or(0, |m| m.len)))
    }
    /// True when the sorted set is absent.
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert!(db.zset(b"z").is_empty()?);
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// assert!(!db.zset(b"z").is_empty()?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Score of `member` (Redis `ZSCORE`).
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// assert_eq!(db.zset(b"z").score(b"c")?, Some(3.0));
    /// assert_eq!(db.zset(b"z").score(b"nope")?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn score(&self, member: &[u8]) -> Result<Option<f64>> {
        self.src.section(&mut |s| score_of(&s, &self.key, member))
    }
    /// Rank of `member` by score, from the top with `rev` (Redis `ZRANK`/`ZREVRANK`).
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// assert_eq!(db.zset(b"z").rank(b"a", false)?, Some(0));
    /// assert_eq!(db.zset(b"z").rank(b"a", true)?, Some(2)); // from the top
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn rank(&self, member: &[u8], rev: bool) -> Result<Option<u64>> {
        self.src
            .section(&mut |s| rank_of(&s, &self.key, member, rev))
    }
    /// Members at ranks `start..=stop` with scores (Redis `ZRANGE`).
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let top2 = db.zset(b"z").range(0, 1, true)?;
    /// assert_eq!(top2, vec![(b"c".to_vec(), 3.0), (b"b".to_vec(), 2.0)]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range(&self, start: i64, stop: i64, rev: bool) -> Result<Vec<(Vec<u8>, f64)>> {
        self.src
            .section(&mut |s| by_rank(&s, &self.key, start, stop, rev))
    }
    /// Random members with their scores (Redis `ZRANDMEMBER`), each member equally likely:
    /// `count >= 0` gives `min(count, len)` different members, `count < 0` gives `|count|`
    /// members drawn independently (a member may repeat).
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let all = db.zset(b"z").random(5)?; // at most the 3 there are
    /// assert_eq!(all.len(), 3);
    /// assert_eq!(db.zset(b"z").random(-7)?.len(), 7);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random(&self, count: i64) -> Result<Vec<(Vec<u8>, f64)>> {
        self.src.section(&mut |s| random_of(&s, &self.key, count))
    }
    /// One page of an incremental scan of the members and their scores (Redis `ZSCAN key
    /// cursor [MATCH pattern] [COUNT count]`), with the guarantees and costs of
    /// [`SetView::scan`](crate::SetView::scan): every member present for the whole scan is
    /// returned at least once. Returns the page and the next cursor, 0 at the end.
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &[(1.5, "a"), (2.0, "b")]))?;
    /// let (page, next) = db.zset(b"z").scan(0, 10, Some(b"a*"))?;
    /// assert_eq!((page, next), (vec![(b"a".to_vec(), 1.5)], 0));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<super::SortedSetScanPage> {
        self.src
            .section(&mut |s| scan_of(&s, &self.key, cursor, count, pattern))
    }
    /// Members with scores in `min..=max` (Redis `ZRANGE … BYSCORE`, `ZRANGEBYSCORE`);
    /// `limit < 0` means all.
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ScoreBound;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let got = db.zset(b"z").range_by_score(
    ///     ScoreBound::Exclusive(1.0), ScoreBound::Inclusive(3.0), false, 0, -1)?;
    /// assert_eq!(got, vec![(b"b".to_vec(), 2.0), (b"c".to_vec(), 3.0)]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range_by_score(
        &self,
        min: ScoreBound,
        max: ScoreBound,
        rev: bool,
        offset: u64,
        limit: i64,
    ) -> Result<Vec<(Vec<u8>, f64)>> {
        self.src
            .section(&mut |s| by_score(&s, &self.key, min, max, rev, offset, limit))
    }
    /// Number of members within `min..max` by member bytes (Redis `ZLEXCOUNT`).
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::LexBound;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let n = db.zset(b"z").lex_count(&LexBound::Inclusive(b"b".to_vec()), &LexBound::Max)?;
    /// assert_eq!(n, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn lex_count(&self, min: &LexBound, max: &LexBound) -> Result<u64> {
        self.src
            .section(&mut |s| lex_count(&s, &self.key, min, max))
    }
    /// Members in `min..=max` by member bytes (Redis `ZRANGE … BYLEX`).
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::LexBound;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let below_c = LexBound::Exclusive(b"c".to_vec());
    /// let got = db.zset(b"z").range_by_lex(&LexBound::Min, &below_c, false, 0, -1)?;
    /// assert_eq!(got.len(), 2);
    /// assert_eq!(got[0].0, b"a".to_vec());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range_by_lex(
        &self,
        min: &LexBound,
        max: &LexBound,
        rev: bool,
        offset: u64,
        limit: i64,
    ) -> Result<Vec<(Vec<u8>, f64)>> {
        self.src
            .section(&mut |s| by_lex(&s, &self.key, min, max, rev, offset, limit))
    }
    /// Number of members with scores in `min..=max` (Redis `ZCOUNT`).
    ///
    /// # Errors
    /// As [`SortedSetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ScoreBound;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let (min, max) = (ScoreBound::Inclusive(2.0), ScoreBound::Inclusive(f64::INFINITY));
    /// assert_eq!(db.zset(b"z").count(min, max)?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn count(&self, min: ScoreBound, max: ScoreBound) -> Result<u64> {
        self.src.section(&mut |s| count(&s, &self.key, min, max))
    }
}

impl SortedSet<'_> {
    /// Adds or updates members (Redis `ZADD` with NX/XX/GT/LT/CH). Returns the number of
    /// members added (or, with `ch`, added or changed).
    ///
    /// # Errors
    /// [`Error::WrongType`]; [`Error::InvalidArgument`] for NaN or contradictory flags.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ZAddFlags;
    /// let items = [(1.0, "a"), (2.0, "b")];
    /// let added = db.transaction(|tx| tx.zset(b"z").add(ZAddFlags::default(), &items))?;
    /// assert_eq!(added, 2);
    /// // GT: only raise scores; CH: count changed members.
    /// let flags = ZAddFlags { gt: true, ch: true, ..Default::default() };
    /// let changed = db.transaction(|tx| tx.zset(b"z").add(flags, &[(5.0, "a"), (0.0, "b")]))?;
    /// assert_eq!(changed, 1);
    /// assert_eq!(db.zset(b"z").score(b"a")?, Some(5.0));
    /// assert_eq!(db.zset(b"z").score(b"b")?, Some(2.0));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn add<M: AsRef<[u8]>>(&mut self, flags: ZAddFlags, items: &[(f64, M)]) -> Result<u64> {
        if flags.nx && (flags.xx || flags.gt || flags.lt) || flags.gt && flags.lt {
            return Err(Error::InvalidArgument(
                "GT, LT, and/or NX options at the same time are not compatible".into(),
            ));
        }
        let (mut m, exp) = load_or_create(self.txn, &self.key, TY)?;
        let mut n = 0;
        for (score, member) in items {
            let (score, member) = (*score, member.as_ref());
            if score.is_nan() {
                return Err(Error::NotAFloat);
            }
            let old = m.a.get(&*self.txn, member)?.map(|v| stored_score(&v));
            let write = match old {
                None => !flags.xx,
                Some(o) => {
                    !flags.nx && (!flags.gt || score > o) && (!flags.lt || score < o) && o != score
                }
            };
            if !write {
                continue;
            }
            self.put(&mut m, member, old, score)?;
            if old.is_none() || flags.ch {
                n += 1;
            }
        }
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(n)
    }

    fn put(&mut self, m: &mut Meta, member: &[u8], old: Option<f64>, score: f64) -> Result<()> {
        // -0 is stored as 0, as Redis stores a small sorted set's scores (as integers).
        let score = if score == 0.0 { 0.0 } else { score };
        // The same score again (ZINCRBY by 0, or of an infinite score) changes nothing, and
        // writes nothing, as Redis does not count it as a change either.
        if old == Some(score) {
            return Ok(());
        }
        if let Some(o) = old {
            m.b.remove(self.txn, Target::Key(&score_key(o, member)))?;
        } else {
            m.len += 1;
        }
        let sk = score_key(score, member);
        m.b.insert(self.txn, &mut m.next_page, Target::Key(&sk), &sk, &[])?;
        m.a.insert(
            self.txn,
            &mut m.next_page,
            Target::Key(member),
            member,
            &score.to_bits().to_le_bytes(),
        )?;
        Ok(())
    }

    /// Adds `delta` to the score of `member` (absent = 0) (Redis `ZINCRBY`, `ZADD INCR`).
    ///
    /// # Errors
    /// As [`SortedSet::add`]; a NaN result.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let s = db.transaction(|tx| {
    ///     let mut z = tx.zset(b"leaderboard");
    ///     z.incr_by(b"ada", 10.0)?;
    ///     z.incr_by(b"ada", 2.5)
    /// })?;
    /// assert_eq!(s, 12.5);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn incr_by(&mut self, member: &[u8], delta: f64) -> Result<f64> {
        let (mut m, exp) = load_or_create(self.txn, &self.key, TY)?;
        let old = m.a.get(&*self.txn, member)?.map(|v| stored_score(&v));
        let score = old.unwrap_or(0.0) + delta;
        if score.is_nan() {
            return Err(Error::InvalidArgument(
                "resulting score is not a number (NaN)".into(),
            ));
        }
        self.put(&mut m, member, old, score)?;
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(score)
    }

    /// Removes members (Redis `ZREM`); returns how many existed.
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// assert_eq!(db.transaction(|tx| tx.zset(b"z").remove(&["a", "nope"]))?, 1);
    /// assert_eq!(db.zset(b"z").len()?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn remove<M: AsRef<[u8]>>(&mut self, members: &[M]) -> Result<u64> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let mut n = 0;
        for member in members {
            let member = member.as_ref();
            if let Some((_, v)) = m.a.remove(self.txn, Target::Key(member))? {
                m.b.remove(self.txn, Target::Key(&score_key(stored_score(&v), member)))?;
                m.len -= 1;
                n += 1;
            }
        }
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(n)
    }

    /// Score of `member` (Redis `ZSCORE`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     assert_eq!(z.score(b"a")?, Some(1.0));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn score(&self, member: &[u8]) -> Result<Option<f64>> {
        score_of(&*self.txn, &self.key, member)
    }

    /// Number of members (Redis `ZCARD`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     assert_eq!(z.len()?, 3);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        Ok(self.txn.meta(&self.key, TY)?.map_or(0, |m| m.len))
    }

    /// True when the sorted set is absent.
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     assert!(z.is_empty()?);
    ///     z.add(Default::default(), &[(1.0, "a")])?;
    ///     assert!(!z.is_empty()?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Rank of `member` (Redis `ZRANK`/`ZREVRANK`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     assert_eq!(z.rank(b"c", false)?, Some(2));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn rank(&self, member: &[u8], rev: bool) -> Result<Option<u64>> {
        rank_of(&*self.txn, &self.key, member, rev)
    }

    /// Members at ranks `start..=stop` (Redis `ZRANGE`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     assert_eq!(z.range(0, 0, false)?, vec![(b"a".to_vec(), 1.0)]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range(&self, start: i64, stop: i64, rev: bool) -> Result<Vec<(Vec<u8>, f64)>> {
        by_rank(&*self.txn, &self.key, start, stop, rev)
    }

    /// [`SortedSetView::random`] inside the transaction.
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.5, "a")])?;
    ///     assert_eq!(z.random(-2)?, vec![(b"a".to_vec(), 1.5), (b"a".to_vec(), 1.5)]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random(&self, count: i64) -> Result<Vec<(Vec<u8>, f64)>> {
        random_of(&*self.txn, &self.key, count)
    }

    /// One page of a scan of the members as this transaction sees them (Redis `ZSCAN`);
    /// see [`SortedSetView::scan`].
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(3.0, "m")])?;
    ///     assert_eq!(z.scan(0, 10, None)?, (vec![(b"m".to_vec(), 3.0)], 0));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<super::SortedSetScanPage> {
        scan_of(&*self.txn, &self.key, cursor, count, pattern)
    }

    /// Members with scores in `min..=max` (Redis `ZRANGEBYSCORE`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ScoreBound::Inclusive;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     let (min, max) = (Inclusive(f64::NEG_INFINITY), Inclusive(f64::INFINITY));
    ///     let got = z.range_by_score(min, max, true, 1, 1)?;
    ///     assert_eq!(got, vec![(b"b".to_vec(), 2.0)]); // offset 1, limit 1, from the top
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range_by_score(
        &self,
        min: ScoreBound,
        max: ScoreBound,
        rev: bool,
        offset: u64,
        limit: i64,
    ) -> Result<Vec<(Vec<u8>, f64)>> {
        by_score(&*self.txn, &self.key, min, max, rev, offset, limit)
    }

    /// Number of members within `min..max` by member bytes (Redis `ZLEXCOUNT`), seeing this
    /// transaction's writes.
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::LexBound;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     assert_eq!(z.lex_count(&LexBound::Min, &LexBound::Max)?, 3);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn lex_count(&self, min: &LexBound, max: &LexBound) -> Result<u64> {
        lex_count(&*self.txn, &self.key, min, max)
    }

    /// Members in `min..=max` by member bytes (Redis `ZRANGE … BYLEX`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::LexBound;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     let got = z.range_by_lex(&LexBound::Min, &LexBound::Max, true, 0, 1)?; // from the top
    ///     assert_eq!(got[0].0, b"c".to_vec());
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range_by_lex(
        &self,
        min: &LexBound,
        max: &LexBound,
        rev: bool,
        offset: u64,
        limit: i64,
    ) -> Result<Vec<(Vec<u8>, f64)>> {
        by_lex(&*self.txn, &self.key, min, max, rev, offset, limit)
    }

    /// Number of members with scores in `min..=max` (Redis `ZCOUNT`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ScoreBound;
    /// db.transaction(|tx| {
    ///     let mut z = tx.zset(b"z");
    ///     z.add(Default::default(), &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    ///     assert_eq!(z.count(ScoreBound::Exclusive(1.0), ScoreBound::Exclusive(3.0))?, 1);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn count(&self, min: ScoreBound, max: ScoreBound) -> Result<u64> {
        count(&*self.txn, &self.key, min, max)
    }

    fn remove_ranks(&mut self, start: u64, n: u64) -> Result<u64> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        for _ in 0..n {
            if let Some((k, _)) = m.b.remove(self.txn, Target::Rank(start))? {
                m.a.remove(self.txn, Target::Key(k.get(8..).unwrap_or(&[])))?;
                m.len -= 1;
            }
        }
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(n)
    }

    /// Removes members with scores in `min..=max` (Redis `ZREMRANGEBYSCORE`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ScoreBound;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let n = db.transaction(|tx| {
    ///     let (min, max) = (ScoreBound::Inclusive(2.0), ScoreBound::Inclusive(3.0));
    ///     tx.zset(b"z").remove_range_by_score(min, max)
    /// })?;
    /// assert_eq!(n, 2);
    /// assert_eq!(db.zset(b"z").len()?, 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn remove_range_by_score(&mut self, min: ScoreBound, max: ScoreBound) -> Result<u64> {
        let Some(m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let (a, b) = score_ranks(&*self.txn, &m, min, max)?;
        self.remove_ranks(a, b - a)
    }

    /// Removes members at ranks `start..=stop` (Redis `ZREMRANGEBYRANK`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let n = db.transaction(|tx| tx.zset(b"z").remove_range_by_rank(0, -2))?; // all but the top
    /// assert_eq!(n, 2);
    /// assert_eq!(db.zset(b"z").range(0, -1, false)?, vec![(b"c".to_vec(), 3.0)]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn remove_range_by_rank(&mut self, start: i64, stop: i64) -> Result<u64> {
        let Some(m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let (s, n) = index_range(start, stop, m.len);
        self.remove_ranks(s, n)
    }

    /// Removes the members within `min..max` by member bytes (Redis `ZREMRANGEBYLEX`);
    /// returns how many. Meant, as in Redis, for a sorted set whose members all have one
    /// score (then O(log n + removed)); with different scores it removes every member
    /// within the bounds, found by reading them all.
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::LexBound;
    /// let abc = [(0.0, "a"), (0.0, "b"), (0.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let n = db.transaction(|tx| {
    ///     tx.zset(b"z").remove_range_by_lex(&LexBound::Exclusive(b"a".to_vec()), &LexBound::Max)
    /// })?;
    /// assert_eq!(n, 2);
    /// assert_eq!(db.zset(b"z").range(0, -1, false)?, vec![(b"a".to_vec(), 0.0)]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn remove_range_by_lex(&mut self, min: &LexBound, max: &LexBound) -> Result<u64> {
        let Some(m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        if let Some(score) = uniform_score(&*self.txn, &m)? {
            let (a, b) = lex_ranks(&*self.txn, &m, score, min, max)?;
            return self.remove_ranks(a, b - a);
        }
        let doomed: Vec<Vec<u8>> =
            m.a.range(&*self.txn, 0, m.len)?
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| in_lex(k, min, max))
                .collect();
        self.remove(&doomed)
    }

    /// Removes and returns up to `count` members with the lowest (or, with `max`, highest)
    /// scores (Redis `ZPOPMIN`/`ZPOPMAX`).
    ///
    /// # Errors
    /// As [`SortedSet::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let abc = [(1.0, "a"), (2.0, "b"), (3.0, "c")];
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &abc))?;
    /// let min = db.transaction(|tx| tx.zset(b"z").pop(1, false))?;
    /// assert_eq!(min, vec![(b"a".to_vec(), 1.0)]);
    /// let max = db.transaction(|tx| tx.zset(b"z").pop(1, true))?;
    /// assert_eq!(max, vec![(b"c".to_vec(), 3.0)]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop(&mut self, count: u64, max: bool) -> Result<Vec<(Vec<u8>, f64)>> {
        let Some(m) = self.txn.meta(&self.key, TY)? else {
            return Ok(Vec::new());
        };
        let n = count.min(m.len);
        if n == 0 {
            return Ok(Vec::new());
        }
        // Highest first for ZPOPMAX, lowest first for ZPOPMIN, as Redis replies.
        let items = by_rank(&*self.txn, &self.key, 0, n as i64 - 1, max)?;
        self.remove_ranks(if max { m.len - n } else { 0 }, n)?;
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_encoding_orders_like_numbers() {
        let xs = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1.0,
            -0.0,
            0.0,
            1e-300,
            1.0,
            2.5,
            1e300,
            f64::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(enc(w[0]) <= enc(w[1]), "{} vs {}", w[0], w[1]);
            assert_eq!(dec(&enc(w[1])), w[1]);
        }
        assert_eq!(enc(-0.0), enc(0.0));
    }

    #[test]
    fn window_applies_offset_limit_and_reverse() {
        assert_eq!(window(10, 20, false, 2, 3), (12, 3, false));
        assert_eq!(window(10, 20, true, 2, 3), (15, 3, true));
        assert_eq!(window(10, 20, false, 15, -1), (20, 0, false));
        assert_eq!(window(10, 20, true, 0, -1), (10, 10, true));
    }
}
