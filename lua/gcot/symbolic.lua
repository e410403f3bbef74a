-- lua/gcot/symbolic.lua — the offline proposer: metric expression trees over the contract's primitives
-- (Pruner-Zero's search space without gradients), mutated and crossed over, emitted as readable Lua.
--
-- A tree is {op = NAME, args = {...}} or a leaf {leaf = NAME}. Every tree evaluates to a non-negative tensor that
-- broadcasts to W's shape (leaves are |W| or non-negative activation statistics; operators keep values >= 0), so
-- emitted metrics stay finite by construction as long as the statistics are.
local M = {}

-- Leaves: Lua expressions over W and X. Only non-negative quantities, so sqrt/log1p/division stay defined.
M.leaves = {
  A      = "A",               -- |W|
  l2     = "X.l2",            -- Wanda's ||X_j||_2
  sq     = "X.sq",            -- mean x^2
  std    = "X.std",
  absmax = "X.absmax",
  amean  = "X.mean:abs()",
  kurt   = "(X.kurt + 3)",      -- kurtosis (excess + 3) >= 1: heavy-tailed input channels
  askew  = "X.skew:abs()",
  ihinv  = "X.hinv:pow(-1)",    -- 1/d, SparseGPT's inverse-Hessian factor: only in runs that hold Hessians
}
local base_leaves = { "A", "l2", "sq", "std", "absmax", "amean", "kurt", "askew" }

-- The leaves generated trees may read: X.hinv only where the run gathers Hessians (otherwise it is nil).
function M.leaf_set(hessian)
  local names = {}
  for i, n in ipairs(base_leaves) do names[i] = n end
  if hessian then names[#names + 1] = "ihinv" end
  return names
end

-- Unary operators: name -> function(expr) returning Lua source.
M.unary = {
  sqrt   = function(a) return a .. ":sqrt()" end,
  square = function(a) return a .. ":square()" end,
  log1p  = function(a) return a .. ":log1p()" end,
  root4  = function(a) return a .. ":pow(0.25)" end,
  colnorm = function(a) return "(" .. a .. " / (" .. a .. ":sum(1) + 1e-8))" end,  -- share of its column
  rownorm = function(a) return "(" .. a .. " / (" .. a .. ":sum(2) + 1e-8))" end,  -- share of its row
  rowrank = function(a) return a .. ":rank(2)" end,
  sigmoid = function(a) return a .. ":sigmoid()" end,
  pow075 = function(a) return a .. ":pow(0.75)" end,
  pow15  = function(a) return a .. ":pow(1.5)" end,
  colmax = function(a) return "(" .. a .. " / (" .. a .. ":amax(1) + 1e-8))" end,  -- relative to its column's max
  rowmean = function(a) return "(" .. a .. " / (" .. a .. ":mean(2) + 1e-8))" end, -- relative to its row's mean
}
local unary_names = { "sqrt", "square", "log1p", "root4", "colnorm", "rownorm", "rowrank", "sigmoid", "pow075",
                      "pow15", "colmax", "rowmean" }

M.binary = {
  add = function(a, b) return "(" .. a .. " + " .. b .. ")" end,
  mul = function(a, b) return "(" .. a .. " * " .. b .. ")" end,
  div = function(a, b) return "(" .. a .. " / (" .. b .. " + 1e-8))" end,
  max = function(a, b) return "T.maximum(" .. a .. ", " .. b .. ")" end,
}
local binary_names = { "add", "mul", "div", "max" }

local function leaf(name) return { leaf = name } end
local function node(op, ...) return { op = op, args = { ... } } end

-- The hand-designed metrics as trees, the seeds of the population.
M.seeds = {
  magnitude = leaf("A"),
  wanda = node("mul", leaf("A"), leaf("l2")),
  ria = node("mul", node("add", node("colnorm", leaf("A")), node("rownorm", leaf("A"))), node("sqrt", leaf("l2"))),
  obs = node("square", node("mul", leaf("A"), leaf("ihinv"))),   -- SparseGPT's / OBS's saliency w²/d²
}

function M.copy(t)
  if t.leaf then return { leaf = t.leaf } end
  local args = {}
  for i, a in ipairs(t.args) do args[i] = M.copy(a) end
  return { op = t.op, args = args }
end

function M.size(t)
  if t.leaf then return 1 end
  local n = 1
  for _, a in ipairs(t.args) do n = n + M.size(a) end
  return n
end

function M.depth(t)
  if t.leaf then return 1 end
  local d = 0
  for _, a in ipairs(t.args) do d = math.max(d, M.depth(a)) end
  return d + 1
end

-- Lua source of a tree's expression.
function M.expr(t)
  if t.leaf then return M.leaves[t.leaf] end
  local args = {}
  for i, a in ipairs(t.args) do args[i] = M.expr(a) end
  if M.unary[t.op] then return M.unary[t.op](args[1]) end
  return M.binary[t.op](args[1], args[2])
end

-- A canonical string of a tree, for de-duplication and lineage records.
function M.key(t)
  if t.leaf then return t.leaf end
  local parts = {}
  for i, a in ipairs(t.args) do parts[i] = M.key(a) end
  if t.op == "add" or t.op == "mul" or t.op == "max" then table.sort(parts) end
  return t.op .. "(" .. table.concat(parts, ",") .. ")"
end

-- A complete metric script: readable Lua with the tree's formula in a comment.
function M.emit(t, group)
  local lines = {
    "-- symbolic metric: " .. M.key(t),
    "return {",
    "  group = \"" .. (group or "row") .. "\",",
    "  score = function(W, X, info)",
    "    local A = W:abs()",
    "    return " .. M.expr(t),
    "  end,",
    "}",
  }
  return table.concat(lines, "\n") .. "\n"
end

-- Random generation and variation use a caller-supplied rng(n) -> integer in 1..n (seeded by the run) and the
-- leaves a tree may read (M.leaf_set).
local function pick(rng, list) return list[rng(#list)] end

function M.random_tree(rng, depth, leaves)
  if depth <= 1 or rng(3) == 1 then return leaf(pick(rng, leaves)) end
  if rng(2) == 1 then return node(pick(rng, unary_names), M.random_tree(rng, depth - 1, leaves)) end
  return node(pick(rng, binary_names), M.random_tree(rng, depth - 1, leaves), M.random_tree(rng, depth - 1, leaves))
end

-- All subtrees with a setter each, in pre-order.
local function slots(t, out, set)
  out[#out + 1] = { tree = t, set = set }
  if not t.leaf then
    for i, a in ipairs(t.args) do
      slots(a, out, function(v) t.args[i] = v end)
    end
  end
  return out
end

local MAX_DEPTH = 6

-- Mutation: replace a random subtree, change an operator in place, or wrap a subtree.
function M.mutate(rng, t, leaves)
  local root = { value = M.copy(t) }
  local all = slots(root.value, {}, function(v) root.value = v end)
  local s = all[rng(#all)]
  local how = rng(4)
  if how == 1 then
    s.set(M.random_tree(rng, 3, leaves))
  elseif how == 2 and not s.tree.leaf then
    s.tree.op = #s.tree.args == 1 and pick(rng, unary_names) or pick(rng, binary_names)
  elseif how == 3 then
    s.set(node(pick(rng, unary_names), s.tree))
  else
    s.set(node(pick(rng, binary_names), s.tree, leaf(pick(rng, leaves))))
  end
  if M.depth(root.value) > MAX_DEPTH then return M.copy(t) end
  return root.value
end

-- Crossover: a random subtree of b replaces a random subtree of a.
function M.crossover(rng, a, b)
  local root = { value = M.copy(a) }
  local sa = slots(root.value, {}, function(v) root.value = v end)
  local sb = slots(M.copy(b), {}, function() end)
  sa[rng(#sa)].set(M.copy(sb[rng(#sb)].tree))
  if M.depth(root.value) > MAX_DEPTH then return M.copy(a) end
  return root.value
end

-- Does the tree read leaf `name`?
function M.uses_leaf(t, name)
  if t.leaf then return t.leaf == name end
  for _, a in ipairs(t.args) do
    if M.uses_leaf(a, name) then return true end
  end
  return false
end

-- Does the tree read the weight at all? A metric of activations alone ranks every row the same way.
function M.uses_weight(t) return M.uses_leaf(t, "A") end

-- Serialisation for the archive (trees are plain tables already; this validates one read back).
function M.valid(t, depth)
  depth = depth or 0
  if type(t) ~= "table" or depth > 20 then return false end
  if t.leaf then return M.leaves[t.leaf] ~= nil end
  if M.unary[t.op] then return type(t.args) == "table" and #t.args == 1 and M.valid(t.args[1], depth + 1) end
  if M.binary[t.op] then
    return type(t.args) == "table" and #t.args == 2 and M.valid(t.args[1], depth + 1) and M.valid(t.args[2], depth + 1)
  end
  return false
end

return M
