/* ap_metric.c — the one resolver of metric arguments (file, NAME, source, native:*, sparsegpt). */
#include "ap_metric.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ap_paths.h"

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Plain characters only, so a NAME cannot climb out of lua/metrics/. */
static int is_name(const char *t)
{
    return t[strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] == '\0';
}

/* One word ending in .lua or holding a '/': meant as a file, never as source. */
static int looks_like_path(const char *t)
{
    size_t n = strlen(t);
    if (t[strcspn(t, " \t\r\n")] != '\0')
        return 0;
    return strchr(t, '/') || (n > 4 && !strcmp(t + n - 4, ".lua"));
}

static ap_status set_path(ap_metric_spec *s, const char *path, ap_error *err)
{
    if ((size_t)snprintf(s->path, sizeof s->path, "%s", path) >= sizeof s->path)
        return ap_error_set(err, AP_E_ARG, "metric path too long: %.200s", path);
    return AP_OK;
}

static ap_status resolve_native(ap_metric_spec *s, const char *text, ap_error *err)
{
    s->kind = AP_METRIC_NATIVE;
    if (!strcmp(text, "native:magnitude"))
        s->native = ap_score_magnitude;
    else if (!strcmp(text, "native:wanda"))
        s->native = ap_score_wanda;
    else
        return ap_error_set(err, AP_E_ARG, "metric '%.200s': no such native metric (native:wanda, native:magnitude)",
                            text);
    return AP_OK;
}

static ap_status resolve_name(ap_metric_spec *s, const char *text, ap_error *err)
{
    char rel[256];
    s->kind = AP_METRIC_NAME;
    if ((size_t)snprintf(rel, sizeof rel, "lua/metrics/%s.lua", text) >= sizeof rel)
        return ap_error_set(err, AP_E_ARG, "metric name too long: %.200s", text);
    if (!ap_datapath(s->path, sizeof s->path, rel))
        return ap_error_set(err, AP_E_IO, "metric '%s': no data dir holding lua/ was found", text);
    if (!is_file(s->path))
        return ap_error_set(err, AP_E_IO, "metric '%s': no such file, and no shipped metric %s", text, s->path);
    return AP_OK;
}

ap_status ap_metric_spec_resolve(ap_metric_spec *s, const char *text, ap_error *err)
{
    memset(s, 0, sizeof *s);
    s->text = text;
    if (!text || !*text)
        return ap_error_set(err, AP_E_ARG, "no metric given");
    if (is_file(text)) {
        s->kind = AP_METRIC_FILE;
        return set_path(s, text, err);
    }
    if (!strncmp(text, "native:", 7))
        return resolve_native(s, text, err);
    if (!strcmp(text, "sparsegpt")) {
        s->kind = AP_METRIC_SPARSEGPT;
        return AP_OK;
    }
    if (is_name(text))
        return resolve_name(s, text, err);
    if (looks_like_path(text)) {
        s->kind = AP_METRIC_FILE;
        return ap_error_set(err, AP_E_IO, "metric file '%.200s': no such file", text);
    }
    s->kind = AP_METRIC_SOURCE;
    return AP_OK;
}

ap_status ap_metric_spec_source(ap_metric_spec *s, const char *text, ap_error *err)
{
    memset(s, 0, sizeof *s);
    s->text = text;
    s->kind = AP_METRIC_SOURCE;
    if (!text || !*text)
        return ap_error_set(err, AP_E_ARG, "no metric source given");
    return AP_OK;
}

const char *ap_metric_kind_name(ap_metric_kind k)
{
    static const char *const names[] = {"file", "name", "source", "native", "sparsegpt"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}
