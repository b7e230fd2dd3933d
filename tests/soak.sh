#!/usr/bin/env bash
# Runs tests of the `it` binary again and again with CPU-burning loops beside them, so that
# failures that depend on the interleaving of processes (crashes, power cuts, several
# writers) show up in minutes instead of once in a CI month. Stops at the first failure and
# shows its output (with the `ZIGGY_SEED` each test prints) and where the full log is kept.
#
#   tests/soak.sh [-n RUNS] [-k BURNERS] [-l LOGDIR] FILTER...
#
# FILTER: test names (`crash::several_writers_killed_together_are_each_recovered`, matched
# exactly) or nextest filter expressions (anything containing `(`, e.g. 'test(/^crash::/)');
# all of them run in each run, one nextest invocation per run. RUNS defaults to 100,
# BURNERS (busy shell loops started beside the tests, stopped at the end) to 2. The
# environment is passed through: `ZIGGY_SOAK=4 tests/soak.sh ...` multiplies each test's
# rounds, `ZIGGY_SEED` fixes the seeds (the interleaving still varies).
#
# Each run builds what the worktree holds: to keep editing while a soak runs, soak a copy.
# Exit status: 0 if every run passed, 1 at the first failure, 2 for bad arguments or a
# build that fails.
set -u

runs=100
burners=2
logdir=""
while getopts "n:k:l:h" opt; do
    case "$opt" in
        n) runs="$OPTARG" ;;
        k) burners="$OPTARG" ;;
        l) logdir="$OPTARG" ;;
        h) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "soak: -h for help" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -eq 0 ]; then
    echo "soak: name at least one test or filter (-h for help)" >&2
    exit 2
fi
case "$runs$burners" in
    *[!0-9]*) echo "soak: -n and -k take numbers" >&2; exit 2 ;;
esac

filter=""
for f in "$@"; do
    case "$f" in
        *"("*) e="$f" ;;
        *) e="test(=$f)" ;;
    esac
    filter="${filter:+$filter | }$e"
done

cd "$(dirname "$0")/.." || exit 2
[ -n "$logdir" ] || logdir="$(mktemp -d "${TMPDIR:-/tmp}/ziggy-soak.XXXXXX")"
mkdir -p "$logdir" || exit 2

echo "soak: building"
if ! cargo nextest run --test it --no-run >"$logdir/build.log" 2>&1; then
    cat "$logdir/build.log" >&2
    exit 2
fi

pids=()
stop_burners() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    pids=()
}
trap 'stop_burners; exit 130' INT TERM
trap stop_burners EXIT
for _ in $(seq 1 "$burners"); do
    (while :; do :; done) &
    pids+=("$!")
done

echo "soak: $runs runs of [$filter] beside $burners CPU-burning loops; logs in $logdir"
start=$(date +%s)
for i in $(seq 1 "$runs"); do
    log="$logdir/run-$i.log"
    t0=$(date +%s%N)
    cargo nextest run --test it --no-fail-fast --failure-output final \
        --success-output never -E "$filter" >"$log" 2>&1
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [ "$rc" -eq 101 ]; then
        echo "soak: run $i: the build failed (the sources changed under the soak?):" >&2
        tail -n 40 "$log" >&2
        exit 2
    fi
    if [ "$rc" -ne 0 ]; then
        echo "soak: run $i of $runs FAILED (exit $rc, ${ms} ms) after $((i - 1)) clean runs," \
            "$(($(date +%s) - start)) s"
        echo "soak: seeds of the run:"
        grep -o '[A-Za-z0-9_ ,:-]*ZIGGY_SEED=[0-9]*' "$log" | sort -u | sed 's/^/  /'
        echo "soak: output (full log: $log):"
        grep -v '^ *\(PASS\|START\|SKIP\) ' "$log" | tail -n 150
        exit 1
    fi
    rm -f "$log"
    if [ $((i % 10)) -eq 0 ] || [ "$i" -eq "$runs" ]; then
        echo "soak: $i/$runs runs passed, $(($(date +%s) - start)) s (last run ${ms} ms)"
    fi
done
echo "soak: all $runs runs passed in $(($(date +%s) - start)) s beside $burners burners"
exit 0
