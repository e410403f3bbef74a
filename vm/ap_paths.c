/* ap_paths.c — locating the data dir (environment, compiled-in path, or relative to the running program) and the
 * default files in it. */
#include "ap_paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AP_DATADIR
#define AP_DATADIR ""
#endif

/* Does dir hold a lua/ folder? */
static int has_lua(const char *dir)
{
    char p[4096];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/lua", dir) >= (int)sizeof p)
        return 0;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *put(char *buf, size_t n, const char *dir)
{
    if (snprintf(buf, n, "%s", dir) >= (int)n)
        return NULL;
    return buf;
}

/* <exe dir>/.. (a build folder inside the repo) or <exe dir>/../share/autoprune (an installed prefix), whichever
 * holds lua/, into buf. Looked at before the compiled-in path so that an installed copy uses its own data even
 * while the source tree it was built from still exists. */
static const char *beside_program(char *buf, size_t n)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return NULL;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0'; /* exe is now the program's folder */
    static const char *const rel[] = {"..", "../share/autoprune"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[4200], real[4096];
        snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]);
        if (has_lua(cand))
            return put(buf, n, realpath(cand, real) ? real : cand);
    }
    return NULL;
}

const char *ap_datadir(char *buf, size_t n)
{
    const char *env = getenv("AUTOPRUNE_HOME");
    if (env && *env)
        return put(buf, n, env);
    if (beside_program(buf, n))
        return buf;
    if (*AP_DATADIR && has_lua(AP_DATADIR))
        return put(buf, n, AP_DATADIR);
    return NULL;
}

const char *ap_datapath(char *buf, size_t n, const char *rel)
{
    char dir[4096];
    if (!ap_datadir(dir, sizeof dir))
        return NULL;
    if (snprintf(buf, n, "%s/%s", dir, rel) >= (int)n)
        return NULL;
    return buf;
}

static const char *const datafile_rel[AP_DATA_COUNT] = {
    [AP_DATA_WIKITEXT_TEST] = "data/wikitext-2-raw/wiki.test.raw",
    [AP_DATA_CALIB] = "data/calib.txt",
    [AP_DATA_MODEL] = "models/ap-tiny",
};

const char *ap_datafile_rel(ap_datafile_id id) { return (unsigned)id < AP_DATA_COUNT ? datafile_rel[id] : ""; }

const char *ap_datafile(ap_datafile_id id, char *buf, size_t n)
{
    const char *rel = ap_datafile_rel(id);
    if (!ap_datapath(buf, n, rel))
        snprintf(buf, n, "%s", rel);
    return buf;
}
