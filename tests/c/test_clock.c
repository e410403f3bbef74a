/* test_clock.c — stdlib/ap_clock: the monotonic readings agree across units, never go back, and measure a sleep;
 * the CPU clock does not advance while sleeping. */
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ap_clock.h"
#include "aptest.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The CPU milliseconds a 120 ms sleep costs, measured in a fork()ed child: only the calling thread exists there, so
 * threads the libraries started (OpenBLAS's spin before they sleep) do not count. -1 when the child failed. */
static int child_sleep_cpu_ms(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        double c = ap_clock_cpu_seconds();
        sleep_ms(120);
        double ms = (ap_clock_cpu_seconds() - c) * 1e3;
        _exit(ms < 0 ? 254 : ms > 253 ? 253 : (int)ms);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) == 254)
        return -1;
    return WEXITSTATUS(status);
}

int main(void)
{
    uint64_t ns0 = ap_clock_ns();
    double s0 = ap_clock_seconds(), ms0 = ap_clock_ms(), c0 = ap_clock_cpu_seconds();
    AP_CHECK(ms0 / 1e3 - s0 >= 0 && ms0 / 1e3 - s0 < 0.05 && s0 - (double)ns0 * 1e-9 >= 0 &&
                 s0 - (double)ns0 * 1e-9 < 0.05,
             "ns, ms and seconds read the same clock (%.6f s, %.3f ms, %llu ns)", s0, ms0, (unsigned long long)ns0);
    int back = 0;
    uint64_t prev = ap_clock_ns();
    for (int i = 0; i < 100000; i++) {
        uint64_t t = ap_clock_ns();
        back += t < prev;
        prev = t;
    }
    AP_CHECK(back == 0, "100000 readings never go back");
    double before = ap_clock_seconds();
    sleep_ms(120);
    double slept = ap_clock_seconds() - before;
    AP_CHECK(slept >= 0.119 && slept < 5, "a 120 ms sleep measures %.4f s", slept);
    int cpu_ms = child_sleep_cpu_ms();
    AP_CHECK(cpu_ms >= 0 && cpu_ms < 60, "sleeping costs no CPU time (%d ms of CPU for a 120 ms sleep)", cpu_ms);
    AP_CHECK(ap_clock_cpu_seconds() >= c0, "the CPU clock does not go back");
    return aptest_done();
}
