-- expect: limit
-- why: a looping message handler cannot swallow the limit either
for i = 1, 1e9 do
  xpcall(function() while true do end end, function() while true do end end)
end
return function(W) return W end
