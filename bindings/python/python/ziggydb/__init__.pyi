"""Type stubs of the ziggydb package."""

import builtins
import os
import datetime
from collections.abc import MutableMapping, MutableSet
from typing import Any, ClassVar, Dict, Iterator, List as _List, Literal, Optional, Tuple, Type, Union
from types import TracebackType

__version__: str
__all__ = [
    "open",
    "Db",
    "Transaction",
    "PubSub",
    "List",
    "Hash",
    "Set",
    "SortedSet",
    "Error",
    "ResponseError",
    "CorruptionError",
    "IoError",
    "PermissionDeniedError",
    "DiskFullError",
    "CompactNeedsSpaceError",
    "ReadOnlyFileSystemError",
    "OutOfMemoryError",
    "CorruptWalError",
    "ChecksumMismatchError",
    "CorruptSegmentError",
    "CorruptIndexError",
    "CorruptManifestError",
    "CorruptShmError",
    "CorruptCollectionError",
    "CorruptValueError",
    "ManifestMissingError",
    "NeedsRecoveryError",
    "NotADatabaseError",
    "NotADirectoryError",
    "IncompatibleVersionError",
    "SymlinkError",
    "NotRegularFileError",
    "ModeMismatchError",
    "OptionsMismatchError",
    "OpenReadWriteError",
    "InUseError",
    "BusyError",
    "PoisonedError",
    "ReadOnlyError",
    "ForkedError",
    "TxnActiveError",
    "SubscriberOverrunError",
    "SnapshotTooOldError",
    "InvalidArgumentError",
    "KeyTooLargeError",
    "ValueTooLargeError",
    "BadImportLineError",
    "WrongTypeError",
    "NotAnIntegerError",
    "NotAFloatError",
    "OverflowError",
    "InvalidJsonError",
    "NoSuchKeyError",
    "IndexOutOfRangeError",
]

_Key = Union[str, bytes]
_JSON = Union[Dict[str, Any], _List[Any]]
_Value = Union[bytes, str, bool, int, float, datetime.datetime, _JSON]
"""What set() takes and get() returns: bytes (or bytearray, stored as bytes), str, bool,
int (64-bit), float, an aware datetime (a timestamp in ms), dict or list (_JSON)."""
_Arg = Union[str, bytes, bytearray, int, float]
_Reply = Any
"""A command's reply: int, bytes (str with decode_responses), str (a status), None, float,
bool, list or dict of replies."""

def open(
    path: Union[str, "os.PathLike[str]"],
    *,
    durability: Literal["immediate", "batched"] = "immediate",
    max_delay: Optional[float] = None,
    lock_timeout: Optional[float] = ...,
    read_only: bool = False,
    segment_size: Optional[int] = None,
    auto_compact: bool = True,
    active_expiry: bool = True,
    mode: Optional[int] = None,
    decode_responses: bool = False,
) -> Db: ...

class _Calls:
    def get(self, key: _Key) -> Optional[_Value]: ...
    def set(
        self,
        key: _Key,
        value: Union[_Value, bytearray],
        ex: Union[int, float, datetime.timedelta, None] = None,
        px: Optional[int] = None,
    ) -> None: ...
    def delete(self, key: _Key) -> bool: ...
    def incr(self, key: _Key, by: int = 1) -> int: ...
    def exists(self, key: _Key) -> bool: ...
    def __contains__(self, key: _Key) -> bool: ...
    def execute(self, *args: _Arg) -> _Reply: ...
    def list(self, key: _Key) -> List: ...
    def hash(self, key: _Key) -> Hash: ...
    def set_of(self, key: _Key) -> Set: ...
    def sortedset(self, key: _Key) -> SortedSet: ...

class Db(_Calls):
    def __new__(
        cls,
        path: Union[str, "os.PathLike[str]"],
        *,
        durability: Literal["immediate", "batched"] = "immediate",
        max_delay: Optional[float] = None,
        lock_timeout: Optional[float] = ...,
        read_only: bool = False,
        segment_size: Optional[int] = None,
        auto_compact: bool = True,
        active_expiry: bool = True,
        mode: Optional[int] = None,
        decode_responses: bool = False,
    ) -> Db: ...
    @property
    def path(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def decode_responses(self) -> bool: ...
    def close(self) -> None: ...
    def __enter__(self) -> Db: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
    def __len__(self) -> int: ...
    def keys(self, pattern: Optional[_Key] = None) -> _List[Union[bytes, str]]: ...
    def transaction(self) -> Transaction: ...
    def pubsub(self, ignore_subscribe_messages: bool = False) -> PubSub: ...
    def sync(self) -> None: ...

_Message = Dict[str, Any]

class PubSub:
    ignore_subscribe_messages: bool
    def __init__(self, db: Db, ignore_subscribe_messages: bool = False) -> None: ...
    def subscribe(self, *channels: _Key) -> None: ...
    def psubscribe(self, *patterns: _Key) -> None: ...
    def unsubscribe(self, *channels: _Key) -> None: ...
    def punsubscribe(self, *patterns: _Key) -> None: ...
    @property
    def subscribed(self) -> bool: ...
    def get_message(
        self, timeout: Optional[float] = 0.0, ignore_subscribe_messages: bool = False
    ) -> Optional[_Message]: ...
    def listen(self) -> Iterator[_Message]: ...
    def __iter__(self) -> Iterator[_Message]: ...
    def close(self) -> None: ...
    def __enter__(self) -> PubSub: ...
    def __exit__(self, *exc: Any) -> None: ...

class Transaction(_Calls):
    def __new__(cls, db: Db) -> Transaction: ...
    @property
    def active(self) -> bool: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException] = None,
        tb: Optional[TracebackType] = None,
    ) -> bool: ...

_Elem = Union[bytes, str]

class List:
    key: _Key
    def push(self, *values: _Arg) -> int: ...
    def pushleft(self, *values: _Arg) -> int: ...
    def append(self, value: _Arg) -> None: ...
    def extend(self, values: Any) -> None: ...
    def pop(self) -> Optional[_Elem]: ...
    def popleft(self) -> Optional[_Elem]: ...
    def range(self, start: int = 0, end: int = -1) -> _List[_Elem]: ...
    def remove(self, value: _Arg, count: int = 0) -> int: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_Elem]: ...
    def __getitem__(self, index: Union[int, slice]) -> Any: ...
    def __setitem__(self, index: int, value: _Arg) -> None: ...
    def __contains__(self, value: object) -> bool: ...

class Hash(MutableMapping[Any, Any]):
    key: _Key
    def __getitem__(self, field: _Arg) -> _Elem: ...
    def __setitem__(self, field: _Arg, value: _Arg) -> None: ...
    def __delitem__(self, field: _Arg) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_Elem]: ...
    def update(self, other: Any = ..., **kw: Any) -> None: ...  # type: ignore[override]
    def to_dict(self) -> Dict[_Elem, _Elem]: ...
    def clear(self) -> None: ...

class Set(MutableSet[Any]):
    key: _Key
    def add(self, *members: _Arg) -> int: ...  # type: ignore[override]
    def discard(self, *members: _Arg) -> int: ...  # type: ignore[override]
    def remove(self, member: _Arg) -> None: ...
    def members(self) -> builtins.set[_Elem]: ...
    def __contains__(self, member: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_Elem]: ...
    def clear(self) -> None: ...

class SortedSet:
    key: _Key
    def add(self, mapping: Optional[Dict[Any, float]] = None, **kw: float) -> int: ...
    def score(self, member: _Arg) -> Optional[float]: ...
    def incr(self, member: _Arg, by: float = 1.0) -> float: ...
    def rank(self, member: _Arg, reverse: bool = False) -> Optional[int]: ...
    def range(
        self, start: int = 0, end: int = -1, withscores: bool = False, reverse: bool = False
    ) -> _List[Any]: ...
    def range_by_score(
        self, min: Union[float, str] = "-inf", max: Union[float, str] = "+inf",
        withscores: bool = False,
    ) -> _List[Any]: ...
    def remove(self, *members: _Arg) -> int: ...
    def clear(self) -> None: ...
    def __getitem__(self, member: _Arg) -> float: ...
    def __setitem__(self, member: _Arg, score: float) -> None: ...
    def __delitem__(self, member: _Arg) -> None: ...
    def __contains__(self, member: object) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_Elem]: ...

class Error(Exception):
    """Base class of every ZiggyDB error."""
    code: ClassVar[Optional[int]]
    code_name: ClassVar[Optional[str]]

class CorruptionError(Error): ...
class ResponseError(Error): ...

class IoError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class PermissionDeniedError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class DiskFullError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CompactNeedsSpaceError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class ReadOnlyFileSystemError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class OutOfMemoryError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CorruptWalError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class ChecksumMismatchError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CorruptSegmentError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CorruptIndexError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CorruptManifestError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CorruptShmError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CorruptCollectionError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class CorruptValueError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class ManifestMissingError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class NeedsRecoveryError(CorruptionError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class NotADatabaseError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class NotADirectoryError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class IncompatibleVersionError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class SymlinkError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class NotRegularFileError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class ModeMismatchError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class OptionsMismatchError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class OpenReadWriteError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class InUseError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class BusyError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class PoisonedError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class ReadOnlyError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class ForkedError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class TxnActiveError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class SubscriberOverrunError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class SnapshotTooOldError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class InvalidArgumentError(Error, builtins.ValueError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class KeyTooLargeError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class ValueTooLargeError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class BadImportLineError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class WrongTypeError(ResponseError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class NotAnIntegerError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class NotAFloatError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class OverflowError(Error, builtins.OverflowError):
    code: ClassVar[int]
    code_name: ClassVar[str]

class InvalidJsonError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class NoSuchKeyError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]

class IndexOutOfRangeError(Error):
    code: ClassVar[int]
    code_name: ClassVar[str]
