#!/usr/bin/env bash
# Real client libraries against ziggy-server: redis-py (from PyPI) and ioredis (from npm, at
# the versions in package-lock.json), installed in a temporary directory, against two servers
# on one database directory with a password.
#
# Usage: run.sh PATH/TO/ziggy-server   (the `ziggy` tool beside it serves as an embedded
# process on the same directory)
set -euo pipefail

server_bin=$(realpath "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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

start_server() { # name -> sets $port (not in a subshell: the cleanup must see the pid)
    "$server_bin" --dir "$tmp/db" --port 0 --bind 127.0.0.1 --requirepass pw \
        --durability batched >"$tmp/$1.out" 2>"$tmp/$1.err" &
    pids+=($!)
    for _ in $(seq 600); do
        if grep -q '^ziggy-server ready' "$tmp/$1.out" 2>/dev/null; then
            port=$(grep -o 'port [0-9]*' "$tmp/$1.out" | cut -d' ' -f2)
            return
        fi
        sleep 0.1
    done
    echo "ziggy-server $1 did not start" >&2
    cat "$tmp/$1.err" >&2
    exit 1
}

python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check redis==5.2.1
mkdir "$tmp/node"
cp "$here/package.json" "$here/package-lock.json" "$tmp/node/"
(cd "$tmp/node" && npm ci --quiet --no-audit --no-fund >/dev/null)

start_server one
port1=$port
start_server two
port2=$port
"$tmp/venv/bin/python" "$here/redis_py_check.py" "$port1" "$port2" pw \
    "$(dirname "$server_bin")/ziggy" "$tmp/db"
NODE_PATH="$tmp/node/node_modules" node "$here/ioredis_check.js" "$port1" "$port2" pw
