#!/usr/bin/env bash
# Configures and builds ember into ./build (Release, 2 parallel jobs: the machines have 2 cores).
# EMBER_BUILD_DIR names another folder (scripts/test.sh --sanitize uses build-asan); extra
# arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
B="${EMBER_BUILD_DIR:-build}"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release "$@" > "$B.log" 2>&1 || { cat "$B.log"; exit 1; }
cmake --build "$B" -j2 2>&1 | grep -E "error|warning|Built target" || true
test -x "$B/tests/ember_tests" || { echo "build failed"; cmake --build "$B" -j1 2>&1 | tail -40; exit 1; }
