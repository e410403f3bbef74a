/* lap_model.c — ap.model, the Lua binding of models for controller scripts (the search): load, info, eval,
 * calibrate (one-shot statistics of the dense model), prune, reset to dense, save, facts for LLM prompts. */
#include "lap_model.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ap_lua.h"
#include "ap_paths.h"
#include "ap_progress.h"
#include "ap_prune_run.h"
#include "ap_score.h"

#define MODEL_MT "ap.model"
#define STATS_MT "ap.stats"

typedef struct lmodel {
    ap_model *m;
    float *dense;        /* copy of every prunable linear's weights, block-major, kinds in order */
    float *undo;         /* snapshot taken before a prune, restored when it fails */
    int64_t prunable;
    char *eval_path;     /* tokenized evaluation text cache (one entry) */
    int32_t *eval_ids;
    size_t eval_n;
} lmodel;

typedef struct lstats {
    ap_calib_stats *s;
} lstats;

static int raise_status(lua_State *L, ap_status code, const char *msg)
{
    ap_error e;
    ap_error_set(&e, code, "%s", msg);
    return ap_lua_raise(L, &e);
}

static lmodel *check_model(lua_State *L, int idx)
{
    lmodel *lm = luaL_checkudata(L, idx, MODEL_MT);
    if (!lm->m)
        raise_status(L, AP_E_ARG, "model is closed");
    return lm;
}

static lstats *check_stats(lua_State *L, int idx)
{
    lstats *ls = luaL_checkudata(L, idx, STATS_MT);
    if (!ls->s)
        raise_status(L, AP_E_ARG, "statistics are freed");
    return ls;
}

/* ---- option tables ---- */

static const char *opt_string(lua_State *L, int t, const char *key, const char *def)
{
    const char *v = def;
    if (lua_getfield(L, t, key) != LUA_TNIL) {
        if (!lua_isstring(L, -1))
            raise_status(L, AP_E_TYPE, "option must be a string");
        v = lua_tostring(L, -1);   /* stays valid: the option table keeps the string alive */
    }
    lua_pop(L, 1);
    return v;
}

static double opt_number(lua_State *L, int t, const char *key, double def)
{
    double v = def;
    if (lua_getfield(L, t, key) != LUA_TNIL) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok)
            raise_status(L, AP_E_TYPE, "option must be a number");
    }
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int t, const char *key, int def)
{
    int v = def;
    if (lua_getfield(L, t, key) != LUA_TNIL)
        v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static int opt_int(lua_State *L, int t, const char *key, int def, int lo, int hi)
{
    double v = opt_number(L, t, key, def);
    if (!(v >= lo && v <= hi) || v != (double)(int64_t)v) {
        char msg[160];
        snprintf(msg, sizeof msg, "option %s must be an integer in [%d, %d]", key, lo, hi);
        raise_status(L, AP_E_ARG, msg);
    }
    return (int)v;
}

/* ---- dense copy ---- */

static void copy_weights(lmodel *lm, float *dst, int to_model)
{
    float *p = dst;
    for (int l = 0; l < lm->m->cfg.n_layers; l++)
        for (int k = 0; k < AP_LIN_COUNT; k++) {
            ap_linear *L = &lm->m->blocks[l].lin[k];
            size_t n = (size_t)(L->out * L->in);
            if (to_model)
                memcpy(L->w, p, n * sizeof *p);
            else
                memcpy(p, L->w, n * sizeof *p);
            p += n;
        }
}

/* ---- ap.model.load ---- */

static int model_load(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    lmodel *lm = lua_newuserdatauv(L, sizeof *lm, 0);
    memset(lm, 0, sizeof *lm);
    luaL_setmetatable(L, MODEL_MT);
    ap_error err = {0};
    if (ap_model_load(&lm->m, dir, &err))
        return ap_lua_raise(L, &err);
    for (int l = 0; l < lm->m->cfg.n_layers; l++)
        for (int k = 0; k < AP_LIN_COUNT; k++)
            lm->prunable += lm->m->blocks[l].lin[k].out * lm->m->blocks[l].lin[k].in;
    lm->dense = malloc((size_t)lm->prunable * sizeof *lm->dense);
    lm->undo = malloc((size_t)lm->prunable * sizeof *lm->undo);
    if (!lm->dense || !lm->undo)
        return raise_status(L, AP_E_NOMEM, "no memory for the dense copy of the weights");
    copy_weights(lm, lm->dense, 0);
    return 1;
}

static int model_gc(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    ap_model_free(lm->m);
    free(lm->dense);
    free(lm->undo);
    free(lm->eval_path);
    free(lm->eval_ids);
    memset(lm, 0, sizeof *lm);
    return 0;
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static int model_info(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    const ap_config *c = &lm->m->cfg;
    int64_t params = lm->prunable + (int64_t)c->vocab * c->hidden * (c->tie_embeddings ? 1 : 2) +
                     (int64_t)c->hidden * (2 * c->n_layers + 1);
    for (int l = 0; l < c->n_layers; l++)
        for (int k = 0; k < AP_LIN_COUNT; k++)
            if (lm->m->blocks[l].lin[k].bias)
                params += lm->m->blocks[l].lin[k].out;
    lua_createtable(L, 0, 10);
    set_int(L, "n_layers", c->n_layers);
    set_int(L, "hidden", c->hidden);
    set_int(L, "ffn", c->ffn);
    set_int(L, "vocab", c->vocab);
    set_int(L, "heads", c->n_heads);
    set_int(L, "kv_heads", c->n_kv_heads);
    set_int(L, "context", c->max_pos);
    set_int(L, "params", params);
    set_int(L, "prunable_params", lm->prunable);
    set_str(L, "dir", lm->m->dir);
    return 1;
}

/* ---- m:eval ---- */

static int model_eval(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    else {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    char def[4096];
    const char *text = opt_string(L, 2, "text", NULL);
    if (!text)
        text = ap_datapath(def, sizeof def, "data/wikitext-2-raw/wiki.test.raw") ? def
                                                                                 : "data/wikitext-2-raw/wiki.test.raw";
    int seqlen = opt_int(L, 2, "seqlen", ap_calib_default_seqlen(lm->m), 2, 1 << 20);
    double windows = opt_number(L, 2, "windows", 0);
    if (!(windows >= 0))
        return raise_status(L, AP_E_ARG, "windows must be >= 0");
    int draw = ap_progress_wanted(opt_bool(L, 2, "quiet", 0));
    ap_error err = {0};
    if (!lm->eval_path || strcmp(lm->eval_path, text) != 0) {
        free(lm->eval_path);
        free(lm->eval_ids);
        lm->eval_path = NULL;
        lm->eval_ids = NULL;
        if (ap_calib_tokenize_file(lm->m->dir, text, &lm->eval_ids, &lm->eval_n, &err))
            return ap_lua_raise(L, &err);
        lm->eval_path = strdup(text);
        if (!lm->eval_path)
            return raise_status(L, AP_E_NOMEM, "no memory");
    }
    ap_ppl_result r;
    ap_progress p;
    ap_progress_start(&p, draw, "evaluate", "windows");
    p.rate_unit = "tok";
    p.rate_scale = seqlen;
    ap_status st = ap_model_perplexity(lm->m, lm->eval_ids, lm->eval_n, seqlen, (int64_t)windows, ap_progress_update,
                                       &p, &r, &err);
    ap_progress_done(&p);
    if (st)
        return ap_lua_raise(L, &err);
    lua_createtable(L, 0, 6);
    set_num(L, "ppl", r.ppl);
    set_int(L, "windows", r.windows);
    set_int(L, "tokens", r.tokens_total);
    set_int(L, "predictions", r.predictions);
    set_int(L, "seqlen", r.seqlen);
    set_num(L, "seconds", r.seconds);
    return 1;
}

/* ---- statistics ---- */

static void push_stats(lua_State *L, ap_calib_stats *s)
{
    lstats *ls = lua_newuserdatauv(L, sizeof *ls, 0);
    ls->s = s;
    luaL_setmetatable(L, STATS_MT);
}

/* The statistics calibrate gathers: needs = {"l2", ...} and what metric = SPEC reads; neither: all seven. */
static unsigned calib_fields(lua_State *L)
{
    unsigned fields = 0;
    int given = 0;
    if (lua_getfield(L, 2, "needs") != LUA_TNIL) {
        luaL_argexpected(L, lua_istable(L, -1), 2, "needs as a list of statistic names");
        given = 1;
        for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
            unsigned bit = ap_calib_field(lua_tostring(L, -1));
            if (!bit || bit == AP_XF_HESSIAN)
                luaL_error(L, "calibrate: needs[%d] is not one of l2 sq mean std absmax skew kurt "
                           "(Hessians: hessian = true)", (int)i);
            fields |= bit;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    const char *metric = opt_string(L, 2, "metric", NULL);
    if (metric) {
        unsigned reads;
        ap_error err = {0};
        if (ap_metric_fields(metric, &reads, &err))
            ap_lua_raise(L, &err);
        fields |= reads;
        given = 1;
    }
    return given ? fields : (unsigned)AP_XF_MOMENTS;
}

static int model_calibrate(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *text = opt_string(L, 2, "text", NULL);
    int nsamples = opt_int(L, 2, "nsamples", 128, 1, 1 << 20);
    int seqlen = opt_int(L, 2, "seqlen", ap_calib_default_seqlen(lm->m), 2, 1 << 20);
    int random = 0;
    uint64_t seed = 0;
    lua_getfield(L, 2, "seed");
    if (!lua_isnil(L, -1)) {
        random = 1;
        seed = (uint64_t)luaL_checkinteger(L, -1);
    }
    lua_pop(L, 1);
    int hessian = opt_bool(L, 2, "hessian", 0);
    unsigned fields = calib_fields(L) | (hessian ? (unsigned)AP_XF_HESSIAN : 0u);
    ap_progress p;
    ap_progress_start(&p, ap_progress_wanted(opt_bool(L, 2, "quiet", 0)), "calibrate", "windows");
    lua_settop(L, 2);
    ap_error err = {0};
    int32_t *ids = NULL;
    ap_status st = ap_prune_run_windows(lm->m, text, nsamples, seqlen, random, seed, &ids, &err);
    ap_calib_stats *s = NULL;
    /* statistics of the dense model: the current weights may be pruned, so they are swapped out meanwhile */
    copy_weights(lm, lm->undo, 0);
    copy_weights(lm, lm->dense, 1);
    if (!st)
        st = ap_calib_collect_fields(lm->m, ids, nsamples, seqlen, fields, 4096 / seqlen > 0 ? 4096 / seqlen : 1,
                                     ap_progress_update, &p, &s, &err);
    ap_progress_done(&p);
    copy_weights(lm, lm->undo, 1);
    free(ids);
    if (st)
        return ap_lua_raise(L, &err);
    snprintf(s->source, sizeof s->source, "%s, %d windows of %d tokens, %s", text ? text : "data/calib.txt",
             nsamples, seqlen, random ? "random" : "evenly spaced");
    push_stats(L, s);
    return 1;
}

static int stats_gc(lua_State *L)
{
    lstats *ls = luaL_checkudata(L, 1, STATS_MT);
    ap_calib_stats_free(ls->s);
    ls->s = NULL;
    return 0;
}

static int stats_save(lua_State *L)
{
    lstats *ls = check_stats(L, 1);
    const char *path = luaL_checkstring(L, 2);
    ap_error err = {0};
    if (ap_calib_stats_save(ls->s, path, &err))
        return ap_lua_raise(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

static int stats_info(lua_State *L)
{
    lstats *ls = check_stats(L, 1);
    lua_createtable(L, 0, 5);
    set_int(L, "n_layers", ls->s->n_layers);
    set_int(L, "nsamples", ls->s->nsamples);
    set_int(L, "seqlen", ls->s->seqlen);
    set_int(L, "tokens", ls->s->tokens);
    lua_pushboolean(L, ls->s->hessian);
    lua_setfield(L, -2, "hessian");
    lua_createtable(L, 7, 0);            /* needs: the statistics gathered, by name */
    for (int i = 0, n = 0; i < 7; i++)
        if (ls->s->fields & (1u << i)) {
            lua_pushstring(L, ap_calib_field_name(i));
            lua_rawseti(L, -2, ++n);
        }
    lua_setfield(L, -2, "needs");
    set_str(L, "source", ls->s->source);
    return 1;
}

/* ap.model.load_stats(path, m) or m:load_stats(path): the file is checked against the model's shapes. */
static int load_stats_common(lua_State *L, lmodel *lm, const char *path)
{
    ap_error err = {0};
    ap_calib_stats *s = NULL;
    if (ap_calib_stats_load(lm->m, path, &s, &err))
        return ap_lua_raise(L, &err);
    push_stats(L, s);
    return 1;
}

static int model_load_stats(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    return load_stats_common(L, lm, luaL_checkstring(L, 2));
}

static int mod_load_stats(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lmodel *lm = check_model(L, 2);
    return load_stats_common(L, lm, path);
}

/* ---- m:prune ---- */

static void read_alloc_params(lua_State *L, int t, ap_alloc_spec *a)
{
    if (lua_getfield(L, t, "alloc_params") == LUA_TTABLE) {
        int p = lua_gettop(L);
        a->owl_m = opt_number(L, p, "owl_m", opt_number(L, p, "M", a->owl_m));
        a->owl_lambda = opt_number(L, p, "owl_lambda", a->owl_lambda);
        a->sdsa.tau = opt_number(L, p, "tau", a->sdsa.tau);
        a->sdsa.lambda = opt_number(L, p, "lambda", a->sdsa.lambda);
        a->lo = a->sdsa.lo = opt_number(L, p, "lo", a->lo);
        a->hi = a->sdsa.hi = opt_number(L, p, "hi", a->hi);
        /* an absent key keeps the default (per linear): alloc_params = { tau = 1 } changes tau alone */
        const char *g = opt_string(L, p, "granularity",
                                   a->sdsa.granularity == AP_ALLOC_PER_LINEAR ? "linear" : "block");
        if (strcmp(g, "block") && strcmp(g, "linear"))
            raise_status(L, AP_E_ARG, "alloc_params.granularity must be block or linear");
        a->sdsa.granularity = strcmp(g, "linear") ? AP_ALLOC_PER_BLOCK : AP_ALLOC_PER_LINEAR;
    } else if (!lua_isnil(L, -1)) {
        raise_status(L, AP_E_TYPE, "alloc_params must be a table");
    }
    lua_pop(L, 1);
}

static void read_limits(lua_State *L, int t, ap_limits *lim)
{
    if (lua_getfield(L, t, "limits") == LUA_TTABLE) {
        int p = lua_gettop(L);
        lim->instructions = (uint64_t)opt_number(L, p, "instructions", 0);
        lim->wall_ms = (uint64_t)opt_number(L, p, "wall_ms", 0);
        lim->heap_bytes = (size_t)opt_number(L, p, "heap_bytes", 0);
        lim->tensor_bytes = (size_t)opt_number(L, p, "tensor_bytes", 0);
        lim->work = (uint64_t)opt_number(L, p, "work", 0);
    }
    lua_pop(L, 1);
}

static void push_prune_result(lua_State *L, const ap_prune_run_result *r, double seconds)
{
    lua_createtable(L, 0, 8);
    set_num(L, "realised", r->rep.realised);
    set_int(L, "zeros", r->rep.zeros);
    set_int(L, "numel", r->rep.numel);
    set_num(L, "seconds", seconds);
    set_str(L, "group", ap_group_name(r->pattern.group));
    set_num(L, "score_seconds", r->rep.t_score);
    set_num(L, "mask_seconds", r->rep.t_mask);
    lua_createtable(L, r->rep.n, 0);
    for (int i = 0; i < r->rep.n; i++) {
        const ap_prune_linear *pl = &r->rep.lin[i];
        lua_createtable(L, 0, 6);
        set_int(L, "layer", pl->layer + 1);
        set_str(L, "name", ap_linear_name(pl->kind));
        set_num(L, "sparsity", pl->numel ? (double)pl->zeros / (double)pl->numel : 0.0);
        set_num(L, "target", pl->target);
        set_int(L, "zeros", pl->zeros);
        set_int(L, "numel", pl->numel);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "layers");
}

/* result.alloc: the allocation with every parameter as used (defaults filled in), so a caller can record a
 * set-up that stays reproducible when the defaults change. */
static void push_alloc_used(lua_State *L, const ap_prune_run_opts *o)
{
    const ap_alloc_spec *a = &o->alloc_spec;
    lua_createtable(L, 0, 8);
    set_str(L, "kind", o->alloc ? o->alloc : "uniform");
    set_num(L, "owl_m", a->owl_m);
    set_num(L, "owl_lambda", a->owl_lambda);
    set_num(L, "tau", a->sdsa.tau);
    set_num(L, "lambda", a->sdsa.lambda);
    set_num(L, "lo", a->lo);
    set_num(L, "hi", a->hi);
    set_str(L, "granularity", a->sdsa.granularity == AP_ALLOC_PER_LINEAR ? "linear" : "block");
    lua_setfield(L, -2, "alloc");
}

static int model_prune(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    ap_prune_run_opts o;
    ap_prune_run_opts_default(&o);
    ap_limits lim;
    memset(&lim, 0, sizeof lim);
    o.metric = opt_string(L, 2, "metric", NULL);
    if (!o.metric)
        return raise_status(L, AP_E_ARG, "prune: metric is required");
    o.sparsity = opt_number(L, 2, "sparsity", 0.5);
    o.pattern = opt_string(L, 2, "pattern", NULL);
    o.group = opt_string(L, 2, "group", NULL);
    if (o.group && strcmp(o.group, "row") && strcmp(o.group, "layer"))
        return raise_status(L, AP_E_ARG, "prune: group must be row or layer");
    o.alloc = opt_string(L, 2, "alloc", NULL);
    read_alloc_params(L, 2, &o.alloc_spec);
    read_limits(L, 2, &lim);
    o.limits = &lim;
    if (lua_getfield(L, 2, "stats") != LUA_TNIL) {
        o.stats = check_stats(L, -1)->s;   /* the option table keeps it alive during the call */
        o.oneshot = 1;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "calib") == LUA_TTABLE) {
        int c = lua_gettop(L);
        o.calib = opt_string(L, c, "text", NULL);
        o.nsamples = opt_int(L, c, "nsamples", 128, 1, 1 << 20);
        o.seqlen = opt_int(L, c, "seqlen", ap_calib_default_seqlen(lm->m), 2, 1 << 20);
        lua_getfield(L, c, "seed");
        if (!lua_isnil(L, -1)) {
            o.random = 1;
            o.seed = (uint64_t)luaL_checkinteger(L, -1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (opt_bool(L, 2, "oneshot", 0))
        o.oneshot = 1;
    if (lua_getfield(L, 2, "reconstruct") == LUA_TSTRING) {
        const char *r = lua_tostring(L, -1);
        if (strcmp(r, "adaptive") && strcmp(r, "mask"))
            return raise_status(L, AP_E_ARG, "prune: reconstruct must be true, false, \"mask\" or \"adaptive\"");
        o.reconstruct = strcmp(r, "adaptive") ? 1 : 2;
    } else {
        o.reconstruct = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    ap_progress p;
    ap_progress_start(&p, ap_progress_wanted(opt_bool(L, 2, "quiet", 1)), "prune", "linears");
    o.progress = ap_progress_update;
    o.pud = &p;
    /* from here on nothing raises until the result is known, so the snapshot is always restored or dropped */
    copy_weights(lm, lm->undo, 0);
    ap_prune_run_result r;
    ap_error err = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ap_status st = ap_prune_run(lm->m, &o, &r, &err);
    ap_progress_done(&p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st) {
        copy_weights(lm, lm->undo, 1);
        return ap_lua_raise(L, &err);
    }
    push_prune_result(L, &r, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    push_alloc_used(L, &o);
    ap_prune_run_result_free(&r);
    return 1;
}

static int model_reset(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    copy_weights(lm, lm->dense, 1);
    lua_settop(L, 1);
    return 1;
}

static int model_save(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    const char *dir = luaL_checkstring(L, 2);
    ap_error err = {0};
    if (ap_model_save(lm->m, dir, &err))
        return ap_lua_raise(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* m:sparsity() -> the current fraction of zeros over the prunable linears */
static int model_sparsity(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    int64_t z = 0;
    for (int l = 0; l < lm->m->cfg.n_layers; l++)
        for (int k = 0; k < AP_LIN_COUNT; k++) {
            ap_linear *Ln = &lm->m->blocks[l].lin[k];
            z += ap_count_zeros(Ln->w, Ln->out * Ln->in);
        }
    lua_pushnumber(L, lm->prunable ? (double)z / (double)lm->prunable : 0.0);
    return 1;
}

static int model_facts(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    const ap_calib_stats *s = lua_isnoneornil(L, 2) ? NULL : check_stats(L, 2)->s;
    double M = luaL_optnumber(L, 3, 5.0);
    int n = lm->m->cfg.n_layers * AP_LIN_COUNT;
    ap_linear_facts *f = lua_newuserdatauv(L, (size_t)n * sizeof *f, 0);   /* freed by the GC even if we raise */
    ap_error err = {0};
    /* facts describe the dense model */
    copy_weights(lm, lm->undo, 0);
    copy_weights(lm, lm->dense, 1);
    ap_status st = ap_prune_facts(lm->m, s, M, f, &err);
    copy_weights(lm, lm->undo, 1);
    if (st)
        return ap_lua_raise(L, &err);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 11);
        set_int(L, "layer", f[i].layer + 1);
        set_str(L, "name", ap_linear_name(f[i].kind));
        set_int(L, "numel", f[i].numel);
        set_num(L, "w_skew", f[i].w_skew);
        set_num(L, "w_kurt", f[i].w_kurt);
        set_num(L, "w_absmean", f[i].w_absmean);
        set_num(L, "w_norm", f[i].w_norm);
        set_num(L, "x_l2_mean", f[i].x_l2_mean);
        set_num(L, "x_outlier_ratio", f[i].x_outlier_ratio);
        set_num(L, "x_kurt_mean", f[i].x_kurt_mean);
        set_num(L, "wanda_outlier_ratio", f[i].wanda_outlier_ratio);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int model_close(lua_State *L)
{
    luaL_checkudata(L, 1, MODEL_MT);
    return model_gc(L);
}

static int model_tostring(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    if (lm->m)
        lua_pushfstring(L, "ap.model(%s, %d layers)", lm->m->dir, lm->m->cfg.n_layers);
    else
        lua_pushliteral(L, "ap.model(closed)");
    return 1;
}

static const luaL_Reg model_methods[] = {
    {"info", model_info},       {"eval", model_eval},   {"calibrate", model_calibrate},
    {"prune", model_prune},     {"reset", model_reset}, {"save", model_save},
    {"facts", model_facts},     {"sparsity", model_sparsity}, {"load_stats", model_load_stats},
    {"close", model_close},     {NULL, NULL},
};

static const luaL_Reg stats_methods[] = {
    {"save", stats_save}, {"info", stats_info}, {"free", stats_gc}, {NULL, NULL},
};

int lap_model_open(lua_State *L)
{
    if (luaL_newmetatable(L, MODEL_MT)) {
        luaL_newlib(L, model_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, model_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, model_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, STATS_MT)) {
        luaL_newlib(L, stats_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, stats_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, model_load);
    lua_setfield(L, -2, "load");
    lua_pushcfunction(L, mod_load_stats);
    lua_setfield(L, -2, "load_stats");
    return 1;
}
