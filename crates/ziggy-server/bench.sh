#!/usr/bin/env bash
# redis-benchmark against ziggy-server (--durability batched, fsync within 1 s) and
# redis-server (appendonly yes, appendfsync everysec), one after the other in one run, each on
# a fresh directory, with -P 1 and -P 16. Prints a Markdown table of requests per second and
# the ratio ziggy-server / Redis.
#
# Usage: bench.sh [--quick]   (from anywhere; builds the release binary if missing)
#   --quick: 2000 requests per test instead of 200000: a smoke run of a few seconds.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
n=200000
if [ "${1:-}" = "--quick" ]; then
    n=2000
fi
tests=set,get,incr,lpush,rpop,sadd,hset,zadd
clients=50
server_bin="$root/target/release/ziggy-server"
[ -x "$server_bin" ] || (cd "$root" && cargo build --release -p ziggy-server)

tmp=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ping() { # port
    for _ in $(seq 300); do
        if [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ]; then
            return
        fi
        sleep 0.1
    done
    echo "nothing answers on port $1" >&2
    exit 1
}

bench() { # port pipeline -> "TEST rps" lines
    timeout 900 redis-benchmark -h 127.0.0.1 -p "$1" -t "$tests" -n "$n" -c "$clients" -P "$2" --csv \
        | tail -n +2 | tr -d '"' | cut -d, -f1,2 | tr ',' ' '
}

zport=$(free_port)
"$server_bin" --dir "$tmp/ziggy" --port "$zport" --bind 127.0.0.1 --durability batched \
    --sync-delay-ms 1000 >"$tmp/ziggy.out" 2>"$tmp/ziggy.err" &
pids+=($!)
wait_ping "$zport"
rport=$(free_port)
mkdir "$tmp/redis"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp/redis" --appendonly yes \
    --appendfsync everysec --save '' --daemonize no >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_ping "$rport"

echo "redis-benchmark -t $tests -n $n -c $clients; $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "| test | -P | ziggy-server req/s | redis-server req/s | ratio |"
echo "|---|---|---|---|---|"
for p in 1 16; do
    bench "$zport" "$p" >"$tmp/z.txt"
    bench "$rport" "$p" >"$tmp/r.txt"
    join <(sort "$tmp/z.txt") <(sort "$tmp/r.txt") | while read -r t z r; do
        printf '| %s | %s | %.0f | %.0f | %.2f |\n' "$t" "$p" "$z" "$r" "$(echo "$z / $r" | bc -l)"
    done
done
