package daemon

import (
	"context"
	"maps"
	"testing"

	"google.golang.org/grpc"

	"github.com/dagflow/dagflow/internal/rpcpb"
)

// listingMaster answers ListJobs with a fixed list; other methods are not
// used by the reaper.
type listingMaster struct {
	rpcpb.MasterClient
	jobs *rpcpb.JobList
}

func (m listingMaster) ListJobs(context.Context, *rpcpb.ListJobsRequest, ...grpc.CallOption) (*rpcpb.JobList, error) {
	return m.jobs, nil
}

// TestMasterJobStates checks that the reaper reads each job's state from
// the master's typed job list.
func TestMasterJobStates(t *testing.T) {
	mc := listingMaster{jobs: &rpcpb.JobList{Jobs: []*rpcpb.JobSnapshot{
		{Id: "a", State: "running"}, {Id: "b", State: "finished"}}}}
	got, err := masterJobs{func() rpcpb.MasterClient { return mc }}.JobStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "running", "b": "finished"}; !maps.Equal(got, want) {
		t.Errorf("job states %v, want %v", got, want)
	}
}
