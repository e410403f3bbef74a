-- best metric of search k-ap-small-70: candidate 6, set-up sdsa+adaptive, proxy ppl 147.056
-- reproduce: autoprune prune --model /work/shared/models/ap-small --metric best.lua --sparsity 0.7 --alloc sdsa --alloc-param granularity=block --alloc-param lambda=0.08 --alloc-param tau=1 --reconstruct-adaptive --eval
-- (written after the run from archive.json: the run was stopped with SIGINT after its 30-minute budget; the
-- sdsa parameters are the build's defaults at the time of the run, spelled out)
-- RIA (Relative Importance and Activations), a = 0.5:
--   S_ij = (|W_ij| / sum_k |W_kj| + |W_ij| / sum_k |W_ik|) * ||X_j||_2 ^ a
-- i.e. |W| relative to its input channel (column) plus relative to its output row, times the activation norm.
-- Source: Y. Zhang, L. Zhao, M. Lin, Y. Sun, Y. Yao, X. Han, J. Tanner, S. Liu, R. Ji, "Plug-and-Play: An
-- Efficient Post-training Pruning Method for Large Language Models", ICLR 2024, Eq. (3), with a = 0.5.
return {
  score = function(W, X, info)
    local A = W:abs()
    return (A / A:sum(1) + A / A:sum(2)) * X.l2:sqrt()
  end,
  group = "layer",
}
