package yarntest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// application is the ResourceManager's record of one application.
type application struct {
	id          yarn.ApplicationID
	user        string
	sub         *pb.ApplicationSubmissionContextProto
	state       pb.YarnApplicationStateProto
	final       pb.FinalApplicationStatusProto
	diagnostics string
	start, end  time.Time
	maxAttempts int32
	attempts    []*attempt
	containers  map[int64]*container
	nextCont    int64
}

// attempt is one ApplicationMaster attempt.
type attempt struct {
	id           yarn.AttemptID
	am           *container
	sched        []*server // one scheduler endpoint per ResourceManager
	confDir      string
	registered   bool
	unregistered bool
	host         string
	rpcPort      int32
	trackingURL  string
	// asks is the outstanding "*" request per priority.
	asks      map[int32]*pb.ResourceRequestProto
	blacklist map[string]bool
	// pending reports for the next allocate.
	allocated []*container
	completed []*pb.ContainerStatusProto
	nodes     []*pb.NodeReportProto
	preempt   []yarn.ContainerID
	ended     bool
	user      string
	amrm      hadooprpc.Token
	nmTokens  map[string]bool // nodes the attempt has an NMToken for
}

func (a *application) current() *attempt {
	if len(a.attempts) == 0 {
		return nil
	}
	return a.attempts[len(a.attempts)-1]
}

func (c *Cluster) remote(class, format string, args ...any) error {
	return &hadooprpc.RemoteError{Class: class, Message: fmt.Sprintf(format, args...)}
}

// clientHandler serves ApplicationClientProtocol on rm.
func (c *Cluster) clientHandler(rm *resourceManager) hadooprpc.Handler {
	return func(_ context.Context, call *hadooprpc.ServerCall) (proto.Message, error) {
		if call.Protocol != yarn.ApplicationClientProtocol {
			return nil, c.remote(hadooprpc.ExNoSuchProtocol, "Unknown protocol: %s", call.Protocol)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if !rm.active {
			c.counters["standbyRejected"]++
			return nil, c.remote(hadooprpc.ExStandby, "ResourceManager %s is not active", rm.id)
		}
		c.counters[call.Method]++
		switch call.Method {
		case "getNewApplication":
			var req pb.GetNewApplicationRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			c.nextApp++
			id := yarn.ApplicationID{ClusterTimestamp: c.started.UnixMilli(), ID: c.nextApp}
			return &pb.GetNewApplicationResponseProto{ApplicationId: id.Proto(), MaximumCapability: c.maxCapability()}, nil
		case "submitApplication":
			var req pb.SubmitApplicationRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			return &pb.SubmitApplicationResponseProto{}, c.submitLocked(call.User, req.GetApplicationSubmissionContext())
		case "getApplicationReport":
			var req pb.GetApplicationReportRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			id := yarn.AppIDFromProto(req.GetApplicationId())
			a := c.apps[id]
			if a == nil {
				return nil, c.remote(yarn.ExAppNotFound, "Application with id '%s' doesn't exist in RM. Please check that the job submission was successful.", id)
			}
			return &pb.GetApplicationReportResponseProto{ApplicationReport: c.reportLocked(a)}, nil
		case "getApplications":
			var req pb.GetApplicationsRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			resp := &pb.GetApplicationsResponseProto{}
			ids := make([]yarn.ApplicationID, 0, len(c.apps))
			for id := range c.apps {
				ids = append(ids, id)
			}
			slices.SortFunc(ids, func(x, y yarn.ApplicationID) int { return int(x.ID - y.ID) })
			for _, id := range ids {
				a := c.apps[id]
				if len(req.GetApplicationTypes()) > 0 && !slices.Contains(req.GetApplicationTypes(), a.sub.GetApplicationType()) {
					continue
				}
				if len(req.GetApplicationStates()) > 0 && !slices.Contains(req.GetApplicationStates(), a.state) {
					continue
				}
				if len(req.GetQueues()) > 0 && !slices.Contains(req.GetQueues(), a.sub.GetQueue()) {
					continue
				}
				if len(req.GetUsers()) > 0 && !slices.Contains(req.GetUsers(), a.user) {
					continue
				}
				if tags := req.GetApplicationTags(); len(tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(a.sub.GetApplicationTags(), t) }) {
					continue
				}
				resp.Applications = append(resp.Applications, c.reportLocked(a))
			}
			return resp, nil
		case "forceKillApplication":
			var req pb.KillApplicationRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			id := yarn.AppIDFromProto(req.GetApplicationId())
			a := c.apps[id]
			if a == nil {
				return nil, c.remote(yarn.ExAppNotFound, "Trying to kill an absent application %s", id)
			}
			if !yarn.Finished(a.state) {
				diag := "Application " + id.String() + " was killed by user " + call.User
				if req.GetDiagnostics() != "" {
					diag += ": " + req.GetDiagnostics()
				}
				c.endAppLocked(a, pb.YarnApplicationStateProto_KILLED, pb.FinalApplicationStatusProto_APP_KILLED, diag)
			}
			return &pb.KillApplicationResponseProto{IsKillCompleted: proto.Bool(true)}, nil
		case "getClusterMetrics":
			m := &pb.YarnClusterMetricsProto{NumNodeManagers: proto.Int32(int32(len(c.nodes)))}
			var active, lost int32
			for _, n := range c.nodes {
				if n.lost {
					lost++
				} else {
					active++
				}
			}
			m.NumActiveNms, m.NumLostNms = proto.Int32(active), proto.Int32(lost)
			m.NumDecommissionedNms, m.NumUnhealthyNms, m.NumRebootedNms = proto.Int32(0), proto.Int32(0), proto.Int32(0)
			return &pb.GetClusterMetricsResponseProto{ClusterMetrics: m}, nil
		case "getClusterNodes":
			var req pb.GetClusterNodesRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			resp := &pb.GetClusterNodesResponseProto{}
			for _, n := range c.nodes {
				r := c.nodeReportLocked(n)
				if len(req.GetNodeStates()) == 0 || slices.Contains(req.GetNodeStates(), r.GetNodeState()) {
					resp.NodeReports = append(resp.NodeReports, r)
				}
			}
			return resp, nil
		}
		return nil, c.remote(hadooprpc.ExNoSuchMethod, "Unknown method %s called on %s protocol (the yarntest stand-in does not implement it).", call.Method, call.Protocol)
	}
}

func (c *Cluster) maxCapability() *pb.ResourceProto {
	return &pb.ResourceProto{Memory: proto.Int64(c.opts.NodeMemoryMB), VirtualCores: proto.Int32(c.opts.NodeVCores)}
}

func (c *Cluster) submitLocked(user string, sub *pb.ApplicationSubmissionContextProto) error {
	if sub == nil || sub.GetApplicationId() == nil {
		return c.remote(yarn.ExYarn, "submitApplication without an application id")
	}
	id := yarn.AppIDFromProto(sub.GetApplicationId())
	if id.ClusterTimestamp != c.started.UnixMilli() || id.ID <= 0 || id.ID > c.nextApp {
		return c.remote(yarn.ExYarn, "Application %s was not handed out by this ResourceManager", id)
	}
	if c.apps[id] != nil {
		return nil // a resubmission (after a failover) is accepted silently, as YARN does
	}
	if _, err := parseLaunchTokens(sub.GetAmContainerSpec().GetTokens()); err != nil {
		return c.remote(yarn.ExYarn, "Unable to parse credentials of %s: %v", id, err)
	}
	if r := sub.GetResource(); r.GetMemory() > c.opts.NodeMemoryMB || r.GetVirtualCores() > c.opts.NodeVCores {
		return c.remote(yarn.ExInvalidResourceRequest, "Invalid resource request, requested resource type=[memory-mb] < 0 or greater than maximum allowed allocation. Requested resource=<memory:%d, vCores:%d>, maximum allowed allocation=<memory:%d, vCores:%d>",
			r.GetMemory(), r.GetVirtualCores(), c.opts.NodeMemoryMB, c.opts.NodeVCores)
	}
	maxA := c.opts.MaxAttempts
	if m := sub.GetMaxAppAttempts(); m > 0 && m < maxA {
		maxA = m
	}
	a := &application{id: id, user: user, sub: sub, state: pb.YarnApplicationStateProto_ACCEPTED, start: time.Now(),
		maxAttempts: maxA, containers: make(map[int64]*container), diagnostics: ""}
	c.apps[id] = a
	if !slices.Contains(c.opts.Queues, sub.GetQueue()) {
		// As the CapacityScheduler: the submission call succeeds, the
		// application is rejected right after.
		c.endAppLocked(a, pb.YarnApplicationStateProto_FAILED, pb.FinalApplicationStatusProto_APP_FAILED,
			fmt.Sprintf("Application %s submitted by user %s to unknown queue: %s", id, user, sub.GetQueue()))
		return nil
	}
	c.newAttemptLocked(a)
	return nil
}

// newAttemptLocked starts the next attempt of a: a scheduler endpoint per
// ResourceManager, a configuration naming them, and the AM container.
func (c *Cluster) newAttemptLocked(a *application) {
	if c.closed {
		return
	}
	at := &attempt{id: yarn.AttemptID{App: a.id, Attempt: int32(len(a.attempts) + 1)}, user: a.user,
		asks: make(map[int32]*pb.ResourceRequestProto), blacklist: make(map[string]bool), nmTokens: make(map[string]bool)}
	a.attempts = append(a.attempts, at)
	var addrs []string
	for _, rm := range c.rms {
		s := newServer(func(conn net.Conn) {
			hadooprpc.ServeConnWith(context.Background(), conn, c.schedulerHandler(rm, a, at), hadooprpc.ServeOptions{Tokens: c.schedulerTokens(at)})
		})
		if err := s.Start(); err != nil {
			c.endAppLocked(a, pb.YarnApplicationStateProto_FAILED, pb.FinalApplicationStatusProto_APP_FAILED, "yarntest: "+err.Error())
			return
		}
		at.sched = append(at.sched, s)
		addrs = append(addrs, s.Addr())
	}
	at.amrm = c.amrmToken(at, addrs)
	at.confDir = filepath.Join(c.dir, "attempts", at.id.String(), "conf")
	if err := c.writeConf(at.confDir, addrs); err != nil {
		c.endAppLocked(a, pb.YarnApplicationStateProto_FAILED, pb.FinalApplicationStatusProto_APP_FAILED, "yarntest: "+err.Error())
		return
	}
	c.counters["attempts"]++
	c.launchAMLocked(a, at)
	c.notifyLocked()
}

// launchAMLocked allocates and starts the AM container when a node has
// room (else the attempt waits for the next scheduling pass).
func (c *Cluster) launchAMLocked(a *application, at *attempt) {
	if at.am != nil || at.ended {
		return
	}
	res := a.sub.GetResource()
	if res == nil {
		res = &pb.ResourceProto{Memory: proto.Int64(1024), VirtualCores: proto.Int32(1)}
	}
	n := c.pickNodeLocked(res, nil)
	if n == nil {
		return
	}
	ct := c.allocateLocked(a, at, n, res, 0)
	ct.am = true
	at.am = ct
	c.startContainerLocked(ct, a.sub.GetAmContainerSpec(), at)
}

// pickNodeLocked returns the live node with the most free memory that fits
// res and is not blacklisted.
func (c *Cluster) pickNodeLocked(res *pb.ResourceProto, blacklist map[string]bool) *nodeManager {
	var best *nodeManager
	for _, n := range c.nodes {
		if n.lost || blacklist[n.host] || blacklist[n.nodeID()] {
			continue
		}
		freeMem, freeCores := c.freeLocked(n)
		if freeMem < res.GetMemory() || freeCores < res.GetVirtualCores() {
			continue
		}
		if best == nil {
			best = n
			continue
		}
		if bm, _ := c.freeLocked(best); freeMem > bm {
			best = n
		}
	}
	return best
}

func (c *Cluster) freeLocked(n *nodeManager) (int64, int32) {
	mem, cores := c.opts.NodeMemoryMB, c.opts.NodeVCores
	for _, a := range c.apps {
		for _, ct := range a.containers {
			if ct.node == n && !ct.done {
				mem -= ct.res.GetMemory()
				cores -= ct.res.GetVirtualCores()
			}
		}
	}
	return mem, cores
}

// allocateLocked records a new container of at on n.
func (c *Cluster) allocateLocked(a *application, at *attempt, n *nodeManager, res *pb.ResourceProto, prio int32) *container {
	a.nextCont++
	ct := &container{
		id:   yarn.ContainerID{Attempt: at.id, ID: a.nextCont},
		app:  a,
		node: n,
		res:  proto.CloneOf(res),
		prio: prio,
		exit: -1000,
	}
	a.containers[ct.id.ID] = ct
	c.counters["containersAllocated"]++
	return ct
}

func (ct *container) proto() *pb.ContainerProto {
	return &pb.ContainerProto{
		Id:              ct.id.Proto(),
		NodeId:          ct.node.nodeIDProto(),
		NodeHttpAddress: proto.String(ct.node.http.Addr()),
		Resource:        ct.res,
		Priority:        &pb.PriorityProto{Priority: proto.Int32(ct.prio)},
		ContainerToken: &pb.TokenProto{Identifier: []byte(ct.id.String()), Password: []byte{}, Kind: proto.String("ContainerToken"),
			Service: proto.String(ct.node.srv.Addr())},
	}
}

// scheduleLocked meets outstanding asks and launches waiting AMs.
func (c *Cluster) scheduleLocked() {
	ids := make([]yarn.ApplicationID, 0, len(c.apps))
	for id := range c.apps {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y yarn.ApplicationID) int { return int(x.ID - y.ID) })
	for _, id := range ids {
		a := c.apps[id]
		at := a.current()
		if yarn.Finished(a.state) || at == nil || at.ended {
			continue
		}
		if at.am == nil {
			c.launchAMLocked(a, at)
			continue
		}
		if !at.registered {
			continue
		}
		prios := make([]int32, 0, len(at.asks))
		for p := range at.asks {
			prios = append(prios, p)
		}
		slices.Sort(prios)
		for _, p := range prios {
			ask := at.asks[p]
			for ask.GetNumContainers() > 0 {
				n := c.pickNodeLocked(ask.GetCapability(), at.blacklist)
				if n == nil {
					break
				}
				ct := c.allocateLocked(a, at, n, ask.GetCapability(), p)
				at.allocated = append(at.allocated, ct)
				ask.NumContainers = proto.Int32(ask.GetNumContainers() - 1)
			}
		}
	}
}

// schedulerHandler serves ApplicationMasterProtocol for one attempt on rm.
func (c *Cluster) schedulerHandler(rm *resourceManager, a *application, at *attempt) hadooprpc.Handler {
	return func(_ context.Context, call *hadooprpc.ServerCall) (proto.Message, error) {
		if call.Protocol != yarn.ApplicationMasterProtocol {
			return nil, c.remote(hadooprpc.ExNoSuchProtocol, "Unknown protocol: %s", call.Protocol)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if !rm.active {
			c.counters["standbyRejected"]++
			return nil, c.remote(hadooprpc.ExStandby, "ResourceManager %s is not active", rm.id)
		}
		c.counters[call.Method]++
		if at.ended || a.current() != at {
			return nil, c.remote(yarn.ExAttemptNotFound, "Application attempt %s doesn't exist in ApplicationMasterService cache.", at.id)
		}
		defer c.notifyLocked()
		switch call.Method {
		case "registerApplicationMaster":
			var req pb.RegisterApplicationMasterRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			if at.registered {
				return nil, c.remote("org.apache.hadoop.yarn.exceptions.InvalidApplicationMasterRequestException",
					"Application Master is already registered : %s", a.id)
			}
			at.registered = true
			at.host, at.rpcPort, at.trackingURL = req.GetHost(), req.GetRpcPort(), req.GetTrackingUrl()
			a.state = pb.YarnApplicationStateProto_RUNNING
			resp := &pb.RegisterApplicationMasterResponseProto{MaximumCapability: c.maxCapability(), Queue: proto.String(a.sub.GetQueue())}
			for _, ct := range a.sortedContainers() {
				if !ct.done && !ct.am && ct.id.Attempt != at.id && ct.started {
					resp.ContainersFromPreviousAttempts = append(resp.ContainersFromPreviousAttempts, ct.proto())
					if t := c.nmTokenLocked(at, ct.node); t != nil {
						resp.NmTokensFromPreviousAttempts = append(resp.NmTokensFromPreviousAttempts, t)
					}
				}
			}
			return resp, nil
		case "allocate":
			var req pb.AllocateRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			if !at.registered {
				return nil, c.remote(yarn.ExNotRegistered, "Application Master is trying to allocate before registering for: %s", a.id)
			}
			for _, ask := range req.GetAsk() {
				if ask.GetResourceName() != "*" {
					continue // locality is not modelled
				}
				if r := ask.GetCapability(); r.GetMemory() > c.opts.NodeMemoryMB || r.GetVirtualCores() > c.opts.NodeVCores {
					return nil, c.remote(yarn.ExInvalidResourceRequest, "Invalid resource request, requested resource <memory:%d, vCores:%d> is greater than maximum allowed allocation <memory:%d, vCores:%d>",
						r.GetMemory(), r.GetVirtualCores(), c.opts.NodeMemoryMB, c.opts.NodeVCores)
				}
				at.asks[ask.GetPriority().GetPriority()] = proto.CloneOf(ask)
			}
			for _, b := range req.GetBlacklistRequest().GetBlacklistAdditions() {
				at.blacklist[b] = true
			}
			for _, b := range req.GetBlacklistRequest().GetBlacklistRemovals() {
				delete(at.blacklist, b)
			}
			for _, rid := range req.GetRelease() {
				ct := a.containers[rid.GetId()]
				if ct == nil || ct.done {
					continue
				}
				c.counters["released"]++
				c.finishContainerLocked(ct, -100, "Container released by application", true)
			}
			c.scheduleLocked()
			resp := &pb.AllocateResponseProto{ResponseId: proto.Int32(req.GetResponseId() + 1), NumClusterNodes: proto.Int32(int32(len(c.nodes)))}
			for _, ct := range at.allocated {
				resp.AllocatedContainers = append(resp.AllocatedContainers, ct.proto())
				if t := c.nmTokenLocked(at, ct.node); t != nil {
					resp.NmTokens = append(resp.NmTokens, t)
				}
			}
			resp.CompletedContainerStatuses = at.completed
			resp.UpdatedNodes = at.nodes
			if len(at.preempt) > 0 {
				strict := &pb.StrictPreemptionContractProto{}
				for _, id := range at.preempt {
					strict.Container = append(strict.Container, &pb.PreemptionContainerProto{Id: id.Proto()})
				}
				resp.Preempt = &pb.PreemptionMessageProto{StrictContract: strict}
			}
			at.allocated, at.completed, at.nodes, at.preempt = nil, nil, nil, nil
			if a.state == pb.YarnApplicationStateProto_KILLED {
				resp.AMCommand = pb.AMCommandProto_AM_SHUTDOWN.Enum()
			}
			return resp, nil
		case "finishApplicationMaster":
			var req pb.FinishApplicationMasterRequestProto
			if err := call.Decode(&req); err != nil {
				return nil, err
			}
			if !at.registered {
				return nil, c.remote(yarn.ExNotRegistered, "Application Master is trying to unregister before registering for: %s", a.id)
			}
			at.unregistered = true
			if !yarn.Finished(a.state) {
				a.state, a.final, a.diagnostics = pb.YarnApplicationStateProto_FINISHED, req.GetFinalApplicationStatus(), req.GetDiagnostics()
				a.end = time.Now()
				if req.GetTrackingUrl() != "" {
					at.trackingURL = req.GetTrackingUrl()
				}
			}
			return &pb.FinishApplicationMasterResponseProto{IsUnregistered: proto.Bool(true)}, nil
		}
		return nil, c.remote(hadooprpc.ExNoSuchMethod, "Unknown method %s called on %s protocol (the yarntest stand-in does not implement it).", call.Method, call.Protocol)
	}
}

func (a *application) sortedContainers() []*container {
	out := make([]*container, 0, len(a.containers))
	for _, ct := range a.containers {
		out = append(out, ct)
	}
	slices.SortFunc(out, func(x, y *container) int { return int(x.id.ID - y.id.ID) })
	return out
}

func (c *Cluster) reportLocked(a *application) *pb.ApplicationReportProto {
	r := &pb.ApplicationReportProto{
		ApplicationId:          a.id.Proto(),
		User:                   proto.String(a.user),
		Queue:                  proto.String(a.sub.GetQueue()),
		Name:                   proto.String(a.sub.GetApplicationName()),
		YarnApplicationState:   a.state.Enum(),
		FinalApplicationStatus: a.final.Enum(),
		Diagnostics:            proto.String(a.diagnostics),
		StartTime:              proto.Int64(a.start.UnixMilli()),
		ApplicationType:        proto.String(a.sub.GetApplicationType()),
		ApplicationTags:        a.sub.GetApplicationTags(),
		Host:                   proto.String("N/A"),
		RpcPort:                proto.Int32(-1),
	}
	if !a.end.IsZero() {
		r.FinishTime = proto.Int64(a.end.UnixMilli())
	}
	if at := a.current(); at != nil {
		r.CurrentApplicationAttemptId = at.id.Proto()
		if at.registered {
			r.Host, r.RpcPort = proto.String(at.host), proto.Int32(at.rpcPort)
			r.TrackingUrl, r.OriginalTrackingUrl = proto.String(at.trackingURL), proto.String(at.trackingURL)
		}
	}
	return r
}

// endAppLocked gives a its final state and stops its containers.
func (c *Cluster) endAppLocked(a *application, state pb.YarnApplicationStateProto, final pb.FinalApplicationStatusProto, diag string) {
	a.state, a.final, a.diagnostics, a.end = state, final, diag, time.Now()
	for _, at := range a.attempts {
		c.endAttemptLocked(at)
	}
	for _, ct := range a.containers {
		if !ct.done {
			c.finishContainerLocked(ct, -100, "Container killed: the application ended", false)
		}
	}
	c.notifyLocked()
}

func (c *Cluster) endAttemptLocked(at *attempt) {
	if at.ended {
		return
	}
	at.ended = true
	for _, s := range at.sched {
		go s.Close() // not under the lock: handlers take it
	}
}

// containerExitedLocked handles a container process that ended (or was
// stopped): reports it to the ApplicationMaster, or, for the AM, ends the
// attempt.
func (c *Cluster) containerExitedLocked(ct *container) {
	if c.closed {
		return
	}
	a := ct.app
	at := a.current()
	if !ct.am {
		if at != nil && !at.ended {
			at.completed = append(at.completed, ct.status())
		}
		c.scheduleLocked()
		c.notifyLocked()
		return
	}
	owner := a.attempts[ct.id.Attempt.Attempt-1]
	if owner.am != ct {
		return
	}
	c.endAttemptLocked(owner)
	switch {
	case yarn.Finished(a.state):
		// Unregistered (or killed): stop what is left.
		for _, o := range a.containers {
			if !o.done {
				c.finishContainerLocked(o, -100, "Container killed: the application ended", false)
			}
		}
	case int32(len(a.attempts)) < a.maxAttempts:
		c.counters["attemptFailures"]++
		if !a.sub.GetKeepContainersAcrossApplicationAttempts() {
			for _, o := range a.containers {
				if !o.done {
					c.finishContainerLocked(o, -100, "Container killed: its application attempt failed", false)
				}
			}
		}
		c.newAttemptLocked(a)
	default:
		c.counters["attemptFailures"]++
		c.endAppLocked(a, pb.YarnApplicationStateProto_FAILED, pb.FinalApplicationStatusProto_APP_FAILED,
			fmt.Sprintf("Application %s failed %d times due to AM Container for %s exited with  exitCode: %d\nDiagnostics: %s\nFor more detailed output, check the application tracking page. Failing this attempt. Failing the application.",
				a.id, len(a.attempts), owner.id, ct.exit, ct.diag))
	}
	c.scheduleLocked()
	c.notifyLocked()
}

// nodeReportLocked describes node n.
func (c *Cluster) nodeReportLocked(n *nodeManager) *pb.NodeReportProto {
	freeMem, freeCores := c.freeLocked(n)
	state := pb.NodeStateProto_NS_RUNNING
	if n.lost {
		state = pb.NodeStateProto_NS_LOST
	}
	num := int32(0)
	for _, a := range c.apps {
		for _, ct := range a.containers {
			if ct.node == n && !ct.done {
				num++
			}
		}
	}
	return &pb.NodeReportProto{
		NodeId:        n.nodeIDProto(),
		HttpAddress:   proto.String(n.http.Addr()),
		RackName:      proto.String("/default-rack"),
		Used:          &pb.ResourceProto{Memory: proto.Int64(c.opts.NodeMemoryMB - freeMem), VirtualCores: proto.Int32(c.opts.NodeVCores - freeCores)},
		Capability:    c.maxCapability(),
		NumContainers: proto.Int32(num),
		NodeState:     state.Enum(),
		HealthReport:  proto.String(""),
	}
}

// Failover makes the other ResourceManager of an HA pair active.
func (c *Cluster) Failover() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rm := range c.rms {
		rm.active = !rm.active
	}
	c.counters["failovers"]++
	c.notifyLocked()
}

// StopResourceManager closes ResourceManager i's client listener and
// connections (its scheduler endpoints stay), so clients see it
// unreachable; StartResourceManager opens it again on the same address.
func (c *Cluster) StopResourceManager(i int) { c.rms[i].client.Stop() }

// StartResourceManager reopens ResourceManager i's client listener.
func (c *Cluster) StartResourceManager(i int) error { return c.rms[i].client.Start() }

// findContainer returns the container named id.
func (c *Cluster) findContainer(id string) (*container, error) {
	cid, err := yarn.ParseContainerID(id)
	if err != nil {
		return nil, err
	}
	a := c.apps[cid.Attempt.App]
	if a == nil || a.containers[cid.ID] == nil {
		return nil, fmt.Errorf("yarntest: no container %s", id)
	}
	return a.containers[cid.ID], nil
}

// KillContainer sends SIGKILL to a container's processes, as the kernel's
// OOM killer or an operator would; the NodeManager then reports it
// completed with exit code 137.
func (c *Cluster) KillContainer(id string) error {
	c.mu.Lock()
	ct, err := c.findContainer(id)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	ct.kill()
	return nil
}

// FailAttempt kills the ApplicationMaster process of app's current
// attempt, so the attempt fails.
func (c *Cluster) FailAttempt(app string) error {
	id, err := yarn.ParseApplicationID(app)
	if err != nil {
		return err
	}
	c.mu.Lock()
	a := c.apps[id]
	var am *container
	if a != nil && a.current() != nil {
		am = a.current().am
	}
	c.mu.Unlock()
	if am == nil {
		return fmt.Errorf("yarntest: %s has no running ApplicationMaster", app)
	}
	am.kill()
	return nil
}

// Preempt asks the ApplicationMaster owning container id to give it back
// (a strict preemption contract on its next allocate).
func (c *Cluster) Preempt(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, err := c.findContainer(id)
	if err != nil {
		return err
	}
	if at := ct.app.current(); at != nil {
		at.preempt = append(at.preempt, ct.id)
	}
	return nil
}

// LoseNode makes node i unreachable: its server stops, its containers are
// killed and reported completed (ABORTED, "lost node"), and running
// applications see the node LOST in their next allocate.
func (c *Cluster) LoseNode(i int) {
	n := c.nodes[i]
	n.srv.Stop()
	c.mu.Lock()
	n.lost = true
	var victims []*container
	for _, a := range c.apps {
		for _, ct := range a.containers {
			if ct.node != n || ct.done {
				continue
			}
			if ct.started {
				ct.lost = true
				victims = append(victims, ct)
			} else {
				c.finishContainerLocked(ct, -100, lostDiag, true)
			}
		}
	}
	for _, a := range c.apps {
		if at := a.current(); at != nil && !at.ended {
			at.nodes = append(at.nodes, c.nodeReportLocked(n))
		}
	}
	c.counters["nodesLost"]++
	c.notifyLocked()
	c.mu.Unlock()
	for _, ct := range victims {
		ct.kill()
	}
}

const lostDiag = "Container released on a *lost* node"
