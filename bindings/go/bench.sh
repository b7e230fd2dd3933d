#!/bin/sh
# The Go binding's cost per call against Rust's (and C's), measured in one run on this
# machine: the C ABI's bench (crates/ziggydb-c/benches/capi.rs: Rust's Db calls and a C
# program's ziggy_* calls, best of 15 short rounds in each of 2-3 runs) and this package's
# Go benchmarks (best of several -count runs), each on its own database of the same shape
# (100-byte values, the same keys, batched commits, no background expiry or compaction),
# with short rounds on both sides (Go: -count 15 runs of 20 ms, or 100 ms without --quick).
#
#   bindings/go/bench.sh           100,000 keys, several minutes
#   bindings/go/bench.sh --quick   20,000 keys, short rounds
#
# Prints ns per call and the ratios Go / Rust. Other load on the machine slows every figure;
# compare the figures of one run only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "${1:-}" = "--quick" ]; then
    quick=--quick keys=20000 benchtime=20ms count=15
else
    quick= keys=100000 benchtime=100ms count=15
fi

echo "building libziggydb (release) ..." >&2
(cd "$root" && cargo build --release --quiet -p ziggydb-c)

echo "running the C ABI bench (Rust and C) ..." >&2
rust=$(cd "$root" && cargo bench --quiet -p ziggydb-c --bench capi -- $quick)

echo "running the Go benchmarks ..." >&2
gobench=$(cd "$here" && ZIGGYDB_BENCH_KEYS=$keys go test -run '^$' \
    -bench '^Benchmark(Get|Set|Incr|DoIncr|DoGet)$' -benchtime "$benchtime" -count "$count" .)

# A column of the capi bench's table row whose label contains $1 ($2: 3 Rust, 4 C).
capi() {
    printf '%s\n' "$rust" | awk -F'|' -v label="$1" -v col="$2" \
        'index($2, label) { gsub(/ /, "", $col); print $col; exit }'
}
# The lowest ns/op of Go benchmark $1 over the -count runs.
gons() {
    printf '%s\n' "$gobench" | awk -v name="Benchmark$1" \
        '{ n = $1; sub(/-[0-9]+$/, "", n) } n == name { if (best == "" || $3 + 0 < best) best = $3 + 0 } END { print best }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "?" }'; }

rget=$(capi '`Db::get` (zero-copy)' 3)
rgetcopy=$(capi '`Db::get` + copy' 3)
rset=$(capi 'set: `Db::set` / `ziggy_set`' 3)
rincr=$(capi 'incr: `Db::incr_by` / `ziggy_incrby`' 3)
cget=$(capi '`Db::get` + copy' 4)
cexecget=$(capi 'ziggy_exec GET' 4)
cset=$(capi 'set: `Db::set` / `ziggy_set`' 4)
cincr=$(capi 'incr: `Db::incr_by` / `ziggy_incrby`' 4)
cexecincr=$(capi 'ziggy_exec INCR' 4)
gget=$(gons Get)
gdoget=$(gons DoGet)
gset=$(gons Set)
gincr=$(gons Incr)
gdoincr=$(gons DoIncr)

echo "Go against Rust and C, ns per call ($keys keys, 100-byte values, batched commits)"
echo
echo "| operation | Rust | C | Go | Go / Rust |"
echo "|---|---:|---:|---:|---:|"
echo "| get: \`Db::get\` (zero-copy) / \`ziggy_get\` / \`Get\` | $rget | $cget | $gget | $(ratio "$gget" "$rget") |"
echo "| get: \`Db::get\` + copy / \`ziggy_get\` / \`Get\` | $rgetcopy | $cget | $gget | $(ratio "$gget" "$rgetcopy") |"
echo "| get: \`Db::get\` / \`ziggy_exec GET\` / \`Do(\"GET\")\` | $rget | $cexecget | $gdoget | $(ratio "$gdoget" "$rget") |"
echo "| set: \`Db::set\` / \`ziggy_set\` / \`Set\` | $rset | $cset | $gset | $(ratio "$gset" "$rset") |"
echo "| incr: \`Db::incr_by\` / \`ziggy_incrby\` / \`Incr\` | $rincr | $cincr | $gincr | $(ratio "$gincr" "$rincr") |"
echo "| incr: \`Db::incr_by\` / \`ziggy_exec INCR\` / \`Do(\"INCR\")\` | $rincr | $cexecincr | $gdoincr | $(ratio "$gdoincr" "$rincr") |"
