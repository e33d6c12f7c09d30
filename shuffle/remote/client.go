package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"

	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/shufflepb"
)

// Client reads the partitions of a remote Server. It implements
// shuffle.Service for reads: OpenReader and Stat go to the server;
// CreateWriter and Release fail with ErrNotSupported. It is safe for
// concurrent use; its readers follow the shuffle.Reader rules.
//
// Failures wrap the shuffle sentinels as the server-side errors did (see
// Error); a server that cannot be reached within ConnectTimeout, or whose
// connection breaks, yields shuffle.ErrNotExist: its partitions are lost.
type Client struct {
	addr string
	conn *grpc.ClientConn
	rpc  shufflepb.ShuffleServiceClient
	opts ClientOptions
	log  *slog.Logger
	owns bool // Close closes conn

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	once    sync.Once
	mu      sync.Mutex     // orders readers.Add before Close's Wait
	readers sync.WaitGroup // receive goroutines of open readers
}

// errConnectTimeout is the cancellation cause when ConnectTimeout expires.
var errConnectTimeout = errors.New("shuffle/remote: connect timeout")

// Dial connects to the Server at addr ("host:port"). It waits until the
// connection is ready, at most until ctx is done or ConnectTimeout passed;
// an unreachable server yields an *Error wrapping shuffle.ErrNotExist. The
// Client owns the connection: Close closes it. Later connection failures
// are retried by gRPC and reported by the calls that need the connection.
func Dial(ctx context.Context, addr string, opts ClientOptions) (*Client, error) {
	c, err := newOwnedClient(addr, opts)
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// newOwnedClient creates a client and its connection without any I/O.
func newOwnedClient(addr string, opts ClientOptions) (*Client, error) {
	opts = opts.withDefaults()
	conn, err := grpc.NewClient(addr, opts.dialOptions()...)
	if err != nil {
		return nil, fmt.Errorf("shuffle/remote: connect to %s: %w", addr, err)
	}
	c := newClient(conn, opts)
	c.addr, c.owns = addr, true
	return c, nil
}

// NewClient returns a Client using conn, which the caller owns: Close ends
// the client's readers but leaves conn open. It is configured by the first
// of opts if any (the zero ClientOptions otherwise); only Window,
// Compression, ConnectTimeout, MaxBufferBytes and Logger apply, the dial
// options being the caller's.
func NewClient(conn *grpc.ClientConn, opts ...ClientOptions) *Client {
	var o ClientOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return newClient(conn, o.withDefaults())
}

func newClient(conn *grpc.ClientConn, opts ClientOptions) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		addr: conn.Target(), conn: conn, rpc: shufflepb.NewShuffleServiceClient(conn),
		opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel,
	}
}

// Addr returns the server address the client reads from.
func (c *Client) Addr() string { return c.addr }

// Close ends the client: open readers fail with shuffle.ErrClosed (their
// streams are cancelled), later calls fail with it too, and the connection
// is closed if Dial made it. Close is idempotent.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.cancel()
		c.mu.Unlock()
		c.readers.Wait()
		if c.owns {
			err = c.conn.Close()
		}
	})
	return err
}

func (c *Client) closed() bool { return c.ctx.Err() != nil }

// addReader registers a receive goroutine unless the client is closed.
func (c *Client) addReader() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed() {
		return false
	}
	c.readers.Add(1)
	return true
}

func (c *Client) closedErr(id shuffle.PartitionID) error {
	return localError(c.addr, id, codes.Canceled, "client closed: "+shuffle.ErrClosed.Error(), shuffle.ErrClosed)
}

func (c *Client) unreachable(id shuffle.PartitionID) error {
	state := c.conn.GetState()
	return localError(c.addr, id, codes.Unavailable,
		fmt.Sprintf("server unreachable within %v (connection %s): %v", c.opts.ConnectTimeout, state, shuffle.ErrNotExist),
		shuffle.ErrNotExist)
}

// waitReady waits until the connection is ready, at most ConnectTimeout.
func (c *Client) waitReady(ctx context.Context) error {
	tctx, cancel := context.WithTimeoutCause(ctx, c.opts.ConnectTimeout, errConnectTimeout)
	defer cancel()
	c.conn.Connect()
	for {
		s := c.conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if s == connectivity.Shutdown {
			return c.closedErr(shuffle.PartitionID{})
		}
		if !c.conn.WaitForStateChange(tctx, s) {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("shuffle/remote: connect to %s: %w", c.addr, err)
			}
			return c.unreachable(shuffle.PartitionID{})
		}
	}
}

// callErr converts the error of a call made with ctx, whose cause tells a
// local cancellation from a remote failure.
func (c *Client) callErr(ctx context.Context, id shuffle.PartitionID, err error) error {
	if c.closed() {
		return c.closedErr(id)
	}
	if e := (*Error)(nil); errors.As(err, &e) {
		return err
	}
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, errConnectTimeout) {
			return c.unreachable(id)
		}
		return fmt.Errorf("shuffle/remote: partition %s at %s: %w", id, c.addr, cause)
	}
	if e, ok := fromStatus(c.addr, id, err); ok {
		return e
	}
	return fmt.Errorf("shuffle/remote: partition %s at %s: %w", id, c.addr, err)
}

// CreateWriter implements shuffle.Service: it always fails with
// ErrNotSupported (or shuffle.ErrClosed after Close).
func (c *Client) CreateWriter(_ context.Context, id shuffle.PartitionID, _ shuffle.WriterOptions) (shuffle.Writer, error) {
	if c.closed() {
		return nil, c.closedErr(id)
	}
	return nil, fmt.Errorf("shuffle/remote: partition %s at %s: CreateWriter: %w", id, c.addr, ErrNotSupported)
}

// Release implements shuffle.Service: it always fails with ErrNotSupported
// (or shuffle.ErrClosed after Close). Partitions are released by the
// process that owns them.
func (c *Client) Release(_ context.Context, job string) error {
	if c.closed() {
		return fmt.Errorf("shuffle/remote: release job %s at %s: %w", job, c.addr, shuffle.ErrClosed)
	}
	return fmt.Errorf("shuffle/remote: release job %s at %s: %w", job, c.addr, ErrNotSupported)
}

// Stat implements shuffle.Service. The whole call is bounded by
// ConnectTimeout.
func (c *Client) Stat(ctx context.Context, id shuffle.PartitionID) (shuffle.Stat, error) {
	if c.closed() {
		return shuffle.Stat{}, c.closedErr(id)
	}
	tctx, cancel := context.WithTimeoutCause(ctx, c.opts.ConnectTimeout, errConnectTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	resp, err := c.rpc.Stat(tctx, &shufflepb.StatRequest{Partition: partitionToPB(id)}, grpc.WaitForReady(true))
	if err != nil {
		return shuffle.Stat{}, c.callErr(tctx, id, err)
	}
	return shuffle.Stat{
		Bytes: resp.GetBytes(), RawBytes: resp.GetRawBytes(), Buffers: resp.GetBuffers(),
		Subpartitions: int(resp.GetSubpartitions()), Files: int(resp.GetFiles()),
	}, nil
}
