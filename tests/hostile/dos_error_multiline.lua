-- expect: runtime
-- why: a multi-line error message is reported on one line
return function(W)
  error("first line\nsecond line\r\n\tthird", 0)
end
