#!/usr/bin/env bash
# CI for the Java binding: builds the C library if needed, the JNI library and the jar, runs
# the JUnit tests (Debian's junit5 package), then the quick benchmark against Rust.
#
#   bindings/java/ci.sh
#
# Needs cargo, gcc, a JDK 17 or later and junit5 (apt-get install -y default-jdk-headless junit5).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
echo "== bindings/java: build"
"$here/build.sh"
echo "== bindings/java: tests"
"$here/test.sh" --details=summary --scan-class-path
echo "== bindings/java: quick benchmark"
"$here/bench.sh" --quick
