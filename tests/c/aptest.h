/* aptest.h — a tiny TAP-style test harness for the C unit tests: `ok N - name` / `not ok N - name`. */
#ifndef APTEST_H
#define APTEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int aptest_n, aptest_failed;

/* Record one check; prints a TAP line and, on failure, where it was. */
#define AP_CHECK(cond, ...)                                                                                            \
    do {                                                                                                               \
        int ap_ok_ = !!(cond);                                                                                         \
        aptest_n++;                                                                                                    \
        if (!ap_ok_)                                                                                                   \
            aptest_failed++;                                                                                           \
        printf("%sok %d - ", ap_ok_ ? "" : "not ", aptest_n);                                                          \
        printf(__VA_ARGS__);                                                                                           \
        if (!ap_ok_)                                                                                                   \
            printf("  (%s:%d: %s)", __FILE__, __LINE__, #cond);                                                        \
        printf("\n");                                                                                                  \
        fflush(stdout);                                                                                                \
    } while (0)

#define AP_CHECK_NEAR(a, b, tol, ...) AP_CHECK(fabs((double)(a) - (double)(b)) <= (tol), __VA_ARGS__)

/* Print the plan line and return the process status. */
static inline int aptest_done(void)
{
    printf("1..%d\n", aptest_n);
    return aptest_failed ? 1 : 0;
}

#endif
