#!/usr/bin/env bash
# tests/apps/q2_resume.sh APP_DIR — crash-safe checkpoints and exact resume, on generated WikiText:
#  1. an uninterrupted 3-epoch q2_wikitext run (the reference);
#  2. the same run SIGKILLed in the middle of writing epoch 2's training state (fault injection:
#     EMBER_TEST_KILL_DURING_SAVE): the best checkpoint and epoch 1's training state must still
#     load, whole, with epoch 1's contents;
#  3. --continue from there: every per-epoch figure and the test perplexity must equal the
#     reference's bit for bit (weights, optimizer state, lr schedule and RNG position all resumed).
set -euo pipefail
APP="$1/q2_wikitext"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
source "$(dirname "$0")/toy_data.sh"
toy_wikitext "$T/data"
ARGS=(--data "$T/data" --emsize 16 --nhid 16 --layers 1 --dropout 0.3 --epochs 3 --bptt 8 --batch-size 4
      --eval-batch-size 2 --lr 5 --seed 7)

"$APP" "${ARGS[@]}" --save "$T/ref" --json "$T/ref.json" > "$T/ref.txt" 2>&1 || { cat "$T/ref.txt"; exit 1; }

set +e
EMBER_TEST_KILL_DURING_SAVE="train_state.json@2" "$APP" "${ARGS[@]}" --save "$T/run" --json "$T/run.json" \
  > "$T/killed.txt" 2>&1
rc=$?
set -e
[ "$rc" -eq 137 ] || { echo "FAIL: the fault-injected run should die by SIGKILL (137), got $rc"; cat "$T/killed.txt"; exit 1; }
grep -q "SIGKILL while writing .*train_state.json" "$T/killed.txt" || { echo "FAIL: not killed mid-save"; cat "$T/killed.txt"; exit 1; }
[ ! -f "$T/run.json" ] || { echo "FAIL: the killed run wrote its results"; exit 1; }
grep -q '"epoch": 1' "$T/run-resume/train_state.json" || { echo "FAIL: epoch 1's training state is gone:"; ls -la "$T"/run*; exit 1; }
for f in model.safetensors optimizer.safetensors; do test -s "$T/run-resume/$f"; done
test -s "$T/run/model.safetensors" && test -s "$T/run/config.json" && test -s "$T/run/vocab.txt"
echo "killed mid-save (exit $rc): epoch 1's training state and the best checkpoint are intact"

"$APP" "${ARGS[@]}" --save "$T/run" --json "$T/run.json" --continue > "$T/cont.txt" 2>&1 || { cat "$T/cont.txt"; exit 1; }
grep -q "continuing the run saved in .* after epoch 1" "$T/cont.txt" || { echo "FAIL: did not continue"; cat "$T/cont.txt"; exit 1; }
python3 - "$T/ref.json" "$T/run.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
keys = ("train_perplexity", "valid_perplexity", "lr")
ha = [[e[k] for k in keys] for e in a["history"]]
hb = [[e[k] for k in keys] for e in b["history"]]
if ha != hb or a["test_perplexity"] != b["test_perplexity"] or len(ha) != 3:
    print("FAIL: the resumed run differs from the uninterrupted one:\n ", ha, a["test_perplexity"], "\n ", hb, b["test_perplexity"])
    sys.exit(1)
print(f"resumed run == uninterrupted run, bit for bit: 3 epochs {ha}, test ppl {a['test_perplexity']!r}")
PY
# A changed setting is refused, not silently mixed in.
if "$APP" "${ARGS[@]/--lr/--clip}" --save "$T/run" --continue > "$T/bad.txt" 2>&1; then
  echo "FAIL: --continue with other settings should fail"; exit 1; fi
grep -q "made with other settings" "$T/bad.txt" || { echo "FAIL: unclear error:"; cat "$T/bad.txt"; exit 1; }
echo "q2_resume: PASS"
