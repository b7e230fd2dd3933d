//! A counted B+tree whose nodes are records in the internal namespace (format-spec.md §4.4).
//!
//! Every collection is one or two such trees. Each node knows how many entries lie below
//! each child, so the tree finds an entry by key or by rank (position) in O(log n) node
//! reads, and a change rewrites only the O(log n) nodes on one path. Entries are ordered by
//! key bytes; a list uses empty keys and is navigated by rank only.

use std::cmp::Ordering;

use crate::error::{Error, Result};

/// A node is split when its encoding grows past this many bytes.
pub(crate) const NODE_MAX: usize = 4096;

/// A leaf entry: key and value.
pub(crate) type Entry = (Vec<u8>, Vec<u8>);

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// Entries in key (or list) order.
    Leaf(Vec<(Vec<u8>, Vec<u8>)>),
    /// Children in order.
    Inner(Vec<Child>),
}

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
    Error::CorruptIndex {
        file: "collection page".into(),
        reason,
    }
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
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.u32()?;
        Ok(self.take(n)?.to_vec())
    }
}

impl Node {
    /// Encoding: kind byte (0 leaf, 1 inner), u32 count, then per leaf entry
    /// `u32 klen, key, u32 vlen, value`, per child `u64 page, u64 count, u32 klen, min_key`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.encoded_len());
        let put_bytes = |b: &mut Vec<u8>, x: &[u8]| {
            b.extend_from_slice(&u32::try_from(x.len()).unwrap_or(u32::MAX).to_le_bytes());
            b.extend_from_slice(x);
        };
        match self {
            Node::Leaf(es) => {
                b.push(0);
                b.extend_from_slice(&u32::try_from(es.len()).unwrap_or(u32::MAX).to_le_bytes());
                for (k, v) in es {
                    put_bytes(&mut b, k);
                    put_bytes(&mut b, v);
                }
            }
            Node::Inner(cs) => {
                b.push(1);
                b.extend_from_slice(&u32::try_from(cs.len()).unwrap_or(u32::MAX).to_le_bytes());
                for c in cs {
                    b.extend_from_slice(&c.page.to_le_bytes());
                    b.extend_from_slice(&c.count.to_le_bytes());
                    put_bytes(&mut b, &c.min_key);
                }
            }
        }
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Result<Self> {
        let mut c = Cursor { b, at: 0 };
        let kind = c.take(1)?[0];
        let n = c.u32()?;
        // Each entry takes at least 8 bytes: a count larger than that is damage.
        if n > b.len() / 8 {
            return Err(corrupt("entry count larger than the page"));
        }
        let node = match kind {
            0 => {
                let mut es = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = c.bytes()?;
                    let v = c.bytes()?;
                    es.push((k, v));
                }
                Node::Leaf(es)
            }
            1 => {
                let mut cs = Vec::with_capacity(n);
                for _ in 0..n {
                    let page = c.u64()?;
                    let count = c.u64()?;
                    let min_key = c.bytes()?;
                    cs.push(Child {
                        page,
                        count,
                        min_key,
                    });
                }
                if cs.is_empty() {
                    return Err(corrupt("inner page without children"));
                }
                Node::Inner(cs)
            }
            _ => return Err(corrupt("unknown page kind")),
        };
        if c.at != b.len() {
            return Err(corrupt("trailing bytes in page"));
        }
        Ok(node)
    }

    fn encoded_len(&self) -> usize {
        5 + match self {
            Node::Leaf(es) => es.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>(),
            Node::Inner(cs) => cs.iter().map(|c| 20 + c.min_key.len()).sum::<usize>(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Node::Leaf(es) => es.len(),
            Node::Inner(cs) => cs.len(),
        }
    }

    fn count(&self) -> u64 {
        match self {
            Node::Leaf(es) => es.len() as u64,
            Node::Inner(cs) => cs.iter().map(|c| c.count).sum(),
        }
    }
}

/// Where pages come from.
pub(crate) trait PageRead {
    /// The encoded bytes of a page.
    fn page_bytes(&self, coll: u64, page: u64) -> Result<PageBuf>;

    /// A page, decoded (for changing it).
    fn read_page(&self, coll: u64, page: u64) -> Result<Node> {
        Node::decode(&self.page_bytes(coll, page)?)
    }
}

/// The bytes of a page: borrowed from a segment map, or owned (a pending write).
pub(crate) enum PageBuf {
    Owned(Vec<u8>),
    Mapped {
        map: std::sync::Arc<crate::map::SegmentMap>,
        start: usize,
        len: usize,
    },
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
    fn write_page(&mut self, coll: u64, page: u64, node: &Node) -> Result<()>;
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
}

/// The index of the child to descend into for `key`: the last child whose lower bound is
/// below (or, with `or_equal`, at most) the key; the first child otherwise.
fn child_for_key(cs: &[Child], key: &[u8], or_equal: bool) -> usize {
    let n = cs
        .iter()
        .skip(1)
        .take_while(|c| match c.min_key.as_slice().cmp(key) {
            Ordering::Less => true,
            Ordering::Equal => or_equal,
            Ordering::Greater => false,
        })
        .count();
    n
}

/// The child holding position `rank`, and the rank within it. `rank == count` (append)
/// goes to the last child.
fn child_for_rank(cs: &[Child], mut rank: u64) -> (usize, u64) {
    for (i, c) in cs.iter().enumerate() {
        if rank < c.count || i + 1 == cs.len() {
            return (i, rank);
        }
        rank -= c.count;
    }
    (0, rank)
}

struct Split {
    page: u64,
    count: u64,
    min_key: Vec<u8>,
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
        if self.root != 0 && take > 0 {
            let (mut skip, mut take) = (start, take);
            self.collect(s, self.root, &mut skip, &mut take, &mut out)?;
        }
        Ok(out)
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
                if *skip >= count {
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
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>> {
        if self.root == 0 {
            let page = alloc(next_page);
            s.write_page(self.coll, page, &Node::Leaf(vec![(key.to_vec(), value)]))?;
            self.root = page;
            self.height = 0;
            return Ok(None);
        }
        let (replaced, split) =
            self.insert_at(s, next_page, self.root, self.height, target, key, value)?;
        if let Some(sp) = split {
            // The old root page now holds the left half.
            let left_count = s.read_page(self.coll, self.root)?.count();
            let left = Child {
                page: self.root,
                count: left_count,
                min_key: Vec::new(),
            };
            let right = Child {
                page: sp.page,
                count: sp.count,
                min_key: sp.min_key,
            };
            let root = alloc(next_page);
            s.write_page(self.coll, root, &Node::Inner(vec![left, right]))?;
            self.root = root;
            self.height += 1;
        }
        Ok(replaced)
    }

    /// Entries in the tree (reads the root).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn count(&self, s: &impl PageRead) -> Result<u64> {
        if self.root == 0 {
            return Ok(0);
        }
        Ok(s.read_page(self.coll, self.root)?.count())
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
        value: Vec<u8>,
    ) -> Result<(Option<Vec<u8>>, Option<Split>)> {
        let mut node = s.read_page(self.coll, page)?;
        let replaced = match &mut node {
            Node::Leaf(es) => {
                if height != 0 {
                    return Err(corrupt("leaf above the bottom of the tree"));
                }
                match target {
                    Target::Key(k) => match es.binary_search_by(|(ek, _)| ek.as_slice().cmp(k)) {
                        Ok(i) => Some(std::mem::replace(&mut es[i].1, value)),
                        Err(i) => {
                            es.insert(i, (key.to_vec(), value));
                            None
                        }
                    },
                    Target::Rank(r) => {
                        es.insert((r as usize).min(es.len()), (key.to_vec(), value));
                        None
                    }
                }
            }
            Node::Inner(cs) => {
                if height == 0 {
                    return Err(corrupt("inner page at the bottom of the tree"));
                }
                let (i, sub) = match target {
                    Target::Key(k) => (child_for_key(cs, k, true), target),
                    Target::Rank(r) => {
                        let (i, r) = child_for_rank(cs, r);
                        (i, Target::Rank(r))
                    }
                };
                let (replaced, split) =
                    self.insert_at(s, next_page, cs[i].page, height - 1, sub, key, value)?;
                if replaced.is_none() {
                    cs[i].count += 1;
                }
                if let Some(sp) = split {
                    cs[i].count -= sp.count;
                    cs.insert(
                        i + 1,
                        Child {
                            page: sp.page,
                            count: sp.count,
                            min_key: sp.min_key,
                        },
                    );
                }
                replaced
            }
        };
        let split = if node.encoded_len() > NODE_MAX && node.len() >= 2 {
            let half = node.len() / 2;
            let (right, count, min_key) = match &mut node {
                Node::Leaf(es) => {
                    let r = es.split_off(half);
                    let (n, mk) = (r.len() as u64, r[0].0.clone());
                    (Node::Leaf(r), n, mk)
                }
                Node::Inner(cs) => {
                    let r = cs.split_off(half);
                    let (n, mk) = (r.iter().map(|c| c.count).sum(), r[0].min_key.clone());
                    (Node::Inner(r), n, mk)
                }
            };
            let new = alloc(next_page);
            s.write_page(self.coll, new, &right)?;
            Some(Split {
                page: new,
                count,
                min_key,
            })
        } else {
            None
        };
        s.write_page(self.coll, page, &node)?;
        Ok((replaced, split))
    }

    /// Removes the entry at `target` (by key: exact match); returns it.
    pub(crate) fn remove(
        &mut self,
        s: &mut impl PageWrite,
        target: Target<'_>,
    ) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
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
            match s.read_page(self.coll, self.root)? {
                Node::Inner(cs) if cs.len() == 1 => {
                    s.free_page(self.coll, self.root);
                    self.root = cs[0].page;
                    self.height -= 1;
                }
                _ => break,
            }
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
        let removed = match &mut node {
            Node::Leaf(es) => {
                let i = match target {
                    Target::Key(k) => es.binary_search_by(|(ek, _)| ek.as_slice().cmp(k)).ok(),
                    Target::Rank(r) => ((r as usize) < es.len()).then_some(r as usize),
                };
                i.map(|i| es.remove(i))
            }
            Node::Inner(cs) => {
                if height == 0 {
                    return Err(corrupt("inner page at the bottom of the tree"));
                }
                let (i, sub) = match target {
                    Target::Key(k) => (child_for_key(cs, k, true), target),
                    Target::Rank(r) => {
                        let (i, r) = child_for_rank(cs, r);
                        (i, Target::Rank(r))
                    }
                };
                let (removed, empty) = self.remove_at(s, cs[i].page, height - 1, sub)?;
                if removed.is_some() {
                    cs[i].count -= 1;
                }
                if empty {
                    cs.remove(i);
                }
                removed
            }
        };
        if removed.is_none() {
            return Ok((None, false));
        }
        if node.len() == 0 {
            s.free_page(self.coll, page);
            return Ok((removed, true));
        }
        s.write_page(self.coll, page, &node)?;
        Ok((removed, false))
    }

    /// Every page of the tree (for freeing a whole collection), pushed onto `out`.
    pub(crate) fn children_of(node: &Node, out: &mut Vec<u64>) {
        if let Node::Inner(cs) = node {
            out.extend(cs.iter().map(|c| c.page));
        }
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
        fn write_page(&mut self, _: u64, page: u64, node: &Node) -> Result<()> {
            self.0.insert(page, node.encode());
            Ok(())
        }
        fn free_page(&mut self, _: u64, page: u64) {
            self.0.remove(&page);
        }
    }

    #[test]
    fn keyed_tree_matches_a_btreemap() -> Result<()> {
        let mut s = Mem::default();
        let mut t = Tree {
            coll: 1,
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
                let r = t.insert(&mut s, &mut next, Target::Key(&k), &k, v.clone())?;
                assert_eq!(r, model.insert(k.clone(), v));
            }
        }
        assert!(t.height >= 1, "the tree should have grown");
        assert_eq!(t.count(&s)?, model.len() as u64);
        let all = t.range(&s, 0, u64::MAX)?;
        let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(all, want);
        for (i, (k, v)) in want.iter().enumerate().step_by(97) {
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
                t.insert(&mut s, &mut next, Target::Rank(r), &[], v.clone())?;
                model.insert(r as usize, v);
            }
        }
        let all: Vec<Vec<u8>> = t.range(&s, 0, u64::MAX)?.into_iter().map(|e| e.1).collect();
        assert_eq!(all, model);
        assert_eq!(t.range(&s, 100, 2)?.len(), 2);
        Ok(())
    }

    #[test]
    fn damaged_pages_are_errors() {
        let node = Node::Leaf(vec![(b"a".to_vec(), b"b".to_vec())]);
        let b = node.encode();
        assert_eq!(Node::decode(&b).ok(), Some(node));
        for n in 0..b.len() {
            assert!(Node::decode(&b[..n]).is_err());
        }
        let mut huge = b.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Node::decode(&huge).is_err());
    }
}
