#!/usr/bin/env bash
# CI for the Go binding, from anywhere: installs golang-go from the distribution's packages
# when `go` is missing (run as root, as .ci/run is), builds libziggydb.a, then gofmt, go
# vet, go test, go test -race, the all-languages run of the Go, Rust and C workers on one
# directory, and a short run of the benchmarks. Exits non-zero on the first failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

step() {
    printf '\n==> %s\n' "$*"
}

step "go (golang-go from the distribution's packages if missing)"
if ! command -v go >/dev/null; then
    # No service is started by the install.
    added_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go
    if [ -n "$added_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
fi
go version
# The module needs nothing beyond the standard library: never download.
export GOPROXY=off

step "cargo build --release -p ziggydb-c (libziggydb.a, linked statically)"
(cd "$root" && cargo build --release -p ziggydb-c)

cd "$here"

step "gofmt and go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
    echo "not gofmt-formatted: $unformatted"
    exit 1
fi
go vet ./...

step "go test"
go test -count=1 ./...

step "go test -race"
go test -race -count=1 ./...

step "all languages on one directory: the Go, Rust and C workers at once"
workers_tmp=$(mktemp -d)
trap 'rm -rf "$workers_tmp"' EXIT
(cd "$root" && cargo build --quiet --example alllang_worker)
gcc -O2 -Wall -Werror -std=c11 -D_POSIX_C_SOURCE=200809L -I"$root/crates/ziggydb-c/include" \
    "$root/crates/ziggydb-c/examples/c/alllang_worker.c" "$root/target/release/libziggydb.a" \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -o "$workers_tmp/c-worker"
out=$(ZIGGYDB_ALLLANG_WORKERS="rust=$root/target/debug/examples/alllang_worker,c=$workers_tmp/c-worker" \
    go test -count=1 -run '^TestAllLanguagesRun$' -v .)
printf '%s\n' "$out" | tail -3
# It skips without the workers: here it must have run.
printf '%s\n' "$out" | grep -q -- '--- PASS: TestAllLanguagesRun'

step "benchmarks, a short run (bench.sh compares with Rust)"
go test -run '^$' -bench . -benchtime 2000x .
