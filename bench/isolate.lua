-- bench/isolate.lua — what ap.isolate (fork worker + pipe + JSON result) costs per search candidate.
--   autoprune run bench/isolate.lua [MODEL_DIR] [REPEATS]      (default models/ap-tiny, 10)
-- With the model loaded and its calibration statistics cached (as in lua/search.lua), times alternately:
--   empty:    ap.isolate(function() return {ppl = 1} end)  — the bare overhead (fork of the loaded process,
--             pipe, JSON round trip, waitpid)
--   proxy:    the search's proxy evaluation (prune with Wanda + perplexity on 2 validation windows), in process
--             followed by model:reset(), and the same through ap.isolate (the worker's changes vanish with it).
-- Prints medians and the overhead per candidate, wall clock and CPU time of this process (the worker's CPU time
-- is not included: the parent waits in poll()).
local home = ap.datadir()
local model_dir = arg[1] or (home .. "/models/ap-tiny")
local repeats = math.tointeger(tonumber(arg[2] or "10")) or 10

local function median(xs)
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  return (s[(#s + 1) // 2] + s[#s // 2 + 1]) / 2
end

local m = ap.model.load(model_dir)
local seqlen = math.min(m:info().max_pos or 512, 2048)
local stats = m:calibrate { text = home .. "/data/calib.txt", nsamples = 8, seqlen = seqlen }
local metric = io.open(home .. "/lua/metrics/wanda.lua"):read("a")
local valid = home .. "/data/wikitext-2-raw/wiki.valid.raw"

local function proxy()
  m:prune { metric = metric, sparsity = 0.7, stats = stats }
  local ev = m:eval { text = valid, windows = 2, seqlen = seqlen, quiet = true }
  return { ppl = ev.ppl }
end

local t = { empty = {}, inproc = {}, isolated = {} }
local ppl_in, ppl_iso
for _ = 1, repeats do
  local t0 = ap.clock()
  local ok, r = ap.isolate(function() return { ppl = 1 } end)
  assert(ok and r.ppl == 1, "empty isolate failed")
  t.empty[#t.empty + 1] = ap.clock() - t0

  t0 = ap.clock()
  ppl_in = proxy().ppl
  m:reset()
  t.inproc[#t.inproc + 1] = ap.clock() - t0

  t0 = ap.clock()
  ok, r = ap.isolate(proxy, { timeout = 300 })
  assert(ok, "isolated proxy failed: " .. tostring(r and r.message))
  ppl_iso = r.ppl
  t.isolated[#t.isolated + 1] = ap.clock() - t0
end
assert(ppl_in == ppl_iso, ("in-process and isolated perplexities differ: %.17g vs %.17g"):format(ppl_in, ppl_iso))
local e, a, b = median(t.empty), median(t.inproc), median(t.isolated)
print(("model %s, %d repeats, proxy = Wanda 70%% + ppl on 2 windows of %d tokens (ppl %.3f both ways)")
  :format(model_dir, repeats, seqlen, ppl_in))
print(("ap.isolate, empty function:   median %7.2f ms"):format(e * 1000))
print(("proxy in process (+ reset):   median %7.2f ms"):format(a * 1000))
print(("proxy through ap.isolate:     median %7.2f ms"):format(b * 1000))
print(("overhead per candidate:       %+7.2f ms (%+.1f%%)"):format((b - a) * 1000, (b - a) / a * 100))
