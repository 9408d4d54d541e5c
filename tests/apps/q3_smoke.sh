#!/usr/bin/env bash
# tests/apps/q3_smoke.sh APP_DIR — q3_mnli_lstm end to end on generated data: without --lm it trains
# a tiny language model on a generated WikiText-2 folder (q2_wikitext's code) and saves it, then runs
# the three modes (frozen, unfrozen continuing the frozen run, scratch) on a toy NLI set, writes its
# results JSON and a checkpoint folder per mode, and --eval-only reloads a checkpoint and gets the same
# test accuracy. Also: --help works, and bad flags fail with one clear line before anything slow starts.
set -euo pipefail
APP="$1/q3_mnli_lstm"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
source "$(dirname "$0")/toy_data.sh"
toy_nli "$T/data"
toy_wikitext "$T/data"

"$APP" --help > "$T/help.txt"; grep -q -- "--lm-lr" "$T/help.txt"  # no pipe: grep -q would close it early (SIGPIPE)
if "$APP" --data "$T/data" --modes frozen,bogus > "$T/err.txt" 2>&1; then
  echo "FAIL: --modes bogus should fail"; exit 1; fi
grep -q "unknown mode 'bogus'" "$T/err.txt" || { echo "FAIL: unclear error:"; cat "$T/err.txt"; exit 1; }
if "$APP" --data "$T/data" --lm "$T/nowhere" > "$T/err.txt" 2>&1; then
  echo "FAIL: --lm of a missing folder should fail"; exit 1; fi
grep -q "not a Q2 checkpoint folder" "$T/err.txt" || { echo "FAIL: unclear error:"; cat "$T/err.txt"; exit 1; }

COMMON=(--data "$T/data" --valid-size 10 --head esim --projection 8 --composition 8 --mlp-hidden 16 --dropout 0
        --batch-size 8 --lr 1e-2 --lm-lr 1e-2 --scratch-lr 1e-2 --no-progress)
"$APP" "${COMMON[@]}" --lm-emsize 16 --lm-nhid 16 --lm-epochs 1 --lm-out "$T/lm" --epochs 4 --frozen-epochs 4 \
  --unfrozen-epochs 2 --scratch-epochs 4 --save "$T/ck" --json "$T/q3.json" > "$T/out.txt" 2>&1 \
  || { cat "$T/out.txt"; exit 1; }
grep -q "GRADE:" "$T/out.txt"
grep -q "its 4 frozen epochs are the frozen run's" "$T/out.txt"
test -f "$T/lm/model.safetensors" && test -f "$T/lm/vocab.txt" && test -f "$T/lm/config.json"
for m in frozen unfrozen scratch; do
  test -f "$T/ck/$m/model.safetensors" && test -f "$T/ck/$m/config.json" && test -f "$T/ck/$m/vocab.txt"
done
grep -q '"label2id"' "$T/ck/unfrozen/config.json"
# The three modes' test accuracies, in the JSON's order (frozen, unfrozen, scratch; "accuracy" is only
# the key of each mode's test result).
accs=$(grep -o '"accuracy": *[0-9.]*' "$T/q3.json" | grep -o '[0-9.]*$' | tr '\n' ' ')
acc_unfrozen=$(echo "$accs" | awk '{ print $2 }')
"$APP" --data "$T/data" --valid-size 10 --eval-only "$T/ck/unfrozen" --json "$T/eval.json" --no-progress \
  > "$T/eval.txt" 2>&1 || { cat "$T/eval.txt"; exit 1; }
acc2=$(grep -o '"accuracy": *[0-9.]*' "$T/eval.json" | head -1 | grep -o '[0-9.]*$')
echo "test accuracies: $accs; unfrozen $acc_unfrozen, reloaded checkpoint $acc2"
[ "$acc_unfrozen" = "$acc2" ] || { echo "FAIL: --eval-only accuracy $acc2 differs from the run's $acc_unfrozen"; exit 1; }
# --lm with the folder just trained: the same LM, no training.
"$APP" "${COMMON[@]}" --lm "$T/lm" --modes frozen --epochs 1 --save "$T/ck2" --json "$T/q3b.json" > "$T/out2.txt" 2>&1 \
  || { cat "$T/out2.txt"; exit 1; }
if grep -q "no --lm: training" "$T/out2.txt"; then echo "FAIL: --lm given but an LM was trained"; exit 1; fi
best=$(echo "$accs" | tr ' ' '\n' | sort -g | tail -1)
awk -v a="$best" 'BEGIN { exit !(a > 0.6) }' || { echo "FAIL: best accuracy $best on a toy task (chance 0.33)"; cat "$T/out.txt"; exit 1; }
echo "q3_smoke: PASS"
