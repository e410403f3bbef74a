-- expect: runtime
-- why: a table error object: reported as non-string error (table)
error({ message = "fake", kind = "ok" })
