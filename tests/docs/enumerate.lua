-- enumerate.lua — prints every name the trusted environment registers, one per line, for test_reference.sh:
-- T.<fn>, ap.<field>, ap.<sub>.<fn>, and the methods of tensors, models, statistics and metric objects
-- (tensor:<m>, model:<m>, stats:<m>, metric:<m>, progress:<m>). Run with `autoprune run enumerate.lua MODEL_DIR`.
local names = {}
local function add(n) names[#names + 1] = n end

local function walk(prefix, t, seen)
  if seen[t] then return end
  seen[t] = true
  for k, v in pairs(t) do
    local name = prefix .. "." .. tostring(k)
    if type(v) == "table" then walk(name, v, seen) else add(name) end
  end
end
walk("T", T, {})
walk("ap", ap, {})

-- Methods live in the __index table of each object's (locked) metatable; debug sees through the lock.
local function methods(label, obj)
  local mt = debug.getmetatable(obj)
  assert(type(mt) == "table" and type(mt.__index) == "table", label .. " has no method table")
  for k, v in pairs(mt.__index) do
    if type(v) == "function" then add(label .. ":" .. k) end
  end
end
methods("tensor", T.zeros(1, 1))
local m = ap.model.load(arg[1])
methods("model", m)
local st = m:calibrate { nsamples = 1, seqlen = 16, quiet = true }
methods("stats", st)
methods("metric", ap.metric("wanda"))
methods("progress", ap.progress("enumerate", "", { quiet = true }))

table.sort(names)
for _, n in ipairs(names) do print(n) end
