"""tokhelp.py — shared by the tokenizer script tests: paths, TAP output, and the tok_driver program (built from
tests/tokenizer/tok_driver.c against $AP_BUILD's libraries) that runs ap_tokenizer from Python."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap, driver_build  # noqa: E402,F401  (shared with the other tests)

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
    out, log = driver_build(BUILD, [os.path.join(HERE, "tok_driver.c")], os.path.join(tmp, "tok_driver"), "-O2")
    if out is None:
        raise RuntimeError("building tok_driver failed:\n" + log)
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
