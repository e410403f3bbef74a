"""tokhelp.py — shared by the tokenizer script tests: paths, TAP output, and the tok_driver program (built from
tests/tokenizer/tok_driver.c against $AP_BUILD/libautoprune.a) that runs ap_tokenizer from Python."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap  # noqa: E402,F401  (shared with the other tests)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("AP_ROOT") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("AP_BUILD") or os.path.join(ROOT, "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
SANITIZED = bool(os.environ.get("AP_SANITIZED"))
TINY_JSON = os.path.join(ROOT, "models", "ap-tiny", "tokenizer.json")
TINY_SPM = os.path.join(ROOT, "models", "ap-tiny", "tokenizer.model")


def build_driver(tmp):
    """Compile tok_driver.c against the library; returns its path (raises with the compiler output)."""
    lib = os.path.join(BUILD, "libautoprune.a")
    if not os.path.exists(lib):
        raise RuntimeError("%s is missing: build the library first (make BUILD=...)" % lib)
    out = os.path.join(tmp, "tok_driver")
    libs = subprocess.run(["pkg-config", "--libs", "lua5.4", "openblas", "libcurl", "libcjson"],
                          capture_output=True, text=True, check=True).stdout.split()
    cmd = ["cc", "-std=c11", "-O2", "-D_GNU_SOURCE", "-I" + os.path.join(ROOT, "stdlib"),
           "-I" + os.path.join(ROOT, "models"), os.path.join(HERE, "tok_driver.c"), lib] + libs + \
          ["-llapacke", "-lreadline", "-lm", "-pthread", "-o", out]
    if SANITIZED:
        cmd[1:1] = ["-fsanitize=address,undefined"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("building tok_driver failed:\n" + r.stderr)
    return out


def encode_file(driver, tok_json, path, special=True):
    """ids (list of int), stderr text, return code."""
    args = [driver, "-t"] + ([] if special else ["-n"]) + [tok_json, path]
    r = subprocess.run(args, capture_output=True)
    ids = [int(x) for x in r.stdout.split()] if r.returncode == 0 else None
    return ids, r.stderr.decode("utf-8", "replace"), r.returncode


def encode_text(driver, tok_json, text, tmp, special=True):
    path = os.path.join(tmp, "text.txt")
    with open(path, "wb") as f:
        f.write(text.encode("utf-8") if isinstance(text, str) else text)
    return encode_file(driver, tok_json, path, special)


def decode_ids(driver, tok_json, ids, tmp, skip_special=True):
    path = os.path.join(tmp, "ids.txt")
    with open(path, "w") as f:
        f.write(" ".join(map(str, ids)))
    r = subprocess.run([driver, "-d"] + (["-s"] if skip_special else []) + [tok_json, path], capture_output=True)
    return (r.stdout if r.returncode == 0 else None), r.stderr.decode("utf-8", "replace")


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def tempdir():
    return tempfile.TemporaryDirectory(prefix="ap-tok-")
