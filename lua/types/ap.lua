---@meta
-- lua/types/ap.lua — LuaLS annotations of the trusted module `ap` (autoprune run / repl / lua/search.lua),
-- its submodules and the objects they return. Reference: doc/lua-reference.md.
-- tests/docs/test_reference.sh checks that every registered name is declared here.

---An error raised by ap functions; prints as "kind: message".
---@class ApError
---@field kind string syntax|runtime|limit|shape|nonfinite|type|io|arg|nomem|format|...
---@field message string
---@field line integer 0 when there is none

---The trusted module: tensor files, sandboxed metrics, models, JSON, isolation, the LLM client.
ap = {}

---The library's version, e.g. "0.1.0".
---@type string
ap.version = ""

---The data directory (lua/, prompts/, data/), or nil when none is found.
---@return string?
function ap.datadir() end

---Monotonic seconds.
---@return number
function ap.clock() end

---From now on Ctrl-C / SIGTERM only set a flag (see ap.interrupted); a second Ctrl-C kills.
function ap.watch_interrupt() end

---True once an interrupt arrived after ap.watch_interrupt().
---@return boolean
function ap.interrupted() end

---A progress bar on stderr (drawn only on a terminal).
---@class Progress
local Progress = {}

---A progress bar for a script's own loop: `label [####....] done/total unit  rate  ETA`.
---@param label string
---@param unit? string what is counted
---@param opts? {quiet?: boolean, rate_unit?: string, rate_scale?: number}
---@return Progress
function ap.progress(label, unit, opts) end

---Redraw with the count so far (at most 10 times a second).
---@param done integer
---@param total integer
function Progress:update(done, total) end

---Clear the bar's line (before printing; update draws it again).
function Progress:done() end

---Read a safetensors file; F32/F16/BF16 become float32, shapes 2-D.
---@param path string
---@return table<string, Tensor>
function ap.load_tensors(path) end

---Write tensors to one safetensors file, names sorted.
---@param path string
---@param tensors table<string, Tensor>
---@param dtype? "F32"|"F16"|"BF16" default F32
function ap.save_tensors(path, tensors, dtype) end

---@class MetricLimits
---@field instructions? integer
---@field wall_ms? integer
---@field heap_bytes? integer
---@field tensor_bytes? integer
---@field work? integer
---@field output_bytes? integer
---@field source_bytes? integer

---A metric script loaded in a sandbox.
---@class Metric
local Metric = {}

---Load a metric: a file path, the NAME of lua/metrics/NAME.lua, or source text (doc/metrics.md#naming-a-metric).
---Raises a string for a bad argument, an ApError when the metric does not load.
---@param spec string
---@param limits? MetricLimits
---@return Metric
function ap.metric(spec, limits) end

---Check a metric as `autoprune check` does; never raises for a bad script.
---@param spec string source text, a file path or a NAME of lua/metrics
---@param limits? MetricLimits
---@return {ok: boolean, group?: "row"|"layer", usage?: table, kind?: string, message?: string, line?: integer}
function ap.check(spec, limits) end

---Score one layer in a fresh sandbox state; returns [out, in] scores. Raises an ApError on failure.
---@param W Tensor [out, in]
---@param X XStats|table
---@param info? LayerInfo|table
---@return Tensor
function Metric:score(W, X, info) end

---The comparison group and whether the script declared it.
---@return "row"|"layer", boolean
function Metric:group() end

---What the last call used.
---@return {instructions: integer, peak_heap_bytes: integer, peak_tensor_bytes: integer, work: integer, wall_ms: number, output_bytes: integer}
function Metric:usage() end

---What the script printed during its last call.
---@return string
function Metric:output() end

---The script's name in messages.
---@return string
function Metric:name() end

---JSON through cJSON.
ap.json = {}

---JSON text of a value: 1..n tables become arrays, other tables objects, NaN/inf null.
---@param value any
---@param pretty? boolean
---@return string
function ap.json.encode(value, pretty) end

---The value of a JSON text (null -> nil), or nil and a message.
---@param text string
---@return any value
---@return string? message
function ap.json.decode(text) end

---@class IsolateOpts
---@field timeout? number wall-clock seconds (the parent kills the worker)
---@field cpu? number CPU seconds of the worker
---@field mem_mb? number address space the worker may add

---Run fn() in a fork()ed worker. ok: value is fn's first result (JSON-representable); else
---value = {kind = "crash"|"timeout"|"cpu"|"oom"|"error"|"lost", message, signal, seconds, error}.
---@param fn fun(): any
---@param opts? IsolateOpts
---@return boolean ok
---@return any value
function ap.isolate(fn, opts) end

---OpenAI-compatible chat client (AUTOPRUNE_LLM_BASE_URL / _MODEL / _API_KEY, or OPENAI_*).
ap.llm = {}

---@class ChatRequest
---@field messages? {role: string, content: string}[]
---@field prompt? string shorthand for one user message
---@field system? string
---@field temperature? number
---@field max_tokens? integer
---@field seed? integer
---@field base_url? string
---@field model? string
---@field api_key? string
---@field timeout? number seconds per attempt (120)
---@field connect_timeout? number (10)
---@field retries? integer (3)
---@field backoff? number (1)
---@field backoff_max? number (30)
---@field max_reply_bytes? integer (4 MiB)

---@class ChatResult
---@field ok boolean
---@field content string
---@field finish_reason string
---@field usage {prompt_tokens: integer, completion_tokens: integer, total_tokens: integer}
---@field attempts integer
---@field seconds number
---@field http_status integer

---One chat completion: a result, or nil and an error table {kind, class, message, ...}.
---@param req ChatRequest
---@return ChatResult?
---@return table? err
function ap.llm.chat(req) end

---Several requests in parallel (defaults.max_parallel, default 16); results in order, a failure is
---{ok = false, error = err, attempts, seconds}.
---@param reqs ChatRequest[]
---@param defaults? ChatRequest|{max_parallel: integer}
---@return table[]
function ap.llm.chat_many(reqs, defaults) end

---Whether an endpoint is configured, its base URL (credentials removed) and model.
---@param cfg? table
---@return boolean
---@return string? base_url
---@return string? model
function ap.llm.configured(cfg) end

---Code chunks of an LLM reply: ```lua blocks, then untagged fenced blocks, or the bare text.
---@param text string
---@return string[]
function ap.llm.extract_code(text) end

---Models and the pruning core.
ap.model = {}

---A model in memory (float32), with a dense copy for reset().
---@class Model
local Model = {}

---Calibration statistics of a model's linear-layer inputs.
---@class Stats
local Stats = {}

---Open a Hugging Face LLaMA-family folder.
---@param dir string
---@return Model
function ap.model.load(dir) end

---Statistics saved by stats:save, checked against the model's shapes.
---@param path string
---@param m Model
---@return Stats
function ap.model.load_stats(path, m) end

---@return {n_layers: integer, hidden: integer, ffn: integer, vocab: integer, heads: integer, kv_heads: integer, context: integer, params: integer, prunable_params: integer, dir: string}
function Model:info() end

---Perplexity on a text (default WikiText-2 test).
---@param opts? {text?: string, seqlen?: integer, windows?: integer, quiet?: boolean}
---@return {ppl: number, windows: integer, tokens: integer, predictions: integer, seqlen: integer, seconds: number}
function Model:eval(opts) end

---Statistics of the model as it is now.
---@param opts? {text?: string, nsamples?: integer, seqlen?: integer, seed?: integer, hessian?: boolean, quiet?: boolean}
---@return Stats
function Model:calibrate(opts) end

---As ap.model.load_stats(path, self).
---@param path string
---@return Stats
function Model:load_stats(path) end

---Prune the current weights (see doc/lua-reference.md for every option).
---@param opts {metric?: string, metric_source?: string, sparsity: number, reconstruct?: boolean|"none"|"mask"|"adaptive", pattern?: string, group?: "row"|"layer", alloc?: string, alloc_params?: table, stats?: Stats, calib?: table, limits?: MetricLimits}
---@return {realised: number, zeros: integer, numel: integer, group: string, seconds: number, score_seconds: number, mask_seconds: number, alloc: table, layers: table[]}
function Model:prune(opts) end

---Restore the dense weights.
function Model:reset() end

---Write the model to a folder.
---@param dir string
function Model:save(dir) end

---The current fraction of zeros over the prunable linears.
---@return number
function Model:sparsity() end

---Per-linear facts {layer, name, numel, w_skew, w_kurt, w_absmean, w_norm, x_l2_mean, x_outlier_ratio,
---x_kurt_mean, wanda_outlier_ratio} (x_* need stats).
---@param stats? Stats
---@param M? number outlier threshold multiple (5)
---@return table[]
function Model:facts(stats, M) end

---Free the model now.
function Model:close() end

---@return {n_layers: integer, nsamples: integer, seqlen: integer, tokens: integer, hessian: boolean, source: string}
function Stats:info() end

---Write the statistics for ap.model.load_stats.
---@param path string
function Stats:save(path) end

---Free the statistics now.
function Stats:free() end

return ap
