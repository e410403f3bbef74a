-- best metric of search s-ap-small-70: candidate 42, set-up sdsa(tau=1)+adaptive, proxy ppl 152.416
-- reproduce: autoprune prune --model /work/shared/models/ap-small --metric best.lua --sparsity 0.7 --alloc sdsa --alloc-param granularity=block --alloc-param lambda=0.16 --alloc-param tau=1 --reconstruct-adaptive --eval
-- symbolic metric: mul(add(colnorm(A),colnorm(mul(rownorm(A),std))),sqrt(l2))
return {
  group = "layer",
  score = function(W, X, info)
    local A = W:abs()
    return (((A / (A:sum(1) + 1e-8)) + (((A / (A:sum(2) + 1e-8)) * X.std) / (((A / (A:sum(2) + 1e-8)) * X.std):sum(1) + 1e-8))) * X.l2:sqrt())
  end,
}
