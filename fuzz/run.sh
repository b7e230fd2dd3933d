#!/usr/bin/env bash
# Long fuzzing runs with cargo-fuzz (needs a nightly toolchain and `cargo install cargo-fuzz`):
# every target for SECONDS each (default 600), starting from the stored seeds, into the
# (untracked) corpus directory. CI runs the stable replay instead:
#   cargo run --release --bin replay -- 20
#
#   fuzz/run.sh             # 10 minutes per target
#   fuzz/run.sh 3600 ops    # one hour of one target
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(cli_split cli_parse resp_request resp_reply import_line ops open_dir record_decode index_probe ops_crash)
fi
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$seconds"
done
