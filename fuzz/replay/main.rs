//! Runs every fuzz target on a stable toolchain, without libFuzzer: first each stored seed in
//! `fuzz/seeds/<target>/`, then deterministic mutations of the seeds (bit flips, byte
//! changes, truncations, insertions, splices) for a bounded time. A target that panics fails
//! the run. `cargo run --release --bin replay -- [SECONDS] [SEED]` (default 10 s in all).
//!
//! This is what CI runs (the machine has no nightly toolchain for `cargo fuzz`); `run.sh`
//! runs the real fuzzers where nightly is available.

use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb_fuzz::{
    cli_parse, cli_split, import_line, index_probe, open_dir, ops, ops_crash, record_decode,
    resp_reply, resp_request,
};

/// A target: its name and its function.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 10] = [
    ("cli_split", cli_split::fuzz),
    ("cli_parse", cli_parse::fuzz),
    ("resp_request", resp_request::fuzz),
    ("resp_reply", resp_reply::fuzz),
    ("import_line", import_line::fuzz),
    ("ops", ops::fuzz),
    ("open_dir", open_dir::fuzz),
    ("record_decode", record_decode::fuzz),
    ("index_probe", index_probe::fuzz),
    ("ops_crash", ops_crash::fuzz),
];

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A mutation of `seed`, spliced with `other` now and then.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => data.truncate(rng.below(data.len() + 1)),
            3 => {
                let i = rng.below(data.len() + 1);
                data.insert(i, rng.next() as u8);
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let at = rng.below(data.len() + 1);
                let take = rng.below(other.len() - from + 1);
                data.splice(at..at, other[from..from + take].iter().copied());
            }
            _ => {
                let i = rng.below(data.len() + 1);
                let v = [0u8, 1, 0x7f, 0x80, 0xff][rng.below(5)];
                data.splice(i..i, std::iter::repeat_n(v, 1 + rng.below(8)));
            }
        }
    }
    data.truncate(1 << 16);
    data
}

fn seeds(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seeds of {name} in {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect();
    assert!(!seeds.is_empty(), "no seeds for {name}");
    seeds
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let total: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let seed: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let share = Duration::from_secs_f64(total / TARGETS.len() as f64);
    for (i, &(name, run)) in TARGETS.iter().enumerate() {
        let seeds = seeds(name);
        for s in &seeds {
            run(s);
        }
        let mut rng = Rng(seed ^ (i as u64) << 32);
        let started = Instant::now();
        let mut runs = 0u64;
        while started.elapsed() < share {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            run(&mutate(&mut rng, a, b));
            runs += 1;
        }
        println!(
            "{name}: {} seeds, {runs} mutated inputs in {:.1?}, no panic",
            seeds.len(),
            started.elapsed()
        );
    }
}
