/* lap_json.h — ap.json: JSON encode/decode for trusted Lua scripts, through cJSON. */
#ifndef LAP_JSON_H
#define LAP_JSON_H

#include <lua.h>

/* Pushes the module table {encode = ..., decode = ...}. */
int lap_json_open(lua_State *L);
/* Encode the value at idx as compact JSON. Returns a string the caller frees with free(); raises on a cycle. */
char *lap_json_encode(lua_State *L, int idx);
/* Decode text and push the value; returns 1, or 0 (pushing nothing) when the text is not JSON. */
int lap_json_push(lua_State *L, const char *text, size_t len);

#endif
