"""test_metrics.py — lua/metrics/{magnitude,wanda,ria}.lua against numpy formulas of their papers, run through
`autoprune run` + ap.metric (the sandbox) on random non-square layers written as safetensors by numpy."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap  # noqa: E402

ROOT = os.environ.get("AP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(ROOT, "build", "autoprune")
tap = Tap()


def write_st(path, tensors):
    header, off, data = {}, 0, b""
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def read_st(path):
    b = open(path, "rb").read()
    hl = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + hl])
    out = {}
    for name, e in h.items():
        if name == "__metadata__":
            continue
        s, t = e["data_offsets"]
        out[name] = np.frombuffer(b[8 + hl + s:8 + hl + t], dtype=np.float32).reshape(e["shape"])
    return out


SCRIPT = r"""
local dir = arg[1]
local t = ap.load_tensors(dir .. "/in.safetensors")
local X = { l2 = t.l2, tokens = 64 }
local res, groups = {}, {}
for _, name in ipairs({ "magnitude", "wanda", "ria" }) do
  local m = ap.metric(name)
  res[name] = m:score(t.W, X, { layer = 1, n_layers = 1, name = "up_proj", sparsity = 0.5 })
  groups[#groups + 1] = name .. "=" .. m:group()
end
ap.save_tensors(dir .. "/out.safetensors", res)
print(table.concat(groups, " "))
"""

rng = np.random.default_rng(7)
with tempfile.TemporaryDirectory() as d:
    out_dim, in_dim = 48, 80
    W = (rng.standard_normal((out_dim, in_dim)) * 0.02).astype(np.float32)
    W[3, 5] = 0.5
    l2 = np.abs(rng.standard_t(3, size=in_dim) * 10).astype(np.float32) + 0.1
    l2[7] *= 40
    write_st(os.path.join(d, "in.safetensors"), {"W": W, "l2": l2})  # l2 is 1-D: loads as [1, in]
    with open(os.path.join(d, "s.lua"), "w") as f:
        f.write(SCRIPT)
    r = subprocess.run([AUTOPRUNE, "run", os.path.join(d, "s.lua"), d], capture_output=True, text=True, timeout=120)
    tap.check(r.returncode == 0, "autoprune run scores the three metrics (stderr: %s)" % r.stderr.strip()[:200])
    tap.check(r.stdout.split() == ["magnitude=layer", "wanda=row", "ria=layer"],
              "declared groups: %s" % r.stdout.strip())
    got = read_st(os.path.join(d, "out.safetensors")) if r.returncode == 0 else {}
    A = np.abs(W.astype(np.float64))
    expect = {
        # Han et al. 2015: |W|
        "magnitude": A,
        # Sun et al. 2024 (Wanda), Eq. 1: |W_ij| * ||X_j||_2
        "wanda": A * l2[None, :],
        # Zhang et al. 2024 (RIA), Eq. 3 with a = 0.5: (|W|/sum over the column + |W|/sum over the row) * ||X_j||^0.5
        "ria": (A / A.sum(axis=0, keepdims=True) + A / A.sum(axis=1, keepdims=True)) * np.sqrt(l2)[None, :],
    }
    for name, e in expect.items():
        g = got.get(name)
        ok = g is not None and g.shape == e.shape and np.allclose(g, e, rtol=2e-5, atol=1e-7)
        err = float(np.max(np.abs(g - e) / (np.abs(e) + 1e-12))) if g is not None and g.shape == e.shape else -1
        tap.check(ok, "%s.lua matches numpy (max relative error %.2e)" % (name, err))

tap.done()
