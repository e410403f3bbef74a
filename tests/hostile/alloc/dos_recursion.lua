-- expect: limit
-- why: unbounded recursion: Lua's stack grows on the heap, and with an allocation script's 16 MiB heap the heap
-- limit trips before Lua's own stack overflow (a metric, with 64 MiB, gets 'stack overflow' instead).
local function f(n) return 1 + f(n + 1) end
return function(layers, target, info)
  return { f(1) }
end
