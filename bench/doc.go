// Package bench holds dagflow's benchmarks: Go benchmarks (go test -bench)
// and the enginebench command, which measures the engine against plain,
// single-threaded Go programs computing the same results in the same run.
package bench
