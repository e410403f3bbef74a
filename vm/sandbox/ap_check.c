/* ap_check.c — the synthetic layers of `autoprune check` and the check itself (load + score each layer). */
#include "ap_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N_TOKENS 256
#define N_STATS 8

typedef struct synth_layer {
    int64_t out, in;
    const char *name;
    int layer;
    float *W;
    float *stat[N_STATS]; /* l2 sq mean std absmax skew kurt hinv, [in] each */
} synth_layer;

struct ap_check_layers {
    synth_layer layer[2];
};

/* splitmix64: a small deterministic generator, so every check sees the same inputs. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) { return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0; }

static double rng_normal(uint64_t *s)
{
    return sqrt(-2.0 * log(rng_uniform(s))) * cos(6.283185307179586 * rng_uniform(s));
}

/* Student-t with 4 degrees of freedom: heavy tails like LLM activations. */
static double rng_t4(uint64_t *s)
{
    double chi = 0;
    for (int i = 0; i < 4; i++) {
        double z = rng_normal(s);
        chi += z * z;
    }
    return rng_normal(s) / sqrt(chi / 4.0);
}

static void synth_free(synth_layer *l)
{
    free(l->W);
    for (int i = 0; i < N_STATS; i++)
        free(l->stat[i]);
}

/* Activations x[t][j]: per-channel scale (log-normal), mean, t4 noise, a skewed third of the channels, and
 * about 1% outlier channels 30x larger; then the statistics of X from those samples (double accumulators). */
static int synth_make(synth_layer *l, int64_t out, int64_t in, const char *name, int layer, uint64_t seed)
{
    memset(l, 0, sizeof *l);
    l->out = out, l->in = in, l->name = name, l->layer = layer;
    l->W = malloc((size_t)(out * in) * sizeof(float));
    for (int i = 0; i < N_STATS; i++)
        l->stat[i] = malloc((size_t)in * sizeof(float));
    double *x = malloc((size_t)N_TOKENS * sizeof(double));
    int ok = l->W && x;
    for (int i = 0; i < N_STATS; i++)
        ok = ok && l->stat[i];
    if (!ok) {
        free(x);
        synth_free(l);
        return -1;
    }
    uint64_t s = seed;
    for (int64_t i = 0; i < out; i++) {
        double row = exp(0.3 * rng_normal(&s));
        for (int64_t j = 0; j < in; j++) {
            double w = 0.02 * row * rng_normal(&s);
            if (rng_uniform(&s) < 0.001)
                w *= 10;
            l->W[i * in + j] = (float)w;
        }
    }
    for (int64_t j = 0; j < in; j++) {
        double scale = exp(0.5 * rng_normal(&s)) * (j % 97 == 13 ? 30.0 : 1.0);
        double mu = 0.1 * rng_normal(&s);
        int skewed = j % 3 == 0;
        double sum = 0, sumsq = 0, amax = 0;
        for (int t = 0; t < N_TOKENS; t++) {
            double v = rng_t4(&s);
            if (skewed)
                v = v + 0.3 * (v * v - 1.0);
            x[t] = mu + scale * v;
            sum += x[t];
            sumsq += x[t] * x[t];
            amax = fmax(amax, fabs(x[t]));
        }
        double mean = sum / N_TOKENS, m2 = 0, m3 = 0, m4 = 0;
        for (int t = 0; t < N_TOKENS; t++) {
            double d = x[t] - mean;
            m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
        }
        m2 /= N_TOKENS, m3 /= N_TOKENS, m4 /= N_TOKENS;
        double sd = sqrt(m2);
        l->stat[0][j] = (float)sqrt(sumsq);
        l->stat[1][j] = (float)(sumsq / N_TOKENS);
        l->stat[2][j] = (float)mean;
        l->stat[3][j] = (float)sd;
        l->stat[4][j] = (float)amax;
        l->stat[5][j] = (float)(sd > 0 ? m3 / (sd * sd * sd) : 0);
        l->stat[6][j] = (float)(sd > 0 ? m4 / (m2 * m2) - 3.0 : 0);
    }
    /* X.hinv as for a diagonal Hessian H = 2/n·XᵀX with SparseGPT's 1% dampening: d_j = 1/sqrt(H_jj + λ) */
    double mean_h = 0;
    for (int64_t j = 0; j < in; j++)
        mean_h += 2.0 * l->stat[1][j] / (double)in;
    for (int64_t j = 0; j < in; j++)
        l->stat[7][j] = (float)(1.0 / sqrt(2.0 * l->stat[1][j] + 0.01 * mean_h));
    free(x);
    return 0;
}

static void usage_add(ap_usage *sum, const ap_usage *u)
{
    sum->instructions += u->instructions;
    sum->work += u->work;
    sum->wall_ms += u->wall_ms;
    sum->output_bytes += u->output_bytes;
    if (u->peak_heap_bytes > sum->peak_heap_bytes)
        sum->peak_heap_bytes = u->peak_heap_bytes;
    if (u->peak_tensor_bytes > sum->peak_tensor_bytes)
        sum->peak_tensor_bytes = u->peak_tensor_bytes;
}

ap_check_layers *ap_check_layers_new(int64_t out, int64_t in)
{
    ap_check_layers *ls = calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    if (synth_make(&ls->layer[0], out, in, "gate_proj", 1, 0x5eed0001) != 0) {
        free(ls);
        return NULL;
    }
    if (synth_make(&ls->layer[1], in, out, "down_proj", 4, 0x5eed0002) != 0) {
        synth_free(&ls->layer[0]);
        free(ls);
        return NULL;
    }
    return ls;
}

void ap_check_layers_free(ap_check_layers *ls)
{
    if (!ls)
        return;
    synth_free(&ls->layer[0]);
    synth_free(&ls->layer[1]);
    free(ls);
}

int ap_check_metric(ap_sandbox *sb, const char *path, const char *src, size_t len, const char *name,
                    const ap_check_layers *layers, ap_usage *usage)
{
    ap_usage total = {0}, u;
    int kind = path ? ap_sandbox_load_file(sb, path) : ap_sandbox_load_string(sb, src, len, name);
    ap_sandbox_usage(sb, &u);
    usage_add(&total, &u);
    ap_check_layers *own = NULL;
    if (kind == AP_KIND_OK && !layers) {
        layers = own = ap_check_layers_new(1024, 512);
        if (!own)
            kind = AP_KIND_NOMEM;
    }
    float *scores = NULL;
    for (int i = 0; kind == AP_KIND_OK && i < 2; i++) {
        const synth_layer *l = &layers->layer[i];
        free(scores);
        scores = malloc((size_t)(l->out * l->in) * sizeof(float));
        if (!scores) {
            kind = AP_KIND_NOMEM;
            break;
        }
        static const char *const extra_names[] = {"hinv"};
        ap_xstats X = {.l2 = l->stat[0],
                       .sq = l->stat[1],
                       .mean = l->stat[2],
                       .std = l->stat[3],
                       .absmax = l->stat[4],
                       .skew = l->stat[5],
                       .kurt = l->stat[6],
                       .tokens = N_TOKENS,
                       .n_extra = 1,
                       .extra_names = extra_names,
                       .extra = (const float *const *)&l->stat[7]};
        ap_layer_info info = {l->layer, 4, l->name, 0.5};
        kind = ap_sandbox_score(sb, l->W, l->out, l->in, &X, &info, scores);
        ap_sandbox_usage(sb, &u);
        usage_add(&total, &u);
    }
    free(scores);
    ap_check_layers_free(own);
    if (usage)
        *usage = total;
    return kind;
}
