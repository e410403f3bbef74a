#!/usr/bin/env python3
"""results_render.py — render doc/results.md from the run records bench/results.sh keeps in doc/results-data.
Usage: results_render.py DATA_DIR OUT.md [REFERENCE_RESULTS_JSON]"""
import json
import os
import sys

METHODS = ["magnitude", "wanda", "ria", "sparsegpt"]
ALLOCS = ["uniform", "owl", "sdsa"]
SPARSITIES = ["0.5", "0.6", "0.7", "0.8"]
PATTERNS = ["2:4", "4:8"]
MODELS = ["ap-tiny", "ap-small"]


def ppl_of(rec):
    for path in (("eval", "ppl"), ("eval", "perplexity"), ("ppl",), ("perplexity",)):
        v = rec
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            return float(v)
    return None


def eval_info(rec):
    e = rec.get("eval") if isinstance(rec.get("eval"), dict) else rec     # prune record, or an eval record
    return e.get("seqlen"), e.get("windows")


def load(data, model):
    out = {}
    d = os.path.join(data, model)
    if not os.path.isdir(d):
        return out
    for f in sorted(os.listdir(d)):
        if f.endswith(".json") and not f.startswith("."):
            try:
                with open(os.path.join(d, f)) as fh:
                    out[f[:-5]] = json.load(fh)
            except (OSError, ValueError):
                pass
    return out


def fmt(v):
    return "—" if v is None else (f"{v:.1f}" if v < 1e4 else f"{v:.3g}")


def reference_key(method, s, alloc):
    base = {"magnitude": "magnitude", "wanda": "wanda"}.get(method)
    if base is None or alloc == "sdsa":
        return None
    return f"{base}{'+owl' if alloc == 'owl' else ''}@{s}"


def model_section(model, recs, ref):
    lines = []
    dense = ppl_of(recs["dense"]) if "dense" in recs else None
    infos = {eval_info(r) for r in recs.values() if ppl_of(r) is not None}
    seqlen, windows = sorted(infos, key=lambda x: (x[1] or 0))[0] if infos else (None, None)
    refm = (ref or {}).get("models", {}).get(model, {})
    full = windows in (None, refm.get("windows", 793))
    if not full:
        refm = {}                      # reference values are over the whole file: not comparable
    lines.append(f"## {model}\n")
    lines.append(f"Dense: **{fmt(dense)}**" + (f" (reference {fmt(refm.get('dense_ppl_ref'))})" if full else "") +
                 f"; WikiText-2 test, seqlen {seqlen or 512}, " +
                 (f"all {windows or 793} windows" if full else f"**first {windows} windows only** (of 793)") +
                 ". Cells: perplexity" + ("; in brackets the reference implementation's value where "
                                          "results.json has it" if full else "") + ".\n")
    if len(infos) > 1:
        lines.append(f"Note: records with different evaluation windows are mixed here: {sorted(infos)}.\n")
    lines.append("| method | alloc | 50% | 60% | 70% | 80% |")
    lines.append("|---|---|---|---|---|---|")
    for m in METHODS:
        for a in ALLOCS:
            cells = []
            for s in SPARSITIES:
                r = recs.get(f"{m}@{s}+{a}")
                v = ppl_of(r) if r else None
                rk = reference_key(m, s, a)
                rv = refm.get("pruned", {}).get(rk, {}).get("ppl") if rk else None
                best = v is not None and all(
                    ppl_of(recs.get(f"{m}@{s}+{b}", {})) is None or v <= ppl_of(recs[f"{m}@{s}+{b}"])
                    for b in ALLOCS)
                c = fmt(v)
                if best:
                    c = f"**{c}**"
                if rv is not None:
                    c += f" ({fmt(rv)})"
                cells.append(c)
            lines.append(f"| {m} | {a} | " + " | ".join(cells) + " |")
    lines.append("\nBold: the best allocation for that method and sparsity.\n")
    lines.append("| method | 2:4 | 4:8 |")
    lines.append("|---|---|---|")
    for m in METHODS:
        cells = []
        for p in PATTERNS:
            r = recs.get(f"{m}@{p}")
            v = ppl_of(r) if r else None
            rv = refm.get("pruned", {}).get(f"{m}@0.5@{p}", {}).get("ppl")
            cells.append(fmt(v) + (f" ({fmt(rv)})" if rv is not None else ""))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def sdsa_verdict(model, recs):
    """Plain wins and losses of SDSA against uniform and OWL, cell by cell."""
    wins, losses, ties = [], [], []
    for m in METHODS:
        for s in SPARSITIES:
            v = {a: ppl_of(recs.get(f"{m}@{s}+{a}", {})) for a in ALLOCS}
            if v["sdsa"] is None or v["uniform"] is None:
                continue
            others = {a: v[a] for a in ("uniform", "owl") if v[a] is not None}
            best_other = min(others, key=others.get)
            item = (f"{m} {int(float(s) * 100)}%: SDSA {fmt(v['sdsa'])} vs uniform {fmt(v['uniform'])}"
                    + (f", OWL {fmt(v['owl'])}" if v["owl"] is not None else " (OWL not run)"))
            if v["sdsa"] < others[best_other]:
                wins.append(item)
            elif v["sdsa"] > max(others.values()):
                losses.append(item + " (worst)")
            else:
                ties.append(item + f" (between; best is {best_other})")
    out = [f"### SDSA on {model}\n"]
    total = len(wins) + len(losses) + len(ties)
    out.append(f"Of {total} method × sparsity cells, SDSA is best in {len(wins)}, worst in {len(losses)}, "
               f"in between in {len(ties)}.\n")
    for title, items in (("Best", wins), ("Worst", losses), ("In between", ties)):
        if items:
            out.append(f"- {title}:")
            out.extend(f"  - {i}" for i in items)
    out.append("")
    return out


def tuning_section(d):
    """The SDSA tuning runs (tools/sdsa_tune.sh output, JSON lines, on WikiText-2 validation)."""
    if not os.path.isdir(d):
        return []
    out = ["## SDSA tuning (WikiText-2 validation, never test)\n",
           "Each line: `tools/sdsa_tune.sh MODEL native:wanda 0.7 WINDOWS CONFIG...` — Wanda at 70%, sequential, "
           "the protocol's calibration, perplexity on the first WINDOWS windows of `wiki.valid.raw` (0 = all 704). "
           "Config `sdsa:τ:λ:granularity`.\n"]
    for f in sorted(os.listdir(d)):
        if not f.endswith(".jsonl"):
            continue
        rows = []
        with open(os.path.join(d, f)) as fh:
            for line in fh:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
        if not rows:
            continue
        base = next((r["valid_ppl"] for r in rows if r.get("config") == "uniform" and "valid_ppl" in r), None)
        out.append(f"`{f}`\n")
        out.append("| config | valid ppl | vs uniform | windows |")
        out.append("|---|---|---|---|")
        for r in rows:
            if "valid_ppl" not in r:
                continue
            rel = f"{(r['valid_ppl'] / base - 1) * 100:+.1f}%" if base else ""
            out.append(f"| {r['config']} | {r['valid_ppl']:.1f} | {rel} | {r.get('windows')} |")
        out.append("")
    return out


def main():
    data, out = sys.argv[1], sys.argv[2]
    ref = None
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
        with open(sys.argv[3]) as fh:
            ref = json.load(fh)
    head = os.path.join(os.path.dirname(out), "results-head.md")
    lines = []
    if os.path.exists(head):
        with open(head) as fh:
            lines.append(fh.read().rstrip() + "\n")
    missing = []
    for model in MODELS:
        recs = load(data, model)
        want = ["dense"] + [f"{m}@{s}+{a}" for m in METHODS for s in SPARSITIES for a in ALLOCS] + \
               [f"{m}@{p}" for m in METHODS for p in PATTERNS]
        miss = [k for k in want if ppl_of(recs.get(k, {})) is None]
        if miss:
            missing.append(f"- {model}: {len(miss)} of {len(want)} runs missing"
                           + (f" ({', '.join(miss[:12])}{', …' if len(miss) > 12 else ''})" if len(miss) < len(want) else ""))
        if len(miss) == len(want):
            continue
        lines.extend(model_section(model, recs, ref))
        lines.extend(sdsa_verdict(model, recs))
    if missing:
        lines.append("## Missing runs\n")
        lines.extend(missing)
        lines.append("")
    lines.extend(tuning_section(os.path.join(data, "tuning")))
    for name in ("results-tail.md", "results-search.md"):    # hand-written sections: the verdict, the search
        tail = os.path.join(os.path.dirname(out), name)
        if os.path.exists(tail):
            with open(tail) as fh:
                lines.append(fh.read().rstrip() + "\n")
    with open(out, "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
