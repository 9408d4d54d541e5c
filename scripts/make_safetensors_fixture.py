#!/usr/bin/python3
"""make_safetensors_fixture.py — writes a safetensors file from PyTorch tensors, by hand.

Why: a file produced outside ember, of every dtype the reader accepts (F32, F64, F16, BF16,
I64, I32, I16, I8, U8, BOOL), checks engine/io/safetensors.cpp against the format as the
reference implementation (huggingface/safetensors) writes it. That package is not installed
here, so this script follows its layout itself:
  u64 little-endian header length N | N bytes of JSON, space-padded to a multiple of 8 |
  data, tensors sorted by (element size descending, name), no gaps.
The header lists "__metadata__" first, then the tensors in data order.

Usage: /usr/bin/python3 scripts/make_safetensors_fixture.py OUT.safetensors
Prints each tensor's name, dtype, shape and values so a reader's result can be compared.
"""
import json
import struct
import sys

import torch

DTYPES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def tensor_bytes(t):
    t = t.contiguous().cpu().reshape(-1)  # 1-D: view() cannot change the element size of a 0-d tensor
    # 1-byte view of the storage: raw little-endian bytes, whatever the dtype (bf16 included).
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def write_safetensors(path, tensors, metadata=None):
    items = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    g = torch.Generator().manual_seed(0)
    tensors = {
        "fc.weight": torch.randn(3, 4, generator=g),
        "fc.bias": torch.randn(3, generator=g, dtype=torch.float64),
        "half": torch.tensor([1.0, -2.0, 65504.0, 2.0 ** -24, float("inf"), 0.333251953125], dtype=torch.float16),
        "brain": torch.tensor([1.0, -2.5, 0.15625], dtype=torch.bfloat16),
        "step": torch.tensor(12345678901, dtype=torch.int64),
        "ids": torch.tensor([[0, -1], [2147483647, 5]], dtype=torch.int32),
        "short": torch.tensor([-32768, 32767], dtype=torch.int16),
        "tiny": torch.tensor([-128, 127], dtype=torch.int8),
        "pixels": torch.tensor([0, 255], dtype=torch.uint8),
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 2),
    }
    write_safetensors(sys.argv[1], tensors, {"format": "pt", "source": "make_safetensors_fixture.py"})
    for name, t in tensors.items():
        print(name, DTYPES[t.dtype], list(t.shape), t.flatten().tolist())


if __name__ == "__main__":
    main()
