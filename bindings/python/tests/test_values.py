"""get/set/delete/incr with every value type, keys as bytes or str, and their errors."""
import datetime as dt
import math

import pytest

import ziggydb

UTC = dt.timezone.utc

ROUND_TRIPS = [
    b"",
    b"zig\x00gy\xff",
    bytes(range(256)) * 40,
    "",
    "ziggy \u2713 \U0001f680",
    "nul\x00inside",
    0,
    42,
    -9007199254740993,
    2**63 - 1,
    -(2**63),
    0.1,
    -0.0,
    1e308,
    5e-324,
    math.inf,
    -math.inf,
    True,
    False,
    dt.datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    {"lang": "python", "list": [1, 2.5, None, True, "x"], "nested": {"a": {}}},
    [1, "two", [3.0], {"four": None}],
    [],
    {},
    {"unicode": "\u2713", "nul": "a\x00b"},
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=lambda v: type(v).__name__ + ":" + repr(v)[:30])
def test_round_trip_keeps_type_and_value(db, value):
    db.set("k", value)
    got = db.get("k")
    assert type(got) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, got) == math.copysign(1, value)
    assert got == value


def test_nan_round_trips(db):
    db.set("k", math.nan)
    got = db.get("k")
    assert isinstance(got, float) and math.isnan(got)


def test_bool_is_stored_as_bool_not_int(db):
    db.set("b", True)
    assert db.get("b") is True
    # GET renders a bool as Redis does, an int as a number: they are different types.
    db.set("i", 1)
    assert db.execute("GET", "b") == b"true"
    assert db.execute("GET", "i") == b"1"


def test_datetime_in_another_zone_reads_back_as_the_same_instant_in_utc(db):
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    when = dt.datetime(2026, 1, 1, 5, 30, 0, 123000, tzinfo=tz)
    db.set("t", when)
    got = db.get("t")
    assert got == when and got.tzinfo == UTC
    assert got == dt.datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert db.execute("GET", "t") == b"1767225600123"


def test_datetime_keeps_milliseconds_only(db):
    db.set("t", dt.datetime(2026, 1, 1, 0, 0, 0, 123999, tzinfo=UTC))
    assert db.get("t") == dt.datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_naive_datetime_is_refused(db):
    with pytest.raises(ValueError, match="naive datetime"):
        db.set("t", dt.datetime(2026, 1, 1))
    assert db.get("t") is None


def test_json_is_stored_as_json(db):
    db.set("j", {"a": [1, 2]})
    assert db.execute("GET", "j") == b'{"a":[1,2]}'


def test_json_with_nan_is_refused(db):
    with pytest.raises(ValueError):
        db.set("j", {"x": math.nan})
    assert db.get("j") is None


def test_int_beyond_64_bits_is_refused(db):
    with pytest.raises(OverflowError, match="does not fit"):
        db.set("n", 2**63)
    with pytest.raises(OverflowError):
        db.set("n", -(2**63) - 1)
    assert db.get("n") is None


@pytest.mark.parametrize("value", [None, object(), {1, 2}, (1, 2), dt.date(2026, 1, 1), 1j])
def test_unsupported_types_are_a_type_error(db, value):
    with pytest.raises(TypeError, match="cannot store"):
        db.set("k", value)
    assert db.get("k") is None


def test_bytearray_is_stored_as_bytes(db):
    db.set("k", bytearray(b"a\x00b"))
    assert db.get("k") == b"a\x00b"


def test_str_and_bytes_keys_name_the_same_key(db):
    db.set("cl\u00e9", 1)
    assert db.get("cl\u00e9".encode()) == 1
    db.set(b"bin\x00\xffkey", "v")
    assert db.get(b"bin\x00\xffkey") == "v"
    assert b"bin\x00\xffkey" in db.keys()


@pytest.mark.parametrize("key", [1, None, 1.5, ["k"]])
def test_bad_key_type(db, key):
    with pytest.raises(TypeError, match="key must be bytes or str"):
        db.get(key)
    with pytest.raises(TypeError, match="key must be bytes or str"):
        db.set(key, 1)


def test_get_missing_is_none(db):
    assert db.get("nope") is None


def test_delete(db):
    db.set("k", "v")
    assert db.delete("k") is True
    assert db.get("k") is None
    assert db.delete("k") is False


def test_incr(db):
    assert db.incr("n") == 1
    assert db.incr("n") == 2
    assert db.incr("n", by=10) == 12
    assert db.incr("n", -20) == -8
    assert db.get("n") == -8


def test_incr_of_text_is_not_an_integer(db):
    db.set("s", "abc")
    with pytest.raises(ziggydb.NotAnIntegerError) as e:
        db.incr("s")
    assert e.value.code == 101 and e.value.code_name == "NOT_AN_INTEGER"
    assert "not an integer" in str(e.value)


def test_incr_overflow(db):
    db.set("n", 2**63 - 1)
    with pytest.raises(ziggydb.OverflowError) as e:
        db.incr("n")
    assert isinstance(e.value, ziggydb.Error) and isinstance(e.value, OverflowError)
    assert db.get("n") == 2**63 - 1


def test_set_with_ex_and_px(db):
    db.set("a", "v", ex=100)
    ttl = db.execute("TTL", "a")
    assert 98 <= ttl <= 100
    db.set("b", "v", px=100_000)
    assert 98_000 <= db.execute("PTTL", "b") <= 100_000
    db.set("c", "v", ex=dt.timedelta(minutes=2))
    assert 118 <= db.execute("TTL", "c") <= 120
    db.set("a", "v2")
    assert db.execute("TTL", "a") == -1


def test_expired_key_reads_as_missing(db):
    import time

    db.set("a", "v", px=50)
    deadline = time.monotonic() + 30
    while db.get("a") is not None:
        assert time.monotonic() < deadline, "key never expired"
        time.sleep(0.02)
    assert "a" not in db


def test_bad_expiry(db):
    with pytest.raises(ValueError, match="not both"):
        db.set("a", 1, ex=1, px=1)
    with pytest.raises(ValueError, match="positive"):
        db.set("a", 1, ex=0)
    with pytest.raises(ValueError, match="positive"):
        db.set("a", 1, px=-5)
    with pytest.raises(TypeError):
        db.set("a", 1, ex="soon")
    assert db.get("a") is None


def test_exists_contains_len_keys(db):
    assert len(db) == 0 and "a" not in db
    db.set("a", 1)
    db.set("b", 2)
    db.set("c:1", 3)
    assert db.exists("a") and "b" in db and b"c:1" in db
    assert len(db) == 3
    assert sorted(db.keys()) == [b"a", b"b", b"c:1"]
    assert db.keys("c:*") == [b"c:1"]


def test_value_larger_than_a_segment(tmp_path):
    # It goes to a large segment of its own (format-spec.md 3.3); no longer ValueTooLargeError.
    with ziggydb.open(str(tmp_path / "db"), segment_size=1 << 20) as db:
        db.set("big", b"x" * (2 << 20))
        assert db.get("big") == b"x" * (2 << 20)


def test_key_too_large(db):
    with pytest.raises(ziggydb.KeyTooLargeError) as e:
        db.set(b"k" * 70_000, 1)
    assert "70000" in str(e.value)
