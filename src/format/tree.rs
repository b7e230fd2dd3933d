//! A counted B+tree whose nodes are records in the internal namespace (format-spec.md §4.4).
//!
//! Every collection is one or two such trees. Each node knows how many entries lie below
//! each child, so the tree finds an entry by key or by rank (position) in O(log n) node
//! reads, and a change rewrites only the O(log n) nodes on one path. Entries are ordered by
//! key bytes; a list uses empty keys and is navigated by rank only.

use std::cmp::Ordering;

use crate::error::{Error, Result};

/// A leaf is split when its encoding grows past this many bytes. Every change to an entry
/// rewrites its leaf, so leaves are kept small: the bytes a write appends to the log (and
/// that compaction later copies or drops) are mostly leaf bytes.
pub(crate) const LEAF_MAX: usize = 1024;
/// An inner node of an uncounted tree is split past this many bytes: it is rewritten only
/// when a child splits or empties, so it is kept large, which keeps the tree shallow.
pub(crate) const NODE_MAX: usize = 4096;
/// An inner node of a counted tree is split past this many bytes: such nodes are rewritten
/// on every insert or removal below them (their counts change), so they are kept small.
pub(crate) const COUNTED_INNER_MAX: usize = 1024;

/// A leaf entry: key and value.
pub(crate) type Entry = (Vec<u8>, Vec<u8>);

/// A child pointer of an inner node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Child {
    pub page: u64,
    /// Entries in the child's subtree.
    pub count: u64,
    /// A lower bound of the child's keys, above every key of the previous child (unused
    /// for the first child and for lists).
    pub min_key: Vec<u8>,
}

fn corrupt(reason: &'static str) -> Error {
    Error::CorruptCollection { reason }
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .ok_or_else(|| corrupt("length overflow"))?;
        let s = self
            .b
            .get(self.at..end)
            .ok_or_else(|| corrupt("page shorter than its lengths"))?;
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| corrupt("short"))?) as usize)
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| corrupt("short"))?,
        ))
    }
}

/// Length of the page header: kind byte and u32 entry count.
const PAGE_HEADER: usize = 5;

/// One node, held as its encoding (format-spec.md §4.4) plus the offset of each entry, and
/// edited in place: a change to one entry moves bytes but allocates nothing per entry.
///
/// Encoding: kind byte (0 leaf, 1 inner), u32 count, then per leaf entry
/// `u32 klen, key, u32 vlen, value`, per child `u64 page, u64 count, u32 klen, min_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    b: Vec<u8>,
    /// Offset in `b` of each entry.
    offs: Vec<u32>,
}

fn put_len(b: &mut Vec<u8>, n: usize) {
    b.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> usize {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes) as usize
}

fn leaf_entry_bytes(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(8 + key.len() + value.len());
    put_len(&mut e, key.len());
    e.extend_from_slice(key);
    put_len(&mut e, value.len());
    e.extend_from_slice(value);
    e
}

fn child_bytes(page: u64, count: u64, min_key: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(20 + min_key.len());
    e.extend_from_slice(&page.to_le_bytes());
    e.extend_from_slice(&count.to_le_bytes());
    put_len(&mut e, min_key.len());
    e.extend_from_slice(min_key);
    e
}

impl Page {
    fn empty(leaf: bool) -> Self {
        let mut b = Vec::with_capacity(NODE_MAX + 64);
        b.push(u8::from(!leaf));
        b.extend_from_slice(&0u32.to_le_bytes());
        Page {
            b,
            offs: Vec::new(),
        }
    }

    /// A leaf holding one entry.
    pub(crate) fn leaf_of(key: &[u8], value: &[u8]) -> Self {
        let mut p = Page::empty(true);
        p.splice_in(0, &leaf_entry_bytes(key, value));
        p
    }

    /// An inner node over `children`.
    pub(crate) fn inner_of(children: &[Child]) -> Self {
        let mut p = Page::empty(false);
        for (i, c) in children.iter().enumerate() {
            p.splice_in(i, &child_bytes(c.page, c.count, &c.min_key));
        }
        p
    }

    /// Parses and checks an encoded page, taking its bytes.
    pub(crate) fn parse(b: Vec<u8>) -> Result<Self> {
        let mut c = Cursor { b: &b, at: 0 };
        let kind = c.take(1)?[0];
        let n = c.u32()?;
        // Each entry takes at least 8 bytes: a count larger than that is damage.
        if n > b.len() / 8 {
            return Err(corrupt("entry count larger than the page"));
        }
        let mut offs = Vec::with_capacity(n);
        match kind {
            0 => {
                for _ in 0..n {
                    offs.push(c.at as u32);
                    let k = c.u32()?;
                    c.take(k)?;
                    let v = c.u32()?;
                    c.take(v)?;
                }
            }
            1 => {
                if n == 0 {
                    return Err(corrupt("inner page without children"));
                }
                for _ in 0..n {
                    offs.push(c.at as u32);
                    c.take(16)?;
                    let k = c.u32()?;
                    c.take(k)?;
                }
            }
            _ => return Err(corrupt("unknown page kind")),
        }
        if c.at != b.len() {
            return Err(corrupt("trailing bytes in page"));
        }
        Ok(Page { b, offs })
    }

    /// The encoding.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.b
    }

    pub(crate) fn is_leaf(&self) -> bool {
        self.b[0] == 0
    }

    fn encoded_len(&self) -> usize {
        self.b.len()
    }

    fn len(&self) -> usize {
        self.offs.len()
    }

    /// Entries below this node.
    fn count(&self) -> u64 {
        if self.is_leaf() {
            self.len() as u64
        } else {
            (0..self.len()).map(|i| self.child_count(i)).sum()
        }
    }

    /// Key of leaf entry `i`.
    fn key(&self, i: usize) -> &[u8] {
        let at = self.offs[i] as usize;
        let n = u32_at(&self.b, at);
        &self.b[at + 4..at + 4 + n]
    }

    /// Value of leaf entry `i`.
    fn value(&self, i: usize) -> &[u8] {
        let at = self.offs[i] as usize;
        let at = at + 4 + u32_at(&self.b, at);
        let n = u32_at(&self.b, at);
        &self.b[at + 4..at + 4 + n]
    }

    fn child_page(&self, i: usize) -> u64 {
        u64_at(&self.b, self.offs[i] as usize)
    }

    fn child_count(&self, i: usize) -> u64 {
        u64_at(&self.b, self.offs[i] as usize + 8)
    }

    fn set_child_count(&mut self, i: usize, count: u64) {
        let at = self.offs[i] as usize + 8;
        self.b[at..at + 8].copy_from_slice(&count.to_le_bytes());
    }

    fn min_key(&self, i: usize) -> &[u8] {
        let at = self.offs[i] as usize + 16;
        let n = u32_at(&self.b, at);
        &self.b[at + 4..at + 4 + n]
    }

    /// Byte range of entry `i`.
    fn span(&self, i: usize) -> std::ops::Range<usize> {
        let start = self.offs[i] as usize;
        let end = self.offs.get(i + 1).map_or(self.b.len(), |&o| o as usize);
        start..end
    }

    fn set_len_field(&mut self) {
        let n = u32::try_from(self.offs.len()).unwrap_or(u32::MAX);
        self.b[1..PAGE_HEADER].copy_from_slice(&n.to_le_bytes());
    }

    /// Replaces the bytes of entries `range` with `bytes` holding `new` entries at the
    /// given relative offsets.
    fn replace(&mut self, first: usize, removed: usize, bytes: &[u8], rel_offs: &[usize]) {
        let start = self.offs.get(first).map_or(self.b.len(), |&o| o as usize);
        let end = self
            .offs
            .get(first + removed)
            .map_or(self.b.len(), |&o| o as usize);
        let delta = bytes.len() as i64 - (end - start) as i64;
        self.b.splice(start..end, bytes.iter().copied());
        let tail: Vec<u32> = self.offs[first + removed..]
            .iter()
            .map(|&o| (i64::from(o) + delta) as u32)
            .collect();
        self.offs.truncate(first);
        self.offs
            .extend(rel_offs.iter().map(|&r| (start + r) as u32));
        self.offs.extend(tail);
        self.set_len_field();
    }

    /// Inserts one encoded entry before entry `i`.
    fn splice_in(&mut self, i: usize, entry: &[u8]) {
        self.replace(i, 0, entry, &[0]);
    }

    /// Removes entry `i`, returning its bytes.
    fn splice_out(&mut self, i: usize) -> Vec<u8> {
        let bytes = self.b[self.span(i)].to_vec();
        self.replace(i, 1, &[], &[]);
        bytes
    }

    /// Index of the leaf entry with `key`, or where it would go.
    fn search(&self, key: &[u8]) -> std::result::Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.key(mid).cmp(key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Equal => return Ok(mid),
                Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    /// The index of the child to descend into for `key`: the last child whose lower bound
    /// is below (or, with `or_equal`, at most) the key; the first child otherwise.
    fn child_for_key(&self, key: &[u8], or_equal: bool) -> usize {
        // Children 1.. whose bound is below the key form a prefix: find its end.
        let (mut lo, mut hi) = (1, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let go_right = match self.min_key(mid).cmp(key) {
                Ordering::Less => true,
                Ordering::Equal => or_equal,
                Ordering::Greater => false,
            };
            if go_right {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - 1
    }

    /// The child holding position `rank`, and the rank within it. `rank == count` (append)
    /// goes to the last child.
    fn child_for_rank(&self, mut rank: u64) -> (usize, u64) {
        let n = self.len();
        for i in 0..n {
            let c = self.child_count(i);
            if rank < c || i + 1 == n {
                return (i, rank);
            }
            rank -= c;
        }
        (0, rank)
    }

    /// Whether splitting at `at` leaves both halves within `max` bytes.
    fn fits_split(&self, at: usize, max: usize) -> bool {
        let Some(&mid) = self.offs.get(at) else {
            return false;
        };
        let mid = mid as usize;
        at > 0 && mid <= max && self.b.len() - mid + PAGE_HEADER <= max
    }

    /// Moves entries `at..` to a new page.
    fn split_off(&mut self, at: usize) -> Page {
        let mut right = Page::empty(self.is_leaf());
        let start = self.offs[at] as usize;
        right.b.extend_from_slice(&self.b[start..]);
        right.offs = self.offs[at..]
            .iter()
            .map(|&o| o - start as u32 + PAGE_HEADER as u32)
            .collect();
        right.set_len_field();
        self.b.truncate(start);
        self.offs.truncate(at);
        self.set_len_field();
        right
    }

    /// Child page ids of an inner node (none for a leaf).
    pub(crate) fn children(&self) -> impl Iterator<Item = u64> + '_ {
        let n = if self.is_leaf() { 0 } else { self.len() };
        (0..n).map(|i| self.child_page(i))
    }
}

/// Where pages come from.
pub(crate) trait PageRead {
    /// The encoded bytes of a page.
    fn page_bytes(&self, coll: u64, page: u64) -> Result<PageBuf>;

    /// A page, parsed (for changing it).
    fn read_page(&self, coll: u64, page: u64) -> Result<Page> {
        Page::parse(self.page_bytes(coll, page)?.into_vec())
    }
}

/// The bytes of a page: borrowed from a segment map, or owned (a pending write).
pub(crate) enum PageBuf {
    Owned(Vec<u8>),
    Mapped {
        map: std::sync::Arc<crate::os::map::SegmentMap>,
        start: usize,
        len: usize,
    },
}

impl PageBuf {
    fn into_vec(self) -> Vec<u8> {
        match self {
            PageBuf::Owned(v) => v,
            mapped @ PageBuf::Mapped { .. } => mapped.to_vec(),
        }
    }
}

impl std::ops::Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            PageBuf::Owned(v) => v,
            PageBuf::Mapped { map, start, len } => map.slice(*start, *len).unwrap_or(&[]),
        }
    }
}

/// A page read in place, without decoding it into vectors (the read paths).
struct View<'a> {
    leaf: bool,
    n: usize,
    cur: Cursor<'a>,
}

impl<'a> View<'a> {
    fn new(b: &'a [u8]) -> Result<Self> {
        let mut cur = Cursor { b, at: 0 };
        let kind = cur.take(1)?[0];
        let n = cur.u32()?;
        if kind > 1 || n > b.len() / 8 || (kind == 1 && n == 0) {
            return Err(corrupt("malformed page header"));
        }
        Ok(View {
            leaf: kind == 0,
            n,
            cur,
        })
    }

    /// The next leaf entry.
    fn entry(&mut self) -> Result<(&'a [u8], &'a [u8])> {
        let k = self.cur.u32()?;
        let k = self.cur.take(k)?;
        let v = self.cur.u32()?;
        Ok((k, self.cur.take(v)?))
    }

    /// The next child: page, count, lower bound.
    fn child(&mut self) -> Result<(u64, u64, &'a [u8])> {
        let page = self.cur.u64()?;
        let count = self.cur.u64()?;
        let k = self.cur.u32()?;
        Ok((page, count, self.cur.take(k)?))
    }

    /// The child to descend into for `key` (as `child_for_key`) and the number of entries
    /// in the children before it.
    fn choose(&mut self, key: &[u8], or_equal: bool) -> Result<(u64, u64)> {
        let (mut page, mut count, _) = self.child()?;
        let mut before = 0;
        for _ in 1..self.n {
            let (p, c, min) = self.child()?;
            let go_right = match min.cmp(key) {
                Ordering::Less => true,
                Ordering::Equal => or_equal,
                Ordering::Greater => false,
            };
            if !go_right {
                break;
            }
            before += count;
            (page, count) = (p, c);
        }
        Ok((page, before))
    }
}

/// Where pages go.
pub(crate) trait PageWrite: PageRead {
    fn write_page(&mut self, coll: u64, page: u64, node: Page) -> Result<()>;
    fn free_page(&mut self, coll: u64, page: u64);
}

/// How to find the place of an entry.
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    /// By key (exact match for lookups; ordered insertion).
    Key(&'a [u8]),
    /// By position.
    Rank(u64),
}

/// A tree: its collection id (the page namespace), root page (0 = empty) and height
/// (0 = the root is a leaf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tree {
    pub coll: u64,
    pub root: u64,
    pub height: u32,
    /// True for a tree that is only searched by key (a hash's fields, a sorted set's
    /// members): its inner nodes keep no entry counts (they hold 0), so that adding or
    /// removing an entry rewrites only the leaf unless a node splits or empties. Not
    /// stored: it follows from the collection type.
    pub uncounted: bool,
}

/// Where in a node an entry was inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Start,
    Middle,
    End,
}

impl Edge {
    /// The edge for an entry inserted at `at` of a node now holding `len`: `first` is the
    /// index that counts as the start (0 in a leaf; 1 in an inner node, where the right half
    /// of the first child went in at 1).
    fn of(at: usize, first: usize, len: usize) -> Edge {
        if at + 1 == len {
            Edge::End
        } else if at == first {
            Edge::Start
        } else {
            Edge::Middle
        }
    }
}

/// The right half of a node that split: its page, entry count and lower bound, and the
/// entry count left in the original node.
struct Split {
    page: u64,
    count: u64,
    min_key: Vec<u8>,
    left_count: u64,
}

impl Tree {
    /// Value stored under `key`.
    pub(crate) fn get(&self, s: &impl PageRead, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.root == 0 {
            return Ok(None);
        }
        let mut page = self.root;
        loop {
            let buf = s.page_bytes(self.coll, page)?;
            let mut v = View::new(&buf)?;
            if !v.leaf {
                page = v.choose(key, true)?.0;
                continue;
            }
            for _ in 0..v.n {
                let (k, val) = v.entry()?;
                match k.cmp(key) {
                    Ordering::Less => {}
                    Ordering::Equal => return Ok(Some(val.to_vec())),
                    Ordering::Greater => break,
                }
            }
            return Ok(None);
        }
    }

    /// Number of entries whose key is below `key` (or at most `key` with `or_equal`).
    pub(crate) fn rank_of(&self, s: &impl PageRead, key: &[u8], or_equal: bool) -> Result<u64> {
        if self.root == 0 {
            return Ok(0);
        }
        let mut page = self.root;
        let mut before = 0;
        loop {
            let buf = s.page_bytes(self.coll, page)?;
            let mut v = View::new(&buf)?;
            if !v.leaf {
                let (p, b) = v.choose(key, or_equal)?;
                before += b;
                page = p;
                continue;
            }
            let mut n = 0;
            for _ in 0..v.n {
                let below = match v.entry()?.0.cmp(key) {
                    Ordering::Less => true,
                    Ordering::Equal => or_equal,
                    Ordering::Greater => false,
                };
                if !below {
                    break;
                }
                n += 1;
            }
            return Ok(before + n);
        }
    }

    /// Up to `take` entries starting at position `start`, in order.
    pub(crate) fn range(
        &self,
        s: &impl PageRead,
        start: u64,
        take: u64,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::with_capacity(take.min(4096) as usize);
        if self.uncounted && start > 0 {
            return Err(corrupt("a position in a tree that keeps no counts"));
        }
        if self.root != 0 && take > 0 {
            let (mut skip, mut take) = (start, take);
            self.collect(s, self.root, &mut skip, &mut take, &mut out)?;
        }
        Ok(out)
    }

    /// Up to `take` entries whose keys are above `after` (from the first with `None`), in
    /// key order. Works on uncounted trees too: it descends by key, reading O(log n) pages
    /// before the first entry.
    pub(crate) fn range_after(
        &self,
        s: &impl PageRead,
        after: Option<&[u8]>,
        take: u64,
    ) -> Result<Vec<Entry>> {
        let mut out = Vec::with_capacity(take.min(4096) as usize);
        if self.root != 0 && take > 0 {
            self.collect_after(s, self.root, after, take as usize, &mut out)?;
        }
        Ok(out)
    }

    fn collect_after(
        &self,
        s: &impl PageRead,
        page: u64,
        after: Option<&[u8]>,
        take: usize,
        out: &mut Vec<Entry>,
    ) -> Result<()> {
        let buf = s.page_bytes(self.coll, page)?;
        let mut v = View::new(&buf)?;
        if v.leaf {
            for _ in 0..v.n {
                if out.len() >= take {
                    break;
                }
                let (k, val) = v.entry()?;
                if after.is_none_or(|a| k > a) {
                    out.push((k.to_vec(), val.to_vec()));
                }
            }
            return Ok(());
        }
        let mut children = Vec::with_capacity(v.n);
        for _ in 0..v.n {
            let (child, _, min) = v.child()?;
            children.push((child, min));
        }
        for (i, &(child, _)) in children.iter().enumerate() {
            if out.len() >= take {
                break;
            }
            // Every key of a child is below the next child's lower bound.
            let next_min = children.get(i + 1).map(|&(_, min)| min);
            if let (Some(a), Some(next)) = (after, next_min) {
                if next <= a {
                    continue;
                }
            }
            self.collect_after(s, child, after, take, out)?;
        }
        Ok(())
    }

    fn collect(
        &self,
        s: &impl PageRead,
        page: u64,
        skip: &mut u64,
        take: &mut u64,
        out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let buf = s.page_bytes(self.coll, page)?;
        let mut v = View::new(&buf)?;
        for _ in 0..v.n {
            if *take == 0 {
                break;
            }
            if v.leaf {
                let (k, val) = v.entry()?;
                if *skip > 0 {
                    *skip -= 1;
                } else {
                    out.push((k.to_vec(), val.to_vec()));
                    *take -= 1;
                }
            } else {
                let (child, count, _) = v.child()?;
                if *skip > 0 && *skip >= count {
                    *skip -= count;
                } else {
                    self.collect(s, child, skip, take, out)?;
                }
            }
        }
        Ok(())
    }

    /// Inserts an entry; by key, an existing entry's value is replaced and returned.
    /// `next_page` allocates page ids.
    pub(crate) fn insert(
        &mut self,
        s: &mut impl PageWrite,
        next_page: &mut u64,
        target: Target<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        if self.root == 0 {
            let page = alloc(next_page);
            s.write_page(self.coll, page, Page::leaf_of(key, value))?;
            self.root = page;
            self.height = 0;
            return Ok(None);
        }
        let (replaced, split) =
            self.insert_at(s, next_page, self.root, self.height, target, key, value)?;
        if let Some(sp) = split {
            // The old root page now holds the left half.
            let left = Child {
                page: self.root,
                count: sp.left_count,
                min_key: Vec::new(),
            };
            let right = Child {
                page: sp.page,
                count: sp.count,
                min_key: sp.min_key,
            };
            let root = alloc(next_page);
            s.write_page(self.coll, root, Page::inner_of(&[left, right]))?;
            self.root = root;
            self.height += 1;
        }
        Ok(replaced)
    }

    /// Walks every node of the tree for `repair` (format-spec.md §12.2), reading pages
    /// through `read` (`None`: the page is missing). Checks that each node parses, that
    /// leaves are exactly at the bottom, that no page is reached twice (`seen` is shared by
    /// both trees of a collection) and, in a counted tree, that every child's count matches
    /// the entries below it. Returns the number of entries, or why the tree is not sound.
    pub(crate) fn walk(
        &self,
        read: &mut dyn FnMut(u64) -> Option<Vec<u8>>,
        seen: &mut std::collections::BTreeSet<u64>,
    ) -> std::result::Result<u64, String> {
        /// A B+tree of 4 KiB nodes never gets this tall; a larger height is damage.
        const MAX_HEIGHT: u32 = 64;
        if self.root == 0 {
            return Ok(0);
        }
        if self.height > MAX_HEIGHT {
            return Err(format!("implausible tree height {}", self.height));
        }
        self.walk_node(self.root, self.height, read, seen)
    }

    fn walk_node(
        &self,
        page: u64,
        height: u32,
        read: &mut dyn FnMut(u64) -> Option<Vec<u8>>,
        seen: &mut std::collections::BTreeSet<u64>,
    ) -> std::result::Result<u64, String> {
        if !seen.insert(page) {
            return Err(format!("page {page} is reached twice"));
        }
        let bytes = read(page).ok_or_else(|| format!("page {page} is missing"))?;
        let node = Page::parse(bytes).map_err(|e| format!("page {page}: {e}"))?;
        if node.is_leaf() != (height == 0) {
            return Err(format!("page {page} is not at the level the tree needs"));
        }
        if node.is_leaf() {
            return Ok(node.len() as u64);
        }
        let mut total = 0u64;
        for i in 0..node.len() {
            let below = self.walk_node(node.child_page(i), height - 1, read, seen)?;
            if !self.uncounted && below != node.child_count(i) {
                return Err(format!(
                    "page {page} counts {} entries under child {} but it holds {below}",
                    node.child_count(i),
                    node.child_page(i)
                ));
            }
            total += below;
        }
        Ok(total)
    }

    /// Entries in the tree (reads the root).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn count(&self, s: &impl PageRead) -> Result<u64> {
        if self.root == 0 {
            return Ok(0);
        }
        Ok(s.read_page(self.coll, self.root)?.count())
    }

    /// The child of inner node `node` to descend into for `target`, and the target within it.
    fn descend<'k>(node: &Page, target: Target<'k>) -> (usize, Target<'k>) {
        match target {
            Target::Key(k) => (node.child_for_key(k, true), target),
            Target::Rank(r) => {
                let (i, r) = node.child_for_rank(r);
                (i, Target::Rank(r))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_at(
        &self,
        s: &mut impl PageWrite,
        next_page: &mut u64,
        page: u64,
        height: u32,
        target: Target<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<(Option<Vec<u8>>, Option<Split>)> {
        let mut node = s.read_page(self.coll, page)?;
        // Where an entry went in, if one did: a node that overflows by an entry added at its
        // end (or start) splits there, so that appends (or pushes at the front) leave full
        // nodes behind instead of half-empty ones.
        let mut edge = Edge::Middle;
        let replaced = if node.is_leaf() {
            if height != 0 {
                return Err(corrupt("leaf above the bottom of the tree"));
            }
            let at = match target {
                Target::Key(k) => match node.search(k) {
                    // The same value again changes nothing: no page is rewritten.
                    Ok(i) if node.value(i) == value => return Ok((Some(value.to_vec()), None)),
                    Ok(i) => {
                        let old = node.value(i).to_vec();
                        node.replace(i, 1, &leaf_entry_bytes(k, value), &[0]);
                        return self.finish_insert(
                            s,
                            next_page,
                            page,
                            node,
                            Edge::Middle,
                            Some(old),
                        );
                    }
                    Err(i) => i,
                },
                Target::Rank(r) => (r as usize).min(node.len()),
            };
            node.splice_in(at, &leaf_entry_bytes(key, value));
            edge = Edge::of(at, 0, node.len());
            None
        } else {
            if height == 0 {
                return Err(corrupt("inner page at the bottom of the tree"));
            }
            let (i, sub) = Self::descend(&node, target);
            let (replaced, split) = self.insert_at(
                s,
                next_page,
                node.child_page(i),
                height - 1,
                sub,
                key,
                value,
            )?;
            match split {
                Some(sp) => {
                    node.set_child_count(i, sp.left_count);
                    node.splice_in(i + 1, &child_bytes(sp.page, sp.count, &sp.min_key));
                    edge = Edge::of(i + 1, 1, node.len());
                }
                None if replaced.is_none() && !self.uncounted => {
                    node.set_child_count(i, node.child_count(i) + 1);
                }
                // A replaced value changes no count (nor does anything in an uncounted
                // tree), and pages keep their ids when they are rewritten: this node stays
                // as it is.
                None => return Ok((replaced, None)),
            }
            replaced
        };
        self.finish_insert(s, next_page, page, node, edge, replaced)
    }

    /// Writes a node changed by an insertion, splitting it first if it grew too large.
    fn finish_insert(
        &self,
        s: &mut impl PageWrite,
        next_page: &mut u64,
        page: u64,
        mut node: Page,
        edge: Edge,
        replaced: Option<Vec<u8>>,
    ) -> Result<(Option<Vec<u8>>, Option<Split>)> {
        let max = if node.is_leaf() {
            LEAF_MAX
        } else if self.uncounted {
            NODE_MAX
        } else {
            COUNTED_INNER_MAX
        };
        let split = if node.encoded_len() > max && node.len() >= 2 {
            let half = node.len() / 2;
            let at = match edge {
                Edge::End => node.len() - 1,
                Edge::Start => 1,
                Edge::Middle => half,
            };
            // An edge split must leave both halves small enough (entries can be large).
            let at = if node.fits_split(at, max) { at } else { half };
            let right = node.split_off(at);
            let (count, min_key) = if right.is_leaf() {
                (right.len() as u64, right.key(0).to_vec())
            } else {
                (right.count(), right.min_key(0).to_vec())
            };
            let new = alloc(next_page);
            s.write_page(self.coll, new, right)?;
            let counted = |n: u64| if self.uncounted { 0 } else { n };
            Some(Split {
                page: new,
                count: counted(count),
                min_key,
                left_count: counted(node.count()),
            })
        } else {
            None
        };
        s.write_page(self.coll, page, node)?;
        Ok((replaced, split))
    }

    /// Removes the entry at `target` (by key: exact match); returns it.
    pub(crate) fn remove(
        &mut self,
        s: &mut impl PageWrite,
        target: Target<'_>,
    ) -> Result<Option<Entry>> {
        if self.root == 0 {
            return Ok(None);
        }
        let (removed, empty) = self.remove_at(s, self.root, self.height, target)?;
        if empty {
            self.root = 0;
            self.height = 0;
        }
        // An inner root with one child is replaced by that child.
        while self.root != 0 && self.height > 0 {
            let root = s.read_page(self.coll, self.root)?;
            if root.is_leaf() || root.len() != 1 {
                break;
            }
            s.free_page(self.coll, self.root);
            self.root = root.child_page(0);
            self.height -= 1;
        }
        Ok(removed)
    }

    fn remove_at(
        &self,
        s: &mut impl PageWrite,
        page: u64,
        height: u32,
        target: Target<'_>,
    ) -> Result<(Option<Entry>, bool)> {
        let mut node = s.read_page(self.coll, page)?;
        let removed = if node.is_leaf() {
            let i = match target {
                Target::Key(k) => node.search(k).ok(),
                Target::Rank(r) => ((r as usize) < node.len()).then_some(r as usize),
            };
            i.map(|i| {
                let e = (node.key(i).to_vec(), node.value(i).to_vec());
                node.splice_out(i);
                e
            })
        } else {
            if height == 0 {
                return Err(corrupt("inner page at the bottom of the tree"));
            }
            let (i, sub) = Self::descend(&node, target);
            let (removed, empty) = self.remove_at(s, node.child_page(i), height - 1, sub)?;
            if empty {
                node.splice_out(i);
            } else if self.uncounted {
                // Nothing to change here.
                return Ok((removed, false));
            }
            if removed.is_some() && !empty {
                node.set_child_count(i, node.child_count(i).saturating_sub(1));
            }
            removed
        };
        if removed.is_none() {
            return Ok((None, false));
        }
        if node.len() == 0 {
            s.free_page(self.coll, page);
            return Ok((removed, true));
        }
        s.write_page(self.coll, page, node)?;
        Ok((removed, false))
    }
}

fn alloc(next_page: &mut u64) -> u64 {
    *next_page += 1;
    *next_page
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Mem(HashMap<u64, Vec<u8>>);
    impl PageRead for Mem {
        fn page_bytes(&self, _: u64, page: u64) -> Result<PageBuf> {
            Ok(PageBuf::Owned(
                self.0
                    .get(&page)
                    .ok_or_else(|| corrupt("missing page"))?
                    .clone(),
            ))
        }
    }
    impl PageWrite for Mem {
        fn write_page(&mut self, _: u64, page: u64, node: Page) -> Result<()> {
            self.0.insert(page, node.into_bytes());
            Ok(())
        }
        fn free_page(&mut self, _: u64, page: u64) {
            self.0.remove(&page);
        }
    }

    #[test]
    fn keyed_tree_matches_a_btreemap() -> Result<()> {
        for uncounted in [false, true] {
            keyed_tree_matches_a_btreemap_in(uncounted)?;
        }
        Ok(())
    }

    fn keyed_tree_matches_a_btreemap_in(uncounted: bool) -> Result<()> {
        let mut s = Mem::default();
        let mut t = Tree {
            coll: 1,
            uncounted,
            ..Tree::default()
        };
        let mut next = 0;
        let mut model = std::collections::BTreeMap::new();
        let mut x = 7u64;
        for i in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("k{:06}", (x >> 33) % 5000).into_bytes();
            if i % 3 == 2 {
                let r = t.remove(&mut s, Target::Key(&k))?;
                assert_eq!(r.map(|e| e.1), model.remove(&k));
            } else {
                let v = i.to_le_bytes().to_vec();
                let r = t.insert(&mut s, &mut next, Target::Key(&k), &k, &v)?;
                assert_eq!(r, model.insert(k.clone(), v));
            }
        }
        assert!(t.height >= 1, "the tree should have grown");
        let all = t.range(&s, 0, u64::MAX)?;
        let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(all, want);
        // Walking by key in chunks, from any point, gives the same entries.
        let mut walked = Vec::new();
        let mut chunk = t.range_after(&s, None, 37)?;
        while let Some((last, _)) = chunk.last().cloned() {
            walked.append(&mut chunk);
            chunk = t.range_after(&s, Some(&last), 37)?;
        }
        assert_eq!(walked, want);
        for (i, (k, _)) in want.iter().enumerate().step_by(89) {
            let after = t.range_after(&s, Some(k), 5)?;
            assert_eq!(after, want[i + 1..(i + 6).min(want.len())].to_vec());
            let mut between = k.clone();
            between.push(0);
            assert_eq!(t.range_after(&s, Some(&between), 5)?, after);
        }
        if uncounted {
            for (k, v) in &want {
                assert_eq!(t.get(&s, k)?.as_ref(), Some(v));
            }
            assert!(t.range(&s, 1, 1).is_err(), "no positions without counts");
        }
        for (i, (k, v)) in want.iter().enumerate().step_by(97) {
            if uncounted {
                break;
            }
            assert_eq!(t.count(&s)?, model.len() as u64);
            assert_eq!(t.get(&s, k)?.as_ref(), Some(v));
            assert_eq!(t.rank_of(&s, k, false)?, i as u64);
            assert_eq!(t.rank_of(&s, k, true)?, i as u64 + 1);
            assert_eq!(
                t.range(&s, i as u64, 3)?,
                want[i..(i + 3).min(want.len())].to_vec()
            );
        }
        // Removing everything frees every page.
        for k in model.keys() {
            t.remove(&mut s, Target::Key(k))?;
        }
        assert_eq!((t.root, s.0.len()), (0, 0));
        Ok(())
    }

    #[test]
    fn positional_tree_matches_a_vec() -> Result<()> {
        let mut s = Mem::default();
        let mut t = Tree {
            coll: 1,
            ..Tree::default()
        };
        let mut next = 0;
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut x = 3u64;
        for i in 0..20_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (x >> 33) % (model.len() as u64 + 1);
            if i % 4 == 3 && !model.is_empty() {
                let r = r.min(model.len() as u64 - 1);
                let got = t.remove(&mut s, Target::Rank(r))?;
                assert_eq!(got.map(|e| e.1), Some(model.remove(r as usize)));
            } else {
                let v = format!("v{i}-{}", "x".repeat((i % 50) as usize)).into_bytes();
                t.insert(&mut s, &mut next, Target::Rank(r), &[], &v)?;
                model.insert(r as usize, v);
            }
        }
        let all: Vec<Vec<u8>> = t.range(&s, 0, u64::MAX)?.into_iter().map(|e| e.1).collect();
        assert_eq!(all, model);
        assert_eq!(t.range(&s, 100, 2)?.len(), 2);
        Ok(())
    }

    #[test]
    fn appends_and_front_pushes_leave_full_pages() -> Result<()> {
        for front in [false, true] {
            let mut s = Mem::default();
            let mut t = Tree {
                coll: 1,
                ..Tree::default()
            };
            let mut next = 0;
            const N: u64 = 20_000;
            for i in 0..N {
                let v = format!("v{i:010}").into_bytes();
                let at = if front { 0 } else { i };
                t.insert(&mut s, &mut next, Target::Rank(at), &[], &v)?;
            }
            // An entry takes 19 bytes: 53 fit in a leaf, so full leaves need 378 pages
            // (half-full ones would need twice as many).
            let leaves = N.div_ceil((LEAF_MAX as u64 - 5) / 19);
            assert!(
                (s.0.len() as u64) < leaves + leaves / 10,
                "{} pages for {leaves} full leaves (front: {front})",
                s.0.len()
            );
            let all = t.range(&s, 0, u64::MAX)?;
            assert_eq!(all.len() as u64, N);
            let first = if front { N - 1 } else { 0 };
            assert_eq!(all[0].1, format!("v{first:010}").into_bytes());
        }
        // Keys arriving in order fill their pages too.
        let mut s = Mem::default();
        let mut t = Tree {
            coll: 1,
            ..Tree::default()
        };
        let mut next = 0;
        for i in 0..20_000u64 {
            let k = format!("k{i:010}").into_bytes();
            t.insert(&mut s, &mut next, Target::Key(&k), &k, &[])?;
        }
        // Entries of 19 bytes again: 378 full leaves.
        let leaves = 20_000u64.div_ceil((LEAF_MAX as u64 - 5) / 19);
        assert!(
            (s.0.len() as u64) < leaves + leaves / 10,
            "{} pages for {leaves} full leaves",
            s.0.len()
        );
        Ok(())
    }

    #[test]
    fn damaged_pages_are_errors() {
        let node = Page::leaf_of(b"a", b"b");
        let b = node.clone().into_bytes();
        assert_eq!(Page::parse(b.clone()).ok(), Some(node));
        for n in 0..b.len() {
            assert!(Page::parse(b[..n].to_vec()).is_err());
        }
        let mut huge = b.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Page::parse(huge).is_err());
        let mut trailing = b;
        trailing.push(0);
        assert!(Page::parse(trailing).is_err());
        let inner = Page::inner_of(&[]).into_bytes();
        assert!(
            Page::parse(inner).is_err(),
            "an inner page without children"
        );
    }
}
