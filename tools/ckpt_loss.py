#!/usr/bin/python3
"""Reads a plateau checkpoint the way an outside tool would (safetensors
parsed from its header, Hugging Face config.json) and prints the mean
next-token loss over a token shard with the PyTorch reference model
(tools/reference.py, float64), as JSON comparable with
`plateau eval --ckpt DIR --suite loss --loss FILE [--limit N] --json -`.

Run: /usr/bin/python3 tools/ckpt_loss.py CKPT_DIR SHARD [max_windows]
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import DT, forward  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32)
        tensors[name] = t.reshape(info["shape"]).to(DT)
    return tensors


def read_shard(path):
    with open(path, "rb") as f:
        head = struct.unpack("<256i", f.read(1024))
        assert head[0] == 20240520 and head[1] == 1, "not an llm.c shard"
        return torch.frombuffer(bytearray(f.read(2 * head[2])), dtype=torch.int16).to(torch.int64) & 0xFFFF


def main():
    ckpt, shard = sys.argv[1], sys.argv[2]
    max_windows = int(sys.argv[3]) if len(sys.argv) > 3 else None
    hf = json.load(open(os.path.join(ckpt, "config.json")))
    cfg = dict(dim=hf["hidden_size"], n_layers=hf["num_hidden_layers"], n_heads=hf["num_attention_heads"],
               n_kv_heads=hf["num_key_value_heads"], ffn_dim=hf["intermediate_size"], vocab=hf["vocab_size"],
               tied=hf["tie_word_embeddings"], rope_theta=hf["rope_theta"], norm_eps=hf["rms_norm_eps"])
    T = hf["plateau"]["seq_len"] if "plateau" in hf else hf["max_position_embeddings"]
    p = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    tok = read_shard(shard)
    n = (len(tok) - 1) // T
    if max_windows:
        n = min(n, max_windows)
    total, count = 0.0, 0
    for w0 in range(0, n, 64):
        w = range(w0, min(n, w0 + 64))
        x = torch.stack([tok[i * T:i * T + T] for i in w])
        y = torch.stack([tok[i * T + 1:i * T + T + 1] for i in w])
        logits = forward(cfg, p, x)
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg["vocab"]), y.reshape(-1), reduction="sum")
        total += ce.item()
        count += y.numel()
    print(json.dumps({"ckpt": ckpt, "loss": {"file": shard, "mean": round(total / count, 6), "tokens": count,
                                             "seq_len": T}}))


if __name__ == "__main__":
    main()
