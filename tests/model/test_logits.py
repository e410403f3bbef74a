"""test_logits.py — the C forward pass against an independent PyTorch oracle (tests/model/llama_ref.py):
logits of one window of the shipped ap-tiny, and of randomly initialised models generated here (GQA, tied
embeddings, rope_theta 500000, head_dim != hidden/heads, llama3 RoPE scaling, Qwen2 biases, Mistral's sliding
window; F16, F32 and BF16 files), each within 1e-4 relative L2 error; the perplexity agrees too. Also: a tensor
of the wrong shape or a missing tensor fails with an error naming it."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap  # noqa: E402

ROOT = os.environ.get("AP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(ROOT, "build", "autoprune")
TOL = 1e-4
tap = Tap()


def run_c(model, ids, seqlen, tmp, extra=()):
    """Logits of window 0 and the eval JSON from the CLI."""
    idf, lgf = os.path.join(tmp, "ids.bin"), os.path.join(tmp, "logits.bin")
    np.asarray(ids, dtype="<i4").tofile(idf)
    p = subprocess.run([AUTOPRUNE, "eval", "--model", model, "--ids", idf, "--seqlen", str(seqlen), "--windows", "0",
                        "--dump-logits", lgf, "--json", "--quiet", *extra], capture_output=True, text=True)
    if p.returncode != 0:
        return None, None, p
    return np.fromfile(lgf, dtype="<f4"), json.loads(p.stdout), p


def compare(name, model, ids, seqlen, tmp, threads=None):
    extra = ("--threads", str(threads)) if threads else ()
    lg, res, p = run_c(model, ids, seqlen, tmp, extra)
    if lg is None:
        tap.check(False, "%s: autoprune eval ran (%s)" % (name, p.stderr.strip()))
        return
    cfg, w = llama_ref.load(model)
    n = len(ids) // seqlen
    t = torch.tensor(np.asarray(ids[:n * seqlen], dtype=np.int64)).view(n, seqlen)
    with torch.no_grad():
        ref = llama_ref.forward(cfg, w, t)
    r0 = ref[0].numpy().ravel()
    ok_shape = lg.size == r0.size
    rel = float(np.linalg.norm(lg - r0) / np.linalg.norm(r0)) if ok_shape else float("inf")
    tap.check(ok_shape and rel < TOL, "%s: logits of window 0 within %g relative L2 (%.3g)" % (name, TOL, rel))
    ppl = float(np.exp(llama_ref.nll_sum(ref, t) / (n * (seqlen - 1))))
    tap.check(abs(res["ppl"] / ppl - 1) < 1e-5 and res["windows"] == n and res["predictions"] == n * (seqlen - 1),
              "%s: ppl over %d windows %.6f vs torch %.6f" % (name, n, res["ppl"], ppl))


def random_model(path, config, dtype, seed):
    """A random LLaMA-family folder: weights large enough that attention is far from uniform."""
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    c = llama_ref.Config(config)
    H, hd, F, V = c.hidden, c.head_dim, c.ffn, c.vocab
    q, kv = c.heads * hd, c.kv_heads * hd
    t = {"model.embed_tokens.weight": rng.normal(0, 1.0, (V, H)), "model.norm.weight": 1 + 0.2 * rng.normal(size=H)}
    if not c.tie:
        t["lm_head.weight"] = rng.normal(0, H ** -0.5, (V, H))
    for l in range(c.layers):
        p = "model.layers.%d." % l
        t[p + "input_layernorm.weight"] = 1 + 0.2 * rng.normal(size=H)
        t[p + "post_attention_layernorm.weight"] = 1 + 0.2 * rng.normal(size=H)
        for n, shape in (("q_proj", (q, H)), ("k_proj", (kv, H)), ("v_proj", (kv, H)), ("o_proj", (H, q))):
            t[p + "self_attn.%s.weight" % n] = rng.normal(0, 2.0 * shape[1] ** -0.5, shape)
            if c.qkv_bias and n != "o_proj":
                t[p + "self_attn.%s.bias" % n] = rng.normal(0, 0.5, shape[0])
        for n, shape in (("gate_proj", (F, H)), ("up_proj", (F, H)), ("down_proj", (H, F))):
            t[p + "mlp.%s.weight" % n] = rng.normal(0, shape[1] ** -0.5, shape)
    llama_ref.write_safetensors(os.path.join(path, "model.safetensors"), t, dtype)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    return t


def base_config(arch, **kw):
    d = {"architectures": [arch], "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "head_dim": 24, "intermediate_size": 96, "vocab_size": 512,
         "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 500000.0, "tie_word_embeddings": True,
         "hidden_act": "silu"}
    d.update(kw)
    return d


def main():
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        # The shipped model on real text (the first 512 tokens of WikiText-2 test, BOS first).
        tiny = os.path.join(ROOT, "models", "ap-tiny")
        try:
            import sentencepiece
            sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(tiny, "tokenizer.model"))
            with open(os.path.join(ROOT, "data", "wikitext-2-raw", "wiki.test.raw"), encoding="utf-8") as f:
                ids = [1] + sp.encode(f.read(20000))
        except ImportError:
            ids = [1] + list(rng.integers(3, 8192, 1100))
        compare("ap-tiny (bf16), 2 windows of 512", tiny, ids[:1024], 512, tmp)

        models = [
            ("llama GQA tied theta 5e5 head_dim 24 != 64/4, f16", base_config("LlamaForCausalLM"), "F16", 128),
            ("llama GQA tied, f32", base_config("LlamaForCausalLM"), "F32", 128),
            ("llama3 rope scaling, 6/2 heads, untied, f32",
             base_config("LlamaForCausalLM", hidden_size=48, num_attention_heads=6, head_dim=16,
                         tie_word_embeddings=False,
                         rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
             "F32", 100),
            ("qwen2 q/k/v biases, bf16", base_config("Qwen2ForCausalLM", num_key_value_heads=1), "BF16", 96),
            ("mistral sliding window 40, f32",
             base_config("MistralForCausalLM", sliding_window=40, tie_word_embeddings=False), "F32", 150),
            ("llama attention_bias (q/k/v/o), MHA, f32",
             base_config("LlamaForCausalLM", num_key_value_heads=4, head_dim=16, attention_bias=True), "F32", 70),
        ]
        for i, (name, cfg, dtype, seqlen) in enumerate(models):
            path = os.path.join(tmp, "m%d" % i)
            t = random_model(path, cfg, dtype, 100 + i)
            if cfg.get("attention_bias"):   # random_model adds q/k/v biases; the o_proj bias too
                c = llama_ref.Config(cfg)
                for l in range(c.layers):
                    t["model.layers.%d.self_attn.o_proj.bias" % l] = rng.normal(0, 0.5, c.hidden)
                llama_ref.write_safetensors(os.path.join(path, "model.safetensors"), t, dtype)
            ids = list(rng.integers(0, cfg["vocab_size"], 2 * seqlen + 5))
            compare(name, path, ids, seqlen, tmp, threads=1 + i % 2)

        # Bad checkpoints: the error names the tensor.
        cfg = base_config("LlamaForCausalLM")
        path = os.path.join(tmp, "bad")
        t = random_model(path, cfg, "F32", 1)
        ids = list(rng.integers(0, 512, 64))
        t["model.layers.1.self_attn.k_proj.weight"] = np.zeros((24, 64))
        llama_ref.write_safetensors(os.path.join(path, "model.safetensors"), t, "F32")
        _, _, p = run_c(path, ids, 32, tmp)
        tap.check(p.returncode == 1 and "model.layers.1.self_attn.k_proj.weight" in p.stderr and "[24, 64]" in p.stderr,
                  "wrong shape: exit 1 naming the tensor and its shape (%s)" % p.stderr.strip())
        del t["model.layers.1.self_attn.k_proj.weight"]
        llama_ref.write_safetensors(os.path.join(path, "model.safetensors"), t, "F32")
        _, _, p = run_c(path, ids, 32, tmp)
        tap.check(p.returncode == 1 and "model.layers.1.self_attn.k_proj.weight" in p.stderr,
                  "missing tensor: exit 1 naming it (%s)" % p.stderr.strip())
        _, _, p = run_c(tiny, [1, 5, 9000, 7], 2, tmp)
        tap.check(p.returncode == 1 and "9000" in p.stderr, "token id outside the vocabulary: exit 1 (%s)" %
                  p.stderr.strip())
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
