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


OPS = ["get", "execute_get", "set", "incr"]


def python_figures(db, n):
    key = "bench:key"
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
    return {
        "get": best_of_three(n, run_get),
        "execute_get": best_of_three(n, run_execute),
        "set": best_of_three(writes, run_set),
        "incr": best_of_three(writes, run_incr),
        "len": best_of_three(n, run_empty),
    }


def rust_figures(path, n):
    return dict(ziggydb._ziggydb._rust_baseline(path, n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few calls: runs in seconds")
    ap.add_argument("-n", type=int, help="calls per round for reads (writes: n/4)")
    ap.add_argument("--runs", type=int, help="Python and Rust runs, alternately (5; 1 quick)")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 200_000)
    runs = args.runs or (1 if args.quick else 5)
    tmp = tempfile.mkdtemp(prefix="ziggy-pybench-")
    pys, rss = [], []
    try:
        db = ziggydb.open(os.path.join(tmp, "py"), durability="batched", max_delay=0.05)
        db.set("bench:key", "0123456789abcdef")
        # Python and Rust alternately, so that both see the same load from other programs.
        for _ in range(runs):
            pys.append(python_figures(db, n))
            rss.append(rust_figures(os.path.join(tmp, "rs"), n))
        db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ns per call, best of 3 rounds of {n} reads / {max(n // 4, 1)} writes "
          f"(batched durability), {runs} run(s) alternating Python and Rust")
    print(f"{'call':<14}{'Python':>14}{'Rust':>14}{'Python/Rust per run':>22}")

    def span(xs, fmt="{:.0f}"):
        lo, hi = min(xs), max(xs)
        return fmt.format(lo) if len(xs) == 1 else f"{fmt.format(lo)}-{fmt.format(hi)}"

    for name in OPS:
        p = [r[name] for r in pys]
        r = [r[name] for r in rss]
        ratios = [a / b for a, b in zip(p, r)]
        print(f"{name:<14}{span(p):>14}{span(r):>14}{span(ratios, '{:.2f}') + 'x':>22}")
    print(f"{'get_value':<14}{'':>14}{span([r['get_value'] for r in rss]):>14}"
          "   (Rust: an owned Value)")
    print(f"{'len(str)':<14}{span([p['len'] for p in pys]):>14}{'':>14}"
          "   (a bare Python call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
