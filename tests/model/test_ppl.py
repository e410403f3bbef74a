"""test_ppl.py — dense perplexity of the shipped ap-tiny on the shipped WikiText-2 test file through
`autoprune eval` (all defaults), within 0.1% of the independent reference in tests/model/reference.json, with the
protocol's token and window counts; plus the command's usage and failure exit statuses."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap  # noqa: E402

ROOT = os.environ.get("AP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(ROOT, "build", "autoprune")
tap = Tap()


def main():
    with open(os.path.join(ROOT, "tests", "model", "reference.json")) as f:
        ref = json.load(f)
    tiny = ref["ap-tiny"]
    p = subprocess.run([AUTOPRUNE, "eval", "--json", "--quiet"], capture_output=True, text=True, cwd="/")
    tap.check(p.returncode == 0,
              "autoprune eval with the defaults (from another directory) exits 0 %s" % p.stderr.strip())
    r = json.loads(p.stdout) if p.returncode == 0 else {}
    ppl = r.get("ppl", float("nan"))
    rel = abs(ppl / tiny["dense_ppl_ref"] - 1)
    tap.check(rel < 1e-3, "ap-tiny dense ppl %.6f within 0.1%% of the reference %.6f (%.2g)" %
              (ppl, tiny["dense_ppl_ref"], rel))
    tap.check(r.get("tokens") == tiny["tokens_test"] and r.get("windows") == tiny["windows"] and
              r.get("seqlen") == ref["seqlen"] and r.get("predictions") == tiny["windows"] * (ref["seqlen"] - 1),
              "tokens %s, seqlen %s, windows %s, predictions %s" % (r.get("tokens"), r.get("seqlen"), r.get("windows"),
                                                                    r.get("predictions")))
    print("# %.1f s, %.0f tokens/s" % (r.get("seconds", 0), r.get("tokens_per_second", 0)))

    p = subprocess.run([AUTOPRUNE, "eval", "--windows", "2", "--seqlen", "256", "--quiet"], capture_output=True,
                       text=True)
    tap.check(p.returncode == 0 and "seqlen       256" in p.stdout and "windows      2" in p.stdout and
              "ppl" in p.stdout and "tokens       406497" in p.stdout,
              "the text report names seqlen, windows, tokens and ppl")
    tap.check(p.stderr == "", "no progress bar when stderr is not a terminal")
    nll = []
    for t in ("1", "3"):
        p = subprocess.run([AUTOPRUNE, "eval", "--windows", "12", "--threads", t, "--json", "--quiet"],
                           capture_output=True, text=True)
        nll.append(json.loads(p.stdout)["nll"] if p.returncode == 0 else None)
    tap.check(nll[0] is not None and nll[0] == nll[1], "1 and 3 threads give bit-identical NLL (%r, %r)" % tuple(nll))

    import pty
    master, slave = pty.openpty()
    p = subprocess.run([AUTOPRUNE, "eval", "--windows", "24"], stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    bar = b""
    try:
        while True:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            bar += chunk
    except OSError:
        pass
    os.close(master)
    bar = bar.decode(errors="replace")
    tap.check(p.returncode == 0 and "24/24 windows" in bar and "tok/s" in bar and "ETA" in bar,
              "progress bar with rate and ETA on a terminal (%r)" % bar[-80:])
    for args, code, what in (([], 0, "--help"), (["--seqlen", "513"], 2, "--seqlen above max_position_embeddings"),
                             (["--seqlen", "x"], 2, "a non-numeric --seqlen"), (["--bogus"], 2, "an unknown option"),
                             (["--threads", "5000"], 2, "--threads 5000"),
                             (["--text", "a", "--ids", "b"], 2, "--text with --ids"),
                             (["--model", "/nonexistent"], 1, "a missing model folder"),
                             (["--text", "/nonexistent"], 1, "a missing text file")):
        a = ["--help"] if what == "--help" else args
        p = subprocess.run([AUTOPRUNE, "eval", *a], capture_output=True, text=True)
        tap.check(p.returncode == code and (code == 0 or p.stderr.strip() != ""),
                  "%s: exit %d %s" % (what, p.returncode, p.stderr.strip().splitlines()[0] if p.stderr.strip() else ""))
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
