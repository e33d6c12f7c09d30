package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
)

// errReaderClosed is the cancellation cause of a stream ended by
// reader.Close.
var errReaderClosed = errors.New("shuffle/remote: reader closed")

// OpenReader implements shuffle.Service. It opens a Read stream and returns
// once the server opened the range (so open errors such as an already
// consumed pipelined subpartition are returned here), within
// ConnectTimeout: an unreachable server yields shuffle.ErrNotExist.
//
// The stream lives until the reader is closed, fails, or ctx is done: like
// a gRPC stream it is bound to ctx, so cancelling ctx tears it down (the
// server stops reading and closes its local reader) and Next then fails
// with ctx's error. The ctx passed to Next bounds only that call; a Next
// whose ctx ends leaves the reader usable.
func (c *Client) OpenReader(ctx context.Context, id shuffle.PartitionID, from, to int) (shuffle.Reader, error) {
	if c.closed() {
		return nil, c.closedErr(id)
	}
	if from < 0 || to <= from {
		return nil, localError(c.addr, id, codes.InvalidArgument, fmt.Sprintf("invalid subpartition range [%d,%d)", from, to))
	}
	sctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.opts.ConnectTimeout, func() { cancel(errConnectTimeout) })
	stopClient := context.AfterFunc(c.ctx, func() { cancel(c.closedErr(id)) })
	fail := func(err error) (shuffle.Reader, error) {
		timer.Stop()
		err = c.callErr(sctx, id, err)
		cancel(errReaderClosed)
		stopClient()
		return nil, err
	}
	stream, err := c.rpc.Read(sctx, grpc.WaitForReady(true))
	if err != nil {
		return fail(err)
	}
	open := &shufflepb.OpenRequest{
		Partition: partitionToPB(id), From: int64(from), To: int64(to),
		Compression: c.opts.Compression.pb(),
	}
	if err := stream.Send(&shufflepb.ReadRequest{Open: open}); err != nil {
		// The real error is the stream's status, returned by Recv.
		if _, rerr := stream.Recv(); rerr != nil {
			err = rerr
		}
		return fail(err)
	}
	first, err := stream.Recv()
	if err != nil {
		return fail(err)
	}
	if !timer.Stop() {
		return fail(errConnectTimeout) // it fired: sctx is cancelled
	}
	opened := first.GetOpened()
	if opened == nil {
		return fail(localError(c.addr, id, codes.Internal, "protocol error: first message of the stream is not an open acknowledgement"))
	}
	if opened.GetCompression() == shufflepb.Compression_COMPRESSION_S2 && c.opts.Compression != CompressionS2 {
		return fail(localError(c.addr, id, codes.Internal, "protocol error: server chose a compression the client did not ask for"))
	}
	r := &reader{
		c: c, id: id, stream: stream, sctx: sctx, cancel: cancel, stopClient: stopClient,
		s2:     opened.GetCompression() == shufflepb.Compression_COMPRESSION_S2,
		msgs:   make(chan *shufflepb.ReadResponse, c.opts.Window),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
		batch:  max(1, c.opts.Window/2),
	}
	if !c.addReader() {
		return fail(c.closedErr(id))
	}
	go r.receive()
	return r, nil
}

// reader is the client side of one Read stream.
//
// A receive goroutine moves messages from the stream to msgs (it never
// blocks on msgs past the stream's end); Next takes them, reassembles
// chunks, decompresses and grants credit. A terminal error overtakes
// queued buffers, as a failed local pipelined partition drops its queue.
type reader struct {
	c          *Client
	id         shuffle.PartitionID
	stream     grpc.BidiStreamingClient[shufflepb.ReadRequest, shufflepb.ReadResponse]
	sctx       context.Context
	cancel     context.CancelCauseFunc
	stopClient func() bool
	s2         bool

	msgs   chan *shufflepb.ReadResponse
	failed chan struct{} // closed once err is set
	err    error
	done   chan struct{} // closed when receive returns
	once   sync.Once

	// Owned by the goroutine calling Next.
	window  int   // current credit window (slow start up to Window)
	batch   int   // grant credit in batches of at least this many buffers
	granted int64 // credits granted so far
	taken   int64 // buffers returned by Next so far
	pending int   // credit decided but not yet sent
	started bool  // Next was called
	eof     bool
	closed  bool

	asm        []byte // reassembly of chunked buffers
	assembling bool   // asm holds the first chunks of a buffer
	dec        []byte // decompressed buffer
}

// setErr records the stream's terminal error (the first one wins).
func (r *reader) setErr(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.failed)
	})
}

// receive runs until the stream ends.
func (r *reader) receive() {
	defer r.c.readers.Done()
	defer close(r.done)
	sawEnd := false
	for {
		m := new(shufflepb.ReadResponse)
		if err := r.stream.RecvMsg(m); err != nil {
			switch {
			case err == io.EOF && sawEnd:
			case err == io.EOF:
				r.setErr(localError(r.c.addr, r.id, codes.Internal, "stream ended before the end of the partition: "+shuffle.ErrNotExist.Error(), shuffle.ErrNotExist))
			default:
				e := r.c.callErr(r.sctx, r.id, err)
				if r.sctx.Err() == nil {
					r.c.log.Debug("shuffle/remote: read stream failed", "partition", r.id, "addr", r.c.addr, "err", e)
				}
				r.setErr(e)
			}
			return
		}
		sawEnd = sawEnd || m.GetEnd()
		select {
		case r.msgs <- m:
		case <-r.sctx.Done():
			r.setErr(r.c.callErr(r.sctx, r.id, r.sctx.Err()))
			return
		}
	}
}

// grant sends the pending credit, if any.
func (r *reader) grant() {
	if r.pending == 0 {
		return
	}
	n := r.pending
	r.pending = 0
	r.granted += int64(n)
	// A failed Send means the stream is broken; receive reports why.
	_ = r.stream.Send(&shufflepb.ReadRequest{Credit: uint32(n)})
}

// recv returns the next message, granting the pending credit before it
// waits so the server is never left without credit while Next waits.
func (r *reader) recv(ctx context.Context) (*shufflepb.ReadResponse, error) {
	select {
	case <-r.failed:
		return nil, r.err
	default:
	}
	select {
	case m := <-r.msgs:
		return m, nil
	default:
	}
	r.grant()
	select {
	case m := <-r.msgs:
		return m, nil
	case <-r.failed:
		return nil, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Next implements shuffle.Reader.
func (r *reader) Next(ctx context.Context) ([]byte, error) {
	if r.closed {
		return nil, fmt.Errorf("shuffle/remote: partition %s at %s: reader closed", r.id, r.c.addr)
	}
	if r.eof {
		return nil, io.EOF
	}
	if !r.assembling {
		r.release()
	}
	if !r.started {
		// The consumer starts: the window opens at one buffer.
		r.started, r.window = true, 1
	}
	// Return the credit of the buffer consumed since the last call, and
	// of the window's growth.
	if free := r.window - int(r.granted+int64(r.pending)-r.taken); free > 0 {
		r.pending += free
	}
	if r.pending >= r.batch {
		r.grant()
	}
	for {
		m, err := r.recv(ctx)
		if err != nil {
			return nil, err
		}
		if m.GetEnd() {
			r.eof = true
			return nil, io.EOF
		}
		if m.GetOpened() != nil {
			return nil, r.protocolErr("unexpected open acknowledgement")
		}
		data := m.GetData()
		if m.GetMore() || r.assembling {
			if len(r.asm)+len(data) > r.c.opts.MaxBufferBytes {
				return nil, r.protocolErr(fmt.Sprintf("buffer larger than MaxBufferBytes (%d)", r.c.opts.MaxBufferBytes))
			}
			r.asm = append(r.asm, data...)
			if r.assembling = m.GetMore(); r.assembling {
				continue
			}
			data = r.asm
		}
		r.taken++
		if r.taken > r.granted {
			return nil, r.protocolErr("server sent more buffers than it had credit for")
		}
		if r.window < r.c.opts.Window {
			r.window++ // slow start
		}
		if m.GetCompressed() {
			if !r.s2 {
				return nil, r.protocolErr("compressed buffer on an uncompressed stream")
			}
			if data, err = r.decode(data); err != nil {
				return nil, err
			}
		}
		if data == nil {
			data = []byte{}
		}
		return data, nil
	}
}

// release drops references to the previous buffer's scratch space, keeping
// the scratch buffers unless they grew large.
func (r *reader) release() {
	if cap(r.asm) > retainBytes {
		r.asm = nil
	}
	r.asm = r.asm[:0]
	if cap(r.dec) > retainBytes {
		r.dec = nil
	}
}

func (r *reader) decode(src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, r.corrupt(err)
	}
	if n > r.c.opts.MaxBufferBytes {
		return nil, r.protocolErr(fmt.Sprintf("buffer larger than MaxBufferBytes (%d)", r.c.opts.MaxBufferBytes))
	}
	if cap(r.dec) < n {
		r.dec = make([]byte, n)
	}
	out, err := s2.Decode(r.dec[:n], src)
	if err != nil {
		return nil, r.corrupt(err)
	}
	return out, nil
}

// corrupt fails the reader with shuffle.ErrCorrupt.
func (r *reader) corrupt(err error) error {
	e := localError(r.c.addr, r.id, codes.DataLoss, fmt.Sprintf("undecodable buffer: %v: %v", err, shuffle.ErrCorrupt), shuffle.ErrCorrupt)
	r.setErr(e)
	r.cancel(e)
	return e
}

// protocolErr fails the reader with a protocol violation.
func (r *reader) protocolErr(msg string) error {
	e := localError(r.c.addr, r.id, codes.Internal, "protocol error: "+msg)
	r.setErr(e)
	r.cancel(e)
	return e
}

// Close implements shuffle.Reader: it cancels the stream (the server closes
// its local reader, so a pipelined producer's later writes to the range are
// dropped) and waits for the receive goroutine.
func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.cancel(errReaderClosed)
	r.stopClient()
	<-r.done
	r.asm, r.dec = nil, nil
	return nil
}
