/* lap_model.c — ap.model, the Lua binding of models for controller scripts (the search): load, info, eval,
 * calibrate (one-shot statistics of the dense model), prune, reset to dense, save, facts for LLM prompts. */
#include "lap_model.h"

#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ap_clock.h"
#include "lap_aux.h"
#include "ap_paths.h"
#include "ap_progress.h"
#include "ap_prune_run.h"
#include "ap_score.h"

#define MODEL_MT "ap.model"
#define STATS_MT "ap.stats"

typedef struct lmodel {
    ap_model *m;
    float *dense; /* copy of every prunable linear's weights, block-major, kinds in order */
    float *undo;  /* snapshot taken before a prune, restored when it fails */
    int64_t prunable;
    ap_token_cache eval_ids; /* the evaluation text's ids, kept across m:eval calls (a search makes many) */
} lmodel;

typedef struct lstats {
    ap_calib_stats *s;
} lstats;

static lmodel *check_model(lua_State *L, int idx)
{
    lmodel *lm = luaL_checkudata(L, idx, MODEL_MT);
    if (!lm->m)
        lapL_raise(L, AP_E_ARG, "model is closed");
    return lm;
}

static lstats *check_stats(lua_State *L, int idx)
{
    lstats *ls = luaL_checkudata(L, idx, STATS_MT);
    if (!ls->s)
        lapL_raise(L, AP_E_ARG, "statistics are freed");
    return ls;
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
        return lapL_raise(L, AP_E_NOMEM, "no memory for the dense copy of the weights");
    copy_weights(lm, lm->dense, 0);
    return 1;
}

static int model_gc(lua_State *L)
{
    lmodel *lm = luaL_checkudata(L, 1, MODEL_MT);
    ap_model_free(lm->m);
    free(lm->dense);
    free(lm->undo);
    ap_token_cache_free(&lm->eval_ids);
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
    const char *text = lapL_optstring(L, 2, "text", NULL);
    if (!text)
        text = ap_datafile(AP_DATA_WIKITEXT_TEST, def, sizeof def);
    int seqlen = (int)lapL_optinteger(L, 2, "seqlen", ap_calib_default_seqlen(lm->m), 2, 1 << 20);
    double windows = lapL_optnumber_in(L, 2, "windows", 0, 0, HUGE_VAL);
    int draw = ap_progress_wanted(lapL_optboolean(L, 2, "quiet", 0));
    ap_error err = {0};
    ap_ppl_result r;
    ap_progress p;
    ap_progress_start(&p, draw, "evaluate", "windows");
    p.rate_unit = "tok";
    p.rate_scale = seqlen;
    ap_status st = ap_model_perplexity_file(lm->m, text, seqlen, (int64_t)windows, &lm->eval_ids, ap_progress_update,
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
                luaL_argerror(L, 2,
                              lua_pushfstring(L,
                                              "needs[%d] is not one of l2 sq mean std absmax skew kurt "
                                              "(Hessians: hessian = true)",
                                              (int)i));
            fields |= bit;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    const char *metric = lapL_optstring(L, 2, "metric", NULL);
    if (metric) {
        unsigned reads = 0;
        ap_metric_spec spec;
        ap_error err = {0};
        if (ap_metric_spec_resolve(&spec, metric, &err) || ap_metric_fields(&spec, &reads, &err))
            ap_lua_raise(L, &err); /* does not return */
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
    const char *text = lapL_optstring(L, 2, "text", NULL);
    int nsamples = (int)lapL_optinteger(L, 2, "nsamples", 128, 1, 1 << 20);
    int seqlen = (int)lapL_optinteger(L, 2, "seqlen", ap_calib_default_seqlen(lm->m), 2, 1 << 20);
    lua_Integer seed = lapL_optinteger(L, 2, "seed", -1, 0, LUA_MAXINTEGER);
    int random = seed >= 0; /* no seed: evenly spaced windows */
    int hessian = lapL_optboolean(L, 2, "hessian", 0);
    unsigned fields = calib_fields(L) | (hessian ? (unsigned)AP_XF_HESSIAN : 0u);
    ap_progress p;
    ap_progress_start(&p, ap_progress_wanted(lapL_optboolean(L, 2, "quiet", 0)), "calibrate", "windows");
    lua_settop(L, 2);
    ap_error err = {0};
    int32_t *ids = NULL;
    ap_status st = ap_prune_run_windows(lm->m, text, nsamples, seqlen, random, random ? (uint64_t)seed : 0, &ids, &err);
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
    snprintf(s->source, sizeof s->source, "%s, %d windows of %d tokens, %s",
             text ? text : ap_datafile_rel(AP_DATA_CALIB), nsamples, seqlen, random ? "random" : "evenly spaced");
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
    lua_createtable(L, 7, 0); /* needs: the statistics gathered, by name */
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

/* alloc_params = {tau = 1, granularity = "block", ...}: each field through ap_prune_run_opts_set, the same
 * setter as the CLI's --alloc-param, so both read a parameter the same way. Numbers go as "%.17g" (exact). */
static void read_alloc_params(lua_State *L, int arg, ap_prune_run_opts *o)
{
    if (lua_getfield(L, arg, "alloc_params") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_argerror(L, arg, "alloc_params: table expected");
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
        char key[64], num[32];
        if (lua_type(L, -2) != LUA_TSTRING || lua_rawlen(L, -2) > 40)
            luaL_argerror(L, arg, "alloc_params: keys must be parameter names");
        snprintf(key, sizeof key, "alloc_param.%s", lua_tostring(L, -2));
        const char *value = num;
        if (lua_type(L, -1) == LUA_TNUMBER) /* not lua_tostring: its "%.14g" would round the number */
            snprintf(num, sizeof num, "%.17g", lua_tonumber(L, -1));
        else if (lua_type(L, -1) == LUA_TSTRING)
            value = lua_tostring(L, -1);
        else
            luaL_argerror(L, arg, lua_pushfstring(L, "%s: number or string expected", key));
        ap_error e;
        if (ap_prune_run_opts_set(o, strcmp(key, "alloc_param.M") ? key : "alloc_param.owl_m", value, &e))
            luaL_argerror(L, arg, lua_pushstring(L, e.msg));
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

static void set_alloc_field(void *ud, const char *key, const char *str, double num)
{
    lua_State *L = ud;
    if (str)
        set_str(L, key, str);
    else
        set_num(L, key, num);
}

/* result.alloc: the allocation with every parameter as used (defaults filled in), so a caller can record a
 * set-up that stays reproducible when the defaults change. */
static void push_alloc_used(lua_State *L, const ap_prune_run_opts *o)
{
    lua_createtable(L, 0, 8);
    ap_prune_run_alloc_record(o, set_alloc_field, L);
    lua_setfield(L, -2, "alloc");
}

/* reconstruct = false | true (= "mask") | "none" | "mask" | "adaptive" */
static ap_reconstruct check_reconstruct(lua_State *L, int arg)
{
    ap_reconstruct r = AP_RECONSTRUCT_NONE;
    int t = lua_getfield(L, arg, "reconstruct");
    if (t == LUA_TBOOLEAN)
        r = lua_toboolean(L, -1) ? AP_RECONSTRUCT_MASK : AP_RECONSTRUCT_NONE;
    else if (t != LUA_TNIL && (t != LUA_TSTRING || ap_reconstruct_parse(lua_tostring(L, -1), &r)))
        luaL_argerror(L, arg, "reconstruct must be false, true, \"mask\" or \"adaptive\"");
    lua_pop(L, 1);
    return r;
}

/* Every string option through the keyed setter, so m:prune and the CLI refuse the same values the same way. */
static void set_string_option(lua_State *L, int arg, ap_prune_run_opts *o, const char *field, const char *key)
{
    const char *v = lapL_optstring(L, arg, field, NULL);
    ap_error e;
    if (v && ap_prune_run_opts_set(o, key, v, &e))
        luaL_argerror(L, arg, lua_pushstring(L, e.msg));
}

static int model_prune(lua_State *L)
{
    lmodel *lm = check_model(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    ap_prune_run_opts o;
    ap_prune_run_opts_default(&o);
    o.metric = NULL;
    static const char *const string_keys[][2] = {{"metric", "metric"},   {"metric_source", "metric_source"},
                                                 {"pattern", "pattern"}, {"group", "group"},
                                                 {"alloc", "alloc"},     {"calib.text", "calib"}};
    for (size_t i = 0; i < sizeof string_keys / sizeof string_keys[0]; i++)
        set_string_option(L, 2, &o, string_keys[i][0], string_keys[i][1]);
    if (!o.metric)
        return luaL_argerror(L, 2, "metric or metric_source is required");
    o.sparsity = lapL_optnumber(L, 2, "sparsity", 0.5);
    if (!(o.sparsity >= 0 && o.sparsity < 1))
        return luaL_argerror(L, 2, "sparsity: expected a number in [0, 1)");
    read_alloc_params(L, 2, &o);
    ap_limits lim;
    lapL_checklimits(L, 2, "limits", &lim);
    o.limits = &lim;
    if (lua_getfield(L, 2, "stats") != LUA_TNIL) {
        o.stats = check_stats(L, -1)->s; /* the option table keeps it alive during the call */
        o.oneshot = 1;
    }
    lua_pop(L, 1);
    o.nsamples = (int)lapL_optinteger(L, 2, "calib.nsamples", 128, 1, 1 << 20);
    o.seqlen = (int)lapL_optinteger(L, 2, "calib.seqlen", ap_calib_default_seqlen(lm->m), 2, 1 << 20);
    lua_Integer seed = lapL_optinteger(L, 2, "calib.seed", -1, 0, LUA_MAXINTEGER);
    o.random = seed >= 0;
    o.seed = o.random ? (uint64_t)seed : 0;
    if (lapL_optboolean(L, 2, "oneshot", 0))
        o.oneshot = 1;
    o.reconstruct = check_reconstruct(L, 2);
    ap_progress p;
    ap_progress_start(&p, ap_progress_wanted(lapL_optboolean(L, 2, "quiet", 1)), "prune", "linears");
    o.progress = ap_progress_update;
    o.pud = &p;
    /* from here on nothing raises until the result is known, so the snapshot is always restored or dropped */
    copy_weights(lm, lm->undo, 0);
    ap_prune_run_result r;
    ap_error err = {0};
    double t0 = ap_clock_seconds();
    ap_status st = ap_prune_run(lm->m, &o, &r, &err);
    ap_progress_done(&p);
    double seconds = ap_clock_seconds() - t0;
    if (st) {
        copy_weights(lm, lm->undo, 1);
        return ap_lua_raise(L, &err);
    }
    push_prune_result(L, &r, seconds);
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
    ap_linear_facts *f = lua_newuserdatauv(L, (size_t)n * sizeof *f, 0); /* freed by the GC even if we raise */
    ap_error err = {0};
    /* facts describe the dense model */
    copy_weights(lm, lm->undo, 0);
    copy_weights(lm, lm->dense, 1);
    ap_status st = ap_alloc_model_facts(lm->m, s, M, f, &err);
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
    {"info", model_info},
    {"eval", model_eval},
    {"calibrate", model_calibrate},
    {"prune", model_prune},
    {"reset", model_reset},
    {"save", model_save},
    {"facts", model_facts},
    {"sparsity", model_sparsity},
    {"load_stats", model_load_stats},
    {"close", model_close},
    {NULL, NULL},
};

static const luaL_Reg stats_methods[] = {
    {"save", stats_save},
    {"info", stats_info},
    {"free", stats_gc},
    {NULL, NULL},
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
