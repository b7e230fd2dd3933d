#!/usr/bin/env bash
# The CLI tools' own CI steps (the lead wires them into .ci/run): the pipe bench's quick pass
# (a script of SET lines piped into ziggy with the shared fsync, with an fsync per line, and
# through redis-cli into redis-server when it is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
timeout 600 cargo bench --bench pipe -- --quick
