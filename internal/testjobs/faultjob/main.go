// Command faultjob runs one job of the fault-injection suite
// (internal/faultsuite), chosen by --case, with its fault point armed by
// --fault-dir and --fault-at. The suite submits it to real clusters; the
// embedded runtime builds the same graphs in process.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/internal/faultsuite"
)

func main() {
	var p faultsuite.Params
	flag.StringVar(&p.Case, "case", "", "suite case (job) to run")
	flag.Int64Var(&p.Records, "records", 0, "records of generated input")
	flag.IntVar(&p.Parallelism, "parallelism", 2, "parallelism")
	flag.StringVar(&p.Output, "output", "", "output directory")
	flag.StringVar(&p.FaultDir, "fault-dir", "", "directory of the fault point's files")
	flag.Int64Var(&p.FaultAt, "fault-at", 0, "records the probed task reads before pausing at the fault point (0: no fault point)")
	flag.StringVar(&p.CheckpointDir, "checkpoint-dir", "", "checkpoint directory URI")
	flag.Parse()
	g, err := faultsuite.Build(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := dagflow.Run(context.Background(), g, dagflow.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
