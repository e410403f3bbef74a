-- lua/gcot/context.lua — what the prompts see of the run: the model's per-layer facts as a compact table, and the
-- archive (best candidates with their ancestry, recent failures, insights) in words. lua/search.lua fills the
-- reasoning graph's template variables `facts`, `best`, `failures` and `insights` from these.
local M = {}

-- Per-layer facts, one line per linear, grouped by block (the order model:facts returns them in).
function M.facts(facts)
  local L = { "layer name       w_skew  w_kurt  x_outl  x_kurt  wanda_outl" }
  for _, f in ipairs(facts) do
    L[#L + 1] = ("%5d %-10s %6.2f %7.2f %7.4f %7.2f %8.4f"):format(f.layer, f.name, f.w_skew or 0, f.w_kurt or 0,
      f.x_outlier_ratio or 0, f.x_kurt_mean or 0, f.wanda_outlier_ratio or 0)
  end
  return table.concat(L, "\n")
end

-- The five best candidates with ancestry, idea and code; the five latest failures; the latest insights.
-- Returns three strings (best is "" while nothing has been evaluated).
function M.archive(archive)
  local best, fails, ins = {}, {}, {}
  for i, c in ipairs(archive:ranked()) do
    if i > 5 then break end
    local anc = {}
    for _, p in ipairs(archive:lineage(c, 3)) do anc[#anc + 1] = ("#%d (%.2f)"):format(p.id, p.fitness or 0) end
    best[#best + 1] = ("### #%d: ppl %.2f, allocation %s, from %s%s\nIdea: %s\n```lua\n%s```"):format(c.id, c.fitness,
      c.alloc or "uniform", c.origin, #anc > 0 and (", ancestry " .. table.concat(anc, " <- ")) or "",
      (c.thought or ""):gsub("\n", " "):sub(1, 300), c.code)
  end
  for _, c in ipairs(archive:failures(5)) do
    fails[#fails + 1] = ("- #%d: %s: %s"):format(c.id, c.error and c.error.kind or "?",
      ((c.error and c.error.message) or ""):sub(1, 200))
  end
  for i = math.max(1, #archive.insights - 5), #archive.insights do
    if archive.insights[i] then ins[#ins + 1] = "- " .. archive.insights[i].text end
  end
  return table.concat(best, "\n\n"), #fails > 0 and table.concat(fails, "\n") or "(none)",
         #ins > 0 and table.concat(ins, "\n") or "(none yet)"
end

return M
