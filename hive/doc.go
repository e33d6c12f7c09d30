// Package hive reads and writes Hive tables with dagflow.
//
// It owns the catalog model (Database, Table, Partition), two Catalog
// implementations — a Hive Metastore client over Thrift (Open with
// Config.MetastoreURIs) and an embedded catalog persisted in SQLite under
// the warehouse directory (the default) — the mapping between Hive types,
// Go values and Arrow types, the bounded table Source (Parquet and text
// tables, partition pruning, projection, positioned readers) and the table
// Sink (append or overwrite, static and dynamic partitions, two-phase
// commit through a staging directory, partition commit on checkpoints and
// watermarks).
//
// # Rows
//
// Jobs see a table row as a Row ([]any) whose values follow the row's
// Schema: by default the table's data columns followed by its partition
// columns (what Hive's SELECT * returns). The Go type of each value is
// fixed by the column's Hive type (see GoType and docs/hive.md); a NULL is
// a nil value. A sink takes rows in the same layout, minus the partition
// columns given statically with StaticPartition. Rows cross network
// edges with a RowCoder built from the schema (NewRowCoder, or the
// RowCoder methods of TableSource and TableSink).
//
// All file access goes through an io/filesystem Registry, so table and
// warehouse locations may be local paths, file:// or hdfs:// URIs.
package hive
