"""aptest.py — what the Python tests and checks share: TAP output with a closing plan, and a numpy reader of
safetensors files (F32, F16, BF16 widened to float32). Import it after putting tests/ on sys.path."""
import json
import sys

import numpy as np


class Tap:
    """TAP lines "ok N - what" / "not ok N - what"; done() prints the plan and exits 1 when a check failed."""

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


def read_safetensors(path):
    """{name: float32 ndarray} of a safetensors file; __metadata__ is skipped."""
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
            arr = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.float32).copy()
        out[name] = arr.reshape(info["shape"])
    return out
