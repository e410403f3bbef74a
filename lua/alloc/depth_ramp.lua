-- depth_ramp.lua — an allocation script: sparsity rising linearly with depth, the trend OWL's outlier ratios
-- show on the ap-* models (early blocks hold more outliers and are pruned less).
-- Called as allocate(layers, target, info); layers[i] = {layer =, name =, numel =, w_skew =, w_kurt =,
-- w_mean =, w_std =, outlier_ratio =}. The host clamps the result to [info.lo, info.hi] and shifts it so that
-- the parameter-weighted mean is exactly `target`, so only the shape matters here.
local SPREAD = 0.08   -- the first block gets target - SPREAD, the last target + SPREAD

return function(layers, target, info)
  local out = {}
  local last = math.max(info.n_layers - 1, 1)
  for i, u in ipairs(layers) do
    local pos = (u.layer - 1) / last            -- 0 for the first block, 1 for the last
    out[i] = target + SPREAD * (2 * pos - 1)
  end
  return out
end
