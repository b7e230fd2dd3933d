//! `COMMAND` and its subcommands, generated from the command table: what Redis clients
//! (redis-py, ioredis, node-redis) ask a server when they connect, in the shapes Redis 7
//! gives them.
//!
//! - `COMMAND` and `COMMAND INFO [name ...]`: per command a 10-element array: name (lower
//!   case), arity, flags (a set), first key, last key, key step, ACL categories (a set), tips
//!   (an empty set), key specifications (a set of maps) and subcommands (an empty set, or
//!   for `COMMAND` itself an array of its subcommands' entries). An unknown name gives a nil
//!   in its place.
//! - `COMMAND DOCS [name ...]`: a map from each known name to a map of its `summary`,
//!   `group` and `syntax` (the table's argument syntax; Redis gives structured `arguments`
//!   instead, which clients treat as optional). Unknown names are left out.
//! - `COMMAND COUNT`, `COMMAND LIST [FILTERBY MODULE name|ACLCAT category|PATTERN pattern]`,
//!   `COMMAND GETKEYS command [arg ...]` and `COMMAND HELP`.
//!
//! Nothing here reads the database. ZiggyDB has no other subcommands, command tips, modules or
//! `since` versions, so those parts are empty; flags and ACL categories are derived from each
//! command's [`Kind`](crate::commands::Kind) and [`Group`](crate::commands::Group) (Redis's
//! finer flags such as `fast` and `denyoom` are not given).

use crate::commands::reply::Reply;
use crate::commands::table::{all, check_arity, lookup, CommandId, CommandSpec, Kind};
use crate::types::glob_match;

/// A `COMMAND` request with its subcommand's arguments checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Query<'a> {
    /// `COMMAND`: every command's info.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND LIST [FILTERBY ...]`.
    List(Option<Filter<'a>>),
    /// `COMMAND INFO [name ...]` (no names: all).
    Info(&'a [&'a [u8]]),
    /// `COMMAND DOCS [name ...]` (no names: all).
    Docs(&'a [&'a [u8]]),
    /// `COMMAND GETKEYS command [arg ...]`.
    GetKeys(&'a [&'a [u8]]),
    /// `COMMAND HELP`.
    Help,
}

/// `COMMAND LIST FILTERBY`'s filter.
#[derive(Debug, PartialEq, Eq)]
pub enum Filter<'a> {
    /// Commands of a module: ZiggyDB has none.
    Module,
    /// Commands in an ACL category (`read`, `sortedset`..., with or without its `@`).
    AclCat(&'a [u8]),
    /// Commands whose name matches a glob pattern.
    Pattern(&'a [u8]),
}

/// Each subcommand with its arity as Redis counts it (`COMMAND` and the subcommand included).
const SUBCOMMANDS: &[(&str, i32)] = &[
    ("count", 2),
    ("list", -2),
    ("info", -2),
    ("docs", -2),
    ("getkeys", -4),
    ("help", 2),
];

/// `PUBSUB`'s subcommands with their arity, as [`SUBCOMMANDS`] (the sharded ones are not
/// built).
const PUBSUB_SUBCOMMANDS: &[(&str, i32)] = &[
    ("channels", -2),
    ("numsub", -2),
    ("numpat", 2),
    ("shardchannels", -2),
    ("shardnumsub", -2),
    ("help", 2),
];

/// `CONFIG`'s subcommands with their arity as Redis counts it.
const CONFIG_SUBCOMMANDS: &[(&str, i32)] =
    &[("get", -3), ("set", -4), ("resetstat", 2), ("help", 2)];

/// Checks `COMMAND`'s arguments (after the name), in Redis's order: the subcommand, its
/// number of arguments, then its options.
///
/// # Errors
/// Redis's error replies for an unknown subcommand, a wrong number of arguments and a
/// malformed `LIST` filter.
pub fn parse<'a>(args: &'a [&'a [u8]]) -> Result<Query<'a>, Reply> {
    let Some((sub, rest)) = args.split_first() else {
        return Ok(Query::All);
    };
    let Some(&(name, arity)) = SUBCOMMANDS
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(sub))
    else {
        return Err(Reply::error(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(sub).replace(['\r', '\n'], " ")
        )));
    };
    let argc = args.len() + 1;
    let fits = match usize::try_from(arity) {
        Ok(n) => argc == n,
        Err(_) => argc >= arity.unsigned_abs() as usize,
    };
    if !fits {
        return Err(Reply::error(format!(
            "ERR wrong number of arguments for 'command|{name}' command"
        )));
    }
    Ok(match name {
        "count" => Query::Count,
        "help" => Query::Help,
        "info" => Query::Info(rest),
        "docs" => Query::Docs(rest),
        "getkeys" => Query::GetKeys(rest),
        _ => Query::List(match rest {
            [] => None,
            [by, kind, value] if by.eq_ignore_ascii_case(b"FILTERBY") => {
                if kind.eq_ignore_ascii_case(b"MODULE") {
                    Some(Filter::Module)
                } else if kind.eq_ignore_ascii_case(b"ACLCAT") {
                    Some(Filter::AclCat(value))
                } else if kind.eq_ignore_ascii_case(b"PATTERN") {
                    Some(Filter::Pattern(value))
                } else {
                    return Err(Reply::error("ERR syntax error"));
                }
            }
            _ => return Err(Reply::error("ERR syntax error")),
        }),
    })
}

/// The reply to a checked `COMMAND` request.
pub fn reply(query: &Query<'_>) -> Reply {
    match query {
        Query::All => Reply::Array(all().map(info).collect()),
        Query::Count => Reply::Int(i64::try_from(all().count()).unwrap_or(i64::MAX)),
        Query::List(filter) => Reply::Array(
            all()
                .filter(|spec| filter.as_ref().is_none_or(|f| passes(spec, f)))
                .map(|spec| Reply::bulk(spec.name.to_ascii_lowercase()))
                .collect(),
        ),
        Query::Info([]) => reply(&Query::All),
        Query::Info(names) => Reply::Array(
            names
                .iter()
                .map(|name| lookup(name).map_or(Reply::Nil, info))
                .collect(),
        ),
        Query::Docs([]) => Reply::Map(all().map(docs).collect()),
        Query::Docs(names) => {
            Reply::Map(names.iter().filter_map(|n| lookup(n)).map(docs).collect())
        }
        Query::GetKeys(argv) => get_keys(argv),
        Query::Help => Reply::Array(
            HELP.iter()
                .map(|line| Reply::Status((*line).to_owned()))
                .collect(),
        ),
    }
}

const HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands.",
    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
    "    Return a list of all commands, optionally filtered.",
    "INFO [<command-name> ...]",
    "    Return details about the commands named, or about all commands.",
    "DOCS [<command-name> ...]",
    "    Return documentation about the commands named, or about all commands.",
    "GETKEYS <full-command>",
    "    Return the keys from a full command.",
    "HELP",
    "    Print this help.",
];

fn passes(spec: &CommandSpec, filter: &Filter<'_>) -> bool {
    match filter {
        Filter::Module => false,
        Filter::AclCat(cat) => {
            let cat = cat.strip_prefix(b"@").unwrap_or(cat);
            spec.acl_categories().iter().any(|c| {
                c.trim_start_matches('@')
                    .as_bytes()
                    .eq_ignore_ascii_case(cat)
            })
        }
        Filter::Pattern(pattern) => glob_match(pattern, spec.name.to_ascii_lowercase().as_bytes()),
    }
}

fn int(n: i32) -> Reply {
    Reply::Int(i64::from(n))
}

fn statuses(words: &[&str]) -> Reply {
    Reply::Set(
        words
            .iter()
            .map(|w| Reply::Status((*w).to_owned()))
            .collect(),
    )
}

fn map(pairs: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::bulk(k), v))
            .collect(),
    )
}

/// One command's `COMMAND INFO` entry.
fn info(spec: &'static CommandSpec) -> Reply {
    let keys = spec.id.keys();
    // The keys that follow their count: Redis's "keynum" specification.
    let keynum_spec = spec.id.keynum_at().map(|at| {
        map(vec![
            ("flags", statuses(&["RW", "access", "delete"])),
            (
                "begin_search",
                map(vec![
                    ("type", Reply::bulk("index")),
                    ("spec", map(vec![("index", int(at))])),
                ]),
            ),
            (
                "find_keys",
                map(vec![
                    ("type", Reply::bulk("keynum")),
                    (
                        "spec",
                        map(vec![
                            ("keynumidx", int(0)),
                            ("firstkey", int(1)),
                            ("keystep", int(1)),
                        ]),
                    ),
                ]),
            ),
        ])
    });
    // A command with both (`ZUNIONSTORE`: the destination, then a count of sources) lists
    // its fixed keys first.
    let mut key_specs = Vec::new();
    if keys.first != 0 {
        let flags: &[&str] = match spec.kind {
            Kind::Write => &["RW", "update"],
            _ => &["RO", "access"],
        };
        // Redis counts the last key from the first one, or from the end when negative.
        let last = if keys.last < 0 {
            keys.last
        } else {
            keys.last - keys.first
        };
        key_specs.push(map(vec![
            ("flags", statuses(flags)),
            (
                "begin_search",
                map(vec![
                    ("type", Reply::bulk("index")),
                    ("spec", map(vec![("index", int(keys.first))])),
                ]),
            ),
            (
                "find_keys",
                map(vec![
                    ("type", Reply::bulk("range")),
                    (
                        "spec",
                        map(vec![
                            ("lastkey", int(last)),
                            ("keystep", int(keys.step)),
                            ("limit", int(0)),
                        ]),
                    ),
                ]),
            ),
        ]));
    }
    key_specs.extend(keynum_spec);
    // Redis gives no subcommands as an empty set, and subcommands as an array.
    let of = match spec.id {
        CommandId::Command => Some(SUBCOMMANDS),
        CommandId::Pubsub => Some(PUBSUB_SUBCOMMANDS),
        CommandId::Config => Some(CONFIG_SUBCOMMANDS),
        CommandId::Keyspace(id) => crate::commands::keyspace::subcommands(id),
        _ => None,
    };
    let subcommands = if let Some(list) = of {
        let parent = spec.name.to_ascii_lowercase();
        Reply::Array(
            list.iter()
                .map(|(name, arity)| {
                    entry(
                        format!("{parent}|{name}"),
                        *arity,
                        spec,
                        Vec::new(),
                        Reply::Set(Vec::new()),
                    )
                })
                .collect(),
        )
    } else {
        Reply::Set(Vec::new())
    };
    entry(
        spec.name.to_ascii_lowercase(),
        spec.arity,
        spec,
        key_specs,
        subcommands,
    )
}

/// The ten fields of a `COMMAND INFO` entry; flags, key positions and ACL categories are
/// those of `spec`.
fn entry(
    name: String,
    arity: i32,
    spec: &CommandSpec,
    key_specs: Vec<Reply>,
    subcommands: Reply,
) -> Reply {
    let keys = spec.id.keys();
    Reply::Array(vec![
        Reply::bulk(name),
        int(arity),
        statuses(spec.flags()),
        int(keys.first),
        int(keys.last),
        int(keys.step),
        statuses(&spec.acl_categories()),
        Reply::Set(Vec::new()),
        Reply::Set(key_specs),
        subcommands,
    ])
}

/// One command's `COMMAND DOCS` entry: its name and a map of its documentation.
fn docs(spec: &'static CommandSpec) -> (Reply, Reply) {
    (
        Reply::bulk(spec.name.to_ascii_lowercase()),
        map(vec![
            ("summary", Reply::bulk(spec.summary)),
            ("group", Reply::bulk(spec.group.name())),
            ("syntax", Reply::bulk(spec.syntax)),
        ]),
    )
}

/// `COMMAND GETKEYS`: the keys `argv` names, found by its command's key positions.
pub(crate) fn get_keys(argv: &[&[u8]]) -> Reply {
    let Some(spec) = argv.first().and_then(|name| lookup(name)) else {
        return Reply::error("ERR Invalid command specified");
    };
    if check_arity(spec, argv.len()).is_err() {
        return Reply::error("ERR Invalid number of arguments specified for command");
    }
    if let CommandId::Keyspace(id) = spec.id {
        if let Some(reply) = crate::commands::keyspace::get_keys(id, argv) {
            return reply;
        }
    }
    let keys = spec.id.keys();
    if let Some(at) = spec.id.keynum_at() {
        let at = at as usize;
        let n = argv
            .get(at)
            .and_then(|n| crate::commands::parse_int(n))
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n >= 1 && at + n < argv.len());
        // Fixed keys before the count (`ZUNIONSTORE`'s destination) come first.
        let fixed = match usize::try_from(keys.first) {
            Ok(first) if first > 0 => argv.get(first..at).unwrap_or_default(),
            _ => &[],
        };
        return match n {
            Some(n) => Reply::Array(
                fixed
                    .iter()
                    .chain(&argv[at + 1..=at + n])
                    .map(|k| Reply::bulk(*k))
                    .collect(),
            ),
            None => Reply::error("ERR Invalid arguments specified for command"),
        };
    }
    if keys.first == 0 {
        return Reply::error("ERR The command has no key arguments");
    }
    let argc = i64::try_from(argv.len()).unwrap_or(i64::MAX);
    let last = if keys.last < 0 {
        argc + i64::from(keys.last)
    } else {
        i64::from(keys.last).min(argc - 1)
    };
    let mut found = Vec::new();
    let mut i = i64::from(keys.first);
    while i <= last {
        if let Some(key) = usize::try_from(i).ok().and_then(|i| argv.get(i)) {
            found.push(Reply::bulk(*key));
        }
        i += i64::from(keys.step.max(1));
    }
    Reply::Array(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&[u8]]) -> Reply {
        parse(args).map_or_else(|e| e, |q| reply(&q))
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s)
    }

    #[test]
    fn info_gives_redis_s_ten_fields_from_the_table() {
        let Reply::Array(entries) = run(&[b"INFO", b"mset", b"nosuch", b"Get"]) else {
            panic!("an array");
        };
        assert_eq!(entries.len(), 3);
        let Reply::Array(mset) = &entries[0] else {
            panic!("{:?}", entries[0]);
        };
        assert_eq!(mset.len(), 10);
        assert_eq!(mset[0], bulk("mset"));
        assert_eq!(mset[1], Reply::Int(-3));
        assert_eq!(mset[2], Reply::Set(vec![Reply::Status("write".into())]));
        assert_eq!(&mset[3..6], &[Reply::Int(1), Reply::Int(-1), Reply::Int(2)]);
        assert_eq!(
            mset[6],
            Reply::Set(vec![
                Reply::Status("@write".into()),
                Reply::Status("@string".into())
            ])
        );
        let Reply::Set(specs) = &mset[8] else {
            panic!("{:?}", mset[8]);
        };
        assert_eq!(specs.len(), 1);
        assert_eq!(entries[1], Reply::Nil);
        let Reply::Array(get) = &entries[2] else {
            panic!("{:?}", entries[2]);
        };
        assert_eq!(get[0], bulk("get"));
        assert_eq!(get[2], Reply::Set(vec![Reply::Status("readonly".into())]));
        // A command without keys has no key specifications.
        let Reply::Array(ping) = &reply(&Query::Info(&[b"PING"])) else {
            panic!()
        };
        let Reply::Array(ping) = &ping[0] else {
            panic!()
        };
        assert_eq!(&ping[3..6], &[Reply::Int(0), Reply::Int(0), Reply::Int(0)]);
        assert_eq!(ping[8], Reply::Set(Vec::new()));
    }

    #[test]
    fn every_command_is_counted_listed_described_and_documented() {
        let n = all().count();
        assert!(n > 100, "{n}");
        assert_eq!(run(&[b"COUNT"]), Reply::Int(n as i64));
        let Reply::Array(names) = run(&[b"list"]) else {
            panic!()
        };
        assert_eq!(names.len(), n);
        assert!(names.contains(&bulk("zrangebyscore")));
        assert!(names.contains(&bulk("command")));
        assert!(names.contains(&bulk("hello")));
        let Reply::Array(infos) = run(&[]) else {
            panic!()
        };
        assert_eq!(infos.len(), n);
        assert_eq!(run(&[b"INFO"]), Reply::Array(infos));
        let Reply::Map(docs) = run(&[b"DOCS"]) else {
            panic!()
        };
        assert_eq!(docs.len(), n);
        assert_eq!(
            run(&[b"DOCS", b"nosuch", b"zcount"]),
            Reply::Map(vec![(
                bulk("zcount"),
                Reply::Map(vec![
                    (bulk("summary"), bulk(lookup(b"ZCOUNT").unwrap().summary)),
                    (bulk("group"), bulk("sorted-set")),
                    (bulk("syntax"), bulk("key min max")),
                ])
            )])
        );
        assert_eq!(run(&[b"DOCS", b"nosuch"]), Reply::Map(Vec::new()));
    }

    #[test]
    fn list_filters_by_category_pattern_and_module() {
        let list = |filter: &[&[u8]]| {
            let mut args: Vec<&[u8]> = vec![b"LIST", b"FILTERBY"];
            args.extend_from_slice(filter);
            run(&args)
        };
        let Reply::Array(hash) = list(&[b"aclcat", b"hash"]) else {
            panic!()
        };
        assert!(hash.contains(&bulk("hgetall")) && !hash.contains(&bulk("get")));
        assert_eq!(list(&[b"ACLCAT", b"@hash"]), Reply::Array(hash));
        assert_eq!(
            list(&[b"PATTERN", b"zrange*"]),
            Reply::Array(
                ["zrange", "zrangestore", "zrangebyscore", "zrangebylex"]
                    .map(bulk)
                    .to_vec()
            )
        );
        assert_eq!(list(&[b"MODULE", b"json"]), Reply::Array(Vec::new()));
        assert_eq!(list(&[b"ACLCAT", b"nosuch"]), Reply::Array(Vec::new()));
        assert_eq!(list(&[b"NAME", b"x"]), Reply::error("ERR syntax error"));
        assert_eq!(run(&[b"LIST", b"x"]), Reply::error("ERR syntax error"));
    }

    #[test]
    fn getkeys_reads_the_key_positions() {
        let keys = |args: &[&[u8]]| {
            let mut all: Vec<&[u8]> = vec![b"GETKEYS"];
            all.extend_from_slice(args);
            run(&all)
        };
        assert_eq!(
            keys(&[b"MSET", b"a", b"1", b"b", b"2"]),
            Reply::Array(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            keys(&[b"del", b"a", b"b", b"c"]),
            Reply::Array(vec![bulk("a"), bulk("b"), bulk("c")])
        );
        assert_eq!(
            keys(&[b"RENAME", b"a", b"b"]),
            Reply::Array(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            keys(&[b"ZRANGESTORE", b"d", b"s", b"0", b"-1"]),
            Reply::Array(vec![bulk("d"), bulk("s")])
        );
        assert_eq!(keys(&[b"GET", b"k"]), Reply::Array(vec![bulk("k")]));
        assert_eq!(
            keys(&[b"NOSUCH", b"k"]),
            Reply::error("ERR Invalid command specified")
        );
        assert_eq!(
            keys(&[b"GET", b"k", b"x"]),
            Reply::error("ERR Invalid number of arguments specified for command")
        );
        assert_eq!(
            keys(&[b"PING", b"x"]),
            Reply::error("ERR The command has no key arguments")
        );
    }

    #[test]
    fn subcommand_errors_are_redis_s() {
        assert_eq!(
            run(&[b"foo"]),
            Reply::error("ERR unknown subcommand 'foo'. Try COMMAND HELP.")
        );
        assert_eq!(
            run(&[b"COUNT", b"x"]),
            Reply::error("ERR wrong number of arguments for 'command|count' command")
        );
        assert_eq!(
            run(&[b"GETKEYS", b"PING"]),
            Reply::error("ERR wrong number of arguments for 'command|getkeys' command")
        );
        assert!(matches!(run(&[b"HELP"]), Reply::Array(lines) if lines.len() > 5));
    }

    #[test]
    fn key_positions_name_real_keys() {
        // Each command that takes keys has its first key where its syntax has a key or a
        // destination.
        for spec in all() {
            let keys = spec.id.keys();
            assert!(keys.step >= 0 && keys.first >= 0, "{}", spec.name);
            if keys.first == 0 {
                assert_eq!((keys.last, keys.step), (0, 0), "{}", spec.name);
                continue;
            }
            assert!(keys.step >= 1, "{}", spec.name);
            // The word at the first key's position (BITOP's keys follow its operation).
            let at = usize::try_from(keys.first - 1).unwrap_or(0);
            let first = spec.syntax.split(' ').nth(at).unwrap_or_default();
            assert!(
                // A shard channel is a key to a cluster client, as in Redis's COMMAND INFO.
                first.contains("key")
                    || first.contains("shardchannel")
                    || ["destination", "source", "dst"].contains(&first),
                "{}: {}",
                spec.name,
                spec.syntax
            );
        }
    }
}
