/* ap_error.h — the error record every library function fills: a kind, a message naming file/field/line. */
#ifndef AP_ERROR_H
#define AP_ERROR_H

#include <stdarg.h>

/* Error kinds. The first six are the metric contract's kinds; the rest serve the native core. */
typedef enum {
    AP_OK = 0,
    AP_E_SYNTAX,      /* a script does not parse */
    AP_E_RUNTIME,     /* a script raised an error */
    AP_E_LIMIT,       /* a sandbox limit was exceeded (instructions, time, memory, work, output) */
    AP_E_SHAPE,       /* tensor shapes do not match / do not broadcast */
    AP_E_NONFINITE,   /* NaN or Inf where finite values are required */
    AP_E_TYPE,        /* a value of the wrong type */
    AP_E_IO,          /* a file could not be read or written */
    AP_E_FORMAT,      /* a file's contents are malformed */
    AP_E_UNSUPPORTED, /* well-formed but not supported (dtype, architecture, option) */
    AP_E_ARG,         /* a bad argument from the caller */
    AP_E_NOMEM,       /* an allocation failed */
    AP_E_NET,         /* a network / HTTP failure */
    AP_E_REPLY,       /* an LLM reply that is malformed, empty or truncated */
    AP_E_INTERRUPTED  /* stopped from outside (another thread, a signal) */
} ap_status;

#define AP_ERROR_MSG_MAX 512

typedef struct ap_error {
    ap_status code;
    int line; /* script line, or 0 where there is none */
    char msg[AP_ERROR_MSG_MAX];
} ap_error;

/* Fill err (may be NULL) and return code, so callers can write `return ap_error_set(err, ...)`. */
ap_status ap_error_set(ap_error *err, ap_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
ap_status ap_error_vset(ap_error *err, ap_status code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void ap_error_clear(ap_error *err);
/* The contract's name of a kind: "syntax", "runtime", "limit", "shape", "nonfinite", "type", "io", ... */
const char *ap_status_name(ap_status code);

#endif
