//! Pub/Sub across processes (Redis `PUBLISH`, `SUBSCRIBE`, `PSUBSCRIBE`, `PUBSUB`): a
//! message published by any process on the directory reaches every [`Subscriber`] in every
//! process that was subscribed to its channel (or a matching pattern) when it was published,
//! in publish order per publisher (format-spec.md §5.4).
//!
//! Messages go through a ring of fixed size in `ziggy.pubsub`; they are not stored in the
//! database and do not survive the last process. A subscriber that falls further behind
//! than the ring holds gets [`Error::SubscriberOverrun`] and its subscriptions end, as Redis
//! disconnects a subscriber past its output buffer limit; publishers never wait for
//! subscribers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::engine::notify::events;
pub(crate) use crate::engine::notify::{format_event, notify_flags, publish_notes, NOTIFY_DB};
use crate::engine::pubsub::{PubSub, Read, KIND_CHANNEL, KIND_PATTERN, KIND_SHARD};
use crate::error::{Error, Result};
use crate::format::shm::W_NOTIFY;
use crate::types::glob_match;
use crate::{CancelToken, Db, Wait};

/// The most bytes of channel name and payload together in one message.
pub const MAX_MESSAGE: usize = crate::engine::pubsub::MAX_MESSAGE;
/// The longest channel name or pattern a subscriber may subscribe to.
pub const MAX_CHANNEL_NAME: usize = crate::engine::pubsub::MAX_NAME;

/// One message delivered to a [`Subscriber`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published to.
    pub channel: Vec<u8>,
    /// The pattern it matched, for a subscription made with `psubscribe` (Redis
    /// `pmessage`); `None` for one made with `subscribe` (Redis `message`).
    pub pattern: Option<Vec<u8>>,
    /// What was published.
    pub payload: Vec<u8>,
    /// Published to a shard channel with [`Db::spublish`] and delivered to a subscription
    /// made with [`Subscriber::ssubscribe`] (Redis `smessage`).
    pub shard: bool,
}

impl Db {
    /// Publishes `message` to `channel` (Redis `PUBLISH`) for the subscribers of every
    /// process on this directory, and returns how many subscriptions will receive it: the
    /// subscribers to the channel plus, for each subscriber, the patterns of it that match
    /// (as Redis counts). A dead process's subscriptions stop being counted within 20 ms of
    /// its death.
    ///
    /// Never waits for subscribers: the ring overwrites the oldest messages.
    ///
    /// # Errors
    /// [`Error::ValueTooLarge`] if the channel and message together exceed
    /// [`MAX_MESSAGE`]; [`Error::Busy`] if another publisher, stopped mid-message, holds the
    /// ring's lock past the lock timeout; [`Error::ReadOnly`] on a read-only handle; I/O errors
    /// opening `ziggy.pubsub`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// let mut sub = db.subscribe(&["news"])?;
    /// assert_eq!(db.publish("news", "hello")?, 1);
    /// let m = sub.next_message(Some(Duration::from_secs(5)))?.expect("a message");
    /// assert_eq!((m.channel.as_slice(), m.payload.as_slice()), (&b"news"[..], &b"hello"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn publish(&self, channel: impl AsRef<[u8]>, message: impl AsRef<[u8]>) -> Result<u64> {
        let (channel, message) = (channel.as_ref(), message.as_ref());
        let ps = self.inner.pubsub()?;
        // Counted before the message is in the ring: a subscription counted now started
        // reading the ring before this publish (format-spec.md §5.4), so it receives it.
        let mut n = 0;
        ps.scan(|e| {
            let hit = match e.kind {
                KIND_CHANNEL => e.name == channel,
                KIND_PATTERN => glob_match(&e.name, channel),
                _ => false,
            };
            if hit {
                n += e.count;
            }
        });
        ps.publish(channel, message, false)?;
        Ok(n)
    }

    /// Publishes `message` to the shard channel `channel` (Redis `SPUBLISH`) and returns
    /// how many shard subscriptions ([`Subscriber::ssubscribe`]) will receive it. On one
    /// node sharded Pub/Sub is Pub/Sub on a channel space of its own: a shard channel and
    /// an ordinary channel of the same name are different channels, and patterns match
    /// no shard channel.
    ///
    /// # Errors
    /// As [`Db::publish`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// let mut sub = db.subscriber()?;
    /// sub.ssubscribe(&["orders"])?;
    /// assert_eq!(db.publish("orders", "not for a shard subscriber")?, 0);
    /// assert_eq!(db.spublish("orders", "o1")?, 1);
    /// let m = sub.next_message(Some(Duration::from_secs(5)))?.expect("a message");
    /// assert!(m.shard);
    /// assert_eq!(m.payload, b"o1");
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn spublish(&self, channel: impl AsRef<[u8]>, message: impl AsRef<[u8]>) -> Result<u64> {
        let (channel, message) = (channel.as_ref(), message.as_ref());
        let ps = self.inner.pubsub()?;
        let mut n = 0;
        ps.scan(|e| {
            if e.kind == KIND_SHARD && e.name == channel {
                n += e.count;
            }
        });
        ps.publish(channel, message, true)?;
        Ok(n)
    }

    /// A subscriber with no subscriptions yet; see [`Subscriber::subscribe`].
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only handle, I/O errors opening `ziggy.pubsub`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// assert_eq!(sub.subscription_count(), 0);
    /// sub.subscribe(&["a"])?;
    /// assert_eq!(db.publish("a", "m")?, 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn subscriber(&self) -> Result<Subscriber> {
        let ps = self.inner.pubsub()?;
        let next = ps.head();
        Ok(Subscriber {
            db: self.clone(),
            ps,
            next,
            channels: Vec::new(),
            patterns: Vec::new(),
            shards: Vec::new(),
            pending: VecDeque::new(),
        })
    }

    /// A subscriber to `channels` (Redis `SUBSCRIBE`).
    ///
    /// # Errors
    /// As [`Db::subscriber`] and [`Subscriber::subscribe`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let sub = db.subscribe(&["orders", "refunds"])?;
    /// assert_eq!(sub.channels().collect::<Vec<_>>(), [&b"orders"[..], b"refunds"]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn subscribe<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<Subscriber> {
        let mut s = self.subscriber()?;
        s.subscribe(channels)?;
        Ok(s)
    }

    /// A subscriber to the channels matching `patterns` (Redis `PSUBSCRIBE`; glob-style
    /// patterns as [`glob_match`] reads them).
    ///
    /// # Errors
    /// As [`Db::subscriber`] and [`Subscriber::psubscribe`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// let mut sub = db.psubscribe(&["user:*"])?;
    /// assert_eq!(db.publish("user:7", "hi")?, 1);
    /// let m = sub.next_message(Some(Duration::from_secs(5)))?.expect("a message");
    /// assert_eq!(m.pattern.as_deref(), Some(&b"user:*"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn psubscribe<P: AsRef<[u8]>>(&self, patterns: &[P]) -> Result<Subscriber> {
        let mut s = self.subscriber()?;
        s.psubscribe(patterns)?;
        Ok(s)
    }

    /// The channels with at least one subscriber in any process, those matching `pattern`
    /// if given (Redis `PUBSUB CHANNELS`), sorted.
    ///
    /// # Errors
    /// As [`Db::subscriber`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let _sub = db.subscribe(&["news", "sports"])?;
    /// assert_eq!(db.pubsub_channels(None)?, [b"news".to_vec(), b"sports".to_vec()]);
    /// assert_eq!(db.pubsub_channels(Some(b"n*"))?, [b"news".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pubsub_channels(&self, pattern: Option<&[u8]>) -> Result<Vec<Vec<u8>>> {
        let ps = self.inner.pubsub()?;
        let mut out = std::collections::BTreeSet::new();
        ps.scan(|e| {
            if e.kind == KIND_CHANNEL
                && e.count > 0
                && pattern.is_none_or(|p| glob_match(p, &e.name))
            {
                out.insert(e.name.clone());
            }
        });
        Ok(out.into_iter().collect())
    }

    /// The number of subscribers of each of `channels`, across processes (Redis
    /// `PUBSUB NUMSUB`; pattern subscriptions are not counted).
    ///
    /// # Errors
    /// As [`Db::subscriber`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let _a = db.subscribe(&["news"])?;
    /// let _b = db.subscribe(&["news"])?;
    /// assert_eq!(db.pubsub_numsub(&["news", "sports"])?, [2, 0]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pubsub_numsub<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<Vec<u64>> {
        let ps = self.inner.pubsub()?;
        let mut out = vec![0; channels.len()];
        ps.scan(|e| {
            if e.kind == KIND_CHANNEL {
                for (i, c) in channels.iter().enumerate() {
                    if c.as_ref() == e.name.as_slice() {
                        out[i] += e.count;
                    }
                }
            }
        });
        Ok(out)
    }

    /// The number of distinct patterns subscribed to in any process (Redis
    /// `PUBSUB NUMPAT`).
    ///
    /// # Errors
    /// As [`Db::subscriber`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let _a = db.psubscribe(&["n*", "s*"])?;
    /// let _b = db.psubscribe(&["n*"])?;
    /// assert_eq!(db.pubsub_numpat()?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pubsub_numpat(&self) -> Result<u64> {
        let ps = self.inner.pubsub()?;
        let mut out = std::collections::BTreeSet::new();
        ps.scan(|e| {
            if e.kind == KIND_PATTERN && e.count > 0 {
                out.insert(e.name.clone());
            }
        });
        Ok(out.len() as u64)
    }

    /// The shard channels with at least one subscriber in any process, those matching
    /// `pattern` if given (Redis `PUBSUB SHARDCHANNELS`), sorted.
    ///
    /// # Errors
    /// As [`Db::subscriber`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// sub.ssubscribe(&["s1", "t1"])?;
    /// assert_eq!(db.pubsub_shardchannels(Some(b"s*"))?, [b"s1".to_vec()]);
    /// assert!(db.pubsub_channels(None)?.is_empty());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pubsub_shardchannels(&self, pattern: Option<&[u8]>) -> Result<Vec<Vec<u8>>> {
        let ps = self.inner.pubsub()?;
        let mut out = std::collections::BTreeSet::new();
        ps.scan(|e| {
            if e.kind == KIND_SHARD && e.count > 0 && pattern.is_none_or(|p| glob_match(p, &e.name))
            {
                out.insert(e.name.clone());
            }
        });
        Ok(out.into_iter().collect())
    }

    /// The number of subscribers of each of the shard channels `channels`, across
    /// processes (Redis `PUBSUB SHARDNUMSUB`).
    ///
    /// # Errors
    /// As [`Db::subscriber`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// sub.ssubscribe(&["s1"])?;
    /// assert_eq!(db.pubsub_shardnumsub(&["s1", "s2"])?, [1, 0]);
    /// assert_eq!(db.pubsub_numsub(&["s1"])?, [0]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pubsub_shardnumsub<C: AsRef<[u8]>>(&self, channels: &[C]) -> Result<Vec<u64>> {
        let ps = self.inner.pubsub()?;
        let mut out = vec![0; channels.len()];
        ps.scan(|e| {
            if e.kind == KIND_SHARD {
                for (i, c) in channels.iter().enumerate() {
                    if c.as_ref() == e.name.as_slice() {
                        out[i] += e.count;
                    }
                }
            }
        });
        Ok(out)
    }
}

/// The subscriptions of one Redis connection: channels and patterns, and the messages
/// published to them since each was subscribed, read with [`Subscriber::next_message`].
///
/// Its subscriptions count for `PUBLISH` and `PUBSUB` in every process until they are
/// unsubscribed, the subscriber is dropped, or its process dies.
pub struct Subscriber {
    db: Db,
    ps: Arc<PubSub>,
    /// Sequence number of the next ring slot to read.
    next: u64,
    /// Channels, in the order subscribed, each with the ring position from which its
    /// messages are delivered.
    channels: Vec<(Vec<u8>, u64)>,
    /// Patterns likewise.
    patterns: Vec<(Vec<u8>, u64)>,
    /// Shard channels likewise.
    shards: Vec<(Vec<u8>, u64)>,
    /// Messages read from the ring and not yet returned (one published message matching
    /// several subscriptions is delivered once for each).
    pending: VecDeque<Message>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("channels", &self.channels.len())
            .field("patterns", &self.patterns.len())
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Subscribes to `channels` (Redis `SUBSCRIBE`); a channel subscribed already is left as
    /// it is. Messages published from now on are delivered.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a name longer than [`MAX_CHANNEL_NAME`] or a full
    /// registry (1024 channels and patterns across processes), [`Error::Forked`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// sub.subscribe(&["a", "b"])?;
    /// sub.subscribe(&["a"])?; // already subscribed: no change
    /// assert_eq!(sub.subscription_count(), 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn subscribe<C: AsRef<[u8]>>(&mut self, channels: &[C]) -> Result<()> {
        for c in channels {
            self.add(KIND_CHANNEL, c.as_ref())?;
        }
        Ok(())
    }

    /// Subscribes to the channels matching `patterns` (Redis `PSUBSCRIBE`).
    ///
    /// # Errors
    /// As [`Subscriber::subscribe`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// sub.psubscribe(&["log:*"])?;
    /// assert_eq!(sub.patterns().collect::<Vec<_>>(), [&b"log:*"[..]]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn psubscribe<P: AsRef<[u8]>>(&mut self, patterns: &[P]) -> Result<()> {
        for p in patterns {
            self.add(KIND_PATTERN, p.as_ref())?;
        }
        Ok(())
    }

    /// Subscribes to the shard channels `channels` (Redis `SSUBSCRIBE`): their messages
    /// are those of [`Db::spublish`], never of [`Db::publish`].
    ///
    /// # Errors
    /// As [`Subscriber::subscribe`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// sub.ssubscribe(&["s"])?;
    /// assert_eq!((sub.subscription_count(), sub.shard_subscription_count()), (0, 1));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn ssubscribe<C: AsRef<[u8]>>(&mut self, channels: &[C]) -> Result<()> {
        for c in channels {
            self.add(KIND_SHARD, c.as_ref())?;
        }
        Ok(())
    }

    /// Unsubscribes from the shard channels `channels`, or from every one if it is empty
    /// (Redis `SUNSUBSCRIBE`); returns those unsubscribed, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// sub.ssubscribe(&["a", "b"])?;
    /// assert_eq!(sub.sunsubscribe::<&str>(&[]), [b"a".to_vec(), b"b".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn sunsubscribe<C: AsRef<[u8]>>(&mut self, channels: &[C]) -> Vec<Vec<u8>> {
        self.remove(KIND_SHARD, channels)
    }

    /// The list of subscriptions of `kind`.
    fn list_mut(&mut self, kind: u64) -> &mut Vec<(Vec<u8>, u64)> {
        match kind {
            KIND_CHANNEL => &mut self.channels,
            KIND_PATTERN => &mut self.patterns,
            _ => &mut self.shards,
        }
    }

    fn add(&mut self, kind: u64, name: &[u8]) -> Result<()> {
        self.db.inner.check_fork()?;
        if self.list_mut(kind).iter().any(|(n, _)| n == name) {
            return Ok(());
        }
        let idle = self.is_idle();
        // The position is read before the subscription is registered: a publisher that
        // counts it wrote its message after this position (format-spec.md §5.4).
        let from = self.ps.head();
        self.ps.register(kind, name)?;
        if idle {
            // Nothing was subscribed, so nothing before now is owed.
            self.next = from;
            self.pending.clear();
        }
        self.list_mut(kind).push((name.to_vec(), from));
        Ok(())
    }

    /// True while nothing is subscribed.
    fn is_idle(&self) -> bool {
        self.channels.is_empty() && self.patterns.is_empty() && self.shards.is_empty()
    }

    /// Unsubscribes from `channels`, or from every channel if it is empty (Redis
    /// `UNSUBSCRIBE`); returns the channels unsubscribed, in order. Messages already read
    /// for them are still delivered.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscribe(&["a", "b", "c"])?;
    /// assert_eq!(sub.unsubscribe(&["b", "zz"]), [b"b".to_vec()]);
    /// assert_eq!(sub.unsubscribe::<&str>(&[]), [b"a".to_vec(), b"c".to_vec()]);
    /// assert_eq!(db.publish("a", "m")?, 0);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn unsubscribe<C: AsRef<[u8]>>(&mut self, channels: &[C]) -> Vec<Vec<u8>> {
        self.remove(KIND_CHANNEL, channels)
    }

    /// Unsubscribes from `patterns`, or from every pattern if it is empty (Redis
    /// `PUNSUBSCRIBE`); returns the patterns unsubscribed, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.psubscribe(&["a*", "b*"])?;
    /// assert_eq!(sub.punsubscribe::<&str>(&[]), [b"a*".to_vec(), b"b*".to_vec()]);
    /// assert_eq!(db.pubsub_numpat()?, 0);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn punsubscribe<P: AsRef<[u8]>>(&mut self, patterns: &[P]) -> Vec<Vec<u8>> {
        self.remove(KIND_PATTERN, patterns)
    }

    fn remove<N: AsRef<[u8]>>(&mut self, kind: u64, names: &[N]) -> Vec<Vec<u8>> {
        let list = self.list_mut(kind);
        let gone: Vec<Vec<u8>> = if names.is_empty() {
            list.drain(..).map(|(n, _)| n).collect()
        } else {
            let mut gone = Vec::new();
            for n in names {
                if let Some(i) = list.iter().position(|(m, _)| m == n.as_ref()) {
                    gone.push(list.remove(i).0);
                }
            }
            gone
        };
        if !self.db.inner.forked() {
            for n in &gone {
                self.ps.unregister(kind, n);
            }
        }
        gone
    }

    /// The channels subscribed to, in the order subscribed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let sub = db.subscribe(&["x", "y"])?;
    /// assert_eq!(sub.channels().count(), 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn channels(&self) -> impl Iterator<Item = &[u8]> {
        self.channels.iter().map(|(n, _)| n.as_slice())
    }

    /// The patterns subscribed to, in the order subscribed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let sub = db.psubscribe(&["x*"])?;
    /// assert_eq!(sub.patterns().next(), Some(&b"x*"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn patterns(&self) -> impl Iterator<Item = &[u8]> {
        self.patterns.iter().map(|(n, _)| n.as_slice())
    }

    /// Channels and patterns subscribed to (the count Redis replies with each
    /// `subscribe` and `unsubscribe`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscribe(&["x"])?;
    /// sub.psubscribe(&["y*"])?;
    /// assert_eq!(sub.subscription_count(), 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn subscription_count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Shard channels subscribed to (the count Redis replies with each `ssubscribe` and
    /// `sunsubscribe`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscribe(&["plain"])?;
    /// sub.ssubscribe(&["s1", "s2"])?;
    /// assert_eq!(sub.shard_subscription_count(), 2);
    /// assert_eq!(sub.subscription_count(), 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn shard_subscription_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard channels subscribed to, in the order subscribed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut sub = db.subscriber()?;
    /// sub.ssubscribe(&["b", "a"])?;
    /// assert_eq!(sub.shard_channels().collect::<Vec<_>>(), [&b"b"[..], b"a"]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn shard_channels(&self) -> impl Iterator<Item = &[u8]> {
        self.shards.iter().map(|(n, _)| n.as_slice())
    }

    /// The next message for this subscriber, waiting for one at most `timeout` (`None`:
    /// as long as it takes); `Ok(None)` if none came by then. The wait sleeps on a futex
    /// that every publish wakes, in any process: no polling.
    ///
    /// A message published to a channel subscribed to and matching patterns subscribed to
    /// comes once for the channel and once for each pattern, as in Redis.
    ///
    /// # Errors
    /// [`Error::SubscriberOverrun`] if publishers overwrote messages before this subscriber
    /// read them (it fell more than the ring behind): every subscription has then ended
    /// (as Redis disconnects such a subscriber), and the messages lost are not delivered;
    /// [`Error::Forked`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// let mut sub = db.subscribe(&["jobs"])?;
    /// sub.psubscribe(&["j*"])?;
    /// db.publish("jobs", "one")?;
    /// let first = sub.next_message(Some(Duration::from_secs(5)))?.expect("for the channel");
    /// let second = sub.next_message(Some(Duration::from_secs(5)))?.expect("for the pattern");
    /// assert_eq!((first.pattern, second.pattern), (None, Some(b"j*".to_vec())));
    /// assert_eq!(sub.next_message(Some(Duration::from_millis(10)))?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn next_message(&mut self, timeout: Option<Duration>) -> Result<Option<Message>> {
        self.next_message_wait(timeout)
    }

    /// [`Subscriber::next_message`] with a [`Wait`]: its timeout, and its cancel token,
    /// whose cancellation (from any thread) ends the wait as if the timeout had passed
    /// (`Ok(None)`). For a caller whose thread waits for messages and must also take other
    /// work (subscribe to more channels, stop) as soon as it comes.
    ///
    /// # Errors
    /// As [`Subscriber::next_message`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::{CancelToken, Wait};
    /// let mut sub = db.subscribe(&["jobs"])?;
    /// let token = CancelToken::new();
    /// let canceller = token.clone();
    /// let t = std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(20));
    ///     canceller.cancel();
    /// });
    /// assert_eq!(sub.next_message_wait(Wait::forever().cancel_on(&token))?, None);
    /// t.join().unwrap();
    /// token.reset();
    /// db.publish("jobs", "one")?;
    /// assert!(sub.next_message_wait(Wait::forever().cancel_on(&token))?.is_some());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn next_message_wait(&mut self, wait: impl Into<Wait>) -> Result<Option<Message>> {
        let wait = wait.into();
        let cancel = wait.cancel_token();
        self.db.inner.check_fork()?;
        let deadline = wait.timeout_duration().map(|t| Instant::now() + t);
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(Some(m));
            }
            if cancel.is_some_and(CancelToken::is_cancelled) {
                return Ok(None);
            }
            if self.is_idle() {
                if cancel.is_some() {
                    // Nothing is owed while nothing is subscribed: wait from the ring's head
                    // for the cancel (or the timeout), waking at each publish.
                    self.next = self.ps.head();
                } else if let Some(d) = deadline {
                    // Nothing can come: wait out the timeout as a subscriber of nothing would.
                    std::thread::sleep(d.saturating_duration_since(Instant::now()));
                    return Ok(None);
                }
            }
            let seq = self.next;
            let Some(read) = self.ps.read(seq, deadline, cancel) else {
                return Ok(None);
            };
            match read {
                Read::Message {
                    channel,
                    payload,
                    slots,
                    shard,
                } => {
                    self.next = seq + slots;
                    self.deliver(seq, channel, payload, shard);
                }
                Read::Damaged { slots } => self.next = seq + slots,
                Read::Overrun => {
                    let behind = self.ps.head().saturating_sub(seq);
                    self.next = self.ps.head();
                    self.unsubscribe::<&[u8]>(&[]);
                    self.punsubscribe::<&[u8]>(&[]);
                    self.sunsubscribe::<&[u8]>(&[]);
                    return Err(Error::SubscriberOverrun {
                        behind: behind * crate::format::pubsub::SLOT_DATA as u64,
                        ring: crate::format::pubsub::SLOTS
                            * crate::format::pubsub::SLOT_DATA as u64,
                    });
                }
            }
        }
    }

    /// Queues the deliveries of the message published at `seq`: for the channel, then for
    /// each matching pattern, each only if subscribed when it was published; a shard
    /// channel's message only for that shard channel.
    fn deliver(&mut self, seq: u64, channel: Vec<u8>, payload: Vec<u8>, shard: bool) {
        if shard {
            if self
                .shards
                .iter()
                .any(|(n, from)| *n == channel && seq >= *from)
            {
                self.pending.push_back(Message {
                    channel,
                    pattern: None,
                    payload,
                    shard: true,
                });
            }
            return;
        }
        if self
            .channels
            .iter()
            .any(|(n, from)| *n == channel && seq >= *from)
        {
            self.pending.push_back(Message {
                channel: channel.clone(),
                pattern: None,
                payload: payload.clone(),
                shard: false,
            });
        }
        for (p, from) in &self.patterns {
            if seq >= *from && glob_match(p, &channel) {
                self.pending.push_back(Message {
                    channel: channel.clone(),
                    pattern: Some(p.clone()),
                    payload: payload.clone(),
                    shard: false,
                });
            }
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.unsubscribe::<&[u8]>(&[]);
        self.punsubscribe::<&[u8]>(&[]);
        self.sunsubscribe::<&[u8]>(&[]);
    }
}

impl Db {
    /// The keyspace notifications enabled, as Redis's `CONFIG GET notify-keyspace-events`
    /// prints them (`""` for none, the default).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert_eq!(db.keyspace_events(), "");
    /// db.set_keyspace_events("KEA")?;
    /// assert_eq!(db.keyspace_events(), "AKE");
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn keyspace_events(&self) -> String {
        events::format(notify_flags(&self.inner))
    }

    /// Enables the keyspace notifications of Redis's letters (`CONFIG SET
    /// notify-keyspace-events`; `""` disables them) for every process on this directory:
    /// every write command run through the command layer (`commands::Session`,
    /// `commands::execute_in`) publishes its events once its transaction commits, and the
    /// expiry pass publishes `expired`. The setting lives in `ziggy.shm` (format-spec.md
    /// §5.4): it lasts while any process has the database open, and is off again after the
    /// last one closes, as Redis's is after a restart.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a letter Redis does not know; [`Error::ReadOnly`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// use ziggydb::commands::{Policy, Session};
    /// db.set_keyspace_events("E$")?;
    /// let mut sub = db.subscribe(&["__keyevent@0__:set"])?;
    /// Session::new(&db, Policy::default()).execute(&[b"SET", b"k", b"v"]);
    /// let m = sub.next_message(Some(Duration::from_secs(5)))?.expect("an event");
    /// assert_eq!(m.payload, b"k");
    /// assert!(db.set_keyspace_events("Ey").is_err());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_keyspace_events(&self, letters: impl AsRef<[u8]>) -> Result<()> {
        self.inner.writable()?;
        let flags = events::parse(letters.as_ref()).ok_or_else(|| {
            Error::InvalidArgument(
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_owned(),
            )
        })?;
        self.inner
            .shm
            .w(W_NOTIFY)
            .store(u64::from(flags), std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl crate::WriteTxn {
    /// Notes the keyspace event `event` of `class` on `key` in the database `db`, as the
    /// enabled classes `flags` ask: published when the transaction commits, dropped if it
    /// rolls back.
    pub(crate) fn note_event(&mut self, flags: u32, db: u32, class: u32, event: &str, key: &[u8]) {
        format_event(&mut self.notes, flags, db, class, event, key);
    }
}
