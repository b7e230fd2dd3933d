#!/usr/bin/env python3
"""Per-call time of the Python binding against the same calls from Rust.

    python3 bench.py [--quick] [-n CALLS]

Python: `db.get`, `db.execute("GET", k)`, `db.set`, `db.incr` on a database opened with
durability="batched" (a write measures the call and its commit, not an fsync), each the best
of three rounds. Rust: the same calls on the same kind of data, made from Rust by the
extension module itself (`_ziggydb._rust_baseline`: the same build of the library, with no
Python in the loop). Prints a table of ns/call and the ratio Python/Rust. Timings on a shared machine are noisy: run it twice.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import ziggydb

def best_of_three(n, f):
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter_ns()
        f(n)
        best = min(best, (time.perf_counter_ns() - t) / n)
    return best


def python_figures(path, n):
    db = ziggydb.open(path, durability="batched", max_delay=0.05)
    key = "bench:key"
    db.set(key, "0123456789abcdef")
    get, execute, set_, incr = db.get, db.execute, db.set, db.incr

    def run_get(n):
        for _ in range(n):
            get(key)

    def run_execute(n):
        for _ in range(n):
            execute("GET", key)

    def run_set(n):
        for _ in range(n):
            set_("bench:set", "0123456789abcdef")

    def run_incr(n):
        for _ in range(n):
            incr("bench:incr")

    def run_empty(n):
        f = len
        for _ in range(n):
            f(key)

    writes = max(n // 4, 1)
    out = {
        "get": best_of_three(n, run_get),
        "execute_get": best_of_three(n, run_execute),
        "set": best_of_three(writes, run_set),
        "incr": best_of_three(writes, run_incr),
        "(a Python call of len)": best_of_three(n, run_empty),
    }
    db.close()
    return out


def rust_figures(path, n):
    return dict(ziggydb._ziggydb._rust_baseline(path, n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few calls: runs in seconds")
    ap.add_argument("-n", type=int, help="calls per round for reads (writes: n/4)")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 200_000)
    tmp = tempfile.mkdtemp(prefix="ziggy-pybench-")
    try:
        py = python_figures(os.path.join(tmp, "py"), n)
        rs = rust_figures(os.path.join(tmp, "rs"), n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"per-call time, best of 3 rounds of {n} reads / {max(n // 4, 1)} writes "
          "(batched durability)")
    print(f"{'call':<24}{'Python ns':>12}{'Rust ns':>12}{'ratio':>9}")
    for name, ns in py.items():
        rust = rs.get(name)
        if rust:
            print(f"{name:<24}{ns:>12.0f}{rust:>12.0f}{ns / rust:>8.1f}x")
        else:
            print(f"{name:<24}{ns:>12.0f}{'':>12}{'':>9}")
    print(f"{'(Rust get_value)':<24}{'':>12}{rs.get('get_value', 0):>12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
