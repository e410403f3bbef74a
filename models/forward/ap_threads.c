/* ap_threads.c — the forward pass's thread pool: workers sleep on a condition variable between jobs and take
 * tasks from a shared atomic counter, so uneven tasks (causal attention rows) balance themselves. */
#include "ap_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct ap_pool {
    int n;                    /* workers in all, the caller included */
    pthread_t *tid;           /* n - 1 started threads */
    pthread_mutex_t run_lock; /* serialises ap_pool_run callers */
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    uint64_t generation; /* bumped for every job; workers wait for a new one */
    int active;          /* workers still busy with the current job */
    int quit;
    int want;    /* threads asked for */
    pid_t owner; /* the process whose threads these are: a fork()ed child has none of them */
    ap_pool_fn fn;
    void *ud;
    int64_t n_tasks;
    _Atomic int64_t next;
};

typedef struct {
    ap_pool *p;
    int index;
} worker_arg;

static void drain(ap_pool *p, int thread)
{
    for (;;) {
        int64_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->n_tasks)
            return;
        p->fn(p->ud, t, thread);
    }
}

static void *worker(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    ap_pool *p = a.p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        drain(p, a.index);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int ap_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Start want - 1 workers for the calling process (a fork()ed child starts its own: it inherits none). */
static void start_workers(ap_pool *p)
{
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    p->generation = 0;
    p->active = 0;
    p->quit = 0;
    p->n = 1;
    p->owner = getpid();
    for (int i = 1; i < p->want; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a)
            break;
        a->p = p;
        a->index = i;
        if (pthread_create(&p->tid[i - 1], NULL, worker, a) != 0) {
            free(a);
            break;
        }
        p->n++;
    }
}

ap_status ap_pool_new(ap_pool **out, int n_threads, ap_error *err)
{
    *out = NULL;
    if (n_threads <= 0)
        n_threads = ap_cpu_count();
    if (n_threads > 1024)
        return ap_error_set(err, AP_E_ARG, "thread pool: %d threads is too many (max 1024)", n_threads);
    ap_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ap_error_set(err, AP_E_NOMEM, "thread pool: out of memory");
    p->tid = calloc((size_t)n_threads, sizeof *p->tid);
    if (!p->tid) {
        free(p);
        return ap_error_set(err, AP_E_NOMEM, "thread pool: out of memory");
    }
    p->want = n_threads;
    start_workers(p);
    *out = p; /* fewer threads than asked (a failed pthread_create) still works */
    return AP_OK;
}

void ap_pool_free(ap_pool *p)
{
    if (!p)
        return;
    if (p->owner != getpid()) { /* a fork()ed child that never ran a job: no workers of its own to join */
        free(p->tid);
        free(p);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n - 1; i++)
        pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->run_lock);
    free(p->tid);
    free(p);
}

int ap_pool_size(const ap_pool *p) { return p ? p->n : 1; }

void ap_pool_run(ap_pool *p, int64_t n_tasks, ap_pool_fn fn, void *ud)
{
    if (n_tasks <= 0)
        return;
    /* In a fork()ed child (ap.isolate's workers) the parent's threads do not exist: start the child's own. */
    if (p && p->owner != getpid())
        start_workers(p);
    if (!p || p->n == 1 || n_tasks == 1) { /* nothing to share: run inline */
        for (int64_t t = 0; t < n_tasks; t++)
            fn(ud, t, 0);
        return;
    }
    pthread_mutex_lock(&p->run_lock);
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ud = ud;
    p->n_tasks = n_tasks;
    atomic_store(&p->next, 0);
    p->active = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->run_lock);
}
