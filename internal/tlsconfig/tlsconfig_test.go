package tlsconfig

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/devca"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pki is a CA and a directory of files issued by it.
type pki struct {
	t   *testing.T
	dir string
	ca  *devca.CA
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	ca, err := devca.NewCA(name, devca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := devca.WritePair(dir, "ca", ca.PEM(), false); err != nil {
		t.Fatal(err)
	}
	return &pki{t: t, dir: dir, ca: ca}
}

// node writes a node certificate as base.crt/base.key and returns Files.
func (p *pki) node(base string, opt devca.Options) Files {
	p.t.Helper()
	pair, err := p.ca.IssueNode(base, []string{"127.0.0.1", "localhost"}, opt)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(base, pair)
}

func (p *pki) client(user string, opt devca.Options) Files {
	p.t.Helper()
	pair, err := p.ca.IssueClient(user, opt)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(user, pair)
}

func (p *pki) write(base string, pair devca.PEMPair) Files {
	p.t.Helper()
	if err := devca.WritePair(p.dir, base, pair, true); err != nil {
		p.t.Fatal(err)
	}
	return Files{Cert: filepath.Join(p.dir, base+".crt"), Key: filepath.Join(p.dir, base+".key"), CA: filepath.Join(p.dir, "ca.crt")}
}

func mustNew(t *testing.T, f Files, log *slog.Logger) *Reloader {
	t.Helper()
	r, err := New(f, log)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serve starts a gRPC health server with creds on loopback.
func serve(t *testing.T, creds credentials.TransportCredentials) (string, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), hs
}

func dial(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func check(conn *grpc.ClientConn, p *peer.Peer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(p))
	return err
}

func peerSerial(t *testing.T, p *peer.Peer) string {
	t.Helper()
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		t.Fatalf("peer auth info %T has no certificates", p.AuthInfo)
	}
	return ti.State.PeerCertificates[0].SerialNumber.String()
}

func TestHandshake(t *testing.T) {
	good := newPKI(t, "good CA")
	other := newPKI(t, "other CA")
	srv := mustNew(t, good.node("master", devca.Options{}), nil)
	addr, _ := serve(t, srv.ServerCredentials(tls.RequireAndVerifyClientCert))
	expiredSrv := mustNew(t, good.node("stale", devca.Options{Validity: -time.Hour}), nil)
	expiredAddr, _ := serve(t, expiredSrv.ServerCredentials(tls.RequireAndVerifyClientCert))

	goodPool := x509.NewCertPool()
	goodPool.AddCert(good.ca.Cert)

	// A client whose CA bundle is the other CA but whose certificate is
	// from the good one: it must reject the server.
	mixed := good.client("carol", devca.Options{})
	mixed.CA = filepath.Join(other.dir, "ca.crt")
	// A client with a certificate from the other CA that trusts the server.
	foreign := other.client("mallory", devca.Options{})
	foreign.CA = filepath.Join(good.dir, "ca.crt")

	// Rejections decided by the client show in the gRPC error.
	tests := []struct {
		name    string
		addr    string
		creds   credentials.TransportCredentials
		wantErr string
	}{
		{"node client ok", addr, mustNew(t, good.node("worker", devca.Options{}), nil).ClientCredentials(""), ""},
		{"user client ok", addr, mustNew(t, good.client("alice", devca.Options{}), nil).ClientCredentials(""), ""},
		{"server by DNS name", strings.Replace(addr, "127.0.0.1", "localhost", 1), mustNew(t, good.client("erin", devca.Options{}), nil).ClientCredentials(""), ""},
		{"server from unknown CA", addr, mustNew(t, mixed, nil).ClientCredentials(""), "certificate signed by unknown authority"},
		{"expired server cert", expiredAddr, mustNew(t, good.client("bob", devca.Options{}), nil).ClientCredentials(""), "certificate has expired"},
		{"wrong server name", addr, mustNew(t, good.client("dave", devca.Options{}), nil).ClientCredentials("master.example"), "not master.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p peer.Peer
			err := check(dial(t, tc.addr, tc.creds), &p)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if got := peerSerial(t, &p); got != srv.Leaf().SerialNumber.String() {
					t.Fatalf("server serial %s, want %s", got, srv.Leaf().SerialNumber)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Check error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}

	// Rejections decided by the server arrive, in TLS 1.3, as an alert
	// after the client's side of the handshake is done; gRPC may report
	// a broken pipe first, so these use a TLS client against the same
	// gRPC server and read the alert.
	rejected := []struct {
		name    string
		cfg     *tls.Config
		wantErr string
	}{
		{"client cert from unknown CA", mustNew(t, foreign, nil).ClientConfig("127.0.0.1"), "unknown certificate authority"},
		{"expired client cert", mustNew(t, good.client("old", devca.Options{Validity: -time.Hour}), nil).ClientConfig("127.0.0.1"), "expired certificate"},
		{"client without certificate", &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: goodPool, ServerName: "127.0.0.1"}, "certificate required"},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.NextProtos = []string{"h2"}
			conn, err := tls.Dial("tcp", addr, tc.cfg)
			if err == nil {
				defer conn.Close()
				_, err = conn.Read(make([]byte, 1))
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	ca := newPKI(t, "ca")
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	files := ca.node("master", devca.Options{})
	srv := mustNew(t, files, log)
	oldSerial := srv.Leaf().SerialNumber.String()
	addr, hs := serve(t, srv.ServerCredentials(tls.RequireAndVerifyClientCert))
	client := mustNew(t, ca.client("alice", devca.Options{}), nil)

	// An open stream on a connection made with the old certificate.
	conn1 := dial(t, addr, client.ClientCredentials(""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := healthpb.NewHealthClient(conn1).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch message %v, %v", m, err)
	}

	// Rotate: new key pair in the same files, then reload.
	ca.node("master", devca.Options{})
	if changed, err := srv.Reload(); !changed || err != nil {
		t.Fatalf("Reload = %v, %v; want changed, nil", changed, err)
	}
	newSerial := srv.Leaf().SerialNumber.String()
	if newSerial == oldSerial {
		t.Fatal("reload kept the old certificate")
	}
	if changed, err := srv.Reload(); changed || err != nil {
		t.Fatalf("second Reload = %v, %v; want unchanged", changed, err)
	}

	var p2 peer.Peer
	if err := check(dial(t, addr, client.ClientCredentials("")), &p2); err != nil {
		t.Fatal(err)
	}
	if got := peerSerial(t, &p2); got != newSerial {
		t.Fatalf("new connection saw serial %s, want the rotated %s", got, newSerial)
	}

	// The old stream still works, and its connection still runs on the
	// old certificate.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after rotation: %v, %v", m, err)
	}
	var p1 peer.Peer
	if err := check(conn1, &p1); err != nil {
		t.Fatal(err)
	}
	if got := peerSerial(t, &p1); got != oldSerial {
		t.Fatalf("existing connection serial %s, want the old %s", got, oldSerial)
	}

	// A broken certificate file keeps the current pair and logs.
	if err := os.WriteFile(files.Cert, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Reload(); err == nil || !strings.Contains(err.Error(), files.Cert) {
		t.Fatalf("Reload of a broken file: %v, want an error naming %s", err, files.Cert)
	}
	if !strings.Contains(logs.String(), "keeping the previous certificates") {
		t.Fatalf("no error logged for the broken file; log:\n%s", logs.String())
	}
	if _, err := srv.Reload(); err == nil {
		t.Fatal("second Reload of the broken file succeeded")
	}
	if n := strings.Count(logs.String(), "keeping the previous certificates"); n != 1 {
		t.Fatalf("broken file logged %d times, want once; log:\n%s", n, logs.String())
	}
	var p3 peer.Peer
	if err := check(dial(t, addr, client.ClientCredentials("")), &p3); err != nil {
		t.Fatal(err)
	}
	if got := peerSerial(t, &p3); got != newSerial {
		t.Fatalf("after a broken file the server presented %s, want %s", got, newSerial)
	}
}

func TestRunPolls(t *testing.T) {
	ca := newPKI(t, "ca")
	files := ca.node("n", devca.Options{})
	r := mustNew(t, files, slog.New(slog.NewTextHandler(&lockedBuf{}, nil)))
	events := make(chan error, 10)
	r.OnReload = func(err error) { events <- err }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	old := r.Leaf().SerialNumber
	ca.node("n", devca.Options{})
	// Certificate and key are two files written one after the other: a
	// poll between the two writes sees a mismatched pair, keeps the old
	// one and reports the error; a later poll must pick up the new pair.
	timeout := time.After(30 * time.Second)
	for reloaded := false; !reloaded; {
		select {
		case err := <-events:
			if err == nil {
				reloaded = true
			} else if !strings.Contains(err.Error(), "does not match") {
				t.Fatalf("reload: %v", err)
			}
		case <-timeout:
			t.Fatal("Run did not pick up the new files")
		}
	}
	if r.Leaf().SerialNumber.Cmp(old) == 0 {
		t.Fatal("Run reported a reload but kept the old certificate")
	}
}

func TestNewErrors(t *testing.T) {
	ca := newPKI(t, "ca")
	good := ca.node("n", devca.Options{})
	other := ca.node("m", devca.Options{})
	tests := []struct {
		name    string
		files   Files
		wantErr string
	}{
		{"missing names", Files{Cert: good.Cert}, "need a certificate, key and CA file"},
		{"missing cert", Files{Cert: good.Cert + ".nope", Key: good.Key, CA: good.CA}, "certificate: open"},
		{"mismatched key", Files{Cert: good.Cert, Key: other.Key, CA: good.CA}, "private key does not match"},
		{"CA not PEM", Files{Cert: good.Cert, Key: good.Key, CA: good.Key}, "no PEM certificates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.files, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want %q", err, tc.wantErr)
			}
		})
	}
}
