package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/devca"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/internal/tlsconfig"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// auditLog collects JSON audit lines.
type auditLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.b.Write(p)
}

// take returns and clears the lines written so far.
func (a *auditLog) take(t *testing.T) []map[string]any {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(a.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	a.b.Reset()
	return out
}

// fakeMaster answers the calls the test makes; jobs maps job → owner.
type fakeMaster struct {
	rpcpb.UnimplementedMasterServer
	jobs map[string]string
}

func (f *fakeMaster) SubmitJob(ctx context.Context, req *rpcpb.SubmitJobRequest) (*rpcpb.SubmitJobResponse, error) {
	id, ok := IdentityFromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no identity in context")
	}
	return &rpcpb.SubmitJobResponse{JobId: req.Name + "-of-" + id.Name}, nil
}

func (f *fakeMaster) CancelJob(ctx context.Context, req *rpcpb.JobRef) (*rpcpb.CancelJobResponse, error) {
	if _, ok := f.jobs[req.JobId]; !ok {
		return nil, status.Errorf(codes.NotFound, "no job %s", req.JobId)
	}
	return &rpcpb.CancelJobResponse{State: "CANCELED"}, nil
}

func (f *fakeMaster) JobStatus(context.Context, *rpcpb.JobRef) (*rpcpb.JobSnapshot, error) {
	return &rpcpb.JobSnapshot{}, nil
}

func (f *fakeMaster) ReportTask(context.Context, *rpcpb.ReportTaskRequest) (*rpcpb.Empty, error) {
	return &rpcpb.Empty{}, nil
}

func (f *fakeMaster) UploadBinary(s grpc.ClientStreamingServer[rpcpb.BinaryChunk, rpcpb.BinaryRef]) error {
	if _, err := s.Recv(); err != nil {
		return err
	}
	return s.SendAndClose(&rpcpb.BinaryRef{Sha256: "abc"})
}

type env struct {
	t     *testing.T
	addr  string
	dir   string
	ca    *devca.CA
	pool  *x509.CertPool
	audit *auditLog
}

func startServer(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ca, err := devca.NewCA("test", devca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := devca.WritePair(dir, "ca", ca.PEM(), false); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, ca: ca, pool: x509.NewCertPool(), audit: &auditLog{}}
	e.pool.AddCert(ca.Cert)
	pair, err := ca.IssueNode("master", []string{"127.0.0.1"}, devca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rl, err := tlsconfig.New(e.write("master", pair), nil)
	if err != nil {
		t.Fatal(err)
	}
	authn := NewAuthenticator(
		[]Principal{{"tok-alice", "alice", RoleAdmin}, {"tok-bob", "bob", RoleView}, {"tok-carol", "carol", RoleSubmit}},
		[]Principal{{"carol-laptop", "carol", RoleSubmit}},
	)
	jobs := map[string]string{"job-alice": "alice", "job-carol": "carol"}
	srv, err := NewServer(ServerConfig{
		Authenticator: authn,
		Audit:         NewAudit(slog.New(slog.NewJSONHandler(e.audit, nil))),
		JobOwner: func(_ context.Context, job string) (string, bool) {
			o, ok := jobs[job]
			return o, ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Client certificates are optional so that token-only clients can
	// connect; the interceptors demand one or the other.
	gs := grpc.NewServer(append(srv.ServerOptions(), grpc.Creds(rl.ServerCredentials(tls.VerifyClientCertIfGiven)))...)
	rpcpb.RegisterMasterServer(gs, &fakeMaster{jobs: jobs})
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	e.addr = lis.Addr().String()
	return e
}

func (e *env) write(base string, p devca.PEMPair) tlsconfig.Files {
	e.t.Helper()
	if err := devca.WritePair(e.dir, base, p, true); err != nil {
		e.t.Fatal(err)
	}
	return tlsconfig.Files{Cert: filepath.Join(e.dir, base+".crt"), Key: filepath.Join(e.dir, base+".key"), CA: filepath.Join(e.dir, "ca.crt")}
}

// client dials with a token (may be "") and a certificate: "" none,
// "node:NAME" a node certificate, otherwise a user certificate with that CN.
func (e *env) client(token, certName string) rpcpb.MasterClient {
	e.t.Helper()
	var creds credentials.TransportCredentials
	switch {
	case certName == "":
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: e.pool})
	default:
		var pair devca.PEMPair
		var err error
		if name, ok := strings.CutPrefix(certName, "node:"); ok {
			pair, err = e.ca.IssueNode(name, []string{"127.0.0.1"}, devca.Options{})
		} else {
			pair, err = e.ca.IssueClient(certName, devca.Options{})
		}
		if err != nil {
			e.t.Fatal(err)
		}
		rl, err := tlsconfig.New(e.write(strings.ReplaceAll(certName, ":", "-"), pair), nil)
		if err != nil {
			e.t.Fatal(err)
		}
		creds = rl.ClientCredentials("")
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(NewTokenCredentials(token)))
	}
	conn, err := grpc.NewClient(e.addr, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return rpcpb.NewMasterClient(conn)
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGRPCInterceptors(t *testing.T) {
	e := startServer(t)
	cancel := func(c rpcpb.MasterClient, job string) error {
		_, err := c.CancelJob(ctx10(t), &rpcpb.JobRef{JobId: job})
		return err
	}
	tests := []struct {
		name     string
		token    string
		cert     string
		call     func(rpcpb.MasterClient) error
		wantCode codes.Code
		wantMsg  string
		// audit is the expected audit line (nil: none).
		audit map[string]any
	}{
		{"no token cancels", "", "", func(c rpcpb.MasterClient) error { return cancel(c, "job-alice") },
			codes.Unauthenticated, "Master/CancelJob: no bearer token or client certificate",
			map[string]any{"user": "-", "kind": "anonymous", "call": "Master/CancelJob", "job": "job-alice", "result": "Unauthenticated"}},
		{"unknown token", "tok-eve", "", func(c rpcpb.MasterClient) error { return cancel(c, "job-alice") },
			codes.Unauthenticated, "unknown bearer token",
			map[string]any{"user": "-", "result": "Unauthenticated"}},
		{"view cancels", "tok-bob", "", func(c rpcpb.MasterClient) error { return cancel(c, "job-alice") },
			codes.PermissionDenied, "user bob (role view) may not call Master/CancelJob (needs role submit)",
			map[string]any{"user": "bob", "kind": "user", "via": "token", "call": "Master/CancelJob", "job": "job-alice", "result": "PermissionDenied"}},
		{"view reads status", "tok-bob", "", func(c rpcpb.MasterClient) error {
			_, err := c.JobStatus(ctx10(t), &rpcpb.JobRef{JobId: "job-alice"})
			return err
		}, codes.OK, "", nil},
		{"admin cancels any job", "tok-alice", "", func(c rpcpb.MasterClient) error { return cancel(c, "job-carol") },
			codes.OK, "", map[string]any{"user": "alice", "call": "Master/CancelJob", "job": "job-carol", "result": "ok"}},
		{"submit cancels another user's job", "tok-carol", "", func(c rpcpb.MasterClient) error { return cancel(c, "job-alice") },
			codes.PermissionDenied, "user carol (role submit) may not call Master/CancelJob on job job-alice of user alice",
			map[string]any{"user": "carol", "job": "job-alice", "result": "PermissionDenied"}},
		{"submit cancels own job", "tok-carol", "", func(c rpcpb.MasterClient) error { return cancel(c, "job-carol") },
			codes.OK, "", map[string]any{"user": "carol", "job": "job-carol", "result": "ok"}},
		{"handler error is audited", "tok-alice", "", func(c rpcpb.MasterClient) error { return cancel(c, "job-gone") },
			codes.NotFound, "no job job-gone", map[string]any{"user": "alice", "job": "job-gone", "result": "NotFound"}},
		{"submit: job id from the response", "tok-carol", "", func(c rpcpb.MasterClient) error {
			_, err := c.SubmitJob(ctx10(t), &rpcpb.SubmitJobRequest{Name: "wc"})
			return err
		}, codes.OK, "", map[string]any{"user": "carol", "call": "Master/SubmitJob", "job": "wc-of-carol", "result": "ok"}},
		{"admin token is not a node", "tok-alice", "", func(c rpcpb.MasterClient) error {
			_, err := c.ReportTask(ctx10(t), &rpcpb.ReportTaskRequest{})
			return err
		}, codes.PermissionDenied, "user alice (role admin) may not call Master/ReportTask (needs a node certificate)", nil},
		{"node certificate reports", "", "node:worker-1", func(c rpcpb.MasterClient) error {
			_, err := c.ReportTask(ctx10(t), &rpcpb.ReportTaskRequest{})
			return err
		}, codes.OK, "", nil},
		{"node certificate cannot submit", "", "node:worker-1", func(c rpcpb.MasterClient) error {
			_, err := c.SubmitJob(ctx10(t), &rpcpb.SubmitJobRequest{Name: "x"})
			return err
		}, codes.PermissionDenied, "node worker-1 may not call Master/SubmitJob (needs role submit)",
			map[string]any{"user": "worker-1", "kind": "node", "via": "certificate", "result": "PermissionDenied"}},
		{"mapped user certificate cancels own job", "", "carol-laptop", func(c rpcpb.MasterClient) error { return cancel(c, "job-carol") },
			codes.OK, "", map[string]any{"user": "carol", "via": "certificate", "result": "ok"}},
		{"unmapped user certificate", "", "zed", func(c rpcpb.MasterClient) error {
			_, err := c.JobStatus(ctx10(t), &rpcpb.JobRef{JobId: "job-alice"})
			return err
		}, codes.PermissionDenied, "user zed (role none) may not call Master/JobStatus (needs role view)", nil},
		{"view uploads (stream)", "tok-bob", "", func(c rpcpb.MasterClient) error {
			s, err := c.UploadBinary(ctx10(t))
			if err != nil {
				return err
			}
			_ = s.Send(&rpcpb.BinaryChunk{Data: []byte("x")})
			_, err = s.CloseAndRecv()
			return err
		}, codes.PermissionDenied, "user bob (role view) may not call Master/UploadBinary (needs role submit)",
			map[string]any{"user": "bob", "call": "Master/UploadBinary", "job": "", "result": "PermissionDenied"}},
		{"submit uploads (stream)", "tok-carol", "", func(c rpcpb.MasterClient) error {
			s, err := c.UploadBinary(ctx10(t))
			if err != nil {
				return err
			}
			if err := s.Send(&rpcpb.BinaryChunk{Data: []byte("x")}); err != nil {
				return err
			}
			_, err = s.CloseAndRecv()
			return err
		}, codes.OK, "", map[string]any{"user": "carol", "call": "Master/UploadBinary", "result": "ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(e.client(tc.token, tc.cert))
			st := status.Convert(err)
			if st.Code() != tc.wantCode || !strings.Contains(st.Message(), tc.wantMsg) {
				t.Fatalf("got %v %q, want %v containing %q", st.Code(), st.Message(), tc.wantCode, tc.wantMsg)
			}
			lines := e.audit.take(t)
			if tc.audit == nil {
				if len(lines) != 0 {
					t.Fatalf("audit lines %v, want none", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("audit lines %v, want exactly one", lines)
			}
			for k, v := range tc.audit {
				if lines[0][k] != v {
					t.Errorf("audit %s = %v, want %v (line %v)", k, lines[0][k], v, lines[0])
				}
			}
			if lines[0]["msg"] != "audit" || lines[0]["peer"] == "" {
				t.Errorf("audit line %v lacks msg=audit or a peer", lines[0])
			}
		})
	}
}

func TestHealthIsPublic(t *testing.T) {
	e := startServer(t)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, RootCAs: e.pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx10(t), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health check without credentials: %v", err)
	}
}

func TestTokenNeedsTransportSecurity(t *testing.T) {
	e := startServer(t)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(NewTokenCredentials("tok-alice")))
	if err != nil {
		// Newer gRPC versions refuse at dial time.
		if !strings.Contains(err.Error(), "transport level security") {
			t.Fatalf("dial: %v", err)
		}
		return
	}
	defer conn.Close()
	_, err = rpcpb.NewMasterClient(conn).JobStatus(ctx10(t), &rpcpb.JobRef{JobId: "j"})
	if err == nil || !strings.Contains(err.Error(), "transport level security") {
		t.Fatalf("token over plaintext: %v, want a transport security error", err)
	}
}
