package remote_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
)

func readAll(ctx context.Context, r shuffle.Reader) (int, error) {
	n := 0
	for {
		_, err := r.Next(ctx)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

func newLocal(t *testing.T) *shuffle.Local {
	t.Helper()
	l, err := shuffle.NewLocal(shuffle.LocalConfig{
		Dir: filepath.Join(t.TempDir(), "shuffle"), Compression: shuffle.CompressionNone,
		SortBufferBytes: 64 << 10, BlockSize: 4 << 10,
		Pipelined: shuffle.MemoryConfig{PendingReaderTimeout: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// writeBlocking commits a blocking partition of one subpartition.
func writeBlocking(t *testing.T, svc shuffle.Service, id shuffle.PartitionID, n, size int) {
	t.Helper()
	ctx := testCtx(t)
	w, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(ctx, 0, buf(i, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestErrorMapping(t *testing.T) {
	ctx := testCtx(t)
	local := newLocal(t)
	s := startServer(t, local, remote.ServerOptions{})
	c := dial(t, s.addr, remote.ClientOptions{})

	t.Run("NotExist", func(t *testing.T) {
		id := shuffle.PartitionID{Job: "nope", Result: "r"}
		_, err := c.Stat(ctx, id)
		wantIs(t, err, shuffle.ErrNotExist)
		var e *remote.Error
		if !errors.As(err, &e) || e.Code != codes.NotFound || e.Addr != s.addr || e.Partition != id {
			t.Fatalf("Stat error %#v: want *remote.Error NotFound naming the partition and address", e)
		}
		wantContains(t, err, id.String(), s.addr)
		// A blocking partition whose data file is gone is lost.
		lost := shuffle.PartitionID{Job: "j", Result: "lost"}
		writeBlocking(t, local, lost, 10, 100)
		if err := os.Remove(filepath.Join(local.Dir(), "j", "lost", "0.0.data")); err != nil {
			t.Fatal(err)
		}
		_, err = c.OpenReader(ctx, lost, 0, 1)
		wantIs(t, err, shuffle.ErrNotExist)
		// Released jobs fail at once.
		if err := local.Release(ctx, "j"); err != nil {
			t.Fatal(err)
		}
		_, err = c.OpenReader(ctx, shuffle.PartitionID{Job: "j", Result: "x"}, 0, 1)
		wantIs(t, err, shuffle.ErrNotExist)
	})

	t.Run("Corrupt", func(t *testing.T) {
		id := shuffle.PartitionID{Job: "c", Result: "r"}
		writeBlocking(t, local, id, 200, 1000)
		path := filepath.Join(local.Dir(), "c", "r", "0.0.data")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var n int
		r, err := c.OpenReader(ctx, id, 0, 1)
		if err == nil {
			n, err = readAll(ctx, r)
			r.Close()
		}
		wantIs(t, err, shuffle.ErrCorrupt)
		wantContains(t, err, path, s.addr)
		var e *remote.Error
		if !errors.As(err, &e) || e.Code != codes.DataLoss {
			t.Fatalf("want *remote.Error with DataLoss, got %v", err)
		}
		if n >= 200 {
			t.Fatalf("read %d buffers of a corrupt partition", n)
		}
	})

	t.Run("Aborted", func(t *testing.T) {
		id := shuffle.PartitionID{Job: "a", Result: "r"}
		w, err := local.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.OpenReader(ctx, id, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			time.Sleep(50 * time.Millisecond)
			w.Abort(errors.New("disk on fire"))
		}()
		_, err = r.Next(ctx)
		wantIs(t, err, shuffle.ErrAborted)
		wantContains(t, err, "disk on fire", id.String())
		if errors.Is(err, shuffle.ErrNotExist) {
			t.Fatalf("aborted partition reported as lost too: %v", err)
		}
	})

	t.Run("LocalServiceClosed", func(t *testing.T) {
		mem := shuffle.NewMemory(shuffle.MemoryConfig{})
		s := startServer(t, mem, remote.ServerOptions{})
		c := dial(t, s.addr, remote.ClientOptions{})
		r, err := c.OpenReader(ctx, shuffle.PartitionID{Job: "j", Result: "r"}, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			time.Sleep(50 * time.Millisecond)
			mem.Close()
		}()
		_, err = r.Next(ctx)
		wantIs(t, err, shuffle.ErrClosed, shuffle.ErrNotExist)
	})

	t.Run("InvalidRange", func(t *testing.T) {
		id := shuffle.PartitionID{Job: "i", Result: "r"}
		writeBlocking(t, local, id, 1, 10)
		for _, rg := range [][2]int{{0, 0}, {-1, 1}, {0, 5}} {
			r, err := c.OpenReader(ctx, id, rg[0], rg[1])
			if err == nil {
				_, err = r.Next(ctx)
				r.Close()
			}
			if err == nil || err == io.EOF {
				t.Errorf("range %v: got %v, want an error", rg, err)
			}
			for _, sentinel := range []error{shuffle.ErrNotExist, shuffle.ErrCorrupt, shuffle.ErrAborted} {
				if errors.Is(err, sentinel) {
					t.Errorf("range %v: %v wraps %v", rg, err, sentinel)
				}
			}
		}
	})

	t.Run("WritesNotSupported", func(t *testing.T) {
		_, err := c.CreateWriter(ctx, shuffle.PartitionID{Job: "w"}, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 1})
		wantIs(t, err, remote.ErrNotSupported)
		wantIs(t, c.Release(ctx, "w"), remote.ErrNotSupported)
	})
}

// TestUnreachable checks that an address nobody serves, or that accepts
// connections and never answers, fails with ErrNotExist within the connect
// timeout rather than hanging.
func TestUnreachable(t *testing.T) {
	ctx := testCtx(t)
	const timeout = 300 * time.Millisecond
	refused := func() string {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		lis.Close()
		return addr
	}()
	silent := func() string {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				conn, err := lis.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, conn) // held open, never answered
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			lis.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
		return lis.Addr().String()
	}()
	id := shuffle.PartitionID{Job: "j", Result: "r"}
	for _, tc := range []struct{ name, addr string }{{"refused", refused}, {"silent", silent}} {
		t.Run(tc.name, func(t *testing.T) {
			res := remote.NewResolver(remote.ClientOptions{ConnectTimeout: timeout})
			defer res.Close()
			svc, err := res.Resolve(tc.addr)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			calls := map[string]func() error{
				"OpenReader": func() error { _, err := svc.OpenReader(ctx, id, 0, 1); return err },
				"Stat":       func() error { _, err := svc.Stat(ctx, id); return err },
				"Dial": func() error {
					c, err := remote.Dial(ctx, tc.addr, remote.ClientOptions{ConnectTimeout: timeout})
					if err == nil {
						c.Close()
					}
					return err
				},
			}
			for name, call := range calls {
				start := time.Now()
				err := within(t, timeout+3*time.Second, name, call)
				wantIs(t, err, shuffle.ErrNotExist)
				wantContains(t, err, tc.addr, "unreachable")
				t.Logf("%s: %v after %v", name, err, time.Since(start).Round(time.Millisecond))
			}
		})
	}
}

// TestServerShutdownMidStream stops the server under a reader waiting for
// data: the reader fails (the partition is lost) instead of hanging.
func TestServerShutdownMidStream(t *testing.T) {
	for _, how := range []string{"grpc.Server.Stop", "Server.Close+GracefulStop"} {
		t.Run(how, func(t *testing.T) {
			ctx := testCtx(t)
			mem := shuffle.NewMemory(shuffle.MemoryConfig{})
			defer mem.Close()
			s := startServer(t, mem, remote.ServerOptions{})
			c := dial(t, s.addr, remote.ClientOptions{ConnectTimeout: 500 * time.Millisecond})
			id := shuffle.PartitionID{Job: "j", Result: "r"}
			w, err := mem.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort(nil)
			r, err := c.OpenReader(ctx, id, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i := range 3 {
				if err := w.Write(ctx, 0, buf(i, 100)); err != nil {
					t.Fatal(err)
				}
				if _, err := r.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
			go func() {
				time.Sleep(50 * time.Millisecond)
				if how == "grpc.Server.Stop" {
					s.gs.Stop()
					return
				}
				s.srv.Close()
				s.gs.GracefulStop()
			}()
			err = within(t, 5*time.Second, "Next during shutdown", func() error {
				_, err := r.Next(ctx)
				return err
			})
			wantIs(t, err, shuffle.ErrNotExist)
			if how != "grpc.Server.Stop" {
				wantIs(t, err, shuffle.ErrClosed)
			}
			t.Logf("%v", err)
			// New calls fail the same way, promptly.
			err = within(t, 10*time.Second, "Stat after shutdown", func() error {
				_, err := c.Stat(ctx, id)
				return err
			})
			wantIs(t, err, shuffle.ErrNotExist)
		})
	}
}

// TestClientClose: readers of a closed client fail with ErrClosed, and so
// does every later call.
func TestClientClose(t *testing.T) {
	ctx := testCtx(t)
	mem := shuffle.NewMemory(shuffle.MemoryConfig{})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{})
	c := dial(t, s.addr, remote.ClientOptions{})
	id := shuffle.PartitionID{Job: "j", Result: "r"}
	r, err := c.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Close()
	}()
	err = within(t, 2*time.Second, "Next during Close", func() error {
		_, err := r.Next(ctx)
		return err
	})
	wantIs(t, err, shuffle.ErrClosed)
	_, err = c.OpenReader(ctx, id, 0, 1)
	wantIs(t, err, shuffle.ErrClosed)
	_, err = c.Stat(ctx, id)
	wantIs(t, err, shuffle.ErrClosed)
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestResolver(t *testing.T) {
	ctx := testCtx(t)
	mem := shuffle.NewMemory(shuffle.MemoryConfig{})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{})
	id := shuffle.PartitionID{Job: "j", Result: "r"}
	writeBlocking(t, mem, id, 3, 10)

	res := remote.NewResolver(remote.ClientOptions{})
	a, err := res.Resolve(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := res.Resolve(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two Resolve calls for one address gave different clients")
	}
	// Closing a resolved service does not close the shared client.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := b.Stat(ctx, id); err != nil || st.Buffers != 3 {
		t.Fatalf("Stat through the shared client: %+v, %v", st, err)
	}
	r, err := b.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := res.Resolve("no-port"); err == nil {
		t.Fatal("Resolve of an invalid location succeeded")
	}
	// Concurrent Resolve calls are safe.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if svc, err := res.Resolve(s.addr); err != nil || svc != a {
				t.Errorf("concurrent Resolve: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = r.Next(ctx)
	wantIs(t, err, shuffle.ErrClosed)
	_, err = res.Resolve(s.addr)
	wantIs(t, err, shuffle.ErrClosed)
}

// TestProtocolViolations sends malformed streams: the server rejects them
// with InvalidArgument instead of misbehaving.
func TestProtocolViolations(t *testing.T) {
	ctx := testCtx(t)
	mem := shuffle.NewMemory(shuffle.MemoryConfig{})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{})
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rpc := shufflepb.NewShuffleServiceClient(conn)
	// Each case reads its own partition (pipelined subpartitions are
	// consumed once).
	n := int64(0)
	open := func() *shufflepb.OpenRequest {
		n++
		return &shufflepb.OpenRequest{Partition: &shufflepb.PartitionID{Job: "j", Result: "r", Producer: n}, From: 0, To: 1}
	}
	for name, msgs := range map[string][]*shufflepb.ReadRequest{
		"no open":         {{Credit: 1}},
		"no partition":    {{Open: &shufflepb.OpenRequest{To: 1}}},
		"bad range":       {{Open: &shufflepb.OpenRequest{Partition: open().Partition, From: 2, To: 1}}},
		"second open":     {{Open: open()}, {Open: open()}},
		"too much credit": {{Open: open(), Credit: remote.MaxWindow}, {Credit: 1}},
	} {
		t.Run(name, func(t *testing.T) {
			stream, err := rpc.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if err := stream.Send(m); err != nil {
					break
				}
			}
			err = within(t, 5*time.Second, "stream", func() error {
				for {
					if _, err := stream.Recv(); err != nil {
						return err
					}
				}
			})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
}
