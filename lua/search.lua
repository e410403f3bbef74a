-- lua/search.lua — the default GCoT search controller: an LLM (or the symbolic proposer, offline) designs pruning
-- metrics for the model in front of it; each candidate is checked in the sandbox, scored by a cheap proxy (one-shot
-- statistics, prune, perplexity on a few WikiText-2 *validation* windows) in an isolated worker, and fed back into
-- the next generation's prompts. The best is finally evaluated on WikiText-2 test.
--
--   autoprune run lua/search.lua [--quick] [--model DIR] [--sparsity 0.7] [--name NAME | --resume NAME] ...
--   autoprune run lua/search.lua --help      (every setting below is a flag)
--
-- This file is meant to be read and edited: the configuration is the table below, the loop is at the bottom.
local symbolic = require("gcot.symbolic")
local Archive = require("gcot.archive")
local Context = require("gcot.context")
local Graph = require("gcot.graph")
local Record = require("gcot.record")
local Report = require("report")

local home = ap.datadir()
-- The configuration: every setting once, as { key, default, the line --help prints }. Each is also a flag, the key
-- in kebab-case (proxy_windows: --proxy-windows), read as the default's type: an integer is floored, a float kept,
-- a list is "a,b,c", a boolean has --key and --no-key. `type` says it where the default is nil; `check` validates a
-- value and maps the spellings people type onto the one the code reads.
local RECONSTRUCT = { off = false, none = false, mask = "mask", adaptive = "adaptive" }
local function reconstruct_mode(v)   -- false | "mask" | "adaptive", from any of those or "off"/"none"
  if v ~= false and RECONSTRUCT[v] == nil then return nil, "must be mask, adaptive or off" end
  return RECONSTRUCT[v] or false
end
local function at_least(lo) return function(v) if v >= lo then return v end return nil, "must be >= " .. lo end end

local SETTINGS = {
  { "model", home .. "/models/ap-tiny", "the model folder" },
  { "sparsity", 0.7, "target sparsity",
    check = function(v) if v > 0 and v < 1 then return v end return nil, "must be in (0, 1)" end },
  { "generations", 6, "generations after the seeds", check = at_least(0) },
  { "population", 8, "candidates per generation", check = at_least(1) },
  { "allocs", { "uniform", "owl", "sdsa" }, "the allocations a candidate's genome may carry" },
  { "seed_allocs", nil, "the allocations generation 0 tries each seed metric with (default: allocs)", type = "list" },
  -- OWL's M and λ, SDSA's τ, λ and granularity evolve with the metric (alloc_params)
  { "alloc_genes", true, "evolve the allocation's parameters with the metric" },
  -- weight reconstruction with SparseGPT's OBS update (same Hessian and dampening): "mask": after the metric's mask;
  -- "adaptive": SparseGPT's procedure with the metric as its saliency, asked at every column block; "gene": evolved
  -- per candidate among off/mask/adaptive; "off": never (no Hessians gathered). The code reads false | "mask" |
  -- "adaptive" | "gene".
  { "reconstruct", "off", "weight reconstruction: gene, mask, adaptive or off", check = function(v)
      if v == "gene" then return v end
      local mode, why = reconstruct_mode(v)
      return mode, why and "must be gene, mask, adaptive or off"
    end },
  { "seed_reconstruct", { false, "mask", "adaptive" }, "with --reconstruct gene: the modes the seeds are tried in",
    check = function(list)
      local out = {}
      for i, v in ipairs(list) do
        local mode, why = reconstruct_mode(v)
        if why then return nil, why end
        out[i] = mode
      end
      return out
    end },
  { "reference", false, "also score native SparseGPT under the proxy once, as a yardstick (never a candidate)" },
  { "group", nil, "row or layer (default: each metric's own choice)", type = "string" },
  { "pattern", "unstructured", "sparsity pattern (unstructured, 2:4, ...)" },
  { "calib", home .. "/data/calib.txt", "calibration text" },
  { "valid", home .. "/data/wikitext-2-raw/wiki.valid.raw", "validation text: the proxy and the confirmation" },
  { "test", home .. "/data/wikitext-2-raw/wiki.test.raw", "test text: the final evaluation only" },
  { "nsamples", 64, "calibration windows of the proxy's one-shot statistics" },
  { "seqlen", nil, "window length (default: the model's context, capped at 2048)", type = "integer" },
  { "proxy_windows", 16, "validation windows of the proxy perplexity" },
  { "final_nsamples", 128, "calibration windows of the final protocol (the reference's)" },
  -- after the generations, the best N distinct candidates by proxy are pruned again under the final protocol
  -- (sequential, final_nsamples) and scored on confirm_windows windows of *validation*; the lowest is the pick.
  -- 0: the pick is the best proxy fitness
  { "confirm", 0, "confirm the best N by proxy under the final protocol on validation" },
  { "confirm_windows", 64, "validation windows of the confirmation" },
  { "llm", "auto", "auto: the LLM when configured; off: symbolic only; only: LLM only" },
  { "llm_share", 0.5, "with an LLM, the share of each generation it proposes (the rest is symbolic)" },
  { "graph", "default", "the reasoning graph lua/gcot/graphs/NAME.lua" },
  { "time_budget", 1800.0, "seconds of search" },
  { "max_candidates", 2000, "candidates in the archive" },
  { "token_budget", 2e6, "LLM tokens (prompt + completion)" },
  { "llm_timeout", 120.0, "seconds per LLM request attempt" },
  { "llm_retries", 3, "retries of a failed LLM request (timeouts, dropped connections, 429, 5xx)" },
  { "candidate_timeout", 300.0, "seconds, wall clock, per isolated evaluation" },
  { "isolate", true, "evaluate each candidate in a forked worker" },
  { "runs_dir", "runs", "the folder of run folders" },
  { "name", nil, "the run's name (default: search-DATE-TIME)", type = "string" },
  { "seed", 1, "seed of the symbolic proposer and of the LLM requests" },
  { "final", true, "evaluate the best on WikiText-2 test at the end" },
}

local config = {}
for _, s in ipairs(SETTINGS) do config[s[1]] = s[2] end

------------------------------------------------------------------------------------------------ arguments
local function flag(s) return "--" .. s[1]:gsub("_", "-") end

local function kind(s)
  if s.type then return s.type end
  local d = s[2]
  if type(d) == "number" then return math.type(d) == "integer" and "integer" or "number" end
  return type(d) == "table" and "list" or type(d)
end

local READ = {
  string = function(text) return text end,
  number = function(text) return tonumber(text) end,
  integer = function(text) local v = tonumber(text) return v and math.floor(v) end,
  list = function(text)
    local out = {}
    for x in text:gmatch("[^,]+") do out[#out + 1] = x end
    return out
  end,
}
local METAVAR = { string = " TEXT", number = " X", integer = " N", list = " A,B" }

local FLAGS, NO_FLAGS = {}, {}
for _, s in ipairs(SETTINGS) do
  FLAGS[flag(s)] = s
  if kind(s) == "boolean" then NO_FLAGS["--no-" .. flag(s):sub(3)] = s end
end

local function shown(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = x == false and "off" or tostring(x) end
    return table.concat(parts, ",")
  end
  return type(v) == "number" and ("%.10g"):format(v) or tostring(v)
end

local function usage(msg)
  local L = { "usage: autoprune run lua/search.lua [option]..." }
  for _, s in ipairs(SETTINGS) do
    local f = kind(s) == "boolean" and ("--[no-]" .. flag(s):sub(3)) or (flag(s) .. METAVAR[kind(s)])
    L[#L + 1] = ("  %-28s %s%s"):format(f, s[3], s[2] ~= nil and (" [" .. shown(s[2]) .. "]") or "")
  end
  L[#L + 1] = ("  %-28s %s"):format("--resume NAME", "continue the run NAME where it stopped")
  L[#L + 1] = ("  %-28s %s"):format("--quick", "about a minute on the shipped model (`make run`)")
  io.stderr:write((msg and ("search.lua: " .. msg .. "\n") or "") .. table.concat(L, "\n") .. "\n")
  os.exit(msg and 2 or 0)
end

local function parse_args(args)
  local i = 1
  while i <= #args do
    local a = args[i]
    local function value()
      i = i + 1
      if args[i] == nil then usage("missing value after " .. a) end
      return args[i]
    end
    if a == "--help" or a == "-h" then usage()
    elseif a == "--resume" then config.name = value(); config.resume = true
    elseif a == "--quick" then   -- `make run`: about a minute on the shipped model
      config.generations, config.population, config.nsamples, config.proxy_windows = 3, 6, 32, 8
      config.final_nsamples = 64
      config.reconstruct, config.reference = false, false
    elseif NO_FLAGS[a] then config[NO_FLAGS[a][1]] = false
    elseif FLAGS[a] then
      local s = FLAGS[a]
      local k = kind(s)
      if k == "boolean" then config[s[1]] = true
      else
        config[s[1]] = READ[k](value())
        if config[s[1]] == nil then usage("not a number after " .. a) end
      end
    else usage("unknown argument " .. a) end
    i = i + 1
  end
  for _, s in ipairs(SETTINGS) do
    if s.check and config[s[1]] ~= nil then
      local v, why = s.check(config[s[1]])
      if why then usage(flag(s) .. " " .. why) end
      config[s[1]] = v
    end
  end
end

------------------------------------------------------------------------------------------------ helpers
local seed_state = config.seed
local function rng(n)   -- deterministic: a run with the same seed proposes the same candidates
  seed_state = (seed_state * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
  return (seed_state >> 33) % n + 1
end

local function read_file(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("a")
  f:close()
  return s
end

local function median(xs)
  if #xs == 0 then return nil end
  local s = {}
  for i, x in ipairs(xs) do s[i] = x end
  table.sort(s)
  local m = (#s + 1) / 2
  return (s[math.floor(m)] + s[math.ceil(m)]) / 2
end

-- A candidate's pruning set-up in words: allocation with its parameters, and the reconstruction flag.
local function setup_label(c)
  local params = {}
  for k, v in pairs(type(c.alloc_params) == "table" and c.alloc_params or {}) do
    params[#params + 1] = type(v) == "number" and ("%s=%g"):format(k, v) or (k .. "=" .. tostring(v))
  end
  table.sort(params)
  return (c.alloc or "uniform") .. (#params > 0 and ("(" .. table.concat(params, ",") .. ")") or "") ..
         (c.reconstruct == "adaptive" and "+adaptive" or c.reconstruct and "+rec" or "")
end

-- The CLI flags that reproduce a candidate's set-up with `autoprune prune`: every parameter of its allocation as
-- the proxy used it (alloc_used, defaults filled in), so the line stays valid if the defaults change.
local USED = { owl = { "owl_m", "owl_lambda" }, sdsa = { "tau", "lambda", "granularity" } }
local function setup_flags(c)
  local f = { "--alloc " .. (c.alloc or "uniform") }
  local params, keys = {}, {}
  for k, v in pairs(type(c.alloc_params) == "table" and c.alloc_params or {}) do params[k] = v end
  for _, k in ipairs(USED[c.alloc] or {}) do
    if params[k] == nil and type(c.alloc_used) == "table" then params[k] = c.alloc_used[k] end
  end
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = params[k]
    f[#f + 1] = ("--alloc-param %s=%s"):format(k, type(v) == "number" and ("%.10g"):format(v) or tostring(v))
  end
  if c.reconstruct == "adaptive" then f[#f + 1] = "--reconstruct-adaptive"
  elseif c.reconstruct then f[#f + 1] = "--reconstruct" end
  return table.concat(f, " ")
end

-- Allocation genes: each kind's parameters move on a small grid around the published defaults.
local GENES = {
  owl = { owl_m = { 3, 4, 5, 7, 10 }, owl_lambda = { 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2 } },
  sdsa = { tau = { 0.25, 0.5, 1, 2, 4 }, lambda = { 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2 },
           granularity = { "block", "linear" } },
}

-- The symbolic proposer's policy, each rate "one in N" (a draw rng(N) == 1), for a child that keeps its parent's
-- formula (`setup`) or one with a new formula (`tree`). The draws and their order are the random stream: the same
-- seed proposes the same candidates.
local MUTATION = {
  setup_only = 3,                          -- keep the parent's formula, vary only its set-up (with alloc_genes)
  crossover = 3,                           -- otherwise cross it with a second parent (otherwise mutate it)
  alloc = { setup = 2, tree = 5 },         -- draw the allocation kind anew
  alloc_params = { setup = 1, tree = 4 },  -- move one allocation gene (set-up children always do)
  reconstruct = { setup = 4, tree = 10 },  -- draw the reconstruction mode anew (--reconstruct gene)
  group = { setup = 4, tree = 6 },         -- draw the comparison group (row or layer) anew
}
local RECONSTRUCT_MODES = { false, "mask", "adaptive" }

local function one_in(n) return rng(n) == 1 end

-- A copy of params with one gene of the allocation kind moved to another grid value (nil when the kind has none).
local function mutate_params(alloc, params)
  local genes = GENES[alloc]
  if not genes then return nil end
  local out, names = {}, {}
  for k, v in pairs(params or {}) do if genes[k] then out[k] = v end end
  for k in pairs(genes) do names[#names + 1] = k end
  table.sort(names)
  local k = names[rng(#names)]
  out[k] = genes[k][rng(#genes[k])]
  return out
end

------------------------------------------------------------------------------------------------ the search
local S = {}

-- Perplexity on the first `windows` windows of the validation text (the proxy, the dense baseline, confirmation).
local function validation_eval(windows)
  return S.model:eval { text = config.valid, windows = windows, seqlen = config.seqlen, quiet = true }
end

function S.setup()
  config.name = config.name or os.date("search-%Y%m%d-%H%M%S")
  config.run_dir = config.runs_dir .. "/" .. config.name
  config.use_llm = config.llm ~= "off" and ap.llm.configured()
  if config.llm == "only" and not config.use_llm then
    error({ kind = "arg", message = "--llm only, but no LLM is configured (set AUTOPRUNE_LLM_BASE_URL)" })
  end
  config.proposers = config.use_llm and (config.llm == "only" and "LLM" or "LLM + symbolic") or "symbolic (offline)"
  S.rec = Record.open(config.run_dir)
  S.archive = config.resume and Archive.load(config.run_dir .. "/archive.json") or Archive.new()
  if config.resume and #S.archive.candidates == 0 and not io.open(config.run_dir .. "/archive.json") then
    io.stderr:write("search.lua: nothing to resume in " .. config.run_dir .. ", starting afresh\n")
  end
  S.generations = {}
  S.tokens = 0
  S.started = ap.clock()
  S.model = ap.model.load(config.model)
  config.seqlen = config.seqlen or math.min(S.model:info().max_pos or 512, 2048)
  print(("search %s: model %s, sparsity %.2f, proposers: %s"):format(config.name, config.model, config.sparsity,
                                                                     config.proposers))
  S.rec:event("start", { config = config, resume = config.resume or false })
  -- Hessians (XᵀX per linear input) only when some candidate may reconstruct, or for the SparseGPT yardstick;
  -- the symbolic proposer may read X.hinv only where they are
  local hessian = config.reconstruct ~= false
  S.leaves = symbolic.leaf_set(hessian)
  S.stats = S.model:calibrate { text = config.calib, nsamples = config.nsamples, seqlen = config.seqlen,
                                hessian = hessian or config.reference }
  S.facts = S.model:facts(S.stats)
  S.dense = validation_eval(config.proxy_windows)
  S.rec:event("dense", { ppl = S.dense.ppl, windows = S.dense.windows })
  ap.watch_interrupt()
  if config.reference then S.score_reference() end
end

-- m:prune's arguments for candidate c at the run's target, with statistics `stats` (one-shot) or, when nil, the
-- final protocol's sequential calibration. The proxy, the confirmation and the final all prune through this; c is
-- a candidate (its metric is c.code) or SPARSEGPT, the native method.
local function prune_args(c, stats)
  return { metric = c.method or c.code, sparsity = config.sparsity, pattern = config.pattern, group = config.group,
           alloc = c.alloc, alloc_params = c.alloc_params, reconstruct = c.reconstruct or false, stats = stats,
           calib = not stats and { text = config.calib, nsamples = config.final_nsamples, seqlen = config.seqlen }
                   or nil }
end
local SPARSEGPT = { method = "sparsegpt" }   -- the yardstick: SparseGPT itself, uniform, with its own update

-- fn() in a forked worker killed after `timeout` seconds (config.isolate), else in this process under pcall; the
-- model is dense again afterwards either way. Returns true, fn's result or false, {kind, message, line, signal}.
local function isolated(fn, timeout)
  if config.isolate then
    local ok, res = ap.isolate(fn, { timeout = timeout })
    if not ok and res.kind == "error" and type(res.error) == "table" then
      res = { kind = res.error.kind or "runtime", message = res.error.message, line = res.error.line }
    end
    return ok, res
  end
  local ok, res = pcall(fn)
  S.model:reset()
  if not ok and type(res) ~= "table" then res = { kind = "runtime", message = tostring(res) } end
  return ok, res
end

-- SparseGPT (native, weight update) under the same proxy: the yardstick a metric must beat. Not a candidate.
function S.score_reference()
  S.reference = S.archive.reference
  if S.reference then return end
  local ok, res = isolated(function()
    S.model:prune(prune_args(SPARSEGPT, S.stats))
    return validation_eval(config.proxy_windows)
  end, config.candidate_timeout)
  if ok and type(res) == "table" then
    S.reference = { method = SPARSEGPT.method, alloc = "uniform", ppl = res.ppl }
    S.archive.reference = S.reference
    S.rec:event("reference", S.reference)
    print(("  reference: SparseGPT (uniform) proxy ppl %.2f"):format(res.ppl))
  end
end

-- Check in the sandbox, then prune + evaluate in an isolated worker. Updates c in place.
function S.evaluate(c)
  c.status = "running"
  local chk = ap.check(c.code)
  S.rec:event("check", { id = c.id, ok = chk.ok, kind = chk.kind, message = chk.message, line = chk.line })
  if not chk.ok then
    c.status, c.error = "failed", { kind = chk.kind, message = chk.message, line = chk.line, stage = "check" }
    return
  end
  local t0 = ap.clock()
  local ok, res = isolated(function()
    local pr = S.model:prune(prune_args(c, S.stats))
    local ev = validation_eval(config.proxy_windows)
    return { ppl = ev.ppl, realised = pr.realised, prune_seconds = pr.seconds, eval_seconds = ev.seconds,
             alloc_used = pr.alloc, layers = c.origin == "seed" and pr.layers or nil }
  end, config.candidate_timeout)
  c.seconds = ap.clock() - t0
  if ok and type(res) == "table" and type(res.ppl) == "number" and res.ppl == res.ppl and res.ppl < math.huge then
    c.status, c.fitness, c.realised, c.layers, c.alloc_used = "ok", res.ppl, res.realised, res.layers, res.alloc_used
    c.scores[tostring(config.sparsity)] = res.ppl
  else
    c.status = "failed"
    c.error = ok and { kind = "nonfinite", message = "proxy perplexity is not finite" } or
              { kind = res.kind, message = res.message, line = res.line, signal = res.signal, stage = "proxy" }
  end
  -- the archive first: a run killed between the two still has every result that an event announced
  S.archive:save(config.run_dir .. "/archive.json")
  S.rec:event("evaluation", { id = c.id, status = c.status, fitness = c.fitness, realised = c.realised,
                              error = c.error, seconds = c.seconds })
end

-- The hand-designed metrics shipped in lua/metrics/ plus their expression trees: generation 0.
function S.seed_candidates()
  local out = {}
  local recs = config.reconstruct == "gene" and config.seed_reconstruct or { config.reconstruct }
  -- the shipped metrics as they are, plus Wanda's formula compared per layer (the group matters as much as the
  -- formula once weights are reconstructed)
  local metrics = {
    { name = "magnitude", code = read_file(home .. "/lua/metrics/magnitude.lua"), group = "layer" },
    { name = "wanda", code = read_file(home .. "/lua/metrics/wanda.lua"), group = "row" },
    { name = "ria", code = read_file(home .. "/lua/metrics/ria.lua"), group = "layer" },
  }
  if recs[1] or recs[2] then
    metrics[#metrics + 1] = { name = "wanda", code = symbolic.emit(symbolic.seeds.wanda, "layer"), group = "layer",
                              variant = " (per layer)" }
    -- SparseGPT's own saliency w²/d² as a script (X.hinv exists because reconstruction gathers Hessians): under
    -- the adaptive update it is SparseGPT itself, the point the search starts from to beat it
    metrics[#metrics + 1] = { name = "obs", code = symbolic.emit(symbolic.seeds.obs, "layer"), group = "layer",
                              variant = " (SparseGPT's saliency w²/d² as a script)" }
  end
  for _, rec in ipairs(recs) do
    for _, mt in ipairs(metrics) do
      for _, alloc in ipairs((rec or mt.name ~= "obs") and (config.seed_allocs or config.allocs) or {}) do
        out[#out + 1] = { code = mt.code, origin = "seed", alloc = alloc,
                          thought = "hand-designed baseline: " .. mt.name .. (mt.variant or "") ..
                                    (rec and (" + reconstruction (" .. tostring(rec) .. ")") or ""),
                          tree = symbolic.seeds[mt.name], group = mt.group, reconstruct = rec, parents = {} }
      end
    end
  end
  return out
end

-- Tournament selection among the evaluated candidates that carry an expression tree.
local function select_parent(pool)
  local best
  for _ = 1, 3 do
    local c = pool[rng(#pool)]
    if not best or c.fitness < best.fitness then best = c end
  end
  return best
end

function S.symbolic_candidates(n)
  local pool = {}
  for _, c in ipairs(S.archive:ranked()) do if c.tree and symbolic.valid(c.tree) then pool[#pool + 1] = c end end
  local out, tries = {}, 0
  while #out < n and tries < n * 20 do
    tries = tries + 1
    local tree, parents, alloc, group, params, rec
    local how = "tree"
    if #pool == 0 then
      tree, parents = symbolic.random_tree(rng, 4, S.leaves), {}
    else
      local a = select_parent(pool)
      parents, alloc, group, params, rec = { a.id }, a.alloc, a.group, a.alloc_params, a.reconstruct
      -- a third of the children keep the parent's formula and vary only its set-up (allocation genes, flags)
      if config.alloc_genes and one_in(MUTATION.setup_only) then
        tree, how = symbolic.copy(a.tree), "setup"
      elseif one_in(MUTATION.crossover) and #pool > 1 then
        local b = select_parent(pool)
        tree, parents[2] = symbolic.crossover(rng, a.tree, b.tree), b.id
      else
        tree = symbolic.mutate(rng, a.tree, S.leaves)
      end
    end
    if one_in(MUTATION.alloc[how]) then
      local other = config.allocs[rng(#config.allocs)]
      if other ~= alloc then alloc, params = other, nil end
    end
    if config.alloc_genes and one_in(MUTATION.alloc_params[how]) then
      params = mutate_params(alloc or config.allocs[1], params) or params
    end
    if config.reconstruct ~= "gene" then rec = config.reconstruct
    elseif one_in(MUTATION.reconstruct[how]) then rec = RECONSTRUCT_MODES[rng(#RECONSTRUCT_MODES)] end
    if one_in(MUTATION.group[how]) or not group then group = (rng(2) == 1) and "row" or "layer" end
    -- X.hinv exists only where Hessians are gathered: a run that reconstructs (the final evaluation is sequential)
    if symbolic.uses_weight(tree) and (rec or not symbolic.uses_leaf(tree, "ihinv")) then
      out[#out + 1] = { code = symbolic.emit(tree, group), tree = tree, origin = "symbolic", parents = parents,
                        alloc = alloc or config.allocs[1], alloc_params = params, reconstruct = rec or false,
                        group = group,
                        thought = (how == "setup" and "set-up variation: " or "symbolic variation: ") ..
                                  symbolic.key(tree) }
    end
  end
  return out
end

-- An LLM branch's reconstruction: the run's mode, or with "gene" the modes in turn.
local function reconstruct_of_branch(b)
  if config.reconstruct ~= "gene" then return config.reconstruct end
  return RECONSTRUCT_MODES[b % #RECONSTRUCT_MODES + 1]
end

function S.llm_candidates(n, generation)
  local graph = dofile(home .. "/lua/gcot/graphs/" .. config.graph .. ".lua")
  local best, fails, insights = Context.archive(S.archive)
  local info = S.model:info()
  local ctx = {
    steps = #graph.nodes, model = config.model, sparsity_pct = math.floor(config.sparsity * 100 + 0.5),
    model_info = ("%d layers, hidden %d, %d parameters"):format(info.n_layers, info.hidden, info.params),
    group = config.group or "the metric's choice", alloc = table.concat(config.allocs, " / "),
    dense_ppl = ("%.2f"):format(S.dense.ppl), facts = Context.facts(S.facts),
    best = best ~= "" and best or "(none yet)", failures = fails, insights = insights,
    contract = read_file(home .. "/doc/metric-api.md"),
  }
  local function ask(requests)
    local calls = {}
    for i, r in ipairs(requests) do
      calls[i] = { messages = r.messages, temperature = r.temperature or 0.7, max_tokens = 1500,
                   seed = config.seed * 1000 + generation * 37 + i, timeout = config.llm_timeout,
                   retries = config.llm_retries }
      S.rec:event("prompt", { generation = generation, node = r.node.id, branch = r.branch,
                              chars = #r.messages[2].content })
    end
    local results = ap.llm.chat_many(calls)
    local out = {}
    for i, res in ipairs(results) do
      local r = requests[i]
      if res.content then
        local used = (res.usage and (res.usage.prompt_tokens or 0) + (res.usage.completion_tokens or 0)) or 0
        S.tokens = S.tokens + used
        S.rec:event("reply", { generation = generation, node = r.node.id, branch = r.branch, tokens = used,
                               attempts = res.attempts, seconds = res.seconds, chars = #res.content })
        out[i] = { content = res.content, usage = res.usage }
      else
        local err = res.error or res
        S.rec:event("error", { generation = generation, node = r.node.id, branch = r.branch, stage = "llm",
                               kind = err.kind, message = err.message, attempts = err.attempts })
        out[i] = { error = { kind = err.kind, message = err.message } }
      end
    end
    return out
  end
  local run = Graph.run(graph, ctx, n, ask, home .. "/prompts", read_file(home .. "/prompts/system.md"))
  for _, node in ipairs(graph.nodes) do
    if node.insight and run.shared[node.id] then
      local text = run.shared[node.id]:match("Insight:%s*([^\n]+)")
      if text then S.archive:add_insight(generation, text, { node = node.id }) end
    end
  end
  local best_c = S.archive:best()
  local out = {}
  for b = 1, n do
    local reply = run.produced[b]
    if reply then
      local chunks = ap.llm.extract_code(reply)
      local code
      for _, chunk in ipairs(chunks) do
        if ap.check(chunk).kind ~= "syntax" then code = chunk; break end
      end
      code = code or chunks[1] or reply
      out[#out + 1] = { code = code, origin = "llm", thought = run.branches[b].hypothesise,
                        parents = best_c and { best_c.id } or {}, alloc = config.allocs[(b - 1) % #config.allocs + 1],
                        reconstruct = reconstruct_of_branch(b) }
    end
  end
  return out
end

local function out_of_budget()
  if ap.interrupted() then return "interrupted" end
  if ap.clock() - S.started > config.time_budget then return "time budget" end
  if #S.archive.candidates >= config.max_candidates then return "candidate budget" end
  if S.tokens >= config.token_budget then return "token budget" end
end

-- Add proposals to the archive (de-duplicated) and evaluate the new ones, saving the archive after each.
function S.run_generation(generation, proposals)
  local fresh, added = {}, {}
  for _, p in ipairs(proposals) do
    p.generation = generation
    p.setup = setup_label(p)
    local c, dup = S.archive:add(p)
    added[#added + 1] = { c = c, p = p, dup = dup }
    if not dup then fresh[#fresh + 1] = c end
  end
  -- the new ids are saved before they are announced, so a killed run never hands an announced id out again
  S.archive:save(config.run_dir .. "/archive.json")
  for _, a in ipairs(added) do
    S.rec:event("candidate", { id = a.c.id, generation = generation, origin = a.p.origin, duplicate = a.dup,
                               alloc = a.p.alloc, alloc_params = a.p.alloc_params, reconstruct = a.p.reconstruct,
                               parents = a.p.parents, code = not a.dup and a.p.code or nil })
  end
  -- also finish candidates a killed run left unevaluated
  for _, c in ipairs(S.archive.candidates) do
    if c.status == "new" and c.generation == generation then
      local listed = false
      for _, f in ipairs(fresh) do if f == c then listed = true end end
      if not listed then fresh[#fresh + 1] = c end
    end
  end
  local fitness, failed = {}, 0
  -- a bar with rate and ETA under the candidate lines (only on a terminal; cleared before each line)
  local bar = ap.progress(("gen %d"):format(generation), "candidates")
  bar:update(0, #fresh)
  for i, c in ipairs(fresh) do
    local stop = out_of_budget()
    if stop then bar:done() return stop end
    S.evaluate(c)
    S.archive:save(config.run_dir .. "/archive.json")
    if c.status == "ok" then fitness[#fitness + 1] = c.fitness else failed = failed + 1 end
    bar:done()
    print(("  gen %d  #%-4d %-8s %-28s %s"):format(generation, c.id, c.origin, setup_label(c),
      c.status == "ok" and ("ppl %.2f"):format(c.fitness) or ("failed: " .. tostring(c.error and c.error.kind))))
    bar:update(i, #fresh)
  end
  bar:done()
  local best = S.archive:best()
  local g = { generation = generation, candidates = #fresh, valid = #fitness, failed = failed,
              best = best and best.fitness, median = median(fitness) }
  S.generations[#S.generations + 1] = g
  S.rec:event("generation", g)
  if not config.use_llm and best then
    S.archive:add_insight(generation, ("best so far #%d (%s, %s) at proxy ppl %.2f: %s"):format(best.id, best.origin,
      setup_label(best), best.fitness, best.tree and symbolic.key(best.tree) or "LLM-written"))
  end
  S.archive.generation = generation
  S.archive:save(config.run_dir .. "/archive.json")
end

-- facts.json: the model's per-layer statistics and the per-layer sparsity each allocation gave the seed metrics,
-- for report.html (autoprune report) and for anyone comparing allocations.
function S.write_facts()
  local allocations = {}
  for _, c in ipairs(S.archive.candidates) do
    if c.origin == "seed" and c.layers and not allocations[c.alloc or "uniform"] then
      allocations[c.alloc or "uniform"] = c.layers
    end
  end
  Record.write_atomic(config.run_dir .. "/facts.json", ap.json.encode({
    model = config.model, sparsity = config.sparsity, info = S.model:info(), dense_valid_ppl = S.dense.ppl,
    facts = S.facts, allocations = allocations }, true))
end

-- best.lua: the best candidate's source with its set-up and the command that reproduces it (also when interrupted).
function S.write_best()
  local best = S.archive:best()
  if not best then return end
  Record.write_atomic(config.run_dir .. "/best.lua",
    ("-- best metric of search %s: candidate %d, set-up %s, proxy ppl %.3f\n" ..
    "-- reproduce: autoprune prune --model %s --metric best.lua --sparsity %g %s --eval\n%s")
    :format(config.name, best.id, setup_label(best), best.fitness, config.model, config.sparsity, setup_flags(best),
            best.code))
end

-- The confirmation stage: prune + validation perplexity under the final protocol, in an isolated worker.
local function confirm_one(c)
  local ok, res = isolated(function()
    S.model:prune(prune_args(c))
    return validation_eval(config.confirm_windows).ppl
  end, config.candidate_timeout * 4)
  if ok and type(res) == "number" and res == res and res < math.huge then return res end
  return false, type(res) == "table" and (res.message or res.kind) or tostring(res)
end

-- Re-evaluate the best distinct set-ups by proxy under the final protocol on validation (never test); with
-- --reference also native SparseGPT under it. Resumable: a candidate confirmed before is not run again.
function S.confirm()
  if config.confirm <= 0 then return end
  local picked, seen = {}, {}
  for _, c in ipairs(S.archive:ranked()) do
    if #picked >= config.confirm then break end
    local key = Archive.normalise(c.code) .. setup_label(c) .. (c.group or "")
    if not seen[key] then seen[key] = true picked[#picked + 1] = c end
  end
  print(("confirmation: %d candidates, sequential pruning with %d calibration windows, %d validation windows")
        :format(#picked, config.final_nsamples, config.confirm_windows))
  if config.reference and not S.archive.reference_confirm then
    local ppl, why = confirm_one(SPARSEGPT)
    S.archive.reference_confirm = ppl or nil
    S.rec:event("confirm", { reference = SPARSEGPT.method, ppl = ppl or nil, error = why })
    print(("  reference SparseGPT (uniform): %s"):format(ppl and ("%.2f"):format(ppl) or ("failed: " .. tostring(why))))
  end
  for _, c in ipairs(picked) do
    if ap.interrupted() then return "interrupted" end
    if c.confirm == nil then
      local ppl, why = confirm_one(c)
      c.confirm = ppl
      S.archive:save(config.run_dir .. "/archive.json")
      S.rec:event("confirm", { id = c.id, ppl = ppl or nil, error = why })
      print(("  #%-4d %-40s proxy %.2f  confirm %s"):format(c.id, setup_label(c), c.fitness,
            ppl and ("%.2f"):format(ppl) or ("failed: " .. tostring(why))))
    end
  end
end

function S.final()
  local best = S.archive:best()
  if not best or not config.final then return end
  S.model:reset()
  local pr = S.model:prune(prune_args(best))
  local ev = S.model:eval { text = config.test, seqlen = config.seqlen }
  S.model:reset()
  S.final_result = { id = best.id, ppl = ev.ppl, realised = pr.realised, windows = ev.windows,
                     setup = setup_label(best), flags = setup_flags(best) }
  S.rec:event("final", S.final_result)
end

local function main(args)
  parse_args(args)
  seed_state = config.seed   -- after the flags: --seed must reach the symbolic proposer too
  S.setup()
  local start_gen = S.archive.generation or 0
  local stop
  if #S.archive.candidates == 0 or start_gen == 0 then
    stop = S.run_generation(0, S.seed_candidates())
    start_gen = 0
  end
  for generation = start_gen + 1, config.generations do
    stop = stop or out_of_budget()
    if stop then break end
    local share = config.llm == "only" and 1 or config.llm_share
    local n_llm = config.use_llm and math.max(1, math.floor(config.population * share + 0.5)) or 0
    local proposals = {}
    if n_llm > 0 then
      local ok, res = pcall(S.llm_candidates, n_llm, generation)
      if ok then proposals = res else
        S.rec:event("error", { generation = generation, stage = "gcot",
                               kind = type(res) == "table" and res.kind or "runtime",
                               message = type(res) == "table" and res.message or tostring(res) })
      end
    end
    for _, p in ipairs(S.symbolic_candidates(config.population - #proposals)) do proposals[#proposals + 1] = p end
    stop = S.run_generation(generation, proposals)
  end
  if stop then print("search stopped: " .. stop) end
  if stop ~= "interrupted" then stop = S.confirm() or stop end
  S.search_seconds = ap.clock() - S.started
  S.write_facts()
  S.write_best()
  if stop ~= "interrupted" then S.final() end
  Report.write_markdown(config.run_dir, S.archive, config, { dense_ppl = S.dense.ppl, generations = S.generations,
                        final = S.final_result, reference = S.reference, elapsed = S.search_seconds })
  S.rec:event("end", { reason = stop or "done", candidates = #S.archive.candidates, tokens = S.tokens })
  S.rec:close()
  local best = S.archive:best()
  if best then
    print(("best: candidate %d (%s, %s), proxy ppl %.2f%s"):format(best.id, best.origin, setup_label(best),
      best.fitness, S.final_result and (", test ppl %.2f"):format(S.final_result.ppl) or ""))
  end
  print("report: " .. config.run_dir .. "/report.md")
  -- report.html with charts (lua/report.lua, as `autoprune report`); a failure there must not fail the search.
  local ok, html = pcall(Report.write, config.run_dir)
  print(ok and ("charts: " .. html) or ("charts: not written (" .. tostring(html) .. ")"))
end

main(arg)
