//! The command table: every command's name, arity, kind, group, syntax and summary, the one
//! source that help, completion and hints (and later `COMMAND DOCS`) are generated from, and
//! the errors Redis gives for an unknown command or a wrong number of arguments.

use std::fmt::Write as _;

use crate::commands::collections::CollectionId;
use crate::commands::reply::Reply;

/// How a command touches the database, which decides where it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Needs no database (`PING`, `ECHO`) or only its shared counters (`INFO`).
    Other,
    /// Reads keys; inside a transaction it sees the transaction's writes.
    Read,
    /// Writes keys: one transaction of its own, or part of the open one.
    Write,
    /// Works on the whole database; refused inside a transaction.
    Admin,
    /// Starts or ends a transaction.
    Control,
}

/// Every command, one variant each: parsing and dispatch match on it, never on a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandId {
    /// `GET`.
    Get,
    /// `SET`.
    Set,
    /// `SETNX`.
    Setnx,
    /// `SETEX`.
    Setex,
    /// `SETEXP`.
    Setexp,
    /// `PSETEX`.
    Psetex,
    /// `GETSET`.
    Getset,
    /// `GETDEL`.
    Getdel,
    /// `GETEX`.
    Getex,
    /// `MGET`.
    Mget,
    /// `MSET`.
    Mset,
    /// `MSETNX`.
    Msetnx,
    /// `APPEND`.
    Append,
    /// `STRLEN`.
    Strlen,
    /// `GETRANGE`.
    Getrange,
    /// `SETRANGE`.
    Setrange,
    /// `INCR`.
    Incr,
    /// `INCRBY`.
    Incrby,
    /// `DECR`.
    Decr,
    /// `DECRBY`.
    Decrby,
    /// `INCRBYFLOAT`.
    Incrbyfloat,
    /// `GETTYPE`.
    Gettype,
    /// `JSON.GET`.
    JsonGet,
    /// `JSON.SET`.
    JsonSet,
    /// `DEL`.
    Del,
    /// `UNLINK`.
    Unlink,
    /// `EXISTS`.
    Exists,
    /// `TYPE`.
    Type,
    /// `RENAME`.
    Rename,
    /// `RENAMENX`.
    Renamenx,
    /// `COPY`.
    Copy,
    /// `KEYS`.
    Keys,
    /// `SCAN`.
    Scan,
    /// `RANDOMKEY`.
    Randomkey,
    /// `DBSIZE`.
    Dbsize,
    /// `FLUSHDB`.
    Flushdb,
    /// `EXPIRE`.
    Expire,
    /// `PEXPIRE`.
    Pexpire,
    /// `EXPIREAT`.
    Expireat,
    /// `PEXPIREAT`.
    Pexpireat,
    /// `PERSIST`.
    Persist,
    /// `TTL`.
    Ttl,
    /// `PTTL`.
    Pttl,
    /// `EXPIRETIME`.
    Expiretime,
    /// `PEXPIRETIME`.
    Pexpiretime,
    /// `MULTI`.
    Multi,
    /// `EXEC`.
    Exec,
    /// `DISCARD`.
    Discard,
    /// `WATCH`.
    Watch,
    /// `UNWATCH`.
    Unwatch,
    /// `BEGIN`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
    /// `COMPACT`.
    Compact,
    /// `CHECK`.
    Check,
    /// `INFO`.
    Info,
    /// `REPAIR`.
    Repair,
    /// `BACKUP`.
    Backup,
    /// `EXPORT`.
    Export,
    /// `IMPORT`.
    Import,
    /// `PING`.
    Ping,
    /// `ECHO`.
    Echo,
    /// `COMMAND`.
    Command,
    /// `HELLO`.
    Hello,
    /// `PUBLISH`.
    Publish,
    /// `SUBSCRIBE`.
    Subscribe,
    /// `PSUBSCRIBE`.
    Psubscribe,
    /// `UNSUBSCRIBE`.
    Unsubscribe,
    /// `PUNSUBSCRIBE`.
    Punsubscribe,
    /// `PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB`.
    Pubsub,
    /// `SPUBLISH`.
    Spublish,
    /// `SSUBSCRIBE`.
    Ssubscribe,
    /// `SUNSUBSCRIBE`.
    Sunsubscribe,
    /// `CONFIG GET|SET|RESETSTAT|HELP`.
    Config,
    /// A list, set, sorted set or hash command.
    Coll(CollectionId),
    /// A key or server command of the `keyspace` module (`SORT`, `DUMP`, `OBJECT`...).
    Keyspace(crate::commands::keyspace::KeyspaceId),
    /// A bitmap, HyperLogLog or LCS command.
    Bits(crate::commands::bits::BitsId),
}

/// What the shell knows about one command.
#[derive(Debug)]
pub struct CommandSpec {
    /// Which command this is: what parsing and dispatch match on.
    pub id: CommandId,
    /// Upper-case name.
    pub name: &'static str,
    /// Number of arguments including the name, as Redis counts them: `n` means exactly `n`,
    /// `-n` at least `n`.
    pub arity: i32,
    /// Where the command may run.
    pub kind: Kind,
    /// Arguments after the name, for help text.
    pub syntax: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// The group `HELP @group` lists it under.
    pub group: Group,
}

/// The groups of commands, as `HELP @group` names them (Redis's groups, plus `json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Keys of any type: `DEL`, `EXPIRE`, `SCAN`...
    Generic,
    /// Strings and counters.
    String,
    /// JSON documents (`JSON.GET`, `JSON.SET`).
    Json,
    /// Lists.
    List,
    /// Sets.
    Set,
    /// Sorted sets.
    SortedSet,
    /// Hashes.
    Hash,
    /// `MULTI`/`EXEC`/`WATCH` and `BEGIN`/`COMMIT`/`ROLLBACK`.
    Transactions,
    /// The whole database: `INFO`, `COMPACT`, `BACKUP`...
    Server,
    /// `PING`, `ECHO`.
    Connection,
    /// `PUBLISH`, `SUBSCRIBE` and the rest of Pub/Sub.
    Pubsub,
    /// Bitmaps: `SETBIT`, `BITCOUNT`, `BITFIELD`...
    Bitmap,
    /// HyperLogLog: `PFADD`, `PFCOUNT`, `PFMERGE`.
    Hyperloglog,
}

impl Group {
    /// Every group, in the order help lists them.
    pub const ALL: [Group; 13] = [
        Group::Generic,
        Group::String,
        Group::Json,
        Group::List,
        Group::Set,
        Group::SortedSet,
        Group::Hash,
        Group::Transactions,
        Group::Server,
        Group::Connection,
        Group::Pubsub,
        Group::Bitmap,
        Group::Hyperloglog,
    ];

    /// The name after `@` in `HELP @group`.
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::Json => "json",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Hash => "hash",
            Group::Transactions => "transactions",
            Group::Server => "server",
            Group::Connection => "connection",
            Group::Pubsub => "pubsub",
            Group::Bitmap => "bitmap",
            Group::Hyperloglog => "hyperloglog",
        }
    }

    /// The group named `name` (any case), without its `@`.
    pub fn from_name(name: &[u8]) -> Option<Group> {
        Group::ALL
            .into_iter()
            .find(|g| g.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The group of a collection command, told by its first letter as Redis names them:
    /// `L`/`R` lists, `S` sets, `Z` sorted sets, `H` hashes.
    pub const fn of_collection(name: &str) -> Group {
        match name.as_bytes() {
            [b'S', ..] => Group::Set,
            [b'Z', ..] | [b'B', b'Z', ..] => Group::SortedSet,
            [b'H', ..] => Group::Hash,
            _ => Group::List,
        }
    }
}

macro_rules! command {
    ($group:ident, $id:ident, $name:literal, $arity:literal, $kind:ident, $syntax:literal,
     $summary:literal) => {
        CommandSpec {
            id: CommandId::$id,
            name: $name,
            arity: $arity,
            kind: Kind::$kind,
            syntax: $syntax,
            summary: $summary,
            group: Group::$group,
        }
    };
}

/// Every command, in the order help lists them.
pub const COMMANDS: &[CommandSpec] = &[
    // Strings and counters.
    command!(String, Get, "GET", 2, Read, "key", "Get the value of a key"),
    command!(
        String,
        Set,
        "SET",
        -3,
        Write,
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-seconds|\
         PXAT unix-milliseconds|KEEPTTL] \
         [TYPE bytes|string|int|float|bool|timestamp|json]",
        "Set the value of a key, optionally as a typed scalar and with an expiry"
    ),
    command!(
        String,
        Setnx,
        "SETNX",
        3,
        Write,
        "key value",
        "Set a key only if it does not exist; reply 1 if it was set"
    ),
    command!(
        String,
        Setex,
        "SETEX",
        4,
        Write,
        "key seconds value",
        "Set a key that expires after some seconds"
    ),
    command!(
        String,
        Setexp,
        "SETEXP",
        4,
        Write,
        "key seconds value",
        "Set a key that expires after some seconds (same as SETEX)"
    ),
    command!(
        String,
        Psetex,
        "PSETEX",
        4,
        Write,
        "key milliseconds value",
        "Set a key that expires after some milliseconds"
    ),
    command!(
        String,
        Getset,
        "GETSET",
        3,
        Write,
        "key value",
        "Set a key and reply with its old value"
    ),
    command!(
        String,
        Getdel,
        "GETDEL",
        2,
        Write,
        "key",
        "Get the value of a key and delete it"
    ),
    command!(
        String,
        Getex,
        "GETEX",
        -2,
        Write,
        "key [EX seconds|PX milliseconds|EXAT unix-seconds|PXAT unix-milliseconds|PERSIST]",
        "Get the value of a key and set or remove its expiry"
    ),
    command!(
        String,
        Mget,
        "MGET",
        -2,
        Read,
        "key [key ...]",
        "Get the values of several keys at once"
    ),
    command!(
        String,
        Mset,
        "MSET",
        -3,
        Write,
        "key value [key value ...]",
        "Set several keys at once"
    ),
    command!(
        String,
        Msetnx,
        "MSETNX",
        -3,
        Write,
        "key value [key value ...]",
        "Set several keys at once, only if none of them exists"
    ),
    command!(
        String,
        Append,
        "APPEND",
        3,
        Write,
        "key value",
        "Append to the value of a key; reply with the new length"
    ),
    command!(
        String,
        Strlen,
        "STRLEN",
        2,
        Read,
        "key",
        "Get the length of the value of a key"
    ),
    command!(
        String,
        Getrange,
        "GETRANGE",
        4,
        Read,
        "key start end",
        "Get a range of bytes of the value of a key"
    ),
    command!(
        String,
        Setrange,
        "SETRANGE",
        4,
        Write,
        "key offset value",
        "Overwrite part of the value of a key from an offset on"
    ),
    command!(
        String,
        Incr,
        "INCR",
        2,
        Write,
        "key",
        "Add one to the integer at a key"
    ),
    command!(
        String,
        Incrby,
        "INCRBY",
        3,
        Write,
        "key increment",
        "Add to the integer at a key"
    ),
    command!(
        String,
        Decr,
        "DECR",
        2,
        Write,
        "key",
        "Subtract one from the integer at a key"
    ),
    command!(
        String,
        Decrby,
        "DECRBY",
        3,
        Write,
        "key decrement",
        "Subtract from the integer at a key"
    ),
    command!(
        String,
        Incrbyfloat,
        "INCRBYFLOAT",
        3,
        Write,
        "key increment",
        "Add to the number at a key, as a float"
    ),
    // Typed scalars.
    command!(
        String,
        Gettype,
        "GETTYPE",
        2,
        Read,
        "key",
        "Get the stored type of a key's value"
    ),
    command!(
        Json,
        JsonGet,
        "JSON.GET",
        -2,
        Read,
        "key [path ...]",
        "Get a JSON document, or the values at paths in it ($.a.b, $.list[0], .a.b)"
    ),
    command!(
        Json,
        JsonSet,
        "JSON.SET",
        -4,
        Write,
        "key path json [NX|XX]",
        "Set a JSON document, or a value at a path in it"
    ),
    // Generic key commands.
    command!(
        Generic,
        Del,
        "DEL",
        -2,
        Write,
        "key [key ...]",
        "Delete keys; reply with how many existed"
    ),
    command!(
        Generic,
        Unlink,
        "UNLINK",
        -2,
        Write,
        "key [key ...]",
        "Delete keys (same as DEL: collections are always freed lazily)"
    ),
    command!(
        Generic,
        Exists,
        "EXISTS",
        -2,
        Read,
        "key [key ...]",
        "Count how many of the keys exist"
    ),
    command!(
        Generic,
        Type,
        "TYPE",
        2,
        Read,
        "key",
        "Get the type of a key"
    ),
    command!(
        Generic,
        Rename,
        "RENAME",
        3,
        Write,
        "key newkey",
        "Rename a key"
    ),
    command!(
        Generic,
        Renamenx,
        "RENAMENX",
        3,
        Write,
        "key newkey",
        "Rename a key only if the new name is free"
    ),
    command!(
        Generic,
        Copy,
        "COPY",
        -3,
        Write,
        "source destination [DB 0] [REPLACE]",
        "Copy the value of a key to another key"
    ),
    command!(
        Generic,
        Keys,
        "KEYS",
        2,
        Read,
        "pattern",
        "List the keys matching a glob pattern"
    ),
    command!(
        Generic,
        Scan,
        "SCAN",
        -2,
        Read,
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        "Iterate over the keys, in key order, a page at a time"
    ),
    command!(
        Generic,
        Randomkey,
        "RANDOMKEY",
        1,
        Read,
        "",
        "Get a random key"
    ),
    command!(Server, Dbsize, "DBSIZE", 1, Read, "", "Count the keys"),
    command!(
        Server,
        Flushdb,
        "FLUSHDB",
        -1,
        Write,
        "[ASYNC|SYNC]",
        "Delete every key"
    ),
    // Expiry.
    command!(
        Generic,
        Expire,
        "EXPIRE",
        -3,
        Write,
        "key seconds [NX|XX|GT|LT]",
        "Make a key expire after some seconds"
    ),
    command!(
        Generic,
        Pexpire,
        "PEXPIRE",
        -3,
        Write,
        "key milliseconds [NX|XX|GT|LT]",
        "Make a key expire after some milliseconds"
    ),
    command!(
        Generic,
        Expireat,
        "EXPIREAT",
        -3,
        Write,
        "key unix-seconds [NX|XX|GT|LT]",
        "Make a key expire at a Unix time in seconds"
    ),
    command!(
        Generic,
        Pexpireat,
        "PEXPIREAT",
        -3,
        Write,
        "key unix-milliseconds [NX|XX|GT|LT]",
        "Make a key expire at a Unix time in milliseconds"
    ),
    command!(
        Generic,
        Persist,
        "PERSIST",
        2,
        Write,
        "key",
        "Remove the expiry of a key"
    ),
    command!(
        Generic,
        Ttl,
        "TTL",
        2,
        Read,
        "key",
        "Get the seconds left before a key expires (-1: never, -2: no key)"
    ),
    command!(
        Generic,
        Pttl,
        "PTTL",
        2,
        Read,
        "key",
        "Get the milliseconds left before a key expires"
    ),
    command!(
        Generic,
        Expiretime,
        "EXPIRETIME",
        2,
        Read,
        "key",
        "Get the Unix time in seconds at which a key expires"
    ),
    command!(
        Generic,
        Pexpiretime,
        "PEXPIRETIME",
        2,
        Read,
        "key",
        "Get the Unix time in milliseconds at which a key expires"
    ),
    // Transactions.
    command!(
        Transactions,
        Multi,
        "MULTI",
        1,
        Control,
        "",
        "Queue the following commands until EXEC"
    ),
    command!(
        Transactions,
        Exec,
        "EXEC",
        1,
        Control,
        "",
        "Run the queued commands in one transaction, unless a watched key changed"
    ),
    command!(
        Transactions,
        Discard,
        "DISCARD",
        1,
        Control,
        "",
        "Drop the queued commands"
    ),
    command!(
        Transactions,
        Watch,
        "WATCH",
        -2,
        Control,
        "key [key ...]",
        "Make the next EXEC fail if any of the keys changes before it"
    ),
    command!(
        Transactions,
        Unwatch,
        "UNWATCH",
        1,
        Other,
        "",
        "Forget the watched keys"
    ),
    command!(
        Transactions,
        Begin,
        "BEGIN",
        1,
        Control,
        "",
        "Start a transaction holding the writer lock"
    ),
    command!(
        Transactions,
        Commit,
        "COMMIT",
        1,
        Control,
        "",
        "Commit the transaction started by BEGIN"
    ),
    command!(
        Transactions,
        Rollback,
        "ROLLBACK",
        1,
        Control,
        "",
        "Discard the transaction started by BEGIN"
    ),
    // Administration.
    command!(
        Server,
        Compact,
        "COMPACT",
        1,
        Admin,
        "",
        "Rewrite segments to reclaim space now"
    ),
    command!(
        Server,
        Check,
        "CHECK",
        1,
        Admin,
        "",
        "Verify checksums and the index"
    ),
    command!(
        Server,
        Info,
        "INFO",
        -1,
        Other,
        "[SERVER|KEYSPACE|STATS|PERSISTENCE|MEMORY|PROCESSES ...]",
        "Show database statistics, by section"
    ),
    command!(
        Server,
        Repair,
        "REPAIR",
        1,
        Admin,
        "",
        "Salvage the intact data into a new database, originals kept aside (`ziggy -d DIR repair`)"
    ),
    command!(
        Server,
        Backup,
        "BACKUP",
        2,
        Admin,
        "destination",
        "Copy the database to a new directory, consistently, while others keep writing"
    ),
    command!(
        Server,
        Export,
        "EXPORT",
        -2,
        Admin,
        "file [FORMAT JSONL|RESP]",
        "Write every key to a file: JSON Lines, or Redis protocol for redis-cli --pipe"
    ),
    command!(
        Server,
        Import,
        "IMPORT",
        -2,
        Admin,
        "file [FORMAT JSONL|RESP]",
        "Load a file written by EXPORT: JSON Lines, or Redis protocol as redis-cli --pipe sends"
    ),
    command!(
        Connection,
        Ping,
        "PING",
        -1,
        Other,
        "[message]",
        "Reply PONG, or the message"
    ),
    command!(
        Connection,
        Echo,
        "ECHO",
        2,
        Other,
        "message",
        "Reply the message"
    ),
    command!(
        Server,
        Command,
        "COMMAND",
        -1,
        Other,
        "[COUNT|LIST [FILTERBY MODULE name|ACLCAT category|PATTERN pattern]|INFO [command ...]|\
         DOCS [command ...]|GETKEYS command [arg ...]|HELP]",
        "Describe the commands: their number, names, arity, flags, key positions and docs"
    ),
    command!(
        Connection,
        Hello,
        "HELLO",
        -1,
        Other,
        "[protover [AUTH username password] [SETNAME clientname]]",
        "Choose the protocol (2 or 3) of the replies and reply with the server's properties"
    ),
    command!(
        Pubsub,
        Publish,
        "PUBLISH",
        3,
        Other,
        "channel message",
        "Send a message to the subscribers of a channel in every process"
    ),
    command!(
        Pubsub,
        Subscribe,
        "SUBSCRIBE",
        -2,
        Control,
        "channel [channel ...]",
        "Receive the messages published to channels"
    ),
    command!(
        Pubsub,
        Psubscribe,
        "PSUBSCRIBE",
        -2,
        Control,
        "pattern [pattern ...]",
        "Receive the messages published to channels matching glob-style patterns"
    ),
    command!(
        Pubsub,
        Unsubscribe,
        "UNSUBSCRIBE",
        -1,
        Control,
        "[channel [channel ...]]",
        "Stop receiving the messages of channels (all if none is named)"
    ),
    command!(
        Pubsub,
        Punsubscribe,
        "PUNSUBSCRIBE",
        -1,
        Control,
        "[pattern [pattern ...]]",
        "Stop receiving the messages of patterns (all if none is named)"
    ),
    command!(
        Pubsub,
        Pubsub,
        "PUBSUB",
        -2,
        Other,
        "CHANNELS [pattern]|NUMSUB [channel ...]|NUMPAT|SHARDCHANNELS [pattern]|\
         SHARDNUMSUB [shardchannel ...]",
        "List the channels subscribed to, count their subscribers, or count the patterns"
    ),
    command!(
        Pubsub,
        Spublish,
        "SPUBLISH",
        3,
        Other,
        "shardchannel message",
        "Send a message to the subscribers of a shard channel in every process"
    ),
    command!(
        Pubsub,
        Ssubscribe,
        "SSUBSCRIBE",
        -2,
        Control,
        "shardchannel [shardchannel ...]",
        "Receive the messages published to shard channels"
    ),
    command!(
        Pubsub,
        Sunsubscribe,
        "SUNSUBSCRIBE",
        -1,
        Control,
        "[shardchannel [shardchannel ...]]",
        "Stop receiving the messages of shard channels (all if none is named)"
    ),
    command!(
        Server,
        Config,
        "CONFIG",
        -2,
        Other,
        "GET parameter [parameter ...]|SET parameter value [parameter value ...]|RESETSTAT|HELP",
        "Read or change the settings shared by every process (notify-keyspace-events)"
    ),
];

/// Where a command's keys are among its arguments, counting the name as 0, as Redis's
/// `COMMAND INFO` gives them: the first key, the last (negative: counted from the end, `-1`
/// being the last argument) and the step between keys. A command without keys has all three 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPositions {
    /// The first key's position; 0 if the command takes no key.
    pub first: i32,
    /// The last key's position; negative counts from the end.
    pub last: i32,
    /// The distance between keys (2 for `MSET`'s key/value pairs).
    pub step: i32,
}

impl CommandId {
    /// Where this command's keys are (what a cluster client routes by, and what
    /// `COMMAND GETKEYS` reads).
    pub fn keys(self) -> KeyPositions {
        use crate::commands::collections::CollectionId as L;
        use CommandId as C;
        let (first, last, step) = match self {
            C::Keys
            | C::Scan
            | C::Randomkey
            | C::Dbsize
            | C::Flushdb
            | C::Multi
            | C::Exec
            | C::Discard
            | C::Unwatch
            | C::Begin
            | C::Commit
            | C::Rollback
            | C::Compact
            | C::Check
            | C::Info
            | C::Repair
            | C::Backup
            | C::Export
            | C::Import
            | C::Ping
            | C::Echo
            | C::Command
            | C::Hello
            | C::Publish
            | C::Subscribe
            | C::Psubscribe
            | C::Unsubscribe
            | C::Punsubscribe
            | C::Pubsub
            | C::Config => (0, 0, 0),
            // Shard channels are keys to a cluster client, which routes by them.
            C::Spublish => (1, 1, 1),
            C::Ssubscribe | C::Sunsubscribe => (1, -1, 1),
            C::Mget
            | C::Del
            | C::Unlink
            | C::Exists
            | C::Watch
            | C::Coll(
                L::Sinter | L::Sunion | L::Sdiff | L::Sinterstore | L::Sunionstore | L::Sdiffstore,
            ) => (1, -1, 1),
            C::Mset | C::Msetnx => (1, -1, 2),
            C::Rename
            | C::Renamenx
            | C::Copy
            | C::Coll(
                L::Zrangestore | L::Lmove | L::Rpoplpush | L::Blmove | L::Brpoplpush | L::Smove,
            ) => (1, 2, 1),
            // The keys before the timeout.
            C::Coll(L::Blpop | L::Brpop | L::Bzpopmin | L::Bzpopmax) => (1, -2, 1),
            // The number of keys is an argument (Redis's "movablekeys"): see `keynum_at`.
            C::Coll(
                L::Lmpop
                | L::Zmpop
                | L::Blmpop
                | L::Bzmpop
                | L::Sintercard
                | L::Zunion
                | L::Zinter
                | L::Zdiff
                | L::Zintercard,
            ) => (0, 0, 0),
            C::Get
            | C::Set
            | C::Setnx
            | C::Setex
            | C::Setexp
            | C::Psetex
            | C::Getset
            | C::Getdel
            | C::Getex
            | C::Append
            | C::Strlen
            | C::Getrange
            | C::Setrange
            | C::Incr
            | C::Incrby
            | C::Decr
            | C::Decrby
            | C::Incrbyfloat
            | C::Gettype
            | C::JsonGet
            | C::JsonSet
            | C::Type
            | C::Expire
            | C::Pexpire
            | C::Expireat
            | C::Pexpireat
            | C::Persist
            | C::Ttl
            | C::Pttl
            | C::Expiretime
            | C::Pexpiretime
            // Every other collection command takes one key, its first argument.
            | C::Coll(_) => (1, 1, 1),
            C::Keyspace(id) => crate::commands::keyspace::keys(id),
            C::Bits(id) => crate::commands::bits::keys(id),
        };
        KeyPositions { first, last, step }
    }
}

impl CommandId {
    /// For a command whose keys follow a count of them (`LMPOP`, `BLMPOP`, `ZMPOP`,
    /// `BZMPOP`, `SINTERCARD`, `ZUNION`, `ZINTER`, `ZDIFF`, `ZINTERCARD`, and after their
    /// destination `ZUNIONSTORE`, `ZINTERSTORE`, `ZDIFFSTORE`), the position of that count;
    /// the keys come right after it.
    pub fn keynum_at(self) -> Option<i32> {
        use crate::commands::collections::CollectionId as L;
        match self {
            CommandId::Coll(
                L::Lmpop
                | L::Zmpop
                | L::Sintercard
                | L::Zunion
                | L::Zinter
                | L::Zdiff
                | L::Zintercard,
            ) => Some(1),
            CommandId::Coll(
                L::Blmpop | L::Bzmpop | L::Zunionstore | L::Zinterstore | L::Zdiffstore,
            ) => Some(2),
            _ => None,
        }
    }
}

impl CommandSpec {
    /// The command's flags as `COMMAND INFO` names them: `readonly` or `write` by how it
    /// touches keys, `admin` and `noscript` for the whole-database commands, `loading` and
    /// `stale` for those that need no data (`PING`, `MULTI`...).
    pub fn flags(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Read => &["readonly"],
            Kind::Write => &["write"],
            Kind::Admin => &["admin", "noscript"],
            Kind::Control => &["noscript", "loading", "stale"],
            Kind::Other => &["loading", "stale"],
        }
    }

    /// The command's ACL categories as `COMMAND INFO` names them: `@read` or `@write` (or
    /// `@admin` and `@dangerous`), then its group's (`@string`, `@keyspace`, `@sortedset`...).
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut categories = match self.kind {
            Kind::Read => vec!["@read"],
            Kind::Write => vec!["@write"],
            Kind::Admin => vec!["@admin", "@dangerous"],
            Kind::Control | Kind::Other => Vec::new(),
        };
        let group = match self.group {
            Group::Generic => "@keyspace",
            Group::String => "@string",
            Group::Json => "@json",
            Group::List => "@list",
            Group::Set => "@set",
            Group::SortedSet => "@sortedset",
            Group::Hash => "@hash",
            Group::Transactions => "@transaction",
            Group::Server => "@admin",
            Group::Connection => "@connection",
            Group::Pubsub => "@pubsub",
            Group::Bitmap => "@bitmap",
            Group::Hyperloglog => "@hyperloglog",
        };
        if !categories.contains(&group) {
            categories.push(group);
        }
        categories
    }
}

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
        .or_else(|| crate::commands::collections::lookup(name))
        .or_else(|| crate::commands::keyspace::lookup(name))
        .or_else(|| crate::commands::bits::lookup(name))
}

/// Every command: this table's, then the collection commands'.
pub fn all() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS
        .iter()
        .chain(crate::commands::collections::COMMANDS)
        .chain(crate::commands::keyspace::COMMANDS)
        .chain(crate::commands::bits::COMMANDS)
}

/// Redis's "unknown command" error, quoting the start of the arguments.
pub fn unknown_command(args: &[&[u8]]) -> Reply {
    const EMPTY: &[u8] = b"";
    let (name, rest) = args.split_first().unwrap_or((&EMPTY, &[]));
    let name = String::from_utf8_lossy(name);
    let name: String = truncate(&name, 128).replace(['\r', '\n'], " ");
    let mut quoted = String::new();
    for arg in rest {
        if quoted.len() >= 128 {
            break;
        }
        let room = 128 - quoted.len();
        let _ = write!(
            quoted,
            "'{}' ",
            truncate(&String::from_utf8_lossy(arg), room)
        );
    }
    Reply::error(format!(
        "ERR unknown command '{name}', with args beginning with: {}",
        quoted.replace(['\r', '\n'], " ")
    ))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Redis's error for a wrong number of arguments.
pub fn wrong_arity(spec: &CommandSpec) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        spec.name.to_ascii_lowercase()
    ))
}

/// Checks the number of arguments (`argc`, the name included) against the command's arity.
///
/// # Errors
/// Redis's error for a wrong number of arguments.
pub fn check_arity(spec: &CommandSpec, argc: usize) -> Result<(), Reply> {
    let argc = i64::try_from(argc).unwrap_or(i64::MAX);
    let arity = i64::from(spec.arity);
    let fits = if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    };
    if fits {
        Ok(())
    } else {
        Err(wrong_arity(spec))
    }
}
