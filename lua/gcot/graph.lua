-- lua/gcot/graph.lua — the graph-driven chain of thought as data: validates a reasoning graph, renders each node's
-- prompt template from the context and its predecessors' answers, and runs the graph, asking the LLM for all nodes
-- of one level at once (fanned-out nodes in parallel).
local G = {}

-- Check a graph table and return its nodes in an order where every node comes after its predecessors.
function G.order(graph)
  local byid, order, state = {}, {}, {}
  for _, n in ipairs(graph.nodes) do
    assert(type(n.id) == "string" and type(n.prompt) == "string", "graph node needs id and prompt")
    assert(not byid[n.id], "duplicate graph node " .. n.id)
    byid[n.id] = n
  end
  local function visit(n)
    if state[n.id] == "done" then return end
    assert(state[n.id] ~= "active", "the reasoning graph has a cycle through " .. n.id)
    state[n.id] = "active"
    for _, p in ipairs(n.after or {}) do
      assert(byid[p], "graph node " .. n.id .. " follows unknown node " .. p)
      assert(not byid[p].fanout or n.fanout, "a shared node cannot follow a fanned-out node: " .. n.id)
      visit(byid[p])
    end
    state[n.id] = "done"
    order[#order + 1] = n
  end
  for _, n in ipairs(graph.nodes) do visit(n) end
  return order, byid
end

local template_cache = {}
function G.template(dir, name)
  local path = dir .. "/" .. name
  if not template_cache[path] then
    local f = assert(io.open(path, "r"), "missing prompt template " .. path)
    template_cache[path] = f:read("a")
    f:close()
  end
  return template_cache[path]
end

-- Replace {{name}} and {{answer.node}} from vars; an unknown name is an error (a typo in a template must not
-- silently send an empty prompt).
function G.render(text, vars, where)
  return (text:gsub("{{%s*([%w_%.]+)%s*}}", function(name)
    local v = vars
    for part in name:gmatch("[^%.]+") do
      v = type(v) == "table" and v[part] or nil
    end
    if v == nil then error(("prompt %s: no value for {{%s}}"):format(where or "?", name)) end
    return tostring(v)
  end))
end

-- Run the graph. ctx: vars for templates; branches: number of fanned-out chains; ask(requests) -> results, where
-- requests is a list of {node=, branch=, messages=, temperature=} and each result {content=} or {error=}.
-- Returns {shared = {id -> answer}, branches = {[b] = {id -> answer}}, errors = {...}, produced = {[b] = text}}.
function G.run(graph, ctx, branches, ask, prompt_dir, system)
  local order = G.order(graph)
  local out = { shared = {}, branches = {}, errors = {}, produced = {}, transcript = {} }
  for b = 1, branches do out.branches[b] = {} end
  -- levels: nodes whose predecessors are all answered run together
  local hints = graph.branch_hints or {}
  local done, remaining = {}, {}
  for _, n in ipairs(order) do remaining[#remaining + 1] = n end
  while #remaining > 0 do
    local level, rest = {}, {}
    for _, n in ipairs(remaining) do
      local ready = true
      for _, p in ipairs(n.after or {}) do if not done[p] then ready = false end end
      if ready then level[#level + 1] = n else rest[#rest + 1] = n end
    end
    local requests = {}
    for _, n in ipairs(level) do
      for b = 1, (n.fanout and branches or 1) do
        local answers = {}
        for k, v in pairs(out.shared) do answers[k] = v end
        if n.fanout then for k, v in pairs(out.branches[b]) do answers[k] = v end end
        local vars = setmetatable({ answer = answers, branch = b, branches = branches,
                                    branch_hint = hints[(b - 1) % math.max(1, #hints) + 1] or "" },
                                  { __index = ctx })
        local user = G.render(G.template(prompt_dir, n.prompt), vars, n.prompt)
        requests[#requests + 1] = { node = n, branch = n.fanout and b or nil, temperature = n.temperature,
                                    messages = { { role = "system", content = system },
                                                 { role = "user", content = user } } }
      end
    end
    local results = ask(requests)
    for i, r in ipairs(requests) do
      local res = results[i] or { error = { kind = "lost", message = "no result" } }
      local answer = res.content
      if not answer then
        out.errors[#out.errors + 1] = { node = r.node.id, branch = r.branch, error = res.error }
        answer = "(no answer: " .. tostring(res.error and res.error.message) .. ")"
      end
      out.transcript[#out.transcript + 1] = { node = r.node.id, branch = r.branch, prompt = r.messages[2].content,
                                              answer = res.content, error = res.error, usage = res.usage }
      if r.branch then out.branches[r.branch][r.node.id] = answer else out.shared[r.node.id] = answer end
      if r.node.produces and res.content then out.produced[r.branch or 1] = res.content end
    end
    for _, n in ipairs(level) do done[n.id] = true end
    assert(#level > 0, "reasoning graph cannot make progress")
    remaining = rest
  end
  return out
end

return G
