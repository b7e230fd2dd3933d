//! The bitmap, HyperLogLog and LCS commands: `SETBIT`, `GETBIT`, `BITCOUNT`, `BITPOS`,
//! `BITOP`, `BITFIELD`, `BITFIELD_RO`, `PFADD`, `PFCOUNT`, `PFMERGE`, `LCS`, and `SUBSTR` (the
//! old name of `GETRANGE`). Their table entries, the parsing of their arguments, and how each
//! runs on the library's calls (`crate::types::bits`).
//!
//! Replies and errors are Redis 7.0's, in its order of checks: `BITCOUNT` and `BITPOS` on a
//! missing key answer before their range is read (so a bad range on a missing key is no
//! error), and `LCS` checks the keys' types before its options.

use crate::commands::exec::error_reply;
use crate::commands::parse::{not_an_integer, parse_int, syntax_error, ReadCmd};
use crate::commands::reply::Reply;
use crate::commands::table::{CommandId, CommandSpec, Group, Kind};
use crate::types::bits as lib;
use crate::types::read::sealed::Sealed;
use crate::{BitOp, BitUnit, BitfieldOp, BitfieldType, Db, Error, Overflow, WriteTxn};

/// Every bitmap, HyperLogLog and LCS command, one variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BitsId {
    /// `SETBIT`.
    Setbit,
    /// `GETBIT`.
    Getbit,
    /// `BITCOUNT`.
    Bitcount,
    /// `BITPOS`.
    Bitpos,
    /// `BITOP`.
    Bitop,
    /// `BITFIELD`.
    Bitfield,
    /// `BITFIELD_RO`.
    BitfieldRo,
    /// `PFADD`.
    Pfadd,
    /// `PFCOUNT`.
    Pfcount,
    /// `PFMERGE`.
    Pfmerge,
    /// `LCS`.
    Lcs,
    /// `SUBSTR`.
    Substr,
}

const fn spec(
    group: Group,
    id: BitsId,
    name: &'static str,
    arity: i32,
    kind: Kind,
    syntax: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        id: CommandId::Bits(id),
        name,
        arity,
        kind,
        syntax,
        summary,
        group,
    }
}

/// Every command of this module, in the order help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        Group::Bitmap,
        BitsId::Setbit,
        "SETBIT",
        4,
        Kind::Write,
        "key offset value",
        "Set or clear the bit at an offset of a string; reply with its previous value",
    ),
    spec(
        Group::Bitmap,
        BitsId::Getbit,
        "GETBIT",
        3,
        Kind::Read,
        "key offset",
        "Get the bit at an offset of a string",
    ),
    spec(
        Group::Bitmap,
        BitsId::Bitcount,
        "BITCOUNT",
        -2,
        Kind::Read,
        "key [start end [BYTE|BIT]]",
        "Count the set bits of a string, or of a range of its bytes or bits",
    ),
    spec(
        Group::Bitmap,
        BitsId::Bitpos,
        "BITPOS",
        -3,
        Kind::Read,
        "key bit [start [end [BYTE|BIT]]]",
        "Find the first set or clear bit of a string, or of a range of it",
    ),
    spec(
        Group::Bitmap,
        BitsId::Bitop,
        "BITOP",
        -4,
        Kind::Write,
        "AND|OR|XOR|NOT destkey key [key ...]",
        "Store the bitwise AND, OR, XOR or NOT of strings at a key; reply with its length",
    ),
    spec(
        Group::Bitmap,
        BitsId::Bitfield,
        "BITFIELD",
        -2,
        Kind::Write,
        "key [GET type offset] [SET type offset value] [INCRBY type offset increment] \
         [OVERFLOW WRAP|SAT|FAIL] ...",
        "Read, write and add to integers of any width (i1..i64, u1..u63) at bit offsets of a string",
    ),
    spec(
        Group::Bitmap,
        BitsId::BitfieldRo,
        "BITFIELD_RO",
        -2,
        Kind::Read,
        "key [GET type offset ...]",
        "Read integers of any width at bit offsets of a string",
    ),
    spec(
        Group::Hyperloglog,
        BitsId::Pfadd,
        "PFADD",
        -2,
        Kind::Write,
        "key [element ...]",
        "Add elements to a HyperLogLog; reply 1 if its estimate may have changed",
    ),
    spec(
        Group::Hyperloglog,
        BitsId::Pfcount,
        "PFCOUNT",
        -2,
        Kind::Read,
        "key [key ...]",
        "Estimate the number of distinct elements of HyperLogLogs (0.81% standard error)",
    ),
    spec(
        Group::Hyperloglog,
        BitsId::Pfmerge,
        "PFMERGE",
        -2,
        Kind::Write,
        "destkey [sourcekey ...]",
        "Merge HyperLogLogs into the one at destkey",
    ),
    spec(
        Group::String,
        BitsId::Lcs,
        "LCS",
        -3,
        Kind::Read,
        "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]",
        "Find the longest common subsequence of two strings, its length or its matching ranges",
    ),
    spec(
        Group::String,
        BitsId::Substr,
        "SUBSTR",
        4,
        Kind::Read,
        "key start end",
        "Get a range of bytes of the value of a key (the old name of GETRANGE)",
    ),
];

/// The command of this module named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Where the keys of `id` are: first, last (negative from the end), step.
pub fn keys(id: BitsId) -> (i32, i32, i32) {
    match id {
        BitsId::Bitop => (2, -1, 1),
        BitsId::Pfcount | BitsId::Pfmerge => (1, -1, 1),
        BitsId::Lcs => (1, 2, 1),
        _ => (1, 1, 1),
    }
}

/// `LCS`'s options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LcsOpts {
    len: bool,
    idx: bool,
    min_len: u64,
    with_len: bool,
}

/// A command with its arguments decoded. An error Redis gives only after it has looked at
/// the key is kept with the command, to be given in its turn.
#[derive(Debug, PartialEq)]
pub enum Cmd<'a> {
    SetBit(&'a [u8], u64, bool),
    GetBit(&'a [u8], u64),
    BitCount(&'a [u8], Result<Option<(i64, i64, BitUnit)>, Reply>),
    BitPos(
        &'a [u8],
        bool,
        Result<Option<(i64, Option<i64>, BitUnit)>, Reply>,
    ),
    BitOp(BitOp, &'a [u8], &'a [&'a [u8]]),
    BitField(&'a [u8], Vec<BitfieldOp>),
    PfAdd(&'a [u8], &'a [&'a [u8]]),
    PfCount(&'a [&'a [u8]]),
    PfMerge(&'a [u8], &'a [&'a [u8]]),
    Lcs(&'a [u8], &'a [u8], Result<LcsOpts, Reply>),
}

fn int(arg: &[u8]) -> Result<i64, Reply> {
    parse_int(arg).ok_or_else(not_an_integer)
}

fn offset_error() -> Reply {
    Reply::error("ERR bit offset is not an integer or out of range")
}

/// A bit offset as Redis's `getBitOffsetFromArgument` reads it: `#n` (with `bits`, for
/// `BITFIELD`) is `n * bits`; at most [`crate::MAX_BIT_OFFSET`].
fn bit_offset(arg: &[u8], hash_bits: Option<u8>) -> Result<u64, Reply> {
    let (digits, times) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let n = parse_int(digits)
        .ok_or_else(offset_error)?
        .wrapping_mul(times);
    match u64::try_from(n) {
        Ok(n) if n <= crate::MAX_BIT_OFFSET => Ok(n),
        _ => Err(offset_error()),
    }
}

fn unit(arg: &[u8]) -> Result<BitUnit, Reply> {
    if arg.eq_ignore_ascii_case(b"BIT") {
        Ok(BitUnit::Bit)
    } else if arg.eq_ignore_ascii_case(b"BYTE") {
        Ok(BitUnit::Byte)
    } else {
        Err(syntax_error())
    }
}

/// `BITCOUNT`'s range: none, or `start end [BYTE|BIT]`.
fn count_range(args: &[&[u8]]) -> Result<Option<(i64, i64, BitUnit)>, Reply> {
    match args {
        [] => Ok(None),
        [start, end, rest @ ..] if rest.len() <= 1 => {
            let (start, end) = (int(start)?, int(end)?);
            // Redis answers 0 for this empty range before it reads the unit.
            if start < 0 && end < 0 && start > end {
                return Ok(Some((start, end, BitUnit::Byte)));
            }
            let unit = rest.first().map_or(Ok(BitUnit::Byte), |u| unit(u))?;
            Ok(Some((start, end, unit)))
        }
        _ => Err(syntax_error()),
    }
}

/// `BITPOS`'s range: none, or `start [end [BYTE|BIT]]`.
fn pos_range(args: &[&[u8]]) -> Result<Option<(i64, Option<i64>, BitUnit)>, Reply> {
    match args {
        [] => Ok(None),
        [start, rest @ ..] if rest.len() <= 2 => {
            let start = int(start)?;
            let unit = rest.get(1).map_or(Ok(BitUnit::Byte), |u| unit(u))?;
            let end = rest.first().map(|e| int(e)).transpose()?;
            Ok(Some((start, end, unit)))
        }
        _ => Err(syntax_error()),
    }
}

fn lcs_opts(args: &[&[u8]]) -> Result<LcsOpts, Reply> {
    let mut o = LcsOpts::default();
    let mut i = 0;
    while i < args.len() {
        let opt = args[i];
        if opt.eq_ignore_ascii_case(b"IDX") {
            o.idx = true;
        } else if opt.eq_ignore_ascii_case(b"LEN") {
            o.len = true;
        } else if opt.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            o.with_len = true;
        } else if opt.eq_ignore_ascii_case(b"MINMATCHLEN") && i + 1 < args.len() {
            o.min_len = u64::try_from(int(args[i + 1])?).unwrap_or(0);
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if o.idx && o.len {
        return Err(Reply::error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

fn bitfield_ops(args: &[&[u8]], read_only: bool) -> Result<Vec<BitfieldOp>, Reply> {
    let type_error = || {
        Reply::error(
            "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not \
             supported but i64 is.",
        )
    };
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut writes = false;
    let mut j = 0;
    while j < args.len() {
        let sub = args[j];
        let rem = args.len() - j - 1;
        let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
        if is(b"OVERFLOW") && rem >= 1 {
            let name = args[j + 1];
            overflow = if name.eq_ignore_ascii_case(b"WRAP") {
                Overflow::Wrap
            } else if name.eq_ignore_ascii_case(b"SAT") {
                Overflow::Sat
            } else if name.eq_ignore_ascii_case(b"FAIL") {
                Overflow::Fail
            } else {
                return Err(Reply::error("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        }
        let get = is(b"GET") && rem >= 2;
        let set = is(b"SET") && rem >= 3;
        let incr = is(b"INCRBY") && rem >= 3;
        if !(get || set || incr) {
            return Err(syntax_error());
        }
        let ty = BitfieldType::parse(args[j + 1]).ok_or_else(type_error)?;
        let offset = bit_offset(args[j + 2], Some(ty.bits))?;
        ops.push(if get {
            j += 3;
            BitfieldOp::Get { ty, offset }
        } else {
            writes = true;
            let value = int(args[j + 3])?;
            j += 4;
            if set {
                BitfieldOp::Set {
                    ty,
                    offset,
                    value,
                    overflow,
                }
            } else {
                BitfieldOp::IncrBy {
                    ty,
                    offset,
                    delta: value,
                    overflow,
                }
            }
        });
    }
    if writes && read_only {
        return Err(Reply::error(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    Ok(ops)
}

/// Parses the arguments (after the name) of `id`, which has passed its arity check.
pub fn parse<'a>(
    id: BitsId,
    args: &'a [&'a [u8]],
) -> Result<crate::commands::parse::Cmd<'a>, Reply> {
    use crate::commands::parse::Cmd as Parsed;
    let key = args[0];
    let cmd = match id {
        BitsId::Substr => {
            return Ok(Parsed::Read(ReadCmd::GetRange(
                key,
                int(args[1])?,
                int(args[2])?,
            )))
        }
        BitsId::Setbit => {
            let offset = bit_offset(args[1], None)?;
            let bit_error = || Reply::error("ERR bit is not an integer or out of range");
            let bit = match parse_int(args[2]).ok_or_else(bit_error)? {
                0 => false,
                1 => true,
                _ => return Err(bit_error()),
            };
            Cmd::SetBit(key, offset, bit)
        }
        BitsId::Getbit => Cmd::GetBit(key, bit_offset(args[1], None)?),
        BitsId::Bitcount => Cmd::BitCount(key, count_range(&args[1..])),
        BitsId::Bitpos => {
            let bit = match int(args[1])? {
                0 => false,
                1 => true,
                _ => return Err(Reply::error("ERR The bit argument must be 1 or 0.")),
            };
            Cmd::BitPos(key, bit, pos_range(&args[2..]))
        }
        BitsId::Bitop => {
            let name = args[0];
            let op = if name.eq_ignore_ascii_case(b"AND") {
                BitOp::And
            } else if name.eq_ignore_ascii_case(b"OR") {
                BitOp::Or
            } else if name.eq_ignore_ascii_case(b"XOR") {
                BitOp::Xor
            } else if name.eq_ignore_ascii_case(b"NOT") {
                BitOp::Not
            } else {
                return Err(syntax_error());
            };
            if op == BitOp::Not && args.len() != 3 {
                return Err(Reply::error(
                    "ERR BITOP NOT must be called with a single source key.",
                ));
            }
            Cmd::BitOp(op, args[1], &args[2..])
        }
        BitsId::Bitfield | BitsId::BitfieldRo => {
            Cmd::BitField(key, bitfield_ops(&args[1..], id == BitsId::BitfieldRo)?)
        }
        BitsId::Pfadd => Cmd::PfAdd(key, &args[1..]),
        BitsId::Pfcount => Cmd::PfCount(args),
        BitsId::Pfmerge => Cmd::PfMerge(key, &args[1..]),
        BitsId::Lcs => Cmd::Lcs(key, args[1], lcs_opts(&args[2..])),
    };
    Ok(Parsed::Bits(cmd))
}

impl Cmd<'_> {
    /// Whether the command writes (a `BITFIELD` of `GET`s only reads).
    pub fn writes(&self) -> bool {
        match self {
            Cmd::SetBit(..) | Cmd::BitOp(..) | Cmd::PfAdd(..) | Cmd::PfMerge(..) => true,
            Cmd::BitField(_, ops) => ops.iter().any(|op| !matches!(op, BitfieldOp::Get { .. })),
            _ => false,
        }
    }
}

fn hll_error(e: &Error) -> Reply {
    match e {
        Error::WrongType { actual, .. } if !actual.is_collection() => {
            Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
        }
        other => error_reply(other),
    }
}

fn lcs_error(e: &Error) -> Reply {
    match e {
        Error::WrongType { .. } => {
            Reply::error("ERR The specified keys must contain string values")
        }
        Error::OutOfMemory { bytes } if *bytes as u64 > crate::MAX_LCS_TABLE => Reply::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ),
        Error::OutOfMemory { .. } => {
            Reply::error("ERR Insufficient memory, failed allocating transient memory for LCS")
        }
        Error::InvalidArgument(_) => Reply::error("ERR String too long for LCS"),
        other => error_reply(other),
    }
}

/// The reply for an error Redis gives after looking at `key`: its own if the key holds a
/// string, nothing but `missing` if it is absent, `WRONGTYPE` for a collection.
fn after_lookup(r: &(impl Sealed + ?Sized), key: &[u8], missing: Reply, error: &Reply) -> Reply {
    match lib::value_type(r, key) {
        Ok(None) => missing,
        Ok(Some(ty)) if ty.is_collection() => error_reply(&Error::WrongType {
            expected: crate::ValueType::Bytes,
            actual: ty,
        }),
        Ok(Some(_)) => error.clone(),
        Err(e) => error_reply(&e),
    }
}

fn read(r: &(impl Sealed + ?Sized), cmd: &Cmd<'_>) -> Reply {
    let int = |n: crate::Result<u64>| n.map_or_else(|e| error_reply(&e), |n| Reply::Int(n as i64));
    match cmd {
        Cmd::GetBit(key, offset) => int(lib::getbit(r, key, *offset).map(u64::from)),
        Cmd::BitCount(key, Ok(range)) => int(lib::bitcount(r, key, *range)),
        Cmd::BitCount(key, Err(e)) => after_lookup(r, key, Reply::Int(0), e),
        Cmd::BitPos(key, bit, Ok(range)) => {
            lib::bitpos(r, key, *bit, *range).map_or_else(|e| error_reply(&e), Reply::Int)
        }
        Cmd::BitPos(key, bit, Err(e)) => {
            after_lookup(r, key, Reply::Int(if *bit { -1 } else { 0 }), e)
        }
        Cmd::BitField(key, ops) => {
            let fields: Vec<_> = ops
                .iter()
                .filter_map(|op| match *op {
                    BitfieldOp::Get { ty, offset } => Some((ty, offset)),
                    _ => None,
                })
                .collect();
            match lib::bitfield_get(r, key, &fields) {
                Ok(values) => Reply::Array(values.into_iter().map(Reply::Int).collect()),
                Err(e) => error_reply(&e),
            }
        }
        Cmd::PfCount(keys) => {
            lib::pfcount(r, keys).map_or_else(|e| hll_error(&e), |n| Reply::Int(n as i64))
        }
        Cmd::Lcs(a, b, opts) => lcs(r, a, b, opts),
        // Writes never come here.
        _ => Reply::error("ERR internal error: a write command run as a read"),
    }
}

fn lcs(r: &(impl Sealed + ?Sized), a: &[u8], b: &[u8], opts: &Result<LcsOpts, Reply>) -> Reply {
    let opts = match opts {
        Ok(opts) => *opts,
        Err(e) => {
            // Redis checks the keys' types first.
            for key in [a, b] {
                if let Ok(Some(ty)) = lib::value_type(r, key) {
                    if ty.is_collection() {
                        return lcs_error(&Error::WrongType {
                            expected: crate::ValueType::Bytes,
                            actual: ty,
                        });
                    }
                }
            }
            return e.clone();
        }
    };
    let reply = if opts.idx {
        lib::lcs_matches(r, a, b, opts.min_len).map(|m| {
            let pair =
                |(x, y): (u64, u64)| Reply::Array(vec![Reply::Int(x as i64), Reply::Int(y as i64)]);
            let matches = m
                .matches
                .iter()
                .map(|m| {
                    let mut item = vec![pair(m.a), pair(m.b)];
                    if opts.with_len {
                        item.push(Reply::Int(m.len as i64));
                    }
                    Reply::Array(item)
                })
                .collect();
            Reply::Array(vec![
                Reply::bulk("matches"),
                Reply::Array(matches),
                Reply::bulk("len"),
                Reply::Int(m.len as i64),
            ])
        })
    } else if opts.len {
        lib::lcs_len(r, a, b).map(|n| Reply::Int(n as i64))
    } else {
        lib::lcs(r, a, b).map(Reply::Bulk)
    };
    reply.unwrap_or_else(|e| lcs_error(&e))
}

fn write(tx: &mut WriteTxn, cmd: &Cmd<'_>) -> Reply {
    match cmd {
        Cmd::SetBit(key, offset, bit) => tx
            .setbit(key, *offset, *bit)
            .map_or_else(|e| error_reply(&e), |was| Reply::Int(i64::from(was))),
        Cmd::BitOp(op, dest, sources) => tx
            .bitop(*op, dest, sources)
            .map_or_else(|e| error_reply(&e), |n| Reply::Int(n as i64)),
        Cmd::BitField(key, ops) => match tx.bitfield(key, ops) {
            Ok(values) => Reply::Array(
                values
                    .into_iter()
                    .map(|v| v.map_or(Reply::Nil, Reply::Int))
                    .collect(),
            ),
            Err(e) => error_reply(&e),
        },
        Cmd::PfAdd(key, elements) => tx
            .pfadd(key, elements)
            .map_or_else(|e| hll_error(&e), |c| Reply::Int(i64::from(c))),
        Cmd::PfMerge(dest, sources) => tx
            .pfmerge(dest, sources)
            .map_or_else(|e| hll_error(&e), |()| Reply::ok()),
        other => read(&*tx, other),
    }
}

/// Runs `cmd`: in `txn` if one is open (a failed command leaves it as it was, the caller's
/// savepoint sees to that), else a read on the committed state or a write in a transaction
/// of its own, committed unless the command failed.
pub fn run(db: &Db, txn: Option<&mut WriteTxn>, cmd: &Cmd<'_>) -> Reply {
    match txn {
        Some(tx) => write(tx, cmd),
        None if !cmd.writes() => read(db, cmd),
        None => {
            let mut tx = match db.begin_write() {
                Ok(tx) => tx,
                Err(e) => return error_reply(&e),
            };
            let reply = write(&mut tx, cmd);
            if reply.is_error() {
                tx.rollback();
                reply
            } else {
                tx.commit().map_or_else(|e| error_reply(&e), |()| reply)
            }
        }
    }
}

/// The reply of `id` as a RESP3 client gets it: `LCS ... IDX` is a map.
pub fn resp3(id: BitsId, reply: Reply) -> Reply {
    match (id, reply) {
        (BitsId::Lcs, Reply::Array(items))
            if items.len() == 4 && items[0].bulk_bytes() == Some(b"matches") =>
        {
            let mut items = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        (_, reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::session::{Policy, Session};

    fn run_lines(lines: &[&str]) -> Vec<Reply> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = Db::open(dir.path().join("db")).expect("a database");
        let mut session = Session::new(&db, Policy::trusted());
        lines
            .iter()
            .map(|line| {
                let args = crate::commands::split::split_line(line.as_bytes()).expect("a line");
                let slices = crate::commands::split::as_args(&args);
                session.execute(&slices)
            })
            .collect()
    }

    #[test]
    fn table_names_are_unique_and_found() {
        let all: Vec<&str> = crate::commands::all().map(|c| c.name).collect();
        for spec in COMMANDS {
            assert_eq!(
                all.iter().filter(|n| **n == spec.name).count(),
                1,
                "{}",
                spec.name
            );
            assert_eq!(
                crate::commands::lookup(spec.name.to_ascii_lowercase().as_bytes()).map(|s| s.id),
                Some(spec.id)
            );
            assert!(!spec.summary.is_empty() && !spec.syntax.is_empty());
        }
        assert_eq!(
            crate::commands::CommandId::Bits(BitsId::Bitop).keys(),
            crate::commands::KeyPositions {
                first: 2,
                last: -1,
                step: 1
            }
        );
    }

    #[test]
    fn offsets_and_types_parse_as_redis_reads_them() {
        assert_eq!(bit_offset(b"4294967295", None), Ok(crate::MAX_BIT_OFFSET));
        assert!(bit_offset(b"4294967296", None).is_err());
        assert!(bit_offset(b"#2", None).is_err());
        assert_eq!(bit_offset(b"#2", Some(8)), Ok(16));
        assert!(bit_offset(b"#-1", Some(8)).is_err());
        assert!(bit_offset(b"#9223372036854775807", Some(16)).is_err());
        assert_eq!(
            bitfield_ops(&[b"GET", b"u8", b"0", b"SET", b"i8", b"8", b"1"], true),
            Err(Reply::error(
                "ERR BITFIELD_RO only supports the GET subcommand"
            ))
        );
        assert_eq!(
            bitfield_ops(
                &[b"OVERFLOW", b"SAT", b"INCRBY", b"i64", b"#1", b"-1"],
                false
            ),
            Ok(vec![BitfieldOp::IncrBy {
                ty: BitfieldType {
                    signed: true,
                    bits: 64
                },
                offset: 64,
                delta: -1,
                overflow: Overflow::Sat
            }])
        );
        assert_eq!(
            lcs_opts(&[b"IDX", b"MINMATCHLEN", b"-3"]).map(|o| o.min_len),
            Ok(0)
        );
        assert_eq!(lcs_opts(&[b"MINMATCHLEN"]), Err(syntax_error()));
    }

    #[test]
    fn commands_reply_as_redis_does() {
        let replies = run_lines(&[
            "SETBIT b 7 1",
            "SETBIT b 7 0",
            "GETBIT b 7",
            "SET k 10",
            "GETBIT k 2",
            "INCR n",
            "BITCOUNT n",
            "SETBIT n 7 0",
            "GET n",
            "BITPOS b 0",
            "BITFIELD f OVERFLOW FAIL INCRBY u2 0 5",
            "STRLEN f",
            "PFADD h a b c",
            "PFADD h a",
            "PFCOUNT h",
            "PFADD k x",
            "LCS k n IDX LEN",
            "SUBSTR k 0 0",
            "BITCOUNT nokey 1",
            "BITCOUNT k 1",
        ]);
        let int = Reply::Int;
        assert_eq!(
            replies,
            vec![
                int(0),
                int(1),
                int(0),
                Reply::ok(),
                int(1),
                int(1),
                int(3),
                int(1),
                Reply::bulk("0"),
                int(0),
                Reply::Array(vec![Reply::Nil]),
                int(1),
                int(1),
                int(0),
                int(3),
                Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value."),
                Reply::error("ERR If you want both the length and indexes, please just use IDX."),
                Reply::bulk("1"),
                int(0),
                syntax_error(),
            ]
        );
    }

    #[test]
    fn a_failed_command_in_a_transaction_leaves_nothing() {
        let replies = run_lines(&[
            "BEGIN",
            "SETBIT b 3 1",
            "RPUSH l x",
            "BITOP OR b b l",
            "GET b",
            "COMMIT",
            "GET b",
        ]);
        assert_eq!(replies[3].error_code(), Some("WRONGTYPE"));
        assert_eq!(replies[4], Reply::bulk(b"\x10".to_vec()));
        assert_eq!(replies[6], Reply::bulk(b"\x10".to_vec()));
    }
}
