/* ap_forward.h — internal to models/: the per-model runtime behind the forward pass (thread pool, reusable
 * scratch, RoPE tables) shared by ap_model.c, ap_forward.c and ap_ppl.c. Not a public interface. */
#ifndef AP_FORWARD_H
#define AP_FORWARD_H

#include <pthread.h>
#include <stddef.h>

#include "ap_model.h"
#include "ap_threads.h"

struct ap_model_rt {
    pthread_mutex_t lock;       /* one forward call at a time per model: the scratch and the pool are shared */
    ap_pool *pool;              /* made on first use with the model's n_threads; remade when that changes */
    int pool_threads;           /* the n_threads value the pool was made for */
    float *scratch;             /* reused between calls so big activations are not faulted in again each block */
    size_t scratch_cap;         /* floats */
    float *rope_cos, *rope_sin; /* [rope_len, head_dim / 2] */
    int rope_len;
    double *row_nll; /* per-row NLL of the head, summed in row order so results do not depend on threads */
    size_t row_nll_cap;
};

ap_status ap_model_rt_new(struct ap_model_rt **out, ap_error *err);
void ap_model_rt_free(struct ap_model_rt *rt);

#endif
