-- Wanda's formula compared per layer (symbolic.emit of the wanda tree, group layer)
return {
  group = "layer",
  score = function(W, X, info)
    local A = W:abs()
    return (A * X.l2)
  end,
}
