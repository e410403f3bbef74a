#!/usr/bin/env python3
"""check_dom.py RUN_DIR DOM.html [hostile] — checks the DOM that headless Chromium rendered from report.html against
the run's own files: bars per chart = layers x series, tooltip values recomputed from facts.json and
events.jsonl, the best metric's source as text, no script element. Prints TAP lines from 1; exits 1 on a failure.
With `hostile`, only checks that best.lua's text (markup in it) arrived as text and no element was injected."""
import json
import os
import sys
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap  # noqa: E402

run_dir, dom_path = sys.argv[1], sys.argv[2]
hostile = len(sys.argv) > 3


class Dom(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []          # (tag, attrs dict)
        self.stack = []             # open elements collecting text: [tag, attrs, text parts]
        self.titles = []            # (parent attrs, text) of every SVG <title>
        self.pre = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag in ("title", "pre"):
            parent = self.elements[-2][1] if len(self.elements) > 1 else {}
            self.stack.append([tag, a, [], parent])

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1][0] == tag:
            t, a, parts, parent = self.stack.pop()
            text = "".join(parts)
            if t == "title":
                self.titles.append((parent, text))
            elif a.get("id") == "best-source":
                self.pre = text

    def handle_data(self, data):
        for s in self.stack:
            s[2].append(data)


dom = Dom()
dom.feed(open(dom_path, encoding="utf-8").read())
best = open(f"{run_dir}/best.lua", encoding="utf-8").read()

tap = Tap()


def fmt(x):
    """The report's number format (lua/report.lua num): integers plainly, else %.4g."""
    if float(x).is_integer() and abs(x) < 1e15:
        return "%d" % x
    return "%.4g" % x


tap.check(not any(t == "script" for t, _ in dom.elements), "the page has no script element")
tap.check(dom.pre == best, "best.lua's source is the text of <pre id=best-source>, byte for byte")
if hostile:
    tap.check(not any(t in ("img", "iframe") or "onerror" in a for t, a in dom.elements),
              "markup inside best.lua did not become elements")
    tap.done()

facts = json.load(open(f"{run_dir}/facts.json"))
events = [json.loads(l) for l in open(f"{run_dir}/events.jsonl") if l.strip()]
bars = [a for t, a in dom.elements if t == "rect" and a.get("class") == "bar"]
points = [a for t, a in dom.elements if t == "circle" and a.get("class") == "point"]
svgs = [a for t, a in dom.elements if t == "svg"]
tap.check(len(svgs) == 4, f"four SVG charts drawn ({len(svgs)})")

# Sparsity per layer: layers x allocations bars, values = zeros / numel per block.
allocs = facts["allocations"]
layers = sorted({r["layer"] for r in facts["facts"]})
tap.check(len(layers) == facts["info"]["n_layers"], f"facts cover every layer ({len(layers)})")
sp = [b for b in bars if b.get("data-chart") == "sparsity"]
tap.check(len(sp) == len(layers) * len(allocs) == len(layers) * 3,
          f"sparsity chart: {len(sp)} bars = {len(layers)} layers x 3 allocations")
label = {"uniform": "uniform", "owl": "OWL", "sdsa": "SDSA"}
titles = {t for _, t in dom.titles}
for key, recs in allocs.items():
    for layer in layers:
        rs = [r for r in recs if r["layer"] == layer]
        v = sum(r["zeros"] for r in rs) / sum(r["numel"] for r in rs)
        want = f"{label[key]}, layer {layer}: {fmt(v)}"
        if want not in titles:
            tap.check(False, f"tooltip '{want}' (from facts.json) is drawn")
            break
    else:
        tap.check(True, f"{label[key]}: every layer's tooltip carries its sparsity from facts.json")
owl = [r for r in allocs["owl"]]
tap.check(len({b["data-value"] for b in sp if b["data-series"] == "owl"}) > 1, "OWL's bars differ between layers")

# Skewness and outliers: one bar per layer (skew), two per layer (outliers), means over each block's linears.
sk = [b for b in bars if b.get("data-chart") == "skew"]
tap.check(len(sk) == len(layers), f"skewness chart: one bar per layer ({len(sk)})")
for layer, b in zip(layers, sk):
    rs = [r["w_skew"] for r in facts["facts"] if r["layer"] == layer]
    if b["data-value"] != fmt(sum(rs) / len(rs)) or f"weight skewness, layer {layer}: {fmt(sum(rs) / len(rs))}" not in titles:
        tap.check(False, f"layer {layer} skewness {fmt(sum(rs) / len(rs))} drawn (got {b['data-value']})")
        break
else:
    tap.check(True, "every layer's mean weight skewness from facts.json is drawn")
ol = [b for b in bars if b.get("data-chart") == "outliers"]
tap.check(len(ol) == 2 * len(layers), f"outlier chart: two bars per layer ({len(ol)})")
rs = [r["wanda_outlier_ratio"] for r in facts["facts"] if r["layer"] == layers[-1]]
tap.check(f"Wanda-score outliers, layer {layers[-1]}: {fmt(sum(rs) / len(rs))}" in titles,
          "the last layer's Wanda-score outlier ratio from facts.json is in a tooltip")

# Search progress: a best and a median point per generation record.
gens = [e for e in events if e.get("type") == "generation"]
tap.check(len(gens) >= 1 and len(points) == 2 * len(gens),
          f"progress: {len(points)} points = 2 x {len(gens)} generations")
last = gens[-1]
tap.check(f"best so far, generation {last['generation']}: {fmt(last['best'])}" in titles,
          "the last generation's best proxy perplexity from events.jsonl is in a tooltip")
tap.check(f"generation median, generation {gens[0]['generation']}: {fmt(gens[0]['median'])}" in titles,
          "the first generation's median from events.jsonl is in a tooltip")
heights = [float(b["height"]) for b in sp]
tap.check(all(h > 10 for h in heights), "sparsity bars have visible heights")
tap.done()
