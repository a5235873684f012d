#!/usr/bin/python3
"""PyTorch peer of bench/bench_train.c: the same Llama-style shapes S and M,
B 8 x T 256 random tokens, one step = zero_grad + forward + backward + AdamW,
counted with the same FLOPs per token (6 N_matmul + 6 vocab dim + 12 L T dim).

    OMP_NUM_THREADS=2 /usr/bin/python3 tools/bench_torch.py [S] [M] [--steps N] [--cpu]

--cpu: times by the process's CPU clock divided by the thread count, as
bench_train --cpu does (a stand-in for an idle machine; OMP_WAIT_POLICY=passive).
It flatters PyTorch, whose Python and autograd bookkeeping runs on one thread.

Debian's python3-torch (1.13), fp32 (its CPU bf16 autocast is not the paper's
mixed precision and was slower than fp32 on this CPU class), plain ops:
RMSNorm, rotary (rotate_half), grouped-query causal attention, SwiGLU.
"""
import math
import sys
import time

import torch
import torch.nn.functional as F

SHAPES = {  # dim, layers, heads, kv heads, ffn, vocab
    "S": (256, 4, 4, 2, 768, 4096),
    "M": (512, 8, 8, 4, 1536, 8192),
}


class Layer(torch.nn.Module):
    def __init__(self, d, h, kvh, f):
        super().__init__()
        self.h, self.kvh, self.hd = h, kvh, d // h
        self.n1 = torch.nn.Parameter(torch.ones(d))
        self.n2 = torch.nn.Parameter(torch.ones(d))
        self.wqkv = torch.nn.Linear(d, (h + 2 * kvh) * self.hd, bias=False)
        self.wo = torch.nn.Linear(h * self.hd, d, bias=False)
        self.wgu = torch.nn.Linear(d, 2 * f, bias=False)
        self.wd = torch.nn.Linear(f, d, bias=False)

    @staticmethod
    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    @staticmethod
    def rope(x, cos, sin):
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), -1)
        return x * cos + rot * sin

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        qkv = self.wqkv(self.norm(x, self.n1))
        q, k, v = qkv.split([self.h * self.hd, self.kvh * self.hd, self.kvh * self.hd], -1)
        q = self.rope(q.view(B, T, self.h, self.hd).transpose(1, 2), cos, sin)
        k = self.rope(k.view(B, T, self.kvh, self.hd).transpose(1, 2), cos, sin)
        v = v.view(B, T, self.kvh, self.hd).transpose(1, 2)
        rep = self.h // self.kvh
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.wo(o)
        g, u = self.wgu(self.norm(x, self.n2)).chunk(2, -1)
        return x + self.wd(F.silu(g) * u)


class Model(torch.nn.Module):
    def __init__(self, d, L, h, kvh, f, V, T):
        super().__init__()
        self.emb = torch.nn.Embedding(V, d)
        self.layers = torch.nn.ModuleList(Layer(d, h, kvh, f) for _ in range(L))
        self.nf = torch.nn.Parameter(torch.ones(d))
        self.head = torch.nn.Linear(d, V, bias=False)
        hd = d // h
        inv = 10000.0 ** (-torch.arange(0, hd // 2, dtype=torch.float64) * 2 / hd)
        ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
        self.cos = torch.cat((ang.cos(), ang.cos()), -1).float()
        self.sin = torch.cat((ang.sin(), ang.sin()), -1).float()
        self.mask = torch.full((T, T), float("-inf")).triu(1)

    def forward(self, tok):
        x = self.emb(tok)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.head(Layer.norm(x, self.nf))


def clock(cpu):
    return time.process_time() / torch.get_num_threads() if cpu else time.perf_counter()


def run(name, steps, cpu, warmup=2, B=8, T=256):
    d, L, h, kvh, f, V = SHAPES[name]
    torch.manual_seed(1)
    m = Model(d, L, h, kvh, f, V, T)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    kv = kvh * d // h
    flops = 6 * L * (2 * d * d + 2 * d * kv + 3 * d * f) + 6 * V * d + 12 * L * T * d
    for it in range(warmup + steps):
        if it == warmup:
            t0 = clock(cpu)
        tok = torch.randint(0, V, (B, T + 1))
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(tok[:, :-1]).reshape(-1, V), tok[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
    dt = clock(cpu) - t0
    tok_s = B * T * steps / dt
    print(f"torch {name} fp32 {tok_s:8.0f} tok/s {1e3 * dt / steps:9.1f} ms/step "
          f"{tok_s * flops / 1e9:7.1f} GFLOP/s (loss {loss.item():.3f})", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    steps = 5
    if "--steps" in args:
        steps = int(args[args.index("--steps") + 1])
    names = [a for a in args if a in SHAPES] or ["S", "M"]
    cpu = "--cpu" in args
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads"
          f"{'; per CPU second x threads (--cpu)' if cpu else ''}", flush=True)
    for n in names:
        run(n, steps, cpu)
