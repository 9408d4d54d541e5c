# tests/apps/toy_data.sh — sourced by the app tests: tiny generated datasets in the layouts of
# ../shared/data, so each app runs end to end in seconds with no real data. Everything is a pure
# function of its arguments (no clock, no /dev/urandom): two calls give identical files.

# toy_nli DIR — mnli/ and snli/ as the NLI reader finds them, with the split sizes scaled down. The
# label follows from the hypothesis: "runs" -> entailment, "sleeps" -> neutral, "isn't" -> contradiction.
toy_nli() {
  mkdir -p "$1/mnli" "$1/snli"
  _toy_nli_file() {  # FILE N OFFSET
    : > "$1"
    for i in $(seq 1 "$2"); do
      case $(( (i + $3) % 3 )) in
        0) h="A man runs."; l=entailment;; 1) h="A dog sleeps."; l=neutral;; 2) h="The cat isn't happy."; l=contradiction;;
      esac
      printf '{"premise": "A man in the park eats food %d.", "hypothesis": "%s", "label": "%s"}\n' "$i" "$h" "$l" >> "$1"
    done
  }
  _toy_nli_file "$1/mnli/dev_matched.jsonl" 30 0
  _toy_nli_file "$1/mnli/dev_mismatched.jsonl" 40 1
  _toy_nli_file "$1/snli/dev.jsonl" 30 2
  _toy_nli_file "$1/snli/test.jsonl" 30 0
  _toy_nli_file "$1/snli/train_subset20k.jsonl" 30 1
  gzip -nf "$1/snli/train_subset20k.jsonl"
}

# toy_bert_vocab DIR — bert/vocab.txt: the specials at BERT's ids, then the toy words (lower case,
# as the uncased tokenizer sees them) and the pieces of "isn't" and the digits.
toy_bert_vocab() {
  mkdir -p "$1/bert"
  { echo "[PAD]"; for i in $(seq 1 99); do echo "[unused$i]"; done; echo "[UNK]"; echo "[CLS]"; echo "[SEP]"; echo "[MASK]";
    for w in a man dog cat runs sleeps is isn "'" t not the park in sits eats food happy sad . , 0 1 2 3 4 5 6 7 8 9 \
      "##0" "##1" "##2" "##3" "##4" "##5" "##6" "##7" "##8" "##9"; do echo "$w"; done; } > "$1/bert/vocab.txt"
}

# toy_wikitext DIR — wikitext-2/{train,valid,test}.txt, pre-tokenised over the toy words (<unk> for
# rare words, as WikiText is).
toy_wikitext() {
  mkdir -p "$1/wikitext-2"
  for i in $(seq 1 60); do
    echo " a man in the park eats <unk> food . the dog runs . a cat sleeps , it is not happy . "
  done > "$1/wikitext-2/train.txt"
  head -5 "$1/wikitext-2/train.txt" > "$1/wikitext-2/valid.txt"
  head -5 "$1/wikitext-2/train.txt" > "$1/wikitext-2/test.txt"
}

# toy_images DIR — mnist/ (IDX, gzip; 20 train and 5 test images per digit) and cifar10/ (the
# binary batches; 20 images per batch file): class c is a bright 6x6 square at a position set by c
# on seeded noise, so a network can learn it.
toy_images() {
  python3 - "$1" <<'EOF'
import gzip, os, random, struct, sys
root = sys.argv[1]
rng = random.Random(20261202)
def image(c, side, channels):
    px = [[rng.randrange(0, 60) for _ in range(side * side)] for _ in range(channels)]
    r0, c0 = 2 + (c // 4) * 7, 2 + (c % 4) * 6
    for ch in px:
        for r in range(r0, r0 + 6):
            for q in range(c0, c0 + 6):
                ch[r * side + q] = 250
    return bytes(v for ch in px for v in ch)
os.makedirs(f"{root}/mnist", exist_ok=True)
for prefix, per_class in (("train", 20), ("t10k", 5)):
    labels = [c for _ in range(per_class) for c in range(10)]
    imgs = b"".join(image(c, 28, 1) for c in labels)
    with gzip.GzipFile(f"{root}/mnist/{prefix}-images-idx3-ubyte.gz", "wb", mtime=0) as f:
        f.write(struct.pack(">IIII", 0x803, len(labels), 28, 28) + imgs)
    with gzip.GzipFile(f"{root}/mnist/{prefix}-labels-idx1-ubyte.gz", "wb", mtime=0) as f:
        f.write(struct.pack(">II", 0x801, len(labels)) + bytes(labels))
os.makedirs(f"{root}/cifar10", exist_ok=True)
for name in [f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]:
    with open(f"{root}/cifar10/{name}.bin", "wb") as f:
        for i in range(20):
            f.write(bytes([i % 10]) + image(i % 10, 32, 3))
with open(f"{root}/cifar10/batches.meta.txt", "w") as f:
    f.write("".join(f"class{c}\n" for c in range(10)))
EOF
}
