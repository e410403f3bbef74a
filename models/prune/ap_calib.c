/* ap_calib.c — calibration windows, one-pass input statistics in double, the optional Hessian, and their cache. */
#include "ap_calib.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ap_input_kind ap_linear_input(ap_linear_kind k)
{
    switch (k) {
    case AP_LIN_Q:
    case AP_LIN_K:
    case AP_LIN_V: return AP_IN_ATTN;
    case AP_LIN_O: return AP_IN_O;
    case AP_LIN_GATE:
    case AP_LIN_UP: return AP_IN_MLP;
    default: return AP_IN_DOWN;
    }
}

/* ---- statistics by name ---- */

static const char *const FIELD_NAMES[8] = {"l2", "sq", "mean", "std", "absmax", "skew", "kurt", "hinv"};

unsigned ap_calib_field(const char *name)
{
    for (int i = 0; name && i < 8; i++)
        if (!strcmp(name, FIELD_NAMES[i]))
            return 1u << i;
    return 0;
}

const char *ap_calib_field_name(int i) { return i >= 0 && i < 8 ? FIELD_NAMES[i] : NULL; }

/* ---- windows ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

ap_status ap_calib_windows(const int32_t *ids, size_t n_ids, int nsamples, int seqlen, int random, uint64_t seed,
                           int32_t **out, ap_error *err)
{
    *out = NULL;
    if (nsamples < 1 || seqlen < 2)
        return ap_error_set(err, AP_E_ARG, "calibration: nsamples (%d) must be >= 1 and seqlen (%d) >= 2", nsamples,
                            seqlen);
    if (n_ids < (size_t)seqlen)
        return ap_error_set(err, AP_E_ARG, "calibration text has %zu tokens, fewer than seqlen %d", n_ids, seqlen);
    int32_t *w = malloc((size_t)nsamples * (size_t)seqlen * sizeof *w);
    if (!w)
        return ap_error_set(err, AP_E_NOMEM, "calibration: no memory for %d windows of %d tokens", nsamples, seqlen);
    int64_t span = (int64_t)n_ids - seqlen;
    uint64_t state = seed;
    for (int k = 0; k < nsamples; k++) {
        int64_t start;
        if (random)
            start = (int64_t)(splitmix64(&state) % (uint64_t)(span + 1));
        else
            start = (int64_t)k * span / nsamples; /* PROTOCOL.md: floor(k·(len − seqlen)/nsamples) */
        memcpy(w + (size_t)k * seqlen, ids + start, (size_t)seqlen * sizeof *w);
    }
    *out = w;
    return AP_OK;
}

/* ---- accumulators ---- */

ap_status ap_xacc_init(ap_xacc *a, int64_t in, int hessian, ap_error *err)
{
    return ap_xacc_init_fields(a, in, AP_XF_MOMENTS | (hessian ? AP_XF_HESSIAN : 0u), err);
}

/* The sums behind the fields. */
enum { SUM1 = 1, SUM2 = 2, SUM3 = 4, SUM4 = 8, SUMMAX = 16 };
static unsigned sums_for(unsigned f)
{
    unsigned s = 0;
    if (f & (AP_XF_L2 | AP_XF_SQ | AP_XF_STD | AP_XF_SKEW | AP_XF_KURT))
        s |= SUM2;
    if (f & (AP_XF_MEAN | AP_XF_STD | AP_XF_SKEW | AP_XF_KURT))
        s |= SUM1;
    if (f & (AP_XF_SKEW | AP_XF_KURT))
        s |= SUM3;
    if (f & AP_XF_KURT)
        s |= SUM4;
    if (f & AP_XF_ABSMAX)
        s |= SUMMAX;
    return s;
}

ap_status ap_xacc_init_fields(ap_xacc *a, int64_t in, unsigned fields, ap_error *err)
{
    int hessian = (fields & AP_XF_HESSIAN) != 0;
    memset(a, 0, sizeof *a);
    a->fields = fields;
    if (in <= 0 || in > (1 << 20))
        return ap_error_set(err, AP_E_ARG, "calibration: bad input width %lld", (long long)in);
    a->in = in;
    a->s1 = calloc((size_t)in * 5, sizeof(double));
    if (!a->s1)
        return ap_error_set(err, AP_E_NOMEM, "calibration: no memory for statistics of width %lld", (long long)in);
    a->s2 = a->s1 + in;
    a->s3 = a->s2 + in;
    a->s4 = a->s3 + in;
    a->absmax = a->s4 + in;
    if (hessian) {
        a->xtx = calloc((size_t)in * (size_t)in, sizeof(double));
        if (!a->xtx) {
            ap_xacc_free(a);
            return ap_error_set(err, AP_E_NOMEM, "calibration: no memory for a %lldx%lld Hessian", (long long)in,
                                (long long)in);
        }
    }
    return AP_OK;
}

void ap_xacc_free(ap_xacc *a)
{
    free(a->s1);
    free(a->xtx);
    memset(a, 0, sizeof *a);
}

void ap_xacc_reset(ap_xacc *a)
{
    a->n = 0;
    if (a->s1)
        memset(a->s1, 0, (size_t)a->in * 5 * sizeof(double));
    if (a->xtx)
        memset(a->xtx, 0, (size_t)a->in * (size_t)a->in * sizeof(double));
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* static: GCC would export the ifunc of a non-static clone from the shared library */
#define CLONES static __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES static
#endif

/* One strip of channels [j0, j1) over all rows: the running arrays of the strip stay in L1 while the rows stream
 * past. The inner loop is contiguous and branch-free so it vectorises (float → double converts); `sums` is a
 * constant in each caller below, so every variant keeps only the sums it needs. */
static inline __attribute__((always_inline)) void strip_sums(unsigned sums, const float *restrict x, int64_t rows,
                                                             int64_t in, int64_t j0, int64_t j1, double *restrict s1,
                                                             double *restrict s2, double *restrict s3,
                                                             double *restrict s4, double *restrict mx)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict row = x + r * in;
        for (int64_t j = j0; j < j1; j++) {
            double v = row[j], v2 = v * v, av = v < 0 ? -v : v;
            if (sums & SUM1)
                s1[j] += v;
            if (sums & SUM2)
                s2[j] += v2;
            if (sums & SUM3)
                s3[j] += v2 * v;
            if (sums & SUM4)
                s4[j] += v2 * v2;
            if (sums & SUMMAX)
                mx[j] = av > mx[j] ? av : mx[j];
        }
    }
}

#define STRIP_VARIANT(name, SUMS)                                                                                      \
    CLONES __attribute__((optimize("tree-vectorize"))) void name(                                                      \
        const float *restrict x, int64_t rows, int64_t in, int64_t j0, int64_t j1, double *restrict s1,                \
        double *restrict s2, double *restrict s3, double *restrict s4, double *restrict mx)                            \
    {                                                                                                                  \
        strip_sums(SUMS, x, rows, in, j0, j1, s1, s2, s3, s4, mx);                                                     \
    }
STRIP_VARIANT(strip_sq, SUM2) /* Wanda: X.l2 */
STRIP_VARIANT(strip_max, SUMMAX)
STRIP_VARIANT(strip_sq_max, SUM2 | SUMMAX)
STRIP_VARIANT(strip_two, SUM1 | SUM2)                        /* mean, std */
STRIP_VARIANT(strip_all, SUM1 | SUM2 | SUM3 | SUM4 | SUMMAX) /* anything else: more than asked, still right */

typedef void (*strip_fn)(const float *restrict, int64_t, int64_t, int64_t, int64_t, double *restrict, double *restrict,
                         double *restrict, double *restrict, double *restrict);

static strip_fn strip_for(unsigned sums)
{
    if (sums == SUM2)
        return strip_sq;
    if (sums == SUMMAX)
        return strip_max;
    if (sums == (SUM2 | SUMMAX))
        return strip_sq_max;
    if ((sums & ~(unsigned)(SUM1 | SUM2)) == 0)
        return strip_two;
    return strip_all;
}

#define STRIP 64

typedef struct moments_job {
    ap_xacc *a;
    strip_fn strip;
    const float *x;
    int64_t rows;
} moments_job;

static void moments_task(void *ud, int64_t task, int thread)
{
    (void)thread;
    moments_job *j = ud;
    int64_t j0 = task * STRIP, j1 = j0 + STRIP < j->a->in ? j0 + STRIP : j->a->in;
    j->strip(j->x, j->rows, j->a->in, j0, j1, j->a->s1, j->a->s2, j->a->s3, j->a->s4, j->a->absmax);
}

static void moments_add(ap_xacc *a, const float *x, int64_t rows, ap_pool *pool)
{
    unsigned sums = sums_for(a->fields);
    if (!sums)
        return; /* magnitude, SparseGPT: no moment is read */
    moments_job job = {a, strip_for(sums), x, rows};
    int64_t tasks = (a->in + STRIP - 1) / STRIP;
    if (pool && tasks > 1 && rows * a->in >= 65536) {
        ap_pool_run(pool, tasks, moments_task, &job);
    } else {
        for (int64_t t = 0; t < tasks; t++)
            moments_task(&job, t, 0);
    }
}

ap_status ap_xacc_add(ap_xacc *a, const float *x, int64_t rows, ap_pool *pool, ap_error *err)
{
    if (rows <= 0)
        return AP_OK;
    moments_add(a, x, rows, pool);
    a->n += rows;
    if (!a->xtx)
        return AP_OK;
    size_t in = (size_t)a->in;
    float *tmp = malloc(in * in * sizeof *tmp);
    if (!tmp)
        return ap_error_set(err, AP_E_NOMEM, "calibration: no memory for a %zux%zu Hessian batch", in, in);
    /* Large batches are split so that float accumulation inside one ssyrk stays over a bounded count. */
    const int64_t chunk = 4096;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)in, (blasint)nr, 1.0f, x + r0 * (int64_t)in,
                    (blasint)in, 0.0f, tmp, (blasint)in);
        for (size_t i = 0; i < in; i++)
            for (size_t j = i; j < in; j++)
                a->xtx[i * in + j] += tmp[i * in + j];
    }
    free(tmp);
    /* mirror the upper triangle once per call so xtx is always full */
    for (size_t i = 0; i < in; i++)
        for (size_t j = i + 1; j < in; j++)
            a->xtx[j * in + i] = a->xtx[i * in + j];
    return AP_OK;
}

void ap_xacc_hessian(const ap_xacc *a, double *H)
{
    size_t nn = (size_t)a->in * (size_t)a->in;
    double f = a->n > 0 ? 2.0 / (double)a->n : 0.0;
    for (size_t i = 0; i < nn; i++)
        H[i] = a->xtx[i] * f;
}

ap_status ap_xderived_make(ap_xderived *d, const ap_xacc *a, ap_error *err)
{
    int64_t in = a->in;
    memset(d, 0, sizeof *d);
    d->buf = malloc((size_t)in * 7 * sizeof(float));
    if (!d->buf)
        return ap_error_set(err, AP_E_NOMEM, "calibration: no memory for statistics of width %lld", (long long)in);
    float *l2 = d->buf, *sq = l2 + in, *mean = sq + in, *sd = mean + in, *mx = sd + in, *sk = mx + in, *ku = sk + in;
    double n = a->n > 0 ? (double)a->n : 1.0;
    for (int64_t j = 0; j < in; j++) {
        double mu = a->s1[j] / n, e2 = a->s2[j] / n, e3 = a->s3[j] / n, e4 = a->s4[j] / n;
        double m2 = e2 - mu * mu;
        double m3 = e3 - 3 * mu * e2 + 2 * mu * mu * mu;
        double m4 = e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu * mu * mu * mu;
        /* cancellation can leave a tiny negative m2 for a constant channel; treat anything below the double
         * rounding of e2 as no variance */
        int flat = !(m2 > 1e-12 * e2) || !(m2 > 0);
        l2[j] = (float)sqrt(a->s2[j]);
        sq[j] = (float)e2;
        mean[j] = (float)mu;
        sd[j] = flat ? 0.0f : (float)sqrt(m2);
        mx[j] = (float)a->absmax[j];
        sk[j] = flat ? 0.0f : (float)(m3 / (m2 * sqrt(m2)));
        ku[j] = flat ? 0.0f : (float)(m4 / (m2 * m2) - 3.0);
    }
    unsigned sums = sums_for(a->fields);
    int has1 = sums & SUM1, has2 = sums & SUM2;
    d->v = (ap_xview){in,
                      (double)a->n,
                      has2 ? l2 : NULL,
                      has2 ? sq : NULL,
                      has1 ? mean : NULL,
                      has1 && has2 ? sd : NULL,
                      sums & SUMMAX ? mx : NULL,
                      sums & SUM3 ? sk : NULL,
                      sums & SUM4 ? ku : NULL,
                      NULL};
    return AP_OK;
}

void ap_xderived_free(ap_xderived *d)
{
    free(d->buf);
    memset(d, 0, sizeof *d);
}

/* ---- per block ---- */

ap_status ap_block_stats_init(ap_block_stats *b, const ap_model *m, int hessian, ap_error *err)
{
    return ap_block_stats_init_fields(b, m, AP_XF_MOMENTS | (hessian ? AP_XF_HESSIAN : 0u), err);
}

ap_status ap_block_stats_init_fields(ap_block_stats *b, const ap_model *m, unsigned fields, ap_error *err)
{
    memset(b, 0, sizeof *b);
    const ap_linear *lin = m->blocks[0].lin;
    const int64_t width[AP_IN_COUNT] = {lin[AP_LIN_Q].in, lin[AP_LIN_O].in, lin[AP_LIN_GATE].in, lin[AP_LIN_DOWN].in};
    for (int i = 0; i < AP_IN_COUNT; i++) {
        ap_status st = ap_xacc_init_fields(&b->acc[i], width[i], fields, err);
        if (st) {
            ap_block_stats_free(b);
            return st;
        }
    }
    return AP_OK;
}

void ap_block_stats_free(ap_block_stats *b)
{
    for (int i = 0; i < AP_IN_COUNT; i++) {
        ap_xacc_free(&b->acc[i]);
        ap_xderived_free(&b->x[i]);
    }
    b->finished = 0;
}

void ap_block_stats_reset(ap_block_stats *b)
{
    for (int i = 0; i < AP_IN_COUNT; i++) {
        ap_xacc_reset(&b->acc[i]);
        ap_xderived_free(&b->x[i]);
    }
    b->finished = 0;
}

ap_status ap_block_stats_finish(ap_block_stats *b, ap_error *err)
{
    for (int i = 0; i < AP_IN_COUNT; i++) {
        ap_xderived_free(&b->x[i]);
        ap_status st = ap_xderived_make(&b->x[i], &b->acc[i], err);
        if (st)
            return st;
    }
    b->finished = 1;
    return AP_OK;
}

void ap_calib_observer(void *ud, int layer, ap_linear_kind which, const float *x, int64_t n_rows, int64_t in)
{
    ap_calib_obs *o = ud;
    if (o->status != AP_OK)
        return;
    if (which == AP_LIN_K || which == AP_LIN_V || which == AP_LIN_UP)
        return; /* same input as q_proj / gate_proj: counted once */
    ap_xacc *a = &o->stats->acc[ap_linear_input(which)];
    if (in != a->in) {
        o->status = ap_error_set(&o->err, AP_E_ARG, "calibration: layer %d %s input has width %lld, expected %lld",
                                 layer + 1, ap_linear_name(which), (long long)in, (long long)a->in);
        return;
    }
    o->status = ap_xacc_add(a, x, n_rows, o->pool, &o->err);
}

/* ---- whole model, one-shot ---- */

void ap_calib_stats_free(ap_calib_stats *s)
{
    if (!s)
        return;
    if (s->blocks)
        for (int l = 0; l < s->n_layers; l++)
            ap_block_stats_free(&s->blocks[l]);
    free(s->blocks);
    free(s);
}

static ap_status stats_alloc(const ap_model *m, unsigned fields, ap_calib_stats **out, ap_error *err)
{
    ap_calib_stats *s = calloc(1, sizeof *s);
    if (!s)
        return ap_error_set(err, AP_E_NOMEM, "calibration: no memory");
    s->n_layers = m->cfg.n_layers;
    s->hessian = (fields & AP_XF_HESSIAN) != 0;
    s->fields = fields;
    s->blocks = calloc((size_t)s->n_layers, sizeof *s->blocks);
    if (!s->blocks) {
        free(s);
        return ap_error_set(err, AP_E_NOMEM, "calibration: no memory");
    }
    for (int l = 0; l < s->n_layers; l++) {
        ap_status st = ap_block_stats_init_fields(&s->blocks[l], m, fields, err);
        if (st) {
            ap_calib_stats_free(s);
            return st;
        }
    }
    *out = s;
    return AP_OK;
}

ap_status ap_calib_collect(const ap_model *m, const int32_t *ids, int nsamples, int seqlen, int hessian, int batch,
                           ap_progress_fn progress, void *pud, ap_calib_stats **out, ap_error *err)
{
    return ap_calib_collect_fields(m, ids, nsamples, seqlen, AP_XF_MOMENTS | (hessian ? AP_XF_HESSIAN : 0u), batch,
                                   progress, pud, out, err);
}

ap_status ap_calib_collect_fields(const ap_model *m, const int32_t *ids, int nsamples, int seqlen, unsigned fields,
                                  int batch, ap_progress_fn progress, void *pud, ap_calib_stats **out, ap_error *err)
{
    *out = NULL;
    if (batch <= 0)
        batch = 8;
    ap_calib_stats *s;
    ap_status st = stats_alloc(m, fields, &s, err);
    if (st)
        return st;
    s->nsamples = nsamples;
    s->seqlen = seqlen;
    s->tokens = (int64_t)nsamples * seqlen;
    ap_pool *pool = NULL;
    st = ap_pool_new(&pool, m->n_threads, err);
    /* Batches outermost: each batch goes through every block, so only one batch of hidden states is alive. */
    for (int b0 = 0; b0 < nsamples && !st; b0 += batch) {
        int nb = nsamples - b0 < batch ? nsamples - b0 : batch;
        ap_batch b = {0};
        st = ap_model_embed(m, ids + (size_t)b0 * seqlen, nb, seqlen, &b, err);
        for (int l = 0; l < s->n_layers && !st; l++) {
            ap_calib_obs o = {&s->blocks[l], pool, AP_OK, {0}};
            st = ap_model_block(m, l, &b, ap_calib_observer, &o, err);
            if (!st && o.status) {
                st = o.status;
                if (err)
                    *err = o.err;
            }
        }
        free(b.h);
        if (progress && !st)
            progress(pud, b0 + nb, nsamples);
    }
    ap_pool_free(pool);
    for (int l = 0; l < s->n_layers && !st; l++)
        st = ap_block_stats_finish(&s->blocks[l], err);
    if (st) {
        ap_calib_stats_free(s);
        return st;
    }
    *out = s;
    return AP_OK;
}

/* ---- cache file ---- */

#define STATS_MAGIC "APSTATS1"

static int write_all(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }
static int read_all(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

ap_status ap_calib_stats_save(const ap_calib_stats *s, const char *path, ap_error *err)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return ap_error_set(err, AP_E_ARG, "statistics file name too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return ap_error_set(err, AP_E_IO, "%s: cannot write: %s", path, strerror(errno));
    /* hdr[3]: bit 0 the Hessians, bits 1..7 the moments NOT gathered (so files from before, 0 or 1, hold all) */
    int32_t hdr[4] = {s->n_layers, s->nsamples, s->seqlen,
                      (int32_t)((s->hessian ? 1u : 0u) | (AP_XF_MOMENTS & ~s->fields) << 1)};
    int ok = write_all(f, STATS_MAGIC, 8) && write_all(f, hdr, sizeof hdr) && write_all(f, s->source, sizeof s->source);
    for (int l = 0; ok && l < s->n_layers; l++)
        for (int i = 0; ok && i < AP_IN_COUNT; i++) {
            const ap_xacc *a = &s->blocks[l].acc[i];
            int64_t dims[2] = {a->in, a->n};
            ok = write_all(f, dims, sizeof dims) && write_all(f, a->s1, (size_t)a->in * 5 * sizeof(double));
            if (ok && s->hessian)
                ok = write_all(f, a->xtx, (size_t)a->in * (size_t)a->in * sizeof(double));
        }
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return ap_error_set(err, AP_E_IO, "%s: write failed", path);
    }
    return AP_OK;
}

ap_status ap_calib_stats_load(const ap_model *m, const char *path, ap_calib_stats **out, ap_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ap_error_set(err, AP_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char magic[8];
    int32_t hdr[4];
    char source[512];
    ap_status st = AP_OK;
    if (!read_all(f, magic, 8) || memcmp(magic, STATS_MAGIC, 8) || !read_all(f, hdr, sizeof hdr) ||
        !read_all(f, source, sizeof source))
        st = ap_error_set(err, AP_E_FORMAT, "%s: not an autoprune statistics file", path);
    else if (hdr[0] != m->cfg.n_layers || hdr[1] < 1 || hdr[2] < 2 || hdr[3] < 0 || hdr[3] > 0xff)
        st = ap_error_set(err, AP_E_FORMAT, "%s: header (%d layers) does not match the model (%d layers)", path, hdr[0],
                          m->cfg.n_layers);
    ap_calib_stats *s = NULL;
    if (!st)
        st = stats_alloc(m, (AP_XF_MOMENTS & ~((unsigned)hdr[3] >> 1)) | (hdr[3] & 1 ? AP_XF_HESSIAN : 0u), &s, err);
    if (!st) {
        s->nsamples = hdr[1];
        s->seqlen = hdr[2];
        s->tokens = (int64_t)hdr[1] * hdr[2];
        memcpy(s->source, source, sizeof source);
        s->source[sizeof s->source - 1] = '\0';
    }
    for (int l = 0; !st && l < s->n_layers; l++)
        for (int i = 0; !st && i < AP_IN_COUNT; i++) {
            ap_xacc *a = &s->blocks[l].acc[i];
            int64_t dims[2];
            if (!read_all(f, dims, sizeof dims) || dims[0] != a->in || dims[1] < 0)
                st = ap_error_set(err, AP_E_FORMAT, "%s: block %d input %d: width does not match the model", path,
                                  l + 1, i);
            else if (!read_all(f, a->s1, (size_t)a->in * 5 * sizeof(double)) ||
                     (s->hessian && !read_all(f, a->xtx, (size_t)a->in * (size_t)a->in * sizeof(double))))
                st = ap_error_set(err, AP_E_FORMAT, "%s: truncated at block %d", path, l + 1);
            else
                a->n = dims[1];
        }
    fclose(f);
    for (int l = 0; !st && l < s->n_layers; l++)
        st = ap_block_stats_finish(&s->blocks[l], err);
    if (st) {
        ap_calib_stats_free(s);
        return st;
    }
    *out = s;
    return AP_OK;
}

int ap_calib_default_seqlen(const ap_model *m)
{
    return ap_model_default_seqlen(m); /* calibration windows are evaluation-sized, as in Wanda and SparseGPT */
}
