//! Pub/Sub in a [`Session`](crate::commands::Session): `PUBLISH`, `SUBSCRIBE`,
//! `PSUBSCRIBE`, `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `PUBSUB`, and sharded Pub/Sub (`SPUBLISH`,
//! `SSUBSCRIBE`, `SUNSUBSCRIBE`: on one node, Pub/Sub on a channel space of its own), with
//! Redis's replies, and the subscribed mode of a RESP2 connection (format-spec.md §5.4 for
//! the ring underneath).
//!
//! A command that subscribes to (or unsubscribes from) several names has one reply per
//! name, as in Redis: the first is the command's reply, the others wait in an outbox that
//! [`Session::next_push`](crate::commands::Session::next_push) empties first, before the
//! messages.

use std::collections::VecDeque;
use std::time::Duration;

use crate::commands::exec::error_reply;
use crate::commands::reply::Reply;
use crate::commands::resp::Protocol;
use crate::commands::table::CommandId;
use crate::{Db, Subscriber};

/// The Pub/Sub state of one session.
#[derive(Default)]
pub(crate) struct SessionPubSub {
    sub: Option<Subscriber>,
    /// Replies beyond the first of a command with several (`SUBSCRIBE a b`).
    outbox: VecDeque<Reply>,
}

impl SessionPubSub {
    /// True while the session has a channel or pattern subscribed.
    pub(crate) fn is_subscribed(&self) -> bool {
        self.sub
            .as_ref()
            .is_some_and(|s| s.subscription_count() + s.shard_subscription_count() > 0)
    }

    /// The refusal of a command a RESP2 session may not run while subscribed, as Redis
    /// words it.
    pub(crate) fn refuse(&self, id: CommandId, name: &str, protocol: Protocol) -> Option<Reply> {
        use CommandId as C;
        if protocol != Protocol::Resp2 || !self.is_subscribed() {
            return None;
        }
        if matches!(
            id,
            C::Subscribe
                | C::Psubscribe
                | C::Ssubscribe
                | C::Unsubscribe
                | C::Punsubscribe
                | C::Sunsubscribe
                | C::Ping
        ) {
            return None;
        }
        Some(Reply::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context",
            name.to_ascii_lowercase()
        )))
    }

    /// `PING [message]` in subscribed mode over RESP2: `pong` and the message, as an array.
    pub(crate) fn ping(&self, args: &[&[u8]], protocol: Protocol) -> Option<Reply> {
        if protocol != Protocol::Resp2 || !self.is_subscribed() {
            return None;
        }
        let msg = args.get(1).copied().unwrap_or_default();
        Some(Reply::Array(vec![Reply::bulk("pong"), Reply::bulk(msg)]))
    }

    /// Runs one Pub/Sub command (`args[0]` its name).
    pub(crate) fn run(&mut self, db: &Db, id: CommandId, args: &[&[u8]]) -> Reply {
        use CommandId as C;
        let names = &args[1..];
        match id {
            C::Publish => match db.publish(args[1], args[2]) {
                Ok(n) => Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                Err(e) => error_reply(&e),
            },
            C::Spublish => match db.spublish(args[1], args[2]) {
                Ok(n) => Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                Err(e) => error_reply(&e),
            },
            C::Pubsub => pubsub(db, names),
            C::Subscribe | C::Psubscribe | C::Ssubscribe => self.subscribe(db, id, names),
            _ => self.unsubscribe(id, names),
        }
    }

    fn subscribe(&mut self, db: &Db, id: CommandId, names: &[&[u8]]) -> Reply {
        if self.sub.is_none() {
            match db.subscriber() {
                Ok(s) => self.sub = Some(s),
                Err(e) => return error_reply(&e),
            }
        }
        let Some(sub) = self.sub.as_mut() else {
            return Reply::error("ERR no subscriber");
        };
        let word = match id {
            CommandId::Subscribe => "subscribe",
            CommandId::Psubscribe => "psubscribe",
            _ => "ssubscribe",
        };
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            let r = match id {
                CommandId::Subscribe => sub.subscribe(&[name]),
                CommandId::Psubscribe => sub.psubscribe(&[name]),
                _ => sub.ssubscribe(&[name]),
            };
            if let Err(e) = r {
                replies.push(error_reply(&e));
                break;
            }
            // Shard subscriptions are counted apart, as Redis counts them.
            let n = if id == CommandId::Ssubscribe {
                sub.shard_subscription_count()
            } else {
                sub.subscription_count()
            };
            replies.push(Reply::Push(vec![
                Reply::bulk(word),
                Reply::bulk(*name),
                count(n),
            ]));
        }
        self.first_of(replies)
    }

    fn unsubscribe(&mut self, id: CommandId, names: &[&[u8]]) -> Reply {
        let word = match id {
            CommandId::Unsubscribe => "unsubscribe",
            CommandId::Punsubscribe => "punsubscribe",
            _ => "sunsubscribe",
        };
        let shard = id == CommandId::Sunsubscribe;
        let mut replies = Vec::new();
        let left = |sub: &Option<Subscriber>| {
            sub.as_ref().map_or(0, |s| {
                if shard {
                    s.shard_subscription_count()
                } else {
                    s.subscription_count()
                }
            })
        };
        let drop_names = |sub: &mut Subscriber, names: &[&[u8]]| match id {
            CommandId::Unsubscribe => sub.unsubscribe(names),
            CommandId::Punsubscribe => sub.punsubscribe(names),
            _ => sub.sunsubscribe(names),
        };
        if names.is_empty() {
            if let Some(sub) = self.sub.as_mut() {
                let all = drop_names(sub, &[]);
                // One reply per name, with the count after each, as Redis gives them.
                let mut n = left(&self.sub) + all.len();
                for name in all {
                    n -= 1;
                    replies.push(Reply::Push(vec![
                        Reply::bulk(word),
                        Reply::Bulk(name),
                        count(n),
                    ]));
                }
            }
        }
        for name in names {
            if let Some(sub) = self.sub.as_mut() {
                drop_names(sub, &[name]);
            }
            // Named ones reply with the count after each, subscribed or not, as in Redis.
            replies.push(Reply::Push(vec![
                Reply::bulk(word),
                Reply::bulk(*name),
                count(left(&self.sub)),
            ]));
        }
        let left = left(&self.sub);
        if replies.is_empty() {
            replies.push(Reply::Push(vec![
                Reply::bulk(word),
                Reply::Nil,
                count(left),
            ]));
        }
        self.first_of(replies)
    }

    /// The first of `replies`; the rest go to the outbox.
    fn first_of(&mut self, replies: Vec<Reply>) -> Reply {
        let mut it = replies.into_iter();
        let first = it.next().unwrap_or(Reply::Nil);
        self.outbox.extend(it);
        first
    }

    /// The next reply queued for the client, else the next message, waiting at most
    /// `timeout` (`None`: until one comes) for a message if subscribed; `None` if there is
    /// nothing. A subscriber that fell behind the ring gets an error, and is no longer
    /// subscribed to anything (Redis would disconnect it).
    pub(crate) fn next_push(&mut self, timeout: Option<Duration>) -> Option<Reply> {
        if let Some(r) = self.outbox.pop_front() {
            return Some(r);
        }
        if !self.is_subscribed() {
            return None;
        }
        let sub = self.sub.as_mut()?;
        match sub.next_message(timeout) {
            Ok(Some(m)) if m.shard => Some(Reply::Push(vec![
                Reply::bulk("smessage"),
                Reply::Bulk(m.channel),
                Reply::Bulk(m.payload),
            ])),
            Ok(Some(m)) => Some(Reply::Push(match m.pattern {
                None => vec![
                    Reply::bulk("message"),
                    Reply::Bulk(m.channel),
                    Reply::Bulk(m.payload),
                ],
                Some(p) => vec![
                    Reply::bulk("pmessage"),
                    Reply::Bulk(p),
                    Reply::Bulk(m.channel),
                    Reply::Bulk(m.payload),
                ],
            })),
            Ok(None) => None,
            Err(e) => {
                self.sub = None;
                Some(error_reply(&e))
            }
        }
    }
}

fn count(n: usize) -> Reply {
    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `PUBSUB CHANNELS [pattern]`, `PUBSUB NUMSUB [channel ...]`, `PUBSUB NUMPAT`.
fn pubsub(db: &Db, args: &[&[u8]]) -> Reply {
    let sub = args[0].to_ascii_uppercase();
    let wrong = || {
        Reply::error(format!(
            "ERR wrong number of arguments for 'pubsub|{}' command",
            String::from_utf8_lossy(args[0]).to_ascii_lowercase()
        ))
    };
    let result =
        match sub.as_slice() {
            b"CHANNELS" if args.len() <= 2 => db
                .pubsub_channels(args.get(1).copied())
                .map(|v| Reply::Array(v.into_iter().map(Reply::Bulk).collect())),
            b"NUMSUB" => db.pubsub_numsub(&args[1..]).map(|counts| {
                Reply::Array(
                    args[1..]
                        .iter()
                        .zip(counts)
                        .flat_map(|(c, n)| {
                            [
                                Reply::bulk(*c),
                                Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                            ]
                        })
                        .collect(),
                )
            }),
            b"SHARDCHANNELS" if args.len() <= 2 => db
                .pubsub_shardchannels(args.get(1).copied())
                .map(|v| Reply::Array(v.into_iter().map(Reply::Bulk).collect())),
            b"SHARDNUMSUB" => db.pubsub_shardnumsub(&args[1..]).map(|counts| {
                Reply::Array(
                    args[1..]
                        .iter()
                        .zip(counts)
                        .flat_map(|(c, n)| {
                            [
                                Reply::bulk(*c),
                                Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                            ]
                        })
                        .collect(),
                )
            }),
            b"NUMPAT" if args.len() == 1 => db
                .pubsub_numpat()
                .map(|n| Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))),
            b"HELP" if args.len() == 1 => return Reply::Array(
                [
                    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CHANNELS [<pattern>]",
                    "    Return the currently active channels matching a <pattern> (default: '*').",
                    "NUMPAT",
                    "    Return number of subscriptions to patterns.",
                    "NUMSUB [<channel> ...]",
                    "    Return the number of subscribers for the specified channels, excluding",
                    "    pattern subscriptions(default: no channels).",
                    "SHARDCHANNELS [<pattern>]",
                    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                    "SHARDNUMSUB [<shardchannel> ...]",
                    "    Return the number of subscribers for the specified shard level channel(s)",
                    "HELP",
                    "    Prints this help.",
                ]
                .into_iter()
                .map(|l| Reply::Status(l.into()))
                .collect(),
            ),
            b"CHANNELS" | b"SHARDCHANNELS" | b"NUMPAT" | b"HELP" => return wrong(),
            _ => {
                return Reply::error(format!(
                    "ERR unknown subcommand '{}'. Try PUBSUB HELP.",
                    String::from_utf8_lossy(args[0])
                ))
            }
        };
    result.unwrap_or_else(|e| error_reply(&e))
}
