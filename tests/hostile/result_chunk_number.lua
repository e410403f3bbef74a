-- expect: type
-- why: the chunk returns a number
return 42
