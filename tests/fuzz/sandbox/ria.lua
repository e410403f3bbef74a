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
