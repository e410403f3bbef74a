/* test_safetensors.c — the safetensors reader on ap-tiny, dtype conversion against an independent
 * round-to-nearest-even oracle, write->read round trips (bf16/f16/f32, sharded), writer failures. */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ap_config.h"
#include "ap_safetensors.h"
#include "aptest.h"

static char tmpdir[256];

static const char *root(void)
{
    const char *r = getenv("AP_ROOT");
    return r && *r ? r : ".";
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---------- ap-tiny ---------- */

static void check_shape(const ap_checkpoint *ck, const char *name, int ndim, int64_t d0, int64_t d1)
{
    const ap_st_tensor *t = ap_checkpoint_find(ck, name);
    AP_CHECK(t && t->dtype == AP_DT_BF16 && t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1) &&
                 t->nbytes == (size_t)(d0 * (ndim > 1 ? d1 : 1) * 2),
             "ap-tiny: %s is BF16 [%lld%s%lld]", name, (long long)d0, ndim > 1 ? ", " : "",
             ndim > 1 ? (long long)d1 : 0LL);
}

static void test_ap_tiny(void)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/models/ap-tiny", root());
    snprintf(path, sizeof path, "%s/config.json", dir);
    ap_error err = {0};
    ap_config cfg;
    AP_CHECK(ap_config_load(&cfg, path, &err) == AP_OK, "ap-tiny config loads (%s)", err.msg);
    ap_checkpoint *ck = NULL;
    AP_CHECK(ap_checkpoint_open(&ck, dir, &err) == AP_OK, "ap-tiny checkpoint opens (%s)", err.msg);
    if (!ck)
        return;
    AP_CHECK(ap_checkpoint_count(ck) == (size_t)(9 * cfg.n_layers + 3), "ap-tiny has %d layers x 9 + 3 tensors (%zu)",
             cfg.n_layers, ap_checkpoint_count(ck));
    int h = cfg.hidden, q = cfg.n_heads * cfg.head_dim, kv = cfg.n_kv_heads * cfg.head_dim, f = cfg.ffn;
    char name[128];
    for (int l = 0; l < cfg.n_layers; l++) {
        static const char *const proj[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                           "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                           "mlp.down_proj"};
        const int64_t rows[] = {q, kv, kv, h, f, f, h}, cols[] = {h, h, h, q, h, h, f};
        for (int k = 0; k < 7; k++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, proj[k]);
            check_shape(ck, name, 2, rows[k], cols[k]);
        }
        snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
        check_shape(ck, name, 1, h, 0);
        snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
        check_shape(ck, name, 1, h, 0);
    }
    check_shape(ck, "model.embed_tokens.weight", 2, cfg.vocab, h);
    check_shape(ck, "lm_head.weight", 2, cfg.vocab, h);
    check_shape(ck, "model.norm.weight", 1, h, 0);
    AP_CHECK(ap_checkpoint_find(ck, "model.layers.4.mlp.up_proj.weight") == NULL, "ap-tiny: no layer 4");
    /* Data order: offsets increase and the data is inside one mapping. */
    int ordered = 1, finite = 1;
    for (size_t i = 1; i < ap_checkpoint_count(ck); i++)
        ordered &= (const char *)ap_checkpoint_at(ck, i)->data ==
                   (const char *)ap_checkpoint_at(ck, i - 1)->data + ap_checkpoint_at(ck, i - 1)->nbytes;
    const ap_st_tensor *nw = ap_checkpoint_find(ck, "model.norm.weight");
    float *v = malloc((size_t)h * sizeof *v);
    ap_dtype_to_f32(nw->dtype, nw->data, v, (size_t)h);
    for (int i = 0; i < h; i++)
        finite &= isfinite(v[i]) && fabsf(v[i]) < 100;
    AP_CHECK(ordered, "ap-tiny: ap_checkpoint_at is in data order, contiguous");
    AP_CHECK(finite, "ap-tiny: model.norm.weight converts to finite values");
    free(v);
    /* The same file opened through each path gives the same bytes. */
    ap_safetensors *a = NULL, *b = NULL;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    AP_CHECK(ap_safetensors_open(&a, path, &err) == AP_OK, "mmap open (%s)", err.msg);
    AP_CHECK(ap_safetensors_open_flags(&b, path, AP_ST_OPEN_READ, &err) == AP_OK, "read-into-memory open (%s)",
             err.msg);
    int same = a && b && ap_safetensors_count(a) == ap_safetensors_count(b);
    for (size_t i = 0; same && i < ap_safetensors_count(a); i++) {
        const ap_st_tensor *x = ap_safetensors_at(a, i), *y = ap_safetensors_find(b, x->name);
        same = y && x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0;
    }
    AP_CHECK(same, "mmap and read-into-memory give identical tensors");
    ap_safetensors_close(a);
    ap_safetensors_close(b);
    ap_checkpoint_close(ck);
}

/* ---------- dtype conversion ---------- */

/* Independent definitions of the formats' values. */
static double f16_value(uint16_t c)
{
    int e = (c >> 10) & 31, m = c & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (c & 0x8000) ? -v : v;
}

static double bf16_value(uint16_t c)
{
    int e = (c >> 7) & 255, m = c & 127;
    double v = e == 0 ? ldexp(m, -133) : e == 255 ? (m ? NAN : INFINITY) : ldexp(128 + m, e - 134);
    return (c & 0x8000) ? -v : v;
}

/* Round-to-nearest-even by search over the positive codes (monotonic in value); maxc = largest finite code. */
static uint16_t oracle(double (*val)(uint16_t), uint16_t maxc, uint16_t inf, double x)
{
    int neg = signbit(x);
    double ax = fabs(x);
    unsigned lo = 0, hi = maxc;
    while (lo < hi) { /* largest code with value <= ax */
        unsigned mid = (lo + hi + 1) / 2;
        if (val((uint16_t)mid) <= ax)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint16_t c = (uint16_t)lo;
    double v = val(c);
    double next = c == maxc ? 2 * val(maxc) - val((uint16_t)(maxc - 1)) : val((uint16_t)(c + 1));
    uint16_t r;
    if (ax == v)
        r = c;
    else if (ax - v < next - ax)
        r = c;
    else if (ax - v > next - ax)
        r = c == maxc ? inf : (uint16_t)(c + 1);
    else
        r = (c & 1) ? (c == maxc ? inf : (uint16_t)(c + 1)) : c;
    return neg ? (uint16_t)(r | 0x8000) : r;
}

static void test_conversion(ap_dtype dt, double (*val)(uint16_t), uint16_t maxc, uint16_t inf, const char *nm)
{
    int decode_ok = 1, encode_ok = 1, nan_ok = 1, roundtrip_ok = 1;
    for (uint32_t c = 0; c < 65536; c++) {
        uint16_t h = (uint16_t)c, back;
        float f;
        ap_dtype_to_f32(dt, &h, &f, 1);
        double want = val(h);
        if (isnan(want)) {
            decode_ok &= isnan(f) && (signbit(f) != 0) == ((h & 0x8000) != 0);
            ap_dtype_from_f32(dt, &f, &back, 1);
            nan_ok &= isnan(val(back)) && (back & 0x8000) == (h & 0x8000);
            continue;
        }
        decode_ok &= (double)f == want && !signbit(f) == !signbit(want);
        ap_dtype_from_f32(dt, &f, &back, 1);
        roundtrip_ok &= back == h;
        /* midpoints to the next code and their float neighbours */
        if ((h & 0x7fff) < maxc) {
            double mid = (val(h) + val((uint16_t)(h + 1))) / 2;
            float fm = (float)mid;
            float probes[3] = {fm, nextafterf(fm, -INFINITY), nextafterf(fm, INFINITY)};
            for (int k = 0; k < 3; k++) {
                uint16_t got;
                ap_dtype_from_f32(dt, &probes[k], &got, 1);
                encode_ok &= got == oracle(val, maxc, inf, probes[k]);
            }
        }
    }
    for (int i = 0; i < 300000; i++) {
        float x = bits_f(rnd() | (rnd() & 1u) << 31);
        if (!isfinite(x))
            continue;
        uint16_t got;
        ap_dtype_from_f32(dt, &x, &got, 1);
        encode_ok &= got == oracle(val, maxc, inf, x);
    }
    float specials[] = {INFINITY, -INFINITY, 0.0f, -0.0f, 65504.0f, 65520.0f, 3.3895314e38f, FLT_MAX};
    for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
        uint16_t got;
        ap_dtype_from_f32(dt, &specials[i], &got, 1);
        encode_ok &= got == oracle(val, maxc, inf, specials[i]);
    }
    float qn = bits_f(0x7fc12345), sn = bits_f(0xff800001);
    uint16_t a, b;
    ap_dtype_from_f32(dt, &qn, &a, 1);
    ap_dtype_from_f32(dt, &sn, &b, 1);
    nan_ok &= isnan(val(a)) && isnan(val(b)) && !(a & 0x8000) && (b & 0x8000);
    AP_CHECK(decode_ok, "%s -> f32 exact for all 65536 codes", nm);
    AP_CHECK(roundtrip_ok, "%s -> f32 -> %s is the identity on all non-NaN codes", nm, nm);
    AP_CHECK(encode_ok, "f32 -> %s rounds to nearest even (midpoints, neighbours, 300k random, specials)", nm);
    AP_CHECK(nan_ok, "f32 -> %s keeps NaN a NaN with its sign", nm);
}

/* Long arrays take the vector path where the CPU has one: it must agree with one-at-a-time conversion
 * (bit for bit, except that a signalling NaN may come out quiet). */
static void test_bulk(ap_dtype dt, double (*val)(uint16_t), const char *nm)
{
    enum { N = 65536 + 5 };
    uint16_t *codes = malloc(N * 2), *enc = malloc(N * 2);
    float *bulk = malloc(N * 4), *src = malloc(N * 4);
    int dec_ok = 1, enc_ok = 1;
    for (uint32_t c = 0; c < N; c++)
        codes[c] = (uint16_t)c;
    ap_dtype_to_f32(dt, codes + 1, bulk + 1, N - 1); /* odd start: unaligned source and destination */
    for (uint32_t c = 1; c < N; c++) {
        float one;
        ap_dtype_to_f32(dt, &codes[c], &one, 1);
        if (isnan(val(codes[c])))
            dec_ok &= isnan(bulk[c]) && !signbit(bulk[c]) == !signbit(one);
        else
            dec_ok &= memcmp(&one, &bulk[c], 4) == 0;
    }
    for (uint32_t i = 0; i < N; i++) {
        src[i] = bits_f(rnd() | (rnd() & 1u) << 31);
        if (i % 3 == 0)
            src[i] = ldexpf((float)(rnd() % 4096), -(int)(rnd() % 40)); /* subnormal / tie region */
    }
    ap_dtype_from_f32(dt, src + 1, enc + 1, N - 1);
    for (uint32_t i = 1; i < N; i++) {
        uint16_t one;
        ap_dtype_from_f32(dt, &src[i], &one, 1);
        enc_ok &= one == enc[i];
    }
    AP_CHECK(dec_ok, "%s -> f32 over one long unaligned array equals element-wise conversion", nm);
    AP_CHECK(enc_ok, "f32 -> %s over one long unaligned array equals element-wise conversion", nm);
    free(codes);
    free(enc);
    free(bulk);
    free(src);
}

/* ---------- writing ---------- */

static int count_tmp_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    for (struct dirent *de; (de = readdir(d));)
        n += strstr(de->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* Values exactly representable in dt (random codes, NaN/inf included), so the round trip must be bit-exact. */
static float *representable(ap_dtype dt, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        if (dt == AP_DT_F32) {
            v[i] = bits_f(rnd() ^ (rnd() << 16));
            continue;
        }
        uint16_t h = (uint16_t)rnd();
        ap_dtype_to_f32(dt, &h, &v[i], 1);
    }
    return v;
}

static int same_bits(const ap_st_tensor *t, const float *src, size_t n)
{
    if (!t || (size_t)t->numel != n)
        return 0;
    unsigned char *want = malloc(n * 4 + 1);
    ap_dtype_from_f32(t->dtype, src, want, n);
    int ok = memcmp(want, t->data, n * ap_dtype_size(t->dtype)) == 0;
    free(want);
    return ok;
}

static void test_roundtrip(void)
{
    ap_dtype dts[] = {AP_DT_BF16, AP_DT_F16, AP_DT_F32};
    for (int k = 0; k < 3; k++) {
        ap_dtype dt = dts[k];
        float *a = representable(dt, 15 * 7), *b = representable(dt, 1), *c = representable(dt, 2 * 3 * 5);
        ap_st_entry e[] = {
            {"w.matrix", dt, 2, {15, 7}, a},
            {"scalar", dt, 0, {0}, b},
            {"empty", dt, 2, {0, 5}, NULL},
            {"cube \"q\"\n", dt, 3, {2, 3, 5}, c},
        };
        char path[400];
        snprintf(path, sizeof path, "%s/rt_%s.safetensors", tmpdir, ap_dtype_name(dt));
        ap_error err = {0};
        AP_CHECK(ap_safetensors_write(path, e, 4, &err) == AP_OK, "%s: write (%s)", ap_dtype_name(dt), err.msg);
        ap_safetensors *st = NULL;
        AP_CHECK(ap_safetensors_open(&st, path, &err) == AP_OK, "%s: read back (%s)", ap_dtype_name(dt), err.msg);
        if (st) {
            const ap_st_tensor *t0 = ap_safetensors_find(st, "w.matrix"), *t1 = ap_safetensors_find(st, "scalar"),
                               *t2 = ap_safetensors_find(st, "empty"), *t3 = ap_safetensors_find(st, "cube \"q\"\n");
            AP_CHECK(ap_safetensors_count(st) == 4 && t0 && t0->dtype == dt && t0->ndim == 2 && t0->shape[0] == 15 &&
                         t0->shape[1] == 7 && t1 && t1->ndim == 0 && t1->numel == 1 && t2 && t2->numel == 0 &&
                         t2->shape[1] == 5 && t3 && t3->ndim == 3,
                     "%s: names, dtypes and shapes survive (scalar, zero-size, escaped name)", ap_dtype_name(dt));
            AP_CHECK(same_bits(t0, a, 105) && same_bits(t1, b, 1) && same_bits(t3, c, 30),
                     "%s: data bit-exact (incl. NaN/inf codes)", ap_dtype_name(dt));
            ap_safetensors_close(st);
        }
        /* header padded with spaces to 8 */
        FILE *fp = fopen(path, "rb");
        unsigned char len8[8];
        uint64_t hl = 0;
        int padded = 0;
        if (fp && fread(len8, 1, 8, fp) == 8) {
            for (int i = 7; i >= 0; i--)
                hl = hl << 8 | len8[i];
            char *h = malloc(hl + 1);
            if (fread(h, 1, hl, fp) == hl)
                padded = hl % 8 == 0 && (h[hl - 1] == '}' || h[hl - 1] == ' ');
            free(h);
        }
        if (fp)
            fclose(fp);
        AP_CHECK(padded, "%s: header length %llu is a multiple of 8", ap_dtype_name(dt), (unsigned long long)hl);
        free(a);
        free(b);
        free(c);
    }
    AP_CHECK(count_tmp_files(tmpdir) == 0, "no temp files left after writes");
}

static void test_writer_errors(void)
{
    float x[4] = {1, 2, 3, 4};
    ap_st_entry dup[] = {{"a", AP_DT_F32, 1, {4}, x}, {"a", AP_DT_F32, 1, {4}, x}};
    ap_st_entry neg[] = {{"a", AP_DT_F32, 1, {-4}, x}};
    ap_st_entry meta[] = {{"__metadata__", AP_DT_F32, 1, {4}, x}};
    ap_st_entry nodata[] = {{"a", AP_DT_F32, 1, {4}, NULL}};
    char path[400];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    ap_error err = {0};
    AP_CHECK(ap_safetensors_write(path, dup, 2, &err) == AP_E_ARG && strstr(err.msg, "duplicate"),
             "writer refuses duplicate names (%s)", err.msg);
    AP_CHECK(ap_safetensors_write(path, neg, 1, &err) == AP_E_ARG, "writer refuses a negative dimension");
    AP_CHECK(ap_safetensors_write(path, meta, 1, &err) == AP_E_ARG, "writer refuses the name __metadata__");
    AP_CHECK(ap_safetensors_write(path, nodata, 1, &err) == AP_E_ARG, "writer refuses missing data");
    struct stat sb;
    AP_CHECK(stat(path, &sb) != 0, "no file after refused writes");
    snprintf(path, sizeof path, "%s/no/such/dir/x.safetensors", tmpdir);
    AP_CHECK(ap_safetensors_write(path, dup, 1, &err) == AP_E_IO && strstr(err.msg, "no/such/dir"),
             "unwritable folder: AP_E_IO naming the path (%s)", err.msg);
}

/* Write under a file size limit (a stand-in for a full disk) in a child process. */
static void test_full_disk(void)
{
    size_t n = 1 << 18;
    float *v = representable(AP_DT_F32, n);
    ap_st_entry e[] = {{"big", AP_DT_F32, 1, {(int64_t)n}, v}};
    char path[400];
    snprintf(path, sizeof path, "%s/full.safetensors", tmpdir);
    ap_error err = {0};
    ap_st_entry small[] = {{"old", AP_DT_F32, 1, {4}, v}};
    AP_CHECK(ap_safetensors_write(path, small, 1, &err) == AP_OK, "an old file to be replaced");
    struct stat before, after;
    stat(path, &before);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {100000, 100000};
        setrlimit(RLIMIT_FSIZE, &rl);
        ap_status s = ap_safetensors_write(path, e, 1, &err);
        _exit(s == AP_E_IO && strstr(err.msg, "full.safetensors") && strstr(err.msg, "write") ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    AP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "write past the file size limit: AP_E_IO naming the file");
    AP_CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino && after.st_size == before.st_size,
             "the old file is untouched under the final name");
    AP_CHECK(count_tmp_files(tmpdir) == 0, "the temp file is removed after the failure");
    /* a sharded model folder under the same limit: no shard or index under a final name */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/fullck", tmpdir);
    /* each file stays under the per-file limit but the third: the first two must not appear either */
    ap_st_entry sh[] = {
        {"a", AP_DT_F32, 1, {20000}, v}, {"b", AP_DT_F32, 1, {20000}, v}, {"c", AP_DT_F32, 1, {30000}, v}};
    pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {100000, 100000};
        setrlimit(RLIMIT_FSIZE, &rl);
        _exit(ap_checkpoint_write(dir, NULL, sh, 3, 90000, &err) == AP_E_IO ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        files += de->d_name[0] != '.';
    if (d)
        closedir(d);
    AP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && files == 0,
             "sharded write on a full disk: AP_E_IO and no file under a final name (%d)", files);
    AP_CHECK(count_tmp_files(dir) == 0, "sharded write on a full disk leaves no temp files");
    free(v);
}

static void test_sharded(void)
{
    enum { N = 6 };
    float *data[N];
    ap_st_entry e[N];
    char names[N][32];
    for (int i = 0; i < N; i++) {
        data[i] = representable(AP_DT_BF16, 1000);
        snprintf(names[i], sizeof names[i], "layer.%d.weight", i);
        e[i] = (ap_st_entry){names[i], AP_DT_BF16, 2, {25, 40}, data[i]};
    }
    char dir[400], path[500];
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    ap_error err = {0};
    char src[512];
    snprintf(src, sizeof src, "%s/models/ap-tiny", root());
    AP_CHECK(ap_checkpoint_write(dir, src, e, N, 4500, &err) == AP_OK, "sharded write (%s)", err.msg);
    struct stat sb;
    snprintf(path, sizeof path, "%s/model-00003-of-00003.safetensors", dir);
    AP_CHECK(stat(path, &sb) == 0, "3 shards of 2 tensors (2000 bytes each, limit 4500)");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    AP_CHECK(stat(path, &sb) != 0, "no model.safetensors beside the shards");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    AP_CHECK(stat(path, &sb) == 0 && sb.st_size == 604453, "tokenizer.json copied");
    snprintf(path, sizeof path, "%s/config.json", dir);
    ap_config cfg;
    AP_CHECK(ap_config_load(&cfg, path, &err) == AP_OK && cfg.hidden == 128, "config.json copied and loads");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *fp = fopen(path, "rb");
    char idx[4096] = {0};
    size_t il = fp ? fread(idx, 1, sizeof idx - 1, fp) : 0;
    if (fp)
        fclose(fp);
    AP_CHECK(ap_checkpoint_check_index(idx, il, "index", &err) == AP_OK && strstr(idx, "\"total_size\": 12000"),
             "index.json valid with metadata.total_size 12000 (%s)", err.msg);
    ap_checkpoint *ck = NULL;
    AP_CHECK(ap_checkpoint_open(&ck, dir, &err) == AP_OK, "sharded checkpoint opens (%s)", err.msg);
    int ok = ck && ap_checkpoint_count(ck) == N;
    for (int i = 0; ok && i < N; i++)
        ok = same_bits(ap_checkpoint_find(ck, names[i]), data[i], 1000);
    AP_CHECK(ok, "all %d tensors read back bit-exact from the shards", N);
    ap_checkpoint_close(ck);
    /* rewrite as one file: the index and shards go, the folder loads as one file */
    AP_CHECK(ap_checkpoint_write(dir, NULL, e, N, 0, &err) == AP_OK, "rewrite as a single file (%s)", err.msg);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    int gone = stat(path, &sb) != 0;
    snprintf(path, sizeof path, "%s/model-00001-of-00003.safetensors", dir);
    gone &= stat(path, &sb) != 0;
    AP_CHECK(gone, "stale index and shards removed");
    AP_CHECK(ap_checkpoint_open(&ck, dir, &err) == AP_OK && ap_checkpoint_count(ck) == N, "single file reopens");
    ap_checkpoint_close(ck);
    /* and back to shards: the old model.safetensors goes */
    AP_CHECK(ap_checkpoint_write(dir, NULL, e, N, 2000, &err) == AP_OK, "rewrite as 6 shards (%s)", err.msg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    AP_CHECK(stat(path, &sb) != 0, "old model.safetensors removed");
    AP_CHECK(ap_checkpoint_open(&ck, dir, &err) == AP_OK && ap_checkpoint_count(ck) == N, "6 shards reopen (%s)",
             err.msg);
    ap_checkpoint_close(ck);
    AP_CHECK(count_tmp_files(dir) == 0, "no temp files in the model folder");
    for (int i = 0; i < N; i++)
        free(data[i]);
}

/* The SIGBUS policy of the header, as behaviour: rewriting through our writer (rename) leaves an open mapping
 * intact; truncating in place kills a mapped reader with SIGBUS; AP_ST_OPEN_READ is immune. */
static void test_file_changes(void)
{
    enum { N = 4096 };
    float *v = representable(AP_DT_F32, N), *w = representable(AP_DT_F32, N);
    ap_st_entry e[] = {{"t", AP_DT_F32, 1, {N}, v}}, e2[] = {{"t", AP_DT_F32, 1, {N}, w}};
    char path[400];
    snprintf(path, sizeof path, "%s/changing.safetensors", tmpdir);
    ap_error err = {0};
    ap_safetensors *st = NULL;
    ap_safetensors_write(path, e, 1, &err);
    AP_CHECK(ap_safetensors_open(&st, path, &err) == AP_OK, "open for the rewrite test (%s)", err.msg);
    AP_CHECK(ap_safetensors_write(path, e2, 1, &err) == AP_OK, "rewrite the open file through the writer");
    AP_CHECK(st && same_bits(ap_safetensors_find(st, "t"), v, N), "the open mapping still holds the old data");
    ap_safetensors_close(st);
    for (int mode = 0; mode < 2; mode++) {
        ap_safetensors_write(path, e, 1, &err);
        pid_t pid = fork();
        if (pid == 0) {
            ap_safetensors *s2 = NULL;
            signal(SIGBUS, SIG_DFL); /* sanitizers install their own handler */
            if (ap_safetensors_open_flags(&s2, path, mode ? AP_ST_OPEN_READ : 0, &err) != AP_OK)
                _exit(3);
            if (truncate(path, 0) != 0)
                _exit(4);
            _exit(same_bits(ap_safetensors_find(s2, "t"), v, N) ? 0 : 5);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (mode == 0)
            AP_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
                     "mmap: a file truncated in place raises SIGBUS on access (documented)");
        else
            AP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                     "AP_ST_OPEN_READ: a file truncated in place leaves the loaded data intact");
    }
    free(v);
    free(w);
}

static void test_buffer(void)
{
    /* the smallest valid files, by hand */
    static const char hdr[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
    unsigned char buf[128] = {0};
    size_t hl = sizeof hdr - 1;
    buf[0] = (unsigned char)hl;
    memcpy(buf + 8, hdr, hl);
    float one = 1.0f;
    memcpy(buf + 8 + hl, &one, 4);
    ap_safetensors *st = NULL;
    ap_error err = {0};
    AP_CHECK(ap_safetensors_open_buffer(&st, buf, 8 + hl + 4, "buf", &err) == AP_OK &&
                 ap_safetensors_find(st, "a")->numel == 1,
             "unpadded, unaligned buffer file opens (%s)", err.msg);
    float got = 0;
    if (st)
        ap_dtype_to_f32(AP_DT_F32, ap_safetensors_find(st, "a")->data, &got, 1);
    AP_CHECK(got == 1.0f, "scalar value read from unaligned data");
    ap_safetensors_close(st);
    AP_CHECK(ap_safetensors_open_buffer(&st, buf, 8 + hl + 5, "buf", &err) == AP_E_FORMAT && strstr(err.msg, "buf") &&
                 strstr(err.msg, "trailing"),
             "one trailing byte refused (%s)", err.msg);
    static const char empty[] = "{}      ";
    memset(buf, 0, sizeof buf);
    buf[0] = 8;
    memcpy(buf + 8, empty, 8);
    AP_CHECK(ap_safetensors_open_buffer(&st, buf, 16, "buf", &err) == AP_OK && ap_safetensors_count(st) == 0,
             "a file with no tensors is valid");
    ap_safetensors_close(st);
    ap_checkpoint *ck = NULL;
    AP_CHECK(ap_checkpoint_open(&ck, tmpdir, &err) == AP_E_IO && strstr(err.msg, tmpdir),
             "folder without weights: AP_E_IO naming it (%s)", err.msg);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ap-test-st.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_ap_tiny();
    test_conversion(AP_DT_F16, f16_value, 0x7bff, 0x7c00, "f16");
    test_conversion(AP_DT_BF16, bf16_value, 0x7f7f, 0x7f80, "bf16");
    test_bulk(AP_DT_F16, f16_value, "f16");
    test_bulk(AP_DT_BF16, bf16_value, "bf16");
    test_roundtrip();
    test_writer_errors();
    test_full_disk();
    test_sharded();
    test_buffer();
    test_file_changes();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return aptest_done();
}
