#!/usr/bin/env bash
# Per-call cost of the Java binding against the Rust calls it wraps, on one database, in one
# run: get, set, incr and execute("INCR") from Java (src/bench/java/ziggydb/Bench.java) and
# Db::get, Db::set, Db::incr_by and Session::execute from Rust (src/bench/rust/calls.rs, built
# here with rustc against the library cargo built). Commits are batched, so the writes
# measure the call path rather than the disk. Each side runs in a process of its own,
# alternately, twice (--quick: 20,000 keys, 20 ms rounds, a few seconds) or three times
# (100,000 keys, 100 ms rounds); the best figure of each call is kept, since other load only
# slows calls down. Prints a table of ns per call and Java / Rust.
#
#   bindings/java/bench.sh [--quick]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
out=${ZIGGY_JAVA_BUILD:-$here/build}
if [ -z "${JAVA_HOME:-}" ]; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
fi
quick=0
[ "${1:-}" = --quick ] && quick=1
if [ $quick = 1 ]; then n=20000 ms=20 runs=2; else n=100000 ms=100 runs=3; fi

[ -f "$out/ziggydb.jar" ] || "$here/build.sh"
# The library's rlib as cargo built it for the C ABI (a no-op build when it is up to date).
rlib=$(cd "$root" && cargo build --release -p ziggydb-c --message-format=json 2>/dev/null \
    | grep -o '"[^"]*/deps/libziggydb-[0-9a-f]*\.rlib"' | tail -1 | tr -d '"')
[ -n "$rlib" ] || { echo "bench.sh: no libziggydb rlib from cargo" >&2; exit 1; }
mkdir -p "$out/bench"
rustc --edition 2021 -C opt-level=3 -C debuginfo=0 -L "dependency=$target/release/deps" \
    --extern "ziggydb=$rlib" -o "$out/bench/rust_calls" "$here/src/bench/rust/calls.rs"
"$JAVA_HOME/bin/javac" --release 17 -cp "$out/ziggydb.jar" -d "$out/bench" \
    "$here/src/bench/java/ziggydb/Bench.java"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$out/bench/rust_calls" fill "$tmp/db" "$n"
results=$tmp/results
: > "$results"
for _ in $(seq $runs); do
    "$JAVA_HOME/bin/java" -Dziggydb.library.path="$out/native" -cp "$out/ziggydb.jar:$out/bench" \
        ziggydb.Bench "$tmp/db" "$n" "$ms" >> "$results"
    "$out/bench/rust_calls" run "$tmp/db" "$n" "$ms" >> "$results"
done

echo "Java binding against Rust, ns per call ($n keys, 100-byte values, batched commits; best of $runs runs)"
echo
awk '
    { name = $1 " " $2; if (!(name in best) || $3 < best[name]) best[name] = $3 }
    END {
        print "| operation | Rust | Java | Java / Rust |"
        print "|---|---:|---:|---:|"
        row("get: `Db::get` (zero-copy) / `get(byte[])`", "rust get", "java get")
        row("get: `Db::get` + copy / `get(byte[])`", "rust get+copy", "java get")
        row("get: `Db::get` + copy / `get(String)`", "rust get+copy", "java get-string")
        row("set: `Db::set` / `set(byte[], byte[])`", "rust set", "java set")
        row("incr: `Db::incr_by` / `incr(String)`", "rust incr", "java incr")
        row("incr: `Session::execute` INCR / `execute(\"INCR\", k)`", "rust execute-INCR", "java execute-INCR")
        row("incr: `Db::incr_by` / `execute(\"INCR\", k)`", "rust incr", "java execute-INCR")
        row("get: `Db::get` + copy / `execute(\"GET\", k)`", "rust get+copy", "java execute-GET")
        print ""
        printf "The binding'"'"'s own part of a call: an empty JNI call %.0f ns, the read lock against close() %.0f ns.\n", best["java jni-call"], best["java close-lock"]
    }
    function row(label, r, j) {
        printf "| %s | %.0f | %.0f | %.2fx |\n", label, best[r], best[j], best[j] / best[r]
    }
' "$results"
