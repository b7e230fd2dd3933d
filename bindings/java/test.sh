#!/usr/bin/env bash
# Runs the Java binding's tests (JUnit 5 from Debian's junit5 package) against what build.sh
# built. Extra arguments go to the JUnit console launcher, e.g. --select-class ziggydb.ApiTest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${ZIGGY_JAVA_BUILD:-$here/build}
if [ -z "${JAVA_HOME:-}" ]; then
    JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")
fi
junit=${JUNIT_DIR:-/usr/share/java}
launcher=$junit/junit-platform-console-standalone.jar
if [ ! -f "$launcher" ]; then
    echo "test.sh: $launcher is missing: apt-get install junit5 (or set JUNIT_DIR)" >&2
    exit 1
fi
rm -rf "$out/test-classes"
mkdir -p "$out/test-classes"
"$JAVA_HOME/bin/javac" --release 17 -Xlint:all,-processing -Werror -d "$out/test-classes" \
    -cp "$out/ziggydb.jar:$junit/junit-jupiter-api.jar:$junit/opentest4j.jar:$junit/apiguardian-api.jar:$junit/junit-platform-commons.jar" \
    "$here"/src/test/java/ziggydb/*.java
# The tests load the JNI library through the documented property; the worker test runs the
# jar alone, which loads the copy inside it.
"$JAVA_HOME/bin/java" -Dziggydb.library.path="$out/native" -jar "$launcher" \
    --class-path "$out/test-classes:$out/ziggydb.jar" \
    --disable-banner --details=tree --fail-if-no-tests \
    "${@:---scan-class-path}"
