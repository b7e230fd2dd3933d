"""Pub/Sub and blocking pops across processes: a subscriber and a BLPOP woken by the `ziggy`
binary, and a BLPOP or a wait for a message ended by Ctrl-C (a real SIGINT to a child)."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import ziggydb


def ziggy(ziggy_bin, path, *args):
    r = subprocess.run([ziggy_bin, "-d", path, *args], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def next_message(p, kind):
    """The next message of `kind`, waiting generously (a loaded machine)."""
    msg = p.get_message(timeout=60)
    assert msg is not None, f"no {kind} within 60 s"
    assert msg["type"] == kind, msg
    return msg


def test_subscribe_gets_a_message_published_by_another_process(db, path, ziggy_bin):
    with db.pubsub() as p:
        p.subscribe("news", b"other")
        assert p.subscribed
        assert next_message(p, "subscribe") == {
            "type": "subscribe", "pattern": None, "channel": b"news", "data": 1}
        assert next_message(p, "subscribe")["channel"] == b"other"
        assert p.get_message(timeout=0) is None
        ziggy(ziggy_bin, path, "PUBLISH", "news", "first")
        ziggy(ziggy_bin, path, "PUBLISH", "nobody-listens", "x")
        ziggy(ziggy_bin, path, "PUBLISH", "other", b"bin\xffary")
        assert next_message(p, "message") == {
            "type": "message", "pattern": None, "channel": b"news", "data": b"first"}
        assert next_message(p, "message") == {
            "type": "message", "pattern": None, "channel": b"other", "data": b"bin\xffary"}
        assert p.get_message(timeout=0.1) is None
        p.unsubscribe("news")
        assert next_message(p, "unsubscribe") == {
            "type": "unsubscribe", "pattern": None, "channel": b"news", "data": 1}
        ziggy(ziggy_bin, path, "PUBLISH", "news", "not for us")
        ziggy(ziggy_bin, path, "PUBLISH", "other", "second")
        assert next_message(p, "message")["data"] == b"second"


def test_psubscribe_and_iteration(path, ziggy_bin):
    with ziggydb.open(path, decode_responses=True) as db, db.pubsub(
        ignore_subscribe_messages=True
    ) as p:
        p.psubscribe("news.*")
        assert p.get_message(timeout=0) is None  # the psubscribe reply, ignored
        ziggy(ziggy_bin, path, "PUBLISH", "news.tech", "chips")
        ziggy(ziggy_bin, path, "PUBLISH", "sport", "no")
        ziggy(ziggy_bin, path, "PUBLISH", "news.art", "paint")
        got = []
        for msg in p:
            got.append(msg)
            if len(got) == 2:
                break
        assert got == [
            {"type": "pmessage", "pattern": "news.*", "channel": "news.tech", "data": "chips"},
            {"type": "pmessage", "pattern": "news.*", "channel": "news.art", "data": "paint"},
        ]
        p.punsubscribe()
        assert not p.subscribed
        assert list(p) == []  # no subscription left: iteration ends


def test_pubsub_errors(db):
    with pytest.raises(ziggydb.ResponseError, match="SUBSCRIBE is not available through execute"):
        db.execute("SUBSCRIBE", "news")
    p = db.pubsub()
    with pytest.raises(ziggydb.ResponseError, match="wrong number of arguments"):
        p.subscribe()
    with pytest.raises(ValueError, match="timeout must be a finite, non-negative number"):
        p.get_message(timeout=-1)
    p.close()
    with pytest.raises(ValueError, match="the subscriber is closed"):
        p.subscribe("news")


def test_blpop_in_a_thread_is_woken_by_a_push_from_another_process(db, path, ziggy_bin):
    got = []
    t = threading.Thread(target=lambda: got.append(db.execute("BLPOP", "jobs", 0)))
    t.start()
    time.sleep(0.3)
    # The GIL is free while it waits: this thread runs meanwhile.
    assert db.execute("LLEN", "jobs") == 0
    ziggy(ziggy_bin, path, "RPUSH", "jobs", "job-1")
    t.join(120)
    assert not t.is_alive()
    assert got == [[b"jobs", b"job-1"]]
    # Its own timeout still ends it, with nil.
    assert db.execute("BLPOP", "jobs", 0.05) is None


CHILD = r"""
import sys, ziggydb
db = ziggydb.open(sys.argv[1])
try:
    print("waiting", flush=True)
    if sys.argv[2] == "blpop":
        db.execute("BLPOP", "never", 0)
    else:
        p = db.pubsub()
        p.subscribe("quiet")
        p.get_message(timeout=0)
        p.get_message(timeout=None)
    print("returned", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
# The handle still works, and so does a later blocking pop.
db.execute("RPUSH", "after", "x")
print(db.execute("BLPOP", "after", 0), flush=True)
"""


@pytest.mark.parametrize("what", ["blpop", "get_message"])
def test_ctrl_c_ends_a_wait(path, what):
    ziggydb.open(path).close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, what],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "waiting\n"
        time.sleep(0.5)  # into the wait (a SIGINT before it still raises in the try)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert out == "interrupted\n[b'after', b'x']\n", err


def test_an_ignored_sigint_does_not_end_the_wait(path):
    """A process that ignores SIGINT is not interrupted: the wait ends at its timeout."""
    ziggydb.open(path).close()
    code = ("import signal, sys, ziggydb; signal.signal(signal.SIGINT, signal.SIG_IGN);"
            "db = ziggydb.open(sys.argv[1]); print('waiting', flush=True);"
            "print(db.execute('BLPOP', 'never', 2))")
    child = subprocess.Popen([sys.executable, "-c", code, path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "waiting\n"
    time.sleep(0.3)
    os.kill(child.pid, signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert out == "None\n"
