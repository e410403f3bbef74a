-- lua/gcot/record.lua — a run's folder runs/<name>/: events.jsonl (one JSON record per line, appended and flushed
-- per record, so a SIGKILL loses at most the record being written), and the atomic writes of every other file in
-- it (archive.json by archive.lua, best.lua and facts.json by search.lua, report.md by report.lua).
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

return R
