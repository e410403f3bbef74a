/* ap_progress.h — the one progress bar of autoprune: a single line on stderr with a bar, counts, rate and ETA,
 * drawn only when it was asked for (not --quiet, not --json) and stderr is a terminal; never in a pipe. Used by
 * the CLI commands (prune, eval) and by ap.model's calibrate/eval/prune, so every long step looks the same:
 *
 *     prune      [############............]  12/28 linears  9.5/s  ETA 2s
 */
#ifndef AP_PROGRESS_H
#define AP_PROGRESS_H

#include <stdint.h>

typedef struct ap_progress {
    int on;                /* draw at all (see ap_progress_wanted) */
    char label[32];        /* the step, e.g. "calibrate" */
    const char *unit;      /* what is counted, e.g. "windows" (static string; may be "") */
    const char *rate_unit; /* unit of the rate, e.g. "tok" (NULL: unit) */
    double rate_scale;     /* rate units per counted item, e.g. tokens per window (0: 1) */
    double t0, last_draw;  /* monotonic seconds */
    int drawn;             /* something is on the line */
} ap_progress;

/* 1 when a bar should be drawn: not quiet and stderr is a terminal. */
int ap_progress_wanted(int quiet);

/* Begin a step: clears *p, remembers label (copied) and unit (borrowed, static), starts the clock, and shows
 * "label ..." until the first count arrives. on = 0 makes every call a no-op. */
void ap_progress_start(ap_progress *p, int on, const char *label, const char *unit);

/* The count so far (an ap_progress_fn: ud is the ap_progress). Redraws at most 10 times a second, and always
 * for the first and the last count. */
void ap_progress_update(void *ud, int64_t done, int64_t total);

/* Clear the line (the step is over; what follows prints on a clean line). */
void ap_progress_done(ap_progress *p);

#endif
