#!/usr/bin/env bash
# tests/apps/nli_resume.sh APP_DIR — crash-safe training state and exact resume for Q3 and Q4, on
# generated data. For each app:
#  1. an uninterrupted run (the reference);
#  2. the same run SIGKILLed in the middle of writing a training state (fault injection:
#     EMBER_TEST_KILL_DURING_SAVE=train_state.json@N, the N-th state written by the process);
#  3. --continue from there: every per-epoch figure, the test loss, accuracy and confusion matrix
#     of every mode must equal the reference's bit for bit;
#  4. --continue with a changed setting is refused with a clear error.
# Q3 (q3_mnli_lstm, its own tiny LM, frozen 3 epochs → unfrozen 3 → scratch 2) is killed while
# writing unfrozen epoch 2: the LM's and the finished frozen phase's states are reused, the unfrozen
# phase continues after its epoch 1. Q4 (q4_mnli_bert, a tiny from-scratch BERT under the linear
# warm-up/decay schedule) is killed while writing epoch 3 of 4.
set -euo pipefail
APPS="$1"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
source "$(dirname "$0")/toy_data.sh"
toy_nli "$T/data"
toy_wikitext "$T/data"
toy_bert_vocab "$T/data"

run_app() {  # run_app LOG APP ARGS... (stdout+stderr to LOG; returns the exit status)
  local log="$1"
  shift
  set +e
  "$@" > "$log" 2>&1
  local rc=$?
  set -e
  return $rc
}

compare() {  # compare REF.json RUN.json LABEL
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
runs = lambda j: j.get("modes", j.get("runs"))
keys = ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy")
def figures(j):
    out = []
    for r in runs(j):
        hist = [[e[k] for k in keys] for e in r["history"]]
        if "frozen_phase" in r:
            hist += [[e[k] for k in keys] for e in r["frozen_phase"]["history"]]
        t = r["test"]
        out.append([r.get("mode", r.get("run")), hist, r["best_epoch"], t["loss"], t["accuracy"],
                    t["confusion_rows_gold_cols_pred"]])
    return out
fa, fb = figures(a), figures(b)
if fa != fb or not fa:
    print(f"FAIL ({sys.argv[3]}): the resumed run differs from the uninterrupted one:\n  {fa}\n  {fb}")
    sys.exit(1)
n = sum(len(r[1]) for r in fa)
print(f"{sys.argv[3]}: resumed run == uninterrupted run, bit for bit ({len(fa)} modes, {n} epochs; test "
      f"accuracies {[r[4] for r in fa]})")
PY
}

# ---- Q3 ----
Q3="$APPS/q3_mnli_lstm"
Q3_ARGS=(--data "$T/data" --valid-size 10 --head esim --projection 8 --composition 8 --mlp-hidden 16 --dropout 0.2
         --batch-size 8 --lr 1e-2 --lm-lr 1e-2 --scratch-lr 1e-2 --no-progress --lm-emsize 16 --lm-nhid 16
         --lm-epochs 1 --epochs 3 --frozen-epochs 3 --unfrozen-epochs 3 --scratch-epochs 2)
run_app "$T/q3_ref.txt" "$Q3" "${Q3_ARGS[@]}" --lm-out "$T/q3_ref_lm" --save "$T/q3_ref" --json "$T/q3_ref.json" \
  || { cat "$T/q3_ref.txt"; exit 1; }
# States written: 1 the LM's epoch 1; 2-4 frozen epochs 1-3; 5-6 unfrozen epochs 1-2.
if run_app "$T/q3_kill.txt" env EMBER_TEST_KILL_DURING_SAVE="train_state.json@6" "$Q3" "${Q3_ARGS[@]}" \
     --lm-out "$T/q3_lm" --save "$T/q3" --json "$T/q3.json"; then rc=0; else rc=$?; fi
[ "$rc" -eq 137 ] || { echo "FAIL: the fault-injected q3 run should die by SIGKILL (137), got $rc"; cat "$T/q3_kill.txt"; exit 1; }
grep -q "SIGKILL while writing .*unfrozen_esim.*train_state.json" "$T/q3_kill.txt" \
  || { echo "FAIL: q3 not killed while saving the unfrozen phase"; cat "$T/q3_kill.txt"; exit 1; }
[ ! -f "$T/q3.json" ] || { echo "FAIL: the killed q3 run wrote its results"; exit 1; }
grep -q '"epoch": 1,' "$T/q3-resume/unfrozen_esim/train_state.json" \
  || { echo "FAIL: unfrozen epoch 1's training state is gone:"; ls -laR "$T/q3-resume"; exit 1; }
test -s "$T/q3/frozen/model.safetensors" && test -s "$T/q3/frozen/config.json"
echo "q3 killed mid-save (exit $rc): unfrozen epoch 1's state and the frozen checkpoint are intact"
run_app "$T/q3_cont.txt" "$Q3" "${Q3_ARGS[@]}" --lm-out "$T/q3_lm" --save "$T/q3" --json "$T/q3.json" --continue \
  || { cat "$T/q3_cont.txt"; exit 1; }
grep -q "frozen esim: continuing after epoch 3 of 3" "$T/q3_cont.txt" \
  && grep -q "unfrozen esim: continuing after epoch 1 of 3" "$T/q3_cont.txt" \
  || { echo "FAIL: q3 did not continue where it stopped"; cat "$T/q3_cont.txt"; exit 1; }
compare "$T/q3_ref.json" "$T/q3.json" q3
if run_app "$T/q3_bad.txt" "$Q3" "${Q3_ARGS[@]/1e-2/2e-2}" --lm-out "$T/q3_lm" --save "$T/q3" --continue; then
  echo "FAIL: q3 --continue with other settings should fail"; exit 1; fi
grep -q "made with other settings" "$T/q3_bad.txt" || { echo "FAIL: unclear error:"; cat "$T/q3_bad.txt"; exit 1; }

# ---- Q4 ----
Q4="$APPS/q4_mnli_bert"
Q4_ARGS=(--data "$T/data" --runs scratch --config tiny --valid-size 10 --epochs 4 --batch-size 16 --scratch-lr 2e-3
         --max-length 32 --no-progress)
run_app "$T/q4_ref.txt" "$Q4" "${Q4_ARGS[@]}" --save "$T/q4_ref" --json "$T/q4_ref.json" || { cat "$T/q4_ref.txt"; exit 1; }
if run_app "$T/q4_kill.txt" env EMBER_TEST_KILL_DURING_SAVE="train_state.json@3" "$Q4" "${Q4_ARGS[@]}" \
     --save "$T/q4" --json "$T/q4.json"; then rc=0; else rc=$?; fi
[ "$rc" -eq 137 ] || { echo "FAIL: the fault-injected q4 run should die by SIGKILL (137), got $rc"; cat "$T/q4_kill.txt"; exit 1; }
grep -q '"epoch": 2,' "$T/q4-resume/scratch/train_state.json" \
  || { echo "FAIL: epoch 2's training state is gone:"; ls -laR "$T/q4-resume"; exit 1; }
run_app "$T/q4_cont.txt" "$Q4" "${Q4_ARGS[@]}" --save "$T/q4" --json "$T/q4.json" --continue \
  || { cat "$T/q4_cont.txt"; exit 1; }
grep -q "scratch: continuing after epoch 2 of 4" "$T/q4_cont.txt" || { echo "FAIL: q4 did not continue"; cat "$T/q4_cont.txt"; exit 1; }
compare "$T/q4_ref.json" "$T/q4.json" q4
if run_app "$T/q4_bad.txt" "$Q4" "${Q4_ARGS[@]/2e-3/3e-3}" --save "$T/q4" --continue; then
  echo "FAIL: q4 --continue with other settings should fail"; exit 1; fi
grep -q "made with other settings" "$T/q4_bad.txt" || { echo "FAIL: unclear error:"; cat "$T/q4_bad.txt"; exit 1; }
echo "nli_resume: PASS"
