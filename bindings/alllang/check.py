#!/usr/bin/env python3
"""The all-languages test: several programs, each in its own language, open one database
directory at the same moment and share it.

    check.py --ziggy PATH --dir DIR NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND is a shell command line of a worker; it is run as `COMMAND DIR NAME PEERS`, where
PEERS is every NAME given, comma-separated. A worker (see README.md here for the contract)
writes one value of every type under `typed:NAME:*`, increments `all:counter` 500 times,
appends `NAME:0` ... `NAME:99` to the list `all:list` in 100 transactions, waits for the
others, and reads back every other worker's typed values, checking type and value.

This script starts all the workers together, waits for them (5 minutes at most), and then
checks what they share, through the `ziggy` tool: the counter is exact, the list has every
entry exactly once and each worker's entries in its own order, and every worker said `NAME
ok`. It prints what it found and exits 0 when everything held, 1 otherwise.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

INCRS = 500
APPENDS = 100
TIMEOUT_S = 300


def ziggy(binary, db_dir, *args):
    out = subprocess.run(
        [binary, "-d", db_dir, "--json", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    import json

    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ziggy", required=True, help="the ziggy binary")
    parser.add_argument("--dir", required=True, help="the database directory (must not exist)")
    parser.add_argument("workers", nargs="+", metavar="NAME=COMMAND")
    args = parser.parse_args()

    workers = []
    for spec in args.workers:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command:
            parser.error(f"a worker is NAME=COMMAND, not {spec!r}")
        workers.append((name, shlex.split(command)))
    names = [name for name, _ in workers]
    if len(set(names)) != len(names):
        parser.error("each worker needs its own name")
    if os.path.exists(args.dir):
        parser.error(f"{args.dir} exists: the test needs a database of its own")
    peers = ",".join(names)

    problems = []
    procs = []
    started = time.monotonic()
    for name, command in workers:
        procs.append(
            (
                name,
                subprocess.Popen(
                    [*command, args.dir, name, peers],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    for name, proc in procs:
        left = max(1.0, TIMEOUT_S - (time.monotonic() - started))
        try:
            out, err = proc.communicate(timeout=left)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            problems.append(f"{name}: still running after {TIMEOUT_S} s, killed")
        took = time.monotonic() - started
        print(f"{name}: exit {proc.returncode} after {took:.1f} s: {out.strip()!r}")
        if err.strip():
            print(f"{name} stderr:\n{err.rstrip()}")
        if proc.returncode != 0:
            problems.append(f"{name}: exit status {proc.returncode}")
        elif out.strip().splitlines()[-1:] != [f"{name} ok"]:
            problems.append(f"{name}: printed {out.strip()!r}, not '{name} ok'")

    counter = ziggy(args.ziggy, args.dir, "GET", "all:counter")
    want = INCRS * len(names)
    if counter != str(want):
        problems.append(f"all:counter is {counter!r}, wanted {want}")
    for key in ("all:ready", "all:done"):
        got = ziggy(args.ziggy, args.dir, "GET", key)
        if got != str(len(names)):
            problems.append(f"{key} is {got!r}, wanted {len(names)}")

    entries = ziggy(args.ziggy, args.dir, "LRANGE", "all:list", "0", "-1")
    if not isinstance(entries, list):
        problems.append(f"LRANGE all:list replied {entries!r}")
        entries = []
    if len(entries) != APPENDS * len(names):
        problems.append(f"all:list has {len(entries)} entries, wanted {APPENDS * len(names)}")
    if len(set(entries)) != len(entries):
        problems.append("all:list holds an entry twice")
    for name in names:
        mine = [e for e in entries if isinstance(e, str) and e.startswith(f"{name}:")]
        want_mine = [f"{name}:{i}" for i in range(APPENDS)]
        if mine != want_mine:
            how = "all there but out of order" if sorted(mine) == sorted(want_mine) else "wrong"
            problems.append(
                f"{name}'s entries in all:list: {len(mine)} of {APPENDS}, {how} "
                f"(first: {mine[:3]})"
            )
    foreign = [e for e in entries if not any(str(e).startswith(f"{n}:") for n in names)]
    if foreign:
        problems.append(f"all:list holds entries of no worker: {foreign[:5]}")

    # Interleaving: the workers really ran at the same time if the list mixes them.
    runs = sum(1 for a, b in zip(entries, entries[1:]) if a.split(":")[0] != b.split(":")[0])
    print(
        f"{len(names)} workers ({peers}): all:counter {counter}, all:list {len(entries)} "
        f"entries, {runs} switches between workers in the list"
    )
    for p in problems:
        print(f"PROBLEM: {p}")
    if problems:
        return 1
    print("every language read every other's values with their types; counter exact; list complete and ordered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
