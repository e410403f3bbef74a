/* ap_threads.h — a small pthread pool for the loops of the forward pass that BLAS does not cover
 * (attention per head, norms, RoPE, log-softmax over the vocabulary). */
#ifndef AP_THREADS_H
#define AP_THREADS_H

#include <stdint.h>

#include "ap_error.h"

typedef struct ap_pool ap_pool;

/* A task: `fn(ud, task, thread)` for task in [0, n_tasks), thread in [0, n_threads) names the worker so a task can
 * use per-thread scratch. Tasks are handed out dynamically; the caller's thread works as thread 0. */
typedef void (*ap_pool_fn)(void *ud, int64_t task, int thread);

/* Start a pool of n_threads workers in all (n_threads - 1 new threads; <= 0 means the number of usable cores).
 * Caller frees with ap_pool_free. */
ap_status ap_pool_new(ap_pool **out, int n_threads, ap_error *err);
void ap_pool_free(ap_pool *p); /* NULL is fine; joins the workers */
int ap_pool_size(const ap_pool *p);
/* Run fn over n_tasks tasks and return when all are done. Calls from several threads are serialised. */
void ap_pool_run(ap_pool *p, int64_t n_tasks, ap_pool_fn fn, void *ud);
/* The number of cores this process may run on (sched_getaffinity), at least 1. */
int ap_cpu_count(void);

#endif
