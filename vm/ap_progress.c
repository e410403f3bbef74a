/* ap_progress.c — the progress bar of ap_progress.h: rate from the start of the step, ETA from the rate. */
#include "ap_progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ap_clock.h"

#define BAR 24 /* characters of the bar; the whole line stays under 80 columns */

int ap_progress_wanted(int quiet) { return !quiet && isatty(STDERR_FILENO); }

void ap_progress_start(ap_progress *p, int on, const char *label, const char *unit)
{
    memset(p, 0, sizeof *p);
    p->on = on;
    if (!on)
        return;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->unit = unit ? unit : "";
    p->t0 = p->last_draw = ap_clock_seconds();
    fprintf(stderr, "\r\033[K%s ...", p->label);
    p->drawn = 1;
}

/* "12s", "3m05s", "2h07m". */
static void fmt_duration(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

void ap_progress_update(void *ud, int64_t done, int64_t total)
{
    ap_progress *p = ud;
    if (!p || !p->on)
        return;
    double t = ap_clock_seconds();
    int last = total > 0 && done >= total;
    if (p->drawn > 1 && !last && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    p->drawn = 2;
    char bar[BAR + 1];
    int fill = total > 0 ? (int)(BAR * (done < total ? done : total) / total) : 0;
    for (int i = 0; i < BAR; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR] = '\0';
    double el = t - p->t0;
    double rate = el > 0 ? (double)done / el : 0;
    double shown = rate * (p->rate_scale > 0 ? p->rate_scale : 1);
    char eta[16];
    if (last)
        snprintf(eta, sizeof eta, "0s");
    else if (rate > 0)
        fmt_duration(eta, sizeof eta, (double)(total - done) / rate);
    else
        snprintf(eta, sizeof eta, "?");
    fprintf(stderr, "\r\033[K%-10s [%s] %lld/%lld %s  %.*f %s/s  ETA %s", p->label, bar, (long long)done,
            (long long)total, p->unit, shown < 10 ? 1 : 0, shown, p->rate_unit ? p->rate_unit : p->unit, eta);
}

void ap_progress_done(ap_progress *p)
{
    if (p && p->on && p->drawn)
        fprintf(stderr, "\r\033[K");
    if (p)
        p->drawn = 0;
}
