//! The collection commands: lists, sets, sorted sets and hashes. Their table entries, the
//! parsing of their arguments (Redis's errors, in Redis's order of checks), and how each
//! runs: a read outside a transaction reads the committed state without the writer lock; a
//! write runs in a write transaction, its own or the open `MULTI`/`BEGIN` one.
//!
//! Replies are Redis 7's over RESP2: `LPOP key count` on a missing key is a nil array,
//! `WITHSCORES` and `ZPOPMIN` give flat member/score arrays, scores print as Redis 7.2's do
//! ([`format_score`](crate::commands::format_score)).

use crate::commands::format_float;
use crate::{Aggregate, Db, End, Error, LexBound, ScoreBound, SetOp, WriteTxn, ZAddFlags};

use crate::commands::exec::error_reply;
use crate::commands::parse::{not_an_integer, parse_int, syntax_error};
use crate::commands::reply::Reply;
use crate::commands::table::{wrong_arity, CommandId, CommandSpec, Group, Kind};

const fn spec(
    id: CollectionId,
    name: &'static str,
    arity: i32,
    kind: Kind,
    syntax: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        id: CommandId::Coll(id),
        name,
        arity,
        kind,
        syntax,
        summary,
        group: crate::commands::table::Group::of_collection(name),
    }
}

/// Every collection command, one variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CollectionId {
    /// `LPUSH`.
    Lpush,
    /// `RPUSH`.
    Rpush,
    /// `LPOP`.
    Lpop,
    /// `RPOP`.
    Rpop,
    /// `LLEN`.
    Llen,
    /// `LRANGE`.
    Lrange,
    /// `LINDEX`.
    Lindex,
    /// `LSET`.
    Lset,
    /// `LREM`.
    Lrem,
    /// `LTRIM`.
    Ltrim,
    /// `LINSERT`.
    Linsert,
    /// `LPOS`.
    Lpos,
    /// `LMOVE`.
    Lmove,
    /// `RPOPLPUSH`.
    Rpoplpush,
    /// `LMPOP`.
    Lmpop,
    /// `BLPOP`.
    Blpop,
    /// `BRPOP`.
    Brpop,
    /// `BLMOVE`.
    Blmove,
    /// `BRPOPLPUSH`.
    Brpoplpush,
    /// `BLMPOP`.
    Blmpop,
    /// `SADD`.
    Sadd,
    /// `SREM`.
    Srem,
    /// `SMEMBERS`.
    Smembers,
    /// `SISMEMBER`.
    Sismember,
    /// `SMISMEMBER`.
    Smismember,
    /// `SCARD`.
    Scard,
    /// `SPOP`.
    Spop,
    /// `SRANDMEMBER`.
    Srandmember,
    /// `SINTER`.
    Sinter,
    /// `SUNION`.
    Sunion,
    /// `SDIFF`.
    Sdiff,
    /// `SINTERSTORE`.
    Sinterstore,
    /// `SUNIONSTORE`.
    Sunionstore,
    /// `SDIFFSTORE`.
    Sdiffstore,
    /// `ZADD`.
    Zadd,
    /// `ZREM`.
    Zrem,
    /// `ZSCORE`.
    Zscore,
    /// `ZMSCORE`.
    Zmscore,
    /// `ZINCRBY`.
    Zincrby,
    /// `ZCARD`.
    Zcard,
    /// `ZCOUNT`.
    Zcount,
    /// `ZLEXCOUNT`.
    Zlexcount,
    /// `ZRANK`.
    Zrank,
    /// `ZREVRANK`.
    Zrevrank,
    /// `ZRANGE`.
    Zrange,
    /// `ZRANGESTORE`.
    Zrangestore,
    /// `ZREVRANGE`.
    Zrevrange,
    /// `ZRANGEBYSCORE`.
    Zrangebyscore,
    /// `ZREVRANGEBYSCORE`.
    Zrevrangebyscore,
    /// `ZRANGEBYLEX`.
    Zrangebylex,
    /// `ZREVRANGEBYLEX`.
    Zrevrangebylex,
    /// `ZREMRANGEBYSCORE`.
    Zremrangebyscore,
    /// `ZREMRANGEBYRANK`.
    Zremrangebyrank,
    /// `ZPOPMIN`.
    Zpopmin,
    /// `ZPOPMAX`.
    Zpopmax,
    /// `ZRANDMEMBER`.
    Zrandmember,
    /// `ZMPOP`.
    Zmpop,
    /// `BZPOPMIN`.
    Bzpopmin,
    /// `BZPOPMAX`.
    Bzpopmax,
    /// `BZMPOP`.
    Bzmpop,
    /// `HSET`.
    Hset,
    /// `HMSET`.
    Hmset,
    /// `HSETNX`.
    Hsetnx,
    /// `HGET`.
    Hget,
    /// `HMGET`.
    Hmget,
    /// `HDEL`.
    Hdel,
    /// `HGETALL`.
    Hgetall,
    /// `HKEYS`.
    Hkeys,
    /// `HVALS`.
    Hvals,
    /// `HLEN`.
    Hlen,
    /// `HEXISTS`.
    Hexists,
    /// `HSTRLEN`.
    Hstrlen,
    /// `HINCRBY`.
    Hincrby,
    /// `HINCRBYFLOAT`.
    Hincrbyfloat,
    /// `HRANDFIELD`.
    Hrandfield,
    /// `LPUSHX`.
    Lpushx,
    /// `RPUSHX`.
    Rpushx,
    /// `SMOVE`.
    Smove,
    /// `SINTERCARD`.
    Sintercard,
    /// `SSCAN`.
    Sscan,
    /// `ZUNION`.
    Zunion,
    /// `ZINTER`.
    Zinter,
    /// `ZDIFF`.
    Zdiff,
    /// `ZUNIONSTORE`.
    Zunionstore,
    /// `ZINTERSTORE`.
    Zinterstore,
    /// `ZDIFFSTORE`.
    Zdiffstore,
    /// `ZINTERCARD`.
    Zintercard,
    /// `ZREMRANGEBYLEX`.
    Zremrangebylex,
    /// `ZSCAN`.
    Zscan,
    /// `HSCAN`.
    Hscan,
}

/// Every collection command, in the order help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    spec(
        CollectionId::Lpush,
        "LPUSH",
        -3,
        Kind::Write,
        "key element [element ...]",
        "Insert elements at the head of a list, one after the other",
    ),
    spec(
        CollectionId::Rpush,
        "RPUSH",
        -3,
        Kind::Write,
        "key element [element ...]",
        "Append elements to a list",
    ),
    spec(
        CollectionId::Lpushx,
        "LPUSHX",
        -3,
        Kind::Write,
        "key element [element ...]",
        "Insert elements at the head of a list, only if the list exists",
    ),
    spec(
        CollectionId::Rpushx,
        "RPUSHX",
        -3,
        Kind::Write,
        "key element [element ...]",
        "Append elements to a list, only if the list exists",
    ),
    spec(
        CollectionId::Lpop,
        "LPOP",
        -2,
        Kind::Write,
        "key [count]",
        "Remove and return elements from the head of a list",
    ),
    spec(
        CollectionId::Rpop,
        "RPOP",
        -2,
        Kind::Write,
        "key [count]",
        "Remove and return elements from the tail of a list",
    ),
    spec(
        CollectionId::Llen,
        "LLEN",
        2,
        Kind::Read,
        "key",
        "Get the length of a list",
    ),
    spec(
        CollectionId::Lrange,
        "LRANGE",
        4,
        Kind::Read,
        "key start stop",
        "Get the elements of a list from start to stop (negative: from the end)",
    ),
    spec(
        CollectionId::Lindex,
        "LINDEX",
        3,
        Kind::Read,
        "key index",
        "Get the element of a list at an index",
    ),
    spec(
        CollectionId::Lset,
        "LSET",
        4,
        Kind::Write,
        "key index element",
        "Replace the element of a list at an index",
    ),
    spec(
        CollectionId::Lrem,
        "LREM",
        4,
        Kind::Write,
        "key count element",
        "Remove elements equal to a value (count > 0: from the head, < 0: from the tail, 0: all)",
    ),
    spec(
        CollectionId::Ltrim,
        "LTRIM",
        4,
        Kind::Write,
        "key start stop",
        "Keep only the elements of a list from start to stop",
    ),
    spec(
        CollectionId::Linsert,
        "LINSERT",
        5,
        Kind::Write,
        "key BEFORE|AFTER pivot element",
        "Insert an element before or after the first element equal to pivot",
    ),
    spec(
        CollectionId::Lpos,
        "LPOS",
        -3,
        Kind::Read,
        "key element [RANK rank] [COUNT num-matches] [MAXLEN len]",
        "Find the positions of elements equal to a value",
    ),
    spec(
        CollectionId::Lmove,
        "LMOVE",
        5,
        Kind::Write,
        "source destination LEFT|RIGHT LEFT|RIGHT",
        "Move an element from an end of one list to an end of another; reply with it",
    ),
    spec(
        CollectionId::Rpoplpush,
        "RPOPLPUSH",
        3,
        Kind::Write,
        "source destination",
        "Move the last element of a list to the head of another; reply with it",
    ),
    spec(
        CollectionId::Lmpop,
        "LMPOP",
        -4,
        Kind::Write,
        "numkeys key [key ...] LEFT|RIGHT [COUNT count]",
        "Pop elements from the first non-empty list of several",
    ),
    spec(
        CollectionId::Blpop,
        "BLPOP",
        -3,
        Kind::Write,
        "key [key ...] timeout",
        "Pop the head of the first non-empty list, waiting up to timeout seconds (0: forever) for a push by any process",
    ),
    spec(
        CollectionId::Brpop,
        "BRPOP",
        -3,
        Kind::Write,
        "key [key ...] timeout",
        "Pop the tail of the first non-empty list, waiting up to timeout seconds (0: forever) for a push by any process",
    ),
    spec(
        CollectionId::Blmove,
        "BLMOVE",
        6,
        Kind::Write,
        "source destination LEFT|RIGHT LEFT|RIGHT timeout",
        "LMOVE, waiting up to timeout seconds (0: forever) for an element in source",
    ),
    spec(
        CollectionId::Brpoplpush,
        "BRPOPLPUSH",
        4,
        Kind::Write,
        "source destination timeout",
        "RPOPLPUSH, waiting up to timeout seconds (0: forever) for an element in source",
    ),
    spec(
        CollectionId::Blmpop,
        "BLMPOP",
        -5,
        Kind::Write,
        "timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]",
        "LMPOP, waiting up to timeout seconds (0: forever) for a push by any process",
    ),
    spec(
        CollectionId::Sadd,
        "SADD",
        -3,
        Kind::Write,
        "key member [member ...]",
        "Add members to a set",
    ),
    spec(
        CollectionId::Srem,
        "SREM",
        -3,
        Kind::Write,
        "key member [member ...]",
        "Remove members from a set",
    ),
    spec(
        CollectionId::Smembers,
        "SMEMBERS",
        2,
        Kind::Read,
        "key",
        "Get all members of a set",
    ),
    spec(
        CollectionId::Sismember,
        "SISMEMBER",
        3,
        Kind::Read,
        "key member",
        "Check whether a value is a member of a set",
    ),
    spec(
        CollectionId::Smismember,
        "SMISMEMBER",
        -3,
        Kind::Read,
        "key member [member ...]",
        "Check for each value whether it is a member of a set",
    ),
    spec(
        CollectionId::Scard,
        "SCARD",
        2,
        Kind::Read,
        "key",
        "Count the members of a set",
    ),
    spec(
        CollectionId::Smove,
        "SMOVE",
        4,
        Kind::Write,
        "source destination member",
        "Move a member from one set to another",
    ),
    spec(
        CollectionId::Spop,
        "SPOP",
        -2,
        Kind::Write,
        "key [count]",
        "Remove and return random members of a set",
    ),
    spec(
        CollectionId::Srandmember,
        "SRANDMEMBER",
        -2,
        Kind::Read,
        "key [count]",
        "Get random members of a set (a negative count may repeat members)",
    ),
    spec(
        CollectionId::Sinter,
        "SINTER",
        -2,
        Kind::Read,
        "key [key ...]",
        "Get the members present in every set",
    ),
    spec(
        CollectionId::Sunion,
        "SUNION",
        -2,
        Kind::Read,
        "key [key ...]",
        "Get the members present in any set",
    ),
    spec(
        CollectionId::Sdiff,
        "SDIFF",
        -2,
        Kind::Read,
        "key [key ...]",
        "Get the members of the first set that are in none of the others",
    ),
    spec(
        CollectionId::Sinterstore,
        "SINTERSTORE",
        -3,
        Kind::Write,
        "destination key [key ...]",
        "Store the intersection of sets",
    ),
    spec(
        CollectionId::Sunionstore,
        "SUNIONSTORE",
        -3,
        Kind::Write,
        "destination key [key ...]",
        "Store the union of sets",
    ),
    spec(
        CollectionId::Sdiffstore,
        "SDIFFSTORE",
        -3,
        Kind::Write,
        "destination key [key ...]",
        "Store the difference of sets",
    ),
    spec(
        CollectionId::Sintercard,
        "SINTERCARD",
        -3,
        Kind::Read,
        "numkeys key [key ...] [LIMIT limit]",
        "Count the members present in every set (stop at limit; 0: no limit)",
    ),
    spec(
        CollectionId::Sscan,
        "SSCAN",
        -3,
        Kind::Read,
        "key cursor [MATCH pattern] [COUNT count]",
        "Iterate over the members of a set, a page at a time, in hash order",
    ),
    spec(
        CollectionId::Zadd,
        "ZADD",
        -4,
        Kind::Write,
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
        "Add members to a sorted set, or update their scores",
    ),
    spec(
        CollectionId::Zrem,
        "ZREM",
        -3,
        Kind::Write,
        "key member [member ...]",
        "Remove members from a sorted set",
    ),
    spec(
        CollectionId::Zscore,
        "ZSCORE",
        3,
        Kind::Read,
        "key member",
        "Get the score of a member",
    ),
    spec(
        CollectionId::Zmscore,
        "ZMSCORE",
        -3,
        Kind::Read,
        "key member [member ...]",
        "Get the scores of members",
    ),
    spec(
        CollectionId::Zincrby,
        "ZINCRBY",
        4,
        Kind::Write,
        "key increment member",
        "Add to the score of a member",
    ),
    spec(
        CollectionId::Zcard,
        "ZCARD",
        2,
        Kind::Read,
        "key",
        "Count the members of a sorted set",
    ),
    spec(
        CollectionId::Zcount,
        "ZCOUNT",
        4,
        Kind::Read,
        "key min max",
        "Count the members with a score from min to max ('(' excludes, -inf/+inf)",
    ),
    spec(
        CollectionId::Zlexcount,
        "ZLEXCOUNT",
        4,
        Kind::Read,
        "key min max",
        "Count the members from min to max by member ('[' includes, '(' excludes, -/+)",
    ),
    spec(
        CollectionId::Zrank,
        "ZRANK",
        -3,
        Kind::Read,
        "key member [WITHSCORE]",
        "Get the rank of a member, lowest score first (and its score)",
    ),
    spec(
        CollectionId::Zrevrank,
        "ZREVRANK",
        -3,
        Kind::Read,
        "key member [WITHSCORE]",
        "Get the rank of a member, highest score first (and its score)",
    ),
    spec(
        CollectionId::Zrange,
        "ZRANGE",
        -4,
        Kind::Read,
        "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
        "Get members by rank, by score or by member bytes",
    ),
    spec(
        CollectionId::Zrangestore,
        "ZRANGESTORE",
        -5,
        Kind::Write,
        "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]",
        "Store a range of a sorted set (as ZRANGE selects it) at dst; reply how many",
    ),
    spec(
        CollectionId::Zrevrange,
        "ZREVRANGE",
        -4,
        Kind::Read,
        "key start stop [WITHSCORES]",
        "Get members by rank, highest score first",
    ),
    spec(
        CollectionId::Zrangebyscore,
        "ZRANGEBYSCORE",
        -4,
        Kind::Read,
        "key min max [WITHSCORES] [LIMIT offset count]",
        "Get the members with a score from min to max",
    ),
    spec(
        CollectionId::Zrevrangebyscore,
        "ZREVRANGEBYSCORE",
        -4,
        Kind::Read,
        "key max min [WITHSCORES] [LIMIT offset count]",
        "Get the members with a score from max down to min",
    ),
    spec(
        CollectionId::Zrangebylex,
        "ZRANGEBYLEX",
        -4,
        Kind::Read,
        "key min max [LIMIT offset count]",
        "Get the members from min to max by bytes ('[' includes, '(' excludes, - and +)",
    ),
    spec(
        CollectionId::Zrevrangebylex,
        "ZREVRANGEBYLEX",
        -4,
        Kind::Read,
        "key max min [LIMIT offset count]",
        "Get the members from max down to min by bytes",
    ),
    spec(
        CollectionId::Zremrangebyscore,
        "ZREMRANGEBYSCORE",
        4,
        Kind::Write,
        "key min max",
        "Remove the members with a score from min to max",
    ),
    spec(
        CollectionId::Zremrangebyrank,
        "ZREMRANGEBYRANK",
        4,
        Kind::Write,
        "key start stop",
        "Remove the members ranked from start to stop",
    ),
    spec(
        CollectionId::Zremrangebylex,
        "ZREMRANGEBYLEX",
        4,
        Kind::Write,
        "key min max",
        "Remove the members from min to max by bytes ('[' includes, '(' excludes, - and +)",
    ),
    spec(
        CollectionId::Zpopmin,
        "ZPOPMIN",
        -2,
        Kind::Write,
        "key [count]",
        "Remove and return the members with the lowest scores",
    ),
    spec(
        CollectionId::Zpopmax,
        "ZPOPMAX",
        -2,
        Kind::Write,
        "key [count]",
        "Remove and return the members with the highest scores",
    ),
    spec(
        CollectionId::Zrandmember,
        "ZRANDMEMBER",
        -2,
        Kind::Read,
        "key [count [WITHSCORES]]",
        "Get random members of a sorted set (a negative count may repeat members)",
    ),
    spec(
        CollectionId::Zunion,
        "ZUNION",
        -3,
        Kind::Read,
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
        "Get the members of any of several sorted sets (or sets, scoring 1), scores combined",
    ),
    spec(
        CollectionId::Zinter,
        "ZINTER",
        -3,
        Kind::Read,
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
        "Get the members of every one of several sorted sets, scores combined",
    ),
    spec(
        CollectionId::Zdiff,
        "ZDIFF",
        -3,
        Kind::Read,
        "numkeys key [key ...] [WITHSCORES]",
        "Get the members of the first sorted set that are in none of the others",
    ),
    spec(
        CollectionId::Zunionstore,
        "ZUNIONSTORE",
        -4,
        Kind::Write,
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
        "Store the union of sorted sets at destination; reply its size",
    ),
    spec(
        CollectionId::Zinterstore,
        "ZINTERSTORE",
        -4,
        Kind::Write,
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
        "Store the intersection of sorted sets at destination; reply its size",
    ),
    spec(
        CollectionId::Zdiffstore,
        "ZDIFFSTORE",
        -4,
        Kind::Write,
        "destination numkeys key [key ...]",
        "Store the difference of sorted sets at destination; reply its size",
    ),
    spec(
        CollectionId::Zintercard,
        "ZINTERCARD",
        -3,
        Kind::Read,
        "numkeys key [key ...] [LIMIT limit]",
        "Count the members of every one of several sorted sets (stop at limit; 0: no limit)",
    ),
    spec(
        CollectionId::Zscan,
        "ZSCAN",
        -3,
        Kind::Read,
        "key cursor [MATCH pattern] [COUNT count]",
        "Iterate over the members and scores of a sorted set, a page at a time, in hash order",
    ),
    spec(
        CollectionId::Zmpop,
        "ZMPOP",
        -4,
        Kind::Write,
        "numkeys key [key ...] MIN|MAX [COUNT count]",
        "Pop the lowest or highest members from the first non-empty sorted set of several",
    ),
    spec(
        CollectionId::Bzpopmin,
        "BZPOPMIN",
        -3,
        Kind::Write,
        "key [key ...] timeout",
        "Pop the lowest member of the first non-empty sorted set, waiting up to timeout seconds (0: forever)",
    ),
    spec(
        CollectionId::Bzpopmax,
        "BZPOPMAX",
        -3,
        Kind::Write,
        "key [key ...] timeout",
        "Pop the highest member of the first non-empty sorted set, waiting up to timeout seconds (0: forever)",
    ),
    spec(
        CollectionId::Bzmpop,
        "BZMPOP",
        -5,
        Kind::Write,
        "timeout numkeys key [key ...] MIN|MAX [COUNT count]",
        "ZMPOP, waiting up to timeout seconds (0: forever) for a member added by any process",
    ),
    spec(
        CollectionId::Hset,
        "HSET",
        -4,
        Kind::Write,
        "key field value [field value ...]",
        "Set fields of a hash; reply with how many are new",
    ),
    spec(
        CollectionId::Hmset,
        "HMSET",
        -4,
        Kind::Write,
        "key field value [field value ...]",
        "Set fields of a hash; reply OK",
    ),
    spec(
        CollectionId::Hsetnx,
        "HSETNX",
        4,
        Kind::Write,
        "key field value",
        "Set a field of a hash if it does not exist",
    ),
    spec(
        CollectionId::Hget,
        "HGET",
        3,
        Kind::Read,
        "key field",
        "Get the value of a field",
    ),
    spec(
        CollectionId::Hmget,
        "HMGET",
        -3,
        Kind::Read,
        "key field [field ...]",
        "Get the values of fields",
    ),
    spec(
        CollectionId::Hdel,
        "HDEL",
        -3,
        Kind::Write,
        "key field [field ...]",
        "Delete fields of a hash",
    ),
    spec(
        CollectionId::Hgetall,
        "HGETALL",
        2,
        Kind::Read,
        "key",
        "Get every field and value of a hash",
    ),
    spec(
        CollectionId::Hkeys,
        "HKEYS",
        2,
        Kind::Read,
        "key",
        "Get every field of a hash",
    ),
    spec(
        CollectionId::Hvals,
        "HVALS",
        2,
        Kind::Read,
        "key",
        "Get every value of a hash",
    ),
    spec(
        CollectionId::Hlen,
        "HLEN",
        2,
        Kind::Read,
        "key",
        "Count the fields of a hash",
    ),
    spec(
        CollectionId::Hexists,
        "HEXISTS",
        3,
        Kind::Read,
        "key field",
        "Check whether a field exists",
    ),
    spec(
        CollectionId::Hstrlen,
        "HSTRLEN",
        3,
        Kind::Read,
        "key field",
        "Get the length of the value of a field",
    ),
    spec(
        CollectionId::Hincrby,
        "HINCRBY",
        4,
        Kind::Write,
        "key field increment",
        "Add to the integer in a field",
    ),
    spec(
        CollectionId::Hincrbyfloat,
        "HINCRBYFLOAT",
        4,
        Kind::Write,
        "key field increment",
        "Add to the number in a field",
    ),
    spec(
        CollectionId::Hrandfield,
        "HRANDFIELD",
        -2,
        Kind::Read,
        "key [count [WITHVALUES]]",
        "Get random fields of a hash (a negative count may repeat fields)",
    ),
    spec(
        CollectionId::Hscan,
        "HSCAN",
        -3,
        Kind::Read,
        "key cursor [MATCH pattern] [COUNT count]",
        "Iterate over the fields and values of a hash, a page at a time, in hash order",
    ),
];

/// The collection command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------------------------
// Parsed commands

/// A parsed collection command.
#[derive(Debug, PartialEq)]
pub enum Cmd<'a> {
    /// Reads; outside a transaction they read the committed state.
    Read(ReadCmd<'a>),
    /// Writes, and the reads that need a write transaction's view.
    Write(WriteCmd<'a>),
}

/// Which side of a hash `HGETALL`, `HKEYS` and `HVALS` reply with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashPart {
    Both,
    Fields,
    Values,
}

/// What a `ZRANGE` selects.
#[derive(Debug, PartialEq)]
pub enum RangeBy {
    /// Ranks `start..=stop`, negative from the end.
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// A parsed `ZRANGE` (or one of its older forms).
#[derive(Debug, PartialEq)]
pub struct ZRange<'a> {
    key: &'a [u8],
    by: RangeBy,
    rev: bool,
    /// `LIMIT offset count`; a negative count means all, a negative offset nothing.
    offset: i64,
    count: i64,
    with_scores: bool,
}

/// A parsed `LPOS`.
#[derive(Debug, PartialEq)]
pub struct LPos<'a> {
    key: &'a [u8],
    element: &'a [u8],
    rank: i64,
    /// `COUNT`: the reply is then an array; 0 means every match.
    count: Option<u64>,
    /// `MAXLEN`: compare at most this many elements; 0 means all.
    max_len: u64,
}

/// A parsed `SSCAN`, `HSCAN` or `ZSCAN` (after the key).
#[derive(Debug, PartialEq)]
pub struct CollScan<'a> {
    cursor: u64,
    count: usize,
    pattern: Option<&'a [u8]>,
    /// An error in the options, which Redis replies only if the key exists and is of the
    /// right type (a missing key is an empty scan whatever the options).
    bad: Option<Reply>,
}

/// A parsed `ZUNION`, `ZINTER` or `ZDIFF` (and their `STORE` forms, and `ZINTERCARD`).
#[derive(Debug, PartialEq)]
pub struct ZCombine<'a> {
    op: SetOp,
    keys: Vec<&'a [u8]>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
    /// `ZINTERCARD`'s `LIMIT` (0: none).
    limit: u64,
    /// An error in the options, which Redis replies only once every key's type passed.
    bad: Option<Reply>,
}

/// Collection commands that only read.
#[derive(Debug, PartialEq)]
pub enum ReadCmd<'a> {
    /// `SSCAN`, `HSCAN`, `ZSCAN`: the collection's type (its group), the key, the scan.
    Scan(Group, &'a [u8], CollScan<'a>),
    /// `SINTERCARD numkeys key ... [LIMIT limit]`.
    SInterCard(Vec<&'a [u8]>, u64),
    /// `ZUNION`, `ZINTER`, `ZDIFF`.
    ZCombine(ZCombine<'a>),
    /// `ZINTERCARD`.
    ZInterCard(ZCombine<'a>),
    LLen(&'a [u8]),
    LRange(&'a [u8], i64, i64),
    LIndex(&'a [u8], i64),
    LPos(LPos<'a>),
    SMembers(&'a [u8]),
    SIsMember(&'a [u8], &'a [u8]),
    SMIsMember(&'a [u8], Vec<&'a [u8]>),
    SCard(&'a [u8]),
    SCombine(SetOp, Vec<&'a [u8]>),
    ZScore(&'a [u8], &'a [u8]),
    ZMScore(&'a [u8], Vec<&'a [u8]>),
    ZCard(&'a [u8]),
    ZCount(&'a [u8], ScoreBound, ScoreBound),
    ZLexCount(&'a [u8], LexBound, LexBound),
    ZRank {
        key: &'a [u8],
        member: &'a [u8],
        rev: bool,
        /// `WITHSCORE` (Redis 7.2): the reply is `[rank, score]`.
        with_score: bool,
    },
    ZRange(ZRange<'a>),
    HGet(&'a [u8], &'a [u8]),
    HMGet(&'a [u8], Vec<&'a [u8]>),
    HAll(&'a [u8], HashPart),
    HLen(&'a [u8]),
    HExists(&'a [u8], &'a [u8]),
    HStrLen(&'a [u8], &'a [u8]),
    /// `HRANDFIELD key [count [WITHVALUES]]`: the count and whether values come too.
    HRandField(&'a [u8], Option<(i64, bool)>),
    /// `ZRANDMEMBER key [count [WITHSCORES]]`: the count and whether scores come too.
    ZRandMember(&'a [u8], Option<(i64, bool)>),
}

/// Collection commands that write, and `SRANDMEMBER`, whose random ranks only a write
/// transaction's view can look up.
#[derive(Debug, PartialEq)]
pub enum WriteCmd<'a> {
    /// `LPUSHX`, `RPUSHX`: a push only onto a list that exists.
    PushX {
        key: &'a [u8],
        elements: Vec<&'a [u8]>,
        front: bool,
    },
    /// `SMOVE source destination member`.
    SMove(&'a [u8], &'a [u8], &'a [u8]),
    /// `ZUNIONSTORE`, `ZINTERSTORE`, `ZDIFFSTORE`: the destination and the combination.
    ZCombineStore(&'a [u8], ZCombine<'a>),
    ZRemRangeByLex(&'a [u8], LexBound, LexBound),
    Push {
        key: &'a [u8],
        elements: Vec<&'a [u8]>,
        front: bool,
    },
    Pop {
        key: &'a [u8],
        count: Option<u64>,
        front: bool,
    },
    LSet(&'a [u8], i64, &'a [u8]),
    LRem(&'a [u8], i64, &'a [u8]),
    LTrim(&'a [u8], i64, i64),
    LInsert {
        key: &'a [u8],
        before: bool,
        pivot: &'a [u8],
        element: &'a [u8],
    },
    SAdd(&'a [u8], Vec<&'a [u8]>),
    SRem(&'a [u8], Vec<&'a [u8]>),
    SPop(&'a [u8], Option<u64>),
    SRandMember(&'a [u8], Option<i64>),
    SCombineStore {
        op: SetOp,
        dest: &'a [u8],
        keys: Vec<&'a [u8]>,
    },
    ZAdd {
        key: &'a [u8],
        flags: ZAddFlags,
        incr: bool,
        items: Vec<(f64, &'a [u8])>,
    },
    ZRem(&'a [u8], Vec<&'a [u8]>),
    ZIncrBy(&'a [u8], f64, &'a [u8]),
    ZRemRangeByScore(&'a [u8], ScoreBound, ScoreBound),
    ZRemRangeByRank(&'a [u8], i64, i64),
    /// `ZRANGESTORE dst ...`: the destination and the range of the source.
    ZRangeStore(&'a [u8], ZRange<'a>),
    ZPop {
        key: &'a [u8],
        count: Option<u64>,
        max: bool,
    },
    HSet {
        key: &'a [u8],
        pairs: Vec<(&'a [u8], &'a [u8])>,
        /// `HMSET` replies `OK` rather than the number of new fields.
        reply_ok: bool,
    },
    HSetNx(&'a [u8], &'a [u8], &'a [u8]),
    HDel(&'a [u8], Vec<&'a [u8]>),
    HIncrBy(&'a [u8], &'a [u8], i64),
    HIncrByFloat(&'a [u8], &'a [u8], f64),
    /// `LMOVE`, `RPOPLPUSH`, and their blocking forms.
    Move {
        src: &'a [u8],
        dst: &'a [u8],
        from: End,
        to: End,
        block: Block,
    },
    /// `LMPOP`, `BLPOP`, `BRPOP`, `BLMPOP`.
    MPop {
        keys: Vec<&'a [u8]>,
        end: End,
        count: u64,
        /// `BLPOP`'s reply `[key, element]` rather than `LMPOP`'s `[key, [elements]]`.
        single: bool,
        block: Block,
    },
    /// `ZMPOP`, `BZPOPMIN`, `BZPOPMAX`, `BZMPOP`.
    ZMPop {
        keys: Vec<&'a [u8]>,
        max: bool,
        count: u64,
        /// `BZPOPMIN`'s reply `[key, member, score]` rather than `ZMPOP`'s
        /// `[key, [[member, score], ...]]`.
        single: bool,
        block: Block,
    },
}

/// Whether a pop waits, and how long: `None` for the non-blocking commands; for the
/// blocking ones `Some(None)` (timeout 0: forever) or `Some(Some(timeout))`. Inside a
/// transaction a blocking command does not wait, as in Redis's `MULTI`.
pub type Block = Option<Option<std::time::Duration>>;

// ---------------------------------------------------------------------------------------------
// Argument parsing

fn error(text: &str) -> Reply {
    Reply::error(text)
}

fn not_a_float() -> Reply {
    error("ERR value is not a valid float")
}

fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    parse_int(arg).ok_or_else(not_an_integer)
}

/// A count that must not be negative (`LPOP`, `SPOP`, `ZPOPMIN`): Redis gives one error for
/// a negative and for a malformed one.
fn positive_arg(arg: &[u8]) -> Result<u64, Reply> {
    parse_int(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| error("ERR value is out of range, must be positive"))
}

/// A number as Redis's `getDoubleFromObject` reads it (`string2d`).
fn parse_double(arg: &[u8]) -> Option<f64> {
    crate::format::value::parse_float(arg)
}

fn float_arg(arg: &[u8]) -> Result<f64, Reply> {
    parse_double(arg).ok_or_else(not_a_float)
}

/// One end of a score range as Redis's `zslParseRange` reads it: `(` makes it exclusive;
/// the rest is read by [`parse_range_float`](crate::commands::parse_range_float).
fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    let (exclusive, text) = match arg.strip_prefix(b"(") {
        Some(rest) => (true, rest),
        None => (false, arg),
    };
    let value = crate::commands::parse_range_float(text)?;
    Some(if exclusive {
        ScoreBound::Exclusive(value)
    } else {
        ScoreBound::Inclusive(value)
    })
}

fn score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), Reply> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(error("ERR min or max is not a float")),
    }
}

/// One end of a lexicographic range: `-`, `+`, `[member` or `(member`.
fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg.split_first()? {
        (b'-', []) => Some(LexBound::Min),
        (b'+', []) => Some(LexBound::Max),
        (b'[', member) => Some(LexBound::Inclusive(member.to_vec())),
        (b'(', member) => Some(LexBound::Exclusive(member.to_vec())),
        _ => None,
    }
}

fn lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), Reply> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(min), Some(max)) => Ok((min, max)),
        _ => Err(error("ERR min or max not valid string range item")),
    }
}

fn slices<'a>(args: &'a [&'a [u8]]) -> Vec<&'a [u8]> {
    args.to_vec()
}

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Parses the arguments (after the name) of the collection command `spec`, which has passed
/// its arity check.
///
/// # Errors
/// The error reply Redis gives for these arguments.
pub fn parse<'a>(
    spec: &CommandSpec,
    id: CollectionId,
    args: &'a [&'a [u8]],
) -> Result<Cmd<'a>, Reply> {
    use ReadCmd as R;
    use WriteCmd as W;
    let arg = |i: usize| args[i];
    let key = arg(0);
    // The optional count of LPOP/RPOP, SPOP, SRANDMEMBER and ZPOPMIN/ZPOPMAX.
    let count_arg = || args.get(1).copied();
    let read = |cmd| Ok(Cmd::Read(cmd));
    let write = |cmd| Ok(Cmd::Write(cmd));
    use CollectionId as I;
    match id {
        I::Lpush | I::Rpush => write(W::Push {
            key,
            elements: slices(&args[1..]),
            front: id == I::Lpush,
        }),
        I::Lpop | I::Rpop => {
            if args.len() > 2 {
                return Err(wrong_arity(spec));
            }
            write(W::Pop {
                key,
                count: count_arg().map(positive_arg).transpose()?,
                front: id == I::Lpop,
            })
        }
        I::Llen => read(R::LLen(key)),
        I::Lrange => read(R::LRange(key, int_arg(arg(1))?, int_arg(arg(2))?)),
        I::Lindex => read(R::LIndex(key, int_arg(arg(1))?)),
        I::Lset => write(W::LSet(key, int_arg(arg(1))?, arg(2))),
        I::Lrem => write(W::LRem(key, int_arg(arg(1))?, arg(2))),
        I::Ltrim => write(W::LTrim(key, int_arg(arg(1))?, int_arg(arg(2))?)),
        I::Linsert => {
            let before = if is(arg(1), "BEFORE") {
                true
            } else if is(arg(1), "AFTER") {
                false
            } else {
                return Err(syntax_error());
            };
            write(W::LInsert {
                key,
                before,
                pivot: arg(2),
                element: arg(3),
            })
        }
        I::Lpos => read(R::LPos(parse_lpos(args)?)),
        I::Sadd => write(W::SAdd(key, slices(&args[1..]))),
        I::Srem => write(W::SRem(key, slices(&args[1..]))),
        I::Smembers => read(R::SMembers(key)),
        I::Sismember => read(R::SIsMember(key, arg(1))),
        I::Smismember => read(R::SMIsMember(key, slices(&args[1..]))),
        I::Scard => read(R::SCard(key)),
        I::Spop => {
            if args.len() > 2 {
                return Err(syntax_error());
            }
            write(W::SPop(key, count_arg().map(positive_arg).transpose()?))
        }
        I::Srandmember => {
            if args.len() > 2 {
                return Err(syntax_error());
            }
            let count = count_arg().map(int_arg).transpose()?;
            if count == Some(i64::MIN) {
                return Err(error(
                    "ERR value is out of range, value must between -9223372036854775807 and \
                     9223372036854775807",
                ));
            }
            write(W::SRandMember(key, count))
        }
        I::Sinter => read(R::SCombine(SetOp::Inter, slices(args))),
        I::Sunion => read(R::SCombine(SetOp::Union, slices(args))),
        I::Sdiff => read(R::SCombine(SetOp::Diff, slices(args))),
        I::Sinterstore | I::Sunionstore | I::Sdiffstore => write(W::SCombineStore {
            op: match id {
                I::Sinterstore => SetOp::Inter,
                I::Sunionstore => SetOp::Union,
                _ => SetOp::Diff,
            },
            dest: key,
            keys: slices(&args[1..]),
        }),
        I::Zadd => parse_zadd(args),
        I::Zrem => write(W::ZRem(key, slices(&args[1..]))),
        I::Zscore => read(R::ZScore(key, arg(1))),
        I::Zmscore => read(R::ZMScore(key, slices(&args[1..]))),
        I::Zincrby => write(W::ZIncrBy(key, float_arg(arg(1))?, arg(2))),
        I::Zcard => read(R::ZCard(key)),
        I::Zcount => {
            let (min, max) = score_range(arg(1), arg(2))?;
            read(R::ZCount(key, min, max))
        }
        I::Zlexcount => {
            let (min, max) = lex_range(arg(1), arg(2))?;
            read(R::ZLexCount(key, min, max))
        }
        I::Zrank | I::Zrevrank => {
            // Redis 7.2's form: `WITHSCORE` or nothing, checked before the key is read.
            let with_score = match args.get(2..) {
                Some([]) | None => false,
                Some([option]) if is(option, "WITHSCORE") => true,
                Some([_]) => return Err(syntax_error()),
                Some(_) => return Err(wrong_arity(spec)),
            };
            read(R::ZRank {
                key,
                member: arg(1),
                rev: id == I::Zrevrank,
                with_score,
            })
        }
        I::Lpushx | I::Rpushx => write(W::PushX {
            key,
            elements: slices(&args[1..]),
            front: id == I::Lpushx,
        }),
        I::Smove => write(W::SMove(key, arg(1), arg(2))),
        I::Sintercard => parse_sintercard(args),
        I::Sscan => read(R::Scan(Group::Set, key, parse_coll_scan(&args[1..])?)),
        I::Hscan => read(R::Scan(Group::Hash, key, parse_coll_scan(&args[1..])?)),
        I::Zscan => read(R::Scan(Group::SortedSet, key, parse_coll_scan(&args[1..])?)),
        I::Zunion | I::Zinter | I::Zdiff => {
            read(R::ZCombine(parse_zcombine(spec, id, args, false)?))
        }
        I::Zintercard => read(R::ZInterCard(parse_zcombine(spec, id, args, true)?)),
        I::Zunionstore | I::Zinterstore | I::Zdiffstore => write(W::ZCombineStore(
            key,
            parse_zcombine(spec, id, &args[1..], false)?,
        )),
        I::Zremrangebylex => {
            let (min, max) = lex_range(arg(1), arg(2))?;
            write(W::ZRemRangeByLex(key, min, max))
        }
        I::Zrange => read(R::ZRange(parse_zrange(args, By::Auto, None)?)),
        I::Zrangestore => {
            // WITHSCORES is no option of the store: refused where the options are read,
            // before the range is.
            let range = parse_zrange_opts(&args[1..], By::Auto, None, false)?;
            write(W::ZRangeStore(key, range))
        }
        I::Zrevrange => read(R::ZRange(parse_zrange(args, By::Rank, Some(true))?)),
        I::Zrangebyscore => read(R::ZRange(parse_zrange(args, By::Score, Some(false))?)),
        I::Zrevrangebyscore => read(R::ZRange(parse_zrange(args, By::Score, Some(true))?)),
        I::Zrangebylex => read(R::ZRange(parse_zrange(args, By::Lex, Some(false))?)),
        I::Zrevrangebylex => read(R::ZRange(parse_zrange(args, By::Lex, Some(true))?)),
        I::Zremrangebyscore => {
            let (min, max) = score_range(arg(1), arg(2))?;
            write(W::ZRemRangeByScore(key, min, max))
        }
        I::Zremrangebyrank => write(W::ZRemRangeByRank(key, int_arg(arg(1))?, int_arg(arg(2))?)),
        I::Zpopmin | I::Zpopmax => {
            if args.len() > 2 {
                return Err(syntax_error());
            }
            write(W::ZPop {
                key,
                count: count_arg().map(positive_arg).transpose()?,
                max: id == I::Zpopmax,
            })
        }
        I::Hset | I::Hmset => {
            let pairs = args[1..].chunks_exact(2);
            if !pairs.remainder().is_empty() {
                return Err(wrong_arity(spec));
            }
            write(W::HSet {
                key,
                pairs: pairs.map(|p| (p[0], p[1])).collect(),
                reply_ok: id == I::Hmset,
            })
        }
        I::Lmove | I::Blmove => {
            let from = list_end(arg(2))?;
            let to = list_end(arg(3))?;
            let block = match id {
                I::Blmove => Some(timeout_arg(arg(4))?),
                _ => None,
            };
            write(W::Move {
                src: key,
                dst: arg(1),
                from,
                to,
                block,
            })
        }
        I::Rpoplpush | I::Brpoplpush => write(W::Move {
            src: key,
            dst: arg(1),
            from: End::Back,
            to: End::Front,
            block: match id {
                I::Brpoplpush => Some(timeout_arg(arg(2))?),
                _ => None,
            },
        }),
        I::Blpop | I::Brpop | I::Bzpopmin | I::Bzpopmax => {
            let (keys, timeout) = args.split_at(args.len() - 1);
            let block = Some(timeout_arg(timeout[0])?);
            let keys = slices(keys);
            match id {
                I::Blpop | I::Brpop => write(W::MPop {
                    keys,
                    end: if id == I::Blpop {
                        End::Front
                    } else {
                        End::Back
                    },
                    count: 1,
                    single: true,
                    block,
                }),
                _ => write(W::ZMPop {
                    keys,
                    max: id == I::Bzpopmax,
                    count: 1,
                    single: true,
                    block,
                }),
            }
        }
        I::Lmpop | I::Zmpop => parse_mpop(args, id == I::Zmpop, None),
        I::Blmpop | I::Bzmpop => {
            let block = Some(timeout_arg(arg(0))?);
            parse_mpop(&args[1..], id == I::Bzmpop, block)
        }
        I::Hsetnx => write(W::HSetNx(key, arg(1), arg(2))),
        I::Hget => read(R::HGet(key, arg(1))),
        I::Hrandfield => read(R::HRandField(key, random_count(args, b"WITHVALUES")?)),
        I::Zrandmember => read(R::ZRandMember(key, random_count(args, b"WITHSCORES")?)),
        I::Hmget => read(R::HMGet(key, slices(&args[1..]))),
        I::Hdel => write(W::HDel(key, slices(&args[1..]))),
        I::Hgetall => read(R::HAll(key, HashPart::Both)),
        I::Hkeys => read(R::HAll(key, HashPart::Fields)),
        I::Hvals => read(R::HAll(key, HashPart::Values)),
        I::Hlen => read(R::HLen(key)),
        I::Hexists => read(R::HExists(key, arg(1))),
        I::Hstrlen => read(R::HStrLen(key, arg(1))),
        I::Hincrby => write(W::HIncrBy(key, arg(1), int_arg(arg(2))?)),
        I::Hincrbyfloat => {
            // A long double, as Redis reads it; only an infinity spelled out is refused here
            // (one beyond a double's range makes the sum fail, as it cannot be held).
            let delta = crate::format::value::parse_long_double(arg(2)).ok_or_else(not_a_float)?;
            if parse_double(arg(2)).is_some_and(f64::is_infinite) {
                return Err(error("ERR value is NaN or Infinity"));
            }
            write(W::HIncrByFloat(key, arg(1), delta))
        }
    }
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`; a later option of the
/// same name wins.
/// `LEFT` or `RIGHT` (any case), as Redis's `getListPositionFromObjectOrReply` reads it.
fn list_end(arg: &[u8]) -> Result<End, Reply> {
    if is(arg, "LEFT") {
        Ok(End::Front)
    } else if is(arg, "RIGHT") {
        Ok(End::Back)
    } else {
        Err(syntax_error())
    }
}

/// A blocking command's timeout as Redis 7.0's `getTimeoutFromObjectOrReply` reads it:
/// seconds as a long double, to milliseconds rounded up, converted to a 64-bit integer
/// (where a value beyond its range becomes the most negative one, as on x86-64); 0 waits
/// forever.
fn timeout_arg(arg: &[u8]) -> Result<Option<std::time::Duration>, Reply> {
    let secs = crate::format::value::parse_long_double(arg)
        .filter(|s| !s.is_nan())
        .ok_or_else(|| error("ERR timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    // `i64::MAX as f64` is 2^63, the first value out of range.
    if ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(error("ERR timeout is negative"));
    }
    Ok((ms > 0.0).then(|| std::time::Duration::from_millis(ms as u64)))
}

/// `LMPOP`/`ZMPOP`'s arguments `numkeys key [key ...] LEFT|RIGHT (MIN|MAX) [COUNT count]`,
/// checked as Redis's `lmpopGenericCommand`/`zmpopGenericCommand` check them.
fn parse_mpop<'a>(args: &'a [&'a [u8]], zset: bool, block: Block) -> Result<Cmd<'a>, Reply> {
    let numkeys = parse_int(args[0])
        .filter(|&n| n >= 1)
        .ok_or_else(|| error("ERR numkeys should be greater than 0"))?;
    let where_at = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|&i| i < args.len())
        .ok_or_else(syntax_error)?;
    let keys = slices(&args[1..where_at]);
    let end = args[where_at];
    let max = if zset {
        if is(end, "MIN") {
            false
        } else if is(end, "MAX") {
            true
        } else {
            return Err(syntax_error());
        }
    } else {
        false
    };
    let list_end = if zset { End::Front } else { list_end(end)? };
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(args[j], "COUNT") && j + 1 < args.len() {
            j += 1;
            let n = parse_int(args[j])
                .filter(|&n| n >= 1)
                .ok_or_else(|| error("ERR count should be greater than 0"))?;
            count = Some(n as u64);
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    let count = count.unwrap_or(1);
    Ok(Cmd::Write(if zset {
        WriteCmd::ZMPop {
            keys,
            max,
            count,
            single: false,
            block,
        }
    } else {
        WriteCmd::MPop {
            keys,
            end: list_end,
            count,
            single: false,
            block,
        }
    }))
}

/// A scan cursor as Redis's `parseScanCursorOrReply` reads it with `strtoul`: decimal
/// digits after an optional sign (a minus negates modulo 2^64), no leading space, nothing
/// after, within 64 bits; an empty text is 0.
fn scan_cursor(arg: &[u8]) -> Result<u64, Reply> {
    let invalid = || error("ERR invalid cursor");
    let (negative, digits) = match arg.split_first() {
        None => return Ok(0),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut n: u64 = 0;
    for d in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative { n.wrapping_neg() } else { n })
}

/// `cursor [MATCH pattern] [COUNT count]` of `SSCAN`, `HSCAN` and `ZSCAN`, read as Redis
/// reads it: the cursor first (its error comes first), then, in `scanGenericCommand` once
/// the key was found, the options (a later one wins), whose error is kept in
/// [`CollScan::bad`].
fn parse_coll_scan<'a>(args: &'a [&'a [u8]]) -> Result<CollScan<'a>, Reply> {
    let mut scan = CollScan {
        cursor: scan_cursor(args[0])?,
        count: 10,
        pattern: None,
        bad: None,
    };
    let options = |scan: &mut CollScan<'a>| -> Result<(), Reply> {
        let mut i = 1;
        while i < args.len() {
            let Some(value) = args.get(i + 1) else {
                return Err(syntax_error());
            };
            if is(args[i], "COUNT") {
                let n = int_arg(value)?;
                scan.count = usize::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(syntax_error)?;
            } else if is(args[i], "MATCH") {
                scan.pattern = Some(value);
            } else {
                return Err(syntax_error());
            }
            i += 2;
        }
        Ok(())
    };
    if let Err(bad) = options(&mut scan) {
        scan.bad = Some(bad);
    }
    Ok(scan)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`, checked as Redis's
/// `sinterCardCommand` checks it.
fn parse_sintercard<'a>(args: &'a [&'a [u8]]) -> Result<Cmd<'a>, Reply> {
    let numkeys = parse_int(args[0])
        .filter(|&n| n >= 1)
        .ok_or_else(|| error("ERR numkeys should be greater than 0"))?;
    let end = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|&end| end <= args.len())
        .ok_or_else(|| error("ERR Number of keys can't be greater than number of args"))?;
    let mut limit = 0;
    let mut j = end;
    while j < args.len() {
        if is(args[j], "LIMIT") && j + 1 < args.len() {
            limit = limit_arg(args[j + 1])?;
            j += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok(Cmd::Read(ReadCmd::SInterCard(slices(&args[1..end]), limit)))
}

/// A `LIMIT` of `SINTERCARD` and `ZINTERCARD`: an integer, not negative.
fn limit_arg(arg: &[u8]) -> Result<u64, Reply> {
    parse_int(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| error("ERR LIMIT can't be negative"))
}

/// `numkeys key [key ...] [WEIGHTS ...] [AGGREGATE ...] [WITHSCORES]` of `ZUNION`, `ZINTER`,
/// `ZDIFF` (no weights or aggregate), their `STORE` forms (`args` after the destination;
/// no `WITHSCORES`) and `ZINTERCARD` (`card`: `LIMIT` only), as Redis's
/// `zunionInterDiffGenericCommand` reads them. The number of keys is checked here; an
/// error in the options after the keys is kept in [`ZCombine::bad`], as Redis replies it
/// only after it has checked the keys' types.
fn parse_zcombine<'a>(
    spec: &CommandSpec,
    id: CollectionId,
    args: &'a [&'a [u8]],
    card: bool,
) -> Result<ZCombine<'a>, Reply> {
    use CollectionId as I;
    let op = match id {
        I::Zunion | I::Zunionstore => SetOp::Union,
        I::Zdiff | I::Zdiffstore => SetOp::Diff,
        _ => SetOp::Inter,
    };
    let store = matches!(id, I::Zunionstore | I::Zinterstore | I::Zdiffstore);
    let numkeys = int_arg(args[0])?;
    if numkeys < 1 {
        return Err(error(&format!(
            "ERR at least 1 input key is needed for '{}' command",
            spec.name.to_ascii_lowercase()
        )));
    }
    let end = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|&end| end <= args.len())
        .ok_or_else(syntax_error)?;
    let keys = slices(&args[1..end]);
    let mut out = ZCombine {
        op,
        weights: vec![1.0; keys.len()],
        keys,
        aggregate: Aggregate::Sum,
        with_scores: false,
        limit: 0,
        bad: None,
    };
    let setnum = out.keys.len();
    let mut j = end;
    let options = |j: &mut usize, out: &mut ZCombine<'a>| -> Result<(), Reply> {
        while *j < args.len() {
            let remaining = args.len() - *j;
            let option = args[*j];
            if op != SetOp::Diff && !card && remaining > setnum && is(option, "WEIGHTS") {
                for (i, w) in args[*j + 1..=*j + setnum].iter().enumerate() {
                    out.weights[i] =
                        parse_double(w).ok_or_else(|| error("ERR weight value is not a float"))?;
                }
                *j += 1 + setnum;
            } else if op != SetOp::Diff && !card && remaining >= 2 && is(option, "AGGREGATE") {
                let a = args[*j + 1];
                out.aggregate = if is(a, "SUM") {
                    Aggregate::Sum
                } else if is(a, "MIN") {
                    Aggregate::Min
                } else if is(a, "MAX") {
                    Aggregate::Max
                } else {
                    return Err(syntax_error());
                };
                *j += 2;
            } else if !store && !card && is(option, "WITHSCORES") {
                out.with_scores = true;
                *j += 1;
            } else if card && remaining >= 2 && is(option, "LIMIT") {
                out.limit = limit_arg(args[*j + 1])?;
                *j += 2;
            } else {
                return Err(syntax_error());
            }
        }
        Ok(())
    };
    if let Err(e) = options(&mut j, &mut out) {
        out.bad = Some(e);
    }
    Ok(out)
}

fn parse_lpos<'a>(args: &'a [&'a [u8]]) -> Result<LPos<'a>, Reply> {
    let mut lpos = LPos {
        key: args[0],
        element: args[1],
        rank: 1,
        count: None,
        max_len: 0,
    };
    let mut i = 2;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Err(syntax_error());
        };
        let option = &args[i];
        if is(option, "RANK") {
            lpos.rank = int_arg(value)?;
            if lpos.rank == 0 {
                return Err(error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(option, "COUNT") {
            let n = int_arg(value)?;
            lpos.count = Some(u64::try_from(n).map_err(|_| error("ERR COUNT can't be negative"))?);
        } else if is(option, "MAXLEN") {
            let n = int_arg(value)?;
            lpos.max_len = u64::try_from(n).map_err(|_| error("ERR MAXLEN can't be negative"))?;
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok(lpos)
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`: options, then
/// the pairs' shape, then conflicting options, then every score, before the key is read.
fn parse_zadd<'a>(args: &'a [&'a [u8]]) -> Result<Cmd<'a>, Reply> {
    let mut flags = ZAddFlags::default();
    let mut incr = false;
    let mut i = 1;
    while let Some(option) = args.get(i) {
        match option.to_ascii_uppercase().as_slice() {
            b"NX" => flags.nx = true,
            b"XX" => flags.xx = true,
            b"GT" => flags.gt = true,
            b"LT" => flags.lt = true,
            b"CH" => flags.ch = true,
            b"INCR" => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || !pairs.chunks_exact(2).remainder().is_empty() {
        return Err(syntax_error());
    }
    if flags.nx && flags.xx {
        return Err(error(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (flags.gt || flags.lt) && flags.nx || flags.gt && flags.lt {
        return Err(error(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && pairs.len() > 2 {
        return Err(error(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let items = pairs
        .chunks_exact(2)
        .map(|p| Ok((float_arg(p[0])?, p[1])))
        .collect::<Result<Vec<_>, Reply>>()?;
    Ok(Cmd::Write(WriteCmd::ZAdd {
        key: args[0],
        flags,
        incr,
        items,
    }))
}

/// What a `ZRANGE` form ranges over, before its options are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    /// `ZRANGE`: ranks unless `BYSCORE` or `BYLEX` follows.
    Auto,
    Rank,
    Score,
    Lex,
}

/// `ZRANGE key min max [options]` and its older forms, which fix `by` and the direction
/// (`rev`); an option that would change a fixed one is a syntax error, as in Redis. The
/// checks run in Redis's order: options (including `LIMIT`'s numbers), conflicts, the range.
fn parse_zrange<'a>(args: &'a [&'a [u8]], by: By, rev: Option<bool>) -> Result<ZRange<'a>, Reply> {
    parse_zrange_opts(args, by, rev, true)
}

/// [`parse_zrange`], taking `WITHSCORES` among the options only if `scores` allows it.
fn parse_zrange_opts<'a>(
    args: &'a [&'a [u8]],
    by: By,
    rev: Option<bool>,
    scores: bool,
) -> Result<ZRange<'a>, Reply> {
    let (mut by, mut rev) = (by, rev);
    let (mut offset, mut count, mut with_scores) = (0, -1, false);
    let mut i = 3;
    while let Some(option) = args.get(i) {
        let left = args.len() - i - 1;
        if scores && is(option, "WITHSCORES") {
            with_scores = true;
        } else if is(option, "LIMIT") && left >= 2 {
            offset = int_arg(args[i + 1])?;
            count = int_arg(args[i + 2])?;
            i += 2;
        } else if rev.is_none() && is(option, "REV") {
            rev = Some(true);
        } else if by == By::Auto && is(option, "BYSCORE") {
            by = By::Score;
        } else if by == By::Auto && is(option, "BYLEX") {
            by = By::Lex;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let rev = rev.unwrap_or(false);
    if by == By::Auto {
        by = By::Rank;
    }
    // Redis's test is on the count alone: `LIMIT 5 -1` passes with ranks.
    if count != -1 && by == By::Rank {
        return Err(error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or \
             BYLEX",
        ));
    }
    if with_scores && by == By::Lex {
        return Err(error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // Reversed score and lex ranges are written max first.
    let (min, max) = if rev && by != By::Rank {
        (&args[2], &args[1])
    } else {
        (&args[1], &args[2])
    };
    let by = match by {
        By::Score => {
            let (min, max) = score_range(min, max)?;
            RangeBy::Score(min, max)
        }
        By::Lex => {
            let (min, max) = lex_range(min, max)?;
            RangeBy::Lex(min, max)
        }
        By::Auto | By::Rank => RangeBy::Rank(int_arg(min)?, int_arg(max)?),
    };
    Ok(ZRange {
        key: args[0],
        by,
        rev,
        offset,
        count,
        with_scores,
    })
}

// ---------------------------------------------------------------------------------------------
// Running

/// Why a command failed: a library error, or a reply decided here.
enum Fail {
    Db(Error),
    Reply(Reply),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Db(e)
    }
}

type Outcome<T = Reply> = Result<T, Fail>;

/// Runs `cmd`: inside `txn` if one is open; otherwise a read reads the committed state and
/// a write runs in a transaction of its own, committed if it succeeds.
pub fn run(db: &Db, txn: Option<&mut WriteTxn>, cmd: &Cmd<'_>) -> Reply {
    run_with(db, txn, cmd, None)
}

/// [`run`], where a blocking pop outside a transaction waits (across processes, see
/// [`Db::pop_lists_blocking`]) until it can pop, its timeout passes, or `cancel` is
/// cancelled (which replies as a timeout does). Inside a transaction it does not wait, as
/// in Redis's `MULTI`.
pub fn run_with(
    db: &Db,
    txn: Option<&mut WriteTxn>,
    cmd: &Cmd<'_>,
    cancel: Option<&crate::CancelToken>,
) -> Reply {
    let outcome = match (txn, cmd) {
        (None, Cmd::Write(w)) if blocks(w).is_some() => wait_alone(db, w, cancel),
        (Some(tx), Cmd::Write(cmd)) => write(tx, cmd),
        (Some(tx), Cmd::Read(cmd)) => read(&mut Src::Txn(tx), cmd),
        (None, Cmd::Write(cmd)) => write_alone(db, cmd),
        (None, Cmd::Read(cmd)) => read(&mut Src::Db(db), cmd),
    };
    outcome.unwrap_or_else(|fail| match fail {
        Fail::Db(e) => error_reply(&e),
        Fail::Reply(reply) => reply,
    })
}

impl Cmd<'_> {
    /// Whether this is a blocking pop (`BLPOP`, `BZPOPMIN`...), which waits when it runs
    /// outside a transaction.
    pub fn blocks(&self) -> bool {
        matches!(self, Cmd::Write(w) if blocks(w).is_some())
    }
}

/// The timeout of a blocking pop (`Some(None)`: forever); `None` for any other command.
fn blocks(cmd: &WriteCmd<'_>) -> Block {
    match cmd {
        WriteCmd::Move { block, .. }
        | WriteCmd::MPop { block, .. }
        | WriteCmd::ZMPop { block, .. } => *block,
        _ => None,
    }
}

/// A blocking pop outside a transaction: waits through the library's blocking calls; a
/// timeout replies a nil array, as Redis 7 does for every list and sorted-set wait.
fn wait_alone(db: &Db, cmd: &WriteCmd<'_>, cancel: Option<&crate::CancelToken>) -> Outcome {
    let mut wait = crate::Wait::from(blocks(cmd).flatten());
    if let Some(c) = cancel {
        wait = wait.cancel_on(c);
    }
    Ok(match cmd {
        WriteCmd::Move {
            src, dst, from, to, ..
        } => match db.move_list_blocking(src, dst, *from, *to, wait)? {
            Some(v) => Reply::Bulk(v),
            None => Reply::NilArray,
        },
        WriteCmd::MPop {
            keys,
            end,
            count,
            single,
            ..
        } => match db.pop_lists_blocking(keys, *end, *count, wait)? {
            Some((i, popped)) => mpop_reply(keys[i], popped, *single),
            None => Reply::NilArray,
        },
        WriteCmd::ZMPop {
            keys,
            max,
            count,
            single,
            ..
        } => match db.pop_zsets_blocking(keys, *max, *count, wait)? {
            Some((i, popped)) => zmpop_reply(keys[i], popped, *single),
            None => Reply::NilArray,
        },
        _ => return write_alone(db, cmd),
    })
}

/// `BLPOP`'s `[key, element]` (`single`) or `LMPOP`'s `[key, [element, ...]]`.
fn mpop_reply(key: &[u8], popped: Vec<Vec<u8>>, single: bool) -> Reply {
    let rest = if single {
        popped.into_iter().next().map_or(Reply::Nil, Reply::Bulk)
    } else {
        bulks(popped)
    };
    Reply::Array(vec![Reply::bulk(key), rest])
}

/// `BZPOPMIN`'s `[key, member, score]` (`single`) or `ZMPOP`'s
/// `[key, [[member, score], ...]]`.
fn zmpop_reply(key: &[u8], popped: Vec<(Vec<u8>, f64)>, single: bool) -> Reply {
    if single {
        let mut out = vec![Reply::bulk(key)];
        if let Some((m, s)) = popped.into_iter().next() {
            out.push(Reply::Bulk(m));
            out.push(score(s));
        }
        return Reply::Array(out);
    }
    let pairs = popped
        .into_iter()
        .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), score(s)]))
        .collect();
    Reply::Array(vec![Reply::bulk(key), Reply::Array(pairs)])
}

fn write_alone(db: &Db, cmd: &WriteCmd<'_>) -> Outcome {
    let mut tx = db.begin_write()?;
    match write(&mut tx, cmd) {
        Ok(reply) => {
            tx.commit()?;
            Ok(reply)
        }
        Err(fail) => {
            tx.rollback();
            Err(fail)
        }
    }
}

/// Where a read runs: the committed state, or the open transaction (which sees its own
/// writes).
enum Src<'s> {
    Db(&'s Db),
    Txn(&'s mut WriteTxn),
}

/// Calls the same read on the view of a collection in either [`Src`].
macro_rules! on {
    ($src:expr, $kind:ident($key:expr).$method:ident($($arg:expr),*)) => {
        match $src {
            Src::Db(db) => db.$kind($key).$method($($arg),*),
            Src::Txn(tx) => tx.$kind($key).$method($($arg),*),
        }
    };
}

/// Runs `f`, which makes several reads of the collection at `key`, so that they all see one
/// state of it. In a transaction nobody else writes; on the committed state each read is
/// consistent on its own, so `f` is repeated until the key's version (the transaction that
/// last wrote it) is the same before and after.
fn stable<T>(
    src: &mut Src<'_>,
    key: &[u8],
    mut f: impl FnMut(&mut Src<'_>) -> crate::Result<T>,
) -> crate::Result<T> {
    let Src::Db(db) = src else {
        return f(src);
    };
    let db: &Db = db;
    loop {
        let before = db.key_version(key)?;
        let out = f(&mut Src::Db(db))?;
        if db.key_version(key)? == before {
            return Ok(out);
        }
    }
}

fn int(n: u64) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn bool_int(b: bool) -> Reply {
    Reply::Int(i64::from(b))
}

fn bulk_or_nil(value: Option<Vec<u8>>) -> Reply {
    value.map_or(Reply::Nil, Reply::Bulk)
}

fn score(value: f64) -> Reply {
    Reply::bulk(crate::commands::format_score(value))
}

fn score_or_nil(value: Option<f64>) -> Reply {
    value.map_or(Reply::Nil, score)
}

fn bulks(items: Vec<Vec<u8>>) -> Reply {
    Reply::Array(items.into_iter().map(Reply::Bulk).collect())
}

/// Members, each followed by its score when `with_scores`.
fn scored(items: Vec<(Vec<u8>, f64)>, with_scores: bool) -> Reply {
    let mut out = Vec::with_capacity(items.len() * if with_scores { 2 } else { 1 });
    for (member, s) in items {
        out.push(Reply::Bulk(member));
        if with_scores {
            out.push(score(s));
        }
    }
    Reply::Array(out)
}

/// The `count [WITH...]` of `HRANDFIELD` and `ZRANDMEMBER`, read as Redis reads it: the
/// count first (within ±(2⁶³-1), and within ±(2⁶³-1)/2 with the option, whose reply is twice
/// as long), then the option's name.
fn random_count(args: &[&[u8]], with: &[u8]) -> Result<Option<(i64, bool)>, Reply> {
    let Some(count) = args.get(1) else {
        return Ok(None);
    };
    let count = int_arg(count)?;
    if count == i64::MIN {
        return Err(error(
            "ERR value is out of range, value must between -9223372036854775807 and \
             9223372036854775807",
        ));
    }
    let with_values = match args.get(2..) {
        Some([]) | None => false,
        Some([option]) if option.eq_ignore_ascii_case(with) => true,
        Some(_) => return Err(syntax_error()),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(error("ERR value is out of range"));
    }
    Ok(Some((count, with_values)))
}

fn read(src: &mut Src<'_>, cmd: &ReadCmd<'_>) -> Outcome {
    Ok(match cmd {
        ReadCmd::LLen(key) => int(on!(src, list(key).len())?),
        ReadCmd::LRange(key, start, stop) => bulks(on!(src, list(key).range(*start, *stop))?),
        ReadCmd::LIndex(key, index) => bulk_or_nil(on!(src, list(key).get(*index))?),
        ReadCmd::LPos(lpos) => lpos_reply(src, lpos)?,
        ReadCmd::SMembers(key) => bulks(on!(src, set_of(key).members())?),
        ReadCmd::SIsMember(key, member) => bool_int(on!(src, set_of(key).contains(member))?),
        ReadCmd::SMIsMember(key, members) => Reply::Array(stable(src, key, |src| {
            members
                .iter()
                .map(|m| Ok(bool_int(on!(src, set_of(key).contains(m))?)))
                .collect()
        })?),
        ReadCmd::SCard(key) => int(on!(src, set_of(key).len())?),
        ReadCmd::SCombine(op, keys) => bulks(match src {
            Src::Db(db) => db.set_combine(*op, keys)?,
            Src::Txn(tx) => tx.set_combine(*op, keys)?,
        }),
        ReadCmd::ZScore(key, member) => score_or_nil(on!(src, zset(key).score(member))?),
        ReadCmd::ZMScore(key, members) => Reply::Array(stable(src, key, |src| {
            members
                .iter()
                .map(|m| Ok(score_or_nil(on!(src, zset(key).score(m))?)))
                .collect()
        })?),
        ReadCmd::ZCard(key) => int(on!(src, zset(key).len())?),
        ReadCmd::ZCount(key, min, max) => int(on!(src, zset(key).count(*min, *max))?),
        ReadCmd::ZLexCount(key, min, max) => int(on!(src, zset(key).lex_count(min, max))?),
        ReadCmd::ZRank {
            key,
            member,
            rev,
            with_score: false,
        } => on!(src, zset(key).rank(member, *rev))?.map_or(Reply::Nil, int),
        ReadCmd::ZRank {
            key, member, rev, ..
        } => {
            let found = stable(src, key, |src| {
                let rank = on!(src, zset(key).rank(member, *rev))?;
                let score = on!(src, zset(key).score(member))?;
                Ok(rank.zip(score))
            })?;
            match found {
                Some((rank, s)) => Reply::Array(vec![int(rank), score(s)]),
                None => Reply::NilArray,
            }
        }
        ReadCmd::Scan(group, key, scan) => {
            if let Some(bad) = &scan.bad {
                // Redis reads the options once the key is found: a missing key is an
                // empty scan, one of another type WRONGTYPE.
                let len = match group {
                    Group::Hash => on!(src, hash(key).len())?,
                    Group::SortedSet => on!(src, zset(key).len())?,
                    _ => on!(src, set_of(key).len())?,
                };
                return Ok(if len == 0 {
                    Reply::Array(vec![Reply::bulk("0"), Reply::Array(Vec::new())])
                } else {
                    bad.clone()
                });
            }
            let CollScan {
                cursor,
                count,
                pattern,
                ..
            } = *scan;
            let (items, next) = match group {
                Group::Hash => {
                    let (page, next) = on!(src, hash(key).scan(cursor, count, pattern))?;
                    let mut out = Vec::with_capacity(page.len() * 2);
                    for (field, value) in page {
                        out.push(Reply::Bulk(field));
                        out.push(Reply::Bulk(value));
                    }
                    (Reply::Array(out), next)
                }
                Group::SortedSet => {
                    let (page, next) = on!(src, zset(key).scan(cursor, count, pattern))?;
                    (scored(page, true), next)
                }
                _ => {
                    let (page, next) = on!(src, set_of(key).scan(cursor, count, pattern))?;
                    (bulks(page), next)
                }
            };
            Reply::Array(vec![Reply::bulk(next.to_string()), items])
        }
        ReadCmd::SInterCard(keys, limit) => {
            let n = match src {
                Src::Db(db) => db.set_combine(SetOp::Inter, keys)?,
                Src::Txn(tx) => tx.set_combine(SetOp::Inter, keys)?,
            }
            .len() as u64;
            int(if *limit == 0 { n } else { n.min(*limit) })
        }
        ReadCmd::ZCombine(c) => scored(zcombine_checked(src, c)?, c.with_scores),
        ReadCmd::ZInterCard(c) => {
            let n = zcombine_checked(src, c)?.len() as u64;
            int(if c.limit == 0 { n } else { n.min(c.limit) })
        }
        ReadCmd::ZRange(range) => zrange_reply(src, range)?,
        ReadCmd::HGet(key, field) => bulk_or_nil(on!(src, hash(key).get(field))?),
        ReadCmd::HMGet(key, fields) => Reply::Array(stable(src, key, |src| {
            fields
                .iter()
                .map(|f| Ok(bulk_or_nil(on!(src, hash(key).get(f))?)))
                .collect()
        })?),
        ReadCmd::HAll(key, part) => {
            let all = on!(src, hash(key).get_all())?;
            let mut out =
                Vec::with_capacity(all.len() * if *part == HashPart::Both { 2 } else { 1 });
            for (field, value) in all {
                if *part != HashPart::Values {
                    out.push(Reply::Bulk(field));
                }
                if *part != HashPart::Fields {
                    out.push(Reply::Bulk(value));
                }
            }
            Reply::Array(out)
        }
        ReadCmd::HLen(key) => int(on!(src, hash(key).len())?),
        ReadCmd::HRandField(key, None) => {
            bulk_or_nil(on!(src, hash(key).random(1))?.pop().map(|(field, _)| field))
        }
        ReadCmd::HRandField(key, Some((count, with_values))) => {
            let picked = on!(src, hash(key).random(*count))?;
            let mut out = Vec::with_capacity(picked.len() * if *with_values { 2 } else { 1 });
            for (field, value) in picked {
                out.push(Reply::Bulk(field));
                if *with_values {
                    out.push(Reply::Bulk(value));
                }
            }
            Reply::Array(out)
        }
        ReadCmd::ZRandMember(key, None) => bulk_or_nil(
            on!(src, zset(key).random(1))?
                .pop()
                .map(|(member, _)| member),
        ),
        ReadCmd::ZRandMember(key, Some((count, with_scores))) => {
            scored(on!(src, zset(key).random(*count))?, *with_scores)
        }
        ReadCmd::HExists(key, field) => bool_int(on!(src, hash(key).get(field))?.is_some()),
        ReadCmd::HStrLen(key, field) => {
            int(on!(src, hash(key).get(field))?.map_or(0, |v| v.len() as u64))
        }
    })
}

/// `LPOS`: reads only the elements `MAXLEN` lets it compare, from the end `RANK` starts at.
fn lpos_reply(src: &mut Src<'_>, lpos: &LPos<'_>) -> crate::Result<Reply> {
    let from_head = lpos.rank > 0;
    let len = on!(src, list(lpos.key).len())?;
    let window = if lpos.max_len == 0 {
        len
    } else {
        lpos.max_len.min(len)
    };
    let window_i = i64::try_from(window).unwrap_or(i64::MAX);
    let (items, first) = if window == 0 {
        (Vec::new(), 0)
    } else if from_head {
        (on!(src, list(lpos.key).range(0, window_i - 1))?, 0)
    } else {
        (on!(src, list(lpos.key).range(-window_i, -1))?, len - window)
    };
    let mut skip = lpos.rank.unsigned_abs() - 1;
    let wanted = match lpos.count {
        None => 1,
        Some(0) => u64::MAX,
        Some(n) => n,
    };
    let mut found = Vec::new();
    let order: Box<dyn Iterator<Item = (usize, &Vec<u8>)>> = if from_head {
        Box::new(items.iter().enumerate())
    } else {
        Box::new(items.iter().enumerate().rev())
    };
    for (i, item) in order {
        if item.as_slice() != lpos.element {
            continue;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        found.push(int(first + i as u64));
        if found.len() as u64 >= wanted {
            break;
        }
    }
    Ok(match lpos.count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    })
}

fn zrange_reply(src: &mut Src<'_>, range: &ZRange<'_>) -> crate::Result<Reply> {
    Ok(scored(zrange_items(src, range)?, range.with_scores))
}

/// The members (with their scores) a `ZRANGE` selects.
fn zrange_items(src: &mut Src<'_>, range: &ZRange<'_>) -> crate::Result<Vec<(Vec<u8>, f64)>> {
    let ZRange { key, rev, .. } = *range;
    let Ok(offset) = u64::try_from(range.offset) else {
        // Redis skips "offset" members and so finds none; the key's type is still checked.
        on!(src, zset(key).len())?;
        return Ok(Vec::new());
    };
    Ok(match &range.by {
        RangeBy::Rank(start, stop) => on!(src, zset(key).range(*start, *stop, rev))?,
        RangeBy::Score(min, max) => on!(
            src,
            zset(key).range_by_score(*min, *max, rev, offset, range.count)
        )?,
        RangeBy::Lex(min, max) => on!(
            src,
            zset(key).range_by_lex(min, max, rev, offset, range.count)
        )?,
    })
}

/// The combination `c` asks for, read from `src`; [`ZCombine::bad`], the error in its
/// options, once every key's type has passed (as Redis checks them).
fn zcombine_checked(src: &mut Src<'_>, c: &ZCombine<'_>) -> Outcome<Vec<(Vec<u8>, f64)>> {
    use crate::Read as _;
    let items = match src {
        Src::Db(db) => db.zset_combine(c.op, &c.keys, &c.weights, c.aggregate)?,
        Src::Txn(tx) => tx.zset_combine(c.op, &c.keys, &c.weights, c.aggregate)?,
    };
    match &c.bad {
        Some(bad) => Err(Fail::Reply(bad.clone())),
        None => Ok(items),
    }
}

fn write(tx: &mut WriteTxn, cmd: &WriteCmd<'_>) -> Outcome {
    Ok(match cmd {
        WriteCmd::PushX {
            key,
            elements,
            front,
        } => {
            let mut list = tx.list(key);
            if list.is_empty()? {
                Reply::Int(0)
            } else if *front {
                int(list.push_front(elements)?)
            } else {
                int(list.push_back(elements)?)
            }
        }
        WriteCmd::SMove(src, dst, member) => bool_int(tx.set_move(src, dst, member)?),
        WriteCmd::ZCombineStore(dest, c) => {
            let items = zcombine_checked(&mut Src::Txn(tx), c)?;
            // As in Redis, the destination is replaced whatever it held.
            tx.delete(dest)?;
            let pairs: Vec<(f64, &[u8])> = items.iter().map(|(m, s)| (*s, m.as_slice())).collect();
            if !pairs.is_empty() {
                tx.zset(dest).add(ZAddFlags::default(), &pairs)?;
            }
            int(items.len() as u64)
        }
        WriteCmd::ZRemRangeByLex(key, min, max) => {
            int(tx.zset(key).remove_range_by_lex(min, max)?)
        }
        WriteCmd::Push {
            key,
            elements,
            front,
        } => {
            let mut list = tx.list(key);
            int(if *front {
                list.push_front(elements)?
            } else {
                list.push_back(elements)?
            })
        }
        WriteCmd::Pop { key, count, front } => {
            let mut list = tx.list(key);
            // Also checks the type, before any reply is chosen.
            let existed = !list.is_empty()?;
            let n = count.unwrap_or(1);
            let popped = if *front {
                list.pop_front(n)?
            } else {
                list.pop_back(n)?
            };
            match count {
                None => bulk_or_nil(popped.into_iter().next()),
                Some(_) if !existed => Reply::NilArray,
                Some(_) => bulks(popped),
            }
        }
        WriteCmd::LSet(key, index, element) => {
            tx.list(key).set(*index, element)?;
            Reply::ok()
        }
        WriteCmd::LRem(key, count, element) => int(tx.list(key).remove(*count, element)?),
        WriteCmd::LTrim(key, start, stop) => {
            tx.list(key).trim(*start, *stop)?;
            Reply::ok()
        }
        WriteCmd::LInsert {
            key,
            before,
            pivot,
            element,
        } => Reply::Int(tx.list(key).insert(*before, pivot, element)?),
        WriteCmd::SAdd(key, members) => int(tx.set_of(key).add(members)?),
        WriteCmd::SRem(key, members) => int(tx.set_of(key).remove(members)?),
        WriteCmd::SPop(key, count) => {
            let popped = tx.set_of(key).pop(count.unwrap_or(1))?;
            match count {
                None => bulk_or_nil(popped.into_iter().next()),
                Some(_) => bulks(popped),
            }
        }
        WriteCmd::SRandMember(key, count) => {
            let picked = tx.set_of(key).random(count.unwrap_or(1))?;
            match count {
                None => bulk_or_nil(picked.into_iter().next()),
                Some(_) => bulks(picked),
            }
        }
        WriteCmd::SCombineStore { op, dest, keys } => int(tx.set_combine_store(*op, dest, keys)?),
        WriteCmd::ZAdd {
            key,
            flags,
            incr: false,
            items,
        } => int(tx.zset(key).add(*flags, items)?),
        WriteCmd::ZAdd {
            key, flags, items, ..
        } => zadd_incr(tx, key, *flags, items[0])?,
        WriteCmd::ZRem(key, members) => int(tx.zset(key).remove(members)?),
        WriteCmd::ZIncrBy(key, delta, member) => score(tx.zset(key).incr_by(member, *delta)?),
        WriteCmd::ZRemRangeByScore(key, min, max) => {
            int(tx.zset(key).remove_range_by_score(*min, *max)?)
        }
        WriteCmd::ZRemRangeByRank(key, start, stop) => {
            int(tx.zset(key).remove_range_by_rank(*start, *stop)?)
        }
        WriteCmd::ZRangeStore(dst, range) => {
            let items = zrange_items(&mut Src::Txn(tx), range)?;
            // As in Redis, the destination is replaced whatever it held.
            tx.delete(dst)?;
            let pairs: Vec<(f64, &[u8])> = items.iter().map(|(m, s)| (*s, m.as_slice())).collect();
            if !pairs.is_empty() {
                tx.zset(dst).add(ZAddFlags::default(), &pairs)?;
            }
            int(items.len() as u64)
        }
        WriteCmd::ZPop { key, count, max } => zpop(tx, key, count.unwrap_or(1), *max)?,
        WriteCmd::HSet {
            key,
            pairs,
            reply_ok,
        } => {
            let added = tx.hash(key).set(pairs)?;
            if *reply_ok {
                Reply::ok()
            } else {
                int(added)
            }
        }
        WriteCmd::HSetNx(key, field, value) => bool_int(tx.hash(key).set_if_absent(field, value)?),
        WriteCmd::HDel(key, fields) => int(tx.hash(key).delete(fields)?),
        WriteCmd::HIncrBy(key, field, delta) => {
            let mut hash = tx.hash(key);
            let current = match hash.get(field)? {
                None => 0,
                Some(v) => parse_int(&v)
                    .ok_or_else(|| Fail::Reply(error("ERR hash value is not an integer")))?,
            };
            let sum = current
                .checked_add(*delta)
                .ok_or(Fail::Db(Error::Overflow))?;
            hash.set(&[(field, sum.to_string())])?;
            Reply::Int(sum)
        }
        WriteCmd::HIncrByFloat(key, field, delta) => {
            let mut hash = tx.hash(key);
            let current = match hash.get(field)? {
                None => 0.0,
                Some(v) => crate::format::value::parse_long_double(&v)
                    .ok_or_else(|| Fail::Reply(error("ERR hash value is not a float")))?,
            };
            let sum = crate::format::value::add_as_decimals(current, *delta);
            if !sum.is_finite() {
                return Err(Fail::Reply(error(
                    "ERR increment would produce NaN or Infinity",
                )));
            }
            let text = format_float(sum);
            hash.set(&[(field, &text)])?;
            Reply::bulk(text)
        }
        WriteCmd::Move {
            src, dst, from, to, ..
        } => bulk_or_nil(tx.list_move(src, dst, *from, *to)?),
        WriteCmd::MPop { .. } | WriteCmd::ZMPop { .. } => return mpop_now(tx, cmd),
    })
}

/// The pops of several keys, without waiting (`LMPOP`, and a blocking pop inside a
/// transaction): the first key that holds something, in order; a key of another type before
/// it is an error.
fn mpop_now(tx: &mut WriteTxn, cmd: &WriteCmd<'_>) -> Outcome {
    match cmd {
        WriteCmd::MPop {
            keys,
            end,
            count,
            single,
            ..
        } => {
            for k in keys {
                let mut list = tx.list(k);
                if list.is_empty()? {
                    continue;
                }
                let popped = match end {
                    End::Front => list.pop_front(*count)?,
                    End::Back => list.pop_back(*count)?,
                };
                return Ok(mpop_reply(k, popped, *single));
            }
            Ok(Reply::NilArray)
        }
        WriteCmd::ZMPop {
            keys,
            max,
            count,
            single,
            ..
        } => {
            for k in keys {
                let mut zset = tx.zset(k);
                if zset.is_empty()? {
                    continue;
                }
                return Ok(zmpop_reply(k, zset.pop(*count, *max)?, *single));
            }
            Ok(Reply::NilArray)
        }
        _ => Ok(Reply::NilArray),
    }
}

/// `ZADD ... INCR`: the new score, or nil when NX, XX, GT or LT leaves the member as it was.
fn zadd_incr(
    tx: &mut WriteTxn,
    key: &[u8],
    flags: ZAddFlags,
    (delta, member): (f64, &[u8]),
) -> Outcome {
    let mut zset = tx.zset(key);
    let current = zset.score(member)?;
    match current {
        None if flags.xx => return Ok(Reply::Nil),
        Some(_) if flags.nx => return Ok(Reply::Nil),
        Some(old) => {
            let new = old + delta;
            if new.is_nan() {
                return Err(Fail::Reply(error(
                    "ERR resulting score is not a number (NaN)",
                )));
            }
            if (flags.gt && new <= old) || (flags.lt && new >= old) {
                return Ok(Reply::Nil);
            }
        }
        None => {}
    }
    Ok(score(zset.incr_by(member, delta)?))
}

/// `ZPOPMIN`/`ZPOPMAX`: the `count` lowest (highest) members with their scores, best first,
/// removed.
fn zpop(tx: &mut WriteTxn, key: &[u8], count: u64, max: bool) -> Outcome {
    Ok(scored(tx.zset(key).pop(count, max)?, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::session::{Policy, Session};

    fn argv(line: &str) -> Vec<&'static [u8]> {
        line.split_whitespace()
            .map(|a| &*Vec::leak(a.as_bytes().to_vec()))
            .collect()
    }

    /// Looks up and parses `line` (the arity check is the session's, tested through it).
    fn parse_line(line: &str) -> Result<Cmd<'static>, Reply> {
        let args: &'static [&'static [u8]] = Vec::leak(argv(line));
        let spec = lookup(args[0]).expect("a collection command");
        parse_spec(spec, &args[1..])
    }

    /// Parses `args` as the collection command `spec`.
    fn parse_spec<'a>(spec: &CommandSpec, args: &'a [&'a [u8]]) -> Result<Cmd<'a>, Reply> {
        let CommandId::Coll(id) = spec.id else {
            panic!("{} is not a collection command", spec.name)
        };
        parse(spec, id, args)
    }

    fn err(text: &str) -> Reply {
        Reply::error(text)
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s)
    }

    fn bulks(items: &[&str]) -> Reply {
        Reply::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn ints(items: &[i64]) -> Reply {
        Reply::Array(items.iter().map(|&i| Reply::Int(i)).collect())
    }

    fn empty() -> Reply {
        Reply::Array(Vec::new())
    }

    const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

    #[test]
    fn table_is_consistent_and_apart_from_the_other_commands() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert_ne!(spec.arity, 0, "{}", spec.name);
            assert!(!spec.summary.is_empty() && !spec.syntax.is_empty());
            assert!(
                COMMANDS[i + 1..].iter().all(|c| c.name != spec.name),
                "{} listed twice",
                spec.name
            );
            assert!(
                crate::commands::table::COMMANDS
                    .iter()
                    .all(|c| c.name != spec.name),
                "{} is also in the main table",
                spec.name
            );
            assert!(matches!(spec.kind, Kind::Read | Kind::Write));
        }
        assert_eq!(lookup(b"zrangebyscore").unwrap().name, "ZRANGEBYSCORE");
        assert!(lookup(b"GET").is_none());
    }

    #[test]
    fn every_command_in_the_table_parses() {
        // Arguments that suit every command's smallest form: numbers where numbers go.
        for spec in COMMANDS {
            let n = spec.arity.unsigned_abs() as usize - 1;
            let args: Vec<Vec<u8>> = (0..n)
                .map(|i| match (spec.name, i) {
                    ("LINSERT", 1) => b"BEFORE".to_vec(),
                    ("ZRANGEBYLEX" | "ZREVRANGEBYLEX" | "ZLEXCOUNT", 1) => b"-".to_vec(),
                    ("ZRANGEBYLEX" | "ZREVRANGEBYLEX" | "ZLEXCOUNT", 2) => b"+".to_vec(),
                    ("LMOVE" | "BLMOVE", 2 | 3) | ("LMPOP", 2) => b"LEFT".to_vec(),
                    ("BLMPOP", 3) => b"RIGHT".to_vec(),
                    ("ZMPOP", 2) => b"MIN".to_vec(),
                    ("BZMPOP", 3) => b"MAX".to_vec(),
                    ("BLMPOP" | "BZMPOP", 0) => b"0.5".to_vec(),
                    ("LMPOP" | "ZMPOP", 0) => b"1".to_vec(),
                    ("SINTERCARD" | "ZUNION" | "ZINTER" | "ZDIFF" | "ZINTERCARD", 0) => {
                        b"1".to_vec()
                    }
                    ("ZUNIONSTORE" | "ZINTERSTORE" | "ZDIFFSTORE", 1) => b"1".to_vec(),
                    ("ZREMRANGEBYLEX", 1) => b"-".to_vec(),
                    ("ZREMRANGEBYLEX", 2) => b"+".to_vec(),
                    (_, 0) => b"key".to_vec(),
                    _ => b"1".to_vec(),
                })
                .collect();
            let slices = crate::commands::split::as_args(&args);
            let parsed = parse_spec(spec, &slices);
            assert!(parsed.is_ok(), "{} {args:?}: {parsed:?}", spec.name);
            let is_write = matches!(parsed, Ok(Cmd::Write(_)));
            assert_eq!(
                is_write,
                spec.kind == Kind::Write || spec.name == "SRANDMEMBER",
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn integers_parse_like_redis() {
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b""[..],
            b"+1",
            b" 1",
            b"01",
            b"-0",
            b"1.0",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn doubles_parse_like_redis() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"-.5e1"), Some(-5.0));
        assert_eq!(parse_double(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_double(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"1e-310"), Some(1e-310));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"x",
            b"1e",
        ] {
            assert_eq!(parse_double(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn score_bounds_parse_like_zsl_parse_range() {
        use ScoreBound::{Exclusive, Inclusive};
        assert_eq!(parse_score_bound(b"1"), Some(Inclusive(1.0)));
        assert_eq!(parse_score_bound(b"(1.5"), Some(Exclusive(1.5)));
        assert_eq!(
            parse_score_bound(b"-inf"),
            Some(Inclusive(f64::NEG_INFINITY))
        );
        assert_eq!(parse_score_bound(b"(+inf"), Some(Exclusive(f64::INFINITY)));
        // strtod skips leading spaces, and leaves an empty text unconverted: Redis reads 0.
        assert_eq!(parse_score_bound(b" 2"), Some(Inclusive(2.0)));
        assert_eq!(parse_score_bound(b""), Some(Inclusive(0.0)));
        assert_eq!(parse_score_bound(b"("), Some(Exclusive(0.0)));
        for bad in [&b"(("[..], b"nan", b"1 ", b"  ", b"[1", b"x"] {
            assert_eq!(parse_score_bound(bad), None, "{bad:?}");
        }
        // The bounds are read by the parser ZADD's scores are: hexadecimal too; and as
        // strtod gives them to zslParseRange, past a double's range as infinity or zero.
        assert_eq!(parse_score_bound(b"0x10"), Some(Inclusive(16.0)));
        assert_eq!(parse_score_bound(b"(-0x1.8p0"), Some(Exclusive(-1.5)));
        assert_eq!(parse_score_bound(b"( 0x1p-2"), Some(Exclusive(0.25)));
        assert_eq!(parse_score_bound(b"1e400"), Some(Inclusive(f64::INFINITY)));
        assert_eq!(
            parse_score_bound(b"(-1e5000"),
            Some(Exclusive(f64::NEG_INFINITY))
        );
        assert_eq!(parse_score_bound(b"1e-400"), Some(Inclusive(0.0)));
        assert_eq!(
            parse_score_bound(b"-Infinity"),
            Some(Inclusive(f64::NEG_INFINITY))
        );
        for bad in [
            &b"(nan"[..],
            b"-nan",
            b"0x",
            b"0x1p",
            b"1e",
            b"0x1g",
            b"inf ",
        ] {
            assert_eq!(parse_score_bound(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lex_bounds() {
        assert_eq!(parse_lex_bound(b"-"), Some(LexBound::Min));
        assert_eq!(parse_lex_bound(b"+"), Some(LexBound::Max));
        assert_eq!(parse_lex_bound(b"["), Some(LexBound::Inclusive(Vec::new())));
        assert_eq!(
            parse_lex_bound(b"(a\xff"),
            Some(LexBound::Exclusive(b"a\xff".to_vec()))
        );
        for bad in [&b""[..], b"a", b"-a", b"++"] {
            assert_eq!(parse_lex_bound(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn zadd_options_and_their_conflicts() {
        let Ok(Cmd::Write(WriteCmd::ZAdd {
            flags, incr, items, ..
        })) = parse_line("ZADD z xx gt ch 1 a -inf b")
        else {
            panic!("ZADD parses");
        };
        assert!(flags.xx && flags.gt && flags.ch && !flags.nx && !flags.lt && !incr);
        assert_eq!(
            items,
            vec![(1.0, &b"a"[..]), (f64::NEG_INFINITY, &b"b"[..])]
        );
        for (line, error) in [
            ("ZADD z 1", "ERR syntax error"),
            ("ZADD z NX 1 a 2", "ERR syntax error"),
            ("ZADD z NX XX", "ERR syntax error"),
            (
                "ZADD z NX XX 1 a",
                "ERR XX and NX options at the same time are not compatible",
            ),
            (
                "ZADD z GT LT 1 a",
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                "ZADD z NX LT 1 a",
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                "ZADD z INCR 1 a 2 b",
                "ERR INCR option supports a single increment-element pair",
            ),
            ("ZADD z 1 a x b", "ERR value is not a valid float"),
            ("ZADD z nan a", "ERR value is not a valid float"),
        ] {
            assert_eq!(parse_line(line), Err(err(error)), "{line}");
        }
    }

    #[test]
    fn zrange_options_in_redis_order() {
        let Ok(Cmd::Read(ReadCmd::ZRange(r))) =
            parse_line("ZRANGE z (5 1 byscore REV limit 2 3 withscores")
        else {
            panic!("ZRANGE parses");
        };
        // REV takes the range max first.
        assert_eq!(
            r.by,
            RangeBy::Score(ScoreBound::Inclusive(1.0), ScoreBound::Exclusive(5.0))
        );
        assert!(r.rev && r.with_scores);
        assert_eq!((r.offset, r.count), (2, 3));
        let limit_err = "ERR syntax error, LIMIT is only supported in combination with either \
                         BYSCORE or BYLEX";
        for (line, error) in [
            ("ZRANGE z 0 1 LIMIT 0 1", limit_err),
            (
                "ZRANGE z - + BYLEX WITHSCORES",
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ),
            ("ZRANGE z 0 1 BYSCORE BYLEX", "ERR syntax error"),
            ("ZRANGE z 0 1 REV REV", "ERR syntax error"),
            ("ZRANGE z 0 1 LIMIT 1", "ERR syntax error"),
            ("ZRANGEBYSCORE z 0 1 REV", "ERR syntax error"),
            ("ZREVRANGE z 0 1 BYSCORE", "ERR syntax error"),
            (
                "ZRANGE z 0 1 LIMIT x 1",
                "ERR value is not an integer or out of range",
            ),
            (
                "ZRANGE z a 1",
                "ERR value is not an integer or out of range",
            ),
            ("ZRANGE z a 1 BYSCORE", "ERR min or max is not a float"),
            // The options are read before the range.
            ("ZRANGESTORE d z a 1 BYSCORE WITHSCORES", "ERR syntax error"),
            (
                "ZRANGE z a b BYLEX",
                "ERR min or max not valid string range item",
            ),
            ("ZCOUNT z 0 x", "ERR min or max is not a float"),
        ] {
            assert_eq!(parse_line(line), Err(err(error)), "{line}");
        }
        // Redis checks LIMIT's count only: -1 means "no limit" also with ranks.
        assert!(parse_line("ZRANGE z 0 1 LIMIT 3 -1").is_ok());
    }

    #[test]
    fn list_argument_errors() {
        for (line, error) in [
            ("LPOP l -1", "ERR value is out of range, must be positive"),
            ("LPOP l x", "ERR value is out of range, must be positive"),
            (
                "LPOP l 1 2",
                "ERR wrong number of arguments for 'lpop' command",
            ),
            ("SPOP s 1 2", "ERR syntax error"),
            ("ZPOPMAX z 1 2", "ERR syntax error"),
            ("LINSERT l MIDDLE a b", "ERR syntax error"),
            ("LPOS l a RANK 0", "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
            ("LPOS l a COUNT -1", "ERR COUNT can't be negative"),
            ("LPOS l a MAXLEN -1", "ERR MAXLEN can't be negative"),
            ("LPOS l a COUNT", "ERR syntax error"),
            ("LPOS l a BOGUS 1", "ERR syntax error"),
            ("LRANGE l 0 x", "ERR value is not an integer or out of range"),
            (
                "HSET h f v f2",
                "ERR wrong number of arguments for 'hset' command",
            ),
            ("HINCRBY h f 1.5", "ERR value is not an integer or out of range"),
            ("HINCRBYFLOAT h f x", "ERR value is not a valid float"),
            ("HINCRBYFLOAT h f inf", "ERR value is NaN or Infinity"),
            ("ZINCRBY z x m", "ERR value is not a valid float"),
        ] {
            assert_eq!(parse_line(line), Err(err(error)), "{line}");
        }
    }

    /// A session on a fresh database.
    struct Fixture {
        _dir: tempfile::TempDir,
        db: Db,
        session: Session,
    }

    impl Fixture {
        fn new() -> crate::Result<Self> {
            let dir = tempfile::tempdir().map_err(|e| Error::InvalidArgument(e.to_string()))?;
            let db = Db::open(dir.path().join("db"))?;
            Ok(Fixture {
                _dir: dir,
                session: Session::new(&db, Policy::trusted()),
                db,
            })
        }

        fn run(&mut self, line: &str) -> Reply {
            self.session.execute(&argv(line))
        }
    }

    #[test]
    fn lists() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("RPUSH l b c"), Reply::Int(2));
        assert_eq!(f.run("LPUSH l a z"), Reply::Int(4));
        assert_eq!(f.run("LRANGE l 0 -1"), bulks(&["z", "a", "b", "c"]));
        assert_eq!(f.run("LRANGE l -2 100"), bulks(&["b", "c"]));
        assert_eq!(f.run("LINDEX l -1"), bulk("c"));
        assert_eq!(f.run("LINDEX l 4"), Reply::Nil);
        assert_eq!(f.run("LSET l 4 x"), err("ERR index out of range"));
        assert_eq!(f.run("LSET nope 0 x"), err("ERR no such key"));
        assert_eq!(f.run("LINSERT l AFTER a b"), Reply::Int(5));
        assert_eq!(f.run("LINSERT l AFTER nope b"), Reply::Int(-1));
        assert_eq!(f.run("LPOS l b COUNT 0"), ints(&[2, 3]));
        assert_eq!(f.run("LPOS l b RANK -1"), Reply::Int(3));
        assert_eq!(f.run("LPOS l b MAXLEN 2"), Reply::Nil);
        assert_eq!(f.run("LREM l -1 b"), Reply::Int(1));
        assert_eq!(f.run("LPOP l"), bulk("z"));
        assert_eq!(f.run("RPOP l 2"), bulks(&["c", "b"]));
        assert_eq!(f.run("LPOP l 0"), empty());
        assert_eq!(f.run("LLEN l"), Reply::Int(1));
        assert_eq!(f.run("LPOP l 5"), bulks(&["a"]));
        // The empty list is gone: a count then gives a nil array, no count a nil.
        assert_eq!(f.run("EXISTS l"), Reply::Int(0));
        assert_eq!(f.run("LPOP l 1"), Reply::NilArray);
        assert_eq!(f.run("LPOP l 0"), Reply::NilArray);
        assert_eq!(f.run("RPOP l"), Reply::Nil);
        assert_eq!(f.run("RPUSH l a b c"), Reply::Int(3));
        assert_eq!(f.run("LTRIM l 1 -1"), Reply::ok());
        assert_eq!(f.run("LRANGE l 0 -1"), bulks(&["b", "c"]));
        assert_eq!(f.run("LTRIM l 2 1"), Reply::ok());
        assert_eq!(f.run("EXISTS l"), Reply::Int(0));
        Ok(())
    }

    #[test]
    fn sets() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SADD s c a b a"), Reply::Int(3));
        assert_eq!(f.run("SREM s a nope"), Reply::Int(1));
        assert_eq!(f.run("SMEMBERS s"), bulks(&["b", "c"]));
        assert_eq!(f.run("SMISMEMBER s a b"), ints(&[0, 1]));
        assert_eq!(f.run("SADD t c d"), Reply::Int(2));
        assert_eq!(f.run("SINTER s t"), bulks(&["c"]));
        assert_eq!(f.run("SUNION s t nope"), bulks(&["b", "c", "d"]));
        assert_eq!(f.run("SDIFF s t"), bulks(&["b"]));
        assert_eq!(f.run("SINTER s nope"), empty());
        assert_eq!(f.run("SUNIONSTORE u s t"), Reply::Int(3));
        assert_eq!(f.run("SCARD u"), Reply::Int(3));
        assert_eq!(f.run("SINTERSTORE u s nope"), Reply::Int(0));
        assert_eq!(f.run("EXISTS u"), Reply::Int(0));
        let Reply::Array(picked) = f.run("SRANDMEMBER t -5") else {
            panic!("an array");
        };
        assert_eq!(picked.len(), 5);
        assert!(picked.iter().all(|r| *r == bulk("c") || *r == bulk("d")));
        let Reply::Array(mut distinct) = f.run("SRANDMEMBER t 5") else {
            panic!("an array");
        };
        distinct.sort_by_key(|r| match r {
            Reply::Bulk(b) => b.clone(),
            _ => Vec::new(),
        });
        assert_eq!(Reply::Array(distinct), bulks(&["c", "d"]));
        assert_eq!(f.run("SPOP nope"), Reply::Nil);
        assert_eq!(f.run("SPOP nope 2"), empty());
        let Reply::Array(popped) = f.run("SPOP t 5") else {
            panic!("an array");
        };
        assert_eq!(popped.len(), 2);
        assert_eq!(f.run("EXISTS t"), Reply::Int(0));
        Ok(())
    }

    #[test]
    fn sorted_sets() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("ZADD z 1 b 1 a 2 c -inf d"), Reply::Int(4));
        // Ties are ordered by member bytes.
        assert_eq!(f.run("ZRANGE z 0 -1"), bulks(&["d", "a", "b", "c"]));
        assert_eq!(
            f.run("ZRANGE z 0 1 REV WITHSCORES"),
            bulks(&["c", "2", "b", "1"])
        );
        assert_eq!(f.run("ZADD z CH GT 0 a 3 b 5 e"), Reply::Int(2));
        assert_eq!(f.run("ZADD z XX 9 nope"), Reply::Int(0));
        assert_eq!(f.run("ZSCORE z nope"), Reply::Nil);
        assert_eq!(f.run("ZADD z INCR 1.5 a"), bulk("2.5"));
        assert_eq!(f.run("ZADD z NX INCR 1 a"), Reply::Nil);
        assert_eq!(f.run("ZADD z LT INCR 1 a"), Reply::Nil);
        assert_eq!(f.run("ZINCRBY z -0.5 a"), bulk("2"));
        assert_eq!(
            f.run("ZADD z INCR inf d"),
            err("ERR resulting score is not a number (NaN)")
        );
        assert_eq!(
            f.run("ZMSCORE z a nope d"),
            Reply::Array(vec![bulk("2"), Reply::Nil, bulk("-inf")])
        );
        assert_eq!(f.run("ZRANK z c"), Reply::Int(2));
        assert_eq!(f.run("ZREVRANK z c"), Reply::Int(2));
        assert_eq!(f.run("ZRANK z nope"), Reply::Nil);
        assert_eq!(f.run("ZCOUNT z (2 +inf"), Reply::Int(2));
        assert_eq!(f.run("ZLEXCOUNT nosuch - +"), Reply::Int(0));
        // ZRANGESTORE replaces the destination, whatever it held, and an empty range
        // removes it.
        assert_eq!(f.run("SET dst text"), Reply::ok());
        assert_eq!(f.run("ZRANGESTORE dst z 0 0"), Reply::Int(1));
        assert_eq!(f.run("TYPE dst"), Reply::Status("zset".into()));
        assert_eq!(f.run("ZRANGESTORE dst nosuch 0 -1"), Reply::Int(0));
        assert_eq!(f.run("EXISTS dst"), Reply::Int(0));
        assert_eq!(
            f.run("ZRANGESTORE dst z 0 -1 WITHSCORES"),
            err("ERR syntax error")
        );
        assert_eq!(
            f.run("ZLEXCOUNT z a b"),
            err("ERR min or max not valid string range item")
        );
        assert_eq!(
            f.run("ZRANGEBYSCORE z (-inf 3 WITHSCORES LIMIT 1 2"),
            bulks(&["c", "2", "b", "3"])
        );
        assert_eq!(
            f.run("ZREVRANGEBYSCORE z +inf -inf LIMIT 0 1"),
            bulks(&["e"])
        );
        assert_eq!(f.run("ZRANGE z -inf +inf BYSCORE LIMIT -1 1"), empty());
        assert_eq!(f.run("ZPOPMAX z"), bulks(&["e", "5"]));
        assert_eq!(f.run("ZPOPMIN z 2"), bulks(&["d", "-inf", "a", "2"]));
        assert_eq!(f.run("ZPOPMAX z 0"), empty());
        assert_eq!(f.run("ZCARD z"), Reply::Int(2));
        assert_eq!(f.run("ZREMRANGEBYRANK z -1 -1"), Reply::Int(1));
        assert_eq!(f.run("ZREMRANGEBYSCORE z -inf +inf"), Reply::Int(1));
        assert_eq!(f.run("EXISTS z"), Reply::Int(0));
        assert_eq!(f.run("ZPOPMIN z"), empty());
        assert_eq!(f.run("ZADD lex 0 b 0 a 0 c 0 aa"), Reply::Int(4));
        assert_eq!(f.run("ZRANGE lex (a [c BYLEX"), bulks(&["aa", "b", "c"]));
        assert_eq!(f.run("ZRANGE lex [b - BYLEX REV"), bulks(&["b", "aa", "a"]));
        assert_eq!(f.run("ZRANGEBYLEX lex - + LIMIT 1 2"), bulks(&["aa", "b"]));
        Ok(())
    }

    #[test]
    fn hashes() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("HSET h b 2 a 1"), Reply::Int(2));
        assert_eq!(f.run("HSET h a 10 c 3"), Reply::Int(1));
        assert_eq!(f.run("HMSET h d 4"), Reply::ok());
        assert_eq!(
            f.run("HGETALL h"),
            bulks(&["a", "10", "b", "2", "c", "3", "d", "4"])
        );
        assert_eq!(f.run("HKEYS h"), bulks(&["a", "b", "c", "d"]));
        assert_eq!(f.run("HVALS h"), bulks(&["10", "2", "3", "4"]));
        assert_eq!(
            f.run("HMGET h a nope"),
            Reply::Array(vec![bulk("10"), Reply::Nil])
        );
        assert_eq!(f.run("HSETNX h a x"), Reply::Int(0));
        assert_eq!(f.run("HSTRLEN h a"), Reply::Int(2));
        assert_eq!(f.run("HEXISTS h nope"), Reply::Int(0));
        assert_eq!(f.run("HINCRBY h a -11"), Reply::Int(-1));
        assert_eq!(f.run("HINCRBYFLOAT h a 0.5"), bulk("-0.5"));
        assert_eq!(
            f.run("HINCRBY h a 1"),
            err("ERR hash value is not an integer")
        );
        assert_eq!(f.run("HSET h t text"), Reply::Int(1));
        assert_eq!(
            f.run("HINCRBYFLOAT h t 1"),
            err("ERR hash value is not a float")
        );
        assert_eq!(f.run("HSET h m 9223372036854775807"), Reply::Int(1));
        assert_eq!(
            f.run("HINCRBY h m 1"),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(f.run("HLEN h"), Reply::Int(6));
        assert_eq!(f.run("HDEL h a b c d t m nope"), Reply::Int(6));
        assert_eq!(f.run("EXISTS h"), Reply::Int(0));
        assert_eq!(f.run("HGETALL h"), empty());
        Ok(())
    }

    #[test]
    fn wrong_type_both_ways() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SET str v"), Reply::ok());
        assert_eq!(f.run("RPUSH list a"), Reply::Int(1));
        for line in [
            "LPUSH str x",
            "LRANGE str 0 -1",
            "LPOP str 1",
            "SADD str x",
            "SINTER nope str",
            "SUNIONSTORE d list",
            "ZADD str 1 x",
            "ZRANGE str -inf +inf BYSCORE LIMIT -1 1",
            "ZPOPMIN str",
            "HSET str f v",
            "HGETALL list",
            "GET list",
            "INCR list",
        ] {
            assert_eq!(f.run(line), err(WRONGTYPE), "{line}");
        }
        Ok(())
    }

    #[test]
    fn transactions_see_and_drop_collection_writes() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("RPUSH l a"), Reply::Int(1));
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert_eq!(f.run("RPUSH l b"), Reply::Int(2));
        assert_eq!(f.run("ZADD z 1 m"), Reply::Int(1));
        assert_eq!(f.run("LRANGE l 0 -1"), bulks(&["a", "b"]));
        assert_eq!(f.run("ZSCORE z m"), bulk("1"));
        assert_eq!(f.run("ROLLBACK"), Reply::ok());
        assert_eq!(f.run("LRANGE l 0 -1"), bulks(&["a"]));
        assert_eq!(f.run("EXISTS z"), Reply::Int(0));

        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("HSET h f 1"), Reply::Status("QUEUED".into()));
        assert_eq!(f.run("HINCRBY h f x"), Reply::Status("QUEUED".into()));
        assert_eq!(f.run("HINCRBY h f 2"), Reply::Status("QUEUED".into()));
        assert_eq!(f.run("SRANDMEMBER nope"), Reply::Status("QUEUED".into()));
        assert_eq!(
            f.run("EXEC"),
            Reply::Array(vec![
                Reply::Int(1),
                err("ERR value is not an integer or out of range"),
                Reply::Int(3),
                Reply::Nil,
            ])
        );
        assert_eq!(f.run("HGET h f"), bulk("3"));
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(
            f.run("ZADD z"),
            err("ERR wrong number of arguments for 'zadd' command")
        );
        assert!(f.run("EXEC").is_error());
        Ok(())
    }

    #[test]
    fn watch_sees_every_kind_of_collection_write() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        let mut other = Session::new(&f.db, Policy::trusted());
        for (setup, change) in [
            ("RPUSH l a b", "LSET l 0 x"),
            ("SADD s a", "SREM s a"),
            ("ZADD z 1 a", "ZINCRBY z 1 a"),
            ("HSET h f 1", "HINCRBY h f 1"),
            ("RPUSH l2 a", "LTRIM l2 1 0"),
        ] {
            assert!(!f.run(setup).is_error());
            let key = setup.split_whitespace().nth(1).unwrap_or_default();
            assert_eq!(f.run(&format!("WATCH {key}")), Reply::ok());
            assert!(!other.execute(&argv(change)).is_error(), "{change}");
            assert_eq!(f.run("MULTI"), Reply::ok());
            assert_eq!(f.run("EXISTS l"), Reply::Status("QUEUED".into()));
            assert_eq!(f.run("EXEC"), Reply::NilArray, "{change}");
        }
        // A read does not count as a change.
        assert_eq!(f.run("WATCH z"), Reply::ok());
        assert_eq!(other.execute(&argv("ZRANGE z 0 -1")), bulks(&["a"]));
        assert_eq!(f.run("MULTI"), Reply::ok());
        assert_eq!(f.run("ZCARD z"), Reply::Status("QUEUED".into()));
        assert_eq!(f.run("EXEC"), Reply::Array(vec![Reply::Int(1)]));
        Ok(())
    }

    #[test]
    fn new_commands_refuse_bad_arguments_as_redis_does() {
        for (line, error) in [
            ("SINTERCARD 0 s", "ERR numkeys should be greater than 0"),
            ("SINTERCARD x s", "ERR numkeys should be greater than 0"),
            (
                "SINTERCARD 5 s",
                "ERR Number of keys can't be greater than number of args",
            ),
            ("SINTERCARD 1 s LIMIT", "ERR syntax error"),
            ("SINTERCARD 1 s LIMIT -1", "ERR LIMIT can't be negative"),
            ("SINTERCARD 1 s FOO 1", "ERR syntax error"),
            (
                "ZUNION 0 z",
                "ERR at least 1 input key is needed for 'zunion' command",
            ),
            (
                "ZINTERSTORE d -1 z",
                "ERR at least 1 input key is needed for 'zinterstore' command",
            ),
            (
                "ZINTERCARD 0 z",
                "ERR at least 1 input key is needed for 'zintercard' command",
            ),
            ("ZUNION x z", "ERR value is not an integer or out of range"),
            ("ZUNION 3 z y", "ERR syntax error"),
            ("ZUNION 99999999999999 z", "ERR syntax error"),
            ("SSCAN s x", "ERR invalid cursor"),
            ("HSCAN h -", "ERR invalid cursor"),
            ("ZSCAN z 18446744073709551616", "ERR invalid cursor"),
            (
                "ZREMRANGEBYLEX z a b",
                "ERR min or max not valid string range item",
            ),
            ("ZRANK z a WITHSCORES", "ERR syntax error"),
            (
                "ZREVRANK z a WITHSCORE x",
                "ERR wrong number of arguments for 'zrevrank' command",
            ),
        ] {
            assert_eq!(parse_line(line), Err(err(error)), "{line}");
        }
        // strtoul's cursors: a sign, leading zeros, nothing at all; a minus wraps.
        for (cursor, want) in [
            ("+5", 5),
            ("007", 7),
            ("", 0),
            ("-1", u64::MAX),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(scan_cursor(cursor.as_bytes()), Ok(want), "{cursor:?}");
        }
        for bad in [" 1", "1 ", "-", "+", "1x", "0x10"] {
            assert_eq!(
                scan_cursor(bad.as_bytes()),
                Err(err("ERR invalid cursor")),
                "{bad:?}"
            );
        }
        // A scan's option error waits for the key to be found (see the session test).
        for (line, bad) in [
            ("SSCAN s 0 COUNT 0", "ERR syntax error"),
            ("SSCAN s 0 COUNT -1", "ERR syntax error"),
            (
                "SSCAN s 0 COUNT x",
                "ERR value is not an integer or out of range",
            ),
            ("SSCAN s 0 MATCH", "ERR syntax error"),
            ("HSCAN h 0 NOVALUES", "ERR syntax error"),
            ("SSCAN s 0 TYPE string", "ERR syntax error"),
        ] {
            let Ok(Cmd::Read(ReadCmd::Scan(_, _, scan))) = parse_line(line) else {
                panic!("{line} parses up to its options");
            };
            assert_eq!(scan.bad, Some(err(bad)), "{line}");
        }
        // An option error after the keys waits for the keys' types (see the session test).
        let Ok(Cmd::Read(ReadCmd::ZCombine(c))) = parse_line("ZUNION 2 a b WEIGHTS 1 x") else {
            panic!("ZUNION parses up to its options");
        };
        assert_eq!(c.bad, Some(err("ERR weight value is not a float")));
        for (line, bad) in [
            ("ZUNION 1 a WEIGHTS 1 2", "ERR syntax error"),
            ("ZUNION 1 a WEIGHTS nan", "ERR weight value is not a float"),
            ("ZUNION 1 a AGGREGATE avg", "ERR syntax error"),
            ("ZUNION 1 a AGGREGATE", "ERR syntax error"),
            ("ZDIFF 1 a WEIGHTS 1", "ERR syntax error"),
            ("ZDIFF 1 a AGGREGATE SUM", "ERR syntax error"),
            ("ZUNIONSTORE d 1 a WITHSCORES", "ERR syntax error"),
            ("ZINTERCARD 1 a WITHSCORES", "ERR syntax error"),
            ("ZINTERCARD 1 a LIMIT x", "ERR LIMIT can't be negative"),
        ] {
            let bad_of = |cmd: Cmd<'_>| match cmd {
                Cmd::Read(ReadCmd::ZCombine(c) | ReadCmd::ZInterCard(c))
                | Cmd::Write(WriteCmd::ZCombineStore(_, c)) => c.bad,
                _ => None,
            };
            assert_eq!(parse_line(line).map(bad_of), Ok(Some(err(bad))), "{line}");
        }
    }

    #[test]
    fn pushx_smove_and_sintercard() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("LPUSHX l a"), Reply::Int(0));
        assert_eq!(f.run("EXISTS l"), Reply::Int(0));
        assert_eq!(f.run("RPUSH l m"), Reply::Int(1));
        assert_eq!(f.run("LPUSHX l b a"), Reply::Int(3));
        assert_eq!(f.run("RPUSHX l y z"), Reply::Int(5));
        assert_eq!(f.run("LRANGE l 0 -1"), bulks(&["a", "b", "m", "y", "z"]));

        assert_eq!(f.run("SADD s a b"), Reply::Int(2));
        assert_eq!(f.run("SMOVE s t a"), Reply::Int(1));
        assert_eq!(f.run("SMOVE s t a"), Reply::Int(0));
        assert_eq!(f.run("SMOVE s s b"), Reply::Int(1));
        assert_eq!(f.run("SMOVE s s a"), Reply::Int(0));
        assert_eq!(f.run("SMOVE s t b"), Reply::Int(1));
        // The source is gone once empty; the destination was made.
        assert_eq!(f.run("EXISTS s"), Reply::Int(0));
        assert_eq!(f.run("SMEMBERS t"), bulks(&["a", "b"]));
        assert_eq!(f.run("SMOVE nope t a"), Reply::Int(0));

        assert_eq!(f.run("SADD u b c"), Reply::Int(2));
        assert_eq!(f.run("SINTERCARD 2 t u"), Reply::Int(1));
        assert_eq!(f.run("SINTERCARD 1 t LIMIT 1"), Reply::Int(1));
        assert_eq!(f.run("SINTERCARD 1 t LIMIT 0"), Reply::Int(2));
        assert_eq!(f.run("SINTERCARD 1 t LIMIT 5 LIMIT 1"), Reply::Int(1));
        assert_eq!(f.run("SINTERCARD 2 t nope"), Reply::Int(0));

        assert_eq!(f.run("SET str v"), Reply::ok());
        for line in [
            "LPUSHX str a",
            "RPUSHX str a",
            "SMOVE t str a",
            "SMOVE str t a",
            // Both types are checked even when the member is not there.
            "SMOVE t str nope",
            "SINTERCARD 2 nope str",
            "SSCAN str 0",
            "HSCAN t 0",
            "ZSCAN t 0",
            "ZREMRANGEBYLEX str - +",
            "ZRANK str a WITHSCORE",
            "ZUNION 2 t str",
            "ZINTERCARD 2 nope str",
        ] {
            assert_eq!(f.run(line), err(WRONGTYPE), "{line}");
        }
        assert_eq!(f.run("SMOVE nope str a"), Reply::Int(0));
        // A scan's options are read once the key is found, as in Redis.
        let empty_scan = Reply::Array(vec![bulk("0"), empty()]);
        assert_eq!(f.run("SSCAN nope 0 COUNT 0"), empty_scan);
        assert_eq!(f.run("HSCAN str 0 COUNT x"), err(WRONGTYPE));
        assert_eq!(f.run("SSCAN t 0 COUNT 0"), err("ERR syntax error"));
        assert_eq!(f.run("SSCAN t x COUNT 0"), err("ERR invalid cursor"));
        Ok(())
    }

    #[test]
    fn zunion_zinter_zdiff_and_their_store_forms() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("ZADD a 1 x 2 y 3 z"), Reply::Int(3));
        assert_eq!(f.run("ZADD b 10 y 20 z 30 w"), Reply::Int(3));
        assert_eq!(f.run("SADD s x v"), Reply::Int(2));
        assert_eq!(
            f.run("ZUNION 2 a b WITHSCORES"),
            bulks(&["x", "1", "y", "12", "z", "23", "w", "30"])
        );
        assert_eq!(
            f.run("ZINTER 2 a b WEIGHTS 2 0.5 AGGREGATE MAX WITHSCORES"),
            bulks(&["y", "5", "z", "10"])
        );
        assert_eq!(
            f.run("ZINTER 2 a b AGGREGATE min withscores"),
            bulks(&["y", "2", "z", "3"])
        );
        assert_eq!(f.run("ZDIFF 2 a b WITHSCORES"), bulks(&["x", "1"]));
        assert_eq!(f.run("ZDIFF 3 b nope a"), bulks(&["w"]));
        // A set's members score 1.
        assert_eq!(
            f.run("ZUNION 2 a s WITHSCORES"),
            bulks(&["v", "1", "x", "2", "y", "2", "z", "3"])
        );
        assert_eq!(f.run("ZINTERCARD 2 a s"), Reply::Int(1));
        assert_eq!(f.run("ZINTERCARD 2 a b LIMIT 1"), Reply::Int(1));
        assert_eq!(f.run("ZINTERCARD 2 a b LIMIT 0"), Reply::Int(2));
        assert_eq!(f.run("ZUNION 1 nope"), empty());
        // inf times 0 is NaN, which Redis makes 0; so is inf - inf in a sum.
        assert_eq!(f.run("ZADD i +inf m"), Reply::Int(1));
        assert_eq!(f.run("ZADD j -inf m"), Reply::Int(1));
        assert_eq!(f.run("ZUNION 1 i WEIGHTS 0 WITHSCORES"), bulks(&["m", "0"]));
        assert_eq!(f.run("ZINTER 2 i j WITHSCORES"), bulks(&["m", "0"]));
        assert_eq!(
            f.run("ZINTER 2 i j AGGREGATE MAX WITHSCORES"),
            bulks(&["m", "inf"])
        );
        // The keys' types are checked before the options.
        assert_eq!(f.run("SET str v"), Reply::ok());
        assert_eq!(f.run("ZUNION 2 a str WEIGHTS x"), err(WRONGTYPE));
        assert_eq!(
            f.run("ZUNION 2 a nope WEIGHTS 1 x"),
            err("ERR weight value is not a float")
        );
        // The STORE forms replace the destination whatever it held; an empty result
        // deletes it.
        assert_eq!(f.run("ZUNIONSTORE str 2 a b WEIGHTS 1 -1"), Reply::Int(4));
        assert_eq!(
            f.run("ZRANGE str 0 -1 WITHSCORES"),
            bulks(&["w", "-30", "z", "-17", "y", "-8", "x", "1"])
        );
        assert_eq!(f.run("ZINTERSTORE a 2 a b"), Reply::Int(2));
        assert_eq!(
            f.run("ZRANGE a 0 -1 WITHSCORES"),
            bulks(&["y", "12", "z", "23"])
        );
        assert_eq!(f.run("ZDIFFSTORE str 2 a b"), Reply::Int(0));
        assert_eq!(f.run("EXISTS str"), Reply::Int(0));
        assert_eq!(f.run("SET str v"), Reply::ok());
        assert_eq!(f.run("ZUNIONSTORE str 1 nope"), Reply::Int(0));
        assert_eq!(f.run("TYPE str"), Reply::Status("none".into()));
        // A stored -0 is 0, as Redis stores a small sorted set's scores; a reply computed
        // on the way is still -0, as Redis's.
        assert_eq!(f.run("ZADD zero 0 m"), Reply::Int(1));
        assert_eq!(
            f.run("ZUNION 1 zero WEIGHTS -1 WITHSCORES"),
            bulks(&["m", "-0"])
        );
        assert_eq!(
            f.run("ZUNIONSTORE negzero 1 zero WEIGHTS -1"),
            Reply::Int(1)
        );
        assert_eq!(f.run("ZSCORE negzero m"), bulk("0"));
        assert_eq!(f.run("ZADD negzero -0 n"), Reply::Int(1));
        assert_eq!(f.run("ZSCORE negzero n"), bulk("0"));
        assert_eq!(f.run("ZDIFFSTORE d 1 s"), Reply::Int(2));
        assert_eq!(f.run("ZSCORE d v"), bulk("1"));
        assert_eq!(
            f.run("ZUNIONSTORE d 1 a WITHSCORES"),
            err("ERR syntax error")
        );
        Ok(())
    }

    #[test]
    fn zremrangebylex_and_zrank_withscore() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("ZADD l 0 a 0 b 0 c 0 d"), Reply::Int(4));
        assert_eq!(f.run("ZREMRANGEBYLEX l (a [c"), Reply::Int(2));
        assert_eq!(f.run("ZRANGE l 0 -1"), bulks(&["a", "d"]));
        assert_eq!(f.run("ZREMRANGEBYLEX nope - +"), Reply::Int(0));
        assert_eq!(f.run("ZREMRANGEBYLEX l - +"), Reply::Int(2));
        assert_eq!(f.run("EXISTS l"), Reply::Int(0));
        // Different scores: every member within the bounds goes.
        assert_eq!(f.run("ZADD m 3 a 1 b 2 c"), Reply::Int(3));
        assert_eq!(f.run("ZREMRANGEBYLEX m [a [b"), Reply::Int(2));
        assert_eq!(f.run("ZRANGE m 0 -1"), bulks(&["c"]));

        assert_eq!(f.run("ZADD z 1.5 a 2 b"), Reply::Int(2));
        assert_eq!(
            f.run("ZRANK z b WITHSCORE"),
            Reply::Array(vec![Reply::Int(1), bulk("2")])
        );
        assert_eq!(
            f.run("ZREVRANK z a withscore"),
            Reply::Array(vec![Reply::Int(1), bulk("1.5")])
        );
        assert_eq!(f.run("ZRANK z nope WITHSCORE"), Reply::NilArray);
        assert_eq!(f.run("ZRANK nope a WITHSCORE"), Reply::NilArray);
        assert_eq!(f.run("ZRANK z a"), Reply::Int(0));
        Ok(())
    }

    #[test]
    fn new_commands_reply_in_resp3_as_redis_does() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        f.run("ZADD a 1.5 x 2 y");
        f.run("HSET h f v");
        assert!(matches!(f.run("HELLO 3"), Reply::Map(_)));
        let pair = |m: &str, s: f64| Reply::Array(vec![bulk(m), Reply::Double(s)]);
        // Redis 7: an array of [member, double] pairs.
        assert_eq!(
            f.run("ZUNION 1 a WITHSCORES"),
            Reply::Array(vec![pair("x", 1.5), pair("y", 2.0)])
        );
        assert_eq!(
            f.run("ZINTER 1 a withscores"),
            Reply::Array(vec![pair("x", 1.5), pair("y", 2.0)])
        );
        assert_eq!(
            f.run("ZDIFF 1 a WITHSCORES"),
            f.run("ZINTER 1 a WITHSCORES")
        );
        assert_eq!(f.run("ZUNION 1 a"), bulks(&["x", "y"]));
        // A key named like the option is a key.
        f.run("ZADD withscores 1 k");
        assert_eq!(f.run("ZUNION 1 withscores"), bulks(&["k"]));
        // Redis 7.2: [rank, double].
        assert_eq!(
            f.run("ZRANK a y WITHSCORE"),
            Reply::Array(vec![Reply::Int(1), Reply::Double(2.0)])
        );
        // Scans stay flat, scores as text, as in Redis.
        assert_eq!(
            f.run("ZSCAN a 0 MATCH x"),
            Reply::Array(vec![bulk("0"), bulks(&["x", "1.5"])])
        );
        assert_eq!(
            f.run("HSCAN h 0"),
            Reply::Array(vec![bulk("0"), bulks(&["f", "v"])])
        );
        Ok(())
    }

    #[test]
    fn collection_scans_return_every_member_once_a_page_at_a_time() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        let n = 700;
        for i in 0..n {
            f.run(&format!("SADD s m{i}"));
            f.run(&format!("HSET h f{i} v{i}"));
            f.run(&format!("ZADD z {i} m{i}"));
        }
        for (cmd, key, pairs) in [
            ("SSCAN", "s", false),
            ("HSCAN", "h", true),
            ("ZSCAN", "z", true),
        ] {
            let mut cursor = "0".to_owned();
            let mut seen = Vec::new();
            let mut pages = 0;
            loop {
                let Reply::Array(reply) = f.run(&format!("{cmd} {key} {cursor} COUNT 5")) else {
                    panic!("{cmd} replies an array");
                };
                let [Reply::Bulk(next), Reply::Array(items)] = &reply[..] else {
                    panic!("{cmd}: {reply:?}");
                };
                pages += 1;
                // COUNT 5 of 700: a page is a 64th of the collection, at least.
                assert!(items.len() <= if pairs { 2 * 12 } else { 12 }, "{cmd}");
                let step = if pairs { 2 } else { 1 };
                for pair in items.chunks(step) {
                    let Reply::Bulk(m) = &pair[0] else {
                        panic!("{cmd}: {pair:?}");
                    };
                    if pairs {
                        // The value or score that goes with it.
                        let i = String::from_utf8_lossy(&m[1..]).into_owned();
                        let want = if cmd == "HSCAN" { format!("v{i}") } else { i };
                        assert_eq!(pair[1], bulk(&want), "{cmd}");
                    }
                    seen.push(m.clone());
                }
                cursor = String::from_utf8_lossy(next).into_owned();
                if cursor == "0" {
                    break;
                }
            }
            assert!(pages >= 58, "{cmd}: {pages} pages");
            let count = seen.len();
            seen.sort();
            seen.dedup();
            assert_eq!((seen.len(), count), (n, n), "{cmd}: every member once");
        }
        // MATCH filters each page; a missing key is an empty last page.
        let Reply::Array(reply) = f.run("SSCAN s 0 MATCH m1? COUNT 1000") else {
            panic!("an array");
        };
        assert_eq!(reply[0], bulk("0"));
        let Reply::Array(mut matched) = reply[1].clone() else {
            panic!("an array");
        };
        matched.sort_by(|a, b| a.bulk_bytes().cmp(&b.bulk_bytes()));
        let want: Vec<String> = (10..20).map(|i| format!("m{i}")).collect();
        assert_eq!(
            Reply::Array(matched),
            Reply::Array(want.iter().map(|m| bulk(m)).collect())
        );
        assert_eq!(
            f.run("SSCAN nope 0"),
            Reply::Array(vec![bulk("0"), empty()])
        );
        assert_eq!(
            f.run("ZSCAN nope 123"),
            Reply::Array(vec![bulk("0"), empty()])
        );
        Ok(())
    }

    #[test]
    fn scans_inside_a_transaction_see_its_writes() -> crate::Result<()> {
        let mut f = Fixture::new()?;
        assert_eq!(f.run("SADD s a"), Reply::Int(1));
        assert_eq!(f.run("BEGIN"), Reply::ok());
        assert_eq!(f.run("SREM s a"), Reply::Int(1));
        assert_eq!(f.run("SADD s b"), Reply::Int(1));
        assert_eq!(
            f.run("SSCAN s 0"),
            Reply::Array(vec![bulk("0"), bulks(&["b"])])
        );
        assert_eq!(f.run("ROLLBACK"), Reply::ok());
        assert_eq!(
            f.run("SSCAN s 0"),
            Reply::Array(vec![bulk("0"), bulks(&["a"])])
        );
        Ok(())
    }
}
