#!/bin/sh
# Installs the C API: libziggydb.so and libziggydb.a into PREFIX/lib, ziggydb.h and
# ziggydb.hpp into PREFIX/include, and ziggydb.pc into PREFIX/lib/pkgconfig.
#
#   cargo build --release
#   crates/ziggydb-c/install.sh /usr/local        # PREFIX; default /usr/local
#
# The libraries are taken from target/release, or from the directory in ZIGGY_LIB_DIR.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-/usr/local}
from=${ZIGGY_LIB_DIR:-$here/../../target/release}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$here/Cargo.toml" | head -n 1)

for f in libziggydb.so libziggydb.a; do
    if [ ! -f "$from/$f" ]; then
        echo "install.sh: $from/$f is missing: run \`cargo build --release\` first" >&2
        exit 1
    fi
done
# A library the tests built has their hooks (a panicking entry point, fault injection): never
# install one by mistake. The tests themselves set ZIGGY_ALLOW_TEST_HOOKS.
if grep -q ziggy_test_panic "$from/libziggydb.so" && [ -z "${ZIGGY_ALLOW_TEST_HOOKS:-}" ]; then
    echo "install.sh: $from/libziggydb.so was built with the test hooks: run \`cargo build --release\` first" >&2
    exit 1
fi
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
cp "$from/libziggydb.so" "$from/libziggydb.a" "$prefix/lib/"
chmod 0755 "$prefix/lib/libziggydb.so"
chmod 0644 "$prefix/lib/libziggydb.a"
cp "$here/include/ziggydb.h" "$here/include/ziggydb.hpp" "$prefix/include/"
chmod 0644 "$prefix/include/ziggydb.h" "$prefix/include/ziggydb.hpp"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$here/ziggydb.pc.in" \
    >"$prefix/lib/pkgconfig/ziggydb.pc"
echo "installed libziggydb $version into $prefix"
