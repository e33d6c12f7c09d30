// Command ckptbench measures checkpoints on the embedded cluster, each
// figure against a baseline measured in the same run, and prints Markdown
// tables:
//
//   - files: small-file merging. A job of parallelism 64 with three keyed
//     stateful operators per slot (process with value and map state, a
//     tumbling window sum, an aggregate) on 2 workers checkpoints to a
//     local directory with merging off, then on; per checkpoint it reports
//     the files created and the file system operations (counted by
//     internal/checkpoint's CountingFS under the workers' and the job
//     master's checkpoint storage), the duration and the alignment.
//   - overhead: throughput of a keyed aggregation in streaming mode
//     without checkpoints and with checkpoints every second, in
//     alternating rounds.
//   - hdfs: NameNode pressure. The job of "files" with checkpoints on
//     hdfs:// against internal/hdfstest's in-process NameNode, through the
//     engine's default registry; the NameNode counts its calls per method.
//
// Operations are attributed to a checkpoint by wrapping the job master's
// checkpoint store (master.JobConfig.CheckpointStore): the counters are
// read right after each checkpoint completed. Only one checkpoint is
// pending at a time and workers acknowledge only durable state, so the
// difference between two completions is one checkpoint's work: its state
// files, its metadata and the deletion of the checkpoint it subsumed.
//
//	go run ./bench/cmd/ckptbench                     # all three, about 1.5 minutes
//	go run ./bench/cmd/ckptbench --only files --max-parallelism 8192 --keys 1000000 --checkpoints 7
//
// See docs/performance.md (sections "Checkpoints" and "NameNode
// pressure") for recorded figures.
package main
