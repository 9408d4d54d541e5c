#!/usr/bin/env bash
# Builds ember and runs the whole test suite through CTest. Real-data checks run when
# EMBER_DATA names the data folder (default: ../shared/data when it exists) and skip visibly otherwise.
#   scripts/test.sh                the Release build in build/
#   scripts/test.sh --sanitize     the whole CPU suite under AddressSanitizer + UndefinedBehaviorSanitizer,
#                                  in its own folder build-asan/ (any report fails the test)
# Other arguments go to ctest (e.g. -R bert).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${EMBER_DATA:-}" ] && [ -d ../shared/data ]; then export EMBER_DATA="$(cd ../shared/data && pwd)"; fi
echo "EMBER_DATA=${EMBER_DATA:-<unset: real-data checks skip>}"
if [ "${1:-}" = "--sanitize" ]; then
  shift
  export EMBER_BUILD_DIR=build-asan
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  bash scripts/build.sh -DEMBER_SANITIZE=ON -DEMBER_CUDA=OFF
else
  bash scripts/build.sh
fi
ctest --test-dir "${EMBER_BUILD_DIR:-build}" --output-on-failure -j2 "$@"
