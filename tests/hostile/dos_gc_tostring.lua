-- expect: runtime
-- why: an error object with a C __tostring (a tensor) is reported by type, never converted
return function(W) error(W) end
