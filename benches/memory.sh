#!/bin/sh
# Peak memory of one `ziggy` command against the size of its input: big values set, refused,
# read with STRLEN, GETRANGE and GET; GET, GETSET, GETEX and GETDEL of a smaller big value;
# an MSET of many pairs in one line and an MGET and an EXISTS of all their keys; then STRLEN
# and GET of the big value under `ulimit -v`.
#
#   benches/memory.sh [ZIGGY] [VALUE_MB] [PAIRS] [SMALL_MB]
#   benches/memory.sh --quick [ZIGGY]    (80 MB, 100,000 pairs, 16 MB: a few seconds)
#
# ZIGGY defaults to target/release/ziggy (build it first: cargo build --release), VALUE_MB
# to 600, PAIRS to 1000000 and SMALL_MB to 100. Needs /usr/bin/time (GNU time) and about
# 4 x VALUE_MB of free disk in the temporary directory, which is removed at the end.
#
# Prints one line per command: the input size, the peak resident set (exact, from GNU time),
# and the peaks of its anonymous part (heap: what the command allocates) and of its
# file-backed and shared part (pages of the database's mapped files, counted while touched),
# both sampled every few milliseconds from /proc (so a peak shorter than that can be missed),
# then the exit status; for the commands of many keys, also the anonymous peak against the
# input in bytes (the other columns' "MB" of memory are MiB, of input 10^6 bytes).
set -u
if [ "${1:-}" = --quick ]; then
    shift
    set -- "${1:-target/release/ziggy}" 80 100000 16
fi
Z=${1:-target/release/ziggy}
MB=${2:-600}
PAIRS=${3:-1000000}
SMALL=${4:-100}
BYTES=$((MB * 1000000))
# Segments big enough for the value and its record.
SEG=$(( (MB + 64) * 1048576 ))
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

printf '%-44s | %10s | %8s | %8s | %8s |\n' "command" "input" "max RSS" "anon" "file"

# Runs a command (which must exec ziggy) and prints "what | input | maxrss | anon | file |
# exit", and "| N.NNx input" when RATIO_OF holds the input's size in bytes.
RATIO_OF=
measure() {
    what=$1 input=$2
    shift 2
    /usr/bin/time -f "%M %x" -o "$T/time" "$@" > "$T/out" 2> "$T/err" &
    tpid=$!
    anon=0 file=0
    while kill -0 "$tpid" 2> /dev/null; do
        for c in $(cat "/proc/$tpid/task/$tpid/children" 2> /dev/null); do
            shmem=0 rfile=0
            {
                while read -r k v _; do
                    case $k in
                    RssAnon:) [ "$v" -gt "$anon" ] && anon=$v ;;
                    RssFile:) rfile=$v ;;
                    RssShmem:) shmem=$v ;;
                    esac
                done < "/proc/$c/status"
            } 2> /dev/null
            [ $((rfile + shmem)) -gt "$file" ] && file=$((rfile + shmem))
        done
        sleep 0.005
    done
    wait "$tpid"
    read -r rss status <<EOF2
$(tail -n 1 "$T/time")
EOF2
    ratio=
    if [ -n "$RATIO_OF" ]; then
        ratio=$(awk -v a="$anon" -v b="$RATIO_OF" 'BEGIN { printf " | %.2fx input", a * 1024 / b }')
    fi
    printf '%-44s | %10s | %5s MB | %5s MB | %5s MB | exit %s%s\n' "$what" "$input" \
        "$((rss / 1024))" "$((anon / 1024))" "$((file / 1024))" "$status" "$ratio"
}

head -c "$BYTES" /dev/zero | tr '\0' 'v' > "$T/value"
"$Z" -d "$T/db" SET keep original > /dev/null

measure "-x SET (refused: default 64 MiB segments)" "${MB} MB" \
    sh -c "exec \"$Z\" -d \"$T/db\" -x SET big < \"$T/value\""
measure "-x SET (segment size $SEG)" "${MB} MB" \
    sh -c "exec \"$Z\" -d \"$T/db\" --segment-size $SEG -x SET big < \"$T/value\""
measure "STRLEN big" "-" sh -c "exec \"$Z\" -d \"$T/db\" STRLEN big"
measure "GETRANGE big 0 99" "-" sh -c "exec \"$Z\" -d \"$T/db\" GETRANGE big 0 99"
measure "GET big (to a file)" "-" sh -c "exec \"$Z\" -d \"$T/db\" GET big > \"$T/got\""
rm -f "$T/got"

# The read-and-write commands on a smaller value (each copies it at least once).
head -c $((SMALL * 1000000)) /dev/zero | tr '\0' 's' > "$T/small"
D="-d \"$T/sdb\" --segment-size $(( (SMALL + 64) * 1048576 ))"
sh -c "exec \"$Z\" $D -x SET s < \"$T/small\"" > /dev/null
# Four more values keep the log's dead part below half through GETDEL, so that no compaction
# (which holds each record it moves) runs in the measured process.
for p in 1 2 3 4; do
    sh -c "exec \"$Z\" $D -x SET pad$p < \"$T/small\"" > /dev/null
done
measure "GET s" "${SMALL} MB" sh -c "exec \"$Z\" $D GET s > \"$T/got\""
measure "-x GETSET s" "${SMALL} MB" sh -c "exec \"$Z\" $D -x GETSET s < \"$T/small\" > \"$T/got\""
measure "GETEX s EX 1000" "${SMALL} MB" sh -c "exec \"$Z\" $D GETEX s EX 1000 > \"$T/got\""
measure "GETDEL s" "${SMALL} MB" sh -c "exec \"$Z\" $D GETDEL s > \"$T/got\""
rm -rf "$T/got" "$T/small" "$T/sdb"

awk -v n="$PAIRS" 'BEGIN { printf "MSET"; for (i = 0; i < n; i++) printf " key%d val%d", i, i; printf "\n" }' \
    > "$T/mset"
RATIO_OF=$(wc -c < "$T/mset")
measure "MSET of $PAIRS pairs in one line" "$(( $(wc -c < "$T/mset") / 1000000 )) MB" \
    sh -c "exec \"$Z\" -d \"$T/mdb\" < \"$T/mset\""
awk -v n="$PAIRS" 'BEGIN { printf "MGET"; for (i = 0; i < n; i++) printf " key%d", i; printf "\n" }' \
    > "$T/mget"
RATIO_OF=$(wc -c < "$T/mget")
measure "MGET of $PAIRS keys in one line" "$(( $(wc -c < "$T/mget") / 1000000 )) MB" \
    sh -c "exec \"$Z\" -d \"$T/mdb\" < \"$T/mget\""
sed 's/^MGET/EXISTS/' "$T/mget" > "$T/exists"
RATIO_OF=$(wc -c < "$T/exists")
measure "EXISTS of $PAIRS keys in one line" "$(( $(wc -c < "$T/exists") / 1000000 )) MB" \
    sh -c "exec \"$Z\" -d \"$T/mdb\" < \"$T/exists\""
RATIO_OF=
rm -rf "$T/mset" "$T/mget" "$T/exists" "$T/mdb"

# Under an address-space limit below what a copy of the value needs.
LIMIT=$(( (MB + 400) * 1024 ))
for cmd in STRLEN GET; do
    sh -c "ulimit -v $LIMIT; exec \"$Z\" -d \"$T/db\" $cmd big" > "$T/out" 2> "$T/err"
    status=$?
    printf '%-44s | %10s | exit %s %s\n' "$cmd big under ulimit -v $LIMIT" "-" "$status" \
        "$(head -c 100 "$T/err" | head -n 1)"
done
