/* ap_sparsegpt.c — SparseGPT (Frantar & Alistarh 2023): Cholesky of the dampened inverse Hessian, column blocks
 * with adaptive mask selection, the OBS update inside a block and the lazy batch (sgemm) update after it. */
#include "ap_sparsegpt.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Largest input width accepted: LAPACK takes 32-bit sizes and the Hessian copy is in² doubles. */
#define SGPT_MAX_IN 65536

typedef struct sgpt_ranked {
    double score;
    int64_t idx;
} sgpt_ranked;

/* Lowest score first; ties go to the lower index so the mask is deterministic. */
static int sgpt_ranked_cmp(const void *a, const void *b)
{
    const sgpt_ranked *x = a, *y = b;
    if (x->score < y->score)
        return -1;
    if (x->score > y->score)
        return 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static ap_status sgpt_check_args(const float *W, int64_t out, int64_t in, const double *H, double sparsity, int prune_n,
                                 int prune_m, int blocksize, double percdamp, ap_error *err)
{
    if (!W || !H)
        return ap_error_set(err, AP_E_ARG, "sparsegpt: W and H are required");
    if (out <= 0 || in <= 0 || in > SGPT_MAX_IN || out > INT64_MAX / in)
        return ap_error_set(err, AP_E_ARG, "sparsegpt: bad shape [%lld, %lld]", (long long)out, (long long)in);
    if (blocksize <= 0)
        return ap_error_set(err, AP_E_ARG, "sparsegpt: blocksize %d must be > 0", blocksize);
    if (!(percdamp >= 0.0) || !isfinite(percdamp))
        return ap_error_set(err, AP_E_ARG, "sparsegpt: percdamp %g must be finite and >= 0", percdamp);
    if (prune_m == 0 && prune_n == 0) {
        if (!(sparsity >= 0.0 && sparsity < 1.0))
            return ap_error_set(err, AP_E_ARG, "sparsegpt: sparsity %g outside [0, 1)", sparsity);
        return AP_OK;
    }
    if (prune_m <= 0 || prune_n <= 0 || prune_n > prune_m)
        return ap_error_set(err, AP_E_ARG, "sparsegpt: bad N:M pattern %d:%d", prune_n, prune_m);
    if (in % prune_m != 0 || blocksize % prune_m != 0)
        return ap_error_set(err, AP_E_ARG, "sparsegpt: %d:%d needs in (%lld) and blocksize (%d) multiples of %d",
                            prune_n, prune_m, (long long)in, blocksize, prune_m);
    return AP_OK;
}

static ap_status sgpt_check_finite(const float *W, int64_t out, int64_t in, const double *H, ap_error *err)
{
    for (int64_t i = 0; i < out * in; i++)
        if (!isfinite(W[i]))
            return ap_error_set(err, AP_E_NONFINITE, "sparsegpt: W[%lld, %lld] is not finite", (long long)(i / in),
                                (long long)(i % in));
    for (int64_t i = 0; i < in * in; i++)
        if (!isfinite(H[i]))
            return ap_error_set(err, AP_E_NONFINITE, "sparsegpt: H[%lld, %lld] is not finite", (long long)(i / in),
                                (long long)(i % in));
    return AP_OK;
}

/* Hinv (float, [in, in]) ← upper Cholesky factor U of (H + λI)⁻¹ with H⁻¹ = UᵀU; lower triangle zero.
 * dead[j] = 1 where H_jj == 0 (treated as H_jj = 1, as the reference does). */
static ap_status sgpt_inverse_factor(const double *H, int64_t in, double percdamp, float *Hinv, unsigned char *dead,
                                     ap_error *err)
{
    double *A = malloc((size_t)in * (size_t)in * sizeof *A);
    if (!A)
        return ap_error_set(err, AP_E_NOMEM, "sparsegpt: no memory for the %lldx%lld Hessian copy", (long long)in,
                            (long long)in);
    memcpy(A, H, (size_t)in * (size_t)in * sizeof *A);
    double diag_sum = 0.0;
    for (int64_t j = 0; j < in; j++) {
        dead[j] = A[j * in + j] == 0.0;
        if (dead[j])
            A[j * in + j] = 1.0;
        diag_sum += A[j * in + j];
    }
    double damp = percdamp * diag_sum / (double)in;
    for (int64_t j = 0; j < in; j++)
        A[j * in + j] += damp;

    lapack_int n = (lapack_int)in, info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, A, n);
    if (info == 0)
        info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, A, n);
    if (info == 0) {
        for (int64_t i = 0; i < in; i++) /* dpotri fills one triangle: mirror it */
            for (int64_t j = i + 1; j < in; j++)
                A[i * in + j] = A[j * in + i];
        info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', n, A, n);
    }
    if (info != 0) {
        free(A);
        if (info > 0)
            return ap_error_set(err, AP_E_ARG,
                                "sparsegpt: Hessian is not positive definite even after dampening "
                                "(percdamp %g, damp %g; leading minor %d fails)",
                                percdamp, damp, (int)info);
        return ap_error_set(err, AP_E_ARG, "sparsegpt: LAPACK rejected argument %d", (int)-info);
    }
    for (int64_t i = 0; i < in; i++)
        for (int64_t j = 0; j < in; j++)
            Hinv[i * in + j] = j >= i ? (float)A[i * in + j] : 0.0f;
    free(A);
    return AP_OK;
}

/* Unstructured mask of one block: the k lowest w²/d² over all rows of the block (flat index r·cnt + c). */
static void sgpt_block_mask(const float *W1, int64_t out, int64_t cnt, const float *dg, int64_t k, sgpt_ranked *rank,
                            unsigned char *mask)
{
    memset(mask, 0, (size_t)(out * cnt));
    if (k <= 0)
        return;
    for (int64_t r = 0; r < out; r++)
        for (int64_t c = 0; c < cnt; c++) {
            double w = W1[r * cnt + c], d = dg[c];
            rank[r * cnt + c] = (sgpt_ranked){w * w / (d * d), r * cnt + c};
        }
    qsort(rank, (size_t)(out * cnt), sizeof *rank, sgpt_ranked_cmp);
    for (int64_t i = 0; i < k; i++)
        mask[rank[i].idx] = 1;
}

/* N:M mask of the group of columns [i, i+m) of a block: per row, the n lowest w²/d², ties to the lower column. */
static void sgpt_group_mask(const float *W1, int64_t out, int64_t cnt, const float *dg, int64_t i, int n, int m,
                            unsigned char *mask)
{
    for (int64_t r = 0; r < out; r++) {
        const float *w = W1 + r * cnt + i;
        for (int a = 0; a < m; a++) {
            double sa = (double)w[a] * w[a] / ((double)dg[i + a] * dg[i + a]);
            int lower = 0;
            for (int b = 0; b < m; b++) {
                double sb = (double)w[b] * w[b] / ((double)dg[i + b] * dg[i + b]);
                lower += sb < sa || (sb == sa && b < a);
            }
            mask[r * cnt + i + a] = lower < n;
        }
    }
}

typedef struct sgpt_work {
    float *Hinv, *W1, *Err1, *dg;
    unsigned char *dead, *mask;
    sgpt_ranked *rank;
    const unsigned char *keep;    /* given mask ([out, in], 1 = keep) or NULL: SparseGPT chooses it */
    const ap_sgpt_scorer *scorer; /* or: a caller's saliency, asked at every block on the current W */
    float *scores;                /* [out, in] the scorer's answer (scorer only) */
} sgpt_work;

static void sgpt_work_free(sgpt_work *w)
{
    free(w->Hinv);
    free(w->W1);
    free(w->Err1);
    free(w->dg);
    free(w->dead);
    free(w->mask);
    free(w->rank);
    free(w->scores);
}

/* One column block [i1, i1+cnt): mask, OBS update column by column, write back, lazy update of the rest. */
static void sgpt_block(float *W, int64_t out, int64_t in, int64_t i1, int64_t cnt, int64_t k, int prune_n, int prune_m,
                       sgpt_work *w)
{
    const float *Hinv = w->Hinv;
    float *W1 = w->W1, *Err1 = w->Err1;
    for (int64_t r = 0; r < out; r++)
        memcpy(W1 + r * cnt, W + r * in + i1, (size_t)cnt * sizeof *W1);
    for (int64_t c = 0; c < cnt; c++)
        w->dg[c] = Hinv[(i1 + c) * in + i1 + c];
    if (w->scorer) {
        /* the mask of this block was chosen from the scorer's saliency by the caller (sgpt_scored_mask) */
    } else if (prune_m == 0 && !w->keep)
        sgpt_block_mask(W1, out, cnt, w->dg, k, w->rank, w->mask);
    else
        memset(w->mask, 0, (size_t)(out * cnt));
    if (w->keep) /* the caller's mask: the block's columns of it */
        for (int64_t r = 0; r < out; r++)
            for (int64_t c = 0; c < cnt; c++)
                w->mask[r * cnt + c] = !w->keep[r * in + i1 + c];

    for (int64_t i = 0; i < cnt; i++) {
        if (!w->keep && !w->scorer && prune_m > 0 && i % prune_m == 0)
            sgpt_group_mask(W1, out, cnt, w->dg, i, prune_n, prune_m, w->mask);
        const float d = w->dg[i], *hrow = Hinv + (i1 + i) * in + i1;
        for (int64_t r = 0; r < out; r++) {
            float *wr = W1 + r * cnt;
            if (!w->mask[r * cnt + i]) {
                Err1[r * cnt + i] = 0.0f;
                continue;
            }
            float e = wr[i] / d; /* (w − q)/d with q = 0 */
            Err1[r * cnt + i] = e;
            wr[i] = 0.0f;
            for (int64_t j = i + 1; j < cnt; j++)
                wr[j] -= e * hrow[j];
        }
    }
    for (int64_t r = 0; r < out; r++)
        memcpy(W + r * in + i1, W1 + r * cnt, (size_t)cnt * sizeof *W1);
    int64_t i2 = i1 + cnt;
    if (i2 < in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)out, (int)(in - i2), (int)cnt, -1.0f, Err1,
                    (int)cnt, Hinv + i1 * in + i2, (int)in, 1.0f, W + i2, (int)in);
}

/* Mask of the block [i1, i1+cnt) from the scorer's saliency of the current W (lowest scores pruned, ties to the
 * lower index): the block quota k pooled over all rows, or per row the difference of cumulative floors of in·s. */
static ap_status sgpt_scored_mask(float *W, int64_t out, int64_t in, int64_t i1, int64_t cnt, int64_t k,
                                  double sparsity, sgpt_work *w, ap_error *err)
{
    const ap_sgpt_scorer *sc = w->scorer;
    ap_status st = sc->score(sc->ud, W, out, in, w->scores, err);
    if (st != AP_OK)
        return st;
    memset(w->mask, 0, (size_t)(out * cnt));
    for (int64_t r = 0; r < out; r++)
        for (int64_t c = 0; c < cnt; c++) {
            float v = w->scores[r * in + i1 + c];
            if (!isfinite(v))
                return ap_error_set(err, AP_E_NONFINITE, "sparsegpt: score [%lld, %lld] is not finite", (long long)r,
                                    (long long)(i1 + c));
            w->rank[r * cnt + c] = (sgpt_ranked){v, r * cnt + c};
        }
    if (!sc->per_row) {
        if (k <= 0)
            return AP_OK;
        qsort(w->rank, (size_t)(out * cnt), sizeof *w->rank, sgpt_ranked_cmp);
        for (int64_t i = 0; i < k; i++)
            w->mask[w->rank[i].idx] = 1;
        return AP_OK;
    }
    int64_t kr = (int64_t)floor((double)(i1 + cnt) * sparsity) - (int64_t)floor((double)i1 * sparsity);
    for (int64_t r = 0; r < out && kr > 0; r++) {
        sgpt_ranked *row = w->rank + r * cnt;
        qsort(row, (size_t)cnt, sizeof *row, sgpt_ranked_cmp);
        for (int64_t i = 0; i < kr && i < cnt; i++)
            w->mask[row[i].idx] = 1;
    }
    return AP_OK;
}

static ap_status sgpt_run(float *W, int64_t out, int64_t in, const double *H, double sparsity, int prune_n, int prune_m,
                          int blocksize, double percdamp, const unsigned char *keep, const ap_sgpt_scorer *scorer,
                          ap_error *err)
{
    ap_status st = sgpt_check_args(W, out, in, H, sparsity, prune_n, prune_m, blocksize, percdamp, err);
    if (st == AP_OK)
        st = sgpt_check_finite(W, out, in, H, err);
    if (st != AP_OK)
        return st;
    int64_t bs = blocksize < in ? blocksize : in;
    if (out > INT32_MAX / bs)
        return ap_error_set(err, AP_E_ARG, "sparsegpt: %lld rows too many", (long long)out);
    sgpt_work w = {
        .Hinv = malloc((size_t)in * (size_t)in * sizeof(float)),
        .W1 = malloc((size_t)(out * bs) * sizeof(float)),
        .Err1 = malloc((size_t)(out * bs) * sizeof(float)),
        .dg = malloc((size_t)bs * sizeof(float)),
        .dead = malloc((size_t)in),
        .mask = malloc((size_t)(out * bs)),
        .keep = keep,
        .scorer = scorer,
        .scores = scorer ? malloc((size_t)(out * in) * sizeof(float)) : NULL,
        .rank = prune_m == 0 && !keep ? malloc((size_t)(out * bs) * sizeof(sgpt_ranked)) : NULL,
    };
    if (!w.Hinv || !w.W1 || !w.Err1 || !w.dg || !w.dead || !w.mask || (prune_m == 0 && !keep && !w.rank) ||
        (scorer && !w.scores)) {
        sgpt_work_free(&w);
        return ap_error_set(err, AP_E_NOMEM, "sparsegpt: no memory for a [%lld, %lld] layer", (long long)out,
                            (long long)in);
    }
    st = sgpt_inverse_factor(H, in, percdamp, w.Hinv, w.dead, err);
    if (st != AP_OK) {
        sgpt_work_free(&w);
        return st;
    }
    for (int64_t j = 0; j < in; j++)
        if (w.dead[j])
            for (int64_t r = 0; r < out; r++)
                W[r * in + j] = 0.0f;
    for (int64_t i1 = 0; i1 < in; i1 += bs) {
        int64_t cnt = in - i1 < bs ? in - i1 : bs;
        /* block quota: the difference of cumulative floors, so the matrix total is exactly floor(out·in·s) */
        int64_t k = (int64_t)floor((double)out * (double)(i1 + cnt) * sparsity) -
                    (int64_t)floor((double)out * (double)i1 * sparsity);
        if (scorer && (st = sgpt_scored_mask(W, out, in, i1, cnt, k, sparsity, &w, err)) != AP_OK)
            break;
        sgpt_block(W, out, in, i1, cnt, k, prune_n, prune_m, &w);
    }
    sgpt_work_free(&w);
    return st;
}

ap_status ap_sparsegpt_hinv_diag(const double *H, int64_t in, double percdamp, float *d, ap_error *err)
{
    if (!H || !d || in <= 0 || !(percdamp >= 0))
        return ap_error_set(err, AP_E_ARG, "sparsegpt: inverse-Hessian diagonal needs H, d, in > 0, percdamp >= 0");
    float *U = malloc((size_t)in * (size_t)in * sizeof *U);
    unsigned char *dead = malloc((size_t)in);
    ap_status st = U && dead ? sgpt_inverse_factor(H, in, percdamp, U, dead, err)
                             : ap_error_set(err, AP_E_NOMEM, "sparsegpt: no memory for a %lldx%lld factor",
                                            (long long)in, (long long)in);
    if (st == AP_OK)
        for (int64_t j = 0; j < in; j++)
            d[j] = U[j * in + j];
    free(U);
    free(dead);
    return st;
}

ap_status ap_sparsegpt_prune(float *W, int64_t out, int64_t in, const double *H, double sparsity, int prune_n,
                             int prune_m, int blocksize, double percdamp, ap_error *err)
{
    return sgpt_run(W, out, in, H, sparsity, prune_n, prune_m, blocksize, percdamp, NULL, NULL, err);
}

ap_status ap_sparsegpt_update(float *W, int64_t out, int64_t in, const double *H, const unsigned char *keep,
                              int blocksize, double percdamp, ap_error *err)
{
    if (!keep)
        return ap_error_set(err, AP_E_ARG, "sparsegpt update: a mask is required");
    return sgpt_run(W, out, in, H, 0.0, 0, 0, blocksize, percdamp, keep, NULL, err);
}

ap_status ap_sparsegpt_scored(float *W, int64_t out, int64_t in, const double *H, double sparsity,
                              const ap_sgpt_scorer *scorer, int blocksize, double percdamp, ap_error *err)
{
    if (!scorer || !scorer->score)
        return ap_error_set(err, AP_E_ARG, "sparsegpt scored: a scorer is required");
    return sgpt_run(W, out, in, H, sparsity, 0, 0, blocksize, percdamp, NULL, scorer, err);
}
