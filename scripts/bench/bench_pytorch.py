#!/usr/bin/python3
"""scripts/bench/bench_pytorch.py — PyTorch's side of apps/bench: the same workloads, shapes and
timing rule (median of --repeats after --warmup), on the CPU with --threads threads (default 2, the
machine's cores). Prints a table and writes JSON; scripts/bench/compare.sh puts both side by side.

  sgemm       torch.mm of two 1024x1024 float32 matrices
  bert_step   transformers' BertModel in all-MiniLM-L6-v2's shape (random init: the cost does not
              depend on the values), batch 32 x length 128, masked mean pooling + Linear(384, 3),
              cross-entropy, backward, torch.optim.AdamW(lr 5e-5, weight_decay 0.01), loss.item()
  bert_infer  the encoder forward under torch.no_grad() in eval mode
  resnet_train32/64, resnet_infer32/64   torchvision resnet18(num_classes=10), batch 64, SGD momentum 0.9
  lstm_step   word_language_model's LSTM LM, 2x200 tied, vocab 33,278, batch 20 x bptt 35, clip 0.25, SGD lr 20
  ops         the hot ops alone, forward + backward(ones), the shapes of apps/bench.cpp: conv2d per ResNet18
              layer (F.conv2d), F.linear, nn.LSTM(200, 200), attention as transformers 4.30's BertSelfAttention
              computes it on torch 1.13 (matmul, additive mask, softmax, dropout 0.1, matmul), F.layer_norm,
              F.cross_entropy over 33,278 classes

Needs Debian's python3-torch and transformers==4.30.2 (pip) for /usr/bin/python3.
  /usr/bin/python3 scripts/bench/bench_pytorch.py --json results/bench_pytorch.json
"""
import argparse
import datetime
import json
import os
import resource
import statistics
import time

import torch


def timed(f, warmup, repeats):
    for _ in range(warmup):
        f()
    ts = []
    for _ in range(repeats):
        a = time.perf_counter()
        f()
        ts.append(time.perf_counter() - a)
    return ts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="sgemm,bert_step,bert_infer,resnet_train32,resnet_infer32,resnet_train64,"
                                      "resnet_infer64,lstm_step,ops")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="results/bench_pytorch.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    wants = set(a.only.split(","))
    rows = []

    def row(name, items, flops, ts):
        med = sorted(ts)[len(ts) // 2]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        rows.append({"workload": name, "median_s": med, "min_s": min(ts), "times_s": ts,
                     "items_per_second": items / med, "gflops": flops / med / 1e9, "peak_rss_mib": rss})

    if "sgemm" in wants:
        n = 1024
        x, y = torch.randn(n, n), torch.randn(n, n)
        with torch.no_grad():
            row("sgemm 1024^3", 1, 2.0 * n ** 3, timed(lambda: torch.mm(x, y), a.warmup, max(a.repeats, 10)))
    if wants & {"bert_step", "bert_infer"}:
        from transformers import BertConfig, BertModel
        cfg = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                         intermediate_size=1536, hidden_act="gelu", max_position_embeddings=512)
        B, T = a.batch, a.length
        bert = BertModel(cfg)
        head = torch.nn.Linear(384, 3)
        ids = torch.randint(1, cfg.vocab_size, (B, T))
        types = torch.zeros(B, T, dtype=torch.long)
        mask = torch.ones(B, T, dtype=torch.long)
        targets = torch.randint(0, 3, (B,))
        C, I = 384.0, 1536.0
        fwd = 6 * (2 * B * T * (4 * C * C + 2 * C * I) + 4 * B * T * T * C)
        if "bert_step" in wants:
            opt = torch.optim.AdamW(list(bert.parameters()) + list(head.parameters()), lr=5e-5, weight_decay=0.01)
            bert.train()

            def step():
                opt.zero_grad(set_to_none=True)
                h = bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).float()
                pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                loss = torch.nn.functional.cross_entropy(head(pooled), targets)
                loss.backward()
                opt.step()
                loss.item()
            row(f"bert_step MiniLM b{B} t{T}", B, 3 * fwd, timed(step, a.warmup, a.repeats))
        if "bert_infer" in wants:
            bert.eval()
            with torch.no_grad():
                row(f"bert_infer MiniLM b{B} t{T}", B, fwd,
                    timed(lambda: bert(input_ids=ids, token_type_ids=types, attention_mask=mask), a.warmup, a.repeats))

    for size in (32, 64):
        tr, inf = f"resnet_train{size}", f"resnet_infer{size}"
        if not wants & {tr, inf}:
            continue
        import torchvision
        net = torchvision.models.resnet18(num_classes=10)
        B = 64
        x = torch.randn(B, 3, size, size)
        y = torch.randint(0, 10, (B,))
        fwd = 2 * 1.82e9 * B * size * size / (224.0 * 224.0)
        if tr in wants:
            opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
            net.train()

            def rstep():
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(net(x), y)
                loss.backward()
                opt.step()
                loss.item()
            row(f"resnet18 train b64 {size}px", B, 3 * fwd, timed(rstep, a.warmup, a.repeats))
        if inf in wants:
            net.eval()
            with torch.no_grad():
                row(f"resnet18 infer b64 {size}px", B, fwd, timed(lambda: net(x), a.warmup, a.repeats))
    if "lstm_step" in wants:
        V, H, T, B = 33278, 200, 35, 20
        enc = torch.nn.Embedding(V, H)
        rnn = torch.nn.LSTM(H, H, 2, dropout=0.2)
        dec = torch.nn.Linear(H, V)
        dec.weight = enc.weight
        drop = torch.nn.Dropout(0.2)
        params = list(enc.parameters()) + list(rnn.parameters()) + [dec.bias]
        ids = torch.randint(0, V, (T, B))
        tgt = torch.randint(0, V, (T * B,))
        flops = 3 * T * B * (2 * 2 * 4.0 * H * (2 * H) + 2.0 * H * V)

        def lstep():
            for p in params:
                p.grad = None
            out, _ = rnn(drop(enc(ids)))
            loss = torch.nn.functional.cross_entropy(dec(drop(out)).view(-1, V), tgt)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 0.25)
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-20)
            loss.item()
        row("lstm_lm 2x200 b20 t35", T * B, flops, timed(lstep, a.warmup, a.repeats))

    def want_op(name):
        return "ops" in wants or name in wants

    def op_row(name, flops, tensors, f):
        def run():
            for t in tensors:
                t.grad = None
            f()
        row(name, 1, flops, timed(run, a.warmup, a.repeats))

    F = torch.nn.functional
    convs = [("stem", 3, 64, 64, 7, 2, 3, False), ("l1", 64, 64, 16, 3, 1, 1, True),
             ("l2_down", 64, 128, 16, 3, 2, 1, True), ("l2_skip", 64, 128, 16, 1, 2, 0, True),
             ("l2", 128, 128, 8, 3, 1, 1, True), ("l3_down", 128, 256, 8, 3, 2, 1, True),
             ("l3", 256, 256, 4, 3, 1, 1, True), ("l4_down", 256, 512, 4, 3, 2, 1, True),
             ("l4", 512, 512, 2, 3, 1, 1, True)]
    for (n, cin, cout, hw, k, s, pad, xg) in convs:
        name = f"op_conv_{n}"
        if not want_op(name):
            continue
        N, ho = 64, (hw + 2 * pad - k) // s + 1
        x = torch.randn(N, cin, hw, hw, requires_grad=xg)
        w = torch.randn(cout, cin, k, k, requires_grad=True)
        g = torch.ones(N, cout, ho, ho)
        fwd = 2.0 * N * cout * ho * ho * cin * k * k
        op_row(f"{name} {cin}->{cout} k{k}/{s} {hw}px", (3 if xg else 2) * fwd, [x, w],
               lambda: F.conv2d(x, w, None, s, pad).backward(g))
    if want_op("op_linear"):
        M, K, N = 4096, 384, 1536
        x, w, b = (torch.randn(*sh, requires_grad=True) for sh in ((M, K), (N, K), (N,)))
        g = torch.ones(M, N)
        op_row("op_linear 4096x384 -> 1536", 3 * 2.0 * M * K * N, [x, w, b], lambda: F.linear(x, w, b).backward(g))
    if want_op("op_lstm"):
        T, B, H = 35, 20, 200
        lstm = torch.nn.LSTM(H, H, 1)
        x = torch.randn(T, B, H, requires_grad=True)
        g = torch.ones(T, B, H)
        op_row("op_lstm 1x200 t35 b20", 3 * T * B * 2 * 4.0 * H * (2 * H), [x] + list(lstm.parameters()),
               lambda: lstm(x)[0].backward(g))
    if want_op("op_attention"):
        B, Hh, T, D = 32, 12, 128, 32
        q, k, v = (torch.randn(B, Hh, T, D, requires_grad=True) for _ in range(3))
        mask = torch.ones(B, 1, 1, T)
        g = torch.ones(B, Hh, T, D)

        def attn():
            scores = torch.matmul(q, k.transpose(-1, -2)) / D ** 0.5 + (1.0 - mask) * torch.finfo(torch.float32).min
            probs = F.dropout(F.softmax(scores, dim=-1), 0.1, training=True)
            torch.matmul(probs, v).backward(g)
        op_row("op_attention b32 h12 t128 d32", 3 * 2.0 * 2.0 * B * Hh * T * T * D, [q, k, v], attn)
    if want_op("op_layernorm"):
        M, C = 4096, 384
        x = torch.randn(M, C, requires_grad=True)
        w, b = torch.randn(C, requires_grad=True), torch.randn(C, requires_grad=True)
        g = torch.ones(M, C)
        op_row("op_layernorm 4096x384", 0, [x, w, b], lambda: F.layer_norm(x, (C,), w, b, 1e-12).backward(g))
    if want_op("op_softmax_ce"):
        N, V = 700, 33278
        logits = torch.randn(N, V, requires_grad=True)
        tgt = torch.randint(0, V, (N,))
        op_row("op_softmax_ce 700x33278", 0, [logits], lambda: F.cross_entropy(logits, tgt).backward())

    print(f"{'workload':44s} {'median ms':>10s} {'items/s':>12s} {'GFLOP/s':>10s} {'RSS MiB':>9s}")
    for r in rows:
        print(f"{r['workload']:44s} {1e3 * r['median_s']:10.2f} {r['items_per_second']:12.1f} {r['gflops']:10.1f} "
              f"{r['peak_rss_mib']:9.0f}")
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"framework": "pytorch", "torch": torch.__version__, "threads": a.threads,
                   "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "warmup": a.warmup,
                   "repeats": a.repeats, "results": rows}, f, indent=1)
    print(f"written to {a.json}")


if __name__ == "__main__":
    main()
