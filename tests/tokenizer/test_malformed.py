#!/usr/bin/env python3
"""test_malformed.py — every malformed tokenizer.json that make_malformed.py writes must fail to load with a
clear error: the expected kind, the file's path, and the field named; the unmodified file must load."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokhelp  # noqa: E402

T = tokhelp.Tap()


def main():
    with tokhelp.tempdir() as tmp:
        driver = tokhelp.build_driver(tmp)
        r = subprocess.run([driver, "-l", tokhelp.TINY_JSON], capture_output=True, text=True)
        T.check(r.returncode == 0 and r.stdout.strip() == "vocab 8192 bos 1",
                "the shipped tokenizer loads: %s%s" % (r.stdout.strip(), r.stderr.strip()))
        out = os.path.join(tmp, "malformed")
        subprocess.run([sys.executable, os.path.join(tokhelp.HERE, "make_malformed.py"), out], check=True)
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        T.check(len(manifest) >= 30, "%d malformed files generated" % len(manifest))
        for name, want in sorted(manifest.items()):
            path = os.path.join(out, name)
            r = subprocess.run([driver, "-l", path], capture_output=True, text=True)
            err = r.stderr.strip()
            ok = (r.returncode == 1 and err.startswith("error (%s): " % want["kind"]) and path in err
                  and want["needle"] in err and "Sanitizer" not in err)
            T.check(ok, "%s -> %s" % (name, err if ok else "rc %d, %r (want %s with %r)" % (
                r.returncode, err[:300], want["kind"], want["needle"])))
    T.done()


if __name__ == "__main__":
    main()
