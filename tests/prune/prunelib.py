"""prunelib.py — shared helpers of the pruning tests and checks: run `autoprune prune`, read safetensors with numpy,
compare against tests/prune/reference.json (a copy of ../shared/reference/results.json), TAP output."""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("AP_ROOT") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("AP_BUILD") or os.path.join(ROOT, "build")
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(BUILD, "autoprune")
REFERENCE = json.load(open(os.path.join(HERE, "reference.json")))
LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, what):
        self.n += 1
        if not cond:
            self.failed += 1
        print(("ok %d - %s" if cond else "not ok %d - %s") % (self.n, what), flush=True)
        return cond

    def note(self, text):
        print("# " + text, flush=True)

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def run(args, check=True):
    """Run the CLI; returns (returncode, stdout, stderr)."""
    p = subprocess.run([AUTOPRUNE] + args, cwd=ROOT, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.stderr.write("command failed: %s\n%s\n" % (" ".join(args), p.stderr))
    return p.returncode, p.stdout, p.stderr


def prune(model, key, extra=(), eval_=False, out=None, metric=None):
    """Prune by a reference key such as 'wanda@0.5', 'magnitude@0.5@2:4', 'wanda+owl@0.7'; returns the run record
    (dict) or None when the command failed."""
    name, rest = key.split("@", 1)
    parts = rest.split("@")
    args = ["prune", "--model", model, "--json", "--quiet", "--sparsity", parts[0]]
    alloc = None
    if "+" in name:
        name, alloc = name.split("+", 1)
    args += ["--metric", metric or name]
    if alloc:
        args += ["--alloc", alloc]
    if len(parts) > 1:
        args += ["--pattern", parts[1]]
    if eval_:
        args.append("--eval")
    if out:
        args += ["--out", out]
    args += list(extra)
    rc, so, se = run(args)
    if rc != 0:
        return None
    return json.loads(so)


def rel(a, b):
    return abs(a - b) / abs(b)


def read_safetensors(path):
    """{name: float32 ndarray} of a safetensors file (F32, F16, BF16)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[a:b]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.float32).copy()
        out[name] = arr.reshape(info["shape"])
    return out


def linear_name(layer0, lin):
    return "model.layers.%d.%s.%s" % (layer0, "self_attn" if lin in LINEARS[:4] else "mlp", lin)
