#!/usr/bin/env python3
"""test_sparsegpt_oracle.py — autoprune's native SparseGPT against the published algorithm (Frantar & Alistarh
2023, Algorithm 1 / the reference fasterprune) written here in torch float64, on random layers with correlated
inputs: same mask, weights within a tight tolerance, unstructured (several blocks, a partial block, a dead input)
and N:M. The C side runs through a tiny driver compiled against $AP_BUILD's libraries.

The one deliberate difference from the reference code, mirrored here: a column block prunes exactly
floor(out*i2*s) - floor(out*i1*s) weights (ties to the lower flat index) instead of every score <= the sorted
value at index int(k*s), so that the matrix gets exactly floor(out*in*s) zeros."""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap, driver_build  # noqa: E402

ROOT = os.environ.get("AP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("AP_BUILD") or os.path.join(ROOT, "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
tap = Tap()


def reference_sparsegpt(W, H, sparsity, prune_n, prune_m, blocksize, percdamp):
    """The published algorithm in float64."""
    W = W.clone().double()
    H = H.clone().double()
    rows, cols = W.shape
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=torch.float64)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        Err1 = torch.zeros_like(W1)
        Hinv1 = Hinv[i1:i2, i1:i2]
        dg = torch.diag(Hinv1)
        mask1 = torch.zeros(W1.shape, dtype=torch.bool)
        if prune_m == 0:
            tmp = (W1 ** 2 / dg.reshape(1, -1) ** 2).flatten()
            k = math.floor(rows * i2 * sparsity) - math.floor(rows * i1 * sparsity)
            order = torch.sort(tmp, stable=True).indices
            flat = mask1.flatten()
            flat[order[:k]] = True
            mask1 = flat.reshape(W1.shape)
        for i in range(count):
            if prune_m != 0 and i % prune_m == 0:
                tmp = W1[:, i:i + prune_m] ** 2 / dg[i:i + prune_m].reshape(1, -1) ** 2
                idx = torch.sort(tmp, dim=1, stable=True).indices[:, :prune_n]
                mask1.scatter_(1, i + idx, True)
            w = W1[:, i]
            q = w.clone()
            q[mask1[:, i]] = 0
            Q1[:, i] = q
            err1 = (w - q) / Hinv1[i, i]
            W1[:, i:] -= err1.unsqueeze(1).matmul(Hinv1[i, i:].unsqueeze(0))
            Err1[:, i] = err1
        W[:, i1:i2] = Q1
        W[:, i2:] -= Err1.matmul(Hinv[i1:i2, i2:])
    return W


def make_layer(gen, out, inp, ntok, dead=()):
    nf = max(inp // 4, 1)
    mix = torch.randn(nf, inp, generator=gen, dtype=torch.float64) / math.sqrt(nf)
    X = torch.randn(ntok, nf, generator=gen, dtype=torch.float64) @ mix
    X += 0.3 * torch.randn(ntok, inp, generator=gen, dtype=torch.float64)
    X[:, ::13] *= 5.0                                  # a few large channels, as real activations have
    for j in dead:
        X[:, j] = 0
    X = X.float().double()
    W = (0.05 * torch.randn(out, inp, generator=gen, dtype=torch.float64)).float()
    H = 2.0 / ntok * X.T @ X
    return W, H


def run_native(driver, W, H, sparsity, n, m, bs, damp):
    with tempfile.TemporaryDirectory() as tmp:
        wp, hp, op = (os.path.join(tmp, f) for f in ("w.f32", "h.f64", "o.f32"))
        W.numpy().astype("<f4").tofile(wp)
        H.numpy().astype("<f8").tofile(hp)
        res = subprocess.run([driver, wp, hp, op, str(W.shape[0]), str(W.shape[1]), repr(sparsity), str(n), str(m),
                              str(bs), repr(damp)], capture_output=True, text=True)
        if res.returncode != 0:
            return None, res.stderr.strip()
        return torch.from_numpy(np.fromfile(op, dtype="<f4").reshape(W.shape).copy()), ""


def build_driver(tmpdir):
    return driver_build(BUILD, [os.path.join(ROOT, "tests", "prune", "sparsegpt_driver.c")],
                        os.path.join(tmpdir, "sparsegpt_driver"))


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmpdir:
        driver, log = build_driver(tmpdir)
        tap.check(driver is not None,
                  "the driver builds against $AP_BUILD's libraries" + ("" if driver else ": " + log))
        if driver is None:
            return 1
        gen = torch.Generator().manual_seed(20230102)
        cases = [  # name, out, in, ntok, dead inputs, sparsity, n, m, blocksize
            ("unstructured 0.5, 3 blocks", 48, 192, 768, (), 0.5, 0, 0, 64),
            ("unstructured 0.7, partial last block", 40, 200, 800, (), 0.7, 0, 0, 64),
            ("unstructured 0.6, dead input", 32, 128, 512, (9,), 0.6, 0, 0, 128),
            ("2:4", 48, 192, 768, (), 0.0, 2, 4, 64),
            ("4:8", 48, 192, 768, (), 0.0, 4, 8, 64),
        ]
        for name, out, inp, ntok, dead, s, n, m, bs in cases:
            W, H = make_layer(gen, out, inp, ntok, dead)
            ref = reference_sparsegpt(W, H, s, n, m, bs, 0.01)
            got, msg = run_native(driver, W, H, s, n, m, bs, 0.01)
            tap.check(got is not None, f"{name}: native run succeeds {msg}")
            if got is None:
                continue
            same_mask = bool(torch.equal(got == 0, ref == 0))
            tap.check(same_mask,
                      f"{name}: same zeros as the oracle ({int((got == 0).sum())} vs {int((ref == 0).sum())})")
            rel = float((got.double() - ref).abs().max() / ref.abs().max())
            tap.check(rel < 2e-6, f"{name}: weights match the float64 oracle, max diff / max |W| = {rel:.2e}")
            if m == 0:
                want = math.floor(out * inp * s)
                tap.check(int((got == 0).sum()) == want, f"{name}: exactly floor(out*in*s) = {want} zeros")
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
