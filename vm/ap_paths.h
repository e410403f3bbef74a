/* ap_paths.h — where autoprune's data lives (lua/, prompts/, models/, data/), for the CLI and the Lua environment. */
#ifndef AP_PATHS_H
#define AP_PATHS_H

#include <stddef.h>

/* The data dir, written into buf (the caller's, n bytes): $AUTOPRUNE_HOME when set, else next to the running
 * program: <exe dir>/.. (a build folder inside the repo) or <exe dir>/../share/autoprune (an installed prefix),
 * whichever holds lua/, else the compiled-in AP_DATADIR when it holds lua/. Returns buf, or NULL when none is
 * found or buf is too small. */
const char *ap_datadir(char *buf, size_t n);

/* buf = <data dir>/<rel>. Returns buf, or NULL as ap_datadir does. The file need not exist. */
const char *ap_datapath(char *buf, size_t n, const char *rel);

#endif
