#!/usr/bin/env bash
# Configures and builds ember into ./build (Release, 2 parallel jobs: the machines have 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j2 2>&1 | grep -E "error|warning|Built target" || true
test -x build/tests/ember_tests || { echo "build failed"; cmake --build build -j1 2>&1 | tail -40; exit 1; }
