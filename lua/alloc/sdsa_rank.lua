-- sdsa_rank.lua — an allocation script: SDSA on ranks. Units are ordered by the skewness of |W| (heavier right
-- tail = more salient large weights = pruned less), blended with OWL's outlier ratio when the host gives one;
-- the offsets are spread evenly over ranks, so a single extreme layer cannot take the whole budget.
-- The host clamps to [info.lo, info.hi] and renormalises to the exact parameter-weighted budget.
local LAMBDA = 0.08   -- largest offset from the target
local BLEND = 0.5     -- weight of the outlier-ratio rank (used only when outlier ratios are present)

local function ranks(layers, key)
  local idx = {}
  for i = 1, #layers do idx[i] = i end
  table.sort(idx, function(a, b)
    local x, y = layers[a][key], layers[b][key]
    if x == y then return a < b end
    return x < y
  end)
  local r = {}
  for pos, i in ipairs(idx) do r[i] = (#layers > 1) and (pos - 1) / (#layers - 1) or 0.5 end
  return r                                      -- 0 = lowest value, 1 = highest
end

return function(layers, target, info)
  local rs = ranks(layers, "w_skew")
  local has_owl = false
  for _, u in ipairs(layers) do if u.outlier_ratio > 0 then has_owl = true end end
  local ro = has_owl and ranks(layers, "outlier_ratio") or rs
  local out = {}
  for i = 1, #layers do
    local r = (1 - BLEND) * rs[i] + BLEND * ro[i]
    out[i] = target - LAMBDA * (2 * r - 1)     -- highest rank: target - LAMBDA
  end
  return out
end
