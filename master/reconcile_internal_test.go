package master

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/scheduler"
)

func newReportServer(wait time.Duration) *Server {
	return &Server{cfg: ServerConfig{ReconcileWait: wait}, log: slog.New(slog.DiscardHandler), jobs: map[string]*clusterJob{},
		reports: taskReports{byWorker: map[string]*rpcpb.WorkerTasks{}, changed: make(chan struct{})}}
}

// TestReportedTasksBecomeAnAdoption checks that the workers' reports of a
// job turn into the job master's Adoption: attempts, slots, states,
// locations, splits and committables, and only of that job.
func TestReportedTasksBecomeAnAdoption(t *testing.T) {
	s := newReportServer(time.Minute)
	ctx := context.Background()
	for _, wt := range []*rpcpb.WorkerTasks{
		{Worker: "w2", Executors: []*rpcpb.ExecutorTasks{{JobId: "j", ExecutorAddress: "e2", Tasks: []*rpcpb.ReportedTask{
			{Vertex: 1, Subtask: 0, Attempt: 3, Slot: 1, LastBarrier: 7}}}}},
		{Worker: "w1", Executors: []*rpcpb.ExecutorTasks{
			{JobId: "other", ExecutorAddress: "x", Tasks: []*rpcpb.ReportedTask{{Vertex: 0}}},
			{JobId: "j", ExecutorAddress: "e1", Tasks: []*rpcpb.ReportedTask{
				{Vertex: 0, Subtask: 0, Attempt: 2, Slot: 0, Finished: true, LastBarrier: 6, External: true,
					Locations:    map[int32]string{4: "shuffle:1"},
					Splits:       []*rpcpb.ReportedSplit{{Id: "a", Tag: 1, Done: true, DoneTag: 5}, {Id: "b", Tag: 5}},
					Committables: []*rpcpb.SinkCommittables{{Vertex: 2, Items: [][]byte{[]byte("c")}}}}}}}},
	} {
		if _, err := (reconcileService{s: s}).ReportTasks(ctx, wt); err != nil {
			t.Fatal(err)
		}
	}
	ad, workers := s.adoption("j")
	if !reflect.DeepEqual(workers, []string{"w1", "w2"}) {
		t.Errorf("workers %v, want [w1 w2]", workers)
	}
	want := []AdoptedTask{
		{AdoptedTask: scheduler.AdoptedTask{Task: scheduler.TaskID{Vertex: 0, Subtask: 0}, Attempt: 2, Worker: "w1", Slot: 0,
			State: scheduler.Finished, External: true}, Location: "e1", OutLocs: map[int]string{4: "shuffle:1"}, LastBarrier: 6,
			Splits:       []AdoptedSplit{{ID: "a", Tag: 1, Done: true, DoneTag: 5}, {ID: "b", Tag: 5}},
			Committables: map[int][][]byte{2: {[]byte("c")}}},
		{AdoptedTask: scheduler.AdoptedTask{Task: scheduler.TaskID{Vertex: 1, Subtask: 0}, Attempt: 3, Worker: "w2", Slot: 1,
			State: scheduler.Running}, Location: "e2", LastBarrier: 7},
	}
	if ad == nil || !reflect.DeepEqual(ad.Tasks, want) {
		t.Errorf("adoption %+v\nwant %+v", ad, want)
	}
	if ad, workers := s.adoption("none"); ad != nil || workers != nil {
		t.Errorf("a job nobody reported: adoption %+v workers %v, want none", ad, workers)
	}
}

// TestWaitReportsEndsWhenEveryTaskIsReported checks that recovery stops
// waiting as soon as every task of the recovered jobs was reported, and
// otherwise after ReconcileWait.
func TestWaitReportsEndsWhenEveryTaskIsReported(t *testing.T) {
	s := newReportServer(time.Hour)
	done := make(chan struct{})
	go func() {
		s.waitReports(context.Background(), map[string]int{"j": 2})
		close(done)
	}()
	report := func(worker string) {
		if _, err := (reconcileService{s: s}).ReportTasks(context.Background(), &rpcpb.WorkerTasks{Worker: worker,
			Executors: []*rpcpb.ExecutorTasks{{JobId: "j", Tasks: []*rpcpb.ReportedTask{{Vertex: 0}}}}}); err != nil {
			t.Fatal(err)
		}
	}
	report("w1")
	select {
	case <-done:
		t.Fatal("stopped waiting with one of two tasks reported")
	default:
	}
	report("w2")
	<-done // an hour otherwise

	s = newReportServer(time.Millisecond)
	s.waitReports(context.Background(), map[string]int{"j": 1}) // returns after ReconcileWait
}
