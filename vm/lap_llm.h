/* lap_llm.h — ap.llm for trusted controller scripts: chat, chat_many (parallel), configured, extract_code. */
#ifndef LAP_LLM_H
#define LAP_LLM_H

#include <lua.h>

/* Push the ap.llm table (an ap_submodules[] opener: returns 1). */
int lap_llm_open(lua_State *L);

#endif
