// Package types holds the SQL types of dagflow's SQL layer and how each
// is stored in a binary row (package row): as a 64-bit integer, a 64-bit
// float or a variable-length byte string.
package types
