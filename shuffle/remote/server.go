package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
)

// Server serves reads of a local shuffle.Service's partitions to remote
// Clients. Register it on a *grpc.Server the caller owns (and serves,
// secures and stops).
//
// Each Read stream opens one shuffle.Reader on the local service and pulls a
// buffer from it only when the client has granted a credit, so a slow or
// stalled consumer stops the pulling and the producer's bounded pipelined
// queue back-pressures the producer. A stream holds one reader, at most one
// buffer of it, and a compression scratch buffer.
type Server struct {
	svc  shuffle.Service
	opts ServerOptions
	log  *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
}

// errServerClosed is the cancellation cause of streams ended by Close.
var errServerClosed = fmt.Errorf("server closed: %w", shuffle.ErrClosed)

// NewServer returns a Server reading from svc, configured by the first of
// opts if any (the zero ServerOptions otherwise). Invalid options are
// clamped to their ranges (see ServerOptions).
func NewServer(svc shuffle.Service, opts ...ServerOptions) *Server {
	var o ServerOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{svc: svc, opts: o, log: o.Logger, ctx: ctx, cancel: cancel}
}

// Register registers the ShuffleService on reg (usually a *grpc.Server; see
// NewGRPCServer for recommended settings).
func (s *Server) Register(reg grpc.ServiceRegistrar) {
	shufflepb.RegisterShuffleServiceServer(reg, &service{s: s})
}

// Close ends every active Read stream with an error that wraps
// shuffle.ErrClosed and shuffle.ErrNotExist on the client and makes new
// calls fail the same way. It does not wait: a handler ends as soon as it
// is not blocked sending to its client (one stuck on a client that stopped
// reading ends when grpc.Server.Stop closes the connection). It does not
// close the local service or the grpc.Server; call it before
// grpc.Server.GracefulStop, which would otherwise wait for long-lived
// pipelined streams.
func (s *Server) Close() error {
	s.cancel()
	return nil
}

// enter fails once the server is closed.
func (s *Server) enter() error {
	if s.ctx.Err() != nil {
		return toStatus(errServerClosed)
	}
	return nil
}

// service implements shufflepb.ShuffleServiceServer for a Server.
type service struct {
	shufflepb.UnimplementedShuffleServiceServer
	s *Server
}

func partitionFromPB(p *shufflepb.PartitionID) (shuffle.PartitionID, error) {
	if p == nil {
		return shuffle.PartitionID{}, errors.New("missing partition id")
	}
	if p.GetProducer() < math.MinInt32 || p.GetProducer() > math.MaxInt32 || p.GetAttempt() < math.MinInt32 || p.GetAttempt() > math.MaxInt32 {
		return shuffle.PartitionID{}, fmt.Errorf("partition id %s/%s/%d.%d out of range", p.GetJob(), p.GetResult(), p.GetProducer(), p.GetAttempt())
	}
	return shuffle.PartitionID{Job: p.GetJob(), Result: p.GetResult(), Producer: int(p.GetProducer()), Attempt: int(p.GetAttempt())}, nil
}

func partitionToPB(id shuffle.PartitionID) *shufflepb.PartitionID {
	return &shufflepb.PartitionID{Job: id.Job, Result: id.Result, Producer: int64(id.Producer), Attempt: int64(id.Attempt)}
}

// Stat implements shufflepb.ShuffleServiceServer.
func (g *service) Stat(ctx context.Context, req *shufflepb.StatRequest) (*shufflepb.StatResponse, error) {
	s := g.s
	if err := s.enter(); err != nil {
		return nil, err
	}
	id, err := partitionFromPB(req.GetPartition())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	st, err := s.svc.Stat(ctx, id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &shufflepb.StatResponse{
		Bytes: st.Bytes, RawBytes: st.RawBytes, Buffers: st.Buffers,
		Subpartitions: int64(st.Subpartitions), Files: int64(st.Files),
	}, nil
}

// credits is the server side of a stream's flow control: the buffers the
// client allows the server to send.
type credits struct {
	n      atomic.Int64
	signal chan struct{} // capacity 1: credit arrived
}

func (c *credits) add(n uint32) int64 {
	v := c.n.Add(int64(n))
	select {
	case c.signal <- struct{}{}:
	default:
	}
	return v
}

// Read implements shufflepb.ShuffleServiceServer.
func (g *service) Read(stream grpc.BidiStreamingServer[shufflepb.ReadRequest, shufflepb.ReadResponse]) error {
	s := g.s
	if err := s.enter(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	stop := context.AfterFunc(s.ctx, func() { cancel(errServerClosed) })
	defer stop()

	req, err := stream.Recv()
	if err != nil {
		return err
	}
	open := req.GetOpen()
	if open == nil {
		return status.Error(codes.InvalidArgument, "shuffle/remote: the first message of a Read stream must open a partition")
	}
	id, err := partitionFromPB(open.GetPartition())
	if err != nil {
		return status.Error(codes.InvalidArgument, "shuffle/remote: "+err.Error())
	}
	from, to := open.GetFrom(), open.GetTo()
	if from < 0 || to <= from || to > math.MaxInt32 {
		return status.Errorf(codes.InvalidArgument, "shuffle/remote: partition %s: invalid subpartition range [%d,%d)", id, from, to)
	}
	r, err := s.svc.OpenReader(ctx, id, int(from), int(to))
	if err != nil {
		return s.endErr(ctx, id, err)
	}
	st := &readStream{
		s: s, id: id, stream: stream, r: r,
		cr: credits{signal: make(chan struct{}, 1)},
	}
	defer st.closeReader()
	comp := shufflepb.Compression_COMPRESSION_NONE
	if open.GetCompression() == shufflepb.Compression_COMPRESSION_S2 && !s.opts.DisableCompression {
		comp = shufflepb.Compression_COMPRESSION_S2
	}
	st.s2 = comp == shufflepb.Compression_COMPRESSION_S2
	if err := stream.Send(&shufflepb.ReadResponse{Opened: &shufflepb.Opened{Compression: comp}}); err != nil {
		return err
	}
	if st.cr.add(req.GetCredit()) > MaxWindow {
		return status.Errorf(codes.InvalidArgument, "shuffle/remote: partition %s: client granted more than %d credits", id, MaxWindow)
	}
	go st.recvCredits(cancel)
	return st.run(ctx)
}

// endErr is the status a handler ends with after err: the server's own
// shutdown, the cause of a cancellation, or err itself.
func (s *Server) endErr(ctx context.Context, id shuffle.PartitionID, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, errServerClosed) {
			return toStatus(cause)
		}
		if st, ok := status.FromError(cause); ok {
			return st.Err() // a protocol violation detected by recvCredits
		}
		return status.FromContextError(ctx.Err()).Err()
	}
	return toStatus(err)
}

// readStream is the server side of one Read stream.
type readStream struct {
	s      *Server
	id     shuffle.PartitionID
	stream grpc.BidiStreamingServer[shufflepb.ReadRequest, shufflepb.ReadResponse]
	r      shuffle.Reader
	cr     credits
	s2     bool
	enc    []byte // compression scratch
}

func (st *readStream) closeReader() {
	if st.r != nil {
		_ = st.r.Close()
		st.r = nil
	}
}

// recvCredits adds the credits the client grants until the stream ends. A
// protocol violation cancels the handler with a status as the cause. It
// returns when the client half-closes (no more credit will come) or the
// stream ends.
func (st *readStream) recvCredits(cancel context.CancelCauseFunc) {
	for {
		req, err := st.stream.Recv()
		if err != nil {
			if err != io.EOF {
				cancel(err)
			}
			return
		}
		if req.GetOpen() != nil {
			cancel(status.Errorf(codes.InvalidArgument, "shuffle/remote: partition %s: second open on one stream", st.id))
			return
		}
		if st.cr.add(req.GetCredit()) > MaxWindow {
			cancel(status.Errorf(codes.InvalidArgument, "shuffle/remote: partition %s: client granted more than %d credits", st.id, MaxWindow))
			return
		}
	}
}

// run pulls a buffer from the local reader whenever the client has credit
// and sends it, until the end of the range or an error.
func (st *readStream) run(ctx context.Context) error {
	for {
		for st.cr.n.Load() <= 0 {
			select {
			case <-st.cr.signal:
			case <-ctx.Done():
				return st.s.endErr(ctx, st.id, ctx.Err())
			}
		}
		buf, err := st.r.Next(ctx)
		if err == io.EOF {
			// Release the local reader (and the buffer it holds) before
			// the client learns of the end.
			st.closeReader()
			return st.stream.Send(&shufflepb.ReadResponse{End: true})
		}
		if err != nil {
			if ctx.Err() != nil {
				return st.s.endErr(ctx, st.id, err)
			}
			st.s.log.Debug("shuffle/remote: read failed", "partition", st.id, "err", err)
			return toStatus(err)
		}
		if err := st.send(buf); err != nil {
			return err
		}
		st.cr.n.Add(-1)
	}
}

// send sends one buffer, compressed if negotiated and worth it, in chunks
// of at most ChunkBytes.
func (st *readStream) send(buf []byte) error {
	payload, compressed := buf, false
	if st.s2 && len(buf) >= minCompressBytes {
		if n := s2.MaxEncodedLen(len(buf)); n > 0 {
			if cap(st.enc) < n {
				st.enc = make([]byte, n)
			}
			if enc := s2.Encode(st.enc[:n], buf); len(enc) < len(buf) {
				payload, compressed = enc, true
			}
		}
	}
	chunk := st.s.opts.ChunkBytes
	for {
		n := min(len(payload), chunk)
		more := n < len(payload)
		// The message aliases payload: the codec marshals it before Send
		// returns.
		if err := st.stream.Send(&shufflepb.ReadResponse{Data: payload[:n], More: more, Compressed: compressed}); err != nil {
			return err
		}
		if !more {
			break
		}
		payload = payload[n:]
	}
	if cap(st.enc) > retainBytes {
		st.enc = nil
	}
	return nil
}
