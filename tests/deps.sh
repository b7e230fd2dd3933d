#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust and cargo-nextest, from the distribution's
# packages (Debian and Ubuntu; run as root, or with sudo on the PATH), when it is missing:
#   - redis-server and redis-cli: the differential test compares replies with a real server;
#   - util-linux `script`: the shell tests give `ziggy` a terminal;
#   - unshare, nsenter and mount: the full-filesystem tests mount a tiny tmpfs of their own;
#   - gcc, g++, valgrind and pkg-config: the C ABI's tests build C and C++ programs.
# Nothing is started: the tests start their own servers on free ports. Exits non-zero if a
# package cannot be installed.
set -euo pipefail

need=()
for tool in redis-server:redis-server redis-cli:redis-tools script:bsdutils \
    unshare:util-linux nsenter:util-linux mount:mount gcc:gcc g++:g++ valgrind:valgrind \
    pkg-config:pkg-config; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
sudo=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "tests/deps.sh: missing ${need[*]}; run as root (or install sudo) to install them" >&2
        exit 1
    }
    sudo=sudo
fi
# Installing redis-server must not start the system's own server.
added_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    added_policy=1
fi
$sudo apt-get update -qq
# shellcheck disable=SC2086 # the list is package names
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u)
if [ -n "$added_policy" ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
fi
