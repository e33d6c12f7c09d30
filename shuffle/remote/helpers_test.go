package remote_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
)

// server is a loopback gRPC server exposing a local shuffle service.
type server struct {
	addr string
	gs   *grpc.Server
	srv  *remote.Server
	done chan struct{}
}

// startServer serves svc on 127.0.0.1:0 until the test ends.
func startServer(t testing.TB, svc shuffle.Service, opts remote.ServerOptions) *server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{addr: lis.Addr().String(), gs: remote.NewGRPCServer(), srv: remote.NewServer(svc, opts), done: make(chan struct{})}
	s.srv.Register(s.gs)
	go func() {
		defer close(s.done)
		_ = s.gs.Serve(lis)
	}()
	t.Cleanup(s.stop)
	return s
}

// stop ends the server and waits for Serve to return. It is idempotent.
func (s *server) stop() {
	_ = s.srv.Close()
	s.gs.Stop()
	<-s.done
}

func dial(t testing.TB, addr string, opts remote.ClientOptions) *remote.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := remote.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// buf makes a recognizable n-byte buffer number i.
func buf(i, n int) []byte {
	b := make([]byte, n)
	copy(b, fmt.Sprintf("buffer %08d ", i))
	for j := 16; j < n; j++ {
		b[j] = byte('a' + (i+j)%26)
	}
	return b
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkGoroutines fails the test if the goroutine count does not come back
// to about base.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	const slack = 3
	if !waitFor(5*time.Second, func() bool { return runtime.NumGoroutine() <= base+slack }) {
		stacks := make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		t.Fatalf("goroutines: %d, want at most %d + %d\n%s", runtime.NumGoroutine(), base, slack, stacks)
	}
}

// within runs f and fails the test if it takes longer than d.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
		return nil
	}
}

func wantIs(t *testing.T, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("error %v: want errors.Is(%v)", err, target)
		}
	}
}

func wantContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("error %v: want it to contain %q", err, p)
		}
	}
}

// remoteService is the conformance adapter: writes, Release and Close go
// to the local service; reads and Stat go through a loopback gRPC Server
// and Client.
type remoteService struct {
	local  shuffle.Service
	srv    *server
	client *remote.Client

	mu     sync.Mutex
	causes map[shuffle.PartitionID]error
	once   sync.Once
}

func newRemoteService(t *testing.T, local shuffle.Service, sopts remote.ServerOptions, copts remote.ClientOptions) *remoteService {
	s := startServer(t, local, sopts)
	return &remoteService{local: local, srv: s, client: dial(t, s.addr, copts), causes: make(map[shuffle.PartitionID]error)}
}

func (s *remoteService) CreateWriter(ctx context.Context, id shuffle.PartitionID, opts shuffle.WriterOptions) (shuffle.Writer, error) {
	w, err := s.local.CreateWriter(ctx, id, opts)
	if err != nil {
		return nil, err
	}
	return &causeWriter{Writer: w, s: s, id: id}, nil
}

func (s *remoteService) OpenReader(ctx context.Context, id shuffle.PartitionID, from, to int) (shuffle.Reader, error) {
	r, err := s.client.OpenReader(ctx, id, from, to)
	if err != nil {
		return nil, s.withCause(id, err)
	}
	return &causeReader{Reader: r, s: s, id: id}, nil
}

func (s *remoteService) Stat(ctx context.Context, id shuffle.PartitionID) (shuffle.Stat, error) {
	return s.client.Stat(ctx, id)
}

func (s *remoteService) Release(ctx context.Context, job string) error {
	return s.local.Release(ctx, job)
}

func (s *remoteService) Close() error {
	var err error
	s.once.Do(func() {
		err = errors.Join(s.client.Close(), s.srv.srv.Close())
		s.srv.stop()
		err = errors.Join(err, s.local.Close())
	})
	return err
}

// BuffersInUse reports the local service's pipelined buffers, so the
// conformance back-pressure test checks that remote readers pull nothing
// before they are read and one buffer per buffer consumed at first.
func (s *remoteService) BuffersInUse() int {
	return s.local.(interface{ BuffersInUse() int }).BuffersInUse()
}

// withCause re-attaches the abort cause recorded for id: error identity
// cannot cross a process boundary (the cause's text does, in the message),
// but the conformance suite checks errors.Is(err, cause).
func (s *remoteService) withCause(id shuffle.PartitionID, err error) error {
	if !errors.Is(err, shuffle.ErrAborted) {
		return err
	}
	s.mu.Lock()
	cause := s.causes[id]
	s.mu.Unlock()
	if cause == nil || !strings.Contains(err.Error(), cause.Error()) {
		return err
	}
	return fmt.Errorf("%w (cause: %w)", err, cause)
}

type causeWriter struct {
	shuffle.Writer
	s  *remoteService
	id shuffle.PartitionID
}

func (w *causeWriter) Abort(cause error) {
	if cause != nil {
		w.s.mu.Lock()
		w.s.causes[w.id] = cause
		w.s.mu.Unlock()
	}
	w.Writer.Abort(cause)
}

type causeReader struct {
	shuffle.Reader
	s  *remoteService
	id shuffle.PartitionID
}

func (r *causeReader) Next(ctx context.Context) ([]byte, error) {
	b, err := r.Reader.Next(ctx)
	if err != nil {
		err = r.s.withCause(r.id, err)
	}
	return b, err
}
