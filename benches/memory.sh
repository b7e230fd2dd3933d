#!/bin/sh
# Peak memory (maximum resident set size) of one `ziggy` command, per command, against the
# size of its input: big values set, refused, read with STRLEN, GETRANGE and GET, and an MSET
# of many pairs in one line; then STRLEN and GET of the big value under `ulimit -v`.
#
#   benches/memory.sh [ZIGGY] [VALUE_MB] [PAIRS]
#
# ZIGGY defaults to target/release/ziggy (build it first: cargo build --release), VALUE_MB
# to 600 and PAIRS to 1000000. Needs /usr/bin/time (GNU time) and about 4 x VALUE_MB of
# free disk in the temporary directory, which is removed at the end. Prints one line per
# command: the input size, the peak RSS, and the exit status.
set -u
Z=${1:-target/release/ziggy}
MB=${2:-600}
PAIRS=${3:-1000000}
BYTES=$((MB * 1000000))
# Segments big enough for the value and its record.
SEG=$(( (MB + 64) * 1048576 ))
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# Runs a command and prints "what | input | maxrss | exit".
measure() {
    what=$1 input=$2
    shift 2
    /usr/bin/time -f "%M %x" -o "$T/time" "$@" > "$T/out" 2> "$T/err"
    read -r rss status <<EOF
$(tail -n 1 "$T/time")
EOF
    printf '%-44s | %10s | %8s MB | exit %s\n' "$what" "$input" "$((rss / 1024))" "$status"
}

head -c "$BYTES" /dev/zero | tr '\0' 'v' > "$T/value"
"$Z" -d "$T/db" SET keep original > /dev/null

measure "-x SET (refused: default 64 MiB segments)" "${MB} MB" \
    sh -c "exec \"$Z\" -d \"$T/db\" -x SET big < \"$T/value\""
measure "-x SET (segment size $SEG)" "${MB} MB" \
    sh -c "exec \"$Z\" -d \"$T/db\" --segment-size $SEG -x SET big < \"$T/value\""
measure "STRLEN big" "-" "$Z" -d "$T/db" STRLEN big
measure "GETRANGE big 0 99" "-" "$Z" -d "$T/db" GETRANGE big 0 99
measure "GET big (to a pipe)" "-" sh -c "\"$Z\" -d \"$T/db\" GET big | wc -c > /dev/null"
# GET's own peak, without the shell pipeline around it.
measure "GET big (to a file)" "-" sh -c "exec \"$Z\" -d \"$T/db\" GET big > \"$T/got\""

awk -v n="$PAIRS" 'BEGIN { printf "MSET"; for (i = 0; i < n; i++) printf " key%d val%d", i, i; printf "\n" }' \
    > "$T/mset"
measure "MSET of $PAIRS pairs in one line" "$(( $(wc -c < "$T/mset") / 1000000 )) MB" \
    sh -c "exec \"$Z\" -d \"$T/mdb\" < \"$T/mset\""

# Under an address-space limit below what a copy of the value needs.
LIMIT=$(( (MB + 400) * 1024 ))
for cmd in STRLEN GET; do
    sh -c "ulimit -v $LIMIT; exec \"$Z\" -d \"$T/db\" $cmd big" > "$T/out" 2> "$T/err"
    status=$?
    printf '%-44s | %10s | exit %s %s\n' "$cmd big under ulimit -v $LIMIT" "-" "$status" \
        "$(head -c 100 "$T/err" | head -n 1)"
done
