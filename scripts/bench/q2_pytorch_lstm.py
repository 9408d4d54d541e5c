#!/usr/bin/python3
"""scripts/bench/q2_pytorch_lstm.py — PyTorch's side of the Q2 speed benchmark (issue 5, item 7):
training tokens/s of pytorch/examples word_language_model's LSTM language model, whose nn.LSTM
runs on cuDNN on a GPU, to put beside ember's q2_wikitext `tokens_per_second` on the same
machine in the same session. See scripts/bench/README.md for the ember side and how to compare.

What one step is (the example's train() loop, main.py): a BPTT window of 35 rows × 20 streams,
hidden state carried and detached between windows, forward (encoder → dropout → nn.LSTM →
dropout → decoder), cross_entropy over the window, backward, clip_grad_norm_(0.25), the
example's plain SGD update p -= lr·grad at lr 20, and loss.item() (as the example's running
loss does, one host sync per step). Token ids are random in [0, 33278) — WikiText-2's vocabulary
size — since the cost of a step does not depend on which words it sees.

Timing: `--warmup` steps first (cuDNN plan choice, allocator growth), then torch.cuda.synchronize
and `--steps` timed steps, synchronised again at the end. tokens/s = steps·bptt·batch / seconds.

Configs "LxH": L layers, emsize = nhid = H, tied (as q2_wikitext's presets); dropout as the
presets: 2x650 → 0.5, 2x1500 → 0.65, anything else 0.2 (override with --dropout).

  /usr/bin/python3 scripts/bench/q2_pytorch_lstm.py --device cuda --steps 200 --json results/bench_q2_pytorch.json
  /usr/bin/python3 scripts/bench/q2_pytorch_lstm.py --device cpu --steps 3 --warmup 1 --configs 1x64   (smoke test)
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESET_DROPOUT = {650: 0.5, 1500: 0.65}


class RNNModel(nn.Module):
    """word_language_model/model.py's RNNModel, LSTM flavour (forward returns logits (T, B, V))."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        self.nhid, self.nlayers = nhid, nlayers

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden

    def init_hidden(self, bsz):
        w = next(self.parameters())
        return (w.new_zeros(self.nlayers, bsz, self.nhid), w.new_zeros(self.nlayers, bsz, self.nhid))


def parse_config(text):
    try:
        layers, hidden = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--configs: expected LxH such as 2x650, got '{text}'")
    if layers <= 0 or hidden <= 0:
        raise SystemExit(f"--configs: sizes must be positive, got '{text}'")
    return layers, hidden


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_one(args, device, layers, hidden):
    torch.manual_seed(args.seed)
    dropout = args.dropout if args.dropout is not None else PRESET_DROPOUT.get(hidden, 0.2)
    model = RNNModel(args.vocab, hidden, hidden, layers, dropout, tie_weights=not args.untied).to(device)
    model.train()
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    # A random stream long enough that the timed steps never wrap: (rows, batch) as batchify makes.
    total_steps = args.warmup + args.steps
    data = torch.randint(0, args.vocab, (total_steps * args.bptt + 1, args.batch_size), device=device)
    hidden_state = model.init_hidden(args.batch_size)

    def step(i):
        nonlocal hidden_state
        inp = data[i * args.bptt:(i + 1) * args.bptt]  # (T, B)
        target = data[i * args.bptt + 1:(i + 1) * args.bptt + 1].reshape(-1)
        hidden_state = tuple(h.detach() for h in hidden_state)
        model.zero_grad()
        logits, hidden_state = model(inp, hidden_state)
        loss = F.cross_entropy(logits.view(-1, args.vocab), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, args.clip)
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-args.lr)
        return loss.item()

    for i in range(args.warmup):
        step(i)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    loss = float("nan")
    for i in range(args.warmup, total_steps):
        loss = step(i)
    sync(device)
    seconds = time.perf_counter() - start
    tokens = args.steps * args.bptt * args.batch_size
    return {"config": f"{layers}x{hidden}", "layers": layers, "emsize": hidden, "nhid": hidden,
            "tied": not args.untied, "dropout": dropout, "vocab_size": args.vocab, "bptt": args.bptt,
            "batch_size": args.batch_size, "parameters": n_params, "warmup_steps": args.warmup,
            "steps": args.steps, "tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds,
            "ms_per_step": 1e3 * seconds / args.steps, "last_loss": loss,
            "peak_memory_mib": (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None}


def describe_device(device):
    if device.type == "cuda":
        return {"name": torch.cuda.get_device_name(device), "cudnn": torch.backends.cudnn.version(),
                "cuda": torch.version.cuda, "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
    return {"name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda | cuda:N | cpu")
    ap.add_argument("--configs", default="2x650,2x1500", help="comma-separated LxH (layers x emsize=nhid)")
    ap.add_argument("--steps", type=int, default=200, help="timed training steps per config")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--vocab", type=int, default=33278, help="WikiText-2's vocabulary size")
    ap.add_argument("--dropout", type=float, default=None, help="override the preset dropout")
    ap.add_argument("--untied", action="store_true", help="separate decoder weights (default: tied)")
    ap.add_argument("--lr", type=float, default=20.0)
    ap.add_argument("--clip", type=float, default=0.25)
    ap.add_argument("--no-tf32", action="store_true", help="disable TF32 in cuDNN and matmuls (strict float32)")
    ap.add_argument("--seed", type=int, default=1111)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    if args.steps <= 0 or args.warmup < 0:
        raise SystemExit("--steps must be positive and --warmup non-negative")

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: this torch sees no CUDA device (use --device cpu for a smoke test)")
        torch.backends.cudnn.benchmark = True
        if args.no_tf32:
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
    configs = [parse_config(c) for c in args.configs.split(",") if c.strip()]

    results = []
    print(f"PyTorch {torch.__version__} word_language_model LSTM, training tokens/s on {device} "
          f"({describe_device(device)['name']}); bptt {args.bptt}, batch {args.batch_size}, vocab {args.vocab}, "
          f"{args.warmup} warm-up + {args.steps} timed steps")
    print(f"{'config':>8} {'params':>12} {'dropout':>8} {'ms/step':>10} {'tokens/s':>12} {'last loss':>10}")
    for layers, hidden in configs:
        r = bench_one(args, device, layers, hidden)
        results.append(r)
        print(f"{r['config']:>8} {r['parameters']:>12,} {r['dropout']:>8.2f} {r['ms_per_step']:>10.2f} "
              f"{r['tokens_per_second']:>12,.0f} {r['last_loss']:>10.3f}")

    doc = {"benchmark": "q2 LSTM LM training tokens/s (PyTorch word_language_model, nn.LSTM)",
           "framework": "pytorch", "torch": torch.__version__, "device": str(device),
           "device_info": describe_device(device), "host": platform.node(),
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": "python3 scripts/bench/q2_pytorch_lstm.py " + " ".join(sys.argv[1:]),
           "results": results}
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
