"""Threads, processes (multiprocessing), a Rust process beside a Python one, and fork."""
import multiprocessing
import os
import subprocess
import sys
import threading
import time

import pytest

import ziggydb


def test_threads_share_one_handle(db):
    errors = []

    def work():
        try:
            for _ in range(200):
                db.incr("counter")
                db.get("counter")
                db.execute("INCR", "counter2")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    assert db.get("counter") == 1600
    assert db.execute("GET", "counter2") == b"1600"


def test_threads_with_transactions(db):
    def work():
        for _ in range(50):
            with db.transaction() as tx:
                n = tx.get("n") or 0
                tx.set("n", n + 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert db.get("n") == 200


def test_waiting_for_the_writer_lock_releases_the_gil(db):
    """While a thread waits for the writer lock, Python code in other threads runs."""
    holder_has_lock = threading.Event()
    release = threading.Event()

    def holder():
        with db.transaction() as tx:
            tx.set("a", 1)
            holder_has_lock.set()
            release.wait(60)

    waiter_done = threading.Event()

    def waiter():
        db.incr("a")
        waiter_done.set()

    h = threading.Thread(target=holder)
    h.start()
    assert holder_has_lock.wait(60)
    w = threading.Thread(target=waiter)
    w.start()
    time.sleep(0.1)
    # The waiter is blocked in the lock wait; pure Python here must still run.
    spins = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.3:
        spins += 1
    assert not waiter_done.is_set()
    assert spins > 1000
    release.set()
    h.join(60)
    assert waiter_done.wait(60)
    assert db.get("a") == 2


def _incr_worker(path, n):
    with ziggydb.open(path) as db:
        for _ in range(n):
            db.incr("counter")
    return os.getpid()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_eight_processes_times_500_incr_is_exact(path, method):
    ziggydb.open(path).close()
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(8) as pool:
        pids = pool.starmap(_incr_worker, [(path, 500)] * 8, chunksize=1)
    assert len(set(pids)) >= 2  # really several processes
    with ziggydb.open(path) as db:
        assert db.get("counter") == 4000


def test_python_and_rust_processes_on_one_directory(path, ziggy_bin):
    with ziggydb.open(path) as db:
        db.set("from:python:int", 42)
        db.set("from:python:bytes", b"a\x00b")
        rust = subprocess.Popen(
            [ziggy_bin, "-d", path, "-r", "500", "INCR", "counter"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(500):
            db.incr("counter")
        _, err = rust.communicate(timeout=300)
        assert rust.returncode == 0, err
        assert db.get("counter") == 1000

        def ziggy(*args):
            r = subprocess.run([ziggy_bin, "-d", path, *args], capture_output=True, timeout=120)
            assert r.returncode == 0, r.stderr
            return r.stdout

        # Python's typed values as the Rust CLI reads them, and the other way round.
        assert ziggy("GET", "from:python:int") == b"42\n"
        assert ziggy("--json", "GET", "from:python:bytes").strip() == b'"a\\u0000b"'
        ziggy("SET", "from:rust:float", "0.1", "TYPE", "float")
        ziggy("SET", "from:rust:json", '{"a":[1,null]}', "TYPE", "json")
        ziggy("RPUSH", "from:rust:list", "x", "y")
        assert db.get("from:rust:float") == 0.1
        assert db.get("from:rust:json") == {"a": [1, None]}
        assert db.list("from:rust:list")[:] == [b"x", b"y"]


def _use_parents_handle(db, q):
    try:
        db.get("k")
        q.put(("no error", ""))
    except BaseException as e:  # noqa: B036 - sent to the parent to check
        q.put((type(e).__name__, str(e)))
    try:
        with ziggydb.open(db.path) as own:
            q.put(("own", own.get("k")))
            own.incr("child")
    except BaseException as e:  # noqa: B036
        q.put(("own failed", repr(e)))


def test_handle_used_after_fork_raises_forked_error(db):
    db.set("k", "v")
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_use_parents_handle, args=(db, q))
    p.start()
    kind, msg = q.get(timeout=120)
    own = q.get(timeout=120)
    p.join(120)
    assert p.exitcode == 0
    assert kind == "ForkedError", msg
    assert "open the database again in the child" in msg
    assert own == ("own", "v")
    # The parent's handle is untouched.
    assert db.get("k") == "v"
    assert db.incr("child") == 2


def test_forked_error_class(db):
    assert issubclass(ziggydb.ForkedError, ziggydb.Error)
    assert ziggydb.ForkedError.code == 63


def test_os_fork_write_in_child(db):
    """A write through the parent's handle in an os.fork() child fails too."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            db.set("x", 1)
            os.write(w, b"wrote")
        except ziggydb.ForkedError:
            os.write(w, b"ForkedError")
        except BaseException as e:  # noqa: B036
            os.write(w, type(e).__name__.encode())
        os._exit(0)
    os.close(w)
    got = os.read(r, 100)
    os.waitpid(pid, 0)
    assert got == b"ForkedError"
    assert db.get("x") is None
    db.set("x", 2)
    assert db.get("x") == 2


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
