/* alloc_driver.c — runs allocation scripts the way `autoprune prune --alloc FILE` does
 * (ap_prune_run_alloc_script with the allocation defaults, then ap_alloc_units_targets) on eight synthetic block
 * units, one script after another in one process. Prints one JSON line per script, {"ok":true} or
 * {"ok":false,"kind":"limit","line":3,"message":"..."}; exits 1 when any script failed. */
#include <stdio.h>
#include <string.h>

#include "ap_alloc_model.h"
#include "ap_prune_run.h"

enum { NL = 8 };

/* msg as a JSON string: quotes, backslashes, control and non-ASCII bytes escaped. */
static void print_json_string(const char *msg)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static int run_one(const char *path, ap_alloc_units *units)
{
    double values[NL], targets[NL * AP_LIN_COUNT];
    ap_error err = {0};
    ap_status st = ap_prune_run_alloc_script(units, path, NULL, NULL, values, &err);
    if (!st)
        st = ap_alloc_units_targets(units, values, targets, &err);
    if (!st) {
        printf("{\"ok\":true}\n");
        return 0;
    }
    printf("{\"ok\":false,\"kind\":\"%s\",\"line\":%d,\"message\":", ap_status_name(st), err.line);
    print_json_string(err.msg);
    printf("}\n");
    return 1;
}

int main(int argc, char **argv)
{
    ap_alloc_unit unit[NL];
    for (int i = 0; i < NL; i++)
        unit[i] = (ap_alloc_unit){.layer = i + 1,
                                  .name = "block",
                                  .numel = 1000000,
                                  .w_skew = 2.0 + 0.1 * i,
                                  .w_kurt = 3.0,
                                  .w_mean = 0.02,
                                  .w_std = 0.015,
                                  .outlier_ratio = 0.01};
    ap_alloc_units units = {.unit = unit, .n = NL, .n_layers = NL, .target = 0.5, .lo = 0.0, .hi = 0.99};
    int failed = 0;
    for (int i = 1; i < argc; i++) {
        failed |= run_one(argv[i], &units);
        fflush(stdout);
    }
    return failed;
}
