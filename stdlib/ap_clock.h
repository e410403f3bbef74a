/* ap_clock.h — the monotonic clock (and the process CPU clock) as one helper for every timing in autoprune. */
#ifndef AP_CLOCK_H
#define AP_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC: never jumps with the wall clock, so differences are durations and deadlines stay honest.
 * Only differences mean anything; the origin is unspecified. */
uint64_t ap_clock_ns(void);
double ap_clock_ms(void);
double ap_clock_seconds(void);

/* CPU time of the whole process (all threads) in seconds, for "how busy was the machine" beside wall time. */
double ap_clock_cpu_seconds(void);

#endif
