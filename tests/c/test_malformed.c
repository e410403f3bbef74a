/* test_malformed.c — the malformed-file suite straight through the library: every file that
 * tests/formats/make_corrupt.py writes must give the expected error kind with a message naming the file and
 * the field, without crashing, in bounded time and memory. Usage: test_malformed [DIR] (default: generate). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ap_clock.h"
#include "ap_config.h"
#include "ap_safetensors.h"
#include "aptest.h"

#define MAX_SECONDS 2.0

/* Expected outcome: the kind matches; for errors, the message names `name` and contains `frag`. */
static void expect(const char *how, const char *rel, ap_status got, const ap_error *err, const char *kind,
                   const char *name, const char *frag, double secs)
{
    int ok = strcmp(ap_status_name(got), kind) == 0 && secs < MAX_SECONDS;
    if (ok && got != AP_OK)
        ok = strstr(err->msg, name) && strstr(err->msg, frag);
    AP_CHECK(ok, "%s %s: %s in %.3fs (%s: %s)", how, rel, kind, secs, ap_status_name(got), got ? err->msg : "");
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n == cap && !(buf = realloc(buf, cap = cap * 2 + 4096)))
            break;
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return buf;
}

static void st_case(const char *path, const char *rel, const char *kind, const char *frag)
{
    const char *base = strrchr(rel, '/') + 1;
    ap_error err = {0};
    ap_safetensors *st = NULL;
    double t0 = ap_clock_seconds();
    ap_status s = ap_safetensors_open(&st, path, &err);
    expect("mmap", rel, s, &err, kind, base, frag, ap_clock_seconds() - t0);
    ap_safetensors_close(st);
    st = NULL;
    t0 = ap_clock_seconds();
    s = ap_safetensors_open_flags(&st, path, AP_ST_OPEN_READ, &err);
    expect("read", rel, s, &err, kind, base, frag, ap_clock_seconds() - t0);
    ap_safetensors_close(st);
    st = NULL;
    size_t len = 0;
    char *buf = slurp(path, &len);
    t0 = ap_clock_seconds();
    s = ap_safetensors_open_buffer(&st, buf, len, base, &err);
    expect("buffer", rel, s, &err, kind, base, frag, ap_clock_seconds() - t0);
    ap_safetensors_close(st);
    free(buf);
}

static void ck_case(const char *path, const char *rel, const char *kind, const char *frag)
{
    ap_error err = {0}, ierr = {0};
    ap_checkpoint *ck = NULL;
    double t0 = ap_clock_seconds();
    ap_status s = ap_checkpoint_open(&ck, path, &err);
    expect("checkpoint", rel, s, &err, kind, rel, frag, ap_clock_seconds() - t0);
    ap_checkpoint_close(ck);
    /* The index alone: either fine (the fault is in the shards) or the very error the folder gave. */
    char ipath[1400];
    snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", path);
    size_t len = 0;
    char *buf = slurp(ipath, &len);
    if (!buf)
        return;
    ap_status is = ap_checkpoint_check_index(buf, len, ipath, &ierr);
    AP_CHECK(is == AP_OK || (is == s && strcmp(ierr.msg, err.msg) == 0), "index %s: check_index agrees (%s: %s)", rel,
             ap_status_name(is), is ? ierr.msg : "");
    free(buf);
}

static void cfg_case(const char *path, const char *rel, const char *kind, const char *frag)
{
    char cpath[1400];
    snprintf(cpath, sizeof cpath, "%s/config.json", path);
    ap_error err = {0};
    ap_config cfg;
    double t0 = ap_clock_seconds();
    ap_status s = ap_config_load(&cfg, cpath, &err);
    expect("config", rel, s, &err, kind, rel, frag, ap_clock_seconds() - t0);
}

/* Cap the address space at what we use now + 512 MB (not under ASan: its shadow memory needs more). */
static void limit_memory(void)
{
    const char *san = getenv("AP_SANITIZED");
    if (san && *san) {
        printf("# address-space limit not applied under sanitizers\n");
        return;
    }
    long pages = 0, page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld", &pages) != 1)
        pages = 0;
    if (f)
        fclose(f);
    rlim_t lim = (rlim_t)pages * (rlim_t)page + ((rlim_t)512 << 20);
    struct rlimit rl = {lim, lim};
    AP_CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "address space limited to %llu MB", (unsigned long long)(lim >> 20));
}

int main(int argc, char **argv)
{
    char dir[1024], cmd[4096];
    const char *root = getenv("AP_ROOT");
    if (!root || !*root)
        root = ".";
    int generated = argc < 2;
    if (generated) {
        snprintf(dir, sizeof dir, "/tmp/ap-malformed.XXXXXX");
        if (!mkdtemp(dir))
            return 1;
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 '%s/tests/formats/make_corrupt.py' '%s' --tiny '%s/models/ap-tiny'"
                 " >/dev/null",
                 root, dir, root);
        AP_CHECK(system(cmd) == 0, "make_corrupt.py wrote the suite into %s", dir);
    } else {
        snprintf(dir, sizeof dir, "%s", argv[1]);
    }
    limit_memory();
    char mpath[1200], line[2048];
    snprintf(mpath, sizeof mpath, "%s/manifest.tsv", dir);
    FILE *m = fopen(mpath, "r");
    AP_CHECK(m != NULL, "manifest %s opens", mpath);
    int cases = 0, bad = 0;
    while (m && fgets(line, sizeof line, m)) {
        line[strcspn(line, "\n")] = '\0';
        char *f[5] = {0}, *p = line;
        for (int i = 0; i < 5 && p; i++) {
            f[i] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (!f[4]) {
            bad++;
            continue;
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, f[1]);
        if (strcmp(f[0], "st") == 0)
            st_case(path, f[1], f[2], f[3]);
        else if (strcmp(f[0], "ck") == 0)
            ck_case(path, f[1], f[2], f[3]);
        else if (strcmp(f[0], "cfg") == 0)
            cfg_case(path, f[1], f[2], f[3]);
        else
            bad++;
        cases++;
    }
    if (m)
        fclose(m);
    AP_CHECK(cases >= 60 && bad == 0, "%d cases read from the manifest, %d malformed lines", cases, bad);
    if (generated) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("# could not remove %s\n", dir);
    }
    return aptest_done();
}
