// Package expr type-checks SQL expressions and compiles them, once, into
// Go closures over binary rows (package row): a compiled expression reads
// its columns at fixed offsets and calls no reflection per row.
//
// A Compiled expression has one evaluation function for its storage
// class: Int (BIGINT, DECIMAL, BOOLEAN, TIMESTAMP, INTERVAL), Float
// (DOUBLE) or Bytes (VARCHAR). Each returns the value and whether it is
// non-NULL; SQL's three-valued logic and NULL propagation follow from
// that. DECIMAL values are int64s of unscaled digits with the scale in the
// type. Evaluation functions hold no mutable state: one compiled
// expression serves every subtask at once.
//
// Errors name the position of the offending expression: an unknown or
// ambiguous column, an unknown function, a wrong argument count or type.
// The built-in scalar functions are listed in Builtins; a job adds Go
// functions with Functions.Register.
package expr
