#!/usr/bin/env bash
# The all-languages test: a Rust, a C, a Python, a Node.js, a Go and a Java program started at
# the same moment on one new database directory (see README.md here for what each does and
# what check.py then checks).
#
#   bindings/alllang/run.sh [NAME...]      # default: all six
#
# Run it after the bindings' own CI scripts (.ci/run does): it uses the Python venv that
# bindings/python/ci.sh made (target/python-venv, or $ZIGGY_PY_VENV), the Node.js addon that
# bindings/node/ci.sh built and the jar of bindings/java/ci.sh; it builds the Rust, C and Go
# workers itself.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${ZIGGY_PY_VENV:-$target/python-venv}"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    names=(rust c python node go java)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$root" && cargo build --quiet --release --bins -p ziggydb && cargo build --quiet --release -p ziggydb-c)
workers=()
for name in "${names[@]}"; do
    case "$name" in
    rust)
        (cd "$root" && cargo build --quiet --release --example alllang_worker)
        workers+=("rust=$target/release/examples/alllang_worker")
        ;;
    c)
        gcc -O2 -Wall -Werror -std=c11 -D_POSIX_C_SOURCE=200809L \
            -I"$root/crates/ziggydb-c/include" \
            "$root/crates/ziggydb-c/examples/c/alllang_worker.c" "$target/release/libziggydb.a" \
            -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$work/c-worker"
        workers+=("c=$work/c-worker")
        ;;
    python)
        [ -x "$venv/bin/python" ] || { echo "no Python venv at $venv: run bindings/python/ci.sh first" >&2; exit 1; }
        workers+=("python=$venv/bin/python $root/bindings/python/alllang_worker.py")
        ;;
    node)
        [ -f "$root/bindings/node/ziggydb.node" ] || { echo "no Node.js addon: run bindings/node/ci.sh first" >&2; exit 1; }
        workers+=("node=node $root/bindings/node/alllang_worker.js")
        ;;
    go)
        (cd "$root/bindings/go" && GOPROXY=off go build -o "$work/go-worker" ./cmd/alllang-worker)
        workers+=("go=$work/go-worker")
        ;;
    java)
        jar="${ZIGGY_JAVA_BUILD:-$root/bindings/java/build}/ziggydb.jar"
        [ -f "$jar" ] || { echo "no $jar: run bindings/java/ci.sh first" >&2; exit 1; }
        workers+=("java=java -cp $jar ziggydb.AllLangWorker")
        ;;
    *)
        echo "unknown worker '$name' (rust, c, python, node, go, java)" >&2
        exit 2
        ;;
    esac
done

exec python3 "$here/check.py" --ziggy "$target/release/ziggy" --dir "$work/db" "${workers[@]}"
