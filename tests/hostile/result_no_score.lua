-- expect: type
-- why: the table form without a score function
return { group = "row" }
