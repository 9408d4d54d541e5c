#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing, builds, and runs Q2's quick preset
# (an LSTM language model on WikiText-2, < 5 minutes on a 2-core CPU). Data: $EMBER_DATA, else
# ../shared/data. Extra arguments go to q2_wikitext (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
if [ -z "${EMBER_DATA:-}" ] && [ -d ../shared/data ]; then export EMBER_DATA="$(cd ../shared/data && pwd)"; fi
./build/apps/q2_wikitext --preset quick "$@"
