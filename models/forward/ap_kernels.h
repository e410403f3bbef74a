/* ap_kernels.h — the elementwise float32 kernels of the forward pass (RMSNorm, RoPE, softmax, log-sum-exp),
 * written with GCC vector extensions so they are vectorised at any optimisation level. */
#ifndef AP_KERNELS_H
#define AP_KERNELS_H

#include <stdint.h>

/* y[i] = (x[i] * r) * w[i] with r = 1/sqrt(mean(x^2) + eps), the order Hugging Face's LlamaRMSNorm uses;
 * the mean of squares is summed in double. x and y may be the same row. */
void ap_kern_rmsnorm(float *y, const float *x, const float *w, int64_t n, double eps);
/* g[i] = silu(g[i]) * u[i] with silu(x) = x / (1 + exp(-x)): the SwiGLU MLP's gate. */
void ap_kern_swiglu(float *g, const float *u, int64_t n);
/* exp(x) in place, relative error about 1 ulp (below -87.3 the result is 0, above 88 it saturates at exp(88));
 * returns the sum of the results (blocks summed in float, added up in double). */
double ap_kern_exp_sum(float *x, int64_t n);
float ap_kern_max(const float *x, int64_t n);
/* In-place softmax of x[0..n) (max subtracted first); x[n..len) set to 0 (the causal mask's tail). */
void ap_kern_softmax_causal(float *x, int64_t n, int64_t len);
/* log(sum(exp(x))) of a row, computed without changing x (scratch: n floats). */
double ap_kern_logsumexp(const float *x, int64_t n, float *scratch);
/* RoPE, rotate-half convention: for i < d/2, (a, b) = (x[i], x[i + d/2]) becomes
 * (a*cos[i] - b*sin[i], b*cos[i] + a*sin[i]). cos/sin hold d/2 values of one position. */
void ap_kern_rope(float *x, const float *cos, const float *sin, int64_t d);

#endif
