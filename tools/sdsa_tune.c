/* sdsa_tune.c — tune SDSA's parameters on WikiText-2 *validation* (never test): for each configuration, prune a
 * fresh copy of the model (sequential, the protocol's calibration) and print the validation perplexity and the
 * per-block targets as one JSON line. Built and run by tools/sdsa_tune.sh.
 * Usage: sdsa_tune MODEL METRIC SPARSITY MAX_WINDOWS CONFIG...
 *   CONFIG = uniform | owl | sdsa:TAU:LAMBDA:block|linear[:LO:HI] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_paths.h"
#include "ap_prune_run.h"

static int parse_config(const char *cfg, ap_prune_run_opts *o)
{
    ap_alloc_spec_default(&o->alloc_spec);
    if (!strcmp(cfg, "uniform") || !strcmp(cfg, "owl")) {
        o->alloc = cfg;
        return 0;
    }
    char gran[16] = "block";
    double lo = 0.0, hi = 0.99;
    ap_sdsa_params *p = &o->alloc_spec.sdsa;
    int k = sscanf(cfg, "sdsa:%lf:%lf:%15[a-z]:%lf:%lf", &p->tau, &p->lambda, gran, &lo, &hi);
    if (k < 2)
        return -1;
    p->granularity = !strcmp(gran, "linear") ? AP_ALLOC_PER_LINEAR : AP_ALLOC_PER_BLOCK;
    p->lo = o->alloc_spec.lo = lo;
    p->hi = o->alloc_spec.hi = hi;
    o->alloc = "sdsa";
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s MODEL METRIC SPARSITY MAX_WINDOWS CONFIG...\n", argv[0]);
        return 2;
    }
    char valid[4096];
    if (!ap_datapath(valid, sizeof valid, "data/wikitext-2-raw/wiki.valid.raw"))
        return 1;
    for (int c = 5; c < argc; c++) {
        ap_error err = {0};
        ap_model *m = NULL;
        ap_prune_run_opts o;
        ap_prune_run_opts_default(&o);
        o.metric = argv[2];
        o.sparsity = atof(argv[3]);
        if (parse_config(argv[c], &o)) {
            fprintf(stderr, "bad config %s\n", argv[c]);
            return 2;
        }
        ap_prune_run_result r;
        ap_ppl_result ppl;
        ap_status st = ap_model_load(&m, argv[1], &err);
        if (!st)
            st = ap_prune_run(m, &o, &r, &err);
        if (!st)
            st = ap_prune_run_eval(m, valid, 0, atoll(argv[4]), NULL, NULL, &ppl, &err);
        if (st) {
            printf("{\"config\":\"%s\",\"error\":\"%s\"}\n", argv[c], err.msg);
        } else {
            printf("{\"config\":\"%s\",\"metric\":\"%s\",\"sparsity\":%g,\"valid_ppl\":%.4f,\"windows\":%lld,"
                   "\"realised\":%.6f,\"targets\":[",
                   argv[c], argv[2], o.sparsity, ppl.ppl, (long long)ppl.windows, r.rep.realised);
            for (int l = 0; l < m->cfg.n_layers * AP_LIN_COUNT; l++)
                printf("%s%.4f", l ? "," : "", r.targets[l]);
            printf("]}\n");
            ap_prune_run_result_free(&r);
        }
        fflush(stdout);
        ap_model_free(m);
    }
    return 0;
}
