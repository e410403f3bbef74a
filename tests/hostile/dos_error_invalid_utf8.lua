-- expect: runtime
-- why: an error message with invalid UTF-8 still gives valid JSON (bytes replaced)
error("bad bytes: \xff\xfe\xc0\x80 end")
