#!/usr/bin/env bash
# The big-transaction work's own CI steps (the lead wires them into .ci/run): the quick pass
# of the bench of one transaction larger than a segment (memory and time). Its tests
# (tests/it/bigtxn.rs) run with the rest of the `it` suite.
set -euo pipefail
cd "$(dirname "$0")/.."
timeout 600 cargo bench --bench bigtxn -- --quick
