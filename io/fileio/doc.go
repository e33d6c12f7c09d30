// Package fileio holds dagflow's file sources and transactional file
// sinks, on top of the storage abstraction of package filesystem.
//
// Sources (all bounded, paths may be files, directories or globs on any
// registered file system; hidden files — names starting with '.' or '_' —
// inside directories are ignored):
//
//   - Lines: the lines of text files;
//   - CSV: one record per CSV line, parsed by a user function;
//   - JSONLines: one JSON value per line, decoded with encoding/json.
//
// Uncompressed files are cut into byte-range splits (WithSplitSize); a
// split emits exactly the lines that start inside its range, so every line
// is read once whatever the split size. ".gz" and ".zst" files are read
// whole, one split each. Sources are configured with their With method:
//
//	src := fileio.CSV(parseOrder, "hdfs://nn/orders/*.csv").
//		With(fileio.WithSkipHeader(), fileio.WithSkipBadRecords(100))
//
// Bad CSV and JSON records fail the read with a *RecordError naming file,
// byte offset and, in a file's first split, line number, unless
// WithSkipBadRecords allows skipping a number of them per split. Split
// readers implement Progress (bytes consumed) and, for CSV and JSON
// Lines, BadRecordCounter.
//
// Sinks (TextSink, CSVSink, JSONLSink) write one line per record to part
// files in a directory with a two-phase commit: writers write hidden
// in-progress files, Prepare turns them into hidden pending files and
// returns committables, and the committer renames pending files to their
// final visible names "part-<subtask:05d>-<n>". Readers of the directory
// therefore see only committed output. See FileSink for the exact
// protocol, rolling (WithRollSize) and compression (WithCompression).
//
// ReadAllLines reads the committed lines of an output directory, for
// tests and examples.
//
// The package has no mutable package-level state; buffers are pooled per
// source.
package fileio
