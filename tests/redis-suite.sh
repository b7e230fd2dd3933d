#!/usr/bin/env bash
# Runs Redis 7.0's own test suite (the Tcl units of redis-7.0.15/tests) against ziggy-server,
# as Redis runs it against any external server (`./runtest --host --port --singledb`), and
# prints how many tests of each unit pass, fail, or never ran because an earlier error
# stopped the unit.
#
#   tests/redis-suite.sh [-q] [-k] [UNIT...]
#
# UNIT: a unit path under tests/ of the Redis sources, e.g. `unit/type/list`; the default is
# every unit that tests commands ZiggyDB serves (types, expire, keyspace, multi, pubsub, ...).
# -q runs a short list (CI). -k keeps the server's directory and the logs.
#
# The Redis sources come from Debian's archive (the same release as the redis-server the
# differential test compares with), checked against their SHA-256, and are kept in
# `target/redis-suite/`. Needs tclsh (the `tcl` package), curl and a release build of
# ziggy-server (built here if missing).
#
# Two things are set for every run, and both are said here because they change what is
# tested:
#   - tests tagged `needs:debug`, `needs:repl`, `needs:config-maxmemory`, `needs:save`,
#     `needs:pfdebug`, `needs:latency`, `needs:reset`, `needs:config-resetstat` and
#     `needs:local-process` are left out (`--tags -needs:...`): they test Redis's own
#     internals (DEBUG, replication, eviction, RDB files), which ZiggyDB has no counterpart of;
#   - the harness's `r function flush`, sent before each unit, may fail: ZiggyDB has no
#     scripting, so there are no functions to flush.
# Exit status: 0 when the runs completed (whatever they found), 2 when something needed is
# missing or the server did not start.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
quick=0
keep=0
while getopts "qkh" opt; do
    case "$opt" in
        q) quick=1 ;;
        k) keep=1 ;;
        h) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "redis-suite: -h for help" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

version=7.0.15
sha=4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982
url="http://deb.debian.org/debian/pool/main/r/redis/redis_${version}.orig.tar.gz"
cache="$here/target/redis-suite"
src="$cache/redis-$version"

for tool in tclsh curl; do
    command -v "$tool" >/dev/null || { echo "redis-suite: $tool is missing (apt-get install tcl curl)" >&2; exit 2; }
done

if [ ! -d "$src" ]; then
    mkdir -p "$cache"
    tarball="$cache/redis_${version}.orig.tar.gz"
    if [ ! -f "$tarball" ]; then
        curl -fsS -o "$tarball.part" "$url" || { echo "redis-suite: cannot download $url" >&2; exit 2; }
        mv "$tarball.part" "$tarball"
    fi
    echo "$sha  $tarball" | sha256sum -c --quiet - || { echo "redis-suite: $tarball: checksum differs" >&2; rm -f "$tarball"; exit 2; }
    tar -xzf "$tarball" -C "$cache"
    # No scripting in ZiggyDB, so nothing to flush: let the harness's flush fail quietly.
    sed -i 's/^    r function flush$/    catch {r function flush}/' "$src/tests/support/server.tcl"
fi

server="$here/target/release/ziggy-server"
if [ ! -x "$server" ] || [ -n "$(find "$here/src" "$here/crates/ziggy-server/src" -newer "$server" -name '*.rs' -print -quit)" ]; then
    (cd "$here" && cargo build --release -q -p ziggy-server)
fi

if [ $# -gt 0 ]; then
    units=("$@")
elif [ "$quick" = 1 ]; then
    units=(unit/type/incr unit/type/string unit/multi unit/expire)
else
    units=(unit/type/incr unit/type/string unit/type/list unit/type/list-2 unit/type/list-3
        unit/type/set unit/type/hash unit/type/zset unit/expire unit/keyspace unit/multi
        unit/pubsub unit/pubsubshard unit/bitops unit/bitfield unit/hyperloglog unit/dump
        unit/sort unit/scan unit/auth unit/protocol unit/info-command unit/other
        unit/querybuf unit/quit)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ziggy-redis-suite.XXXXXX")
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    if [ "$keep" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A free port: ask the kernel for one, then let the server take it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/db"
"$server" --dir "$work/db" --port "$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null || { echo "redis-suite: ziggy-server did not start:" >&2; cat "$work/server.log" >&2; exit 2; }

deny=()
for t in debug repl config-maxmemory config-resetstat latency local-process pfdebug reset save; do
    deny+=(--tags "-needs:$t")
done

total_ok=0
total_err=0
total_cut=0
printf '%-22s %6s %6s %s\n' unit passed failed "stopped early by"
for unit in "${units[@]}"; do
    log="$work/$(echo "$unit" | tr / _).log"
    (cd "$src" && timeout 1200 ./runtest --host 127.0.0.1 --port "$port" --singledb --clients 1 \
        --single "$unit" "${deny[@]}" >"$log" 2>&1) || true
    # The harness colours its tags: strip the escapes before counting.
    plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
    ok=$(grep -c '^\[ok\]:' <<<"$plain" || true)
    err=$(grep -c '^\[err\]:' <<<"$plain" || true)
    cut=$(grep -m1 -A1 '^\[exception\]:' <<<"$plain" | tail -1 | cut -c1-70 || true)
    total_ok=$((total_ok + ok))
    total_err=$((total_err + err))
    [ -n "$cut" ] && total_cut=$((total_cut + 1))
    printf '%-22s %6d %6d %s\n' "$unit" "$ok" "$err" "$cut"
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "redis-suite: ziggy-server died during $unit:" >&2
        tail -20 "$work/server.log" >&2
        exit 1
    fi
done
printf '%-22s %6d %6d %d units stopped early\n' total "$total_ok" "$total_err" "$total_cut"
if [ "$keep" = 1 ]; then
    echo "failures: grep -A2 '\\[err\\]' $work/*.log"
fi
