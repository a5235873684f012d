#!/usr/bin/python3
"""PyTorch reference for plateau's Llama model: writes tests/fixtures/*.bin.

An independent statement of the architecture in plain torch ops (float64),
with autograd for the gradients and torch.optim.AdamW + clip_grad_norm_ for
the optimizer steps. tests/test_model.c checks the C engine against it.

Fixture file format (little-endian), a list of named arrays:
    8 bytes   magic "PLTFIX01"
    u32       number of arrays
    per array:
      u32     name length, then the name (UTF-8, no NUL)
      u32     dtype: 0 = float32, 1 = int32
      u32     ndim, then ndim x u64 dims
      data    prod(dims) x 4 bytes, row-major
Arrays: config (int32: dim n_layers n_heads n_kv_heads ffn_dim vocab seq_len
tied B T steps), hyper (float32: rope_theta norm_eps lr beta1 beta2 eps
weight_decay clip), tokens/targets [B,T] int32, mask [B,T] float32 (absent:
every position counts), logits [B,T,V], loss [1], grad_norms [steps] (before
clipping), and per parameter (Hugging Face name): "w/NAME" initial weights,
"g/NAME" gradient of the loss at the initial weights, "g1/NAME", "g2/NAME"
the (unclipped) gradients before the second and third step, "w3/NAME" weights
after `steps` (3) AdamW steps on the same batch.

Run: /usr/bin/python3 tools/reference.py [output_dir]   (default tests/fixtures)
"""
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DT = torch.float64


def nano(n_kv_heads, tied):
    return dict(dim=32, n_layers=2, n_heads=4, n_kv_heads=n_kv_heads, ffn_dim=64,
                vocab=256, seq_len=64, tied=tied, rope_theta=10000.0, norm_eps=1e-5)


def make_params(cfg, gen, embed_std):
    """HF-named tensors; matrices with a larger spread than training init so
    every term of the gradient is well away from zero, norm gains near 1.
    A tied head wants a smaller embed_std: with large logits the rows of absent
    tokens get gradients ~1e-9, where Adam's sign-like first steps turn float32
    rounding into visible weight differences."""
    d, f, V = cfg["dim"], cfg["ffn_dim"], cfg["vocab"]
    hd = d // cfg["n_heads"]
    kv = hd * cfg["n_kv_heads"]

    def mat(r, c, std):
        return torch.randn(r, c, generator=gen, dtype=DT) * std

    def gain():
        return 1.0 + 0.2 * torch.randn(d, generator=gen, dtype=DT)

    p = {"model.embed_tokens.weight": mat(V, d, embed_std)}
    for l in range(cfg["n_layers"]):
        pre = f"model.layers.{l}."
        p[pre + "input_layernorm.weight"] = gain()
        p[pre + "self_attn.q_proj.weight"] = mat(d, d, 0.3)
        p[pre + "self_attn.k_proj.weight"] = mat(kv, d, 0.3)
        p[pre + "self_attn.v_proj.weight"] = mat(kv, d, 0.2)
        p[pre + "self_attn.o_proj.weight"] = mat(d, d, 0.1)
        p[pre + "post_attention_layernorm.weight"] = gain()
        p[pre + "mlp.gate_proj.weight"] = mat(f, d, 0.2)
        p[pre + "mlp.up_proj.weight"] = mat(f, d, 0.2)
        p[pre + "mlp.down_proj.weight"] = mat(d, f, 0.1)
    p["model.norm.weight"] = gain()
    if not cfg["tied"]:
        p["lm_head.weight"] = mat(V, d, 0.2)
    return p


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x, theta):
    """x [B, heads, T, hd]; HF Llama: cos/sin of t * theta^(-2i/hd), duplicated."""
    T, hd = x.shape[2], x.shape[3]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=DT) / hd))
    ang = torch.outer(torch.arange(T, dtype=DT), inv_freq)
    emb = torch.cat((ang, ang), dim=-1)
    return x * emb.cos() + rotate_half(x) * emb.sin()


def forward(cfg, p, tokens):
    B, T = tokens.shape
    d, H, KVH = cfg["dim"], cfg["n_heads"], cfg["n_kv_heads"]
    hd = d // H
    eps = cfg["norm_eps"]
    x = p["model.embed_tokens.weight"][tokens]                       # [B, T, d]
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    for l in range(cfg["n_layers"]):
        pre = f"model.layers.{l}."
        h = rms_norm(x, p[pre + "input_layernorm.weight"], eps)
        q = (h @ p[pre + "self_attn.q_proj.weight"].T).view(B, T, H, hd).transpose(1, 2)
        k = (h @ p[pre + "self_attn.k_proj.weight"].T).view(B, T, KVH, hd).transpose(1, 2)
        v = (h @ p[pre + "self_attn.v_proj.weight"].T).view(B, T, KVH, hd).transpose(1, 2)
        q, k = apply_rope(q, cfg["rope_theta"]), apply_rope(k, cfg["rope_theta"])
        k = k.repeat_interleave(H // KVH, dim=1)                     # query head h -> kv head h // rep
        v = v.repeat_interleave(H // KVH, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(causal, float("-inf"))
        a = torch.softmax(s, dim=-1) @ v                              # [B, H, T, hd]
        a = a.transpose(1, 2).reshape(B, T, H * hd)
        x = x + a @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = F.silu(h @ p[pre + "mlp.gate_proj.weight"].T)
        u = h @ p[pre + "mlp.up_proj.weight"].T
        x = x + (g * u) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if cfg["tied"] else p["lm_head.weight"]
    return x @ head.T                                                  # [B, T, V]


def masked_loss(logits, targets, mask):
    V = logits.shape[-1]
    ce = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none")
    keep = torch.ones_like(ce) if mask is None else (mask.reshape(-1) != 0).to(DT)
    return (ce * keep).sum() / keep.sum()


def write_fixture(path, arrays):
    out = bytearray(b"PLTFIX01")
    out += struct.pack("<I", len(arrays))
    for name, t in arrays:
        t = t.detach().contiguous()
        if t.dtype in (torch.int32, torch.int64):
            code, data = 1, t.to(torch.int32).numpy().astype("<i4").tobytes()
        else:
            code, data = 0, t.to(torch.float32).numpy().astype("<f4").tobytes()
        nb = name.encode()
        out += struct.pack("<I", len(nb)) + nb + struct.pack("<II", code, t.dim())
        out += struct.pack(f"<{t.dim()}Q", *t.shape)
        out += data
    with open(path, "wb") as fh:
        fh.write(out)
    return len(out)


def make_fixture(path, cfg, B, T, seed, mask_kind, lr, wd, clip, embed_std=0.5, steps=3):
    gen = torch.Generator().manual_seed(seed)
    params = make_params(cfg, gen, embed_std)
    seq = torch.randint(0, cfg["vocab"], (B, T + 1), generator=gen)
    tokens, targets = seq[:, :-1], seq[:, 1:]
    mask = None
    if mask_kind == "half":
        # hide a random half of the positions (exactly half per sequence)
        mask = torch.zeros(B, T, dtype=DT)
        for b in range(B):
            mask[b, torch.randperm(T, generator=gen)[: T // 2]] = 1.0

    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    logits = forward(cfg, leaves, tokens)
    loss = masked_loss(logits, targets, mask)
    loss.backward()
    grads = {k: v.grad.clone() for k, v in leaves.items()}

    decay = [v for v in leaves.values() if v.dim() == 2]
    no_decay = [v for v in leaves.values() if v.dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    norms, step_grads = [], []
    for step in range(steps):
        if step > 0:
            opt.zero_grad()
            masked_loss(forward(cfg, leaves, tokens), targets, mask).backward()
            step_grads.append({k: v.grad.clone() for k, v in leaves.items()})
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(leaves.values()), clip)))
        opt.step()

    arrays = [
        ("config", torch.tensor([cfg["dim"], cfg["n_layers"], cfg["n_heads"], cfg["n_kv_heads"],
                                 cfg["ffn_dim"], cfg["vocab"], cfg["seq_len"], cfg["tied"], B, T, steps],
                                dtype=torch.int32)),
        ("hyper", torch.tensor([cfg["rope_theta"], cfg["norm_eps"], lr, 0.9, 0.95, 1e-8, wd, clip], dtype=DT)),
        ("tokens", tokens), ("targets", targets),
    ]
    if mask is not None:
        arrays.append(("mask", mask))
    arrays += [("logits", logits), ("loss", loss.reshape(1)), ("grad_norms", torch.tensor(norms, dtype=DT))]
    arrays += [("w/" + k, v) for k, v in params.items()]
    arrays += [("g/" + k, v) for k, v in grads.items()]
    for s, g in enumerate(step_grads, start=1):
        arrays += [(f"g{s}/" + k, v) for k, v in g.items()]
    arrays += [("w3/" + k, v) for k, v in leaves.items()]
    size = write_fixture(path, arrays)
    print(f"{path}: {size} bytes, loss {loss.item():.6f}, grad norms "
          + " ".join(f"{n:.4f}" for n in norms) + f" (clip {clip})")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    make_fixture(os.path.join(out, "nano_mha.bin"), nano(4, 0), B=2, T=32, seed=1,
                 mask_kind=None, lr=1e-2, wd=0.1, clip=1.0)
    make_fixture(os.path.join(out, "nano_gqa_masked.bin"), nano(2, 0), B=3, T=64, seed=2,
                 mask_kind="half", lr=1e-2, wd=0.1, clip=1.0)
    # clip above the gradient norm: the unclipped path
    make_fixture(os.path.join(out, "nano_tied.bin"), nano(2, 1), B=2, T=16, seed=3,
                 mask_kind=None, lr=1e-2, wd=0.1, clip=50.0, embed_std=0.1)


if __name__ == "__main__":
    main()
