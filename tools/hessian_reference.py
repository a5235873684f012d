#!/usr/bin/python3
"""Exact Hessian reference for plateau's sharpness probe: writes
tests/fixtures/hessian_*.bin.

The model is the independent float64 PyTorch statement of tools/reference.py
(plain torch ops). The loss is the masked mean token cross-entropy. The
weights and directions are rounded to float32 first, so the C code (fp32)
and this reference (fp64) evaluate the Hessian at exactly the same point.

  H v      torch.autograd.functional.hvp (reverse-over-reverse), per v
  H        built column by column by double backward (autograd.grad of the
           gradient against a basis vector), checked symmetric and equal to
           the hvp results above (two autograd routes, one answer)
  trace    sum of H's diagonal
  spectrum torch.linalg.eigvalsh(H), ascending

Arrays (the PLTFIX01 format of reference.py): config (int32: dim n_layers
n_heads n_kv_heads ffn_dim vocab seq_len tied B T n_params K), hyper (float32:
rope_theta norm_eps), tokens/targets [B,T] int32, mask [B,T], loss [1],
"w/NAME" per parameter in ParamTable order (the order of this list), v [K, n]
and hv [K, n] (flat, in that same parameter order), trace [1], eigenvalues [n]
ascending, eig_dominant [1] (largest magnitude: what power iteration finds),
diag [n] (H's diagonal). hessian_long.bin (T = 150) has the products only.

Run: /usr/bin/python3 tools/hessian_reference.py [output_dir]   (default tests/fixtures)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import DT, forward, make_params, masked_loss, write_fixture  # noqa: E402


def tiny(n_layers, n_heads, n_kv_heads, ffn, vocab, tied):
    return dict(dim=8, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv_heads, ffn_dim=ffn,
                vocab=vocab, seq_len=8, tied=tied, rope_theta=10000.0, norm_eps=1e-5)


def to_f32(t):
    return t.to(torch.float32).to(DT)


def make(path, cfg, B, T, seed, K=4, full=True):
    gen = torch.Generator().manual_seed(seed)
    params = {k: to_f32(v) for k, v in make_params(cfg, gen, 0.5).items()}
    names = list(params.keys())
    shapes = [params[k].shape for k in names]
    sizes = [params[k].numel() for k in names]
    n = sum(sizes)
    seq = torch.randint(0, cfg["vocab"], (B, T + 1), generator=gen)
    tokens, targets = seq[:, :-1], seq[:, 1:]
    mask = torch.zeros(B, T, dtype=DT)   # about two thirds of the positions count, at least one per row
    for b in range(B):
        mask[b, torch.randperm(T, generator=gen)[: (2 * T + 2) // 3]] = 1.0

    def unflatten(theta):
        out, off = {}, 0
        for name, shape, size in zip(names, shapes, sizes):
            out[name] = theta[off:off + size].view(shape)
            off += size
        return out

    def loss_fn(theta):
        return masked_loss(forward(cfg, unflatten(theta), tokens), targets, mask)

    theta = torch.cat([params[k].reshape(-1) for k in names])
    loss = loss_fn(theta)

    vs = to_f32(torch.randn(K, n, generator=gen, dtype=DT))
    hvs = torch.stack([torch.autograd.functional.hvp(loss_fn, theta, vs[i])[1] for i in range(K)])

    if not full:   # products only (a long sequence: the full Hessian is not needed)
        arrays = [
            ("config", torch.tensor([cfg["dim"], cfg["n_layers"], cfg["n_heads"], cfg["n_kv_heads"], cfg["ffn_dim"],
                                     cfg["vocab"], cfg["seq_len"], cfg["tied"], B, T, n, K], dtype=torch.int32)),
            ("hyper", torch.tensor([cfg["rope_theta"], cfg["norm_eps"]], dtype=DT)),
            ("tokens", tokens), ("targets", targets), ("mask", mask), ("loss", loss.reshape(1)),
        ]
        arrays += [("w/" + k, params[k]) for k in names]
        arrays += [("v", vs), ("hv", hvs)]
        size = write_fixture(path, arrays)
        print(f"{path}: {size} bytes, {n} parameters, loss {loss.item():.6f}, products only")
        return

    th = theta.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(th), th, create_graph=True)
    H = torch.empty(n, n, dtype=DT)
    for j in range(n):
        e = torch.zeros(n, dtype=DT)
        e[j] = 1.0
        (H[:, j],) = torch.autograd.grad(g, th, grad_outputs=e, retain_graph=True)
    asym = (H - H.T).norm() / H.norm()
    agree = (H @ vs.T - hvs.T).norm() / hvs.norm()
    assert asym < 1e-12 and agree < 1e-12, (asym, agree)
    evals = torch.linalg.eigvalsh(H)
    dominant = evals[evals.abs().argmax()]
    mags = evals.abs().sort(descending=True).values

    arrays = [
        ("config", torch.tensor([cfg["dim"], cfg["n_layers"], cfg["n_heads"], cfg["n_kv_heads"], cfg["ffn_dim"],
                                 cfg["vocab"], cfg["seq_len"], cfg["tied"], B, T, n, K], dtype=torch.int32)),
        ("hyper", torch.tensor([cfg["rope_theta"], cfg["norm_eps"]], dtype=DT)),
        ("tokens", tokens), ("targets", targets), ("mask", mask), ("loss", loss.reshape(1)),
    ]
    arrays += [("w/" + k, params[k]) for k in names]
    arrays += [("v", vs), ("hv", hvs), ("trace", H.diagonal().sum().reshape(1)), ("eigenvalues", evals),
               ("eig_dominant", dominant.reshape(1)), ("diag", H.diagonal().clone())]
    size = write_fixture(path, arrays)
    print(f"{path}: {size} bytes, {n} parameters, loss {loss.item():.6f}, trace {H.trace().item():.6f}, "
          f"eigenvalues [{evals[0].item():.5f}, {evals[-1].item():.5f}], dominant {dominant.item():.6f}, "
          f"|l2/l1| {(mags[1] / mags[0]).item():.4f}, asym {asym.item():.1e}")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    # GQA (2 query heads share 1 kv head), untied head, 2 layers, masked loss.
    make(os.path.join(out, "hessian_gqa_masked.bin"), tiny(2, 2, 1, 16, 16, 0), B=2, T=6, seed=11)
    # Tied head (the embedding gets both uses' curvature), 1 layer, MHA.
    make(os.path.join(out, "hessian_tied.bin"), tiny(1, 2, 2, 12, 16, 1), B=2, T=5, seed=12)
    # A sequence of 150 tokens: attention spans three of the C kernels' 64-row blocks.
    long_cfg = tiny(1, 2, 1, 12, 16, 0)
    long_cfg["seq_len"] = 160
    make(os.path.join(out, "hessian_long.bin"), long_cfg, B=1, T=150, seed=13, full=False)


if __name__ == "__main__":
    main()
