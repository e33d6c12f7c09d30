package yarn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// The Java protocol interfaces named in calls (RequestHeaderProto's
// declaringClassProtocolName and the connection context).
const (
	ApplicationClientProtocol   = "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB"
	ApplicationMasterProtocol   = "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB"
	ContainerManagementProtocol = "org.apache.hadoop.yarn.api.ContainerManagementProtocolPB"
)

// Exception classes of YARN servers.
const (
	// ExYarn is org.apache.hadoop.yarn.exceptions.YarnException.
	ExYarn = "org.apache.hadoop.yarn.exceptions.YarnException"
	// ExAppNotFound answers a report of an unknown application.
	ExAppNotFound = "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException"
	// ExAttemptNotFound answers an ApplicationMaster the RM does not know
	// (its attempt ended).
	ExAttemptNotFound = "org.apache.hadoop.yarn.exceptions.ApplicationAttemptNotFoundException"
	// ExNotRegistered answers allocate before registerApplicationMaster.
	ExNotRegistered = "org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException"
	// ExInvalidResourceRequest answers an ask beyond the maximum.
	ExInvalidResourceRequest = "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException"
)

// ErrKerberos is returned for a cluster that requires Kerberos.
var ErrKerberos = errors.New("yarn: the cluster uses Kerberos (hadoop.security.authentication=kerberos); this client supports simple authentication only")

// haConn calls one protocol on a list of servers, failing over to the
// next one on a connection failure or a StandbyException.
type haConn struct {
	addrs []string
	conns []*hadooprpc.Conn

	mu  sync.Mutex
	cur int
}

func newHAConn(addrs []string, opts hadooprpc.Options) *haConn {
	h := &haConn{addrs: addrs}
	for _, a := range addrs {
		h.conns = append(h.conns, hadooprpc.NewConn(a, opts))
	}
	return h
}

// failoverRounds is how many times a call tries every server.
const failoverRounds = 3

func (h *haConn) call(ctx context.Context, method string, req, resp proto.Message) error {
	h.mu.Lock()
	start := h.cur
	h.mu.Unlock()
	var errs []error
	n := len(h.conns)
	for i := range failoverRounds * n {
		idx := (start + i) % n
		err := h.conns[idx].Call(ctx, method, req, resp)
		if err == nil {
			h.mu.Lock()
			h.cur = idx
			h.mu.Unlock()
			return nil
		}
		var re *hadooprpc.RemoteError
		if errors.As(err, &re) && re.Class != hadooprpc.ExStandby {
			return fmt.Errorf("yarn: %s: %w", method, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("yarn: %s: %w", method, err)
		}
		if i < n {
			errs = append(errs, err)
		}
		if i%n == n-1 && i < failoverRounds*n-1 {
			// Every server refused or is standby: wait a little before the
			// next round (an HA election may be under way).
			t := time.NewTimer(time.Duration(i/n+1) * 200 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("yarn: %s: %w", method, ctx.Err())
			case <-t.C:
			}
		}
	}
	return fmt.Errorf("yarn: %s: no ResourceManager answered (tried %s): %w", method, strings.Join(h.addrs, ", "), errors.Join(errs...))
}

func (h *haConn) setToken(t hadooprpc.Token) {
	for _, c := range h.conns {
		c.SetToken(t)
	}
}

func (h *haConn) close() {
	for _, c := range h.conns {
		c.Close()
	}
}

// Client speaks ApplicationClientProtocol to the ResourceManager(s).
type Client struct {
	cfg *Config
	rm  *haConn
}

// NewClient returns a client of cfg's ResourceManagers. It connects on
// the first call.
func NewClient(cfg *Config) (*Client, error) {
	if cfg.Kerberos {
		return nil, ErrKerberos
	}
	if len(cfg.ResourceManagers) == 0 {
		return nil, errors.New("yarn: no ResourceManager address configured")
	}
	var addrs []string
	for _, rm := range cfg.ResourceManagers {
		addrs = append(addrs, rm.Address)
	}
	opts := hadooprpc.Options{Protocol: ApplicationClientProtocol, User: cfg.User, DialTimeout: cfg.DialTimeout}
	return &Client{cfg: cfg, rm: newHAConn(addrs, opts)}, nil
}

// Close closes the connections.
func (c *Client) Close() error {
	c.rm.close()
	return nil
}

// NewApplication asks for a new application id and the largest container
// resource.
func (c *Client) NewApplication(ctx context.Context) (*pb.GetNewApplicationResponseProto, error) {
	var resp pb.GetNewApplicationResponseProto
	if err := c.rm.call(ctx, "getNewApplication", &pb.GetNewApplicationRequestProto{}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// SubmitApplication submits an application (its id from NewApplication).
// Like Hadoop's YarnClient it then waits until the ResourceManager has
// accepted the application, and fails with the ResourceManager's
// diagnostics (e.g. an unknown queue) when it failed or was killed
// instead.
func (c *Client) SubmitApplication(ctx context.Context, sub *pb.ApplicationSubmissionContextProto) error {
	req := &pb.SubmitApplicationRequestProto{ApplicationSubmissionContext: sub}
	if err := c.rm.call(ctx, "submitApplication", req, &pb.SubmitApplicationResponseProto{}); err != nil {
		return err
	}
	id := AppIDFromProto(sub.GetApplicationId())
	_, err := c.WaitApplication(ctx, id, func(r *pb.ApplicationReportProto) bool {
		switch r.GetYarnApplicationState() {
		case pb.YarnApplicationStateProto_NEW, pb.YarnApplicationStateProto_NEW_SAVING, pb.YarnApplicationStateProto_SUBMITTED:
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	r, err := c.ApplicationReport(ctx, id)
	if err != nil {
		return err
	}
	switch r.GetYarnApplicationState() {
	case pb.YarnApplicationStateProto_FAILED, pb.YarnApplicationStateProto_KILLED:
		return fmt.Errorf("yarn: failed to submit %s to YARN: %s", id, r.GetDiagnostics())
	}
	return nil
}

// ApplicationReport returns the report of an application.
func (c *Client) ApplicationReport(ctx context.Context, id ApplicationID) (*pb.ApplicationReportProto, error) {
	var resp pb.GetApplicationReportResponseProto
	if err := c.rm.call(ctx, "getApplicationReport", &pb.GetApplicationReportRequestProto{ApplicationId: id.Proto()}, &resp); err != nil {
		return nil, err
	}
	return resp.GetApplicationReport(), nil
}

// Applications lists applications; req may filter by type, state, user,
// queue and tags (nil: all).
func (c *Client) Applications(ctx context.Context, req *pb.GetApplicationsRequestProto) ([]*pb.ApplicationReportProto, error) {
	if req == nil {
		req = &pb.GetApplicationsRequestProto{}
	}
	var resp pb.GetApplicationsResponseProto
	if err := c.rm.call(ctx, "getApplications", req, &resp); err != nil {
		return nil, err
	}
	return resp.GetApplications(), nil
}

// KillApplication asks the ResourceManager to kill an application and
// reports whether the kill has completed.
func (c *Client) KillApplication(ctx context.Context, id ApplicationID, diagnostics string) (bool, error) {
	req := &pb.KillApplicationRequestProto{ApplicationId: id.Proto()}
	if diagnostics != "" {
		req.Diagnostics = proto.String(diagnostics)
	}
	var resp pb.KillApplicationResponseProto
	if err := c.rm.call(ctx, "forceKillApplication", req, &resp); err != nil {
		return false, err
	}
	return resp.GetIsKillCompleted(), nil
}

// ClusterMetrics returns the NodeManager counts.
func (c *Client) ClusterMetrics(ctx context.Context) (*pb.YarnClusterMetricsProto, error) {
	var resp pb.GetClusterMetricsResponseProto
	if err := c.rm.call(ctx, "getClusterMetrics", &pb.GetClusterMetricsRequestProto{}, &resp); err != nil {
		return nil, err
	}
	return resp.GetClusterMetrics(), nil
}

// ClusterNodes returns the reports of the nodes in the given states (none:
// all).
func (c *Client) ClusterNodes(ctx context.Context, states ...pb.NodeStateProto) ([]*pb.NodeReportProto, error) {
	var resp pb.GetClusterNodesResponseProto
	if err := c.rm.call(ctx, "getClusterNodes", &pb.GetClusterNodesRequestProto{NodeStates: states}, &resp); err != nil {
		return nil, err
	}
	return resp.GetNodeReports(), nil
}

// Finished reports whether an application state is final.
func Finished(s pb.YarnApplicationStateProto) bool {
	switch s {
	case pb.YarnApplicationStateProto_FINISHED, pb.YarnApplicationStateProto_FAILED, pb.YarnApplicationStateProto_KILLED:
		return true
	}
	return false
}

// WaitApplication polls the application's report (as YARN clients do;
// the protocol has no notification) until done returns true or the
// application reached a final state, and returns that report.
func (c *Client) WaitApplication(ctx context.Context, id ApplicationID, done func(*pb.ApplicationReportProto) bool) (*pb.ApplicationReportProto, error) {
	wait := 20 * time.Millisecond
	for {
		r, err := c.ApplicationReport(ctx, id)
		if err != nil {
			return nil, err
		}
		if done(r) || Finished(r.GetYarnApplicationState()) {
			return r, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("yarn: waiting for %s (state %s): %w", id, r.GetYarnApplicationState(), ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
}
