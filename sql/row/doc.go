// Package row is the compact binary row of dagflow's SQL layer, after
// Blink's BinaryRow: a row of n fields is one byte slice holding
//
//   - a null bit set of (n+7)/8 bytes,
//   - a fixed-width part of 8 bytes per field: an int64 or a float64
//     (little-endian), or for a variable-length field its offset (low 32
//     bits) and length (high 32 bits) inside the row,
//   - the variable-length part: the bytes of strings, back to back.
//
// Reading a field is an index into the slice: no allocation and no
// reflection. A Builder assembles a row in one reusable buffer; Build
// copies it into one exactly sized slice (one allocation per row, none
// per field), and StartIn/FinishIn build rows straight into an Arena's
// chunks (one allocation per chunk of many rows, for rows that die
// young). Coder is the dag.Coder of rows, which validates every
// variable-length slot of a decoded row so that a corrupt record is an
// error, never a panic on access (FuzzCoder).
package row
