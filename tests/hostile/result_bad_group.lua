-- expect: type
-- why: an unknown comparison group
return { score = function(W) return W:abs() end, group = "diagonal" }
