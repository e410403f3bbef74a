/* ap_error.c — filling and naming ap_error records. */
#include "ap_error.h"

#include <stdio.h>
#include <string.h>

ap_status ap_error_vset(ap_error *err, ap_status code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        err->line = 0;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

ap_status ap_error_set(ap_error *err, ap_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ap_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void ap_error_clear(ap_error *err)
{
    if (err) {
        err->code = AP_OK;
        err->line = 0;
        err->msg[0] = '\0';
    }
}

const char *ap_status_name(ap_status code)
{
    static const char *const names[] = {
        "ok",     "syntax",      "runtime", "limit", "shape", "nonfinite", "type",        "io",
        "format", "unsupported", "arg",     "nomem", "net",   "reply",     "interrupted",
    };
    if ((unsigned)code < sizeof names / sizeof names[0])
        return names[code];
    return "unknown";
}
