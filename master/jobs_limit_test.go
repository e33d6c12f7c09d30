package master_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/master"
)

// TestMaxJobsPerUser runs a master with MaxJobsPerUser 1 (the
// --max-jobs-per-user flag): a second job of the same user is refused
// with ResourceExhausted naming the flag while the first runs, and
// accepted once the first ended.
func TestMaxJobsPerUser(t *testing.T) {
	c := startMetricsCluster(t, master.ServerConfig{MaxJobsPerUser: 1})
	first, plan := c.submit(t, pipelineGraph())
	planJSON, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	bin := []byte("#!/bin/sh\nexit 0\n") // uploaded by submit
	sum := sha256.Sum256(bin)
	req := &rpcpb.SubmitJobRequest{Name: plan.Job, PlanJson: planJSON, MaxRestarts: -1,
		Binary: &rpcpb.BinaryRef{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(bin))}}
	_, err = c.mc.SubmitJob(context.Background(), req)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-jobs-per-user") {
		t.Fatalf("second job while the first runs: %v, want ResourceExhausted naming --max-jobs-per-user", err)
	}
	c.cancel(t, first)
	resp, err := c.mc.SubmitJob(context.Background(), req)
	if err != nil {
		t.Fatalf("a job after the first ended: %v", err)
	}
	if resp.JobId == first {
		t.Fatalf("the new job has the old job's id %s", first)
	}
	c.cancel(t, resp.JobId)
}

// cancel cancels a job of pipelineGraph whose two source tasks are
// deployed to the fake worker, which reports them canceled as a real
// worker would, and waits until the job is canceled.
func (c *metricsCluster) cancel(t *testing.T, job string) {
	t.Helper()
	deps := []protocol.TaskDeployment{c.nextDeployment(t), c.nextDeployment(t)}
	// CancelJob answers once the job ended, so it runs aside while the
	// fake worker reports its tasks canceled.
	canceled := make(chan error, 1)
	go func() {
		_, err := c.mc.CancelJob(context.Background(), &rpcpb.JobRef{JobId: job})
		canceled <- err
	}()
	c.waitStatus(t, job, "canceling its sources", func(st master.JobStatus) bool {
		n := 0
		for _, tv := range st.Tasks {
			if tv.State == "canceling" {
				n++
			}
		}
		return n == len(deps)
	})
	for _, d := range deps {
		st := protocol.StatusToProto(protocol.TaskStatus{Job: d.Job, ID: d.ID, Attempt: d.Attempt, Err: context.Canceled})
		if _, err := c.mc.ReportTask(context.Background(), &rpcpb.ReportTaskRequest{Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-canceled; err != nil {
		t.Fatal(err)
	}
	c.waitState(t, job, "canceled")
}
