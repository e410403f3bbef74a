/* lap_progress.h — ap.progress: the shared progress bar (ap_progress.h) for trusted scripts such as the search.
 *
 *   local bar = ap.progress("gen 3", "candidates" [, {quiet = false, rate_unit = "tok", rate_scale = 1}])
 *   bar:update(done, total)   -- draws only when stderr is a terminal and quiet is not set
 *   bar:done()                -- clears the line (call before printing, then update again)
 */
#ifndef LAP_PROGRESS_H
#define LAP_PROGRESS_H

#include <lua.h>

/* Pushes the function ap.progress (an ap_submodules[] opener: returns 1). */
int lap_progress_open(lua_State *L);

#endif
