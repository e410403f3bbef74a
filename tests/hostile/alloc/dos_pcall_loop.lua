-- expect: limit
-- why: a loop of failing protected calls (each one charged), trying to outlast the instruction limit.
return function(layers, target, info)
  local n = 0
  for i = 1, 1e15 do
    local ok = pcall(error, "x")
    if not ok then n = n + 1 end
  end
  return { n }
end
