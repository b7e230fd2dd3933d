#!/usr/bin/env bash
# CI for the Java binding: builds the C library if needed, the JNI library and the jar, runs
# the JUnit tests (Debian's junit5 package), then the quick benchmark against Rust.
#
#   bindings/java/ci.sh
#
# Needs cargo, gcc, a JDK 17 or later and Debian's junit5 package, which this installs when it
# is missing and it runs as root with apt-get (as CI does).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -f "${JUNIT_DIR:-/usr/share/java}/junit-platform-console-standalone.jar" ] \
    && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "== bindings/java: apt-get install junit5"
    apt-get install -y --no-install-recommends junit5 > /dev/null \
        || { apt-get update > /dev/null && apt-get install -y --no-install-recommends junit5 > /dev/null; }
fi
echo "== bindings/java: build"
"$here/build.sh"
echo "== bindings/java: tests"
"$here/test.sh" --details=summary --scan-class-path
echo "== bindings/java: quick benchmark"
"$here/bench.sh" --quick
