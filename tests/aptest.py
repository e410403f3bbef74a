"""aptest.py — what the Python tests and checks share: TAP output with a closing plan, a numpy reader of
safetensors files (F32, F16, BF16 widened to float32), and the compile command of a C driver built against the
library's internals. Import it after putting tests/ on sys.path."""
import json
import os
import subprocess
import sys


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

    def skip(self, why):
        """A check that cannot run here: counted, and passes, as TAP's "ok N # SKIP why"."""
        self.n += 1
        print("ok %d # SKIP %s" % (self.n, why), flush=True)

    def note(self, text):
        print("# " + text, flush=True)

    def done(self):
        print("1..%d" % self.n)
        sys.exit(1 if self.failed else 0)


def driver_command(build, sources, exe, opt="-O1"):
    """The cc command line that builds a C driver (sources) against $AP_BUILD's libapcore.a + libautoprune.a, with
    the include and link flags the Makefile wrote to $AP_BUILD/internal.flags (and the sanitizers under make asan).
    Raises when the build folder has no internal.flags (the library is not built)."""
    flags = os.path.join(build, "internal.flags")
    if not os.path.exists(flags):
        raise RuntimeError("%s is missing: build the library first (make BUILD=...)" % flags)
    with open(flags) as f:
        cflags, libs = (f.readline().split() for _ in range(2))
    san = ["-fsanitize=address,undefined"] if os.environ.get("AP_SANITIZED") else []
    return ["cc", "-std=c11", opt, "-g"] + san + cflags + ["-o", exe] + list(sources) + libs


def driver_build(build, sources, exe, opt="-O1"):
    """Build a C driver (driver_command); returns (exe or None, the compiler's last output)."""
    r = subprocess.run(driver_command(build, sources, exe, opt), capture_output=True, text=True)
    return (exe if r.returncode == 0 else None), (r.stderr or r.stdout)[-2000:]


def read_safetensors(path):
    """{name: float32 ndarray} of a safetensors file; __metadata__ is skipped."""
    import numpy as np  # here, so that a test that only prints TAP does not need numpy
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
