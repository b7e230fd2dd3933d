"""with db.transaction() as tx: commit, rollback, tx.execute, and the writer lock."""
import threading
import time

import pytest

import ziggydb


def test_commit_at_the_end_of_the_block(db):
    with db.transaction() as tx:
        tx.set("a", 1)
        tx.set("b", "two")
        assert tx.get("a") == 1  # its own write
        assert db.get("a") is None  # not visible before the commit
        assert tx.active
    assert not tx.active
    assert db.get("a") == 1 and db.get("b") == "two"


def test_rollback_when_the_block_raises(db):
    db.set("a", 1)
    with pytest.raises(KeyError, match="boom"):
        with db.transaction() as tx:
            tx.set("a", 2)
            tx.set("c", 3)
            tx.incr("n")
            raise KeyError("boom")
    assert db.get("a") == 1 and db.get("c") is None and db.get("n") is None
    assert not tx.active


def test_calls_on_tx(db):
    db.set("gone", 1)
    with db.transaction() as tx:
        assert tx.incr("n") == 1
        assert tx.incr("n", by=4) == 5
        assert tx.delete("gone") is True
        assert tx.delete("gone") is False
        assert tx.exists("n") and "n" in tx and "gone" not in tx
        tx.set("t", "v", ex=100)
    assert db.get("n") == 5 and "gone" not in db
    assert 98 <= db.execute("TTL", "t") <= 100


def test_tx_execute(db):
    with db.transaction() as tx:
        assert tx.execute("RPUSH", "l", "a", "b") == 2
        assert tx.execute("LRANGE", "l", 0, -1) == [b"a", b"b"]
        tx.execute("HSET", "h", "f", "v")
        assert tx.execute("HGETALL", "h") == {b"f": b"v"}
        tx.execute("ZADD", "z", 1.5, "m")
        assert tx.execute("ZSCORE", "z", "m") == 1.5
        assert tx.execute("ZRANGE", "z", 0, -1, "WITHSCORES") == [[b"m", 1.5]]
        assert tx.execute("GET", "nope") is None
        assert db.execute("LLEN", "l") == 0
    assert db.execute("LRANGE", "l", 0, -1) == [b"a", b"b"]
    assert db.execute("HGETALL", "h") == {b"f": b"v"}


def test_tx_execute_error_leaves_the_tx_usable(db):
    with db.transaction() as tx:
        tx.set("s", "v")
        with pytest.raises(ziggydb.WrongTypeError):
            tx.execute("RPUSH", "s", "x")
        with pytest.raises(ziggydb.ResponseError, match="not allowed"):
            tx.execute("MULTI")
        tx.execute("RPUSH", "l", "x")
    assert db.get("s") == "v" and db.execute("LLEN", "l") == 1


def test_manual_commit_and_rollback(db):
    tx = db.transaction()
    tx.set("a", 1)
    tx.commit()
    assert db.get("a") == 1
    with pytest.raises(ValueError, match="ended"):
        tx.set("a", 2)
    with pytest.raises(ValueError, match="ended"):
        tx.commit()
    tx = db.transaction()
    tx.set("a", 3)
    tx.rollback()
    tx.rollback()  # does nothing
    assert db.get("a") == 1


def test_dropped_transaction_rolls_back_and_frees_the_lock(db):
    tx = db.transaction()
    tx.set("a", 1)
    del tx
    assert db.get("a") is None
    db.set("b", 1)  # the writer lock is free again
    assert db.get("b") == 1


def test_write_outside_the_tx_on_its_thread_fails_at_once(db):
    with db.transaction() as tx:
        t0 = time.monotonic()
        with pytest.raises(ziggydb.TxnActiveError, match="write through it"):
            db.set("x", 1)
        with pytest.raises(ziggydb.TxnActiveError):
            db.incr("x")
        with pytest.raises(ziggydb.TxnActiveError):
            db.execute("SET", "x", 1)
        with pytest.raises(ziggydb.TxnActiveError):
            db.transaction()
        # Not after a wait for the lock timeout (10 s).
        assert time.monotonic() - t0 < 5
        assert db.execute("GET", "x") is None  # reads are fine
        tx.set("y", 1)
    db.set("x", 1)
    assert db.get("x") == 1 and db.get("y") == 1


def test_another_thread_waits_for_the_commit(db):
    done = []
    with db.transaction() as tx:
        tx.set("a", 1)
        t = threading.Thread(target=lambda: done.append(db.incr("a")))
        t.start()
        time.sleep(0.2)
        assert done == []  # waiting for the writer lock
    t.join(60)
    assert done == [2]


def test_busy_when_the_lock_is_not_free_in_time(tmp_path):
    with ziggydb.open(str(tmp_path / "db"), lock_timeout=0.2) as db:
        errors = []

        def writer():
            try:
                db.set("b", 1)
            except ziggydb.Error as e:
                errors.append(e)

        with db.transaction() as tx:
            tx.set("a", 1)
            t = threading.Thread(target=writer)
            t.start()
            t.join(60)
        assert len(errors) == 1 and isinstance(errors[0], ziggydb.BusyError)
        assert "busy" in str(errors[0]) and errors[0].code == 60
        assert db.get("a") == 1 and db.get("b") is None


def test_collections_in_a_transaction(db):
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.list("jobs").push("j1", "j2")
            tx.hash("user").update({"name": "ada"})
            tx.set_of("tags").add("x")
            tx.sortedset("board").add({"ada": 1})
            assert len(tx.list("jobs")) == 2
            raise RuntimeError("undo")
    assert "jobs" not in db and "user" not in db and "tags" not in db and "board" not in db
    with db.transaction() as tx:
        tx.list("jobs").push("j1", "j2")
        tx.hash("user")["name"] = "ada"
    assert list(db.list("jobs")) == [b"j1", b"j2"]
    assert db.hash("user").to_dict() == {b"name": b"ada"}


def test_write_through_another_handle_on_the_tx_thread_fails_at_once(path):
    # Handles on one directory in one process share the writer lock.
    with ziggydb.open(path, lock_timeout=30) as db, ziggydb.open(path, lock_timeout=30) as db2:
        with db.transaction() as tx:
            t0 = time.monotonic()
            with pytest.raises(ziggydb.TxnActiveError):
                db2.set("x", 1)
            with pytest.raises(ziggydb.TxnActiveError):
                db2.transaction()
            assert time.monotonic() - t0 < 20
            tx.set("y", 1)
        db2.set("x", 1)
        assert db.get("x") == 1 and db2.get("y") == 1
