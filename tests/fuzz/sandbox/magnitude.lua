-- Magnitude pruning: keep the weights of largest absolute value, compared across the whole layer.
-- Source: S. Han, J. Pool, J. Tran, W. Dally, "Learning both Weights and Connections for Efficient Neural
-- Networks", NeurIPS 2015 (score |W_ij|); as the LLM baseline in Sun et al., "A Simple and Effective Pruning
-- Approach for Large Language Models" (Wanda), ICLR 2024, which compares per layer.
return {
  score = function(W, X, info)
    return W:abs()
  end,
  group = "layer",
}
