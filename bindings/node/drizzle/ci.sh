#!/usr/bin/env bash
# CI for `ziggydb/drizzle`: runs after bindings/node/ci.sh has installed the package's
# dependencies (npm ci, which brings drizzle-orm, @libsql/client and ioredis as dev
# dependencies) and built the native module. Tests, then the quick benchmark (it starts and
# stops its own redis-server on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! node -e "require('./')" 2>/dev/null; then
  echo "drizzle/ci.sh: build bindings/node first (bindings/node/ci.sh)" >&2
  exit 1
fi
for dep in drizzle-orm @libsql/client ioredis; do
  if ! node -e "require.resolve('$dep')" 2>/dev/null; then
    echo "drizzle/ci.sh: $dep is missing: run npm ci in bindings/node" >&2
    exit 1
  fi
done
if ! command -v redis-server >/dev/null; then
  echo "drizzle/ci.sh: redis-server is missing (apt-get install redis-server): the bench runs without its redis column" >&2
fi

echo "== ziggydb/drizzle: tests"
node --test --test-timeout=300000 drizzle/test/*.test.mjs
echo "== ziggydb/drizzle: quick benchmark"
node drizzle/bench.js --quick
