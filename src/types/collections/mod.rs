//! Collections — list, set, sorted set, hash — stored as a metadata record under the user
//! key plus counted B+trees whose nodes are records in the internal namespace
//! (format-spec.md §4.4; the storage is `crate::db::pages`). One push, add or remove rewrites
//! O(log n) small nodes; deleting a collection hands its pages to a reclaimer that frees a
//! bounded number per commit.

mod hash;
mod list;
mod set;
mod zset;

pub use hash::{Hash, HashView};
pub use list::{List, ListView};
pub(crate) use set::combine;
pub use set::{Set, SetOp, SetView};
pub(crate) use zset::stored_score;
pub(crate) use zset::zcombine;
pub use zset::{Aggregate, LexBound, ScoreBound, SortedSet, SortedSetView, ZAddFlags};

use crate::error::Result;
use crate::format::tree::{PageRead, Tree};

/// One page of a [`HashView::scan`]: fields with their values, and the cursor of the next
/// call (0 once the scan is complete).
pub type HashScanPage = (Vec<(Vec<u8>, Vec<u8>)>, u64);

/// One page of a [`SortedSetView::scan`]: members with their scores, and the cursor of the
/// next call (0 once the scan is complete).
pub type SortedSetScanPage = (Vec<(Vec<u8>, f64)>, u64);

/// The pages of a scan (Redis `SSCAN`, `HSCAN`, `ZSCAN`) cover a collection in at most this
/// many pages, whatever `count` asks: each page reads every member, so a page holds at least
/// `len / SCAN_PAGES` of them (Redis's `COUNT` is a hint too).
const SCAN_PAGES: u64 = 64;

/// One page of a scan of a collection's main tree (set members, hash fields, sorted-set
/// members): the entries whose position in scan order (their hash with the bits reversed,
/// as keys are scanned) is at least `cursor`, the first `count` of them (at least one, and
/// at least a 64th of the collection), and the cursor of the next page (0 at the end).
///
/// The position of a member depends on its bytes only, so every member that is present for
/// a whole scan is returned, at least once (twice only if two members' 64-bit positions are
/// equal), whatever is added or removed meanwhile. The page is read from one state (`src`
/// is one consistent view), a bounded chunk at a time, keeping only the page: O(n) reads
/// and O(count) memory.
pub(crate) fn scan_tree(
    src: &impl PageRead,
    tree: &Tree,
    len: u64,
    cursor: u64,
    count: usize,
) -> Result<HashScanPage> {
    use std::collections::BinaryHeap;
    let page = (count.max(1) as u64).max(len.div_ceil(SCAN_PAGES));
    let page = usize::try_from(page).unwrap_or(usize::MAX);
    // The `page + 1` entries with the lowest positions from `cursor` on, the highest on top.
    let mut kept: BinaryHeap<(u64, Vec<u8>, Vec<u8>)> = BinaryHeap::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let chunk = tree.range_after(src, after.as_deref(), 1024)?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        after = Some(last.clone());
        for (k, v) in chunk {
            let order = crate::format::index::scan_order(&k);
            if order < cursor {
                continue;
            }
            if kept.len() > page {
                if kept.peek().is_some_and(|top| order >= top.0) {
                    continue;
                }
                kept.pop();
            }
            kept.push((order, k, v));
        }
    }
    let mut sorted = kept.into_sorted_vec();
    let next = if sorted.len() > page {
        sorted.pop().map_or(0, |(order, _, _)| order)
    } else {
        0
    };
    Ok((sorted.into_iter().map(|(_, k, v)| (k, v)).collect(), next))
}

/// Whether a scanned member or field matches the `MATCH` pattern, if there is one.
pub(crate) fn scan_match(pattern: Option<&[u8]>, member: &[u8]) -> bool {
    pattern.is_none_or(|p| crate::types::keys::glob_match(p, member))
}

/// Normalises Redis `start`/`stop` indexes (negative from the end) over `len` items into
/// a start and a count.
pub(crate) fn index_range(start: i64, stop: i64, len: u64) -> (u64, u64) {
    let len_i = len as i64;
    // As Redis: negative indexes count from the end; only the start is clamped to 0, so an
    // end before the first item gives nothing.
    let s = if start < 0 {
        (len_i + start).max(0)
    } else {
        start
    };
    let e = if stop < 0 { len_i + stop } else { stop }.min(len_i - 1);
    if e < 0 || s > e || s >= len_i {
        return (0, 0);
    }
    (s as u64, (e - s + 1) as u64)
}

#[cfg(test)]
mod tests;
