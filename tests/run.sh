#!/usr/bin/env bash
# The test suite from a fresh clone: installs what the tests need (tests/deps.sh), then runs
# every test of the workspace's default members with cargo-nextest (installed with
# `cargo install cargo-nextest --locked` when missing). Arguments go to nextest, e.g.
# `tests/run.sh -E 'test(/^crash::/)'`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tests/deps.sh
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
exec cargo nextest run --all-targets --no-fail-fast "$@"
