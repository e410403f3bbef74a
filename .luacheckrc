-- .luacheckrc — luacheck's settings for lua/ (`make lint`). The scripts run under Lua 5.4 with two globals the
-- host registers: T (the tensor library, also inside the metric sandbox) and ap (the host API of trusted scripts).
std = "lua54"
read_globals = { "T", "ap" }
max_line_length = 120

-- Metrics and allocation scripts implement the sandbox's callback signatures (score(W, X, info), ...): an argument
-- a formula does not read is still part of the contract the file documents.
files["lua/metrics"] = { ignore = { "212" } }
files["lua/alloc"] = { ignore = { "212" } }

-- LuaLS declaration files (---@meta): the functions are signatures with empty bodies, the classes tables that are
-- only annotated, and an inline table type in ---@param/---@return cannot be wrapped.
files["lua/types"] = {
  globals = { "T", "ap" },
  ignore = { "212", "241" },
  max_comment_line_length = false,
}
