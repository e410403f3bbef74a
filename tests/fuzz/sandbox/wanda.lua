-- Wanda: |W_ij| * ||X_j||_2, compared within each output row.
-- Source: M. Sun, Z. Liu, A. Bair, J. Z. Kolter, "A Simple and Effective Pruning Approach for Large Language
-- Models", ICLR 2024 (arXiv:2306.11695), Eq. (1): S_ij = |W_ij| * ||X_j||_2, per-output comparison groups.
return {
  score = function(W, X, info)
    return W:abs() * X.l2
  end,
  group = "row",
}
