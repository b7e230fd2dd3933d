#!/usr/bin/env bash
# Runs the lock, stop and attach tests of the `it` binary (`locking::`, `stops::`,
# `attach::`, or the filter given) again and again beside CPU-burning loops, as issue 12 asks
# of every lock and publish test (500 loops under CPU load). Unlike tests/soak.sh it does not
# stop at a failure: it counts the complete loops and, per test, the failures, keeps each
# failing loop's log, and prints the tally every 10 loops and at the end (or at Ctrl-C).
#
#   tests/lockloop.sh [-n LOOPS] [-k BURNERS] [-l LOGDIR] [FILTER]
#
# LOOPS defaults to 500, BURNERS (busy shell loops beside the tests) to 2; FILTER is a
# nextest filter expression, by default 'test(/^locking::|^stops::|^attach::/)'. Each loop
# builds what the worktree holds: to keep editing while it runs, loop a copy of the branch.
# Exit status: 0 if every loop passed, 1 if any test failed, 2 for bad arguments or a build
# that fails.
set -u

loops=500
burners=2
logdir=""
while getopts "n:k:l:h" opt; do
    case "$opt" in
        n) loops="$OPTARG" ;;
        k) burners="$OPTARG" ;;
        l) logdir="$OPTARG" ;;
        h) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "lockloop: -h for help" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
filter="${1:-test(/^locking::|^stops::|^attach::/)}"
case "$loops$burners" in
    *[!0-9]*) echo "lockloop: -n and -k take numbers" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.." || exit 2
[ -n "$logdir" ] || logdir="$(mktemp -d "${TMPDIR:-/tmp}/ziggy-lockloop.XXXXXX")"
mkdir -p "$logdir" || exit 2

echo "lockloop: building"
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
for _ in $(seq 1 "$burners"); do
    (while :; do :; done) &
    pids+=("$!")
done

done_loops=0
failed_loops=0
tally="$logdir/failures.txt"
: >"$tally"
start=$(date +%s)
report() {
    echo "lockloop: $done_loops complete loops of [$filter] beside $burners burners," \
        "$failed_loops with a failure, $(($(date +%s) - start)) s; logs in $logdir"
    if [ -s "$tally" ]; then
        echo "lockloop: failures per test:"
        sort "$tally" | uniq -c | sort -rn | sed 's/^/  /'
    fi
}
trap 'stop_burners; report; exit 130' INT TERM
trap stop_burners EXIT

echo "lockloop: $loops loops of [$filter] beside $burners CPU-burning loops; logs in $logdir"
for i in $(seq 1 "$loops"); do
    log="$logdir/loop-$i.log"
    cargo nextest run --test it --no-fail-fast --failure-output final \
        --success-output never -E "$filter" >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 101 ] && ! grep -q 'FAIL \[' "$log"; then
        echo "lockloop: loop $i: the build failed (the sources changed under the loop?):" >&2
        tail -n 40 "$log" >&2
        report
        exit 2
    fi
    done_loops=$i
    if [ "$rc" -ne 0 ]; then
        failed_loops=$((failed_loops + 1))
        # "FAIL [   1.234s] ( 8/40) ziggydb::it locking::name" (or TIMEOUT, SIGSEGV, ...):
        # the test's name is the last field; each failed test once.
        failed=$(grep -E '^ *(FAIL|TIMEOUT|SIG[A-Z]+) \[' "$log" | awk '{print $NF}' | sort -u)
        [ -n "$failed" ] || failed="(no test named: exit $rc)"
        echo "$failed" >>"$tally"
        echo "lockloop: loop $i failed: $(echo "$failed" | tr '\n' ' ')(log: $log)"
    else
        rm -f "$log"
    fi
    if [ $((i % 10)) -eq 0 ]; then
        report
    fi
done
report
[ "$failed_loops" -eq 0 ]
