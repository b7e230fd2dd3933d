"""execute(*args): arguments, and every kind of reply as a Python value."""
import pytest

import ziggydb


def test_integer_reply(db):
    assert db.execute("INCR", "n") == 1
    assert db.execute("INCRBY", "n", 41) == 42
    assert db.execute("DEL", "n", "other") == 1


def test_bulk_reply_is_bytes_and_nil_is_none(db):
    assert db.execute("SET", "k", b"a\x00b\xff") == "OK"
    got = db.execute("GET", "k")
    assert type(got) is bytes and got == b"a\x00b\xff"
    assert db.execute("GET", "missing") is None


def test_status_reply_is_str(db):
    assert db.execute("PING") == "PONG"
    r = db.execute("SET", "k", "v")
    assert type(r) is str and r == "OK"


def test_decode_responses_gives_str(tmp_path):
    with ziggydb.open(str(tmp_path / "db"), decode_responses=True) as db:
        assert db.decode_responses
        db.execute("RPUSH", "l", "a", "\u2713")
        assert db.execute("LRANGE", "l", 0, -1) == ["a", "\u2713"]
        assert db.execute("GET", "missing") is None
        db.execute("HSET", "h", "f", "v")
        assert db.execute("HGETALL", "h") == {"f": "v"}
        assert db.keys() == ["h", "l"] or sorted(db.keys()) == ["h", "l"]
        assert db.list("l")[1] == "\u2713"


def test_array_map_and_double_replies(db):
    assert db.execute("RPUSH", "l", "a", "b", "c") == 3
    assert db.execute("LRANGE", "l", 0, -1) == [b"a", b"b", b"c"]
    assert db.execute("LRANGE", "nope", 0, -1) == []
    assert db.execute("HSET", "h", "f1", "v1", "f2", "v2") == 2
    assert db.execute("HGETALL", "h") == {b"f1": b"v1", b"f2": b"v2"}
    assert db.execute("ZADD", "board", 10, "ada", 2.5, "bob") == 2
    score = db.execute("ZSCORE", "board", "bob")
    assert type(score) is float and score == 2.5
    assert db.execute("ZRANGE", "board", 0, -1, "WITHSCORES") == [[b"bob", 2.5], [b"ada", 10.0]]
    assert db.execute("ZSCORE", "board", "nobody") is None
    assert db.execute("INCRBYFLOAT", "f", 0.5) in (b"0.5", 0.5)
    mixed = db.execute("MGET", "l", "missing", "f")
    assert mixed[1] is None and len(mixed) == 3


def test_nested_array(db):
    db.execute("RPUSH", "l", "a")
    cursor, keys = db.execute("SCAN", 0)
    assert cursor == b"0" and keys == [b"l"]


def test_argument_types(db):
    db.execute("SET", b"bin\x00key", 12)
    assert db.execute("GET", b"bin\x00key") == b"12"
    db.execute("SET", "f", 0.1)
    assert db.execute("GET", "f") == b"0.1"
    db.execute("SET", "big", -9007199254740993)
    assert db.execute("GET", "big") == b"-9007199254740993"
    assert db.execute("INCRBY", "big", 2) == -9007199254740991
    db.execute("SET", "ba", bytearray(b"xy"))
    assert db.execute("GET", "ba") == b"xy"


@pytest.mark.parametrize("arg", [True, None, object(), [1]])
def test_bad_argument_types(db, arg):
    with pytest.raises(TypeError, match="argument"):
        db.execute("SET", "k", arg)
    assert db.get("k") is None


def test_typed_values_read_as_redis_renders_them(db):
    db.set("i", 42)
    db.set("b", False)
    db.set("j", [1, {"a": None}])
    assert db.execute("GET", "i") == b"42"
    assert db.execute("GET", "b") == b"false"
    assert db.execute("GET", "j") == b'[1,{"a":null}]'


def test_error_reply_is_raised(db):
    with pytest.raises(ziggydb.ResponseError) as e:
        db.execute("NOSUCHCOMMAND", "x")
    assert str(e.value).startswith("ERR unknown command")
    assert isinstance(e.value, ziggydb.Error)
    with pytest.raises(ziggydb.ResponseError, match="^ERR wrong number of arguments"):
        db.execute("GET")
    with pytest.raises(ziggydb.ResponseError, match="^ERR value is not an integer"):
        db.execute("INCRBY", "n", "many")
    with pytest.raises(ziggydb.ResponseError):
        db.execute()


def test_wrongtype_reply_is_wrong_type_error(db):
    db.execute("SET", "s", "v")
    with pytest.raises(ziggydb.WrongTypeError) as e:
        db.execute("LPUSH", "s", "x")
    assert str(e.value).startswith("WRONGTYPE")
    assert isinstance(e.value, ziggydb.ResponseError)
    assert e.value.code == 100
    assert db.get("s") == b"v"  # SET through execute stores bytes, as Redis has them


def test_library_wrong_type_is_the_same_class(db):
    db.execute("RPUSH", "l", "a")
    with pytest.raises(ziggydb.WrongTypeError):
        db.incr("l")


@pytest.mark.parametrize("cmd", ["MULTI", "exec", "BEGIN", "COMMIT", "WATCH", "HELLO"])
def test_connection_commands_point_to_transactions(db, cmd):
    with pytest.raises(ziggydb.ResponseError, match="db.transaction"):
        db.execute(cmd, "k") if cmd in ("WATCH",) else db.execute(cmd)


def test_execute_after_close(path):
    db = ziggydb.open(path)
    db.close()
    with pytest.raises(ValueError, match="closed"):
        db.execute("PING")
