/* ap_sparsegpt.h — SparseGPT (Frantar & Alistarh 2023): one-shot pruning of one linear with OBS weight updates. */
#ifndef AP_SPARSEGPT_H
#define AP_SPARSEGPT_H

#include <stdint.h>

#include "ap_error.h"

/* Prune W in place by SparseGPT's algorithm.
 *   W        [out, in] float32 row-major, borrowed and edited in place: pruned weights become exactly 0.0f, the
 *            others are OBS-updated. Left untouched when an error is returned before the sweep starts (bad
 *            arguments, non-finite input, Hessian not positive definite, no memory).
 *   H        [in, in] double row-major, borrowed, not modified: the Hessian 2/n · Σ_t x_t x_tᵀ of the layer input.
 *            Dead inputs (H_jj == 0) get H_jj = 1 on a private copy and their column of W is zeroed (and counted
 *            as pruned where the mask also picks it; see below).
 *   sparsity unstructured target in [0, 1); ignored when prune_m > 0.
 *   prune_n, prune_m  0, 0 for unstructured; else N:M: in every group of m consecutive inputs of a row the n
 *            weights with the lowest w²/[H⁻¹]_jj² are pruned (0 < n <= m; in and blocksize multiples of m).
 *   blocksize column block of the lazy batch update (SparseGPT uses 128); > 0.
 *   percdamp dampening: λ = percdamp · mean(diag H) is added to the diagonal (SparseGPT uses 0.01); >= 0.
 * Unstructured mask selection (as the paper's Algorithm 1 with adaptive mask selection): in each column block
 * [i1, i2) the weights with the lowest w²/[U]_jj² over all rows of the block together are pruned, where U is the
 * upper Cholesky factor of H⁻¹ and w the block's weights after the updates of earlier blocks. Deviation from the
 * reference code (which prunes the elements <= the sorted value at index ⌊k·s⌋, one more than asked): the block
 * prunes exactly floor(out·i2·s) − floor(out·i1·s) weights, ties going to the lower flat index, so the whole
 * matrix has exactly floor(out·in·s) zeros from the mask.
 * Errors: AP_E_ARG (bad sizes/options, Hessian not positive definite even after dampening), AP_E_NONFINITE
 * (NaN/Inf in W or H), AP_E_NOMEM. */
ap_status ap_sparsegpt_prune(float *W, int64_t out, int64_t in, const double *H, double sparsity, int prune_n,
                             int prune_m, int blocksize, double percdamp, ap_error *err);

/* SparseGPT's OBS weight update with a mask given by the caller (a metric's mask) instead of SparseGPT's own choice:
 * columns left to right in blocks, each weight with keep[r·in + c] == 0 is set to 0 and its error
 * w/[U]_cc is propagated to the later columns of its row through U, the upper Cholesky factor of (H + λI)⁻¹ —
 * exactly the update of ap_sparsegpt_prune with the mask fixed. keep [out, in] borrowed (1 = keep). Kept weights
 * change; pruned weights become exactly 0.0f (dead inputs are zeroed as in ap_sparsegpt_prune). Errors as above. */
ap_status ap_sparsegpt_update(float *W, int64_t out, int64_t in, const double *H, const unsigned char *keep,
                              int blocksize, double percdamp, ap_error *err);

/* d [in] ← the diagonal of the upper Cholesky factor U of the dampened inverse Hessian, (H + λI)⁻¹ = UᵀU with
 * λ = percdamp · mean(diag H): the d of SparseGPT's saliency w²/d² and of its OBS update (entries where H_jj == 0
 * are computed as if H_jj were 1, as ap_sparsegpt_prune does). Errors as ap_sparsegpt_prune. */
ap_status ap_sparsegpt_hinv_diag(const double *H, int64_t in, double percdamp, float *d, ap_error *err);

/* A caller's saliency for ap_sparsegpt_scored: score(ud, W, out, in, scores, err) fills scores [out, in] for the
 * current (partly updated) W; higher = keep. per_row: quota per row (else pooled over the rows of a block). */
typedef struct ap_sgpt_scorer {
    ap_status (*score)(void *ud, const float *W, int64_t out, int64_t in, float *scores, ap_error *err);
    void *ud;
    int per_row;
} ap_sgpt_scorer;

/* SparseGPT with its saliency w²/d² replaced by the caller's: at the start of every column block the scorer is
 * asked for scores of the current W (earlier blocks' OBS updates included), the block's mask is its lowest scores
 * (block quota as ap_sparsegpt_prune, or per row), then the same OBS update and lazy batch update. Unstructured
 * only. Errors as ap_sparsegpt_prune, plus the scorer's own and AP_E_NONFINITE for a non-finite score. */
ap_status ap_sparsegpt_scored(float *W, int64_t out, int64_t in, const double *H, double sparsity,
                              const ap_sgpt_scorer *scorer, int blocksize, double percdamp, ap_error *err);

#endif
