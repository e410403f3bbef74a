/* ap_mask.h — turning a score matrix into a pruning mask: per output row, per layer, or N:M, with stable
 * tie-breaking (equal scores: the lower index is pruned first), and applying a mask to a weight matrix. */
#ifndef AP_MASK_H
#define AP_MASK_H

#include <stdint.h>

#include "ap_error.h"

typedef enum { AP_GROUP_ROW = 0, AP_GROUP_LAYER = 1, AP_GROUP_NM = 2 } ap_group_kind;

typedef struct ap_pattern {
    ap_group_kind group;
    int n, m; /* AP_GROUP_NM: in each group of m consecutive inputs of a row the n lowest scores are pruned */
} ap_pattern;

/* "row", "layer", "n:m". */
const char *ap_group_name(ap_group_kind g);
/* Parse "unstructured" (n = m = 0) or "N:M" (1 <= N <= M <= 1024) into *n, *m. */
ap_status ap_pattern_parse_nm(const char *s, int *n, int *m, ap_error *err);

/* How many weights a group of `len` scores loses at sparsity s: ⌊len·s⌋ (Wanda's int(len*s), in double). */
int64_t ap_mask_count(int64_t len, double sparsity);

/* keep[out·in] (caller's) receives 1 = keep, 0 = prune. scores [out, in] borrowed; they must be finite
 * (AP_E_NONFINITE otherwise, naming the element). row/layer: ⌊len·s⌋ lowest pruned per group (s in [0, 1]);
 * N:M: n lowest of each m consecutive inputs; a trailing partial group of len < m loses ⌊n·len/m⌋.
 * Selection is linear-time (a 64-bit key of score and index, then a selection), so ties never depend on order.
 * *pruned (may be NULL) receives the number of zeros in the mask. */
ap_status ap_mask_compute(const float *scores, int64_t out, int64_t in, ap_pattern pat, double sparsity, uint8_t *keep,
                          int64_t *pruned, ap_error *err);

/* W[i] = 0 where keep[i] == 0. Returns the number of zeros of W afterwards. */
int64_t ap_mask_apply(float *W, const uint8_t *keep, int64_t numel);
/* Number of exact zeros in W. */
int64_t ap_count_zeros(const float *W, int64_t numel);

#endif
