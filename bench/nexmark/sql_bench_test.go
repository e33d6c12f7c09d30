//go:build unix

package nexmark

import (
	"context"
	"log/slog"
	"syscall"
	"testing"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
)

// processCPU returns the user+system CPU time of the process in seconds.
func processCPU(tb testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// runForCPU runs one version of query name over gen's events in batch
// mode and returns the CPU seconds it took and its summary.
func runForCPU(b *testing.B, name string, gen *Generator, useSQL bool) (float64, Summary) {
	return runForCPUT(b, name, gen, useSQL)
}

func runForCPUT(b testing.TB, name string, gen *Generator, useSQL bool) (float64, Summary) {
	g := dag.New(name, dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	var sum *Checksum
	if useSQL {
		env, conn, err := gen.SQLEnv(g.Config())
		if err != nil {
			b.Fatal(err)
		}
		script, err := SQLQuery(name)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.Compile(g, script); err != nil {
			b.Fatal(err)
		}
		sum, _ = conn.Checksum("nexmark_" + name)
	} else {
		q, err := Lookup(name)
		if err != nil {
			b.Fatal(err)
		}
		sum = q.AddTo(Read(g, gen), "out")
	}
	start := processCPU(b)
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		b.Fatal(err)
	}
	return processCPU(b) - start, sum.Summary()
}

// BenchmarkSQLvsDAG measures the per-core throughput (events per CPU
// second of the whole process) of every SQL query and of its hand-written
// DAG version, alternating the two in every iteration, and reports the
// ratio dag/sql: 1.0 is parity, 1.5 means SQL needs 1.5x the CPU.
//
//	go test -run '^$' -bench SQLvsDAG -benchtime 3x ./bench/nexmark/
func BenchmarkSQLvsDAG(b *testing.B) {
	gen := testGenerator(b, Config{Events: 400_000, Seed: 3})
	events := float64(gen.Config().Events)
	for _, name := range SQLQueries() {
		b.Run(name, func(b *testing.B) {
			var sqlCPU, dagCPU float64
			for range b.N {
				c1, s1 := runForCPU(b, name, gen, false)
				c2, s2 := runForCPU(b, name, gen, true)
				if q, _ := Lookup(name); q.Deterministic && s1 != s2 {
					b.Fatalf("checksums differ: hand-written %v, SQL %v", s1, s2)
				}
				dagCPU += c1
				sqlCPU += c2
			}
			n := float64(b.N)
			b.ReportMetric(events*n/dagCPU, "dag-events/cpu-s")
			b.ReportMetric(events*n/sqlCPU, "sql-events/cpu-s")
			b.ReportMetric(sqlCPU/dagCPU, "sql-cpu/dag-cpu")
		})
	}
}
