"""llama_ref.py — an independent PyTorch (float32, CPU) implementation of the LLaMA-family forward pass as
Hugging Face transformers computes it (LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM), plus a minimal
safetensors reader and writer. It is the oracle of tests/model/test_logits.py and the PyTorch side of bench/eval.
Written from the published model definitions; it shares no code with the C implementation."""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import aptest  # noqa: E402

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path):
    """name -> float32 torch tensor."""
    return {k: torch.from_numpy(v.copy()) for k, v in aptest.read_safetensors(path).items()}


def to_bf16_bits(a):
    """float32 array -> bf16 bit patterns (round to nearest even)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def write_safetensors(path, tensors, dtype):
    """tensors: name -> float32 numpy array; dtype "F32" | "F16" | "BF16"."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        if dtype == "BF16":
            data = to_bf16_bits(a).tobytes()
        else:
            data = a.astype(DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Config:
    def __init__(self, d):
        self.arch = d["architectures"][0]
        self.hidden = d["hidden_size"]
        self.layers = d["num_hidden_layers"]
        self.heads = d["num_attention_heads"]
        self.kv_heads = d.get("num_key_value_heads") or self.heads
        self.head_dim = d.get("head_dim") or self.hidden // self.heads
        self.ffn = d["intermediate_size"]
        self.vocab = d["vocab_size"]
        self.eps = d.get("rms_norm_eps", 1e-6)
        rp = d.get("rope_parameters") or d.get("rope_scaling") or {}
        self.theta = rp.get("rope_theta", d.get("rope_theta", 10000.0))
        self.rope = rp if (rp.get("rope_type") or rp.get("type")) == "llama3" else None
        self.tie = d.get("tie_word_embeddings", False)
        self.qkv_bias = self.arch == "Qwen2ForCausalLM" or d.get("attention_bias", False)
        self.o_bias = self.arch != "Qwen2ForCausalLM" and d.get("attention_bias", False)
        self.window = d.get("sliding_window") if self.arch == "MistralForCausalLM" else None


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = Config(json.load(f))
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    if cfg.tie:
        w["lm_head.weight"] = w["model.embed_tokens.weight"]
    return cfg, w


def inv_freq(cfg):
    d = cfg.head_dim
    inv = 1.0 / (cfg.theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    if cfg.rope is None:
        return inv
    # transformers' _compute_llama3_parameters
    factor, lo, hi = cfg.rope["factor"], cfg.rope["low_freq_factor"], cfg.rope["high_freq_factor"]
    old = cfg.rope["original_max_position_embeddings"]
    lo_wl, hi_wl = old / lo, old / hi
    wl = 2 * math.pi / inv
    out = torch.where(wl > lo_wl, inv / factor, inv)
    smooth = (old / wl - lo) / (hi - lo)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wl < hi_wl) * ~(wl > lo_wl)
    return torch.where(medium, smoothed, out)


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def linear(x, w, b=None):
    y = x @ w.t()
    return y + b if b is not None else y


def forward(cfg, w, ids):
    """ids: int64 tensor [B, T] -> logits float32 [B, T, V]."""
    B, T = ids.shape
    hd = cfg.head_dim
    x = w["model.embed_tokens.weight"][ids]
    pos = torch.arange(T, dtype=torch.float32)
    freqs = (inv_freq(cfg)[:, None].float() @ pos[None, :]).t()
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    i = torch.arange(T)
    allowed = i[None, :] <= i[:, None]
    if cfg.window:
        allowed = allowed & (i[:, None] - i[None, :] < cfg.window)
    mask = torch.zeros(T, T).masked_fill(~allowed, float("-inf"))
    rep = cfg.heads // cfg.kv_heads
    for l in range(cfg.layers):
        p = "model.layers.%d." % l
        h = rms_norm(x, w[p + "input_layernorm.weight"], cfg.eps)
        a = p + "self_attn."
        qb = lambda n: w.get(a + n + ".bias") if cfg.qkv_bias else None
        q = linear(h, w[a + "q_proj.weight"], qb("q_proj")).view(B, T, cfg.heads, hd).transpose(1, 2)
        k = linear(h, w[a + "k_proj.weight"], qb("k_proj")).view(B, T, cfg.kv_heads, hd).transpose(1, 2)
        v = linear(h, w[a + "v_proj.weight"], qb("v_proj")).view(B, T, cfg.kv_heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(2, 3)) * (hd ** -0.5) + mask
        o = torch.softmax(s, dim=-1, dtype=torch.float32) @ v
        o = o.transpose(1, 2).reshape(B, T, cfg.heads * hd)
        x = x + linear(o, w[a + "o_proj.weight"], w.get(a + "o_proj.bias") if cfg.o_bias else None)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], cfg.eps)
        m = p + "mlp."
        g = torch.nn.functional.silu(linear(h, w[m + "gate_proj.weight"])) * linear(h, w[m + "up_proj.weight"])
        x = x + linear(g, w[m + "down_proj.weight"])
    x = rms_norm(x, w["model.norm.weight"], cfg.eps)
    return linear(x, w["lm_head.weight"])


def nll_sum(logits, ids, exact=True):
    """Summed next-token NLL of [B, T] ids (T-1 predictions per row): log-softmax in float64 when exact, else in
    float32 as a typical PyTorch evaluation does (the per-token losses are summed in float64 either way)."""
    x = logits[:, :-1]
    lp = torch.log_softmax(x.double() if exact else x, dim=-1)
    return -lp.gather(-1, ids[:, 1:, None]).double().sum().item()
