// Package sql is dagflow's SQL layer: it compiles a script of Flink-style
// SQL statements into a dag.Graph that runs on the same operators,
// windows, state and exchanges as a hand-written job, in batch or in
// streaming mode.
//
// An Env holds the catalog of a session: tables (CREATE TABLE … WITH
// ('connector' = …)), views, connectors and Go UDFs. Env.Compile parses a
// script (package parser), type-checks expressions and compiles them into
// closures over compact binary rows (packages expr and row), and adds the
// plan of every INSERT INTO and top-level SELECT to a graph:
//
//	env := sql.NewEnv()
//	g := dag.New("job", dag.Config{Parallelism: 2})
//	job, err := env.Compile(g, script)
//	…
//	_, err = dagflow.Run(ctx, g, dagflow.Options{})
//	rows := job.Results[0].Rows() // a top-level SELECT's result
//
// Supported today: sources and sinks through connectors (filesystem CSV
// and JSON lines, kafka, datagen, print, blackhole, and any a program
// registers, such as the Nexmark generator of bench/nexmark; a connector
// implementing Fusing builds the rows of the query reading its table
// itself, one row per record, through RowWriter); computed columns and WATERMARK
// FOR col AS col - INTERVAL …; views; several INSERT INTO in one job;
// projections, WHERE, CASE and the scalar functions of package expr;
// GROUP BY over the window table-valued functions TUMBLE, HOP and SESSION,
// and GROUP BY without a window (a continuous aggregation), with COUNT,
// SUM, MIN, MAX, AVG, FILTER (WHERE …) and HAVING; regular inner
// equi-joins; Top-N and deduplication (ROW_NUMBER() OVER (PARTITION BY …
// ORDER BY …) bounded by the outer WHERE); SELECT DISTINCT; ORDER BY with
// LIMIT (and without, in batch mode); UNION ALL; EXPLAIN. What the parser
// accepts beyond that (outer joins, interval and window joins, RANK, …)
// is refused with an error naming its position. docs/sql.md is the
// user's reference.
package sql
