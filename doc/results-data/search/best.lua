-- best metric of search c-ap-small-70: candidate 87, set-up owl(owl_lambda=0.04,owl_m=10)+adaptive, proxy ppl 152.124
-- reproduce: autoprune prune --model /work/shared/models/ap-small --metric best.lua --sparsity 0.7 --alloc owl --alloc-param owl_lambda=0.04 --alloc-param owl_m=10 --reconstruct-adaptive --eval
-- symbolic metric: pow15(mul(A,l2))
return {
  group = "layer",
  score = function(W, X, info)
    local A = W:abs()
    return (A * X.l2):pow(1.5)
  end,
}
