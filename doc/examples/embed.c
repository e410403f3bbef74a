/* embed.c — an example program that embeds autoprune: it loads a pruning metric from a string, scores its own
 * weights and input statistics with it, prints the scores and the weights a 50% per-row pruning would remove,
 * then shows how a failing script is reported.
 *
 * Build against an installed autoprune (shared library):
 *     cc embed.c $(pkg-config --cflags --libs autoprune) -o embed
 * or statically:
 *     cc embed.c $(pkg-config --cflags autoprune) -Wl,-Bstatic -lautoprune -Wl,-Bdynamic \
 *        $(pkg-config --static --libs autoprune) -o embed
 * (with PKG_CONFIG_PATH=<prefix>/lib/pkgconfig when the prefix is not a system one). */
#include <autoprune.h>
#include <stdio.h>

enum { OUT = 2, IN = 4 };

/* Wanda (Sun et al. 2023): |W_ij| * ||X_j||_2, compared within each output row. */
static const char *const wanda_src =
    "return {\n"
    "  group = 'row',\n"
    "  score = function(W, X, info) return W:abs() * X.l2 end,\n"
    "}\n";

/* A script with a bug on line 2, to show the error report. */
static const char *const broken_src =
    "return function(W, X, info)\n"
    "  return W:abs() * X.no_such_statistic\n"
    "end\n";

static void report(const ap_sandbox *sb, const char *what)
{
    const char *msg = NULL;
    int line = 0;
    int kind = ap_sandbox_error(sb, &msg, &line);
    printf("%s: error kind=%s line=%d: %s\n", what, ap_kind_name(kind), line, msg ? msg : "");
}

/* Print scores and, per row, the IN/2 lowest-scoring columns (ties to the lower index): what 50% would prune. */
static void print_scores(const float *S)
{
    for (int i = 0; i < OUT; i++) {
        printf("row %d scores:", i);
        for (int j = 0; j < IN; j++)
            printf(" %g", S[i * IN + j]);
        printf("  pruned:");
        for (int j = 0; j < IN; j++) {
            int lower = 0;                   /* columns ranked below j */
            for (int k = 0; k < IN; k++)
                lower += S[i * IN + k] < S[i * IN + j] || (S[i * IN + k] == S[i * IN + j] && k < j);
            if (lower < IN / 2)
                printf(" %d", j);
        }
        printf("\n");
    }
}

int main(void)
{
    printf("autoprune %s\n", ap_version());
    ap_sandbox *sb = ap_sandbox_new(NULL);              /* default limits; ours to free */
    if (!sb) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    const float W[OUT * IN] = {1, -2, 3, -4,
                               0.5f, 6, -7, 8};         /* [out, in], row-major; borrowed by each call */
    const float l2[IN] = {1, 0.5f, 2, 0.25f};           /* ||X_j||_2 per input channel */
    ap_xstats X = {0};
    X.l2 = l2;
    X.tokens = 256;
    ap_layer_info info = {1, 2, "q_proj", 0.5};
    float S[OUT * IN];                                  /* our buffer; the sandbox writes the scores */

    int status = 0;
    if (ap_sandbox_load_string(sb, wanda_src, 0, "wanda") != AP_KIND_OK) {
        report(sb, "load wanda");
        status = 1;
    } else if (ap_sandbox_score(sb, W, OUT, IN, &X, &info, S) != AP_KIND_OK) {
        report(sb, "score wanda");
        status = 1;
    } else {
        printf("metric wanda, group %s (declared %d)\n", ap_sandbox_group(sb), ap_sandbox_group_declared(sb));
        print_scores(S);
    }

    /* The broken script loads (it returns a function) but fails when it scores. */
    if (ap_sandbox_load_string(sb, broken_src, 0, "broken") != AP_KIND_OK)
        report(sb, "load broken");
    else if (ap_sandbox_score(sb, W, OUT, IN, &X, &info, S) != AP_KIND_OK)
        report(sb, "score broken");
    else {
        printf("score broken: unexpectedly succeeded\n");
        status = 1;
    }
    ap_sandbox_free(sb);
    return status;
}
