/* fuzz_sandbox.c — libFuzzer target: metric loading and scoring in the sandbox (parser, environment, limits,
 * result checks), with tight limits so every input finishes fast. Uses only autoprune.h. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "autoprune.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An error must be one of the documented kinds with a non-empty one-line message. */
static void check_error(ap_sandbox *sb, int kind)
{
    const char *msg;
    int line;
    if (ap_sandbox_error(sb, &msg, &line) != kind || kind == AP_KIND_OK)
        __builtin_trap();
    if (kind != AP_KIND_SYNTAX && kind != AP_KIND_RUNTIME && kind != AP_KIND_LIMIT && kind != AP_KIND_SHAPE &&
        kind != AP_KIND_NONFINITE && kind != AP_KIND_TYPE)
        __builtin_trap();
    if (!msg[0] || strchr(msg, '\n') || line < 0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ap_limits lim;
    ap_limits_default(&lim);
    lim.instructions = 1000000;
    lim.wall_ms = 2000;
    lim.heap_bytes = 16u << 20;
    lim.tensor_bytes = 16u << 20;
    lim.work = 10000000;
    lim.output_bytes = 4096;
    ap_sandbox *sb = ap_sandbox_new(&lim);
    if (!sb)
        return 0;
    int kind = size == 0 ? ap_sandbox_load_string(sb, "", 0, "fuzz")
                         : ap_sandbox_load_string(sb, (const char *)data, size, "fuzz");
    if (kind != AP_KIND_OK) {
        if (size > 0 && memchr(data, '\0', size) == NULL)
            check_error(sb, kind);
        ap_sandbox_free(sb);
        return 0;
    }
    enum { OUT = 8, IN = 16 };
    float W[OUT * IN], S[OUT * IN], l2[IN], stat[IN];
    for (int i = 0; i < OUT * IN; i++)
        W[i] = (float)((i * 37 % 23) - 11) / 7.0f;
    for (int j = 0; j < IN; j++) {
        l2[j] = 1.0f + (float)j;
        stat[j] = (float)j / 4.0f - 1.0f;
    }
    ap_xstats X = {.l2 = l2, .mean = stat, .std = l2, .absmax = l2, .skew = stat, .kurt = stat, .tokens = 64};
    ap_layer_info info = {2, 4, "up_proj", 0.5};
    kind = ap_sandbox_score(sb, W, OUT, IN, &X, &info, S);
    if (kind == AP_KIND_OK) {
        for (int i = 0; i < OUT * IN; i++)
            if (!isfinite(S[i]))
                __builtin_trap();
    } else {
        check_error(sb, kind);
    }
    ap_sandbox_free(sb);
    return 0;
}
