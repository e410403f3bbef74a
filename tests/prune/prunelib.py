"""prunelib.py — shared helpers of the pruning tests and checks: run `autoprune prune`, read safetensors with numpy,
compare against tests/prune/reference.json (a copy of ../shared/reference/results.json), TAP output."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap, read_safetensors  # noqa: E402,F401  (shared with the other tests)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("AP_ROOT") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("AP_BUILD") or os.path.join(ROOT, "build")
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(BUILD, "autoprune")
REFERENCE = json.load(open(os.path.join(HERE, "reference.json")))
LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


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


def linear_name(layer0, lin):
    return "model.layers.%d.%s.%s" % (layer0, "self_attn" if lin in LINEARS[:4] else "mlp", lin)
