#!/usr/bin/env bash
# Builds the Java binding from a clone: the C library (cargo), the JNI library (gcc, with
# libziggydb.a linked in statically, so it needs no other ZiggyDB file at run time), and
# build/ziggydb.jar (the classes and, inside, the JNI library for Linux x86-64).
#
#   bindings/java/build.sh            # -> bindings/java/build/ziggydb.jar
#                                     #    bindings/java/build/native/libziggydb_jni.so
#
# Needs cargo, gcc and a JDK 17 or later (JAVA_HOME, or javac on PATH). CARGO_TARGET_DIR is
# honoured. ZIGGY_SKIP_CARGO=1 uses the libziggydb.a already built; ZIGGY_JAVA_BUILD puts the
# output elsewhere than bindings/java/build (test.sh and bench.sh read it there too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
out=${ZIGGY_JAVA_BUILD:-$here/build}
if [ -z "${JAVA_HOME:-}" ]; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
fi
export JAVA_HOME

if [ "${ZIGGY_SKIP_CARGO:-}" != 1 ]; then
    (cd "$root" && cargo build --release -p ziggydb-c)
fi
lib=$target/release/libziggydb.a
[ -f "$lib" ] || { echo "build.sh: $lib is missing (cargo build --release -p ziggydb-c)" >&2; exit 1; }

mkdir -p "$out/native" "$out/classes"
# Only the JNI entry points are exported; the Rust library inside stays private to it.
printf '{ global: Java_ziggydb_*; JNI_OnLoad; local: *; };\n' > "$out/native/exports.map"
gcc -std=c11 -O2 -fPIC -shared -Wall -Wextra -Werror \
    -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -I"$root/crates/ziggydb-c/include" \
    -o "$out/native/libziggydb_jni.so" "$here/src/main/c/ziggydb_jni.c" "$lib" \
    -Wl,--version-script="$out/native/exports.map" -Wl,--gc-sections -Wl,-z,defs -s \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

rm -rf "$out/classes"
mkdir -p "$out/classes/ziggydb/native/linux-x86_64"
"$JAVA_HOME/bin/javac" --release 17 -Xlint:all -Werror -d "$out/classes" \
    "$here"/src/main/java/ziggydb/*.java
cp "$out/native/libziggydb_jni.so" "$out/classes/ziggydb/native/linux-x86_64/"
"$JAVA_HOME/bin/jar" --create --file "$out/ziggydb.jar" -C "$out/classes" .
echo "built $out/ziggydb.jar and $out/native/libziggydb_jni.so"
