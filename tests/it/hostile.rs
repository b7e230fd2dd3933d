//! Hostile files (issue 6, part 3): every file type of a closed database is damaged in turn —
//! bits flipped (header fields included), truncated, extended with garbage, replaced by the
//! same-named file of another database, and every length field set to extreme values (raw,
//! and with the checksum recomputed so that the bad length is believed). For each damage a
//! child process under an address-space limit opens the copy and reads every key: the result
//! is the right value for every intact key, or a specific error; never a panic, a signal, a
//! hang or a huge allocation. Damage that `check` does not report must be harmless, and
//! `repair` brings back every key whose newest records were intact.
//!
//! The parent builds both databases and the list of cases; a child runs the cases in order
//! and reports each; if it dies or stops answering, the case is recorded as a failure and a
//! new child goes on with the next case.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ziggydb::{Db, Error, Value};

use crate::util::{self, child_role, report, Child, TestResult};

/// How long one case may take before the child is taken to hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(15);
/// Address space a child may use: far above what a small database needs, far below what a
/// length field read as a size would ask for.
const CHILD_AS_LIMIT: u64 = 2 << 30;
const SEGMENT_SIZE: u64 = 64 << 10;
const LIST: &[u8] = b"list1";
const TTL_KEY: &[u8] = b"ttl1";
const INT_KEY: &[u8] = b"count1";

fn opts() -> ziggydb::OpenOptions {
    Db::options()
        .segment_size(SEGMENT_SIZE)
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
        .lock_timeout(Some(Duration::from_secs(3)))
}

fn skey(i: u32) -> Vec<u8> {
    format!("s{i:03}").into_bytes()
}

fn sval(prefix: &str, round: u32, i: u32) -> Value {
    Value::String(format!(
        "{prefix}-r{round}-{i}-{}",
        "x".repeat(900 + (i as usize * 13) % 400)
    ))
}

/// Every value each key has had, oldest first (`None` = absent); the last is the current one.
type History = BTreeMap<Vec<u8>, Vec<Option<Value>>>;

/// The list's elements after each change, oldest first.
type ListHistory = Vec<Vec<Vec<u8>>>;

fn record(h: &mut History, k: &[u8], v: Option<Value>) {
    h.entry(k.to_vec()).or_insert_with(|| vec![None]).push(v);
}

/// Builds a database of several log and compacted segments: strings rewritten three times
/// (one transaction per key), deletes, a list, a key with an expiry, a counter, and a
/// compaction. `prefix` makes another database's keys and values differ from these.
fn build(dir: &Path, prefix: &str) -> TestResult<(History, ListHistory)> {
    // The other database has no collection: with no database id in the format, its pages
    // (named by collection and page number) would be taken for this one's by repair.
    let main = prefix == "main";
    let db = opts().open(dir)?;
    let mut h = History::new();
    let mut lh: ListHistory = vec![Vec::new()];
    let far = util::now_ms() + 30 * 24 * 3600 * 1000;
    let key = |i: u32| {
        let mut k = skey(i);
        if !main {
            k.insert(0, b'o');
        }
        k
    };
    let list_push = |db: &Db, lh: &mut ListHistory, from: u32, n: u32| -> TestResult {
        let items: Vec<Vec<u8>> = (from..from + n)
            .map(|j| format!("{prefix}-item-{j}").into_bytes())
            .collect();
        db.transaction(|tx| tx.list(LIST).push_back(&items).map(|_| ()))?;
        let mut now = lh.last().cloned().unwrap_or_default();
        now.extend(items);
        lh.push(now);
        Ok(())
    };
    for round in 0..3u32 {
        let n = if round == 2 { 20 } else { 40 };
        for i in 0..n {
            let v = sval(prefix, round, i);
            db.set(&key(i), v.clone())?;
            record(&mut h, &key(i), Some(v));
        }
        if main {
            list_push(&db, &mut lh, round * 30, 30)?;
        }
        let (ttl_key, int_key) = if main {
            (TTL_KEY, INT_KEY)
        } else {
            (&b"ottl1"[..], &b"ocount1"[..])
        };
        let ttl = Value::String(format!("{prefix}-ttl-{round}"));
        db.transaction(|tx| tx.set_with_expiry(ttl_key, ttl.clone(), Some(far)))?;
        record(&mut h, ttl_key, Some(ttl));
        let n = db.incr_by(int_key, 7)?;
        record(&mut h, int_key, Some(Value::Int(n)));
        if round == 1 {
            for i in 35..40 {
                db.delete(&key(i))?;
                record(&mut h, &key(i), None);
            }
            db.compact()?;
        }
    }
    db.sync()?;
    let r = db.check()?;
    assert!(r.is_ok(), "{prefix}: pristine database: {:?}", r.problems);
    Ok((h, lh))
}

// ---------------------------------------------------------------------------------------------
// The pristine files, as the oracle of which keys a damage can touch

/// One record of a segment file (format-spec.md §3.2).
#[derive(Debug, Clone)]
struct Rec {
    offset: usize,
    len: usize,
    kind: u8,
    internal: bool,
    key: Vec<u8>,
    txn: u64,
    /// Offset of the key in the file.
    key_at: usize,
    /// A short PUT (format-spec.md §3.2.1), whose lengths are varints, not fields at fixed
    /// offsets.
    short: bool,
}

fn parse_records(bytes: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut at = util::SEGMENT_HEADER_LEN;
    while let Some(h) = bytes.get(at..).and_then(util::head) {
        let (kind, flags, txn) = (h.kind, h.flags, h.txn);
        let key_len = h.key_len;
        let key_at = at + h.key_at;
        let len = h.len();
        if at + len > bytes.len() {
            break;
        }
        out.push(Rec {
            offset: at,
            len,
            kind,
            internal: flags & 2 != 0,
            key: bytes[key_at..key_at + key_len].to_vec(),
            txn,
            key_at,
            short: bytes[at + 4] & 0x80 != 0 || bytes[at + 4] & 0xFC == util::KIND_SHORT_PUT,
        });
        at += len;
    }
    out
}

/// A unit that repair keeps or drops whole: a transaction of a log segment, or one record of
/// a compacted segment.
struct Span {
    start: usize,
    end: usize,
    recs: Vec<Rec>,
}

struct SegInfo {
    spans: Vec<Span>,
    recs: Vec<Rec>,
}

fn seg_info(bytes: &[u8]) -> SegInfo {
    let recs = parse_records(bytes);
    let log = bytes.get(12) == Some(&1);
    let mut spans = Vec::new();
    let mut cur: Vec<Rec> = Vec::new();
    for r in &recs {
        if !log {
            spans.push(Span {
                start: r.offset,
                end: r.offset + r.len,
                recs: vec![r.clone()],
            });
            continue;
        }
        cur.push(r.clone());
        if r.kind == 3 || r.kind == 4 {
            let recs = std::mem::take(&mut cur);
            spans.push(Span {
                start: recs[0].offset,
                end: r.offset + r.len,
                recs,
            });
        }
    }
    SegInfo { spans, recs }
}

struct Pristine {
    dir: PathBuf,
    segs: BTreeMap<String, SegInfo>,
    /// Highest txn id per (internal, key).
    newest: BTreeMap<(bool, Vec<u8>), u64>,
}

impl Pristine {
    fn load(dir: &Path) -> Pristine {
        let mut segs = BTreeMap::new();
        let mut newest = BTreeMap::new();
        for f in util::segment_files(dir) {
            let info = seg_info(&std::fs::read(&f).expect("read a segment"));
            for r in &info.recs {
                if r.kind == 1 || r.kind == 2 {
                    let e = newest.entry((r.internal, r.key.clone())).or_insert(0);
                    *e = (*e).max(r.txn);
                }
            }
            segs.insert(util::file_name(&f), info);
        }
        Pristine {
            dir: dir.to_owned(),
            segs,
            newest,
        }
    }

    /// User keys (and `list1` for any collection page or counter) whose newest record is in
    /// a span of `file` overlapping `lo..hi`.
    fn damaged_keys(&self, file: &str, lo: usize, hi: usize) -> BTreeSet<Vec<u8>> {
        let mut out = BTreeSet::new();
        let Some(info) = self.segs.get(file) else {
            return out;
        };
        for s in info.spans.iter().filter(|s| s.start < hi && lo < s.end) {
            for r in s.recs.iter().filter(|r| r.kind == 1 || r.kind == 2) {
                if self.newest.get(&(r.internal, r.key.clone())) == Some(&r.txn) {
                    out.insert(if r.internal {
                        LIST.to_vec()
                    } else {
                        r.key.clone()
                    });
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Damage

#[derive(Debug, Clone)]
enum Damage {
    /// Invert every bit of one byte.
    Flip(usize),
    Truncate(usize),
    /// Append this many pseudo-random bytes.
    Append(usize),
    /// Replace the file by the other database's file of the same name.
    Swap,
    /// Overwrite bytes at an offset, then recompute a checksum so the change is believed.
    Write(usize, Vec<u8>, Fix),
}

#[derive(Debug, Clone, Copy)]
enum Fix {
    None,
    /// The record starting at this offset.
    Record(usize),
    Manifest,
    Index,
}

struct Case {
    file: String,
    what: String,
    damage: Damage,
    /// Keys whose newest value may be lost or unreadable.
    damaged: BTreeSet<Vec<u8>>,
}

fn hex(b: &[u8]) -> String {
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

impl Case {
    fn to_line(&self) -> String {
        let d = match &self.damage {
            Damage::Flip(o) => format!("flip {o}"),
            Damage::Truncate(l) => format!("trunc {l}"),
            Damage::Append(n) => format!("append {n}"),
            Damage::Swap => "swap".to_owned(),
            Damage::Write(o, b, f) => {
                let f = match f {
                    Fix::None => "none".to_owned(),
                    Fix::Record(s) => format!("rec:{s}"),
                    Fix::Manifest => "man".to_owned(),
                    Fix::Index => "idx".to_owned(),
                };
                format!("write {o} {} {f}", hex(b))
            }
        };
        let keys: Vec<String> = self
            .damaged
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        format!("{}\t{}\t{}\t{}", self.file, self.what, d, keys.join(","))
    }

    fn from_line(line: &str) -> Case {
        let mut p = line.split('\t');
        let file = p.next().expect("file").to_owned();
        let what = p.next().expect("what").to_owned();
        let d: Vec<&str> = p.next().expect("damage").split(' ').collect();
        let n = |i: usize| d[i].parse::<usize>().expect("number");
        let damage = match d[0] {
            "flip" => Damage::Flip(n(1)),
            "trunc" => Damage::Truncate(n(1)),
            "append" => Damage::Append(n(1)),
            "swap" => Damage::Swap,
            _ => Damage::Write(
                n(1),
                unhex(d[2]),
                match d[3] {
                    "none" => Fix::None,
                    "man" => Fix::Manifest,
                    "idx" => Fix::Index,
                    s => Fix::Record(s[4..].parse().expect("record offset")),
                },
            ),
        };
        let damaged = p
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.as_bytes().to_vec())
            .collect();
        Case {
            file,
            what,
            damage,
            damaged,
        }
    }
}

fn apply(case: &Case, dir: &Path, other: &Path) {
    let path = dir.join(&case.file);
    let mut data = std::fs::read(&path).expect("read the file to damage");
    match &case.damage {
        Damage::Flip(o) => data[*o] ^= 0xff,
        Damage::Truncate(l) => data.truncate(*l),
        Damage::Append(n) => {
            let mut rng = util::Rng::new(*n as u64);
            data.extend((0..*n).map(|_| rng.next_u64() as u8));
        }
        Damage::Swap => data = std::fs::read(other.join(&case.file)).expect("the other file"),
        Damage::Write(o, b, fix) => {
            data[*o..*o + b.len()].copy_from_slice(b);
            match fix {
                Fix::None => {}
                Fix::Record(s) => {
                    let len = util::head(&data[*s..]).map_or_else(
                        || {
                            // Not a kind of either form: the 24-byte header's lengths.
                            let h = &data[*s..*s + util::RECORD_HEADER_LEN];
                            let exp = if h[6] & 1 != 0 { 8 } else { 0 };
                            util::RECORD_HEADER_LEN
                                + exp
                                + usize::from(u16::from_le_bytes([h[8], h[9]]))
                                + u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize
                        },
                        |h| h.len(),
                    );
                    // A length past the end cannot be checksummed: the record is then cut.
                    let end = (*s + len).min(data.len());
                    let crc = util::crc32(&data[*s + 4..end]);
                    data[*s..*s + 4].copy_from_slice(&crc.to_le_bytes());
                }
                Fix::Manifest => {
                    let count = u32::from_le_bytes(data[12..16].try_into().expect("4")) as usize;
                    let at = 24 + 8 * count;
                    if at + 4 <= data.len() {
                        let crc = util::crc32(&data[..at]);
                        data[at..at + 4].copy_from_slice(&crc.to_le_bytes());
                    }
                }
                Fix::Index => {
                    let mut covered = data[..104].to_vec();
                    covered.extend_from_slice(&data[112..512]);
                    let crc = u64::from(util::crc32(&covered));
                    data[104..112].copy_from_slice(&crc.to_le_bytes());
                }
            }
        }
    }
    std::fs::write(&path, data).expect("write the damaged file");
}

const EXTREMES_16: [u64; 4] = [0, 1, 0x7fff, 0xffff];
const EXTREMES_32: [u64; 4] = [0, 1, 0xffff, 0xffff_ffff];
const EXTREMES_64: [u64; 5] = [0, 1, 0xffff, 0xffff_ffff, u64::MAX];

/// The cases for every file of the pristine database. `soak` adds more offsets.
fn cases(p: &Pristine, other: &Path, soak: u64) -> Vec<Case> {
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(&p.dir)
        .expect("list the database")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n == "MANIFEST" || n == "ziggy.shm" || n.starts_with("seg-") || n.starts_with("index-")
        })
        .collect();
    names.sort();
    for name in names {
        let len = std::fs::metadata(p.dir.join(&name)).expect("size").len() as usize;
        let mut add = |what: String, damage: Damage, lo: usize, hi: usize| {
            let damaged = p.damaged_keys(&name, lo, hi);
            out.push(Case {
                file: name.clone(),
                what,
                damage,
                damaged,
            });
        };
        // Header fields of each file type, then offsets spread over the file.
        let header: &[usize] = match name.as_str() {
            "MANIFEST" => &[0, 8, 10, 12, 16, 20, 24, 28, 32],
            "ziggy.shm" => &[
                0, 8, 32, 64, 128, 136, 144, 152, 160, 184, 256, 320, 1024, 1032,
            ],
            n if n.starts_with("seg-") => &[0, 8, 10, 12, 13, 16, 20, 24, 32, 60],
            _ => &[0, 8, 16, 24, 32, 40, 48, 56, 64, 104, 112, 256, 4096, 4104],
        };
        let mut offsets: Vec<usize> = header.to_vec();
        let spread = 6 * soak as usize;
        offsets.extend((1..=spread).map(|i| i * len / (spread + 1)));
        offsets.push(len.saturating_sub(1));
        offsets.retain(|&o| o < len);
        offsets.sort_unstable();
        offsets.dedup();
        for o in offsets {
            add(format!("flip byte {o}"), Damage::Flip(o), o, o + 1);
        }
        let mut cuts = vec![0, 1, 8, 63, 64, 4095, 4096, len / 3, len / 2, len - 1];
        if name == "MANIFEST" {
            cuts.extend([len - 4, len - 5]);
        }
        cuts.retain(|&c| c < len);
        cuts.sort_unstable();
        cuts.dedup();
        for c in cuts {
            add(
                format!("truncate to {c}"),
                Damage::Truncate(c),
                c,
                usize::MAX,
            );
        }
        for n in [1, 9, 4096] {
            add(
                format!("append {n} garbage bytes"),
                Damage::Append(n),
                len,
                len,
            );
        }
        if other.join(&name).exists() {
            add(
                "swap with another database's".into(),
                Damage::Swap,
                0,
                usize::MAX,
            );
        }
        // Length fields.
        let put = |add: &mut dyn FnMut(String, Damage, usize, usize),
                   what: &str,
                   at: usize,
                   size: usize,
                   values: &[u64],
                   fixes: &[Fix],
                   lo: usize,
                   hi: usize| {
            for &v in values {
                for &fix in fixes {
                    let bytes = v.to_le_bytes()[..size].to_vec();
                    add(
                        format!("{what} = {v:#x} ({fix:?})"),
                        Damage::Write(at, bytes, fix),
                        lo,
                        hi,
                    );
                }
            }
        };
        if name == "MANIFEST" {
            put(
                &mut add,
                "count",
                12,
                4,
                &EXTREMES_32,
                &[Fix::None, Fix::Manifest],
                0,
                0,
            );
            put(
                &mut add,
                "active",
                16,
                4,
                &EXTREMES_32,
                &[Fix::Manifest],
                0,
                0,
            );
        } else if name == "ziggy.shm" {
            for (w, wname) in [
                (1, "version"),
                (8, "seq"),
                (16, "index_gen"),
                (17, "log_pos"),
                (18, "next_txn"),
                (19, "next_segment"),
                (20, "durable_pos"),
                (21, "pub_start"),
                (23, "active_alloc"),
                (24, "keys"),
                (32, "segments"),
                (39, "rotating"),
                (40, "segment_epoch"),
                (128, "process pid"),
            ] {
                put(&mut add, wname, w * 8, 8, &EXTREMES_64, &[Fix::None], 0, 0);
            }
        } else if name.starts_with("index-") {
            for (w, wname) in [
                (2, "gen"),
                (3, "capacity"),
                (4, "used"),
                (5, "deleted"),
                (6, "dirty"),
                (7, "ckpt_pos"),
                (8, "next_txn"),
                (9, "next_segment"),
                (10, "keys"),
                (11, "live_bytes"),
                (14, "expiring"),
            ] {
                put(&mut add, wname, w * 8, 8, &EXTREMES_64, &[Fix::Index], 0, 0);
            }
            // A slot's location.
            put(
                &mut add,
                "slot loc",
                4096 + 8,
                8,
                &EXTREMES_64,
                &[Fix::None],
                0,
                0,
            );
        } else if let Some(info) = p.segs.get(&name) {
            // key_len and val_len of the first, a middle and the last record, and the
            // entry count and first key length of a collection page, the length and height
            // in a collection's metadata.
            let n = info.recs.len();
            let mut picks: Vec<usize> = vec![0, n / 2, n.saturating_sub(1)];
            picks.dedup();
            // The fixed-offset length fields are those of the 24-byte header; a short PUT's
            // varint lengths are covered by the record decoder's tests and fuzz target.
            for &i in picks.iter().filter(|&&i| i < n && !info.recs[i].short) {
                let r = &info.recs[i];
                let (lo, end) = (r.offset, r.offset + r.len);
                for (field, at, size, values) in [
                    ("key_len", 8, 2, &EXTREMES_16[..]),
                    ("val_len", 12, 4, &EXTREMES_32[..]),
                ] {
                    // Believed, a longer record swallows the records after it.
                    put(
                        &mut add,
                        &format!("record {i} {field}"),
                        lo + at,
                        size,
                        values,
                        &[Fix::None],
                        lo,
                        end,
                    );
                    for &v in values {
                        let grown = lo + r.len + v as usize;
                        put(
                            &mut add,
                            &format!("record {i} {field}"),
                            lo + at,
                            size,
                            &[v],
                            &[Fix::Record(lo)],
                            lo,
                            grown.max(end),
                        );
                    }
                }
            }
            let page = info
                .recs
                .iter()
                .find(|r| r.internal && r.key.starts_with(b"pg"));
            if let Some(r) = page {
                let val = r.key_at + r.key.len();
                let fixes = [Fix::Record(r.offset)];
                let (lo, hi) = (r.offset, r.offset + r.len);
                put(
                    &mut add,
                    "page entry count",
                    val + 1,
                    4,
                    &EXTREMES_32,
                    &fixes,
                    lo,
                    hi,
                );
                put(
                    &mut add,
                    "page first key length",
                    val + 5,
                    4,
                    &EXTREMES_32,
                    &fixes,
                    lo,
                    hi,
                );
            }
            let meta = info
                .recs
                .iter()
                .find(|r| !r.internal && r.kind == 1 && r.key == LIST);
            if let Some(r) = meta {
                let val = r.key_at + r.key.len();
                let fixes = [Fix::Record(r.offset)];
                let (lo, hi) = (r.offset, r.offset + r.len);
                put(
                    &mut add,
                    "list length",
                    val + 8,
                    8,
                    &EXTREMES_64,
                    &fixes,
                    lo,
                    hi,
                );
                put(
                    &mut add,
                    "list height",
                    val + 32,
                    4,
                    &EXTREMES_32,
                    &fixes,
                    lo,
                    hi,
                );
                put(
                    &mut add,
                    "list root",
                    val + 24,
                    8,
                    &EXTREMES_64,
                    &fixes,
                    lo,
                    hi,
                );
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The child: runs cases in order

/// Caps the child's address space, so that a length field taken as an allocation size fails
/// loudly (abort on allocation failure) instead of passing unnoticed.
fn limit_address_space() {
    let lim = libc::rlimit {
        rlim_cur: CHILD_AS_LIMIT as libc::rlim_t,
        rlim_max: CHILD_AS_LIMIT as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass by pointer and nothing else; the struct
    // lives on this stack frame for the whole call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) };
    assert_eq!(rc, 0, "setrlimit(RLIMIT_AS)");
}

/// A record rewritten with its checksum recomputed is indistinguishable from one the engine
/// wrote: a damaged key may then read as whatever that record now says.
fn forged(case: &Case) -> bool {
    matches!(case.damage, Damage::Write(_, _, Fix::Record(_)))
}

fn specific(e: &Error, what: &str) -> Result<(), String> {
    match e {
        Error::CorruptWal { .. }
        | Error::ChecksumMismatch { .. }
        | Error::CorruptSegment { .. }
        | Error::CorruptIndex { .. }
        | Error::CorruptShm { .. }
        | Error::CorruptCollection { .. }
        | Error::CorruptValue { .. }
        | Error::CorruptManifest { .. }
        | Error::ManifestMissing { .. }
        | Error::IncompatibleVersion { .. }
        | Error::Io { .. } => Ok(()),
        e => Err(format!("{what}: unexpected kind of error {e:?}")),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for e in std::fs::read_dir(from).expect("list the pristine database") {
        let e = e.expect("entry");
        if e.file_type().expect("type").is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy a file");
        }
    }
}

fn show(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

/// Whether the damage overwrites bytes in the slots of an index file. A slot carries a check
/// byte (format-spec.md §4.2) that catches every single flipped bit, so a flip must give a
/// correct read or an error like damage anywhere else; but several bits changed at once
/// escape it one time in 256, and then a key can be hidden or pointed elsewhere until
/// `check`, which verifies every slot against its record, reports it and `repair` rebuilds
/// the index. So for overwritten slots a wrong read before the check is allowed, provided
/// the check reports it.
fn index_slot_damage(case: &Case) -> bool {
    const INDEX_HEADER: usize = 4096;
    case.file.starts_with("index-")
        && match &case.damage {
            Damage::Write(at, _, _) => *at >= INDEX_HEADER,
            _ => false,
        }
}

/// What reading every key found: `Ok(all right)`, or the first error met, as long as every
/// intact key that read without error is right (any key, for damage to index slots before
/// the check; see [`index_slot_damage`]).
fn read_all(
    db: &Db,
    case: &Case,
    h: &History,
    lh: &ListHistory,
    stage: &str,
) -> Result<bool, String> {
    let unchecked_slots = stage == "damaged" && index_slot_damage(case);
    let mut all_right = true;
    for (k, hist) in h {
        let want = hist.last().expect("a history");
        match db.get_value(k) {
            Ok(v) if &v == want => {}
            Ok(_) if unchecked_slots => all_right = false,
            Ok(v) => {
                all_right = false;
                if !case.damaged.contains(k) {
                    return Err(format!("{stage}: intact key {} read as {v:?}", show(k)));
                }
                if !forged(case) && !hist.contains(&v) {
                    return Err(format!(
                        "{stage}: key {} read as a value it never had",
                        show(k)
                    ));
                }
            }
            Err(e) => {
                all_right = false;
                specific(&e, &format!("{stage}: get {}", show(k)))?;
            }
        }
    }
    if !lh.is_empty() {
        match db.list(LIST).range(0, -1) {
            Ok(v) if Some(&v) == lh.last() => {}
            Ok(v) => {
                all_right = false;
                if !case.damaged.contains(LIST) {
                    return Err(format!("{stage}: intact list read as {} elements", v.len()));
                }
                if !forged(case) && !lh.contains(&v) && !v.is_empty() {
                    return Err(format!("{stage}: list read as elements it never had"));
                }
            }
            Err(e) => {
                all_right = false;
                if !matches!(e, Error::WrongType { .. }) || !case.damaged.contains(LIST) {
                    specific(&e, &format!("{stage}: list range"))?;
                }
            }
        }
    }
    if let Err(e) = db.keys() {
        all_right = false;
        specific(&e, &format!("{stage}: keys"))?;
    }
    Ok(all_right)
}

/// Runs one case; returns how the damage was met.
fn run_case(
    case: &Case,
    work: &Path,
    h: &History,
    lh: &ListHistory,
) -> Result<&'static str, String> {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    copy_dir(&work.join("db"), &dir);
    apply(case, &dir, &work.join("other"));
    let detected = match opts().open(&dir) {
        Err(e) => {
            specific(&e, "open")?;
            "open refused"
        }
        Ok(db) => {
            let all_right = read_all(&db, case, h, lh, "damaged")?;
            let check = db.check();
            drop(db);
            match check {
                Err(e) => {
                    specific(&e, "check")?;
                    "check failed"
                }
                Ok(r) if !r.is_ok() => "check reported",
                Ok(_) if all_right => return Ok("harmless"),
                Ok(_) => return Err("check found nothing, yet reads were wrong or failed".into()),
            }
        }
    };
    match ziggydb::repair(&dir) {
        Ok(_) => {}
        Err(Error::IncompatibleVersion { .. }) => return Ok("newer version refused"),
        Err(e) => return Err(format!("{detected}; repair failed: {e}")),
    }
    let db = opts()
        .open(&dir)
        .map_err(|e| format!("{detected}; the repaired database does not open: {e}"))?;
    // Intact keys must be back exactly; a damaged key may have its older value or none.
    read_all(&db, case, h, lh, "repaired")?;
    let r = db
        .check()
        .map_err(|e| format!("check of the repaired database: {e}"))?;
    if !r.is_ok() {
        return Err(format!("repaired database fails check: {:?}", r.problems));
    }
    Ok(if detected == "open refused" {
        "open refused, repaired"
    } else {
        "check reported, repaired"
    })
}

#[test]
fn child_hostile() {
    let Some(work) = child_role("hostile") else {
        return;
    };
    let from: usize = util::child_param("HOSTILE_FROM");
    // The model: the same database built again, in a directory of its own.
    let scratch = util::tempdir();
    let (h, lh) = build(&util::db_path(&scratch), "main").expect("model");
    drop(scratch);
    limit_address_space();
    let text = std::fs::read_to_string(work.join("cases")).expect("the cases");
    for (i, line) in text.lines().enumerate().skip(from) {
        let case = Case::from_line(line);
        report(format!("START {i}"));
        let out = match run_case(&case, &work, &h, &lh) {
            Ok(how) => format!("ok {how}"),
            Err(e) => format!("FAIL {e}"),
        };
        report(format!("DONE {i} {out}"));
    }
}

#[test]
fn hostile_files_give_errors_or_right_answers_never_crashes() -> TestResult {
    let tmp = util::tempdir();
    let work = tmp.path();
    build(&work.join("db"), "main")?;
    build(&work.join("other"), "other")?;
    let p = Pristine::load(&work.join("db"));
    let soak = util::soak();
    let cases = cases(&p, &work.join("other"), soak);
    let lines: Vec<String> = cases.iter().map(Case::to_line).collect();
    std::fs::write(work.join("cases"), lines.join("\n") + "\n")?;
    let mut failures = Vec::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut next = 0;
    while next < cases.len() {
        let mut child = Child::spawn(
            "hostile::child_hostile",
            "hostile",
            work,
            &[("HOSTILE_FROM", next.to_string())],
        );
        loop {
            match child.next_line(CASE_TIMEOUT) {
                Some(l) if l.starts_with("DONE ") => {
                    let mut p = l[5..].splitn(2, ' ');
                    let i: usize = p.next().unwrap_or("").parse()?;
                    let rest = p.next().unwrap_or("");
                    let c = &cases[i];
                    match rest.strip_prefix("FAIL ") {
                        Some(msg) => failures.push(format!("{} {}: {msg}", c.file, c.what)),
                        None => *outcomes.entry(rest.to_owned()).or_default() += 1,
                    }
                    next = i + 1;
                }
                Some(_) => {}
                None => {
                    if next >= cases.len() {
                        break;
                    }
                    let hung = child.try_status().is_none();
                    let status = child.kill();
                    std::thread::sleep(Duration::from_millis(50));
                    let err = child.stderr();
                    let tail: String = err.lines().rev().take(12).collect::<Vec<_>>().join(" | ");
                    let c = &cases[next];
                    failures.push(format!(
                        "{} {}: child {} ({tail})",
                        c.file,
                        c.what,
                        if hung {
                            "hung".to_owned()
                        } else {
                            format!("died: {status}")
                        }
                    ));
                    next += 1;
                    break;
                }
            }
        }
    }
    eprintln!(
        "hostile: {} cases over {} files: {outcomes:?}",
        cases.len(),
        p.segs.len() + 3
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    Ok(())
}
