package yarn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/dagflow/dagflow/internal/hadooprpc"
	pb "github.com/dagflow/dagflow/internal/yarn/yarnpb"
)

// AMClient speaks ApplicationMasterProtocol to the ResourceManager's
// scheduler address, on behalf of an ApplicationMaster. It keeps the
// allocate response id.
type AMClient struct {
	rm       *haConn
	hasToken atomic.Bool
	nmTokens *NMTokenCache

	mu         sync.Mutex
	responseID int32
}

// NewAMClient returns an ApplicationMaster's client of cfg's schedulers.
func NewAMClient(cfg *Config) (*AMClient, error) {
	if cfg.Kerberos {
		return nil, ErrKerberos
	}
	if len(cfg.ResourceManagers) == 0 {
		return nil, errors.New("yarn: no ResourceManager scheduler address configured")
	}
	var addrs []string
	for _, rm := range cfg.ResourceManagers {
		addrs = append(addrs, rm.SchedulerAddress)
	}
	opts := hadooprpc.Options{Protocol: ApplicationMasterProtocol, User: cfg.User, DialTimeout: cfg.DialTimeout}
	t, ok := cfg.Credentials.TokenOfKind(KindAMRMToken)
	if ok {
		opts.Token = &t
	}
	a := &AMClient{rm: newHAConn(addrs, opts), nmTokens: NewNMTokenCache()}
	a.hasToken.Store(ok)
	return a, nil
}

// NMTokens are the NMTokens received from the ResourceManager, for an
// NMClient (NewNMClient).
func (a *AMClient) NMTokens() *NMTokenCache { return a.nmTokens }

func (a *AMClient) call(ctx context.Context, method string, req, resp proto.Message) error {
	if err := a.rm.call(ctx, method, req, resp); err != nil {
		return authHint(err, "AMRMToken (in the credentials file "+TokenFileEnv+" names)", a.hasToken.Load())
	}
	return nil
}

// Close closes the connections.
func (a *AMClient) Close() error {
	a.rm.close()
	return nil
}

// Register registers the ApplicationMaster at host:port (the address
// clients find in the application report) with its tracking URL. The
// response lists the containers of previous attempts still running
// (keep_containers_across_application_attempts).
func (a *AMClient) Register(ctx context.Context, host string, port int32, trackingURL string) (*pb.RegisterApplicationMasterResponseProto, error) {
	req := &pb.RegisterApplicationMasterRequestProto{Host: proto.String(host), RpcPort: proto.Int32(port), TrackingUrl: proto.String(trackingURL)}
	var resp pb.RegisterApplicationMasterResponseProto
	if err := a.call(ctx, "registerApplicationMaster", req, &resp); err != nil {
		return nil, err
	}
	a.nmTokens.Add(resp.GetNmTokensFromPreviousAttempts())
	return &resp, nil
}

// Allocate is the heartbeat: it sends container requests (the total
// outstanding asks per priority and resource name, as YARN expects),
// releases and blacklist changes, and returns new and completed
// containers, preemption requests and node updates. The response id is
// kept by the client.
func (a *AMClient) Allocate(ctx context.Context, req *pb.AllocateRequestProto) (*pb.AllocateResponseProto, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := proto.CloneOf(req)
	r.ResponseId = proto.Int32(a.responseID)
	var resp pb.AllocateResponseProto
	if err := a.call(ctx, "allocate", r, &resp); err != nil {
		return nil, err
	}
	a.responseID = resp.GetResponseId()
	a.nmTokens.Add(resp.GetNmTokens())
	if t := resp.GetAmRmToken(); t != nil {
		// The ResourceManager rolled its master key: the next connection
		// authenticates with the new token.
		a.rm.setToken(TokenFromProto(t))
		a.hasToken.Store(true)
	}
	return &resp, nil
}

// Finish unregisters the ApplicationMaster with the application's final
// status and diagnostics; it reports whether the ResourceManager has
// unregistered it (callers repeat until then).
func (a *AMClient) Finish(ctx context.Context, status pb.FinalApplicationStatusProto, diagnostics, trackingURL string) (bool, error) {
	req := &pb.FinishApplicationMasterRequestProto{
		FinalApplicationStatus: status.Enum(),
		Diagnostics:            proto.String(diagnostics),
		TrackingUrl:            proto.String(trackingURL),
	}
	var resp pb.FinishApplicationMasterResponseProto
	if err := a.call(ctx, "finishApplicationMaster", req, &resp); err != nil {
		return false, err
	}
	return resp.GetIsUnregistered(), nil
}
