//! Collection storage (format-spec.md §4.4): a collection is a metadata record under the user
//! key plus counted B+trees whose nodes are page records in the internal namespace. This
//! module reads and writes those records inside a transaction and, at commit, hands the pages
//! of a deleted or overwritten collection to a reclaimer that frees a bounded number per
//! commit. The typed handles (list, set, sorted set, hash) in `crate::types::collections`
//! stand on it.

use std::collections::BTreeSet;

use crate::db::txn::WriteTxn;
use crate::engine::{ReadView, Shared};
use crate::error::{Error, Result};
use crate::format::index;
use crate::format::tree::{Page, PageBuf, PageRead, PageWrite, Tree};
use crate::format::value::ValueType;

/// Record type tag of a tree node in the internal namespace.
pub(crate) const VTYPE_PAGE: u8 = 32;
/// Record type tag of the internal counters (next collection id) and the reclaim stack.
pub(crate) const VTYPE_INTERNAL: u8 = 33;
const META_LEN: usize = 56;
/// Internal key of the last collection id allocated.
pub(crate) const NEXT_COLL_KEY: &[u8] = b"next-collection";
/// Internal key of the reclaim stack.
pub(crate) const TRASH_KEY: &[u8] = b"reclaim";
/// Pages freed per commit at most.
const RECLAIM_BUDGET: usize = 256;

/// The metadata record of a collection (format-spec.md §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    pub coll: u64,
    pub len: u64,
    pub next_page: u64,
    /// The main tree (list positions, set members, hash fields, sorted-set members).
    pub a: Tree,
    /// The sorted set's tree ordered by (score, member).
    pub b: Tree,
    /// The transaction's count of internal writes when this was read for writing (not
    /// stored): `store` writes nothing if neither the metadata nor a page changed.
    pub writes_at_load: u64,
}

impl Meta {
    /// Marks the trees of a collection of type `ty`: a hash's fields and a sorted set's
    /// member tree are only searched by key, so they keep no counts (format-spec.md §4.4).
    fn of_type(mut self, ty: ValueType) -> Self {
        self.a.uncounted = matches!(ty, ValueType::Hash | ValueType::ZSet);
        self
    }

    /// Makes `store` write the metadata even if nothing changed, for a command that Redis
    /// counts as a change of the key whatever it stores.
    pub(crate) fn mark_changed(&mut self) {
        self.writes_at_load = u64::MAX;
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(META_LEN);
        v.extend_from_slice(&self.coll.to_le_bytes());
        v.extend_from_slice(&self.len.to_le_bytes());
        v.extend_from_slice(&self.next_page.to_le_bytes());
        for t in [self.a, self.b] {
            v.extend_from_slice(&t.root.to_le_bytes());
            v.extend_from_slice(&t.height.to_le_bytes());
            v.extend_from_slice(&[0; 4]);
        }
        v
    }

    fn decode(b: &[u8]) -> Result<Self> {
        let w = |i: usize| -> Result<u64> {
            b.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
                .ok_or(Error::CorruptCollection {
                    reason: "short metadata",
                })
        };
        if b.len() != META_LEN {
            return Err(Error::CorruptCollection {
                reason: "metadata size",
            });
        }
        let coll = w(0)?;
        let tree = |at: usize| -> Result<Tree> {
            Ok(Tree {
                coll,
                root: w(at)?,
                height: (w(at + 8)? & 0xffff_ffff) as u32,
                uncounted: false,
            })
        };
        Ok(Meta {
            coll,
            len: w(8)?,
            next_page: w(16)?,
            a: tree(24)?,
            b: tree(40)?,
            writes_at_load: 0,
        })
    }
}

/// Key of page `page` of collection `coll` in the internal namespace.
pub(crate) fn page_key(coll: u64, page: u64) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[..2].copy_from_slice(b"pg");
    k[2..10].copy_from_slice(&coll.to_le_bytes());
    k[10..].copy_from_slice(&page.to_le_bytes());
    k
}

/// The collection and page ids named by an internal key, if it is a page key.
pub(crate) fn parse_page_key(key: &[u8]) -> Option<(u64, u64)> {
    if key.len() != 18 || !key.starts_with(b"pg") {
        return None;
    }
    let coll = u64::from_le_bytes(key.get(2..10)?.try_into().ok()?);
    let page = u64::from_le_bytes(key.get(10..18)?.try_into().ok()?);
    Some((coll, page))
}

/// For `repair` (format-spec.md §12.2): walks both trees of the collection whose metadata
/// record has type tag `vtype` and payload `payload`, reading pages through `read`
/// (`None`: missing). Returns the collection id and every page the trees reach, or why the
/// collection cannot be trusted: malformed metadata, a page missing or malformed, counts
/// that disagree with each other or with the metadata's length.
pub(crate) fn walk_for_repair(
    vtype: u8,
    payload: &[u8],
    read: &mut dyn FnMut(u64, u64) -> Option<Vec<u8>>,
) -> std::result::Result<(u64, BTreeSet<u64>), String> {
    let ty = ValueType::from_tag(vtype)
        .filter(|t| t.is_collection())
        .ok_or_else(|| format!("type tag {vtype} is not a collection"))?;
    let meta = Meta::decode(payload)
        .map_err(|_| "metadata record is malformed".to_string())?
        .of_type(ty);
    let mut seen = BTreeSet::new();
    let coll = meta.coll;
    let mut pages = |p: u64| read(coll, p);
    let n = meta.a.walk(&mut pages, &mut seen)?;
    if n != meta.len {
        return Err(format!(
            "{n} entries reachable but the metadata says {}",
            meta.len
        ));
    }
    if ty == ValueType::ZSet {
        let by_score = meta.b.walk(&mut pages, &mut seen)?;
        if by_score != meta.len {
            return Err(format!(
                "{by_score} entries in the score tree but the metadata says {}",
                meta.len
            ));
        }
    } else if meta.b.root != 0 {
        return Err("a second tree on a collection that has one".into());
    }
    if let Some(p) = seen.iter().find(|&&p| p > meta.next_page) {
        return Err(format!(
            "page {p} is above the last page allocated ({})",
            meta.next_page
        ));
    }
    Ok((coll, seen))
}

/// The (collection, page) pairs of a reclaim stack record.
pub(crate) fn decode_trash(payload: &[u8]) -> Vec<(u64, u64)> {
    payload
        .chunks_exact(16)
        .map(|c| {
            let w =
                |r: std::ops::Range<usize>| u64::from_le_bytes(c[r].try_into().unwrap_or([0; 8]));
            (w(0..8), w(8..16))
        })
        .collect()
}

fn missing_page() -> Error {
    Error::CorruptCollection {
        reason: "a collection page is missing",
    }
}

impl PageRead for WriteTxn {
    fn page_bytes(&self, coll: u64, page: u64) -> Result<PageBuf> {
        self.page_buf(&page_key(coll, page))?
            .ok_or_else(missing_page)
    }
}

impl PageWrite for WriteTxn {
    fn write_page(&mut self, coll: u64, page: u64, node: Page) -> Result<()> {
        self.raw_put(
            &page_key(coll, page),
            true,
            VTYPE_PAGE,
            node.into_bytes(),
            0,
        )
    }
    fn free_page(&mut self, coll: u64, page: u64) {
        self.raw_del(&page_key(coll, page), true);
    }
}

/// Reads of collections from the committed state, inside one sequence-lock section.
pub(crate) trait Source: PageRead {
    /// The metadata of the collection of type `ty` at `key`; `WrongType` for another type.
    fn meta(&self, key: &[u8], ty: ValueType) -> Result<Option<Meta>>;
}

fn check_type(vtype: u8, ty: ValueType) -> Result<()> {
    if vtype == ty.tag() {
        return Ok(());
    }
    let actual = ValueType::from_tag(vtype).unwrap_or(ValueType::Bytes);
    Err(Error::WrongType {
        expected: ty,
        actual,
    })
}

impl Source for WriteTxn {
    fn meta(&self, key: &[u8], ty: ValueType) -> Result<Option<Meta>> {
        let Some(raw) = self.raw_get(key, false)? else {
            return Ok(None);
        };
        check_type(raw.vtype, ty)?;
        let mut meta = Meta::decode(&raw.payload)?.of_type(ty);
        meta.writes_at_load = self.internal_writes();
        Ok(Some(meta))
    }
}

/// The committed state as seen by one read section.
pub struct Snapshot<'a> {
    shared: &'a Shared,
    idx: &'a ReadView<'a>,
    /// Point reads of user keys in this attempt of the section (hits, misses), for the
    /// shared read counters; `None` where reads are not counted.
    counts: Option<&'a std::cell::Cell<(u64, u64)>>,
}

impl PageRead for Snapshot<'_> {
    fn page_bytes(&self, coll: u64, page: u64) -> Result<PageBuf> {
        let key = page_key(coll, page);
        let hit = self
            .shared
            .probe_key(self.idx, &key, index::hash_for(&key, true), true)?
            .ok_or_else(missing_page)?;
        Ok(PageBuf::Mapped {
            map: hit.map,
            start: hit.meta.value_start,
            len: hit.meta.value_len,
        })
    }
}

impl Source for Snapshot<'_> {
    fn meta(&self, key: &[u8], ty: ValueType) -> Result<Option<Meta>> {
        let hit = self
            .shared
            .probe_key(self.idx, key, index::hash_key(key), false)?;
        let Some(hit) =
            hit.filter(|h| h.meta.kind == crate::format::record::KIND_PUT && !h.expired())
        else {
            return Ok(None);
        };
        check_type(hit.meta.vtype, ty)?;
        Meta::decode(hit.meta.value(&hit.map)).map(|m| Some(m.of_type(ty)))
    }
}

impl Snapshot<'_> {
    /// The unexpired record of the user key `key` in this view.
    pub(crate) fn user_hit(&self, key: &[u8]) -> Result<Option<crate::engine::Hit>> {
        let hit = self
            .shared
            .probe_key(self.idx, key, index::hash_key(key), false)?;
        let hit = hit.filter(|h| h.meta.kind == crate::format::record::KIND_PUT && !h.expired());
        if let Some(c) = self.counts {
            let (hits, misses) = c.get();
            c.set(if hit.is_some() {
                (hits + 1, misses)
            } else {
                (hits, misses + 1)
            });
        }
        Ok(hit)
    }

    /// The live, unexpired user keys of this view, in no order.
    pub(crate) fn all_keys(&self) -> Result<Vec<Vec<u8>>> {
        if self.idx.is_view() {
            return Err(Error::InvalidArgument(
                "a read view answers reads of keys, not listings of keys (KEYS, SCAN)".into(),
            ));
        }
        self.shared.keys_in(self.idx)
    }
}

/// Runs `f` on one consistent view of the committed state (retried if a commit is published
/// meanwhile, so `f` must only read), and adds the point reads of user keys made by the
/// attempt that succeeded to the shared read, hit and miss counters
/// ([`crate::Metrics::reads`]).
pub(crate) fn read_counted<T>(
    shared: &Shared,
    f: impl FnMut(&Snapshot<'_>) -> Result<T>,
) -> Result<T> {
    read_counted_at(shared, None, f)
}

/// [`read_counted`] as of the read view `at` if there is one (format-spec.md §8.2).
pub(crate) fn read_counted_at<T>(
    shared: &Shared,
    at: Option<&crate::engine::views::At<'_>>,
    mut f: impl FnMut(&Snapshot<'_>) -> Result<T>,
) -> Result<T> {
    let counts = std::cell::Cell::new((0, 0));
    let mut run = |idx: &ReadView<'_>| {
        counts.set((0, 0));
        f(&Snapshot {
            shared,
            idx,
            counts: Some(&counts),
        })
    };
    let r = match at {
        Some(at) => shared.read_points_at(at, &mut run),
        None => shared.read_points(&mut run),
    };
    let (hits, misses) = counts.get();
    for hit in (0..hits).map(|_| true).chain((0..misses).map(|_| false)) {
        shared.count_read(hit);
    }
    r
}

/// Loads the collection of type `ty` at `key` for writing, creating an empty one (with a new
/// collection id) if the key is absent. Returns the metadata and the key's expiry.
pub(crate) fn load_or_create(txn: &mut WriteTxn, key: &[u8], ty: ValueType) -> Result<(Meta, u64)> {
    if let Some(raw) = txn.raw_get(key, false)? {
        check_type(raw.vtype, ty)?;
        let mut meta = Meta::decode(&raw.payload)?.of_type(ty);
        meta.writes_at_load = txn.internal_writes();
        return Ok((meta, raw.expires_at));
    }
    let next = match txn.raw_get(NEXT_COLL_KEY, true)? {
        Some(r) => r
            .payload
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .unwrap_or(0),
        None => 0,
    } + 1;
    txn.raw_put(
        NEXT_COLL_KEY,
        true,
        VTYPE_INTERNAL,
        next.to_le_bytes().to_vec(),
        0,
    )?;
    let tree = Tree {
        coll: next,
        root: 0,
        height: 0,
        uncounted: false,
    };
    Ok((
        Meta {
            coll: next,
            len: 0,
            next_page: 0,
            a: tree,
            b: tree,
            writes_at_load: txn.internal_writes(),
        }
        .of_type(ty),
        0,
    ))
}

/// Stores the metadata; an empty collection disappears (its trees are empty, so it owns no
/// pages).
pub(crate) fn store(
    txn: &mut WriteTxn,
    key: &[u8],
    ty: ValueType,
    meta: &Meta,
    expires_at: u64,
) -> Result<()> {
    let current = txn.raw_get(key, false)?;
    if meta.len == 0 {
        if current.is_some() {
            txn.raw_del(key, false);
        }
        return Ok(());
    }
    let payload = meta.encode();
    // A command that changed nothing (SADD of a member already there, SREM of one that is
    // not) writes nothing, so that it does not trip a WATCH, as in Redis.
    if txn.internal_writes() == meta.writes_at_load
        && current.is_some_and(|r| {
            r.vtype == ty.tag() && r.payload == payload && r.expires_at == expires_at
        })
    {
        return Ok(());
    }
    txn.raw_put(key, false, ty.tag(), payload, expires_at)
}

fn read_trash(txn: &WriteTxn) -> Result<Vec<(u64, u64)>> {
    let Some(raw) = txn.raw_get(TRASH_KEY, true)? else {
        return Ok(Vec::new());
    };
    Ok(decode_trash(&raw.payload))
}

fn write_trash(txn: &mut WriteTxn, trash: &[(u64, u64)]) -> Result<()> {
    if trash.is_empty() {
        txn.raw_del(TRASH_KEY, true);
        return Ok(());
    }
    let mut b = Vec::with_capacity(trash.len() * 16);
    for (c, p) in trash {
        b.extend_from_slice(&c.to_le_bytes());
        b.extend_from_slice(&p.to_le_bytes());
    }
    txn.raw_put(TRASH_KEY, true, VTYPE_INTERNAL, b, 0)
}

/// Whether [`before_commit`] would do nothing for a transaction that only sets `keys` to
/// scalars: no page waits to be freed, and none of the keys holds a collection now (only
/// looked up once a collection was ever created).
pub(crate) fn scalar_writes_need_nothing<'k>(
    txn: &WriteTxn,
    keys: impl Iterator<Item = &'k [u8]>,
) -> Result<bool> {
    if txn.raw_get(TRASH_KEY, true)?.is_some() {
        return Ok(false);
    }
    if txn.raw_get(NEXT_COLL_KEY, true)?.is_none() {
        return Ok(true);
    }
    let shared = txn.shared()?;
    for key in keys {
        if let Some(hit) = shared.lookup_raw(key)? {
            if ValueType::from_tag(hit.meta.vtype).is_some_and(ValueType::is_collection) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Run by `WriteTxn::commit`: collections whose metadata this transaction deletes or
/// replaces give their root pages to the reclaim stack, and up to `RECLAIM_BUDGET` pages of
/// the stack are freed (format-spec.md §4.4).
pub(crate) fn before_commit(txn: &mut WriteTxn) -> Result<()> {
    let shared = std::sync::Arc::clone(txn.shared()?);
    let mut retired: BTreeSet<(u64, u64)> = BTreeSet::new();
    // Until the first collection is created, no committed record can be one: skip the
    // lookups (a bulk load of scalars pays one lookup per commit, not one per key).
    let keys = if txn.raw_get(NEXT_COLL_KEY, true)?.is_some() {
        txn.pending_keyspace_keys()
    } else {
        Vec::new()
    };
    for (internal, key) in keys {
        let hit = if internal {
            shared.lookup_internal(&key)?
        } else {
            shared.lookup_raw(&key)?
        };
        let Some(hit) = hit else {
            continue;
        };
        let committed = ValueType::from_tag(hit.meta.vtype);
        if !committed.is_some_and(ValueType::is_collection) {
            continue;
        }
        let old = Meta::decode(hit.meta.value(&hit.map))?;
        let kept = match txn.raw_get_pending_in(&key, internal) {
            Some(Some((vtype, payload))) if vtype == hit.meta.vtype => Meta::decode(&payload)
                .map(|m| m.coll == old.coll)
                .unwrap_or(false),
            _ => false,
        };
        if !kept {
            for t in [old.a, old.b] {
                if t.root != 0 {
                    retired.insert((old.coll, t.root));
                }
            }
        }
    }
    retired.extend(txn.take_retired());
    // A collection still named by a pending record (moved by RENAME, or updated after being
    // replaced and re-created under the same id) keeps its pages.
    let alive: BTreeSet<u64> = txn
        .pending_user_puts()
        .into_iter()
        .filter_map(|(vtype, payload)| {
            ValueType::from_tag(vtype)
                .is_some_and(ValueType::is_collection)
                .then(|| Meta::decode(&payload).ok().map(|m| m.coll))
                .flatten()
        })
        .collect();
    retired.retain(|(coll, _)| !alive.contains(coll));
    let mut trash = read_trash(txn)?;
    if trash.is_empty() && retired.is_empty() {
        return Ok(());
    }
    trash.extend(retired);
    free_pages(txn, &mut trash, RECLAIM_BUDGET)?;
    write_trash(txn, &trash)
}

/// Frees up to `budget` pages from the top of `trash` in `txn`, pushing the children of
/// each freed inner page.
fn free_pages(txn: &mut WriteTxn, trash: &mut Vec<(u64, u64)>, mut budget: usize) -> Result<()> {
    while budget > 0 {
        let Some((coll, page)) = trash.pop() else {
            break;
        };
        budget -= 1;
        // A page freed twice (a collection retired by two paths) is simply absent.
        if let Some(raw) = txn.raw_get(&page_key(coll, page), true)? {
            let node = Page::parse(raw.payload)?;
            trash.extend(node.children().map(|p| (coll, p)));
            txn.free_page(coll, page);
        }
    }
    Ok(())
}

/// Frees up to `budget` pages of the reclaim stack in `txn` (beside the `RECLAIM_BUDGET`
/// its commit frees); whether pages are left on the stack. `Db::compact` drains the stack
/// with it before compacting, so that the pages of deleted collections go now rather than
/// over later commits.
pub(crate) fn reclaim(txn: &mut WriteTxn, budget: usize) -> Result<bool> {
    let mut trash = read_trash(txn)?;
    if trash.is_empty() {
        return Ok(false);
    }
    free_pages(txn, &mut trash, budget)?;
    let more = !trash.is_empty();
    write_trash(txn, &trash)?;
    Ok(more)
}

/// The type of a collection's metadata payload, for `WriteTxn` to notice a pending
/// collection being replaced.
pub(crate) fn retired_roots(vtype: u8, payload: &[u8]) -> Vec<(u64, u64)> {
    if !ValueType::from_tag(vtype).is_some_and(ValueType::is_collection) {
        return Vec::new();
    }
    let Ok(m) = Meta::decode(payload) else {
        return Vec::new();
    };
    [m.a, m.b]
        .iter()
        .filter(|t| t.root != 0)
        .map(|t| (m.coll, t.root))
        .collect()
}
