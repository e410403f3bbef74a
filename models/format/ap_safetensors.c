/* ap_safetensors.c — the safetensors reader (mmap or buffer, full validation), dtype conversion, checkpoints
 * (one file or index + shards) and the atomic writer. */
#include "ap_safetensors.h"
#include "ap_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#ifdef __clang__
#include <cpuid.h>
#endif
#define AP_HAVE_F16C_PATH 1
#endif

#include "ap_json.h"

struct ap_safetensors {
    char *label; /* owned: the path or the caller's label */
    void *map;   /* owned mmap (or NULL) */
    size_t map_len;
    void *heap; /* owned copy of the file when read into memory (or NULL) */
    size_t n;
    ap_st_tensor *tensors;        /* owned, sorted by data offset */
    const ap_st_tensor **by_name; /* owned, pointers into tensors sorted by name (find_sorted) */
    char *names;                  /* owned arena the tensor names point into */
};

/* ---------- dtypes ---------- */

size_t ap_dtype_size(ap_dtype dt)
{
    switch (dt) {
    case AP_DT_F32: return 4;
    case AP_DT_F16: return 2;
    case AP_DT_BF16: return 2;
    }
    return 0;
}

const char *ap_dtype_name(ap_dtype dt)
{
    switch (dt) {
    case AP_DT_F32: return "F32";
    case AP_DT_F16: return "F16";
    case AP_DT_BF16: return "BF16";
    }
    return "?";
}

/* Every dtype the safetensors format defines that we do not compute with. */
static const char *const unsupported_dtypes[] = {
    "BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2",
    "I16",  "U16", "I32", "U32",     "F64",     "I64",     "U64", "C64",
};

/* 0: supported (dt set), 1: a safetensors dtype we do not support, -1: not a safetensors dtype. */
static int parse_dtype(const char *s, ap_dtype *dt)
{
    if (strcmp(s, "F32") == 0) {
        *dt = AP_DT_F32;
        return 0;
    }
    if (strcmp(s, "F16") == 0) {
        *dt = AP_DT_F16;
        return 0;
    }
    if (strcmp(s, "BF16") == 0) {
        *dt = AP_DT_BF16;
        return 0;
    }
    for (size_t i = 0; i < sizeof unsupported_dtypes / sizeof *unsupported_dtypes; i++)
        if (strcmp(s, unsupported_dtypes[i]) == 0)
            return 1;
    return -1;
}

static float f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) {
        if (m == 0) {
            u = s;
        } else { /* subnormal: normalise into a float32 exponent */
            e = 113;
            while (!(m & 0x400)) {
                m <<= 1;
                e--;
            }
            u = s | (e << 23) | ((m & 0x3ff) << 13);
        }
    } else if (e == 31) {
        u = s | 0x7f800000u | (m << 13);
    } else {
        u = s | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t s = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return s | 0x7e00 | ((ax >> 13) & 0x3ff); /* NaN stays NaN (quiet), payload kept */
    if (ax >= 0x477ff000u)
        return s | 0x7c00;  /* rounds to +-inf (or is inf) */
    if (ax < 0x38800000u) { /* half subnormal or zero */
        if (ax <= 0x33000000u)
            return s;
        uint32_t m = (ax & 0x7fffff) | 0x800000, shift = 126 - (ax >> 23);
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        q += (rem > half || (rem == half && (q & 1)));
        return s | (uint16_t)q;
    }
    return s | (uint16_t)((ax + 0xfff + ((ax >> 13) & 1) - 0x38000000u) >> 13);
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40); /* NaN stays NaN (quiet) */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

#ifdef AP_HAVE_F16C_PATH
/* F16C converts exactly (subnormals included; RNE the other way, as the scalar code), 8 lanes at a time; only
 * signalling NaNs differ (they come out quiet). Used when the CPU has it; tails go through the scalar code. */
__attribute__((target("avx,f16c"))) static size_t f16_to_f32_f16c(const unsigned char *p, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i))));
    return i;
}

__attribute__((target("avx,f16c"))) static size_t f32_to_f16_f16c(const float *src, unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(p + 2 * i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    return i;
}

static int have_f16c(void)
{
    __builtin_cpu_init();
#ifdef __clang__
    /* clang 14's __builtin_cpu_supports does not know "f16c": CPUID leaf 1, ECX bit 29 (AVX covers OS support) */
    unsigned a, b, c, d;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
#else
    return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
#endif
}
#else
static size_t f16_to_f32_f16c(const unsigned char *p, float *dst, size_t n)
{
    (void)p;
    (void)dst;
    (void)n;
    return 0;
}
static size_t f32_to_f16_f16c(const float *src, unsigned char *p, size_t n)
{
    (void)src;
    (void)p;
    (void)n;
    return 0;
}
static int have_f16c(void) { return 0; }
#endif

/* Sources may be unaligned (safetensors does not require alignment): load through memcpy. */
void ap_dtype_to_f32(ap_dtype dt, const void *src, float *dst, size_t n)
{
    const unsigned char *p = src;
    switch (dt) {
    case AP_DT_F32: memcpy(dst, src, n * 4); break;
    case AP_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(dst + i, &u, 4);
        }
        break;
    case AP_DT_F16:
        for (size_t i = n >= 8 && have_f16c() ? f16_to_f32_f16c(p, dst, n) : 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = f16_to_f32(h);
        }
        break;
    }
}

void ap_dtype_from_f32(ap_dtype dt, const float *src, void *dst, size_t n)
{
    unsigned char *p = dst;
    switch (dt) {
    case AP_DT_F32: memcpy(dst, src, n * 4); break;
    case AP_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    case AP_DT_F16:
        for (size_t i = n >= 8 && have_f16c() ? f32_to_f16_f16c(src, p, n) : 0; i < n; i++) {
            uint16_t h = f32_to_f16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        break;
    }
}

/* ---------- reading ---------- */

#define Q(s, buf) ap_json_quote((s), (buf), sizeof(buf))

static const ap_json_limits header_limits = {
    .max_depth = 16, /* a valid header is 3 deep */
    .max_nodes = (size_t)1 << 23,
};

void ap_safetensors_close(ap_safetensors *st)
{
    if (!st)
        return;
    if (st->map)
        munmap(st->map, st->map_len);
    free(st->heap);
    free(st->label);
    free(st->tensors);
    free(st->by_name);
    free(st->names);
    free(st);
}

size_t ap_safetensors_count(const ap_safetensors *st) { return st ? st->n : 0; }

const ap_st_tensor *ap_safetensors_at(const ap_safetensors *st, size_t i)
{
    return (st && i < st->n) ? &st->tensors[i] : NULL;
}

/* Binary search of a name-sorted pointer array: one for a file's tensors and one for a checkpoint's. */
static const ap_st_tensor *find_sorted(const ap_st_tensor *const *sorted, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid]->name, name);
        if (c == 0)
            return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_tensor_ptr(const void *a, const void *b)
{
    return strcmp((*(const ap_st_tensor *const *)a)->name, (*(const ap_st_tensor *const *)b)->name);
}

const ap_st_tensor *ap_safetensors_find(const ap_safetensors *st, const char *name)
{
    return (st && name) ? find_sorted(st->by_name, st->n, name) : NULL;
}

/* A tensor's byte range, relative to the data section. */
typedef struct {
    uint64_t begin, end;
} span;

/* Largest integer accepted for shapes and offsets: doubles hold every integer up to 2^53 exactly. */
#define MAX_JSON_INT ((int64_t)1 << 53)

static ap_status parse_shape(ap_st_tensor *t, const cJSON *shape, const char *label, const char *qn, ap_error *err)
{
    if (!cJSON_IsArray(shape))
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"shape\" must be an array", label, qn);
    int nd = cJSON_GetArraySize(shape);
    if (nd > AP_ST_MAX_DIMS)
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"shape\" has %d dimensions (at most %d)",
                            label, qn, nd, AP_ST_MAX_DIMS);
    uint64_t numel = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        int64_t v;
        if (!ap_json_is_int(d, 0, MAX_JSON_INT, &v))
            return ap_error_set(err, AP_E_FORMAT,
                                "%s: tensor \"%s\": field \"shape\": dimension %d is not a non-negative integer"
                                " below 2^53",
                                label, qn, i);
        t->shape[i] = v;
        if (__builtin_mul_overflow(numel, (uint64_t)v, &numel) || numel > (uint64_t)INT64_MAX)
            return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"shape\": element count overflows", label,
                                qn);
    }
    t->ndim = nd;
    t->numel = (int64_t)numel;
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)ap_dtype_size(t->dtype), &nbytes) || nbytes > SIZE_MAX)
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"shape\": byte size overflows", label, qn);
    t->nbytes = (size_t)nbytes;
    return AP_OK;
}

static ap_status parse_offsets(span *sp, const cJSON *off, uint64_t data_len, const char *label, const char *qn,
                               ap_error *err)
{
    int64_t b, e;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"data_offsets\" must be [begin, end]", label,
                            qn);
    if (!ap_json_is_int(off->child, 0, MAX_JSON_INT, &b) || !ap_json_is_int(off->child->next, 0, MAX_JSON_INT, &e))
        return ap_error_set(err, AP_E_FORMAT,
                            "%s: tensor \"%s\": field \"data_offsets\" must hold non-negative integers below 2^53",
                            label, qn);
    if (e < b)
        return ap_error_set(err, AP_E_FORMAT,
                            "%s: tensor \"%s\": field \"data_offsets\": end %" PRId64 " is before begin %" PRId64,
                            label, qn, e, b);
    if ((uint64_t)e > data_len)
        return ap_error_set(err, AP_E_FORMAT,
                            "%s: tensor \"%s\": field \"data_offsets\": [%" PRId64 ", %" PRId64 ") runs past the end"
                            " of the data section (%" PRIu64 " bytes; truncated file?)",
                            label, qn, b, e, data_len);
    sp->begin = (uint64_t)b;
    sp->end = (uint64_t)e;
    return AP_OK;
}

static ap_status parse_entry(ap_st_tensor *t, span *sp, const cJSON *e, uint64_t data_len, const char *label,
                             ap_error *err)
{
    char qn[80];
    Q(e->string, qn);
    if (!cJSON_IsObject(e))
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": entry must be an object", label, qn);
    char where[120];
    snprintf(where, sizeof where, "tensor \"%s\"", qn);
    ap_status ds = ap_json_check_unique_keys(e, 0, label, where, err); /* cJSON would take the first */
    if (ds)
        return ds;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"dtype\" missing or not a string", label, qn);
    int k = parse_dtype(dt->valuestring, &t->dtype);
    char qd[80];
    if (k > 0)
        return ap_error_set(err, AP_E_UNSUPPORTED,
                            "%s: tensor \"%s\": field \"dtype\": unsupported dtype \"%s\""
                            " (F32, F16 and BF16 are supported)",
                            label, qn, Q(dt->valuestring, qd));
    if (k < 0)
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"dtype\": invalid dtype \"%s\"", label, qn,
                            Q(dt->valuestring, qd));
    if (!shape)
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"shape\" missing", label, qn);
    if (!off)
        return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"data_offsets\" missing", label, qn);
    ap_status st = parse_shape(t, shape, label, qn, err);
    if (!st)
        st = parse_offsets(sp, off, data_len, label, qn, err);
    if (st)
        return st;
    if (sp->end - sp->begin != (uint64_t)t->nbytes)
        return ap_error_set(
            err, AP_E_FORMAT,
            "%s: tensor \"%s\": size mismatch: shape needs %zu bytes of %s but data_offsets span %" PRIu64, label, qn,
            t->nbytes, ap_dtype_name(t->dtype), sp->end - sp->begin);
    return AP_OK;
}

static ap_status check_metadata(const cJSON *md, const char *label, ap_error *err)
{
    if (cJSON_IsNull(md))
        return AP_OK;
    if (!cJSON_IsObject(md))
        return ap_error_set(err, AP_E_FORMAT, "%s: field \"__metadata__\" must be an object of strings", label);
    ap_status ds = ap_json_check_unique_keys(md, 0, label, "field \"__metadata__\"", err);
    if (ds)
        return ds;
    for (const cJSON *c = md->child; c; c = c->next) {
        if (!cJSON_IsString(c)) {
            char q[80];
            return ap_error_set(err, AP_E_FORMAT, "%s: field \"__metadata__\": value of \"%s\" is not a string", label,
                                Q(c->string, q));
        }
    }
    return AP_OK;
}

/* qsort comparators are total orders: offsets, then name (strcmp). */
typedef struct {
    span sp;
    ap_st_tensor t;
} item;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->sp.begin != y->sp.begin)
        return x->sp.begin < y->sp.begin ? -1 : 1;
    if (x->sp.end != y->sp.end)
        return x->sp.end < y->sp.end ? -1 : 1;
    return strcmp(x->t.name, y->t.name);
}

/* Entries sorted by offset must tile [0, data_len) exactly. */
static ap_status check_tiling(const item *it, size_t n, uint64_t data_len, const char *label, ap_error *err)
{
    uint64_t expect = 0;
    char q1[80], q2[80];
    for (size_t i = 0; i < n; i++) {
        if (it[i].sp.begin > expect)
            return ap_error_set(err, AP_E_FORMAT,
                                "%s: tensor \"%s\": field \"data_offsets\": gap of %" PRIu64
                                " bytes before it (data must be contiguous)",
                                label, Q(it[i].t.name, q1), it[i].sp.begin - expect);
        if (it[i].sp.begin < expect)
            return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": field \"data_offsets\": overlaps tensor \"%s\"",
                                label, Q(it[i].t.name, q1), Q(it[i - 1].t.name, q2));
        expect = it[i].sp.end;
    }
    if (expect != data_len)
        return ap_error_set(err, AP_E_FORMAT, "%s: %" PRIu64 " trailing bytes after the last tensor's data", label,
                            data_len - expect);
    return AP_OK;
}

/* Copy names into one arena so the cJSON tree can go. */
static ap_status finish(ap_safetensors *st, item *it, size_t n, const uint8_t *data, const char *label, ap_error *err)
{
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(it[i].t.name) + 1;
    st->names = malloc(total);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    if (!st->names || !st->tensors || !st->by_name)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory for %zu tensors", label, n);
    char *p = st->names;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(it[i].t.name) + 1;
        memcpy(p, it[i].t.name, l);
        st->tensors[i] = it[i].t;
        st->tensors[i].name = p;
        st->tensors[i].data = data + it[i].sp.begin;
        st->by_name[i] = &st->tensors[i];
        p += l;
    }
    st->n = n;
    qsort(st->by_name, n, sizeof *st->by_name, cmp_tensor_ptr);
    for (size_t i = 1; i < n; i++) {
        const char *a = st->by_name[i - 1]->name, *b = st->by_name[i]->name;
        if (strcmp(a, b) == 0) {
            char q[80];
            return ap_error_set(err, AP_E_FORMAT, "%s: tensor \"%s\": duplicate tensor name", label, Q(a, q));
        }
    }
    return AP_OK;
}

static ap_status parse_header(ap_safetensors *st, const uint8_t *buf, size_t len, const char *label, ap_error *err)
{
    if (len < 8)
        return ap_error_set(err, AP_E_FORMAT, "%s: file is %zu bytes, shorter than the 8-byte header length", label,
                            len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | buf[i];
    if (hl > AP_ST_MAX_HEADER)
        return ap_error_set(err, AP_E_FORMAT, "%s: header length %" PRIu64 " exceeds the limit of %u bytes", label, hl,
                            AP_ST_MAX_HEADER);
    if (hl > len - 8)
        return ap_error_set(err, AP_E_FORMAT, "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                            label, hl, len);
    if (hl < 2 || buf[8] != '{')
        return ap_error_set(err, AP_E_FORMAT, "%s: header is not a JSON object", label);
    cJSON *root = NULL;
    char hlabel[600];
    snprintf(hlabel, sizeof hlabel, "%s: header", label); /* JSON-level errors point into the header */
    ap_status s = ap_json_parse(&root, (const char *)buf + 8, (size_t)hl, &header_limits, hlabel, err);
    if (s)
        return s;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ap_error_set(err, AP_E_FORMAT, "%s: header is not a JSON object", label);
    }
    uint64_t data_len = len - 8 - hl;
    size_t n = 0;
    for (const cJSON *c = root->child; c; c = c->next)
        n++;
    item *it = calloc(n ? n : 1, sizeof *it);
    if (!it) {
        cJSON_Delete(root);
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory for %zu header entries", label, n);
    }
    size_t k = 0;
    int seen_md = 0;
    for (const cJSON *c = root->child; c && !s; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (seen_md++)
                s = ap_error_set(err, AP_E_FORMAT, "%s: field \"__metadata__\" appears twice", label);
            else
                s = check_metadata(c, label, err);
            continue;
        }
        it[k].t.name = c->string;
        s = parse_entry(&it[k].t, &it[k].sp, c, data_len, label, err);
        k++;
    }
    if (!s) {
        qsort(it, k, sizeof *it, cmp_item);
        /* finish() checks duplicates first: two entries with one name would otherwise read as an overlap. */
        s = finish(st, it, k, buf + 8 + hl, label, err);
        if (!s)
            s = check_tiling(it, k, data_len, label, err);
    }
    free(it);
    cJSON_Delete(root);
    return s;
}

static ap_status open_common(ap_safetensors **out, ap_safetensors *st, const uint8_t *buf, size_t len, ap_error *err)
{
    ap_status s = parse_header(st, buf, len, st->label, err);
    if (s) {
        ap_safetensors_close(st);
        return s;
    }
    *out = st;
    return AP_OK;
}

static ap_safetensors *new_file(const char *label)
{
    ap_safetensors *st = calloc(1, sizeof *st);
    if (st && !(st->label = strdup(label ? label : "(buffer)"))) {
        free(st);
        st = NULL;
    }
    return st;
}

ap_status ap_safetensors_open_buffer(ap_safetensors **out, const void *buf, size_t len, const char *label,
                                     ap_error *err)
{
    *out = NULL;
    ap_safetensors *st = new_file(label);
    if (!st)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", label ? label : "(buffer)");
    static const uint8_t empty[1];
    return open_common(out, st, buf ? buf : empty, buf ? len : 0, err);
}

ap_status ap_safetensors_open_flags(ap_safetensors **out, const char *path, unsigned flags, ap_error *err)
{
    *out = NULL;
    int fd;
    size_t len;
    ap_status os = ap_file_open_regular(path, SIZE_MAX, &fd, &len, err);
    if (os)
        return os;
    ap_safetensors *st = new_file(path);
    if (!st) {
        close(fd);
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", path);
    }
    const uint8_t *buf = NULL;
    if (len >= 8 && !(flags & AP_ST_OPEN_READ)) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            ap_safetensors_close(st);
            return ap_error_set(err, AP_E_IO, "%s: mmap failed: %s", path, strerror(e));
        }
        st->map = m;
        st->map_len = len;
        buf = m;
    } else if (len >= 8) {
        /* read() the whole file into the heap: no SIGBUS possible, costs the file's size in memory */
        char *heap;
        ap_status s = ap_file_read_all(fd, len, path, &heap, err);
        st->heap = heap;
        if (s) {
            close(fd);
            ap_safetensors_close(st);
            return s;
        }
        buf = st->heap;
    } else {
        static const uint8_t empty[8];
        buf = empty; /* shorter than 8 bytes: rejected by the header check without reading */
    }
    close(fd);
    return open_common(out, st, buf, len, err);
}

ap_status ap_safetensors_open(ap_safetensors **out, const char *path, ap_error *err)
{
    return ap_safetensors_open_flags(out, path, 0, err);
}

/* ---------- checkpoints ---------- */

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define MAX_INDEX_BYTES ((size_t)256 << 20)
#define MAX_SHARDS 65536

struct ap_checkpoint {
    ap_safetensors **files; /* owned */
    size_t nfiles;
    const ap_st_tensor **all; /* owned array; file by file, each in data order */
    const ap_st_tensor **by_name;
    size_t n;
};

typedef struct {
    const char *tensor, *file; /* borrowed from the cJSON tree */
} wm_pair;

/* A parsed index: weight_map pairs sorted by tensor name, and the distinct file names sorted. */
typedef struct {
    cJSON *root;
    wm_pair *pairs;
    size_t npairs;
    const char **files;
    size_t nfiles;
} index_info;

static void index_free(index_info *ix)
{
    cJSON_Delete(ix->root);
    free(ix->pairs);
    free(ix->files);
    memset(ix, 0, sizeof *ix);
}

/* A shard name must name a file in the model folder itself. */
static const char *bad_file_name(const char *s)
{
    if (!*s)
        return "is empty";
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return "is not a file name";
    if (strchr(s, '/'))
        return "contains '/' (only plain file names in the model folder are allowed)";
    if (strchr(s, '\\'))
        return "contains '\\' (only plain file names in the model folder are allowed)";
    if (strlen(s) > 255)
        return "is longer than 255 bytes";
    return NULL;
}

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const wm_pair *)a)->tensor, ((const wm_pair *)b)->tensor);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static const ap_json_limits index_limits = {.max_depth = 16, .max_nodes = (size_t)1 << 23};

static ap_status index_parse(index_info *ix, const char *json, size_t len, const char *label, ap_error *err)
{
    memset(ix, 0, sizeof *ix);
    ap_status s = ap_json_parse(&ix->root, json, len, &index_limits, label, err);
    if (s)
        return s;
    const cJSON *root = ix->root;
    if (!cJSON_IsObject(root))
        return ap_error_set(err, AP_E_FORMAT, "%s: not a JSON object", label);
    if ((s = ap_json_check_unique_keys(root, 0, label, "top level", err)))
        return s;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (md && !cJSON_IsNull(md)) {
        if (!cJSON_IsObject(md))
            return ap_error_set(err, AP_E_FORMAT, "%s: field \"metadata\" must be an object", label);
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(md, "total_size");
        if (ts && !ap_json_is_int(ts, 0, INT64_MAX, NULL))
            return ap_error_set(err, AP_E_FORMAT, "%s: field \"metadata.total_size\" must be a non-negative integer",
                                label);
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm))
        return ap_error_set(err, AP_E_FORMAT, "%s: field \"weight_map\" missing or not an object", label);
    if ((s = ap_json_check_unique_keys(wm, 0, label, "field \"weight_map\"", err)))
        return s;
    size_t n = 0;
    for (const cJSON *c = wm->child; c; c = c->next)
        n++;
    if (!n)
        return ap_error_set(err, AP_E_FORMAT, "%s: field \"weight_map\" is empty", label);
    ix->pairs = malloc(n * sizeof *ix->pairs);
    ix->files = malloc(n * sizeof *ix->files);
    if (!ix->pairs || !ix->files)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", label);
    char q[80], q2[80];
    for (const cJSON *c = wm->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return ap_error_set(err, AP_E_FORMAT, "%s: field \"weight_map\": tensor \"%s\": file name must be a string",
                                label, Q(c->string, q));
        const char *why = bad_file_name(c->valuestring);
        if (why)
            return ap_error_set(err, AP_E_FORMAT, "%s: field \"weight_map\": tensor \"%s\": file name \"%s\" %s", label,
                                Q(c->string, q), Q(c->valuestring, q2), why);
        ix->pairs[ix->npairs++] = (wm_pair){c->string, c->valuestring};
        ix->files[ix->nfiles++] = c->valuestring;
    }
    qsort(ix->pairs, ix->npairs, sizeof *ix->pairs, cmp_pair);
    qsort(ix->files, ix->nfiles, sizeof *ix->files, cmp_cstr);
    size_t u = 0;
    for (size_t i = 0; i < ix->nfiles; i++)
        if (!u || strcmp(ix->files[u - 1], ix->files[i]) != 0)
            ix->files[u++] = ix->files[i];
    ix->nfiles = u;
    if (u > MAX_SHARDS)
        return ap_error_set(err, AP_E_FORMAT, "%s: field \"weight_map\" names %zu files (at most %d)", label, u,
                            MAX_SHARDS);
    return AP_OK;
}

ap_status ap_checkpoint_check_index(const char *json, size_t len, const char *label, ap_error *err)
{
    index_info ix;
    ap_status s = index_parse(&ix, json ? json : "", json ? len : 0, label ? label : INDEX_NAME, err);
    index_free(&ix);
    return s;
}

void ap_checkpoint_close(ap_checkpoint *ck)
{
    if (!ck)
        return;
    for (size_t i = 0; i < ck->nfiles; i++)
        ap_safetensors_close(ck->files[i]);
    free(ck->files);
    free(ck->all);
    free(ck->by_name);
    free(ck);
}

size_t ap_checkpoint_count(const ap_checkpoint *ck) { return ck ? ck->n : 0; }

const ap_st_tensor *ap_checkpoint_at(const ap_checkpoint *ck, size_t i)
{
    return (ck && i < ck->n) ? ck->all[i] : NULL;
}

const ap_st_tensor *ap_checkpoint_find(const ap_checkpoint *ck, const char *name)
{
    return (ck && name) ? find_sorted(ck->by_name, ck->n, name) : NULL;
}

static ap_status join_path(char *buf, size_t n, const char *dir, const char *name, ap_error *err)
{
    int k = snprintf(buf, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n)
        return ap_error_set(err, AP_E_ARG, "%s/%s: path too long", dir, name);
    return AP_OK;
}

/* Which file holds tensor t? */
static const char *ck_file_of(const ap_checkpoint *ck, const ap_st_tensor *t)
{
    for (size_t f = 0; f < ck->nfiles; f++)
        if (t >= ck->files[f]->tensors && t < ck->files[f]->tensors + ck->files[f]->n)
            return ck->files[f]->label;
    return "?";
}

/* Gather every tensor of every file; names must be unique across files. */
static ap_status ck_collect(ap_checkpoint *ck, ap_error *err)
{
    size_t n = 0;
    for (size_t f = 0; f < ck->nfiles; f++)
        n += ap_safetensors_count(ck->files[f]);
    ck->all = malloc((n ? n : 1) * sizeof *ck->all);
    ck->by_name = malloc((n ? n : 1) * sizeof *ck->by_name);
    if (!ck->all || !ck->by_name)
        return ap_error_set(err, AP_E_NOMEM, "out of memory for %zu tensors", n);
    for (size_t f = 0; f < ck->nfiles; f++)
        for (size_t i = 0; i < ck->files[f]->n; i++)
            ck->all[ck->n++] = &ck->files[f]->tensors[i];
    memcpy(ck->by_name, ck->all, n * sizeof *ck->all);
    qsort(ck->by_name, n, sizeof *ck->by_name, cmp_tensor_ptr);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(ck->by_name[i - 1]->name, ck->by_name[i]->name) == 0) {
            char q[80];
            return ap_error_set(err, AP_E_FORMAT,
                                "%s: tensor \"%s\" also appears in %s (each tensor belongs to one"
                                " shard)",
                                ck_file_of(ck, ck->by_name[i]), Q(ck->by_name[i]->name, q),
                                ck_file_of(ck, ck->by_name[i - 1]));
        }
    }
    return AP_OK;
}

static ap_status ck_open_sharded(ap_checkpoint *ck, const char *dir, const char *ipath, ap_error *err)
{
    char *text = NULL;
    size_t len = 0;
    ap_status s = ap_json_read_file(ipath, MAX_INDEX_BYTES, &text, &len, err);
    if (s)
        return s;
    index_info ix;
    s = index_parse(&ix, text, len, ipath, err);
    free(text);
    if (!s && !(ck->files = calloc(ix.nfiles, sizeof *ck->files)))
        s = ap_error_set(err, AP_E_NOMEM, "%s: out of memory", ipath);
    char path[PATH_MAX], q[80];
    for (size_t f = 0; !s && f < ix.nfiles; f++) {
        s = join_path(path, sizeof path, dir, ix.files[f], err);
        if (!s)
            s = ap_safetensors_open(&ck->files[f], path, err);
        if (!s)
            ck->nfiles++;
    }
    if (!s)
        s = ck_collect(ck, err);
    /* weight_map and the shards must agree both ways: same names, same file for each. */
    for (size_t i = 0; !s && i < ix.npairs; i++) {
        const ap_st_tensor *t = ap_checkpoint_find(ck, ix.pairs[i].tensor);
        Q(ix.pairs[i].tensor, q);
        if (!t) {
            s = ap_error_set(err, AP_E_FORMAT, "%s: field \"weight_map\": tensor \"%s\" is in none of the shards",
                             ipath, q);
            break;
        }
        const char *file = ck_file_of(ck, t), *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        if (strcmp(base, ix.pairs[i].file) != 0)
            s = ap_error_set(err, AP_E_FORMAT,
                             "%s: field \"weight_map\": tensor \"%s\" is listed in %s but found in %s", ipath, q,
                             ix.pairs[i].file, base);
    }
    for (size_t i = 0; !s && i < ck->n; i++) { /* every listed one is there; now anything unlisted? */
        wm_pair key = {ck->all[i]->name, NULL};
        if (!bsearch(&key, ix.pairs, ix.npairs, sizeof *ix.pairs, cmp_pair))
            s = ap_error_set(err, AP_E_FORMAT, "%s: field \"weight_map\": tensor \"%s\" of %s is not listed", ipath,
                             Q(ck->all[i]->name, q), ck_file_of(ck, ck->all[i]));
    }
    index_free(&ix);
    return s;
}

ap_status ap_checkpoint_open(ap_checkpoint **out, const char *dir, ap_error *err)
{
    *out = NULL;
    ap_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", dir);
    char single[PATH_MAX], index[PATH_MAX];
    ap_status s = join_path(single, sizeof single, dir, SINGLE_NAME, err);
    if (!s)
        s = join_path(index, sizeof index, dir, INDEX_NAME, err);
    struct stat sb;
    /* Like transformers, a single model.safetensors wins over an index. */
    if (!s && stat(single, &sb) == 0) {
        ck->files = calloc(1, sizeof *ck->files);
        if (!ck->files)
            s = ap_error_set(err, AP_E_NOMEM, "%s: out of memory", dir);
        if (!s)
            s = ap_safetensors_open(&ck->files[0], single, err);
        if (!s)
            ck->nfiles = 1;
        if (!s)
            s = ck_collect(ck, err);
    } else if (!s && stat(index, &sb) == 0) {
        s = ck_open_sharded(ck, dir, index, err);
    } else if (!s) {
        s = ap_error_set(err, AP_E_IO, "%s: no %s or %s in this folder", dir, SINGLE_NAME, INDEX_NAME);
    }
    if (s) {
        ap_checkpoint_close(ck);
        return s;
    }
    *out = ck;
    return AP_OK;
}
