/* ap_kernels.c — vectorised elementwise kernels of the forward pass (see ap_kernels.h). 16-byte GCC vector
 * extensions: SSE registers on every x86-64 (NEON elsewhere), so no ABI caveats and no build flags needed. */
#include "ap_kernels.h"

#include <math.h>
#include <string.h>

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

#define W 4                      /* lanes */
#define BLOCK 256                /* elements summed in float before the partial sum goes to double */

static inline v4f load4(const float *p) { v4f v; memcpy(&v, p, sizeof v); return v; }
static inline void store4(float *p, v4f v) { memcpy(p, &v, sizeof v); }
static inline v4f splat(float f) { return (v4f){f, f, f, f}; }
static inline double hsum(v4f v) { return (double)v[0] + v[1] + v[2] + v[3]; }
static inline v4f sel(v4i mask, v4f a, v4f b)      /* lanes of mask -1: a, 0: b */
{
    v4i ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    ai = (ai & mask) | (bi & ~mask);
    memcpy(&a, &ai, sizeof a);
    return a;
}

/* exp by Cody-Waite reduction x = k*ln2 + r, |r| <= ln2/2, and the Taylor series to r^7 (truncation 5e-9). */
static inline v4f exp4(v4f x)
{
    const v4f shifter = splat(12582912.0f);          /* 1.5 * 2^23: adding it rounds to an integer */
    v4i dead = x <= splat(-87.3f);
    x = sel(dead, splat(-87.3f), x);
    x = sel(x > splat(88.0f), splat(88.0f), x);       /* saturate at exp(88) rather than overflow the exponent */
    v4f t = x * splat(1.44269504088896341f) + shifter;
    v4f k = t - shifter;
    v4f r = x - k * splat(0.693145751953125f);
    r = r - k * splat(1.428606765330187045e-06f);
    v4f p = splat(1.0f / 5040.0f);
    p = p * r + splat(1.0f / 720.0f);
    p = p * r + splat(1.0f / 120.0f);
    p = p * r + splat(1.0f / 24.0f);
    p = p * r + splat(1.0f / 6.0f);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    v4i ki;                                          /* t's low mantissa bits hold k: bits(t) = 0x4B400000 + k */
    memcpy(&ki, &t, sizeof ki);
    v4i bits = (ki - 0x4B400000 + 127) << 23;
    v4f scale;
    memcpy(&scale, &bits, sizeof scale);
    return sel(dead, splat(0.0f), p * scale);
}

static inline float exp1(float x) { return exp4(splat(x))[0]; }

double ap_kern_exp_sum(float *x, int64_t n)
{
    double total = 0;
    int64_t i = 0;
    while (i + W <= n) {
        v4f acc0 = splat(0.0f), acc1 = splat(0.0f);
        int64_t end = i + BLOCK <= n ? i + BLOCK : n - (n - i) % W;
        for (; i + 2 * W <= end; i += 2 * W) {
            v4f y0 = exp4(load4(x + i)), y1 = exp4(load4(x + i + W));
            store4(x + i, y0);
            store4(x + i + W, y1);
            acc0 += y0;
            acc1 += y1;
        }
        for (; i < end; i += W) {
            v4f y = exp4(load4(x + i));
            store4(x + i, y);
            acc0 += y;
        }
        total += hsum(acc0 + acc1);
    }
    for (; i < n; i++) {
        x[i] = exp1(x[i]);
        total += x[i];
    }
    return total;
}

float ap_kern_max(const float *x, int64_t n)
{
    float m = -INFINITY;
    int64_t i = 0;
    if (n >= W) {
        v4f mv = load4(x);
        for (i = W; i + W <= n; i += W) {
            v4f v = load4(x + i);
            mv = sel(v > mv, v, mv);
        }
        for (int l = 0; l < W; l++) m = mv[l] > m ? mv[l] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static void add_scalar(float *dst, const float *src, int64_t n, float c)
{
    int64_t i = 0;
    for (; i + W <= n; i += W) store4(dst + i, load4(src + i) + splat(c));
    for (; i < n; i++) dst[i] = src[i] + c;
}

void ap_kern_softmax_causal(float *x, int64_t n, int64_t len)
{
    add_scalar(x, x, n, -ap_kern_max(x, n));
    float inv = (float)(1.0 / ap_kern_exp_sum(x, n));
    int64_t i = 0;
    for (; i + W <= n; i += W) store4(x + i, load4(x + i) * splat(inv));
    for (; i < n; i++) x[i] *= inv;
    if (len > n) memset(x + n, 0, (size_t)(len - n) * sizeof *x);
}

double ap_kern_logsumexp(const float *x, int64_t n, float *scratch)
{
    float m = ap_kern_max(x, n);
    add_scalar(scratch, x, n, -m);
    return (double)m + log(ap_kern_exp_sum(scratch, n));
}

void ap_kern_rmsnorm(float *y, const float *x, const float *w, int64_t n, double eps)
{
    double ss = 0;
    int64_t i = 0;
    while (i + W <= n) {
        v4f acc = splat(0.0f);
        int64_t end = i + BLOCK <= n ? i + BLOCK : n - (n - i) % W;
        for (; i < end; i += W) {
            v4f v = load4(x + i);
            acc += v * v;
        }
        ss += hsum(acc);
    }
    for (; i < n; i++) ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (i = 0; i + W <= n; i += W) store4(y + i, (load4(x + i) * splat(r)) * load4(w + i));
    for (; i < n; i++) y[i] = (x[i] * r) * w[i];
}

void ap_kern_rope(float *x, const float *cos, const float *sin, int64_t d)
{
    int64_t h = d / 2, i = 0;
    float *a = x, *b = x + h;
    for (; i + W <= h; i += W) {
        v4f av = load4(a + i), bv = load4(b + i), c = load4(cos + i), s = load4(sin + i);
        store4(a + i, av * c - bv * s);
        store4(b + i, bv * c + av * s);
    }
    for (; i < h; i++) {
        float av = a[i], bv = b[i];
        a[i] = av * cos[i] - bv * sin[i];
        b[i] = bv * cos[i] + av * sin[i];
    }
}

void ap_kern_swiglu(float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        v4f x = load4(g + i);
        store4(g + i, x / (splat(1.0f) + exp4(-x)) * load4(u + i));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + exp1(-g[i])) * u[i];
}
