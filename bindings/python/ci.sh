#!/usr/bin/env bash
# CI of the Python binding, from a fresh clone with the Rust toolchain: a venv, the package
# installed as a user installs it (`pip install ./bindings/python`), its pytest suite, a check
# of the type stubs against the module, and the quick benchmark. Needs python3 (>= 3.9); installs python3-venv with apt-get where it is
# missing (Debian) and the script runs as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="${ZIGGY_PY_VENV:-$target/python-venv}"

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "python3 has no venv module: install python3-venv" >&2
        exit 1
    fi
fi

echo "--- python ($(date -u +%T)): venv at $venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.5,<2" pytest mypy

# The `ziggy` binary, for the test that runs a Rust process beside Python ones.
echo "--- python ($(date -u +%T)): cargo build --release --bins"
(cd "$repo" && cargo build --release --bins -q)

echo "--- python ($(date -u +%T)): pip install ./bindings/python"
(cd "$repo" && "$venv/bin/python" -m pip install -q --disable-pip-version-check ./bindings/python)

echo "--- python ($(date -u +%T)): pytest"
# From the tests' directory, so that `import ziggydb` is the installed package, not the source.
(cd "$here/tests" && ZIGGY_BIN="$target/release/ziggy" "$venv/bin/python" -m pytest -q -p no:cacheprovider .)

echo "--- python ($(date -u +%T)): the type stubs against the module (mypy stubtest)"
(cd "$here/tests" && "$venv/bin/python" -m mypy.stubtest ziggydb)

echo "--- python ($(date -u +%T)): bench.py --quick"
(cd "$here/tests" && "$venv/bin/python" "$here/bench.py" --quick)
