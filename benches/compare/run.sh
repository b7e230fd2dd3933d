#!/usr/bin/env bash
# Runs the whole comparison: builds the harness in release mode, installs redis-server from the
# distribution's packages when it is missing (as root), starts it on 127.0.0.1 on a free port
# with `appendfsync everysec` in a temporary directory, runs every phase, and stops the server
# by its PID. The report goes to standard output and to results/latest.md.
#
#   benches/compare/run.sh                   # default scale, a few minutes on 2 cores
#   benches/compare/run.sh --scale 4         # 2M keys
#   COMPARE_FEATURES=rocksdb benches/compare/run.sh   # with RocksDB (needs libclang-dev)
#
# Other arguments are passed to the harness (see `--help`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    # Install without starting the distribution's service.
    added_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools
    if [ -n "$added_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi
if [ "${COMPARE_FEATURES:-}" = rocksdb ] && ! dpkg -s libclang-dev >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev
fi

cargo build --release --locked ${COMPARE_FEATURES:+--features "$COMPARE_FEATURES"}

# A free port: the first one from a random start that nothing answers on.
port=$((20000 + RANDOM % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
done

redis_dir=$(mktemp -d)
redis-server --bind 127.0.0.1 --port "$port" --dir "$redis_dir" \
    --appendonly yes --appendfsync everysec --save '' --daemonize no \
    --logfile "$redis_dir/redis.log" &
redis_pid=$!
stop_redis() {
    if kill -0 "$redis_pid" 2>/dev/null; then
        kill "$redis_pid"
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$redis_dir"
}
trap stop_redis EXIT

for _ in $(seq 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
        break
    fi
    if ! kill -0 "$redis_pid" 2>/dev/null; then
        cat "$redis_dir/redis.log" >&2
        echo "redis-server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
redis-server --version >&2

./target/release/ziggydb-compare --redis "127.0.0.1:$port" "$@"
