#!/usr/bin/env bash
# tests/apps/report_twice.sh APP_DIR — the main job's reproducibility on generated data: `report`
# runs all four studies (each through its own app, shrunk with --study-args) twice, from nothing
# each time (own checkpoint folders), and every number of the two report.json files must be
# identical — accuracies, perplexities, losses, confusion matrices — except wall times and
# throughputs. Also checks the report card has all four sections, grades and plots.
set -euo pipefail
APP_DIR="$1"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
source "$(dirname "$0")/toy_data.sh"
toy_nli "$T/data"
toy_bert_vocab "$T/data"
toy_wikitext "$T/data"
toy_images "$T/data"

"$APP_DIR/report" --help > "$T/help.txt"; grep -q -- "--study-args" "$T/help.txt"
if "$APP_DIR/report" --data "$T/data" --study-args "q9=--epochs 1" --out "$T/bad" > "$T/err.txt" 2>&1; then
  echo "FAIL: --study-args of an unknown study should fail"; exit 1; fi
grep -q "STUDY=FLAGS" "$T/err.txt" || { echo "FAIL: unclear error:"; cat "$T/err.txt"; exit 1; }

run_report() {  # run_report N
  "$APP_DIR/report" --data "$T/data" --out "$T/out$1" --checkpoints "$T/ck$1" --weights "$T/no-weights" \
    --study-args "q1=--sweep-labels 4,8 --image-size 32 --head-epochs 2 --frozen-epochs 1 --epochs 1 --scratch-epochs 1
                      --min-steps 0 --batch-size 16 --pretrain-epochs 1 --pretrain-images 100 --pretrain-test-images 20
                      --pretrain-batch-size 20" \
    --study-args "q2=--emsize 16 --nhid 16 --layers 1 --epochs 2 --bptt 8 --batch-size 4 --eval-batch-size 2" \
    --study-args "q3=--max-length 16 --head esim --projection 8 --composition 8 --mlp-hidden 16 --epochs 1
                      --frozen-epochs 1 --unfrozen-epochs 1 --scratch-epochs 1 --valid-size 10 --batch-size 16
                      --no-progress" \
    --study-args "q4=--runs scratch --config tiny --valid-size 10 --epochs 2 --batch-size 16 --max-length 32
                      --no-progress" > "$T/report$1.txt" 2>&1 || { cat "$T/report$1.txt"; exit 1; }
}
run_report 1
run_report 2

for f in report.md report.json q1_sweep.svg q2_perplexity.svg q3_accuracy.svg q4_accuracy.svg; do
  test -s "$T/out1/$f" || { echo "FAIL: the report did not write $f"; cat "$T/report1.txt"; exit 1; }
done
for q in "Q1:" "Q2:" "Q3:" "Q4:"; do
  grep -q "^## $q" "$T/out1/report.md" || { echo "FAIL: no $q section in report.md"; cat "$T/out1/report.md"; exit 1; }
done
if grep -q "No results" "$T/out1/report.md"; then echo "FAIL: a study wrote no results:"; cat "$T/out1/report.md"; exit 1; fi

python3 - "$T/out1/report.json" "$T/out2/report.json" <<'EOF'
import json, re, sys
# Wall times, throughputs, dates and paths differ between two runs by nature; everything else must not.
SKIP = re.compile(r"second|date|time|elapsed|per_s|finished|command")
def numbers(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            if not SKIP.search(k):
                yield from numbers(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, node
a = dict(numbers(json.load(open(sys.argv[1]))))
b = dict(numbers(json.load(open(sys.argv[2]))))
diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
for k in diff[:20]:
    print(f"FAIL: {k}: {a.get(k)} vs {b.get(k)}")
if diff:
    sys.exit(1)
if len(a) < 50:
    print(f"FAIL: only {len(a)} numbers compared"); sys.exit(1)
print(f"two reports from nothing: all {len(a)} numbers identical (timings excluded)")
EOF
grep -E "^(Test perplexity|\| (frozen|unfrozen|from scratch|fine-tuned))" "$T/out1/report.md" | head -12
echo "report_twice: PASS"
