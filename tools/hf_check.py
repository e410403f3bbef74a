#!/usr/bin/env python3
"""tools/hf_check.py — load model folders written by autoprune with Hugging Face transformers and evaluate them
by the same protocol (doc/../PROTOCOL: whole file, one BOS, non-overlapping windows, remainder dropped), so a pruned
folder can be shown to load and score the same outside autoprune. Needs torch + transformers (not part of the
build; run it where they are installed, e.g. on a GPU box).

usage: hf_check.py TEXT_FILE|--ids IDS_FILE DIR [DIR...]   -> one JSON line per folder
IDS_FILE holds raw little-endian int32 token ids (what `autoprune eval --ids` reads), so both sides see the very
same token stream and only the models are compared.
"""
import json
import math
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def evaluate(folder, text, device, given_ids=None):
    tok = AutoTokenizer.from_pretrained(folder)
    ids = given_ids if given_ids is not None else tok(text, return_tensors="pt").input_ids[0]
    model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32).to(device).eval()
    zeros = total = 0
    for name, p in model.named_parameters():
        if any(n in name for n in LINEARS):
            zeros += int((p == 0).sum())
            total += p.numel()
    seqlen = model.config.max_position_embeddings
    n = ids.numel() // seqlen
    nll = 0.0
    t0 = time.time()
    with torch.no_grad():
        for start in range(0, n, 16):
            batch = torch.stack([ids[k * seqlen:(k + 1) * seqlen] for k in range(start, min(n, start + 16))]).to(device)
            logits = model(batch).logits.float()
            logp = torch.log_softmax(logits[:, :-1].double(), dim=-1)
            nll -= logp.gather(-1, batch[:, 1:, None]).sum().item()
    return {"folder": folder, "tokens": int(ids.numel()), "bos_first": int(ids[0]) == tok.bos_token_id,
            "windows": n, "seqlen": seqlen, "ppl": math.exp(nll / (n * (seqlen - 1))),
            "realised_sparsity": zeros / total, "seconds": round(time.time() - t0, 2),
            "dtype": str(next(model.parameters()).dtype), "transformers": __import__("transformers").__version__}


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if sys.argv[1] == "--ids":
        import numpy as np
        text, ids, folders = None, torch.from_numpy(np.fromfile(sys.argv[2], dtype="<i4").astype("int64")), sys.argv[3:]
    else:
        text, ids, folders = open(sys.argv[1], encoding="utf-8").read(), None, sys.argv[2:]
    for folder in folders:
        print(json.dumps(evaluate(folder, text, device, ids)), flush=True)


if __name__ == "__main__":
    main()
