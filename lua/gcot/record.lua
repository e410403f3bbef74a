-- lua/gcot/record.lua — a run's folder runs/<name>/: events.jsonl (one JSON record per line, appended and flushed
-- per record, so a SIGKILL loses at most the record being written), archive.json (atomic, via archive.lua),
-- best.lua and report.md.
local R = {}
R.__index = R

local function mkdir_p(path)
  local ok = os.execute("mkdir -p '" .. path:gsub("'", "'\\''") .. "'")
  if not ok then error({ kind = "io", message = "cannot create folder " .. path }) end
end

-- Write a file whole or not at all: a temporary file beside it, flushed, then renamed over the old one.
function R.write_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then error({ kind = "io", message = "cannot write " .. tmp .. ": " .. tostring(err) }) end
  local ok, werr = f:write(text)
  local fok, ferr = f:flush()
  f:close()
  if not (ok and fok) then
    os.remove(tmp)
    error({ kind = "io", message = "cannot write " .. tmp .. ": " .. tostring(werr or ferr) })
  end
  local rok, rerr = os.rename(tmp, path)
  if not rok then error({ kind = "io", message = "cannot rename " .. tmp .. ": " .. tostring(rerr) }) end
end

-- A run killed (or out of disk) in the middle of a record leaves a torn last line; appending after it would glue
-- the next record onto it, so a resumed run first drops the torn tail (rewriting the file atomically).
local function drop_torn_tail(path)
  local f = io.open(path, "rb")
  if not f then return end
  local text = f:read("a")
  f:close()
  if text == "" or text:sub(-1) == "\n" then return end
  R.write_atomic(path, text:match("^(.*\n)") or "")
end

function R.open(dir)
  mkdir_p(dir)
  drop_torn_tail(dir .. "/events.jsonl")
  local f, err = io.open(dir .. "/events.jsonl", "a")
  if not f then error({ kind = "io", message = "cannot open " .. dir .. "/events.jsonl: " .. tostring(err) }) end
  f:setvbuf("full", 1 << 20)   -- one write(2) per record: a killed run never leaves half a line behind
  return setmetatable({ dir = dir, events = f, t0 = ap.clock() }, R)
end

-- Append one event {type = ..., ...}; the time since the run started is added as `t`.
function R:event(kind, fields)
  fields = fields or {}
  fields.type = kind
  fields.t = math.floor((ap.clock() - self.t0) * 1000 + 0.5) / 1000
  fields.time = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local ok, err = self.events:write(ap.json.encode(fields), "\n")
  if ok then ok, err = self.events:flush() end
  if not ok then error({ kind = "io", message = self.dir .. "/events.jsonl: " .. tostring(err) }) end
end

-- Read back every complete record (a torn last line from a killed run is skipped).
function R.read_events(dir)
  local out = {}
  local f = io.open(dir .. "/events.jsonl", "r")
  if not f then return out end
  for line in f:lines() do
    local rec = ap.json.decode(line)
    if type(rec) == "table" then out[#out + 1] = rec end
  end
  f:close()
  return out
end


function R:close() self.events:close() end

local function fmt(x) return x and string.format("%.2f", x) or "-" end

-- report.md: the configuration, progress per generation, the best candidates with their lineage and source.
function R:write_report(archive, cfg, extra)
  local L = {}
  local function add(s) L[#L + 1] = s end
  add("# autoprune search: " .. cfg.name)
  add("")
  add(("Model `%s`, target sparsity %.0f%%, allocation %s, proxy: one-shot statistics (%d calibration windows), " ..
       "perplexity on %d windows of WikiText-2 validation (seqlen %d).")
      :format(cfg.model, cfg.sparsity * 100, table.concat(cfg.allocs, "/"), cfg.nsamples, cfg.proxy_windows,
              cfg.seqlen or 0))
  add(("Proposers: %s. Dense validation perplexity (proxy windows): %s."):format(cfg.proposers, fmt(extra.dense_ppl)))
  if extra.reference then
    add(("Yardstick: native %s (%s) under the same proxy: %s."):format(extra.reference.method,
        extra.reference.alloc or "uniform", fmt(extra.reference.ppl)))
  end
  if extra.elapsed and extra.elapsed > 0 then
    local n = 0
    for _, c in ipairs(archive.candidates) do if c.status == "ok" or c.status == "failed" then n = n + 1 end end
    add(("Evaluated %d candidates in %.0f s of search (%.0f candidates per hour)."):format(n, extra.elapsed,
        n * 3600 / extra.elapsed))
  end
  add("")
  add("## Progress per generation")
  add("")
  add("| generation | candidates | valid | failed | best proxy ppl | median proxy ppl |")
  add("|---:|---:|---:|---:|---:|---:|")
  for _, g in ipairs(extra.generations or {}) do
    add(("| %d | %d | %d | %d | %s | %s |"):format(g.generation, g.candidates, g.valid, g.failed, fmt(g.best),
                                                   fmt(g.median)))
  end
  add("")
  add("## Best candidates")
  add("")
  add("| rank | id | origin | allocation | group | proxy ppl | generation | parents |")
  add("|---:|---:|---|---|---|---:|---:|---|")
  for i, c in ipairs(archive:ranked()) do
    if i > 10 then break end
    add(("| %d | %d | %s | %s | %s | %s | %d | %s |"):format(i, c.id, c.origin, c.setup or c.alloc or "uniform",
        c.group or "row", fmt(c.fitness), c.generation or 0, table.concat(c.parents or {}, ",")))
  end
  local confirmed = {}
  for _, c in ipairs(archive.candidates) do if c.confirm ~= nil then confirmed[#confirmed + 1] = c end end
  table.sort(confirmed, function(a, b) return (a.fitness or math.huge) < (b.fitness or math.huge) end)
  if #confirmed > 0 then
    add("")
    add(("## Confirmation on validation (sequential pruning, %d calibration windows, %d validation windows)")
        :format(cfg.final_nsamples or 128, cfg.confirm_windows or 0))
    add("")
    add("| id | set-up | group | proxy ppl | confirmation ppl |")
    add("|---:|---|---|---:|---:|")
    for _, c in ipairs(confirmed) do
      add(("| %d | %s | %s | %s | %s |"):format(c.id, c.setup or c.alloc or "uniform", c.group or "row", fmt(c.fitness),
          type(c.confirm) == "number" and fmt(c.confirm) or "failed"))
    end
    if archive.reference_confirm then
      add("")
      add("Native SparseGPT (uniform) under the same protocol: " .. fmt(archive.reference_confirm) .. ".")
    end
  end
  local best = archive:best()
  if best then
    add("")
    add("## The best metric (candidate " .. best.id .. (type(best.confirm) == "number" and
        ", the lowest confirmation perplexity" or "") .. ")")
    add("")
    if extra.final then
      add(("Full evaluation on WikiText-2 **test**, sequential pruning at %.0f%%: perplexity **%s** " ..
           "(realised sparsity %.4f)."):format(cfg.sparsity * 100, fmt(extra.final.ppl), extra.final.realised or 0))
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
    add("Lineage: " .. (function()
      local ids = { tostring(best.id) }
      for _, p in ipairs(archive:lineage(best)) do
        ids[#ids + 1] = tostring(p.id) .. " (" .. fmt(p.fitness) .. ", " .. (p.setup or p.alloc or "uniform") .. ")"
      end
      return table.concat(ids, " <- ")
    end)())
    add("")
    add("```lua")
    add((best.code:gsub("\n$", "")))
    add("```")
  end
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
  R.write_atomic(self.dir .. "/report.md", table.concat(L, "\n") .. "\n")
end

return R
