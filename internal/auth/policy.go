package auth

import (
	"fmt"
	"strings"

	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Rule says who may call one method or route.
type Rule struct {
	// Role is the least user role allowed; RoleNone means no user.
	Role Role
	// Node allows node identities.
	Node bool
	// Public skips authentication (health checks).
	Public bool
	// Mutating calls are audited.
	Mutating bool
	// OwnJob restricts users below admin to jobs they own, when the
	// server has an owner lookup (ServerConfig.JobOwner). The job is the
	// request's GetJobId() or JSON "job" field (gRPC) or the {id}
	// wildcard of the route (HTTP).
	OwnJob bool
}

// Policy maps a gRPC full method name ("/dagflow.cluster.v1.Master/
// SubmitJob") or an HTTP route pattern ("GET /api/jobs/{id}") to its rule.
type Policy map[string]Rule

// DefaultPolicy returns the rules for every gRPC method dagflow serves:
// users list and read with view; upload, submit, cancel and savepoint with
// submit; internal cluster calls need a node certificate.
func DefaultPolicy() Policy {
	var (
		node     = Rule{Node: true}
		nodeMut  = Rule{Node: true, Mutating: true}
		view     = Rule{Role: RoleView}
		viewNode = Rule{Role: RoleView, Node: true}
		submit   = Rule{Role: RoleSubmit}
		public   = Rule{Public: true}
	)
	return Policy{
		// Master: user-facing.
		rpcpb.Master_HasBinary_FullMethodName:        submit,
		rpcpb.Master_UploadBinary_FullMethodName:     {Role: RoleSubmit, Mutating: true},
		rpcpb.Master_SubmitJob_FullMethodName:        {Role: RoleSubmit, Mutating: true},
		rpcpb.Master_CancelJob_FullMethodName:        {Role: RoleSubmit, Mutating: true, OwnJob: true},
		rpcpb.Master_TriggerSavepoint_FullMethodName: {Role: RoleSubmit, Mutating: true, OwnJob: true},
		rpcpb.Master_ListJobs_FullMethodName:         viewNode, // the shuffle daemon's reaper lists jobs
		rpcpb.Master_JobStatus_FullMethodName:        view,
		rpcpb.Master_JobLogs_FullMethodName:          view,
		// Version is what clients probe a master with before anything else.
		rpcpb.Master_Version_FullMethodName: public,
		// Master: from workers, executors and shuffle daemons.
		rpcpb.Master_RegisterWorker_FullMethodName:        nodeMut,
		rpcpb.Master_RegisterShuffleDaemon_FullMethodName: nodeMut,
		rpcpb.Master_GetBinary_FullMethodName:             node,
		rpcpb.Master_NextSplit_FullMethodName:             node,
		rpcpb.Master_ReportTask_FullMethodName:            node,
		rpcpb.Master_ReportMetrics_FullMethodName:         node,
		rpcpb.Master_ExecutorLost_FullMethodName:          node,
		rpcpb.Master_ReportCheckpoint_FullMethodName:      node,
		rpcpb.Reconcile_ReportTasks_FullMethodName:        nodeMut,
		// Worker: from the master.
		rpcpb.Worker_PrepareJob_FullMethodName:        node,
		rpcpb.Worker_DeployTask_FullMethodName:        node,
		rpcpb.Worker_CancelTask_FullMethodName:        node,
		rpcpb.Worker_ReleaseJob_FullMethodName:        node,
		rpcpb.Worker_Logs_FullMethodName:              node,
		rpcpb.Worker_TriggerCheckpoint_FullMethodName: node,
		rpcpb.Worker_NotifyCheckpoint_FullMethodName:  node,
		// Executor: from its worker.
		rpcpb.ExecutorReconcile_Follow_FullMethodName:   node,
		rpcpb.Executor_DeployTask_FullMethodName:        node,
		rpcpb.Executor_CancelTask_FullMethodName:        node,
		rpcpb.Executor_TriggerCheckpoint_FullMethodName: node,
		rpcpb.Executor_NotifyCheckpoint_FullMethodName:  node,
		// Shuffle daemon: from executors and the master; dagctl lists jobs.
		rpcpb.ShuffleDaemon_Adopt_FullMethodName:      node,
		rpcpb.ShuffleDaemon_Stat_FullMethodName:       node,
		rpcpb.ShuffleDaemon_ReleaseJob_FullMethodName: node,
		rpcpb.ShuffleDaemon_ListJobs_FullMethodName:   viewNode,
		// Shuffle data plane: executor to executor or daemon.
		shufflepb.ShuffleService_Read_FullMethodName: node,
		shufflepb.ShuffleService_Stat_FullMethodName: node,
		// Health checks.
		healthpb.Health_Check_FullMethodName: public,
		healthpb.Health_Watch_FullMethodName: public,
	}
}

// DefaultHTTPPolicy returns the rules for the master's REST routes
// (patterns as registered on its http.ServeMux): users read with view;
// cancel, savepoint and stop need submit (and a submit user's own job),
// as over gRPC; health checks and the web UI's static files are public
// (they hold no data).
func DefaultHTTPPolicy() Policy {
	view := Rule{Role: RoleView}
	act := Rule{Role: RoleSubmit, Mutating: true, OwnJob: true}
	public := Rule{Public: true}
	return Policy{
		"GET /api/jobs":                 view,
		"GET /api/jobs/{id}":            view,
		"GET /api/workers":              view,
		"GET /metrics":                  view,
		"GET /api/cluster":              view,
		"GET /api/jobs/{id}/graph":      view,
		"GET /api/jobs/{id}/subtasks":   view,
		"GET /api/jobs/{id}/exceptions": view,
		"GET /api/jobs/{id}/logs":       view,
		"POST /api/jobs/{id}/cancel":    act,
		"POST /api/jobs/{id}/savepoint": act,
		"POST /api/jobs/{id}/stop":      act,
		"GET /healthz":                  public,
		"GET /readyz":                   public,
		"GET /{$}":                      public,
		"GET /ui/":                      public,
	}
}

// ShortMethod turns "/dagflow.cluster.v1.Master/CancelJob" into
// "Master/CancelJob".
func ShortMethod(full string) string {
	s := strings.TrimPrefix(full, "/")
	svc, m, ok := strings.Cut(s, "/")
	if !ok {
		return full
	}
	if i := strings.LastIndexByte(svc, '.'); i >= 0 {
		svc = svc[i+1:]
	}
	return svc + "/" + m
}

// Allow checks id against rule for what (a method or route, used in the
// message). It returns nil or an error saying who may not do what and
// what is needed.
func Allow(id Identity, what string, rule Rule) error {
	switch {
	case rule.Public:
		return nil
	case id.Node && rule.Node:
		return nil
	case !id.Node && rule.Role != RoleNone && id.Role >= rule.Role:
		return nil
	}
	var need string
	switch {
	case rule.Role == RoleNone:
		need = "needs a node certificate"
	case rule.Node:
		need = "needs role " + rule.Role.String() + " or a node certificate"
	default:
		need = "needs role " + rule.Role.String()
	}
	return fmt.Errorf("%s may not call %s (%s)", id, what, need)
}
