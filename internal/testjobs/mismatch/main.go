// Command mismatch is a test job whose graph differs between the driver
// and the cluster's executors: the cluster must refuse to run it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
)

func main() {
	g := dag.New("mismatch", dag.Config{Parallelism: 1})
	s := dag.FromSource(g, "src", &testkit.SliceSource[int64]{Items: []int64{1, 2, 3}}, nil)
	if !dagflow.IsDriver() {
		s = dag.Map(s, func(v int64) int64 { return v + 1 }, dag.Name("extra"))
	}
	dag.ToSink(s, "out", testkit.NewCollector[int64]())
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
