// Package parser is the SQL front end of dagflow's SQL layer: a lexer, a
// recursive-descent parser and the abstract syntax tree of the Flink SQL
// dialect the layer accepts.
//
// No maintained Go SQL parser handles this dialect: the MySQL parsers
// (vitess, TiDB) and the PostgreSQL ones (cockroachdb, pg_query) know
// neither window table-valued functions
// (TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))) nor
// CREATE TABLE … WATERMARK FOR … nor WITH ('connector' = …) options, so
// the parser is hand-written.
//
// Parse turns a script (statements separated by semicolons) into
// statements. Every node records the position (line and column, from 1)
// where it starts, and a syntax error is an *Error naming the position,
// what was found and what was expected. The parser never panics on any
// input (FuzzParse).
package parser
