/* ap_kernels.c — vectorised elementwise kernels of the forward pass (see ap_kernels.h). 16-lane GCC vector
 * extensions; on x86-64 each kernel is also compiled for AVX2 and AVX-512 and picked at load time (target_clones),
 * so one binary runs everywhere and uses the widest registers the CPU has. No vector value crosses a function
 * boundary, so the vector ABI never matters. */
#include "ap_kernels.h"

#include <math.h>
#include <string.h>

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
#define W 16      /* lanes */
#define BLOCK 256 /* elements summed in float before the partial sum goes to double */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* static, because GCC exports an ifunc from a shared library whatever its visibility; the ap_kern_* names at the
 * end of this file are plain hidden wrappers, so libautoprune.so exports only the public API. */
#define CLONES static __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES static
#endif

#define LOAD(v, p) memcpy(&(v), (p), sizeof(vf))
#define STORE(p, v) memcpy((p), &(v), sizeof(vf))
#define SEL(mask, a, b) ((vf)(((vi)(a) & (mask)) | ((vi)(b) & ~(mask)))) /* lanes of mask -1: a, 0: b */

/* *x = exp(*x) by Cody-Waite reduction x = k*ln2 + r, |r| <= ln2/2, and the Taylor series to r^7 (truncation
 * 5e-9); below -87.3 gives 0, above 88 saturates. */
static inline __attribute__((always_inline)) void vexp(vf *px)
{
    vf x = *px, zero = {0};
    vi dead = x <= -87.3f;
    x = SEL(dead, zero - 87.3f, x);
    x = SEL(x > 88.0f, zero + 88.0f, x);
    vf t = x * 1.44269504088896341f + 12582912.0f; /* adding 1.5 * 2^23 rounds to an integer */
    vf k = t - 12582912.0f;
    vf r = x - k * 0.693145751953125f;
    r = r - k * 1.428606765330187045e-06f;
    vf p = zero + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    vi bits = ((vi)t - 0x4B400000 + 127) << 23; /* t's low mantissa bits hold k */
    *px = SEL(dead, zero, p * (vf)bits);
}

static inline __attribute__((always_inline)) float exp1(float x)
{
    vf v = {0};
    v += x;
    vexp(&v);
    return v[0];
}

static inline __attribute__((always_inline)) double hsum(const vf *v)
{
    double s = 0;
    for (int i = 0; i < W; i++)
        s += (*v)[i];
    return s;
}

/* sum of exp(x[i] - shift); x is written with the exponentials when store is set. */
static inline __attribute__((always_inline)) double exp_sum_shift(float *x, const float *src, int64_t n, float shift)
{
    double total = 0;
    int64_t i = 0;
    while (i + W <= n) {
        vf acc = {0};
        int64_t end = i + BLOCK <= n ? i + BLOCK : n - (n - i) % W;
        for (; i < end; i += W) {
            vf y;
            LOAD(y, src + i);
            y -= shift;
            vexp(&y);
            if (x)
                STORE(x + i, y);
            acc += y;
        }
        total += hsum(&acc);
    }
    for (; i < n; i++) {
        float y = exp1(src[i] - shift);
        if (x)
            x[i] = y;
        total += y;
    }
    return total;
}

CLONES double kern_exp_sum(float *x, int64_t n) { return exp_sum_shift(x, x, n, 0.0f); }

static inline __attribute__((always_inline)) float max_of(const float *x, int64_t n)
{
    float m = -INFINITY;
    int64_t i = 0;
    if (n >= W) {
        vf mv, v;
        LOAD(mv, x);
        for (i = W; i + W <= n; i += W) {
            LOAD(v, x + i);
            mv = SEL(v > mv, v, mv);
        }
        for (int l = 0; l < W; l++)
            m = mv[l] > m ? mv[l] : m;
    }
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

CLONES float kern_max(const float *x, int64_t n) { return max_of(x, n); }

CLONES void kern_softmax_causal(float *x, int64_t n, int64_t len)
{
    float inv = (float)(1.0 / exp_sum_shift(x, x, n, max_of(x, n)));
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        vf v;
        LOAD(v, x + i);
        v *= inv;
        STORE(x + i, v);
    }
    for (; i < n; i++)
        x[i] *= inv;
    if (len > n)
        memset(x + n, 0, (size_t)(len - n) * sizeof *x);
}

CLONES double kern_logsumexp(const float *x, int64_t n, float *scratch)
{
    (void)scratch; /* the exponentials are summed on the fly */
    float m = max_of(x, n);
    return (double)m + log(exp_sum_shift(NULL, x, n, m));
}

CLONES void kern_rmsnorm(float *y, const float *x, const float *w, int64_t n, double eps)
{
    double ss = 0;
    int64_t i = 0;
    while (i + W <= n) {
        vf acc = {0}, v;
        int64_t end = i + BLOCK <= n ? i + BLOCK : n - (n - i) % W;
        for (; i < end; i += W) {
            LOAD(v, x + i);
            acc += v * v;
        }
        ss += hsum(&acc);
    }
    for (; i < n; i++)
        ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (i = 0; i + W <= n; i += W) {
        vf v, wv;
        LOAD(v, x + i);
        LOAD(wv, w + i);
        v = (v * r) * wv;
        STORE(y + i, v);
    }
    for (; i < n; i++)
        y[i] = (x[i] * r) * w[i];
}

CLONES void kern_swiglu(float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        vf x, e, uv;
        LOAD(x, g + i);
        LOAD(uv, u + i);
        e = -x;
        vexp(&e);
        x = x / (e + 1.0f) * uv;
        STORE(g + i, x);
    }
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + exp1(-g[i])) * u[i];
}

CLONES void kern_rope(float *x, const float *cos, const float *sin, int64_t d)
{
    int64_t h = d / 2, i = 0;
    float *a = x, *b = x + h;
    for (; i + W <= h; i += W) {
        vf av, bv, c, s, na, nb;
        LOAD(av, a + i);
        LOAD(bv, b + i);
        LOAD(c, cos + i);
        LOAD(s, sin + i);
        na = av * c - bv * s;
        nb = bv * c + av * s;
        STORE(a + i, na);
        STORE(b + i, nb);
    }
    for (; i < h; i++) {
        float av = a[i], bv = b[i];
        a[i] = av * cos[i] - bv * sin[i];
        b[i] = bv * cos[i] + av * sin[i];
    }
}

double ap_kern_exp_sum(float *x, int64_t n) { return kern_exp_sum(x, n); }
float ap_kern_max(const float *x, int64_t n) { return kern_max(x, n); }
void ap_kern_softmax_causal(float *x, int64_t n, int64_t len) { kern_softmax_causal(x, n, len); }
double ap_kern_logsumexp(const float *x, int64_t n, float *scratch) { return kern_logsumexp(x, n, scratch); }
void ap_kern_rmsnorm(float *y, const float *x, const float *w, int64_t n, double eps) { kern_rmsnorm(y, x, w, n, eps); }
void ap_kern_swiglu(float *g, const float *u, int64_t n) { kern_swiglu(g, u, n); }
void ap_kern_rope(float *x, const float *cos, const float *sin, int64_t d) { kern_rope(x, cos, sin, d); }
