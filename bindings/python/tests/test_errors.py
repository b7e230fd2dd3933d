"""The exception classes mirror the library's error codes; open's errors and options."""
import os

import pytest

import ziggydb

# The library's table (README "Errors"): code, name, class.
CODES = {
    10: "IoError", 11: "PermissionDeniedError", 12: "DiskFullError",
    13: "CompactNeedsSpaceError", 14: "ReadOnlyFileSystemError", 15: "OutOfMemoryError",
    20: "CorruptWalError", 21: "ChecksumMismatchError", 22: "CorruptSegmentError",
    23: "CorruptIndexError", 24: "CorruptManifestError", 25: "CorruptShmError",
    26: "CorruptCollectionError", 27: "CorruptValueError", 28: "ManifestMissingError",
    29: "NeedsRecoveryError", 40: "NotADatabaseError", 41: "NotADirectoryError",
    42: "IncompatibleVersionError", 43: "SymlinkError", 44: "NotRegularFileError",
    45: "ModeMismatchError", 46: "OptionsMismatchError", 47: "OpenReadWriteError",
    48: "InUseError", 60: "BusyError", 61: "PoisonedError", 62: "ReadOnlyError",
    63: "ForkedError", 64: "TxnActiveError", 80: "InvalidArgumentError",
    81: "KeyTooLargeError", 82: "ValueTooLargeError", 83: "BadImportLineError",
    100: "WrongTypeError", 101: "NotAnIntegerError", 102: "NotAFloatError",
    103: "OverflowError", 104: "InvalidJsonError", 105: "NoSuchKeyError",
    106: "IndexOutOfRangeError",
}


@pytest.mark.parametrize("code,name", sorted(CODES.items()))
def test_one_class_per_code(code, name):
    cls = getattr(ziggydb, name)
    assert issubclass(cls, ziggydb.Error) and issubclass(cls, Exception)
    assert cls.code == code
    assert cls.__module__ == "ziggydb"
    if 20 <= code <= 29:
        assert issubclass(cls, ziggydb.CorruptionError)


def test_groups():
    assert issubclass(ziggydb.ResponseError, ziggydb.Error)
    assert issubclass(ziggydb.CorruptionError, ziggydb.Error)
    assert issubclass(ziggydb.WrongTypeError, ziggydb.ResponseError)
    assert issubclass(ziggydb.InvalidArgumentError, ValueError)
    assert ziggydb.Error.code is None


def test_not_a_database(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ziggydb.NotADatabaseError) as e:
        ziggydb.open(str(tmp_path))
    assert e.value.code == 40 and "not a ZiggyDB database directory" in str(e.value)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_not_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ziggydb.NotADirectoryError, match="is not a directory"):
        ziggydb.open(str(f))


def test_read_only(path):
    with ziggydb.open(path) as db:
        db.set("k", 1)
    with ziggydb.open(path, read_only=True) as db:
        assert db.get("k") == 1
        with pytest.raises(ziggydb.ReadOnlyError):
            db.set("k", 2)
        with pytest.raises(ziggydb.ReadOnlyError):
            db.incr("k")
        with pytest.raises(ziggydb.ResponseError):
            db.execute("SET", "k", 3)
    with ziggydb.open(path) as db:
        assert db.get("k") == 1


def test_options_mismatch_in_one_process(path):
    with ziggydb.open(path):
        with pytest.raises(ziggydb.OptionsMismatchError, match="durability"):
            ziggydb.open(path, durability="batched")


def test_bad_options(path):
    with pytest.raises(ValueError, match="durability"):
        ziggydb.open(path, durability="sometimes")
    with pytest.raises(ValueError, match="max_delay"):
        ziggydb.open(path, max_delay=0.1)
    with pytest.raises(ValueError, match="max_delay"):
        ziggydb.open(path, durability="batched", max_delay=-1)
    with pytest.raises(ValueError, match="lock_timeout"):
        ziggydb.open(path, lock_timeout=-1)
    with pytest.raises(TypeError):
        ziggydb.open(path, no_such_option=1)
    with pytest.raises(ziggydb.InvalidArgumentError):
        ziggydb.open(path, segment_size=0)


def test_batched_durability_and_sync(path):
    with ziggydb.open(path, durability="batched", max_delay=0.01) as db:
        db.set("k", "v")
        db.sync()
        assert db.get("k") == "v"
    with ziggydb.open(path) as db:
        assert db.get("k") == "v"


def test_options_are_used(path):
    with ziggydb.open(path, lock_timeout=None, auto_compact=False, active_expiry=False,
                      mode=0o640) as db:
        db.set("k", 1)
    assert os.stat(os.path.join(path, "MANIFEST")).st_mode & 0o777 == 0o640
    with pytest.raises(ziggydb.ModeMismatchError):
        ziggydb.open(path, mode=0o600)


def test_close_and_context_manager(path):
    db = ziggydb.open(path)
    assert not db.closed and db.path == path
    db.set("k", 1)
    db.close()
    db.close()  # idempotent
    assert db.closed and "closed" in repr(db)
    with pytest.raises(ValueError, match="closed"):
        db.get("k")
    with ziggydb.open(path) as db2:
        assert db2.get("k") == 1
    assert db2.closed
    # A closed handle's options no longer bind the directory.
    with ziggydb.open(path, durability="batched") as db3:
        assert db3.get("k") == 1


def test_context_manager_closes_on_exception(path):
    with pytest.raises(RuntimeError):
        with ziggydb.open(path) as db:
            raise RuntimeError
    assert db.closed


