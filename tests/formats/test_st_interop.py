#!/usr/bin/python3
"""test_st_interop.py — safetensors files cross the Python/C boundary both ways, bit for bit:
files written here the way the reference writer does (numpy/torch, bf16/f16/f32, unaligned and padded headers)
load through the CLI (ap.load_tensors) to the exact float32 values torch gives; files our writer makes
(ap.save_tensors in F32/F16/BF16) pass a strict Python validator of the format and hold torch's
round-to-nearest-even conversion of the same values."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap  # noqa: E402

ROOT = os.environ.get("AP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("AUTOPRUNE") or os.path.join(ROOT, "build", "autoprune")
tap = Tap()


TORCH_DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def write_st(path, tensors, pad=True):
    """tensors: list of (name, torch tensor); the reference layout: header JSON, optional space padding."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors:
        raw = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        dt = {v: k for k, v in TORCH_DT.items()}[t.dtype]
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-(8 + len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_st_strict(path):
    """A strict reader of the format (the reference rules); returns {name: (dtype, shape, bytes)}."""
    data = open(path, "rb").read()
    assert len(data) >= 8
    (hl,) = struct.unpack("<Q", data[:8])
    assert hl <= 100_000_000 and 8 + hl <= len(data)
    assert (8 + hl) % 8 == 0, "header not padded to 8"
    hdr = json.loads(data[8:8 + hl].decode("utf-8"))
    body = data[8 + hl:]
    out, spans = {}, []
    for name, e in hdr.items():
        if name == "__metadata__":
            assert all(isinstance(v, str) for v in e.values())
            continue
        b, en = e["data_offsets"]
        size = {"F32": 4, "F16": 2, "BF16": 2}[e["dtype"]] * int(np.prod(e["shape"], dtype=np.int64))
        assert en - b == size
        spans.append((b, en))
        out[name] = (e["dtype"], e["shape"], body[b:en])
    spans.sort()
    pos = 0
    for b, en in spans:
        assert b == pos
        pos = en
    assert pos == len(body), "trailing bytes"
    return out


def run_lua(script, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        return subprocess.run([CLI, "run", f.name, *args], capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(f.name)


def special_values(count, gen):
    v = torch.randn(count, generator=gen) * 10.0 ** torch.randint(-8, 8, (count,), generator=gen)
    v[:8] = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 65504.0, 1e-7, -3.0e38])
    return v


def main():
    if not os.access(CLI, os.X_OK):
        tap.check(False, "CLI at %s" % CLI)
        return
    gen = torch.Generator().manual_seed(7)
    tmp = tempfile.mkdtemp(prefix="ap-interop.")
    # 1. Python writes, the CLI reads: float32 values equal torch's .float() of each tensor, bit for bit.
    base = special_values(3 * 37, gen)
    tensors = [("w.bf16", base.reshape(3, 37).to(torch.bfloat16)),
               ("w.f16", base[:60].reshape(2, 30).to(torch.float16)),
               ("w.f32", base[:21].reshape(3, 7)),
               ("vec", base[:5].to(torch.bfloat16)),
               ("scalar", torch.tensor(2.5, dtype=torch.float32)),
               ("odd \"name\" é", base[:3].to(torch.float16))]
    for pad in (True, False):
        src = os.path.join(tmp, "py_%s.safetensors" % ("padded" if pad else "unpadded"))
        write_st(src, tensors, pad=pad)
        dst = os.path.join(tmp, "back_%d.safetensors" % pad)
        r = run_lua("local t = ap.load_tensors(arg[1]); ap.save_tensors(arg[2], t, 'F32')", src, dst)
        tap.check(r.returncode == 0, "CLI loads the %s Python file and saves it as F32 (%s)"
                  % ("padded" if pad else "unpadded", r.stderr.strip()[:200]))
        if r.returncode != 0:
            continue
        got = read_st_strict(dst)
        for name, t in tensors:
            want = t.float().reshape(-1).numpy().view(np.uint32)
            have = np.frombuffer(got[name][2], dtype=np.uint32) if name in got else None
            tap.check(have is not None and np.array_equal(have, want),
                      "%s: %s read as float32 bit-exact (%s)" % (src.split("/")[-1], name, t.dtype))
    # 2. The CLI writes each dtype; a strict validator accepts it and the values are torch's RNE conversion.
    vals = special_values(4 * 50, gen).reshape(4, 50)
    vals[0, :4] = torch.tensor([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -11, 65520.0])  # ties, overflow
    f32 = os.path.join(tmp, "vals.safetensors")
    write_st(f32, [("v", vals)])
    for dt in ("F32", "F16", "BF16"):
        out = os.path.join(tmp, "ours_%s.safetensors" % dt)
        r = run_lua("ap.save_tensors(arg[2], ap.load_tensors(arg[1]), '%s')" % dt, f32, out)
        tap.check(r.returncode == 0, "CLI writes %s (%s)" % (dt, r.stderr.strip()[:200]))
        if r.returncode != 0:
            continue
        try:
            got = read_st_strict(out)
            ok = True
        except (AssertionError, ValueError, KeyError) as e:
            got, ok = {}, False
            print("# strict reader: %r" % e)
        tap.check(ok and got["v"][0] == dt and got["v"][1] == [4, 50], "%s file passes the strict validator" % dt)
        if ok:
            want = vals.to(TORCH_DT[dt]).view(torch.int16 if dt != "F32" else torch.int32).numpy().tobytes()
            have = got["v"][2]
            nan_t = torch.isnan(vals.reshape(-1))
            w = np.frombuffer(want, dtype=np.uint16 if dt != "F32" else np.uint32)
            h = np.frombuffer(have, dtype=np.uint16 if dt != "F32" else np.uint32)
            same = np.array_equal(w[~nan_t.numpy()], h[~nan_t.numpy()])
            back = torch.from_numpy(np.frombuffer(have, dtype=np.uint8).copy()).view(TORCH_DT[dt]).float()
            nan_ok = bool(torch.isnan(back[nan_t]).all())
            tap.check(same and nan_ok, "%s values equal torch's round-to-nearest-even conversion; NaN stays NaN" % dt)
    subprocess.run(["rm", "-rf", tmp])
    tap.done()


if __name__ == "__main__":
    main()
