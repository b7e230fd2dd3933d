#!/usr/bin/env python3
"""The Python worker of the all-languages test (issue 16, "Every language on one directory").

    python3 alllang_worker.py DIR NAME PEERS

Writes this worker's typed values with the typed API, counts, appends to a list in 100
transactions, waits for every peer, then reads and checks every peer's typed values. Prints
`NAME ok` and exits 0, or one line per problem on stderr and exits 1.
"""

import datetime as dt
import math
import struct
import sys
import time

import ziggydb

INT = -9007199254740993
TIMESTAMP_MS = 1767225600123
BYTES = b"zig\x00gy\xff"


def expected(peer):
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return {
        "int": INT,
        "float": 0.1,
        "bool": True,
        "timestamp": epoch + dt.timedelta(milliseconds=TIMESTAMP_MS),
        "json": {"lang": peer, "list": [1, 2.5, None, True, "x"]},
        "bytes": BYTES,
        "string": f"ziggy \u2713 {peer}",
    }


def same(kind, want, got):
    if type(got) is not type(want):
        return False
    if kind == "float":
        return struct.pack("<d", got) == struct.pack("<d", want)
    if kind == "json":
        # Structurally, with the types of the leaves: 1 is not 1.0, True is not 1.
        return _same_json(want, got)
    return got == want


def _same_json(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def main(argv):
    if len(argv) != 4:
        print("usage: alllang_worker.py DIR NAME PEERS", file=sys.stderr)
        return 2
    path, name, peers = argv[1], argv[2], [p for p in argv[3].split(",") if p]
    problems = []
    with ziggydb.open(path) as db:
        for kind, value in expected(name).items():
            db.set(f"typed:{name}:{kind}", value)
        db.incr("all:ready", 1)
        for _ in range(500):
            db.incr("all:counter", 1)
        for i in range(100):
            with db.transaction() as tx:
                tx.list("all:list").push(f"{name}:{i}")
        db.incr("all:done", 1)
        deadline = time.monotonic() + 120
        while (db.get("all:done") or 0) < len(peers):
            if time.monotonic() > deadline:
                problems.append("timed out waiting for peers")
                break
            time.sleep(0.01)
        for peer in peers:
            for kind, want in expected(peer).items():
                key = f"typed:{peer}:{kind}"
                try:
                    got = db.get(key)
                except ziggydb.Error as e:
                    problems.append(f"{peer} {kind}: expected {want!r}, reading failed: {e}")
                    continue
                if not same(kind, want, got):
                    problems.append(
                        f"{peer} {kind}: expected {type(want).__name__} {want!r}, "
                        f"read {type(got).__name__} {got!r}"
                    )
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    print(f"{name} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
