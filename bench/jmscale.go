package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/internal/testkit"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// JobMasterScaleResult is what JobMasterScale measured.
type JobMasterScaleResult struct {
	// N is the parallelism of both tasks; Mode the exchange mode.
	N    int
	Mode string
	// Run is the time of JobMaster.Run: every task deployed (descriptor
	// built and handed to a fake worker, which reports it finished at
	// once) until the job finished.
	Run time.Duration
	// Deployments and Channels count what the fake workers received.
	Deployments, Channels int
	// PeakHeap is the largest heap seen during Run, sampled every
	// millisecond.
	PeakHeap uint64
}

// scaleWorker is a worker gateway that runs nothing: every deployment is
// counted and reported finished at once.
type scaleWorker struct {
	name  string
	slots int
	jm    func() *master.JobMaster

	mu                    sync.Mutex
	deployments, channels int
}

func (w *scaleWorker) Name() string                                    { return w.name }
func (w *scaleWorker) Slots() int                                      { return w.slots }
func (w *scaleWorker) Prepare(context.Context, string) (string, error) { return w.name, nil }
func (w *scaleWorker) Cancel(string, worker.TaskID, int)               {}
func (w *scaleWorker) Metrics(string) []worker.VertexMetrics           { return nil }
func (w *scaleWorker) Deploy(_ context.Context, dep worker.TaskDeployment) error {
	n := 0
	for _, g := range dep.Inputs {
		n += len(g.Channels)
	}
	w.mu.Lock()
	w.deployments++
	w.channels += n
	w.mu.Unlock()
	w.jm().Report(worker.TaskStatus{Job: dep.Job, ID: dep.ID, Attempt: dep.Attempt})
	return nil
}

// JobMasterScale measures the job master's deployment path: a job whose
// N source subtasks feed N reduce subtasks through a keyed (all-to-all)
// exchange, blocking (batch mode) or pipelined (streaming mode), run by a
// JobMaster on fake workers of slotsPerWorker slots (N slots in all) that
// report every task finished as soon as it is deployed.
func JobMasterScale(ctx context.Context, n int, batch bool, slotsPerWorker int) (JobMasterScaleResult, error) {
	if n < 1 || slotsPerWorker < 1 {
		return JobMasterScaleResult{}, fmt.Errorf("bench: job master scale: N %d and slots per worker %d must be positive", n, slotsPerWorker)
	}
	mode, modeName := dag.StreamingMode, "pipelined"
	if batch {
		mode, modeName = dag.BatchMode, "blocking"
	}
	g := dag.New("jmscale", dag.Config{Parallelism: n, MaxParallelism: max(n, 128), Mode: mode})
	src := dag.FromSource(g, "src", &testkit.SliceSource[int]{Items: []int{1, 2, 3, 4}}, nil)
	sum := dag.Reduce(dag.KeyBy(src, func(v int) int { return v }), func(a, b int) int { return a + b })
	dag.ToSink(sum, "out", testkit.NewCollector[dag.KV[int, int]]())
	plan, err := g.Build()
	if err != nil {
		return JobMasterScaleResult{}, fmt.Errorf("bench: job master scale: %w", err)
	}
	var jm *master.JobMaster
	var gws []master.WorkerGateway
	var ws []*scaleWorker
	for k := 0; k*slotsPerWorker < n; k++ {
		w := &scaleWorker{name: fmt.Sprintf("w%05d", k), slots: slotsPerWorker, jm: func() *master.JobMaster { return jm }}
		ws = append(ws, w)
		gws = append(gws, w)
	}
	jm, err = master.NewJobMaster(ctx, plan, master.PlanCode{Plan: plan}, gws, master.JobConfig{
		ID: "jmscale", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return JobMasterScaleResult{}, fmt.Errorf("bench: job master scale: %w", err)
	}
	runtime.GC()
	heap := startHeapSampler()
	t0 := time.Now()
	_, err = jm.Run(ctx)
	res := JobMasterScaleResult{N: n, Mode: modeName, Run: time.Since(t0), PeakHeap: heap.finish()}
	for _, w := range ws {
		res.Deployments += w.deployments
		res.Channels += w.channels
	}
	if err != nil {
		return res, fmt.Errorf("bench: job master scale: %w", err)
	}
	return res, nil
}
