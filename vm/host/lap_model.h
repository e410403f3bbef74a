/* lap_model.h — ap.model: the Lua binding of models and the pruning core for controller scripts (vm/host/lap_model.c).
 *
 *   local m = ap.model.load(dir)
 *   m:info()  -> {n_layers, hidden, ffn, vocab, heads, kv_heads, context, params, prunable_params, dir}
 *   m:eval{text=path, seqlen=, windows=N|nil, quiet=bool} -> {ppl, windows, tokens, predictions, seqlen, seconds}
 *   local st = m:calibrate{text=, nsamples=128, seqlen=, seed=N|nil (nil: evenly spaced), hessian=bool, quiet=}
 *              -> statistics of the DENSE model (whatever m holds now), st:save(path), st:info()
 *   ap.model.load_stats(path, m) / m:load_stats(path) -> statistics saved by st:save
 *   m:prune{metric=path|NAME|source|"native:wanda"|"native:magnitude"|"sparsegpt" (vm/ap_metric.h) or
 *           metric_source=text, sparsity=, pattern="unstructured"|"2:4"|..., reconstruct=false|true|"mask"|"adaptive",
 *           group="row"|"layer"|nil, alloc="uniform"|"owl"|"sdsa"|path, alloc_params={owl_m=, owl_lambda=, tau=,
 *           lambda=, lo=, hi=, granularity="block"|"linear"}, stats=st (one-shot) | nil (sequential, with
 *           calib={text=, nsamples=, seqlen=, seed=}), limits={the keys of ap_limits_set}}
 *           -> {realised=, zeros=, numel=, group=, seconds=, score_seconds=, mask_seconds=, alloc={kind=, ...},
 *               layers={{layer=, name=, sparsity=, target=, zeros=, numel=}, ...}}
 *           prunes the CURRENT weights (call m:reset() first for a fresh run); on error the weights are restored
 *           to what they were before the call and the error is raised.
 *   m:reset()  restores the dense weights (a copy is kept from load); m:save(dir); m:sparsity(); m:close()
 *   m:facts(st|nil [, M=5]) -> per linear {layer, name, numel, w_skew, w_kurt, w_absmean, w_norm, x_l2_mean,
 *           x_outlier_ratio, x_kurt_mean, wanda_outlier_ratio} of the dense weights (x_* need st)
 * Errors follow lap_aux.h: bad options are strings (luaL_argerror), failed operations tables {kind=, message=, line=}. */
#ifndef LAP_MODEL_H
#define LAP_MODEL_H

#include <lua.h>

/* Push the ap.model table (and create the metatables). Returns 1. */
int lap_model_open(lua_State *L);

#endif
