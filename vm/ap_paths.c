/* ap_paths.c — locating the data dir: environment, compiled-in path, or relative to the running program. */
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

const char *ap_datadir(char *buf, size_t n)
{
    const char *env = getenv("AUTOPRUNE_HOME");
    if (env && *env)
        return put(buf, n, env);
    if (*AP_DATADIR && has_lua(AP_DATADIR))
        return put(buf, n, AP_DATADIR);
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return NULL;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';                           /* exe is now the program's folder */
    char cand[4200];
    snprintf(cand, sizeof cand, "%s/..", exe);
    if (has_lua(cand)) {
        char real[4096];
        return put(buf, n, realpath(cand, real) ? real : cand);
    }
    snprintf(cand, sizeof cand, "%s/../share/autoprune", exe);
    if (has_lua(cand)) {
        char real[4096];
        return put(buf, n, realpath(cand, real) ? real : cand);
    }
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
