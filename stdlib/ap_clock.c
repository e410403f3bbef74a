/* ap_clock.c — the monotonic clock (and the process CPU clock) as one helper for every timing in autoprune. */
#include "ap_clock.h"

#include <time.h>

/* clock_gettime cannot fail for these two clocks on Linux (both exist since 2.6), so there is no error path. */
static struct timespec read_clock(clockid_t which)
{
    struct timespec ts;
    clock_gettime(which, &ts);
    return ts;
}

uint64_t ap_clock_ns(void)
{
    struct timespec ts = read_clock(CLOCK_MONOTONIC);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double ap_clock_seconds(void)
{
    struct timespec ts = read_clock(CLOCK_MONOTONIC);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double ap_clock_ms(void)
{
    struct timespec ts = read_clock(CLOCK_MONOTONIC);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

double ap_clock_cpu_seconds(void)
{
    struct timespec ts = read_clock(CLOCK_PROCESS_CPUTIME_ID);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
