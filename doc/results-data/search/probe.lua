-- probe: one-shot stats once (with Hessians), many (metric, group, alloc, reconstruct) variants on valid windows
local M = arg[1] or "/work/shared/models/ap-small"
local W = tonumber(arg[2] or "16")
local m = ap.model.load(M)
local home = "/work/main"
local t0 = os.time()
local st = m:calibrate{ text = home .. "/data/calib.txt", nsamples = 64, seqlen = 512, hessian = true, quiet = true }
print("stats", os.time() - t0)
local valid = home .. "/data/wikitext-2-raw/wiki.valid.raw"
local function read(p) local f = io.open(p) local s = f:read("a") f:close() return s end
local V = {
  { "sparsegpt", "sparsegpt", nil, "uniform", false },
  { "wanda row rec", "wanda", "row", "uniform", true },
  { "wanda layer rec", "wanda", "layer", "uniform", true },
  { "mag layer rec", "magnitude", "layer", "uniform", true },
  { "ria layer rec", read(home .. "/lua/metrics/ria.lua"), "layer", "uniform", true },
  { "wanda row rec owl", "wanda", "row", "owl", true },
  { "wanda row rec sdsa", "wanda", "row", "sdsa", true },
  { "sparsegpt owl", "sparsegpt", nil, "owl", false },
  { "sparsegpt sdsa", "sparsegpt", nil, "sdsa", false },
}
for _, v in ipairs(V) do
  local t = os.clock()
  local ok, err = pcall(function()
    local pr = m:prune{ metric = v[2], group = v[3], alloc = v[4], reconstruct = v[5], sparsity = 0.7, stats = st }
    local ev = m:eval{ text = valid, windows = W, seqlen = 512, quiet = true }
    print(("%-22s ppl %.3f  realised %.4f  cpu %.1f"):format(v[1], ev.ppl, pr.realised, os.clock() - t))
  end)
  if not ok then print(v[1], "ERR", type(err) == "table" and err.message or err) end
  m:reset()
  io.stdout:flush()
end
