"""check_model.py — every reference configuration of tests/prune/reference.json for one model, each pruned and
evaluated: realised sparsity exact, OWL's per-block sparsities, ppl within 1% (50-60%, N:M) or 3% (70-80%, OWL);
plus the written folder (zeros = run record, kept weights unchanged, reload gives the same ppl) and Lua wanda ==
native wanda. Used by check_ap_small.sh; TAP output.
usage: check_model.py --model DIR --name ap-small|ap-tiny [--only KEY,...]"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
import prunelib as pl  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--name", required=True)
ap.add_argument("--only", default="")
a = ap.parse_args()
REF = pl.REFERENCE["models"][a.name]["pruned"]
tap = pl.Tap()
tmp = tempfile.mkdtemp(prefix="ap-check-%s." % a.name)
keys = [k for k in REF if not a.only or k in a.only.split(",")]
dense = pl.read_safetensors(os.path.join(a.model, "model.safetensors"))
for key in keys:
    ref = REF[key]
    out = os.path.join(tmp, key.replace("@", "_").replace(":", "-").replace("+", "_"))
    rec = pl.prune(a.model, key, eval_=True, out=out)
    if not tap.check(rec is not None, "%s: prune ran" % key):
        continue
    got = rec["zeros"] / rec["pruned_params"]
    tap.check(abs(got - ref["realised_sparsity"]) < 1e-15, "%s: realised sparsity %.10f == reference %.10f"
              % (key, got, ref["realised_sparsity"]))
    if ref["layer_sparsity"]:
        blocks = [rec["layers"][7 * i]["target"] for i in range(len(ref["layer_sparsity"]))]
        err = max(abs(x - y) for x, y in zip(blocks, ref["layer_sparsity"]))
        tap.check(err < 1e-9, "%s: per-block sparsities match the reference (max diff %.1e)" % (key, err))
    s = float(key.split("@")[1])
    tol = 0.03 if ("owl" in key or s >= 0.7) else 0.01
    ppl = rec["eval"]["ppl"]
    tap.check(pl.rel(ppl, ref["ppl"]) <= tol, "%s: ppl %.4f within %d%% of reference %.4f (%+.3f%%), %.1fs prune"
              % (key, ppl, round(tol * 100), ref["ppl"], 100 * (ppl / ref["ppl"] - 1), rec["timings"]["prune_total"]))
    st = pl.read_safetensors(os.path.join(out, "model.safetensors"))
    ok_z = ok_k = True
    for e in rec["layers"]:
        name = pl.linear_name(e["layer"] - 1, e["name"]) + ".weight"
        z = st[name] == 0
        ok_z &= int(z.sum()) == e["zeros"]
        ok_k &= bool(np.array_equal(st[name][~z], dense[name][~z]))
    tap.check(ok_z and ok_k, "%s: written file has exactly the recorded zeros, kept weights unchanged" % key)
    if key == "wanda@0.5":
        rc, so, se = pl.run(["eval", "--model", out, "--json", "--quiet"])
        ppl2 = json.loads(so)["ppl"] if rc == 0 else float("nan")
        tap.check(abs(ppl2 - ppl) <= 1e-9 * ppl, "%s: the written folder reloads to the same ppl (%.6f)" % (key, ppl2))
        out2 = out + "_native"
        pl.prune(a.model, key, out=out2, metric="native:wanda")
        same = open(os.path.join(out, "model.safetensors"), "rb").read() == \
            open(os.path.join(out2, "model.safetensors"), "rb").read()
        tap.check(same, "%s: lua/metrics/wanda.lua and native:wanda write identical models" % key)
tap.done()
