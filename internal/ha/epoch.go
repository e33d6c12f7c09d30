package ha

import (
	"context"
	"strconv"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// EpochHeader is the gRPC metadata key carrying the leader epoch on every
// order a master gives (deploy, cancel, trigger, commit, release).
const EpochHeader = "dagflow-leader-epoch"

// EpochDialOptions stamps every call on a connection with epoch. Epoch 0
// (no HA) adds nothing.
func EpochDialOptions(epoch uint64) []grpc.DialOption {
	if epoch == 0 {
		return nil
	}
	v := strconv.FormatUint(epoch, 10)
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, EpochHeader, v), method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(metadata.AppendToOutgoingContext(ctx, EpochHeader, v), desc, cc, method, opts...)
		}),
	}
}

// EpochOf returns the leader epoch a call carries (0: none).
func EpochOf(ctx context.Context) uint64 {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return 0
	}
	vs := md.Get(EpochHeader)
	if len(vs) == 0 {
		return 0
	}
	e, err := strconv.ParseUint(vs[0], 10, 64)
	if err != nil {
		return 0
	}
	return e
}

// Guard remembers the highest leader epoch a worker or shuffle daemon has
// seen and refuses orders from older leaders, so a deposed leader can
// neither deploy, cancel nor commit.
type Guard struct {
	mu    sync.Mutex
	epoch uint64
	// onNewer is called (outside the lock, before the call proceeds) when
	// a call brings a newer epoch.
	onNewer func(old, new uint64)
}

// NewGuard returns a guard; onNewer (may be nil) runs when a newer leader
// is first seen, before its order is served.
func NewGuard(onNewer func(old, new uint64)) *Guard { return &Guard{onNewer: onNewer} }

// Epoch returns the highest epoch seen.
func (g *Guard) Epoch() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.epoch
}

// Observe records epoch e (from discovery or a call) and reports whether
// it may give orders: e is not older than the highest seen. Calls without
// an epoch (0: no HA, or a non-master client) pass.
func (g *Guard) Observe(e uint64) bool {
	if e == 0 {
		return true
	}
	g.mu.Lock()
	old := g.epoch
	if e < old {
		g.mu.Unlock()
		return false
	}
	g.epoch = e
	g.mu.Unlock()
	if e > old && g.onNewer != nil {
		g.onNewer(old, e)
	}
	return true
}

// Check refuses a call from an older leader with FailedPrecondition.
func (g *Guard) Check(ctx context.Context) error {
	e := EpochOf(ctx)
	if !g.Observe(e) {
		return status.Errorf(codes.FailedPrecondition, "ha: order from a deposed leader (epoch %d, current %d) refused", e, g.Epoch())
	}
	return nil
}

// UnaryServerInterceptor applies Check to every unary call.
func (g *Guard) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := g.Check(ctx); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor applies Check to every streaming call.
func (g *Guard) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := g.Check(ss.Context()); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
