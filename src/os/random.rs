//! One pseudo-random sequence per process, for sampling (active expiry) and for the random
//! commands (`RANDOMKEY`, `SRANDMEMBER`, `SPOP`, `HRANDFIELD`, `ZRANDMEMBER`): splitmix64
//! over a counter that every call advances, so calls in the same millisecond or in several
//! threads draw different numbers. Seeded once from the clock and the process id. Not for
//! secrets.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The next number of the sequence, uniform over `u64`.
pub(crate) fn next_u64() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        mix(nanos ^ u64::from(std::process::id()).rotate_left(32))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    mix(seed.wrapping_add(n.wrapping_mul(GOLDEN)))
}

/// splitmix64's output function.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A number uniform in `0..n` (without the bias of `next_u64() % n`); 0 when `n` is 0.
pub(crate) fn below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // Lemire's multiply-and-shift, rejecting the few products that would favour some values.
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// Random positions below `len`, as Redis's random-member commands choose them: `distinct`,
/// `min(count, len)` different positions in random order; otherwise `count` positions, each
/// uniform and independent (repeats allowed). Empty when `len` is 0.
pub(crate) fn positions(len: u64, count: u64, distinct: bool) -> Vec<u64> {
    if len == 0 {
        return Vec::new();
    }
    if !distinct {
        return (0..count).map(|_| below(len)).collect();
    }
    let want = count.min(len);
    if want.saturating_mul(3) > len {
        // Most of the positions: shuffle them all and keep the first `want` (Fisher-Yates).
        let mut all: Vec<u64> = (0..len).collect();
        for i in 0..want as usize {
            let j = i + below(len - i as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(want as usize);
        return all;
    }
    let mut seen = HashSet::with_capacity(want as usize);
    let mut out = Vec::with_capacity(want as usize);
    while (out.len() as u64) < want {
        let p = below(len);
        if seen.insert(p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{below, positions};

    /// Pearson's chi-square of `counts` against a uniform distribution.
    fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        let expected = total as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    #[test]
    fn draws_are_uniform_by_chi_square() {
        // 10 cells (9 degrees of freedom): the 99.9th percentile of chi-square is 27.9.
        let mut counts = [0u64; 10];
        for _ in 0..100_000 {
            counts[below(10) as usize] += 1;
        }
        assert!(chi_square(&counts) < 27.9, "{counts:?}");
        // Redis's own test: 3 members, 3,000 draws, chi-square below 40 (here far below).
        let mut counts = [0u64; 3];
        for _ in 0..3_000 {
            counts[below(3) as usize] += 1;
        }
        assert!(chi_square(&counts) < 13.8, "{counts:?}"); // 99.9th percentile, 2 d.o.f.
    }

    #[test]
    fn distinct_positions_are_distinct_and_cover_a_small_set() {
        for len in [1u64, 2, 3, 7, 100] {
            for count in [1u64, 2, 3, len, len + 5, 1000] {
                let got = positions(len, count, true);
                assert_eq!(got.len() as u64, count.min(len), "len {len} count {count}");
                let mut sorted = got.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), got.len(), "a repeat in {got:?}");
                assert!(got.iter().all(|&p| p < len));
            }
        }
        // Each position is equally likely to be among 2 distinct picks of 5.
        let mut counts = [0u64; 5];
        for _ in 0..20_000 {
            for p in positions(5, 2, true) {
                counts[p as usize] += 1;
            }
        }
        assert!(chi_square(&counts) < 18.5, "{counts:?}"); // 99.9th percentile, 4 d.o.f.
                                                           // A negative count repeats: 100 draws from 3 see all 3.
        let got = positions(3, 100, false);
        assert_eq!(got.len(), 100);
        assert!((0..3).all(|p| got.contains(&p)), "{got:?}");
        assert!(positions(0, 5, true).is_empty() && positions(0, 5, false).is_empty());
    }
}
