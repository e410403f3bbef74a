---@meta
-- lua/types/T.lua — LuaLS annotations of the tensor table T and tensor methods (doc/lua-reference.md).
-- Not loaded at run time: point LuaLS at lua/types ("workspace.library") and editors complete T and tensors.
-- tests/docs/test_reference.sh checks that every registered name is declared here.

---A 2-D float32 tensor [rows, cols]. Operators + - * / ^ and unary - broadcast numbers, [1, n] rows and [m, 1]
---columns. Every T function whose first argument is a tensor is also a method: T.abs(W) == W:abs().
---@class Tensor
---@operator add(Tensor|number): Tensor
---@operator sub(Tensor|number): Tensor
---@operator mul(Tensor|number): Tensor
---@operator div(Tensor|number): Tensor
---@operator pow(number): Tensor
---@operator unm: Tensor
local Tensor = {}

---Statistics of a linear layer's input over the calibration tokens (metric scripts' X); each is a [1, in] row.
---@class XStats
---@field l2 Tensor sqrt(sum_t x_tj^2), Wanda's ||X_j||_2
---@field sq Tensor sum_t x_tj^2 / n
---@field mean Tensor
---@field std Tensor population standard deviation
---@field absmax Tensor max_t |x_tj|
---@field skew Tensor population skewness
---@field kurt Tensor excess kurtosis
---@field tokens number n

---The layer a metric scores (metric scripts' info).
---@class LayerInfo
---@field layer integer 1-based block index
---@field n_layers integer
---@field name "q_proj"|"k_proj"|"v_proj"|"o_proj"|"gate_proj"|"up_proj"|"down_proj"
---@field sparsity number this layer's target
---@field out integer
---@field in integer

---A metric script returns this function (higher score = keep), or {score = fn, group = "row"|"layer"}.
---@alias MetricFn fun(W: Tensor, X: XStats, info: LayerInfo): Tensor|number

---The tensor functions (metric scripts and trusted scripts alike).
T = {}

---a + b, broadcasting.
---@param a Tensor|number
---@param b Tensor|number
---@return Tensor
function T.add(a, b) end

---a - b, broadcasting.
---@param a Tensor|number
---@param b Tensor|number
---@return Tensor
function T.sub(a, b) end

---a * b, broadcasting.
---@param a Tensor|number
---@param b Tensor|number
---@return Tensor
function T.mul(a, b) end

---a / b, broadcasting.
---@param a Tensor|number
---@param b Tensor|number
---@return Tensor
function T.div(a, b) end

---Negation: -t.
---@param t Tensor
---@return Tensor
function T.neg(t) end

---|t| elementwise.
---@param t Tensor
---@return Tensor
function T.abs(t) end

---Square root elementwise (NaN below 0).
---@param t Tensor
---@return Tensor
function T.sqrt(t) end

---e^t elementwise.
---@param t Tensor
---@return Tensor
function T.exp(t) end

---Natural logarithm elementwise.
---@param t Tensor
---@return Tensor
function T.log(t) end

---ln(1 + t) elementwise.
---@param t Tensor
---@return Tensor
function T.log1p(t) end

----1, 0 or 1 elementwise.
---@param t Tensor
---@return Tensor
function T.sign(t) end

---t^2 elementwise.
---@param t Tensor
---@return Tensor
function T.square(t) end

---1 / (1 + e^-t) elementwise.
---@param t Tensor
---@return Tensor
function T.sigmoid(t) end

---tanh elementwise.
---@param t Tensor
---@return Tensor
function T.tanh(t) end

---max(t, 0) elementwise.
---@param t Tensor
---@return Tensor
function T.relu(t) end

---a^b elementwise, broadcasting.
---@param a Tensor
---@param b Tensor|number exponent
---@return Tensor
function T.pow(a, b) end

---Clamp into [lo, hi].
---@param t Tensor
---@param lo? number nil: open
---@param hi? number nil: open
---@return Tensor
function T.clamp(t, lo, hi) end

---Elementwise maximum (NaN propagates).
---@param a Tensor|number
---@param b Tensor|number
---@return Tensor
function T.maximum(a, b) end

---Elementwise minimum (NaN propagates).
---@param a Tensor|number
---@param b Tensor|number
---@return Tensor
function T.minimum(a, b) end

---Sum; a number without dim.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.sum(t, dim) end

---Mean; a number without dim.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.mean(t, dim) end

---Maximum; a number without dim.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.amax(t, dim) end

---Minimum; a number without dim.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.amin(t, dim) end

---Population variance.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.var(t, dim) end

---Population standard deviation.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.std(t, dim) end

---Population skewness (NaN for zero variance).
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.skew(t, dim) end

---Excess kurtosis (NaN for zero variance).
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.kurt(t, dim) end

---The p-norm.
---@param t Tensor
---@param p? number default 2; math.huge: max |x|; 0: count of nonzeros
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.norm(t, p, dim) end

---The q-quantile, linear interpolation (numpy's default).
---@param t Tensor
---@param q number in [0, 1]
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.quantile(t, q, dim) end

---quantile(t, 0.5, dim).
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function T.median(t, dim) end

---(t - mean) / std; 0 for a constant slice.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function T.zscore(t, dim) end

---(t - min) / (max - min); 0 for a constant slice.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function T.minmax(t, dim) end

---Ranks scaled to [0, 1], ties averaged.
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function T.rank(t, dim) end

---exp(t - max) / sum exp(t - max).
---@param t Tensor
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function T.softmax(t, dim) end

---Rows and columns.
---@param t Tensor
---@return integer
---@return integer
function T.shape(t) end

---rows * cols.
---@param t Tensor
---@return integer
function T.numel(t) end

---One element.
---@param t Tensor
---@param i integer 1-based row
---@param j integer 1-based column
---@return number
function T.get(t, i, j) end

---[m, n] -> [n, m].
---@param t Tensor
---@return Tensor
function T.transpose(t) end

---Matrix product [m, n].
---@param a Tensor [m, k]
---@param b Tensor [k, n]
---@return Tensor
function T.matmul(a, b) end

---[numel(a), numel(b)], a_i * b_j (numpy.outer).
---@param a Tensor
---@param b Tensor
---@return Tensor
function T.outer(a, b) end

---1 for the round(keep_frac * g) highest scores of each group, else 0.
---@param s Tensor scores
---@param keep_frac number in [0, 1]
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function T.topk_mask(s, keep_frac, dim) end

---N:M mask: keep the n_keep highest of each m consecutive entries of a row.
---@param s Tensor scores
---@param n_keep integer
---@param m integer group length
---@return Tensor
function T.nm_mask(s, n_keep, m) end

---A new [m, n] tensor of 0s.
---@param m integer
---@param n integer
---@return Tensor
function T.zeros(m, n) end

---A new [m, n] tensor of 1s.
---@param m integer
---@param n integer
---@return Tensor
function T.ones(m, n) end

---A new [m, n] tensor filled with v.
---@param m integer
---@param n integer
---@param v number
---@return Tensor
function T.full(m, n, v) end

-- Methods: the same functions with the tensor as self.
---a + b, broadcasting.
---@param b Tensor|number
---@return Tensor
function Tensor:add(b) end

---a - b, broadcasting.
---@param b Tensor|number
---@return Tensor
function Tensor:sub(b) end

---a * b, broadcasting.
---@param b Tensor|number
---@return Tensor
function Tensor:mul(b) end

---a / b, broadcasting.
---@param b Tensor|number
---@return Tensor
function Tensor:div(b) end

---Negation: -t.
---@return Tensor
function Tensor:neg() end

---|t| elementwise.
---@return Tensor
function Tensor:abs() end

---Square root elementwise (NaN below 0).
---@return Tensor
function Tensor:sqrt() end

---e^t elementwise.
---@return Tensor
function Tensor:exp() end

---Natural logarithm elementwise.
---@return Tensor
function Tensor:log() end

---ln(1 + t) elementwise.
---@return Tensor
function Tensor:log1p() end

----1, 0 or 1 elementwise.
---@return Tensor
function Tensor:sign() end

---t^2 elementwise.
---@return Tensor
function Tensor:square() end

---1 / (1 + e^-t) elementwise.
---@return Tensor
function Tensor:sigmoid() end

---tanh elementwise.
---@return Tensor
function Tensor:tanh() end

---max(t, 0) elementwise.
---@return Tensor
function Tensor:relu() end

---a^b elementwise, broadcasting.
---@param b Tensor|number exponent
---@return Tensor
function Tensor:pow(b) end

---Clamp into [lo, hi].
---@param lo? number nil: open
---@param hi? number nil: open
---@return Tensor
function Tensor:clamp(lo, hi) end

---Elementwise maximum (NaN propagates).
---@param b Tensor|number
---@return Tensor
function Tensor:maximum(b) end

---Elementwise minimum (NaN propagates).
---@param b Tensor|number
---@return Tensor
function Tensor:minimum(b) end

---Sum; a number without dim.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:sum(dim) end

---Mean; a number without dim.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:mean(dim) end

---Maximum; a number without dim.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:amax(dim) end

---Minimum; a number without dim.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:amin(dim) end

---Population variance.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:var(dim) end

---Population standard deviation.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:std(dim) end

---Population skewness (NaN for zero variance).
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:skew(dim) end

---Excess kurtosis (NaN for zero variance).
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:kurt(dim) end

---The p-norm.
---@param p? number default 2; math.huge: max |x|; 0: count of nonzeros
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:norm(p, dim) end

---The q-quantile, linear interpolation (numpy's default).
---@param q number in [0, 1]
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:quantile(q, dim) end

---quantile(t, 0.5, dim).
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor|number
function Tensor:median(dim) end

---(t - mean) / std; 0 for a constant slice.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function Tensor:zscore(dim) end

---(t - min) / (max - min); 0 for a constant slice.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function Tensor:minmax(dim) end

---Ranks scaled to [0, 1], ties averaged.
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function Tensor:rank(dim) end

---exp(t - max) / sum exp(t - max).
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function Tensor:softmax(dim) end

---Rows and columns.
---@return integer
---@return integer
function Tensor:shape() end

---rows * cols.
---@return integer
function Tensor:numel() end

---One element.
---@param i integer 1-based row
---@param j integer 1-based column
---@return number
function Tensor:get(i, j) end

---[m, n] -> [n, m].
---@return Tensor
function Tensor:transpose() end

---Matrix product [m, n].
---@param b Tensor [k, n]
---@return Tensor
function Tensor:matmul(b) end

---[numel(a), numel(b)], a_i * b_j (numpy.outer).
---@param b Tensor
---@return Tensor
function Tensor:outer(b) end

---1 for the round(keep_frac * g) highest scores of each group, else 0.
---@param keep_frac number in [0, 1]
---@param dim? integer 1: down each column ([1,n]); 2: along each row ([m,1]); nil: whole tensor
---@return Tensor
function Tensor:topk_mask(keep_frac, dim) end

---N:M mask: keep the n_keep highest of each m consecutive entries of a row.
---@param n_keep integer
---@param m integer group length
---@return Tensor
function Tensor:nm_mask(n_keep, m) end

return T
