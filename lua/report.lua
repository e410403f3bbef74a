-- lua/report.lua — the reports of a search run: report.html, one self-contained page with plain inline SVG charts (no
-- JavaScript) drawn from the run folder that lua/search.lua writes:
--   facts.json    per-linear facts of the model and the per-linear sparsity of the uniform, OWL and SDSA allocations
--   events.jsonl  records; "generation" ones carry generation, best, median, candidates, valid, failed
--   archive.json  every candidate (for the table of the best ones)
--   best.lua      the best metric's source
-- A missing or unreadable file leaves its section out with a note; the page never needs the network.
--
--   local report = require "report"
--   local path, summary = report.write("runs/NAME" [, {out = "elsewhere.html"}])
--
-- `autoprune report RUN_DIR` runs this; lua/search.lua calls it at the end of a run, after report.md
-- (R.write_markdown, the same run in words and tables, from the live archive). Every bar and point has a
-- <title> (the tooltip) naming its series, layer or generation and value, and data-* attributes for tests.

local Record = require("gcot.record")

local R = {}

local COLORS = { uniform = "#4e79a7", owl = "#f28e2b", sdsa = "#59a14f", best = "#e15759", median = "#76b7b2",
                 w_skew = "#b07aa1", x_outlier_ratio = "#edc948", wanda_outlier_ratio = "#9c755f" }

------------------------------------------------------------------------------------------------ helpers

local function esc(s)
  return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                                          ["'"] = "&#39;" }))
end

-- Numbers as people read them: 4 significant digits, no exponent for ordinary magnitudes.
local function num(x)
  if type(x) ~= "number" then return "n/a" end
  if x ~= x then return "NaN" end
  if x == math.huge or x == -math.huge then return x > 0 and "inf" or "-inf" end
  if x == math.floor(x) and math.abs(x) < 1e15 then return string.format("%d", x) end
  return (string.format("%.4g", x))
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function read_json(path)
  local s = read_file(path)
  if not s then return nil, "missing" end
  local v, err = ap.json.decode(s)
  if v == nil then return nil, "not JSON: " .. tostring(err) end
  return v
end

local function read_events(path)
  local s = read_file(path)
  if not s then return nil end
  local out = {}
  for line in s:gmatch("[^\n]+") do
    local v = ap.json.decode(line)
    if type(v) == "table" then out[#out + 1] = v end   -- a torn last line (killed run) is skipped
  end
  return out
end

local function finite(x) return type(x) == "number" and x == x and x > -math.huge and x < math.huge end

-- "Nice" axis ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
local function ticks(lo, hi, n)
  if not (finite(lo) and finite(hi)) then lo, hi = 0, 1 end
  if hi <= lo then hi = lo + (lo == 0 and 1 or math.abs(lo) * 0.1) end
  local raw = (hi - lo) / (n or 5)
  local p = 10 ^ math.floor(math.log(raw, 10))
  local step = p * ((raw / p <= 1 and 1) or (raw / p <= 2 and 2) or (raw / p <= 5 and 5) or 10)
  local first, out = math.floor(lo / step) * step, {}
  for v = first, hi + step * 0.999, step do out[#out + 1] = v end
  return out, out[1], out[#out]
end

------------------------------------------------------------------------------------------------ charts

local W, H = 720, 300
local PAD = { left = 64, right = 180, top = 16, bottom = 44 }

local function frame(parts, label, y_ticks, y0, y1, ylabel)
  local ph = H - PAD.top - PAD.bottom
  local function y_of(v) return PAD.top + ph * (1 - (v - y0) / (y1 - y0)) end
  parts[#parts + 1] = string.format('<svg role="img" aria-label="%s" '
    .. 'width="%d" height="%d" viewBox="0 0 %d %d">', esc(label), W, H, W, H)
  for _, v in ipairs(y_ticks) do
    local y = y_of(v)
    parts[#parts + 1] = string.format('<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>'
      .. '<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>', PAD.left, W - PAD.right, y, y,
      PAD.left - 6, y + 4, esc(num(v)))
  end
  parts[#parts + 1] = string.format('<text class="axis" transform="translate(14 %d) rotate(-90)" '
    .. 'text-anchor="middle">%s</text>', PAD.top + ph // 2, esc(ylabel))
  return y_of
end

local function legend(parts, series)
  for i, s in ipairs(series) do
    local y = PAD.top + 8 + (i - 1) * 20
    parts[#parts + 1] = string.format('<rect class="legend" x="%d" y="%d" width="12" height="12" fill="%s"/>'
      .. '<text x="%d" y="%d">%s</text>', W - PAD.right + 16, y - 10, s.color, W - PAD.right + 34, y, esc(s.label))
  end
end

-- The end every chart shares: the x-axis label, the legend, the closing tag; the SVG as one string.
local function close_chart(parts, series, xlabel, pw)
  parts[#parts + 1] = string.format('<text class="axis" x="%d" y="%d" text-anchor="middle">%s</text>',
    PAD.left + pw // 2, H - 6, esc(xlabel))
  legend(parts, series)
  parts[#parts + 1] = "</svg>"
  return table.concat(parts, "\n")
end

-- Grouped bars: categories along x (e.g. layers), one bar per series in each group.
-- series = {{key=, label=, color=, values = {[i] = number}}}; names[i] labels category i.
local function bar_chart(id, label, names, series, ylabel, xlabel, prefix)
  local all = {}
  for _, s in ipairs(series) do for i = 1, #names do if finite(s.values[i]) then all[#all + 1] = s.values[i] end end end
  local lo, hi = 0, 0
  for _, v in ipairs(all) do lo, hi = math.min(lo, v), math.max(hi, v) end
  local tk, y0, y1 = ticks(lo, hi, 5)
  local parts = {}
  local y_of = frame(parts, label, tk, y0, y1, ylabel)
  local pw = W - PAD.left - PAD.right
  local gw = pw / math.max(#names, 1)
  local bw = math.max(gw * 0.8 / math.max(#series, 1), 1)
  for i, name in ipairs(names) do
    local gx = PAD.left + (i - 1) * gw + gw * 0.1
    for k, s in ipairs(series) do
      local v = s.values[i]
      if finite(v) then
        local ya, yb = y_of(math.max(v, 0)), y_of(math.min(v, 0))
        parts[#parts + 1] = string.format('<rect class="bar" data-chart="%s" data-series="%s" data-category="%s" '
          .. 'data-value="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>',
          id, esc(s.key), esc(name), esc(num(v)), gx + (k - 1) * bw, ya, bw, math.max(yb - ya, 0.5), s.color,
          esc(s.label), esc((prefix or "") .. name), esc(num(v)))
      end
    end
    parts[#parts + 1] = string.format('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>',
      gx + gw * 0.4, H - PAD.bottom + 16, esc(name))
  end
  return close_chart(parts, series, xlabel, pw)
end

-- Lines over x = 0..n-1 with a point per value. series as for bar_chart; xs[i] labels point i.
local function line_chart(id, label, xs, series, ylabel, xlabel)
  local lo, hi = math.huge, -math.huge
  for _, s in ipairs(series) do for i = 1, #xs do local v = s.values[i]
    if finite(v) then lo, hi = math.min(lo, v), math.max(hi, v) end end end
  if lo > hi then lo, hi = 0, 1 end
  local margin = (hi - lo) * 0.05
  local tk, y0, y1 = ticks(lo - margin, hi + margin, 5)
  local parts = {}
  local y_of = frame(parts, label, tk, y0, y1, ylabel)
  local pw = W - PAD.left - PAD.right
  local function x_of(i) return PAD.left + (#xs > 1 and (i - 1) * pw / (#xs - 1) or pw / 2) end
  for i, x in ipairs(xs) do
    parts[#parts + 1] = string.format('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>',
      x_of(i), H - PAD.bottom + 16, esc(x))
  end
  for _, s in ipairs(series) do
    local pts = {}
    for i = 1, #xs do
      if finite(s.values[i]) then pts[#pts + 1] = string.format("%.1f,%.1f", x_of(i), y_of(s.values[i])) end
    end
    parts[#parts + 1] = string.format('<polyline class="line" data-chart="%s" data-series="%s" fill="none" '
      .. 'stroke="%s" stroke-width="2" points="%s"/>', id, esc(s.key), s.color, table.concat(pts, " "))
    for i = 1, #xs do
      local v = s.values[i]
      if finite(v) then
        parts[#parts + 1] = string.format('<circle class="point" data-chart="%s" data-series="%s" data-category="%s" '
          .. 'data-value="%s" cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s, generation %s: %s</title></circle>',
          id, esc(s.key), esc(xs[i]), esc(num(v)), x_of(i), y_of(v), s.color, esc(s.label), esc(xs[i]), esc(num(v)))
      end
    end
  end
  return close_chart(parts, series, xlabel, pw)
end

------------------------------------------------------------------------------------------------ data

-- Blocks present in per-linear records, sorted.
local function blocks_of(records)
  local seen, out = {}, {}
  for _, r in ipairs(records) do
    if type(r.layer) == "number" and not seen[r.layer] then seen[r.layer] = true; out[#out + 1] = r.layer end
  end
  table.sort(out)
  return out
end

-- Per block: zeros / numel over its linears (the realised sparsity of the block), or the numel-weighted mean
-- of `field` when zeros are absent.
local function block_sparsity(records, blocks)
  local z, n, ws, wn = {}, {}, {}, {}
  for _, r in ipairs(records) do
    local b = r.layer
    if type(r.zeros) == "number" and type(r.numel) == "number" then
      z[b], n[b] = (z[b] or 0) + r.zeros, (n[b] or 0) + r.numel
    elseif finite(r.sparsity) then
      local w = type(r.numel) == "number" and r.numel or 1
      ws[b], wn[b] = (ws[b] or 0) + r.sparsity * w, (wn[b] or 0) + w
    end
  end
  local out = {}
  for i, b in ipairs(blocks) do
    out[i] = (n[b] and n[b] > 0 and z[b] / n[b]) or (wn[b] and ws[b] / wn[b]) or nil
  end
  return out
end

-- Per block: the mean of a per-linear fact over the block's linears.
local function block_mean(records, blocks, field)
  local s, c = {}, {}
  for _, r in ipairs(records) do
    if finite(r[field]) then s[r.layer], c[r.layer] = (s[r.layer] or 0) + r[field], (c[r.layer] or 0) + 1 end
  end
  local out = {}
  for i, b in ipairs(blocks) do out[i] = c[b] and s[b] / c[b] or nil end
  return out
end

------------------------------------------------------------------------------------------------ page

local CSS = [[
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 900px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
svg text { font: 12px system-ui, sans-serif; fill: #333; } svg .grid { stroke: #e4e4e4; }
svg .bar:hover, svg .point:hover { opacity: 0.7; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { padding: 2px 10px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f5f5f5; } td.l, th.l { text-align: left; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 13px; }
.note { color: #a33; }
]]

local function dl(rows)
  local p = { "<table>" }
  for _, r in ipairs(rows) do
    p[#p + 1] = string.format('<tr><th class="l">%s</th><td class="l">%s</td></tr>', esc(r[1]), esc(r[2]))
  end
  p[#p + 1] = "</table>"
  return table.concat(p, "\n")
end

local function section_allocations(facts, out)
  local alloc = type(facts) == "table" and facts.allocations
  if type(alloc) ~= "table" then
    out[#out + 1] = '<p class="note">No allocations in facts.json.</p>'
    return 0
  end
  local series, blocks = {}, {}
  for _, key in ipairs({ "uniform", "owl", "sdsa" }) do
    if type(alloc[key]) == "table" then
      local b = blocks_of(alloc[key])
      if #b > #blocks then blocks = b end
    end
  end
  local labels = { uniform = "uniform", owl = "OWL", sdsa = "SDSA" }
  for _, key in ipairs({ "uniform", "owl", "sdsa" }) do
    if type(alloc[key]) == "table" then
      series[#series + 1] = { key = key, label = labels[key], color = COLORS[key],
                              values = block_sparsity(alloc[key], blocks) }
    end
  end
  local names = {}
  for i, b in ipairs(blocks) do names[i] = tostring(b) end
  out[#out + 1] = "<figure>" .. bar_chart("sparsity", "per-layer sparsity by allocation", names, series,
    "sparsity (zeros / weights)", "layer (decoder block)", "layer ")
  out[#out + 1] = string.format("<figcaption>Realised sparsity of each decoder block (zeros over the weights of its "
    .. "seven linears) under each allocation, for the run's target %s.</figcaption></figure>", esc(num(facts.sparsity)))
  return #series * #blocks
end

local function section_facts(facts, out)
  local recs = type(facts) == "table" and facts.facts
  if type(recs) ~= "table" or #recs == 0 then
    out[#out + 1] = '<p class="note">No layer facts in facts.json.</p>'
    return 0
  end
  local blocks = blocks_of(recs)
  local names = {}
  for i, b in ipairs(blocks) do names[i] = tostring(b) end
  out[#out + 1] = "<figure>" .. bar_chart("skew", "per-layer weight skewness", names,
    { { key = "w_skew", label = "weight skewness", color = COLORS.w_skew,
        values = block_mean(recs, blocks, "w_skew") } },
    "skewness of W (mean over linears)", "layer (decoder block)", "layer ")
  out[#out + 1] = "<figcaption>Skewness of the weights, averaged over the seven linears of each block." ..
                  "</figcaption></figure>"
  out[#out + 1] = "<figure>" .. bar_chart("outliers", "per-layer outlier ratio", names,
    { { key = "x_outlier_ratio", label = "activation outliers", color = COLORS.x_outlier_ratio,
        values = block_mean(recs, blocks, "x_outlier_ratio") },
      { key = "wanda_outlier_ratio", label = "Wanda-score outliers", color = COLORS.wanda_outlier_ratio,
        values = block_mean(recs, blocks, "wanda_outlier_ratio") } },
    "outlier ratio (mean over linears)", "layer (decoder block)", "layer ")
  out[#out + 1] = "<figcaption>Share of input channels whose activations are outliers, and OWL's share of "
    .. "Wanda scores above M times their layer mean, averaged over each block's linears.</figcaption></figure>"
  return 3 * #blocks
end

local function section_progress(events, out)
  local gens = {}
  for _, e in ipairs(events or {}) do
    if e.type == "generation" and type(e.generation) == "number" then gens[#gens + 1] = e end
  end
  table.sort(gens, function(a, b) return a.generation < b.generation end)
  if #gens == 0 then
    out[#out + 1] = '<p class="note">No generation records in events.jsonl.</p>'
    return 0
  end
  local xs, best, median = {}, {}, {}
  for i, g in ipairs(gens) do xs[i], best[i], median[i] = tostring(g.generation), g.best, g.median end
  out[#out + 1] = "<figure>" .. line_chart("progress", "search progress", xs,
    { { key = "best", label = "best so far", color = COLORS.best, values = best },
      { key = "median", label = "generation median", color = COLORS.median, values = median } },
    "proxy perplexity (validation)", "generation")
  out[#out + 1] = "<figcaption>Proxy perplexity (WikiText-2 validation windows, one-shot statistics) of the best "
    .. "candidate so far and the median candidate of each generation; lower is better.</figcaption></figure>"
  local p = { "<table><tr><th>generation</th><th>candidates</th><th>valid</th><th>failed</th><th>best</th>" ..
              "<th>median</th></tr>" }
  for _, g in ipairs(gens) do
    p[#p + 1] = string.format("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>",
      esc(num(g.generation)), esc(num(g.candidates)), esc(num(g.valid)), esc(num(g.failed)), esc(num(g.best)),
      esc(num(g.median)))
  end
  p[#p + 1] = "</table>"
  out[#out + 1] = table.concat(p, "\n")
  return 2 * #gens
end

local function section_archive(archive, out)
  local cands = type(archive) == "table" and archive.candidates
  if type(cands) ~= "table" then
    out[#out + 1] = '<p class="note">No archive.json.</p>'
    return
  end
  local ok = {}
  for _, c in ipairs(cands) do if finite(c.fitness) then ok[#ok + 1] = c end end
  table.sort(ok, function(a, b) return a.fitness < b.fitness end)
  local p = { string.format("<p>%d candidates, %d evaluated.</p>", #cands, #ok),
              '<table><tr><th>rank</th><th>id</th><th class="l">origin</th><th class="l">allocation</th>'
              .. '<th>generation</th><th>proxy ppl</th><th>realised sparsity</th></tr>' }
  for i = 1, math.min(#ok, 10) do
    local c = ok[i]
    p[#p + 1] = string.format('<tr><td>%d</td><td>%s</td><td class="l">%s</td><td class="l">%s</td><td>%s</td>'
      .. "<td>%s</td><td>%s</td></tr>", i, esc(num(c.id)), esc(c.origin or ""), esc(c.alloc or "uniform"),
      esc(num(c.generation)), esc(num(c.fitness)), esc(num(c.realised)))
  end
  p[#p + 1] = "</table>"
  out[#out + 1] = table.concat(p, "\n")
end

-- Write the report of run folder `dir`. opts.out: the output path (default dir/report.html).
-- Returns the path and {charts = number of charts, marks = bars and points drawn}.
function R.write(dir, opts)
  opts = opts or {}
  local facts, ferr = read_json(dir .. "/facts.json")
  local events = read_events(dir .. "/events.jsonl")
  local archive = read_json(dir .. "/archive.json")
  local best = read_file(dir .. "/best.lua")
  local start, final, dense
  for _, e in ipairs(events or {}) do
    if e.type == "start" then start = e
    elseif e.type == "final" then final = e
    elseif e.type == "dense" then dense = e end
  end
  local name = dir:match("([^/]+)/*$") or dir
  local out = {}
  out[#out + 1] = string.format('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    .. "<title>autoprune report: %s</title><style>%s</style></head><body>", esc(name), CSS)
  out[#out + 1] = string.format("<h1>autoprune search <code>%s</code></h1>", esc(name))
  local info = type(facts) == "table" and type(facts.info) == "table" and facts.info or {}
  local rows = {
    { "model", (type(facts) == "table" and facts.model) or (start and start.config and start.config.model) or "?" },
    { "target sparsity",
      num(type(facts) == "table" and facts.sparsity or (start and start.config and start.config.sparsity)) },
    { "layers", num(info.n_layers) },
    { "parameters (prunable)", num(info.params) .. " (" .. num(info.prunable_params) .. ")" },
    { "dense proxy perplexity", num((type(facts) == "table" and facts.dense_valid_ppl) or (dense and dense.ppl)) },
  }
  if final then rows[#rows + 1] = { "best metric, WikiText-2 test perplexity", num(final.ppl or final.test_ppl) } end
  out[#out + 1] = dl(rows)
  if not facts then out[#out + 1] = string.format('<p class="note">facts.json: %s.</p>', esc(ferr)) end

  local marks, charts = 0, 0
  out[#out + 1] = "<h2>Sparsity per layer: uniform, OWL and SDSA</h2>"
  local m = section_allocations(facts, out); marks, charts = marks + m, charts + (m > 0 and 1 or 0)
  out[#out + 1] = "<h2>Layer statistics: skewness and outliers</h2>"
  m = section_facts(facts, out); marks, charts = marks + m, charts + (m > 0 and 2 or 0)
  out[#out + 1] = "<h2>Search progress</h2>"
  m = section_progress(events, out); marks, charts = marks + m, charts + (m > 0 and 1 or 0)
  out[#out + 1] = "<h2>Best candidates</h2>"
  section_archive(archive, out)
  out[#out + 1] = "<h2>Best metric</h2>"
  out[#out + 1] = best and ('<pre id="best-source"><code>' .. esc(best) .. "</code></pre>")
                       or '<p class="note">No best.lua.</p>'
  out[#out + 1] = string.format('<p style="color:#888">autoprune %s · %s</p></body></html>\n', esc(ap.version),
                                esc(os.date("!%Y-%m-%d %H:%M UTC")))

  local path = opts.out or (dir .. "/report.html")
  Record.write_atomic(path, table.concat(out, "\n"))
  return path, { charts = charts, marks = marks }
end

------------------------------------------------------------------------------------------------ report.md

local function fixed2(x) return x and string.format("%.2f", x) or "-" end

local function md_summary(add, archive, cfg, extra)
  add("# autoprune search: " .. cfg.name)
  add("")
  add(("Model `%s`, target sparsity %.0f%%, allocation %s, proxy: one-shot statistics (%d calibration windows), " ..
       "perplexity on %d windows of WikiText-2 validation (seqlen %d).")
      :format(cfg.model, cfg.sparsity * 100, table.concat(cfg.allocs, "/"), cfg.nsamples, cfg.proxy_windows,
              cfg.seqlen or 0))
  add(("Proposers: %s. Dense validation perplexity (proxy windows): %s."):format(cfg.proposers,
      fixed2(extra.dense_ppl)))
  if extra.reference then
    add(("Yardstick: native %s (%s) under the same proxy: %s."):format(extra.reference.method,
        extra.reference.alloc or "uniform", fixed2(extra.reference.ppl)))
  end
  if extra.elapsed and extra.elapsed > 0 then
    local n = 0
    for _, c in ipairs(archive.candidates) do if c.status == "ok" or c.status == "failed" then n = n + 1 end end
    add(("Evaluated %d candidates in %.0f s of search (%.0f candidates per hour)."):format(n, extra.elapsed,
        n * 3600 / extra.elapsed))
  end
end

local function md_tables(add, archive, cfg, extra)
  add("")
  add("## Progress per generation")
  add("")
  add("| generation | candidates | valid | failed | best proxy ppl | median proxy ppl |")
  add("|---:|---:|---:|---:|---:|---:|")
  for _, g in ipairs(extra.generations or {}) do
    add(("| %d | %d | %d | %d | %s | %s |"):format(g.generation, g.candidates, g.valid, g.failed, fixed2(g.best),
                                                   fixed2(g.median)))
  end
  add("")
  add("## Best candidates")
  add("")
  add("| rank | id | origin | allocation | group | proxy ppl | generation | parents |")
  add("|---:|---:|---|---|---|---:|---:|---|")
  for i, c in ipairs(archive:ranked()) do
    if i > 10 then break end
    add(("| %d | %d | %s | %s | %s | %s | %d | %s |"):format(i, c.id, c.origin, c.setup or c.alloc or "uniform",
        c.group or "row", fixed2(c.fitness), c.generation or 0, table.concat(c.parents or {}, ",")))
  end
  local confirmed = {}
  for _, c in ipairs(archive.candidates) do if c.confirm ~= nil then confirmed[#confirmed + 1] = c end end
  table.sort(confirmed, function(a, b) return (a.fitness or math.huge) < (b.fitness or math.huge) end)
  if #confirmed == 0 then return end
  add("")
  add(("## Confirmation on validation (sequential pruning, %d calibration windows, %d validation windows)")
      :format(cfg.final_nsamples or 128, cfg.confirm_windows or 0))
  add("")
  add("| id | set-up | group | proxy ppl | confirmation ppl |")
  add("|---:|---|---|---:|---:|")
  for _, c in ipairs(confirmed) do
    add(("| %d | %s | %s | %s | %s |"):format(c.id, c.setup or c.alloc or "uniform", c.group or "row",
        fixed2(c.fitness), type(c.confirm) == "number" and fixed2(c.confirm) or "failed"))
  end
  if archive.reference_confirm then
    add("")
    add("Native SparseGPT (uniform) under the same protocol: " .. fixed2(archive.reference_confirm) .. ".")
  end
end

local function md_best(add, archive, cfg, extra)
  local best = archive:best()
  if not best then return end
  add("")
  add("## The best metric (candidate " .. best.id .. (type(best.confirm) == "number" and
      ", the lowest confirmation perplexity" or "") .. ")")
  add("")
  if extra.final then
    add(("Full evaluation on WikiText-2 **test**, sequential pruning at %.0f%%: perplexity **%s** " ..
         "(realised sparsity %.4f)."):format(cfg.sparsity * 100, fixed2(extra.final.ppl), extra.final.realised or 0))
    add("")
  end
  add(("Set-up: %s, group %s."):format(best.setup or best.alloc or "uniform", best.group or "row"))
  if extra.final and extra.final.flags then
    add("")
    add(("Reproduce: `autoprune prune --model %s --metric best.lua --sparsity %g %s --eval`"):format(cfg.model,
        cfg.sparsity, extra.final.flags))
  end
  add("")
  if best.thought and best.thought ~= "" then add("Idea: " .. best.thought:gsub("\n", " "):sub(1, 600)); add("") end
  local ids = { tostring(best.id) }
  for _, p in ipairs(archive:lineage(best)) do
    ids[#ids + 1] = tostring(p.id) .. " (" .. fixed2(p.fitness) .. ", " .. (p.setup or p.alloc or "uniform") .. ")"
  end
  add("Lineage: " .. table.concat(ids, " <- "))
  add("")
  add("```lua")
  add((best.code:gsub("\n$", "")))
  add("```")
end

local function md_failures_and_insights(add, archive)
  local fails = archive:failures(10)
  if #fails > 0 then
    add("")
    add("## Recent failures")
    add("")
    for _, c in ipairs(fails) do
      add(("- candidate %d (%s): %s: %s"):format(c.id, c.origin, c.error and c.error.kind or "?",
          ((c.error and c.error.message) or ""):gsub("\n", " "):sub(1, 200)))
    end
  end
  if #archive.insights > 0 then
    add("")
    add("## Insights")
    add("")
    for _, ins in ipairs(archive.insights) do add(("- generation %d: %s"):format(ins.generation, ins.text)) end
  end
end

-- Write dir/report.md for a run in progress or just finished: the configuration, progress per generation, the best
-- candidates (with the confirmation stage), the best metric with its lineage and source, failures and insights.
-- archive: the live gcot.archive; cfg: search.lua's config; extra: {dense_ppl, generations, final, reference,
-- elapsed}.
function R.write_markdown(dir, archive, cfg, extra)
  local L = {}
  local function add(s) L[#L + 1] = s end
  md_summary(add, archive, cfg, extra)
  md_tables(add, archive, cfg, extra)
  md_best(add, archive, cfg, extra)
  md_failures_and_insights(add, archive)
  Record.write_atomic(dir .. "/report.md", table.concat(L, "\n") .. "\n")
end

R.escape = esc
return R
