package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// JobOwner returns the user who submitted job, and false if the job is
// unknown (the call then proceeds and fails in the handler as usual).
type JobOwner func(ctx context.Context, job string) (owner string, ok bool)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Authenticator identifies callers (required).
	Authenticator *Authenticator
	// Policy is the gRPC policy; nil means DefaultPolicy().
	Policy Policy
	// HTTPPolicy is the REST policy; nil means DefaultHTTPPolicy().
	HTTPPolicy Policy
	// Audit receives one line per mutating call; nil means
	// NewAudit(slog.Default()).
	Audit *Audit
	// JobOwner, if set, limits users below admin to their own jobs for
	// rules with OwnJob.
	JobOwner JobOwner
}

// Server holds the gRPC interceptors and the HTTP middleware.
type Server struct {
	cfg    ServerConfig
	routes *http.ServeMux
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Authenticator == nil {
		return nil, errors.New("auth: ServerConfig.Authenticator is nil")
	}
	if cfg.Policy == nil {
		cfg.Policy = DefaultPolicy()
	}
	if cfg.HTTPPolicy == nil {
		cfg.HTTPPolicy = DefaultHTTPPolicy()
	}
	if cfg.Audit == nil {
		cfg.Audit = NewAudit(nil)
	}
	s := &Server{cfg: cfg, routes: http.NewServeMux()}
	for pattern := range cfg.HTTPPolicy {
		if err := s.addRoute(pattern); err != nil {
			return nil, err
		}
	}
	return s, nil
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFromContext returns the caller that the interceptors or the
// middleware authenticated (handlers use it, e.g. to record a job's
// owner at SubmitJob).
func IdentityFromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

func grpcCreds(ctx context.Context) (header string, chains [][]*x509.Certificate, addr string) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			header = v[0]
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		if p.Addr != nil {
			addr = p.Addr.String()
		}
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			chains = ti.State.VerifiedChains
		}
	}
	return header, chains, addr
}

// check authenticates and authorizes a gRPC call; req is nil for streams.
func (s *Server) check(ctx context.Context, method string, req any) (context.Context, Rule, Identity, error) {
	short := ShortMethod(method)
	rule, ok := s.cfg.Policy[method]
	if !ok {
		return ctx, rule, Identity{}, status.Errorf(codes.PermissionDenied, "auth: no access rule for %s", short)
	}
	if rule.Public {
		return ctx, rule, Identity{}, nil
	}
	header, chains, _ := grpcCreds(ctx)
	id, err := s.cfg.Authenticator.Authenticate(header, chains)
	if err != nil {
		return ctx, rule, id, status.Errorf(codes.Unauthenticated, "auth: %s: %v", short, err)
	}
	if err := Allow(id, short, rule); err != nil {
		return ctx, rule, id, status.Errorf(codes.PermissionDenied, "auth: %v", err)
	}
	if err := s.checkOwner(ctx, id, short, rule, JobOf(req)); err != nil {
		return ctx, rule, id, status.Errorf(codes.PermissionDenied, "auth: %v", err)
	}
	return WithIdentity(ctx, id), rule, id, nil
}

func (s *Server) checkOwner(ctx context.Context, id Identity, what string, rule Rule, job string) error {
	if !rule.OwnJob || s.cfg.JobOwner == nil || id.Node || id.Role >= RoleAdmin || job == "" {
		return nil
	}
	if owner, ok := s.cfg.JobOwner(ctx, job); ok && owner != id.Name {
		return fmt.Errorf("%s may not call %s on job %s of user %s (needs role admin)", id, what, job, owner)
	}
	return nil
}

func resultOf(err error) string {
	if err == nil {
		return "ok"
	}
	return status.Code(err).String()
}

// UnaryInterceptor authenticates, authorizes and audits unary calls.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, rule, id, err := s.check(ctx, info.FullMethod, req)
		var resp any
		if err == nil {
			resp, err = handler(ctx, req)
		}
		if rule.Mutating {
			job := JobOf(req)
			if job == "" && resp != nil {
				job = JobOf(resp) // SubmitJob: the new job's id
			}
			_, _, addr := grpcCreds(ctx)
			s.cfg.Audit.Record(ctx, Entry{Who: id, What: ShortMethod(info.FullMethod), Job: job, Result: resultOf(err), Peer: addr})
		}
		return resp, err
	}
}

type idStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s idStream) Context() context.Context { return s.ctx }

// StreamInterceptor authenticates, authorizes and audits streaming calls.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, rule, id, err := s.check(ss.Context(), info.FullMethod, nil)
		if err == nil {
			err = handler(srv, idStream{ServerStream: ss, ctx: ctx})
		}
		if rule.Mutating {
			_, _, addr := grpcCreds(ctx)
			s.cfg.Audit.Record(ctx, Entry{Who: id, What: ShortMethod(info.FullMethod), Result: resultOf(err), Peer: addr})
		}
		return err
	}
}

// ServerOptions returns grpc.ChainUnaryInterceptor and
// grpc.ChainStreamInterceptor options installing s; pass them to
// grpc.NewServer together with the TLS credentials.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(s.StreamInterceptor()),
	}
}

// TokenCredentials are client-side per-RPC credentials sending
// "authorization: Bearer TOKEN". They require transport security, so a
// token is never sent over a plaintext connection.
type TokenCredentials struct {
	token string
}

// NewTokenCredentials returns credentials for token (pass with
// grpc.WithPerRPCCredentials).
func NewTokenCredentials(token string) TokenCredentials {
	return TokenCredentials{token: token}
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t TokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (TokenCredentials) RequireTransportSecurity() bool { return true }

// ensure the interface is satisfied.
var _ credentials.PerRPCCredentials = TokenCredentials{}

// CheckNodeName checks, in a handler, that a node registers under the
// name of its certificate (Master.RegisterWorker, RegisterShuffleDaemon),
// so one node's certificate cannot impersonate another node. Without an
// authenticated identity in ctx (authentication off) it allows the call.
func CheckNodeName(ctx context.Context, name string) error {
	id, ok := IdentityFromContext(ctx)
	if !ok {
		return nil
	}
	if !id.Node {
		return status.Errorf(codes.PermissionDenied, "auth: %s may not register as node %s (needs that node's certificate)", id, name)
	}
	if id.Name != name {
		return status.Errorf(codes.PermissionDenied, "auth: node %s may not register as node %s", id.Name, name)
	}
	return nil
}
