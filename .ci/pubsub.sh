#!/usr/bin/env bash
# Pub/Sub's own CI step (issue 17): the smoke run of its bench. Its tests live in the `it`
# binary (tests/it/pubsub.rs; pubsub_replies_as_redis_does in differential.rs; the shell's in
# cli.rs), in ziggy-server's tests and in its client checks (redis-py, ioredis), which
# .ci/run runs already.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

printf '\n==> %s\n' "pubsub bench smoke run"
timeout 600 cargo bench --bench pubsub -- --test
