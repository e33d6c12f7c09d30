package yarnam

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/provision"
	"github.com/dagflow/dagflow/internal/yarn"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// WorkerSpec describes the worker containers a Provider asks for.
type WorkerSpec struct {
	// MemoryMB and VCores are each container's resource.
	MemoryMB int64
	VCores   int32
	// Slots is the number of slots a worker offers.
	Slots int
	// MinWorkers are kept running even without jobs (a session's
	// --workers).
	MinWorkers int
	// MaxWorkers caps the workers (0: no cap).
	MaxWorkers int
	// IdleTimeout stops workers idle this long beyond the demand (0:
	// never).
	IdleTimeout time.Duration
	// Priority of the container requests (default 1).
	Priority int32
	// Launch returns the launch context of a worker container.
	Launch func(c *pb.ContainerProto) *pb.ContainerLaunchContextProto
}

// heartbeat is the allocate interval; fast while containers are pending.
const (
	heartbeat     = time.Second
	fastHeartbeat = 100 * time.Millisecond
)

// Provider is the master's active resource manager on YARN.
type Provider struct {
	am   *yarn.AMClient
	nm   *yarn.NMClient
	spec WorkerSpec
	log  *slog.Logger

	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	runErr error

	mu         sync.Mutex
	demand     provision.Demand
	pool       provision.Pool
	requested  int                           // asked for, not allocated yet
	containers map[string]*pb.ContainerProto // started or adopted workers
	release    []*pb.ContainerIdProto
	lost       int
}

// NewProvider returns a provider using the registered am client. adopted
// are containers of earlier attempts (from the register response).
func NewProvider(am *yarn.AMClient, nm *yarn.NMClient, spec WorkerSpec, adopted []*pb.ContainerProto, log *slog.Logger) *Provider {
	if spec.Slots < 1 {
		spec.Slots = 1
	}
	if spec.Priority == 0 {
		spec.Priority = 1
	}
	p := &Provider{am: am, nm: nm, spec: spec, log: log,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		pool:       provision.Pool{SlotsPerWorker: spec.Slots, MaxWorkers: spec.MaxWorkers, IdleTimeout: spec.IdleTimeout},
		containers: make(map[string]*pb.ContainerProto)}
	for _, c := range adopted {
		p.containers[yarn.ContainerIDFromProto(c.GetId()).String()] = c
	}
	return p
}

// Update implements provision.Provider: it records the demand and wakes
// the heartbeat loop.
func (p *Provider) Update(d provision.Demand) {
	p.mu.Lock()
	p.demand = d
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run heartbeats with the ResourceManager until Close or ctx ends, or the
// ResourceManager tells the ApplicationMaster to shut down.
func (p *Provider) Run(ctx context.Context) error {
	defer close(p.done)
	for {
		next, err := p.beat(ctx)
		if err != nil {
			p.runErr = err
			return err
		}
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-p.stop:
			t.Stop()
			return nil
		case <-p.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Close implements provision.Provider: it stops the heartbeat loop and
// releases every worker container.
func (p *Provider) Close(ctx context.Context) error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	var ids []*pb.ContainerIdProto
	for _, c := range p.containers {
		ids = append(ids, c.GetId())
	}
	p.containers = map[string]*pb.ContainerProto{}
	p.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	_, err := p.am.Allocate(ctx, &pb.AllocateRequestProto{Release: ids, Ask: p.ask(0)})
	if err != nil {
		return fmt.Errorf("yarnam: release workers: %w", err)
	}
	return nil
}

// Lost is the number of worker containers that ended without being asked
// to.
func (p *Provider) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

// Workers is the number of worker containers started or adopted.
func (p *Provider) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.containers)
}

func (p *Provider) ask(n int) []*pb.ResourceRequestProto {
	return []*pb.ResourceRequestProto{{
		Priority:      &pb.PriorityProto{Priority: proto.Int32(p.spec.Priority)},
		ResourceName:  proto.String("*"),
		Capability:    &pb.ResourceProto{Memory: proto.Int64(p.spec.MemoryMB), VirtualCores: proto.Int32(p.spec.VCores)},
		NumContainers: proto.Int32(int32(n)),
		RelaxLocality: proto.Bool(true),
	}}
}

// beat decides, sends one allocate and handles its answer. It returns
// when to beat again.
func (p *Provider) beat(ctx context.Context) (time.Duration, error) {
	p.mu.Lock()
	d := p.demand
	d.Slots = max(d.Slots, p.spec.MinWorkers*p.spec.Slots)
	registered := map[string]bool{}
	for _, w := range d.Workers {
		registered[w.Name] = true
	}
	starting := 0
	for name := range p.containers {
		if !registered[name] {
			starting++
		}
	}
	p.pool.Pending = p.requested + starting
	dec := provision.Decide(time.Now(), d, &p.pool)
	p.requested += dec.Start
	var stops []*pb.ContainerProto
	for _, name := range dec.Stop {
		if c, ok := p.containers[name]; ok {
			stops = append(stops, c)
			delete(p.containers, name)
			p.release = append(p.release, c.GetId())
		}
	}
	req := &pb.AllocateRequestProto{Ask: p.ask(p.requested), Release: p.release, Progress: proto.Float32(0)}
	p.release = nil
	p.mu.Unlock()
	for _, c := range stops {
		p.log.Info("stopping idle worker", "container", yarn.ContainerIDFromProto(c.GetId()).String())
		if err := p.nm.StopContainer(ctx, c.GetNodeId(), yarn.ContainerIDFromProto(c.GetId())); err != nil {
			p.log.Warn("stop worker container", "err", err)
		}
	}
	resp, err := p.am.Allocate(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		return 0, err
	}
	if resp.AMCommand != nil { // unset reads as AM_RESYNC, the enum's first value
		return 0, fmt.Errorf("yarnam: the ResourceManager sent %s", resp.GetAMCommand())
	}
	p.handle(ctx, resp)
	p.mu.Lock()
	defer p.mu.Unlock()
	next := heartbeat
	if p.requested > 0 || len(p.containers) > len(registered) {
		next = fastHeartbeat
	}
	if !dec.NextCheck.IsZero() {
		next = min(next, max(time.Until(dec.NextCheck), fastHeartbeat))
	}
	return next, nil
}

// handle starts allocated containers and forgets completed and preempted
// ones.
func (p *Provider) handle(ctx context.Context, resp *pb.AllocateResponseProto) {
	for _, c := range resp.GetAllocatedContainers() {
		id := yarn.ContainerIDFromProto(c.GetId())
		p.mu.Lock()
		surplus := p.requested == 0
		if !surplus {
			p.requested--
		}
		p.mu.Unlock()
		if surplus {
			p.mu.Lock()
			p.release = append(p.release, c.GetId())
			p.mu.Unlock()
			continue
		}
		if err := p.nm.StartContainer(ctx, c, p.spec.Launch(c)); err != nil {
			// Its node may be gone: give it back and ask again.
			p.log.Warn("start worker container", "container", id.String(), "err", err)
			p.mu.Lock()
			p.release = append(p.release, c.GetId())
			p.mu.Unlock()
			continue
		}
		p.log.Info("started worker container", "container", id.String(), "node", yarn.NodeAddress(c.GetNodeId()))
		p.mu.Lock()
		p.containers[id.String()] = c
		p.mu.Unlock()
	}
	for _, st := range resp.GetCompletedContainerStatuses() {
		name := yarn.ContainerIDFromProto(st.GetContainerId()).String()
		p.mu.Lock()
		_, ours := p.containers[name]
		delete(p.containers, name)
		if ours {
			p.lost++
		}
		p.mu.Unlock()
		if ours {
			p.log.Warn("worker container completed", "container", name, "exit", st.GetExitStatus(), "diagnostics", st.GetDiagnostics())
		}
	}
	var preempted []string
	for _, pc := range resp.GetPreempt().GetStrictContract().GetContainer() {
		preempted = append(preempted, yarn.ContainerIDFromProto(pc.GetId()).String())
	}
	for _, pc := range resp.GetPreempt().GetContract().GetContainer() {
		preempted = append(preempted, yarn.ContainerIDFromProto(pc.GetId()).String())
	}
	for _, name := range preempted {
		p.mu.Lock()
		c, ok := p.containers[name]
		delete(p.containers, name)
		if ok {
			p.release = append(p.release, c.GetId())
		}
		p.mu.Unlock()
		if ok {
			p.log.Warn("worker container preempted: stopping it", "container", name)
			if err := p.nm.StopContainer(ctx, c.GetNodeId(), yarn.ContainerIDFromProto(c.GetId())); err != nil {
				p.log.Warn("stop preempted container", "err", err)
			}
		}
	}
	for _, n := range resp.GetUpdatedNodes() {
		if s := n.GetNodeState(); s != pb.NodeStateProto_NS_RUNNING {
			p.log.Warn("node changed state", "node", yarn.NodeAddress(n.GetNodeId()), "state", s.String())
		}
	}
}

// containerNames lists the worker containers (for logs and tests).
func (p *Provider) containerNames() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.containers))
}
