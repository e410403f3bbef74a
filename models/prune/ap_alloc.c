/* ap_alloc.c — per-layer sparsity allocation: uniform, OWL, SDSA, and the exact parameter-weighted budget. */
#include "ap_alloc.h"

#include <math.h>
#include <stdlib.h>

static ap_status alloc_check(const double *s, const int64_t *numel, int n, double target, double lo, double hi,
                             ap_error *err)
{
    if (!s || n <= 0)
        return ap_error_set(err, AP_E_ARG, "alloc: no units (n = %d)", n);
    if (!(lo >= 0.0 && lo <= target && target <= hi && hi < 1.0))
        return ap_error_set(err, AP_E_ARG, "alloc: need 0 <= lo (%g) <= target (%g) <= hi (%g) < 1", lo, target, hi);
    for (int i = 0; i < n; i++) {
        if (numel && numel[i] <= 0)
            return ap_error_set(err, AP_E_ARG, "alloc: unit %d has %lld parameters", i, (long long)numel[i]);
    }
    return AP_OK;
}

static double unit_weight(const int64_t *numel, int i) { return numel ? (double)numel[i] : 1.0; }

double ap_alloc_weighted_mean(const double *s, const int64_t *numel, int n)
{
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n; i++) {
        num += unit_weight(numel, i) * s[i];
        den += unit_weight(numel, i);
    }
    return den > 0.0 ? num / den : 0.0;
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* f(c) = Σ w_i clamp(s_i + c) − target·Σ w_i: non-decreasing in c. */
static double budget_gap(const double *s, const int64_t *numel, int n, double c, double target, double lo, double hi)
{
    double sum = 0.0, wsum = 0.0;
    for (int i = 0; i < n; i++) {
        sum += unit_weight(numel, i) * clampd(s[i] + c, lo, hi);
        wsum += unit_weight(numel, i);
    }
    return sum - target * wsum;
}

ap_status ap_alloc_renormalise(double *s, const int64_t *numel, int n, double target, double lo, double hi,
                               ap_error *err)
{
    ap_status st = alloc_check(s, numel, n, target, lo, hi, err);
    if (st != AP_OK)
        return st;
    double smin = INFINITY, smax = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(s[i]))
            return ap_error_set(err, AP_E_NONFINITE, "alloc: sparsity of unit %d is not finite", i);
        smin = fmin(smin, s[i]);
        smax = fmax(smax, s[i]);
    }
    /* f(a) <= 0 (everything at lo) and f(b) >= 0 (everything at hi): bisect, then solve the last linear piece. */
    double a = lo - smax, b = hi - smin;
    for (int it = 0; it < 200 && b - a > 0.0; it++) {
        double mid = a + 0.5 * (b - a);
        if (mid <= a || mid >= b)
            break;
        if (budget_gap(s, numel, n, mid, target, lo, hi) < 0.0)
            a = mid;
        else
            b = mid;
    }
    double c = a + 0.5 * (b - a), free_w = 0.0;
    for (int i = 0; i < n; i++)
        if (s[i] + c > lo && s[i] + c < hi)
            free_w += unit_weight(numel, i);
    if (free_w > 0.0)
        c -= budget_gap(s, numel, n, c, target, lo, hi) / free_w;
    for (int i = 0; i < n; i++)
        s[i] = clampd(s[i] + c, lo, hi);
    return AP_OK;
}

ap_status ap_alloc_uniform(double *s, int n, double target, ap_error *err)
{
    ap_status st = alloc_check(s, NULL, n, target, target, target, err);
    if (st != AP_OK)
        return st;
    for (int i = 0; i < n; i++)
        s[i] = target;
    return AP_OK;
}

ap_status ap_alloc_owl(double *s, const double *D, const int64_t *numel, int n, double target, double lambda, double lo,
                       double hi, ap_error *err)
{
    ap_status st = alloc_check(s, numel, n, target, lo, hi, err);
    if (st != AP_OK)
        return st;
    if (!D)
        return ap_error_set(err, AP_E_ARG, "owl: outlier ratios are required");
    if (!(lambda >= 0.0) || !isfinite(lambda))
        return ap_error_set(err, AP_E_ARG, "owl: lambda %g", lambda);
    double dmin = INFINITY, dmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(D[i]))
            return ap_error_set(err, AP_E_NONFINITE, "owl: outlier ratio of block %d", i);
        dmin = fmin(dmin, D[i]);
        dmax = fmax(dmax, D[i]);
    }
    /* s = 1 − density = S − (r − mean r): computed as the offset so the unclamped case is the formula verbatim */
    for (int i = 0; i < n; i++)
        s[i] = dmax > dmin ? (D[i] - dmin) / (dmax - dmin) * 2.0 * lambda : 0.0;
    double rmean = ap_alloc_weighted_mean(s, numel, n);
    int inside = 1;
    for (int i = 0; i < n; i++) {
        s[i] = 1.0 - (s[i] - rmean + (1.0 - target));
        inside &= s[i] >= lo && s[i] <= hi;
    }
    return inside ? AP_OK : ap_alloc_renormalise(s, numel, n, target, lo, hi, err);
}

ap_status ap_alloc_outlier_ratio(const float *const *scores, const int64_t *len, int k, double M, double *D,
                                 ap_error *err)
{
    if (!scores || !len || !D || k <= 0)
        return ap_error_set(err, AP_E_ARG, "owl: no score arrays");
    double sum = 0.0;
    int64_t total = 0;
    for (int j = 0; j < k; j++) {
        if (len[j] < 0 || (len[j] > 0 && !scores[j]))
            return ap_error_set(err, AP_E_ARG, "owl: score array %d is missing", j);
        for (int64_t i = 0; i < len[j]; i++) {
            if (!isfinite(scores[j][i]))
                return ap_error_set(err, AP_E_NONFINITE, "owl: score %lld of array %d is not finite", (long long)i, j);
            sum += scores[j][i];
        }
        total += len[j];
    }
    if (total == 0)
        return ap_error_set(err, AP_E_ARG, "owl: no scores");
    double thr = M * (sum / (double)total);
    int64_t above = 0;
    for (int j = 0; j < k; j++)
        for (int64_t i = 0; i < len[j]; i++)
            above += scores[j][i] > thr;
    *D = (double)above / (double)total;
    return AP_OK;
}

ap_status ap_alloc_moments_pooled(const float *const *x, const int64_t *len, int k, int absval, ap_alloc_moments *m,
                                  ap_error *err)
{
    if (!x || !len || !m || k <= 0)
        return ap_error_set(err, AP_E_ARG, "moments: no arrays");
    double s1 = 0.0;
    int64_t n = 0;
    for (int j = 0; j < k; j++) {
        if (len[j] < 0 || (len[j] > 0 && !x[j]))
            return ap_error_set(err, AP_E_ARG, "moments: array %d missing", j);
        for (int64_t i = 0; i < len[j]; i++) {
            double v = absval ? fabs((double)x[j][i]) : (double)x[j][i];
            if (!isfinite(v))
                return ap_error_set(err, AP_E_NONFINITE, "moments: value %lld of array %d is not finite", (long long)i,
                                    j);
            s1 += v;
        }
        n += len[j];
    }
    if (n == 0)
        return ap_error_set(err, AP_E_ARG, "moments: no values");
    double mean = s1 / (double)n, m2 = 0.0, m3 = 0.0, m4 = 0.0;
    for (int j = 0; j < k; j++)
        for (int64_t i = 0; i < len[j]; i++) {
            double d = (absval ? fabs((double)x[j][i]) : (double)x[j][i]) - mean, d2 = d * d;
            m2 += d2;
            m3 += d2 * d;
            m4 += d2 * d2;
        }
    m2 /= (double)n;
    m3 /= (double)n;
    m4 /= (double)n;
    *m = (ap_alloc_moments){.n = n, .mean = mean, .std = sqrt(m2)};
    if (m2 > 0.0) {
        m->skew = m3 / pow(m2, 1.5);
        m->kurt = m4 / (m2 * m2) - 3.0;
    }
    return AP_OK;
}

/* Tuned on WikiText-2 validation (Wanda at 70% on ap-small; doc/results.md, "SDSA tuning"): per linear beat per
 * block, τ = 2 beat 0.5 and 1, λ = 0.16 beat 0.08, 0.12 and 0.24. */
void ap_sdsa_defaults(ap_sdsa_params *p)
{
    *p = (ap_sdsa_params){.tau = 2.0,
                          .lambda = 0.16,
                          .lo = 0.0,
                          .hi = 0.99,
                          .source = AP_SDSA_SRC_WEIGHT,
                          .granularity = AP_ALLOC_PER_LINEAR};
}

ap_status ap_alloc_sdsa(double *s, const double *skew, const int64_t *numel, int n, double target,
                        const ap_sdsa_params *p, ap_error *err)
{
    if (!p || !skew)
        return ap_error_set(err, AP_E_ARG, "sdsa: parameters and skews are required");
    ap_status st = alloc_check(s, numel, n, target, p->lo, p->hi, err);
    if (st != AP_OK)
        return st;
    if (!(p->tau > 0.0) || !isfinite(p->tau))
        return ap_error_set(err, AP_E_ARG, "sdsa: tau %g must be > 0", p->tau);
    if (!(p->lambda >= 0.0) || !isfinite(p->lambda))
        return ap_error_set(err, AP_E_ARG, "sdsa: lambda %g must be >= 0", p->lambda);
    for (int i = 0; i < n; i++)
        if (!isfinite(skew[i]))
            return ap_error_set(err, AP_E_NONFINITE, "sdsa: skew of unit %d is not finite", i);

    /* standardise (weighted), so τ means the same on every model */
    double mu = ap_alloc_weighted_mean(skew, numel, n), var = 0.0, wsum = 0.0;
    for (int i = 0; i < n; i++) {
        var += unit_weight(numel, i) * (skew[i] - mu) * (skew[i] - mu);
        wsum += unit_weight(numel, i);
    }
    double sd = sqrt(var / wsum);
    for (int i = 0; i < n; i++)
        s[i] = target;
    if (!(sd > 0.0) || p->lambda == 0.0)
        return AP_OK;

    /* p = softmax(z/τ), computed with the max subtracted; s holds p for now */
    double zmax = -INFINITY, psum = 0.0;
    for (int i = 0; i < n; i++)
        zmax = fmax(zmax, (skew[i] - mu) / sd / p->tau);
    for (int i = 0; i < n; i++)
        psum += s[i] = exp((skew[i] - mu) / sd / p->tau - zmax);
    for (int i = 0; i < n; i++)
        s[i] /= psum;
    double pmean = ap_alloc_weighted_mean(s, numel, n), dev = 0.0;
    for (int i = 0; i < n; i++)
        dev = fmax(dev, fabs(s[i] - pmean));
    for (int i = 0; i < n; i++)
        s[i] = dev > 0.0 ? target - p->lambda * (s[i] - pmean) / dev : target;
    return ap_alloc_renormalise(s, numel, n, target, p->lo, p->hi, err);
}
