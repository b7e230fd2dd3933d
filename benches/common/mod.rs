//! Workload helpers shared by the bench binaries: the key/value shape of redb's published
//! benchmark (random 24-byte keys, 150-byte values) and a small seeded generator.

#![allow(dead_code)] // each bench binary uses a different part of this module

use std::time::Duration;

use ziggydb::Durability;

pub const KEY_LEN: usize = 24;
pub const VALUE_LEN: usize = 150;

/// splitmix64: a small, fast, well-mixed generator; good enough to pick keys.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }
}

/// The `i`-th key of key space `space`: 24 bytes that look random. Space 0 holds the keys
/// that are loaded; other spaces give keys that are never written (misses).
pub fn key(space: u64, i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    Rng(space.wrapping_mul(0x1_0000_0001) ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d)).fill(&mut k);
    k
}

pub fn value(rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![0u8; VALUE_LEN];
    rng.fill(&mut v);
    v
}

pub fn batched() -> Durability {
    Durability::Batched {
        max_delay: Duration::from_millis(50),
    }
}
