#!/usr/bin/python3
"""prune_torch.py — the PyTorch CPU side of bench/prune: Wanda at sparsity S on a LLaMA-family HF folder by the
procedure of ../shared/reference/PROTOCOL.md (evenly spaced calibration windows, sequential block by block,
Σx² per input channel, |W|·sqrt(Σx²) compared per output row with a stable sort, block re-run with pruned
weights), written the way the Wanda reference code does it. Prints one JSON line of timings.

usage: prune_torch.py MODEL_DIR [--sparsity 0.5] [--nsamples 128] [--seqlen 512] [--threads N] [--batch 8]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import sentencepiece as spm
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import aptest  # noqa: E402  (the safetensors reader the tests use)


def read_safetensors(path):
    return {k: torch.from_numpy(v.copy()) for k, v in aptest.read_safetensors(path).items()}


def rmsnorm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rope_tables(seqlen, head_dim, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    t = torch.arange(seqlen, dtype=torch.float32)
    f = torch.outer(t, inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block:
    """One decoder block with hooks: obs(name, x) sees each linear's input."""

    def __init__(self, w, i, cfg):
        p = "model.layers.%d." % i
        self.w = {k: w[p + ("self_attn." if k in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp.") + k + ".weight"]
                  for k in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")}
        self.n1 = w[p + "input_layernorm.weight"]
        self.n2 = w[p + "post_attention_layernorm.weight"]
        self.cfg = cfg

    def forward(self, h, cos, sin, obs=None):
        c = self.cfg
        B, T, D = h.shape
        nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
        hd = c.get("head_dim") or D // nh
        x = rmsnorm(h, self.n1, c["rms_norm_eps"])
        if obs:
            obs("q_proj", x)
        q = (x @ self.w["q_proj"].T).view(B, T, nh, hd).transpose(1, 2)
        k = (x @ self.w["k_proj"].T).view(B, T, nkv, hd).transpose(1, 2)
        v = (x @ self.w["v_proj"].T).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        mask = torch.full((T, T), float("-inf")).triu(1)
        a = torch.softmax(s + mask, dim=-1) @ v
        a = a.transpose(1, 2).reshape(B, T, nh * hd)
        if obs:
            obs("o_proj", a)
        h = h + a @ self.w["o_proj"].T
        x = rmsnorm(h, self.n2, c["rms_norm_eps"])
        if obs:
            obs("gate_proj", x)
        g = x @ self.w["gate_proj"].T
        u = x @ self.w["up_proj"].T
        m = torch.nn.functional.silu(g) * u
        if obs:
            obs("down_proj", m)
        return h + m @ self.w["down_proj"].T


INPUT_OF = {"q_proj": "q_proj", "k_proj": "q_proj", "v_proj": "q_proj", "o_proj": "o_proj",
            "gate_proj": "gate_proj", "up_proj": "gate_proj", "down_proj": "down_proj"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--nsamples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=512)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--calib", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                                                    "calib.txt"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    t_start = time.time()
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    w = read_safetensors(os.path.join(a.model, "model.safetensors"))
    t_load = time.time()
    sp = spm.SentencePieceProcessor(model_file=os.path.join(a.model, "tokenizer.model"))
    ids = [1] + sp.encode(open(a.calib, encoding="utf-8").read())
    span = len(ids) - a.seqlen
    win = torch.tensor([ids[k * span // a.nsamples: k * span // a.nsamples + a.seqlen] for k in range(a.nsamples)])
    t_tok = time.time()

    theta = cfg.get("rope_theta") or cfg.get("rope_parameters", {}).get("rope_theta", 10000.0)
    hd = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    cos, sin = rope_tables(a.seqlen, hd, theta)
    hidden = w["model.embed_tokens.weight"][win]           # [nsamples, seqlen, hidden]
    t_score = t_mask = t_calib = t_fwd = 0.0
    zeros = total = 0
    for i in range(cfg["num_hidden_layers"]):
        blk = Block(w, i, cfg)
        t0 = time.time()
        sq = {}

        def obs(name, x):
            x2 = x.reshape(-1, x.shape[-1]).pow(2).sum(0, dtype=torch.float64)
            sq[name] = sq.get(name, 0) + x2
        for b0 in range(0, a.nsamples, a.batch):
            blk.forward(hidden[b0:b0 + a.batch], cos, sin, obs)
        t_calib += time.time() - t0
        for name, W in blk.w.items():
            t0 = time.time()
            l2 = torch.sqrt(sq[INPUT_OF[name]]).float()
            S = W.abs() * l2.view(1, -1)
            t1 = time.time()
            idx = torch.sort(S, dim=-1, stable=True)[1][:, : int(W.shape[1] * a.sparsity)]
            mask = torch.zeros_like(W, dtype=torch.bool)
            mask.scatter_(1, idx, True)
            W[mask] = 0
            t2 = time.time()
            t_score += t1 - t0
            t_mask += t2 - t1
            zeros += int((W == 0).sum())
            total += W.numel()
        t0 = time.time()
        if i + 1 < cfg["num_hidden_layers"]:
            for b0 in range(0, a.nsamples, a.batch):
                hidden[b0:b0 + a.batch] = blk.forward(hidden[b0:b0 + a.batch], cos, sin)
        t_fwd += time.time() - t0
    t_end = time.time()
    print(json.dumps({"impl": "torch %s" % torch.__version__, "threads": a.threads, "load": t_load - t_start,
                      "tokenize": t_tok - t_load, "statistics": t_calib, "forward": t_fwd, "score": t_score,
                      "mask": t_mask, "prune_total": t_end - t_tok, "end_to_end": t_end - t_load,
                      "realised": zeros / total}))


main()
