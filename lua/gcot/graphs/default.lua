-- lua/gcot/graphs/default.lua — the default reasoning graph: observe -> recall -> diagnose -> hypothesise ->
-- implement. Each node names its prompt template in prompts/; `after` lists the nodes whose answers it reads
-- (the edges); `fanout = true` runs the node once per candidate of the generation, each branch with its own chain.
-- Edit this table (or write another file beside it and pass --graph NAME) to change how the LLM reasons.
return {
  name = "default",
  nodes = {
    { id = "observe",     prompt = "observe.md",     after = {} },
    { id = "recall",      prompt = "recall.md",      after = {} },
    { id = "diagnose",    prompt = "diagnose.md",    after = { "observe", "recall" }, insight = true },
    { id = "hypothesise", prompt = "hypothesise.md", after = { "diagnose" }, fanout = true, temperature = 1.0 },
    { id = "implement",   prompt = "implement.md",   after = { "hypothesise" }, fanout = true, produces = "metric",
      temperature = 0.4 },
  },
  -- hints that make the fanned-out branches explore different directions
  branch_hints = {
    "refine the best metric found so far",
    "use per-input-channel activation statistics beyond the L2 norm (absmax, std, kurtosis)",
    "normalise |W| by row and column aggregates, as RIA does",
    "change the comparison group or combine two good metrics",
    "a bold idea unlike anything in the archive",
  },
}
