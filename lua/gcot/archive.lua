-- lua/gcot/archive.lua — the search's archive as a graph: candidate nodes (code, thought, scores, errors) with
-- parent edges, and insight nodes (what a generation learned). Persisted as archive.json, written atomically.
local A = {}
A.__index = A

function A.new()
  return setmetatable({ candidates = {}, insights = {}, by_key = {}, next_id = 1, generation = 0 }, A)
end

-- Whitespace- and comment-insensitive form of a metric's source, so identical candidates are evaluated once.
function A.normalise(src)
  local s = src:gsub("%-%-%[%[.-%]%]", ""):gsub("%-%-[^\n]*", "")
  s = s:gsub("%s+", " "):gsub(" ?([%(%)%[%]{},=+%-*/^:.]) ?", "%1")
  return s:match("^%s*(.-)%s*$")
end

-- The identity of a candidate: normalised code, allocation (with its parameters, sorted) and the reconstruction flag.
function A.key_of(c)
  local params = {}
  for k, v in pairs(type(c.alloc_params) == "table" and c.alloc_params or {}) do
    params[#params + 1] = k .. "=" .. tostring(v)
  end
  table.sort(params)
  return A.normalise(c.code) .. "\0" .. (c.alloc or "") .. "\0" .. table.concat(params, ",") ..
         (c.reconstruct and ("\0reconstruct=" .. tostring(c.reconstruct)) or "")
end

-- Add a candidate node. c = {code, thought, parents = {id,...}, origin = "llm"|"symbolic"|"seed", generation,
-- tree (symbolic), alloc, alloc_params, reconstruct}. Returns the node, or the existing node with the same key.
function A:add(c)
  local key = A.key_of(c)
  local seen = self.by_key[key]
  if seen then return seen, true end
  c.id = self.next_id
  self.next_id = self.next_id + 1
  c.key = key
  c.status = c.status or "new"
  c.scores = c.scores or {}
  self.candidates[#self.candidates + 1] = c
  self.by_key[key] = c
  return c, false
end

function A:get(id)
  for _, c in ipairs(self.candidates) do
    if c.id == id then return c end
  end
end

function A:add_insight(generation, text, about)
  self.insights[#self.insights + 1] = { generation = generation, text = text, about = about or {} }
end

-- Evaluated candidates, best (lowest fitness) first.
function A:ranked()
  local out = {}
  for _, c in ipairs(self.candidates) do
    if c.status == "ok" and c.fitness then out[#out + 1] = c end
  end
  table.sort(out, function(a, b)
    if a.fitness ~= b.fitness then return a.fitness < b.fitness end
    return a.id < b.id
  end)
  return out
end

-- The pick: among candidates re-evaluated by the confirmation stage (c.confirm, a validation perplexity under the
-- final protocol) the lowest; before that stage, the best proxy fitness.
function A:best()
  local pick
  for _, c in ipairs(self.candidates) do
    if c.status == "ok" and type(c.confirm) == "number" and (not pick or c.confirm < pick.confirm) then pick = c end
  end
  return pick or self:ranked()[1]
end

function A:failures(limit)
  local out = {}
  for i = #self.candidates, 1, -1 do
    local c = self.candidates[i]
    if c.status == "failed" then out[#out + 1] = c end
    if limit and #out >= limit then break end
  end
  return out
end

-- Ancestry of a node, nearest parent first (ids), bounded to avoid cycles.
function A:lineage(c, limit)
  local out, cur, guard = {}, c, 0
  while cur and cur.parents and cur.parents[1] and guard < (limit or 20) do
    cur = self:get(cur.parents[1])
    if cur then out[#out + 1] = cur end
    guard = guard + 1
  end
  return out
end

function A:to_table()
  local cands = {}
  for i, c in ipairs(self.candidates) do
    local copy = {}
    for k, v in pairs(c) do if k ~= "key" then copy[k] = v end end
    cands[i] = copy
  end
  return { version = 1, generation = self.generation, next_id = self.next_id, candidates = cands,
           insights = self.insights, reference = self.reference, reference_confirm = self.reference_confirm }
end

function A.from_table(t)
  local a = A.new()
  a.generation = t.generation or 0
  for _, c in ipairs(t.candidates or {}) do
    -- a candidate that was in flight when the run died is evaluated again
    if c.status == "running" then c.status = "new" end
    a.candidates[#a.candidates + 1] = c
    a.by_key[A.key_of(c)] = c
  end
  a.insights = t.insights or {}
  a.reference = t.reference
  a.reference_confirm = t.reference_confirm
  a.next_id = math.max(t.next_id or 1, #a.candidates + 1)
  return a
end

-- Write archive.json atomically: a temporary file in the same folder, flushed, then renamed over the old one.
function A:save(path)
  require("gcot.record").write_atomic(path, ap.json.encode(self:to_table(), true))
end

function A.load(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local t, err = ap.json.decode(text)
  if not t then error({ kind = "format", message = path .. ": " .. err }) end
  return A.from_table(t)
end

return A
