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

/* The files autoprune uses when none is named. Their names live only in ap_paths.c. */
typedef enum {
    AP_DATA_WIKITEXT_TEST, /* data/wikitext-2-raw/wiki.test.raw: evaluation text */
    AP_DATA_CALIB,         /* data/calib.txt: calibration text */
    AP_DATA_MODEL,         /* models/ap-tiny: the shipped model */
    AP_DATA_COUNT
} ap_datafile_id;

/* The name relative to the data dir ("data/calib.txt"), for help texts and run records; "" for an unknown id. */
const char *ap_datafile_rel(ap_datafile_id id);

/* buf = <data dir>/<the file's name>, or the relative name itself when no data dir is found (opening it then
 * fails naming the missing file, which says more than "no data dir"). Returns buf; the file need not exist. */
const char *ap_datafile(ap_datafile_id id, char *buf, size_t n);

#endif
