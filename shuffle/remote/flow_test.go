package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/remote"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
)

// producer writes n buffers of size bytes to subpartition 0 of a pipelined
// partition and commits, counting the writes that returned.
type producer struct {
	written atomic.Int64
	done    chan error
}

func startProducer(ctx context.Context, t *testing.T, svc shuffle.Service, id shuffle.PartitionID, n, size int) *producer {
	t.Helper()
	w, err := svc.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := &producer{done: make(chan error, 1)}
	go func() {
		for i := range n {
			if err := w.Write(ctx, 0, buf(i, size)); err != nil {
				w.Abort(err)
				p.done <- err
				return
			}
			p.written.Add(1)
		}
		p.done <- w.Commit(ctx)
	}()
	return p
}

// settle waits until the producer wrote want buffers, checks that it
// writes no more for a while, and returns how many it wrote.
func (p *producer) settle(want int64) int64 {
	waitFor(5*time.Second, func() bool { return p.written.Load() >= want })
	time.Sleep(100 * time.Millisecond)
	return p.written.Load()
}

// stable waits until the producer's write count stops changing and
// returns it.
func (p *producer) stable() int64 {
	last := int64(-1)
	for {
		time.Sleep(60 * time.Millisecond)
		n := p.written.Load()
		if n == last {
			return n
		}
		last = n
	}
}

func bufferCount(svc shuffle.Service) int {
	return svc.(interface{ BuffersInUse() int }).BuffersInUse()
}

// rawStream opens a Read stream with the generated client, to observe the
// protocol itself.
func rawStream(ctx context.Context, t *testing.T, addr string, id shuffle.PartitionID, credit uint32) (grpc.BidiStreamingClient[shufflepb.ReadRequest, shufflepb.ReadResponse], <-chan *shufflepb.ReadResponse, <-chan error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := shufflepb.NewShuffleServiceClient(conn).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	open := &shufflepb.OpenRequest{Partition: &shufflepb.PartitionID{Job: id.Job, Result: id.Result, Producer: int64(id.Producer)}, From: 0, To: 1}
	if err := stream.Send(&shufflepb.ReadRequest{Open: open, Credit: credit}); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.GetOpened() == nil {
		t.Fatalf("open: %v, %v", first, err)
	}
	// msgs is closed when the stream ends; then errc has the error.
	msgs := make(chan *shufflepb.ReadResponse, 1024)
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	return stream, msgs, errc
}

// TestServerSendsOnlyWithCredit drives the wire protocol by hand: the
// server sends exactly as many buffers as credited, pulls nothing more from
// the producer's queue meanwhile (the producer blocks with its queue full),
// and resumes when credit comes.
func TestServerSendsOnlyWithCredit(t *testing.T) {
	ctx := testCtx(t)
	const queue, n = 4, 100
	mem := shuffle.NewMemory(shuffle.MemoryConfig{QueueBuffers: queue})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{})
	id := shuffle.PartitionID{Job: "j", Result: "r"}
	p := startProducer(ctx, t, mem, id, n, 1000)
	stream, msgs, errc := rawStream(ctx, t, s.addr, id, 0)

	// No credit: nothing is sent, the producer fills its queue and blocks.
	if got := p.settle(queue); got != queue {
		t.Fatalf("producer wrote %d buffers with no credit, want %d (the queue)", got, queue)
	}
	if len(msgs) != 0 {
		t.Fatalf("server sent %d buffers without credit", len(msgs))
	}
	next := 0
	expect := func(k int) {
		t.Helper()
		for range k {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("stream failed: %v", <-errc)
				}
				if !bytes.Equal(m.GetData(), buf(next, 1000)) || m.GetMore() || m.GetEnd() {
					t.Fatalf("buffer %d: unexpected message (%d bytes, more %v, end %v)", next, len(m.GetData()), m.GetMore(), m.GetEnd())
				}
				next++
			case <-time.After(5 * time.Second):
				t.Fatalf("buffer %d not received", next)
			}
		}
	}
	for _, credit := range []int{5, 1, 3} {
		if err := stream.Send(&shufflepb.ReadRequest{Credit: uint32(credit)}); err != nil {
			t.Fatal(err)
		}
		expect(credit)
		want := int64(next + queue)
		written := p.settle(want)
		if len(msgs) != 0 {
			t.Fatalf("server sent more than the %d credits granted", credit)
		}
		if written != want {
			t.Errorf("after %d buffers sent the producer wrote %d, want %d", next, written, want)
		}
		// The queue is full, the server's reader holds the last buffer
		// sent and the producer's blocked Write holds its copy.
		if got := bufferCount(mem); got > queue+2 {
			t.Errorf("BuffersInUse = %d, want at most %d", got, queue+2)
		}
	}
	// Plenty of credit: the rest, then the end marker, then OK.
	if err := stream.Send(&shufflepb.ReadRequest{Credit: 1000}); err != nil {
		t.Fatal(err)
	}
	expect(n - next)
	select {
	case m := <-msgs:
		if !m.GetEnd() {
			t.Fatal("want the end marker after the last buffer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no end marker")
	}
	if err := <-errc; err != io.EOF {
		t.Fatalf("stream ended with %v, want OK (io.EOF)", err)
	}
	if err := <-p.done; err != nil {
		t.Fatal(err)
	}
}

// TestSlowConsumerBackPressure checks the Client's credit window: a
// consumer that stops reading holds the server to at most Window buffers
// ahead and the producer to its queue, and everything arrives in order when
// it resumes.
func TestSlowConsumerBackPressure(t *testing.T) {
	for _, window := range []int{1, 8} {
		t.Run(fmt.Sprintf("window%d", window), func(t *testing.T) { testSlowConsumer(t, window) })
	}
}

func testSlowConsumer(t *testing.T, window int) {
	ctx := testCtx(t)
	const queue, n, size = 4, 400, 32 << 10
	mem := shuffle.NewMemory(shuffle.MemoryConfig{QueueBuffers: queue})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{})
	c := dial(t, s.addr, remote.ClientOptions{Window: window})
	id := shuffle.PartitionID{Job: "j", Result: "r"}

	r, err := c.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := startProducer(ctx, t, mem, id, n, size)
	// Opened but not read: the server pulls nothing.
	if got := p.settle(queue); got != queue {
		t.Fatalf("producer wrote %d buffers before the first Next, want %d", got, queue)
	}
	read := 0
	readN := func(k int) {
		t.Helper()
		for range k {
			b, err := r.Next(ctx)
			if err != nil {
				t.Fatalf("buffer %d: %v", read, err)
			}
			if !bytes.Equal(b, buf(read, size)) {
				t.Fatalf("buffer %d: wrong content", read)
			}
			read++
		}
	}
	// One buffer read: exactly one more queue slot for the producer.
	readN(1)
	if got := p.settle(queue + 1); got != queue+1 {
		t.Fatalf("producer wrote %d buffers after one Next, want %d", got, queue+1)
	}
	// The window opens up to Window as the consumer reads, then stops.
	readN(30)
	p.settle(int64(read + queue))
	written := p.stable()
	if max := int64(read + window + queue); written > max || written < int64(read+queue) {
		t.Fatalf("consumer read %d and stopped: producer wrote %d, want %d..%d", read, written, read+queue, max)
	}
	// The queue, the buffer the server's reader holds and the copy the
	// producer's blocked Write holds.
	if got := bufferCount(mem); got > queue+2 {
		t.Fatalf("BuffersInUse = %d, want at most %d", got, queue+2)
	}
	t.Logf("stopped after %d buffers: producer wrote %d (window %d, queue %d), %d buffers in use",
		read, written, window, queue, bufferCount(mem))
	// Resume: the rest in order, then EOF.
	readN(n - read)
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("after the last buffer: %v, want io.EOF", err)
	}
	if err := <-p.done; err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return bufferCount(mem) == 0 }) {
		t.Fatalf("BuffersInUse = %d after the end", bufferCount(mem))
	}
}

// TestCancelMidStream cancels the context a reader was opened with while
// the producer streams: Next fails promptly, the server closes its local
// reader (the producer's later writes are dropped instead of blocking) and
// no goroutine is left behind.
func TestCancelMidStream(t *testing.T) {
	ctx := testCtx(t)
	mem := shuffle.NewMemory(shuffle.MemoryConfig{QueueBuffers: 4})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{})
	c := dial(t, s.addr, remote.ClientOptions{})
	id := shuffle.PartitionID{Job: "j", Result: "r"}
	if _, err := c.Stat(ctx, shuffle.PartitionID{Job: "warm-up"}); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("warm-up Stat: %v", err)
	}
	base := runtime.NumGoroutine()

	octx, cancel := context.WithCancel(ctx)
	r, err := c.OpenReader(octx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	p := startProducer(ctx, t, mem, id, 3000, 4<<10)
	for i := range 50 {
		if _, err := r.Next(ctx); err != nil {
			t.Fatalf("buffer %d: %v", i, err)
		}
	}
	cancel()
	err = within(t, 2*time.Second, "Next after cancel", func() error {
		for {
			if _, err := r.Next(ctx); err != nil {
				return err
			}
		}
	})
	wantIs(t, err, context.Canceled)
	// The server's reader is closed: the producer is not blocked any more.
	if err := within(t, 5*time.Second, "producer after the consumer went away", func() error { return <-p.done }); err != nil {
		t.Fatalf("producer: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return bufferCount(mem) == 0 }) {
		t.Fatalf("BuffersInUse = %d after the reader went away", bufferCount(mem))
	}
	checkGoroutines(t, base)
}

// TestNextContext checks that a Next whose own context ends leaves the
// reader usable, and that Close of an idle reader leaves no goroutine.
func TestNextContext(t *testing.T) {
	ctx := testCtx(t)
	mem := shuffle.NewMemory(shuffle.MemoryConfig{})
	defer mem.Close()
	s := startServer(t, mem, remote.ServerOptions{})
	c := dial(t, s.addr, remote.ClientOptions{})
	id := shuffle.PartitionID{Job: "j", Result: "r"}
	base := runtime.NumGoroutine()
	r, err := c.OpenReader(ctx, id, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	w, err := mem.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Pipelined, Subpartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = r.Next(short)
	cancel()
	wantIs(t, err, context.DeadlineExceeded)
	if err := w.Write(ctx, 0, buf(0, 100)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := r.Next(ctx)
	if err != nil || !bytes.Equal(b, buf(0, 100)) {
		t.Fatalf("Next after a timed-out Next: %v", err)
	}
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("want io.EOF, got %v", err)
	}
	r.Close()
	if _, err := r.Next(ctx); err == nil || err == io.EOF {
		t.Fatalf("Next after Close: %v, want an error", err)
	}
	checkGoroutines(t, base)
}
