/* ap_safetensors_write.c — writing safetensors files and model folders atomically (temp file, fsync, rename),
 * so a failure (full disk, write error) never leaves a half-written file under the final name. */
#include "ap_safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ap_json.h"

/* ---------- atomic file output ---------- */

typedef struct {
    int fd;              /* -1 once closed */
    char tmp[PATH_MAX];  /* the temp file's name ("" when none) */
    char path[PATH_MAX]; /* the final name */
} afile;

static ap_status io_err(ap_error *err, const char *path, const char *what, int e)
{
    return ap_error_set(err, AP_E_IO, "%s: %s failed: %s", path, what, strerror(e));
}

/* Create a temp file beside `path` (same folder, so rename is atomic). */
static ap_status afile_open(afile *f, const char *path, ap_error *err)
{
    f->fd = -1;
    f->tmp[0] = '\0';
    if (strlen(path) >= sizeof f->path)
        return ap_error_set(err, AP_E_ARG, "%s: path too long", path);
    strcpy(f->path, path);
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path + 1) : 0;
    int k = snprintf(f->tmp, sizeof f->tmp, "%.*s.%s.tmp.XXXXXX", dl, path, slash ? slash + 1 : path);
    if (k < 0 || (size_t)k >= sizeof f->tmp)
        return ap_error_set(err, AP_E_ARG, "%s: path too long", path);
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0) {
        f->tmp[0] = '\0';
        return io_err(err, path, "creating a temporary file", errno);
    }
    return AP_OK;
}

static ap_status afile_write(afile *f, const void *buf, size_t n, ap_error *err)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return io_err(err, f->path, "write", errno);
        if (w == 0)
            return io_err(err, f->path, "write", ENOSPC);
        p += w;
        n -= (size_t)w;
    }
    return AP_OK;
}

static void afile_abort(afile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp[0])
        unlink(f->tmp);
    f->tmp[0] = '\0';
}

static void fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) + (slash == path), path);
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: makes the rename durable; failure does not undo it */
        close(fd);
    }
}

/* Make the temp file durable (chmod, fsync, close); on failure it goes. */
static ap_status afile_finish(afile *f, ap_error *err)
{
    ap_status s = AP_OK;
    if (fchmod(f->fd, 0644) != 0)
        s = io_err(err, f->path, "chmod", errno);
    if (!s && fsync(f->fd) != 0)
        s = io_err(err, f->path, "fsync", errno);
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0 && !s)
        s = io_err(err, f->path, "close", errno);
    if (s)
        afile_abort(f);
    return s;
}

/* Move the finished temp file over the final name (atomic within one folder). */
static ap_status afile_rename(afile *f, ap_error *err)
{
    if (rename(f->tmp, f->path) != 0) {
        ap_status s = io_err(err, f->path, "rename", errno);
        afile_abort(f);
        return s;
    }
    f->tmp[0] = '\0';
    fsync_dir_of(f->path);
    return AP_OK;
}

static ap_status afile_commit(afile *f, ap_error *err)
{
    ap_status s = afile_finish(f, err);
    return s ? s : afile_rename(f, err);
}

/* ---------- header ---------- */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static int sb_reserve(sbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

static int sb_add(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (!sb_reserve(b, n))
        return 0;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
    return 1;
}

static int sb_str(sbuf *b, const char *s)
{
    size_t n = ap_json_escape(NULL, s);
    if (!sb_reserve(b, n))
        return 0;
    ap_json_escape(b->p + b->len, s);
    b->len += n;
    b->p[b->len] = '\0';
    return 1;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp((*(const ap_st_entry *const *)a)->name, (*(const ap_st_entry *const *)b)->name);
}

/* Entries must describe a valid file; also computes each entry's byte size. */
static ap_status check_entries(const char *path, const ap_st_entry *e, size_t n, uint64_t *bytes, ap_error *err)
{
    char q[80];
    for (size_t i = 0; i < n; i++) {
        const char *name = e[i].name;
        if (!name || !ap_json_utf8_ok(name, strlen(name)) || strcmp(name, "__metadata__") == 0)
            return ap_error_set(err, AP_E_ARG, "%s: entry %zu: tensor name missing, not UTF-8 or reserved", path, i);
        ap_json_quote(name, q, sizeof q);
        if (e[i].dtype != AP_DT_F32 && e[i].dtype != AP_DT_F16 && e[i].dtype != AP_DT_BF16)
            return ap_error_set(err, AP_E_ARG, "%s: tensor \"%s\": invalid dtype %d", path, q, (int)e[i].dtype);
        if (e[i].ndim < 0 || e[i].ndim > AP_ST_MAX_DIMS)
            return ap_error_set(err, AP_E_ARG, "%s: tensor \"%s\": %d dimensions", path, q, e[i].ndim);
        uint64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++)
            if (e[i].shape[d] < 0 || __builtin_mul_overflow(numel, (uint64_t)e[i].shape[d], &numel))
                return ap_error_set(err, AP_E_ARG, "%s: tensor \"%s\": bad shape", path, q);
        if (__builtin_mul_overflow(numel, (uint64_t)ap_dtype_size(e[i].dtype), &bytes[i]) ||
            bytes[i] > ((uint64_t)1 << 53))
            return ap_error_set(err, AP_E_ARG, "%s: tensor \"%s\": too large", path, q);
        if (numel && !e[i].data)
            return ap_error_set(err, AP_E_ARG, "%s: tensor \"%s\": no data", path, q);
    }
    const ap_st_entry **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        sorted[i] = &e[i];
    qsort(sorted, n, sizeof *sorted, cmp_entry_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            ap_json_quote(sorted[i]->name, q, sizeof q);
            free(sorted);
            return ap_error_set(err, AP_E_ARG, "%s: tensor \"%s\": duplicate name", path, q);
        }
    }
    free(sorted);
    return AP_OK;
}

/* The JSON header, padded with spaces so the data starts at a multiple of 8. */
static ap_status build_header(sbuf *h, const char *path, const ap_st_entry *e, size_t n, const uint64_t *bytes,
                              ap_error *err)
{
    int ok = sb_add(h, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    char num[64];
    for (size_t i = 0; ok && i < n; i++) {
        ok = sb_add(h, ",") && sb_str(h, e[i].name) && sb_add(h, ":{\"dtype\":\"") &&
             sb_add(h, ap_dtype_name(e[i].dtype)) && sb_add(h, "\",\"shape\":[");
        for (int d = 0; ok && d < e[i].ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", e[i].shape[d]);
            ok = sb_add(h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + bytes[i]);
        ok = ok && sb_add(h, num);
        off += bytes[i];
    }
    ok = ok && sb_add(h, "}");
    while (ok && h->len % 8)
        ok = sb_add(h, " ");
    if (!ok)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory building the header", path);
    if (h->len > AP_ST_MAX_HEADER)
        return ap_error_set(err, AP_E_ARG, "%s: header of %zu bytes exceeds the limit", path, h->len);
    return AP_OK;
}

#define CHUNK 65536 /* elements converted per write */

static ap_status write_data(afile *f, const ap_st_entry *e, size_t n, const uint64_t *bytes, ap_error *err)
{
    unsigned char *buf = malloc(CHUNK * 4);
    if (!buf)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", f->path);
    ap_status s = AP_OK;
    for (size_t i = 0; !s && i < n; i++) {
        size_t es = ap_dtype_size(e[i].dtype), numel = (size_t)(bytes[i] / es);
        for (size_t at = 0; !s && at < numel; at += CHUNK) {
            size_t k = numel - at < CHUNK ? numel - at : CHUNK;
            ap_dtype_from_f32(e[i].dtype, e[i].data + at, buf, k);
            s = afile_write(f, buf, k * es, err);
        }
    }
    free(buf);
    return s;
}

/* Write a complete, fsynced temp file for `path` into *f (not yet renamed); on failure nothing is left. */
static ap_status write_tmp(afile *f, const char *path, const ap_st_entry *entries, size_t n, ap_error *err)
{
    f->fd = -1;
    f->tmp[0] = '\0';
    if (!path || (n && !entries))
        return ap_error_set(err, AP_E_ARG, "safetensors write: no path or entries");
    uint64_t *bytes = calloc(n ? n : 1, sizeof *bytes);
    if (!bytes)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", path);
    sbuf h = {0};
    ap_status s = check_entries(path, entries, n, bytes, err);
    if (!s)
        s = build_header(&h, path, entries, n, bytes, err);
    if (!s)
        s = afile_open(f, path, err);
    if (!s) {
        unsigned char len8[8];
        for (int i = 0; i < 8; i++)
            len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
        s = afile_write(f, len8, 8, err);
        if (!s)
            s = afile_write(f, h.p, h.len, err);
        if (!s)
            s = write_data(f, entries, n, bytes, err);
        if (s)
            afile_abort(f);
        else
            s = afile_finish(f, err);
    }
    free(h.p);
    free(bytes);
    return s;
}

ap_status ap_safetensors_write(const char *path, const ap_st_entry *entries, size_t n, ap_error *err)
{
    afile f;
    ap_status s = write_tmp(&f, path, entries, n, err);
    return s ? s : afile_rename(&f, err);
}

/* ---------- model folders ---------- */

static const char *const copied_files[] = {
    "config.json",           "generation_config.json", "tokenizer.json",
    "tokenizer_config.json", "tokenizer.model",        "special_tokens_map.json",
};

static ap_status copy_file(const char *src, const char *dst, ap_error *err)
{
    struct stat a, b;
    if (stat(src, &a) != 0)
        return AP_OK; /* absent: nothing to copy */
    if (stat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return AP_OK; /* same file */
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return io_err(err, src, "open", errno);
    afile f = {.fd = -1};
    ap_status s = afile_open(&f, dst, err);
    char buf[65536];
    while (!s) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            s = io_err(err, src, "read", errno);
        if (r <= 0)
            break;
        s = afile_write(&f, buf, (size_t)r, err);
    }
    close(in);
    if (f.fd >= 0) {
        if (s)
            afile_abort(&f);
        else
            s = afile_commit(&f, err);
    }
    return s;
}

static ap_status make_dir(const char *dir, ap_error *err)
{
    struct stat sb;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return io_err(err, dir, "mkdir", errno);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ap_error_set(err, AP_E_IO, "%s: not a folder", dir);
    return AP_OK;
}

static ap_status join(char *buf, size_t n, const char *dir, const char *name, ap_error *err)
{
    int k = snprintf(buf, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n)
        return ap_error_set(err, AP_E_ARG, "%s/%s: path too long", dir, name);
    return AP_OK;
}

/* "model-DDDDD-of-DDDDD.safetensors" with a total other than keep_total (0: any). */
static int stale_shard(const char *name, int keep_total)
{
    int a, b, used = 0;
    if (strlen(name) != 32 || sscanf(name, "model-%5d-of-%5d.safetensors%n", &a, &b, &used) != 2 || used != 32)
        return 0;
    return keep_total == 0 || b != keep_total;
}

/* After a successful write, remove what could shadow or confuse it (the other layout, old shards). An old
 * model.safetensors beside new shards would win when loading, so failing to remove it is an error. */
static ap_status remove_stale(const char *dir, int nshards, ap_error *err)
{
    char path[PATH_MAX];
    if (nshards == 1 && join(path, sizeof path, dir, "model.safetensors.index.json", NULL) == AP_OK)
        unlink(path);
    if (nshards > 1 && join(path, sizeof path, dir, "model.safetensors", NULL) == AP_OK && unlink(path) != 0 &&
        errno != ENOENT)
        return io_err(err, path, "removing the old single-file weights", errno);
    DIR *d = opendir(dir);
    if (!d)
        return AP_OK;
    for (struct dirent *de; (de = readdir(d));)
        if (stale_shard(de->d_name, nshards > 1 ? nshards : 0) && join(path, sizeof path, dir, de->d_name, NULL) == 0)
            unlink(path);
    closedir(d);
    return AP_OK;
}

static ap_status write_index(afile *f, const char *dir, const ap_st_entry *e, size_t n, const int *shard_of,
                             int nshards, uint64_t total, ap_error *err)
{
    char path[PATH_MAX], num[96];
    ap_status s = join(path, sizeof path, dir, "model.safetensors.index.json", err);
    if (s)
        return s;
    sbuf b = {0};
    snprintf(num, sizeof num, "{\n  \"metadata\": {\n    \"total_size\": %" PRIu64 "\n  },\n  \"weight_map\": {",
             total);
    int ok = sb_add(&b, num);
    for (size_t i = 0; ok && i < n; i++) {
        snprintf(num, sizeof num, "\"model-%05d-of-%05d.safetensors\"", shard_of[i] + 1, nshards);
        ok = sb_add(&b, i ? ",\n    " : "\n    ") && sb_str(&b, e[i].name) && sb_add(&b, ": ") && sb_add(&b, num);
    }
    ok = ok && sb_add(&b, "\n  }\n}\n");
    if (!ok) {
        free(b.p);
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", path);
    }
    s = afile_open(f, path, err);
    if (!s) {
        s = afile_write(f, b.p, b.len, err);
        if (s)
            afile_abort(f);
        else
            s = afile_finish(f, err);
    }
    free(b.p);
    return s;
}

/* Greedy split in the given order: a shard closes when the next tensor would push it past shard_bytes. */
static int plan_shards(const uint64_t *bytes, size_t n, size_t shard_bytes, int *shard_of)
{
    int cur = 0;
    uint64_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (used && used + bytes[i] > shard_bytes) {
            cur++;
            used = 0;
        }
        shard_of[i] = cur;
        used += bytes[i];
    }
    return n ? cur + 1 : 1;
}

/* All shards (and the index) are written to temp files first; only when every one is complete do they move
 * to their final names, the index last, after the old index is gone: an interrupted write can leave a folder
 * that does not load, never one that mixes old and new shards. */
static ap_status write_weights(const char *out_dir, const ap_st_entry *entries, size_t n, const uint64_t *bytes,
                               const int *shard_of, int nshards, ap_error *err)
{
    afile *f = calloc((size_t)nshards + 1, sizeof *f);
    if (!f)
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", out_dir);
    char path[PATH_MAX], name[64];
    ap_status s = AP_OK;
    int nf = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += bytes[i];
    for (size_t i = 0; !s && (i < n || (n == 0 && nf == 0));) {
        size_t j = i;
        while (j < n && shard_of[j] == shard_of[i])
            j++;
        if (nshards == 1)
            snprintf(name, sizeof name, "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", shard_of[i] + 1, nshards);
        s = join(path, sizeof path, out_dir, name, err);
        if (!s)
            s = write_tmp(&f[nf], path, entries + i, j - i, err);
        if (!s)
            nf++;
        i = j;
    }
    if (!s && nshards > 1) {
        s = write_index(&f[nf], out_dir, entries, n, shard_of, nshards, total, err);
        if (!s)
            nf++;
    }
    if (!s && nshards > 1 && join(path, sizeof path, out_dir, "model.safetensors.index.json", err) == AP_OK)
        unlink(path);
    for (int k = 0; !s && k < nf; k++)
        s = afile_rename(&f[k], err);
    for (int k = 0; k < nf; k++)
        afile_abort(&f[k]); /* no-op for renamed ones */
    free(f);
    return s;
}

ap_status ap_checkpoint_write(const char *out_dir, const char *src_dir, const ap_st_entry *entries, size_t n,
                              size_t shard_bytes, ap_error *err)
{
    if (!out_dir || (n && !entries))
        return ap_error_set(err, AP_E_ARG, "checkpoint write: no folder or entries");
    ap_status s = make_dir(out_dir, err);
    if (s)
        return s;
    uint64_t *bytes = calloc(n ? n : 1, sizeof *bytes);
    int *shard_of = calloc(n ? n : 1, sizeof *shard_of);
    if (!bytes || !shard_of) {
        free(bytes);
        free(shard_of);
        return ap_error_set(err, AP_E_NOMEM, "%s: out of memory", out_dir);
    }
    s = check_entries(out_dir, entries, n, bytes, err);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += bytes[i];
    int nshards = (shard_bytes == 0 || total <= shard_bytes) ? 1 : plan_shards(bytes, n, shard_bytes, shard_of);
    if (nshards == 1)
        memset(shard_of, 0, (n ? n : 1) * sizeof *shard_of);
    if (!s && nshards > 99999)
        s = ap_error_set(err, AP_E_ARG, "%s: %d shards (at most 99999); raise the shard size", out_dir, nshards);
    if (!s)
        s = write_weights(out_dir, entries, n, bytes, shard_of, nshards, err);
    char path[PATH_MAX], dst[PATH_MAX];
    for (size_t i = 0; !s && src_dir && i < sizeof copied_files / sizeof *copied_files; i++) {
        s = join(path, sizeof path, src_dir, copied_files[i], err);
        if (!s)
            s = join(dst, sizeof dst, out_dir, copied_files[i], err);
        if (!s)
            s = copy_file(path, dst, err);
    }
    if (!s)
        s = remove_stale(out_dir, nshards, err);
    free(bytes);
    free(shard_of);
    return s;
}
