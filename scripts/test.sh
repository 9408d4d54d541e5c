#!/usr/bin/env bash
# Builds ember and runs the whole test suite through CTest. Real-data checks run when
# EMBER_DATA names the data folder (default: ../shared/data when it exists) and skip visibly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${EMBER_DATA:-}" ] && [ -d ../shared/data ]; then export EMBER_DATA="$(cd ../shared/data && pwd)"; fi
echo "EMBER_DATA=${EMBER_DATA:-<unset: real-data checks skip>}"
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j2 "$@"
