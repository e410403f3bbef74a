/* sparsegpt_driver.c — a tiny CLI around ap_sparsegpt_prune for tests/prune/test_sparsegpt_oracle.py:
 * reads W (float32 [out, in]) and H (float64 [in, in]) as raw little-endian files, prunes, writes W back.
 * Usage: sparsegpt_driver W.f32 H.f64 OUT.f32 out in sparsity n m blocksize percdamp */
#include <stdio.h>
#include <stdlib.h>

#include "ap_sparsegpt.h"

static void *read_all(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    void *buf = malloc(bytes);
    if (!f || !buf || fread(buf, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", bytes, path);
        exit(1);
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 11) {
        fprintf(stderr, "usage: %s W.f32 H.f64 OUT.f32 out in sparsity n m blocksize percdamp\n", argv[0]);
        return 2;
    }
    long long out = atoll(argv[4]), in = atoll(argv[5]);
    float *W = read_all(argv[1], sizeof(float) * (size_t)(out * in));
    double *H = read_all(argv[2], sizeof(double) * (size_t)(in * in));
    ap_error err = {0};
    ap_status st = ap_sparsegpt_prune(W, out, in, H, atof(argv[6]), atoi(argv[7]), atoi(argv[8]), atoi(argv[9]),
                                      atof(argv[10]), &err);
    if (st != AP_OK) {
        fprintf(stderr, "%s: %s\n", ap_status_name(st), err.msg);
        return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(W, sizeof(float), (size_t)(out * in), f) != (size_t)(out * in) || fclose(f) != 0)
        return 1;
    free(W);
    free(H);
    return 0;
}
