"""ZiggyDB: an embedded key-value database shared by many processes on one machine.

    import ziggydb

    with ziggydb.open("data") as db:
        db.set("greeting", "hello")
        db.incr("visits")
        with db.transaction() as tx:
            tx.set("a", 1)
            tx.execute("RPUSH", "jobs", "job-1")
        db.get("greeting")            # 'hello'
        db.execute("LRANGE", "jobs", 0, -1)  # [b'job-1']

See README.md beside this package for the whole API.
"""

from collections.abc import MutableMapping, MutableSet
from typing import Any, Iterator, Optional, Union

from . import _ziggydb
from ._ziggydb import *  # noqa: F401,F403  (the exception classes)
from ._ziggydb import __version__  # noqa: F401

__all__ = ["open", "Db", "Transaction", "PubSub", "List", "Hash", "Set", "SortedSet"] + sorted(
    name for name in dir(_ziggydb) if name.endswith("Error")
)


class _Collections:
    """The collection helpers of a Db and of a Transaction (each call one command)."""

    __slots__ = ()

    def list(self, key: Union[str, bytes]) -> "List":
        """The list at `key` (LPUSH, RPUSH, LRANGE, ...): len, iteration, indexing, slices."""
        return List(self, key)

    def hash(self, key: Union[str, bytes]) -> "Hash":
        """The hash at `key` (HSET, HGET, ...), as a mutable mapping of field to value."""
        return Hash(self, key)

    def set_of(self, key: Union[str, bytes]) -> "Set":
        """The set at `key` (SADD, SISMEMBER, ...), as a mutable set of members."""
        return Set(self, key)

    def sortedset(self, key: Union[str, bytes]) -> "SortedSet":
        """The sorted set at `key` (ZADD, ZSCORE, ZRANGE, ...): member -> score."""
        return SortedSet(self, key)


class Db(_Collections, _ziggydb.Db):
    """A database handle; see `open`. Safe to share between threads."""

    __slots__ = ()

    def transaction(self) -> "Transaction":
        """Begins a write transaction, waiting for the writer lock of every process.

        `with db.transaction() as tx:` commits at the end of the block and rolls back if
        the block raises; `tx.commit()` / `tx.rollback()` end it by hand.
        """
        return Transaction(self)

    def pubsub(self, ignore_subscribe_messages: bool = False) -> "PubSub":
        """A Pub/Sub subscriber with a session of its own (as redis-py's `pubsub()`):
        `subscribe`, `psubscribe`, then `get_message(timeout=...)` or iteration."""
        return PubSub(self, ignore_subscribe_messages)


class Transaction(_Collections, _ziggydb.Transaction):
    """A write transaction: the calls of a Db, seeing the transaction's own writes."""

    __slots__ = ()


def open(path, **options) -> Db:  # noqa: A001  (as sqlite3.connect / lmdb.open)
    """Opens (creating if needed) the database in directory `path`.

    Options (keywords): durability ("immediate", the default: a commit returns once on
    disk; or "batched": once visible to every process, on disk within max_delay seconds,
    0.05 by default), max_delay, lock_timeout (seconds to wait for the writer lock, 10;
    None waits forever), read_only, segment_size, auto_compact, active_expiry, mode (file
    mode of a new database, e.g. 0o660), decode_responses (execute gives bulk replies as
    str, not bytes).
    """
    return Db(path, **options)


class PubSub:
    """A subscriber: messages published by any process on the directory (PUBLISH) to the
    channels and patterns it subscribed to, in publish order per publisher. Use it from one
    thread at a time; close it (or use `with db.pubsub() as p:`) to end its subscriptions.

    Each message is a dict as redis-py gives it: `type` ("subscribe", "message",
    "pmessage", "unsubscribe", ...), `pattern` (the pattern of a pmessage, else None),
    `channel` and `data` (the payload, or the subscription count of a (un)subscribe
    reply). Channels and payloads are bytes, or str with decode_responses=True.
    """

    _SUBSCRIBE_KINDS = frozenset(["subscribe", "psubscribe", "unsubscribe", "punsubscribe"])

    def __init__(self, db: Db, ignore_subscribe_messages: bool = False) -> None:
        self._s = db._pubsub()
        self._pending: "list[Any]" = []
        self.ignore_subscribe_messages = ignore_subscribe_messages

    def _run(self, *args) -> None:
        self._pending.extend(self._s.execute(*args))

    def subscribe(self, *channels: Union[str, bytes]) -> None:
        """Subscribes to each channel (SUBSCRIBE)."""
        self._run("SUBSCRIBE", *channels)

    def psubscribe(self, *patterns: Union[str, bytes]) -> None:
        """Subscribes to each glob-style pattern (PSUBSCRIBE), e.g. "news.*"."""
        self._run("PSUBSCRIBE", *patterns)

    def unsubscribe(self, *channels: Union[str, bytes]) -> None:
        """Unsubscribes from the channels, or from every channel if none is given."""
        self._run("UNSUBSCRIBE", *channels)

    def punsubscribe(self, *patterns: Union[str, bytes]) -> None:
        """Unsubscribes from the patterns, or from every pattern if none is given."""
        self._run("PUNSUBSCRIBE", *patterns)

    @property
    def subscribed(self) -> bool:
        """Whether it has a channel or pattern."""
        return bool(self._s.subscribed)

    def get_message(
        self, timeout: Optional[float] = 0.0, ignore_subscribe_messages: bool = False
    ) -> "Optional[dict[str, Any]]":
        """The next message as a dict, waiting up to `timeout` seconds (0: only what is
        there; None: until one comes), or None. The GIL is released while it waits, and
        Ctrl-C raises KeyboardInterrupt. A subscriber that fell further behind than the
        shared ring holds gets SubscriberOverrunError and is no longer subscribed."""
        if self._pending:
            raw = self._pending.pop(0)
        else:
            raw = self._s.next(timeout)
            if raw is None:
                return None
        kind = _dec(raw[0])
        if len(raw) == 4:
            msg = {"type": kind, "pattern": raw[1], "channel": raw[2], "data": raw[3]}
        else:
            msg = {"type": kind, "pattern": None, "channel": raw[1], "data": raw[2]}
        if kind in self._SUBSCRIBE_KINDS and (
            ignore_subscribe_messages or self.ignore_subscribe_messages
        ):
            return None
        return msg

    def listen(self) -> "Iterator[dict[str, Any]]":
        """The messages as they come, while subscribed."""
        while self._pending or self.subscribed:
            msg = self.get_message(timeout=None)
            if msg is not None:
                yield msg

    def __iter__(self) -> "Iterator[dict[str, Any]]":
        return self.listen()

    def close(self) -> None:
        """Ends every subscription."""
        self._pending.clear()
        self._s.close()

    def __enter__(self) -> "PubSub":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _dec(x):
    return x.decode() if isinstance(x, bytes) else x


class _Helper:
    __slots__ = ("_on", "key")

    def __init__(self, on, key):
        self._on = on
        self.key = key

    def _x(self, *args):
        return self._on.execute(*args)

    def __repr__(self):
        return f"<ziggydb.{type(self).__name__} {self.key!r}>"

    def clear(self) -> None:
        """Deletes the whole collection (DEL)."""
        self._on.delete(self.key)


class List(_Helper):
    """A list (Redis list commands). Elements come back as execute returns bulk replies:
    bytes, or str with decode_responses=True."""

    __slots__ = ()

    def push(self, *values) -> int:
        """Appends at the tail (RPUSH); the new length."""
        return self._x("RPUSH", self.key, *values)

    def append(self, value) -> None:
        """Appends one value at the tail (RPUSH)."""
        self._x("RPUSH", self.key, value)

    def extend(self, values) -> None:
        """Appends every value at the tail (RPUSH)."""
        values = list(values)
        if values:
            self._x("RPUSH", self.key, *values)

    def pushleft(self, *values) -> int:
        """Prepends at the head (LPUSH); the new length."""
        return self._x("LPUSH", self.key, *values)

    def pop(self):
        """Removes and returns the tail (RPOP); None if the list is empty."""
        return self._x("RPOP", self.key)

    def popleft(self):
        """Removes and returns the head (LPOP); None if the list is empty."""
        return self._x("LPOP", self.key)

    def range(self, start: int = 0, end: int = -1) -> list:
        """Elements start..end, both inclusive, negative from the end (LRANGE)."""
        return self._x("LRANGE", self.key, start, end)

    def remove(self, value, count: int = 0) -> int:
        """Removes occurrences of value (LREM; 0 = all); how many."""
        return self._x("LREM", self.key, count, value)

    def __len__(self) -> int:
        return self._x("LLEN", self.key)

    def __iter__(self) -> Iterator:
        return iter(self.range())

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step not in (None, 1):
                return self.range()[index]
            start = 0 if index.start is None else index.start
            if index.stop is None:
                end = -1
            elif index.stop == 0:
                return []
            else:
                end = index.stop - 1
            if start >= 0 and end >= 0 and end < start:
                return []
            return self.range(start, end)
        n = self._x("LINDEX", self.key, index)
        if n is None:
            raise IndexError("list index out of range")
        return n

    def __setitem__(self, index: int, value) -> None:
        try:
            self._x("LSET", self.key, index, value)
        except _ziggydb.ResponseError as e:
            if "out of range" in str(e) or "no such key" in str(e):
                raise IndexError("list index out of range") from e
            raise

    def __contains__(self, value) -> bool:
        return self._x("LPOS", self.key, value) is not None


class Hash(_Helper, MutableMapping):
    """A hash as a mutable mapping of field to value (values as bulk replies)."""

    __slots__ = ()

    def __getitem__(self, field):
        v = self._x("HGET", self.key, field)
        if v is None:
            raise KeyError(field)
        return v

    def __setitem__(self, field, value) -> None:
        self._x("HSET", self.key, field, value)

    def __delitem__(self, field) -> None:
        if not self._x("HDEL", self.key, field):
            raise KeyError(field)

    def __len__(self) -> int:
        return self._x("HLEN", self.key)

    def __iter__(self) -> Iterator:
        return iter(self._x("HKEYS", self.key))

    def __contains__(self, field) -> bool:
        return bool(self._x("HEXISTS", self.key, field))

    def update(self, other=(), **kw) -> None:  # type: ignore[override]
        """Sets many fields in one HSET."""
        pairs = dict(other, **kw)
        if pairs:
            args = []
            for k, v in pairs.items():
                args += [k, v]
            self._x("HSET", self.key, *args)

    def to_dict(self) -> dict:
        """Every field and value at once (HGETALL)."""
        return self._x("HGETALL", self.key)

    def __eq__(self, other):
        if isinstance(other, Hash):
            return self.to_dict() == other.to_dict()
        return self.to_dict() == other

    __hash__ = None  # type: ignore[assignment]


class Set(_Helper, MutableSet):
    """A set of members (as bulk replies)."""

    __slots__ = ()

    def add(self, *members) -> int:  # type: ignore[override]
        """Adds members (SADD); how many were new."""
        return self._x("SADD", self.key, *members)

    def discard(self, *members) -> int:  # type: ignore[override]
        """Removes members if present (SREM); how many were."""
        return self._x("SREM", self.key, *members)

    def remove(self, member) -> None:
        if not self._x("SREM", self.key, member):
            raise KeyError(member)

    def members(self) -> set:
        """Every member at once (SMEMBERS), as a Python set."""
        return set(self._x("SMEMBERS", self.key))

    def __contains__(self, member) -> bool:
        return bool(self._x("SISMEMBER", self.key, member))

    def __len__(self) -> int:
        return self._x("SCARD", self.key)

    def __iter__(self) -> Iterator:
        return iter(self._x("SMEMBERS", self.key))

    @classmethod
    def _from_iterable(cls, it):
        return set(it)

    __hash__ = None  # type: ignore[assignment]


class SortedSet(_Helper):
    """A sorted set: members with float scores (ZADD, ZSCORE, ZRANGE, ...)."""

    __slots__ = ()

    def add(self, mapping=None, **kw) -> int:
        """Adds or updates members from {member: score} (ZADD); how many were new."""
        pairs = dict(mapping or {}, **kw)
        args = []
        for member, score in pairs.items():
            args += [score, member]
        if not args:
            return 0
        return self._x("ZADD", self.key, *args)

    def score(self, member) -> Optional[float]:
        """The score of member (ZSCORE), or None."""
        return self._x("ZSCORE", self.key, member)

    def incr(self, member, by: float = 1.0) -> float:
        """Adds `by` to member's score (ZINCRBY); the new score."""
        return self._x("ZINCRBY", self.key, by, member)

    def rank(self, member, reverse: bool = False) -> Optional[int]:
        """The member's 0-based rank by score (ZRANK / ZREVRANK), or None."""
        return self._x("ZREVRANK" if reverse else "ZRANK", self.key, member)

    def range(self, start: int = 0, end: int = -1, withscores: bool = False,
              reverse: bool = False) -> list:
        """Members by rank start..end inclusive (ZRANGE); with scores, (member, score)
        pairs."""
        args = ["ZRANGE", self.key, start, end]
        if reverse:
            args.append("REV")
        if withscores:
            args.append("WITHSCORES")
            return [tuple(p) for p in self._x(*args)]
        return self._x(*args)

    def range_by_score(self, min: Any = "-inf", max: Any = "+inf",
                       withscores: bool = False) -> list:
        """Members with min <= score <= max (ZRANGEBYSCORE; "(" for exclusive bounds)."""
        args = ["ZRANGEBYSCORE", self.key, min, max]
        if withscores:
            args.append("WITHSCORES")
            return [tuple(p) for p in self._x(*args)]
        return self._x(*args)

    def remove(self, *members) -> int:
        """Removes members (ZREM); how many were there."""
        return self._x("ZREM", self.key, *members)

    def __getitem__(self, member) -> float:
        s = self.score(member)
        if s is None:
            raise KeyError(member)
        return s

    def __setitem__(self, member, score: float) -> None:
        self._x("ZADD", self.key, score, member)

    def __delitem__(self, member) -> None:
        if not self._x("ZREM", self.key, member):
            raise KeyError(member)

    def __contains__(self, member) -> bool:
        return self.score(member) is not None

    def __len__(self) -> int:
        return self._x("ZCARD", self.key)

    def __iter__(self) -> Iterator:
        return iter(self.range())
