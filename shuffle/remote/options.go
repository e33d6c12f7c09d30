package remote

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/dagflow/dagflow/shuffle/shufflepb"
)

// Compression selects the per-buffer compression of a read stream on the
// wire. The client asks for one; the server may refuse (then buffers travel
// uncompressed) and, per buffer, sends it uncompressed when compression does
// not make it smaller.
type Compression uint8

const (
	// CompressionNone sends buffers as they are (the default).
	CompressionNone Compression = iota
	// CompressionS2 compresses each buffer with S2 (klauspost/compress),
	// worth it for pipelined data crossing a real network; blocking
	// partitions are already compressed on disk but are read decoded, so it
	// helps there too.
	CompressionS2
)

// String returns "none" or "s2".
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionS2:
		return "s2"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

func (c Compression) pb() shufflepb.Compression {
	if c == CompressionS2 {
		return shufflepb.Compression_COMPRESSION_S2
	}
	return shufflepb.Compression_COMPRESSION_NONE
}

// Defaults and limits of ClientOptions and ServerOptions.
const (
	// DefaultWindow is the default ClientOptions.Window, in buffers.
	DefaultWindow = 8
	// MaxWindow is the largest window: a client granting more outstanding
	// credits than this breaks the protocol.
	MaxWindow = 1 << 12
	// DefaultConnectTimeout is the default ClientOptions.ConnectTimeout.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultMaxBufferBytes is the default ClientOptions.MaxBufferBytes.
	DefaultMaxBufferBytes = 1 << 30
	// DefaultChunkBytes is the default ServerOptions.ChunkBytes.
	DefaultChunkBytes = 1 << 20
	// MinChunkBytes is the smallest ServerOptions.ChunkBytes.
	MinChunkBytes = 1 << 10
	// MaxChunkBytes is the largest ServerOptions.ChunkBytes: it keeps every
	// message well under gRPC's default 4 MiB receive limit, so neither
	// side needs to raise it.
	MaxChunkBytes = 3 << 20

	// keepaliveTimeout is how long a keepalive ping may go unanswered
	// before the connection is declared dead.
	keepaliveTimeout = 10 * time.Second
	// minCompressBytes: smaller buffers are sent uncompressed.
	minCompressBytes = 64
	// retainBytes bounds the scratch buffers a stream keeps between
	// buffers; larger ones are dropped after use.
	retainBytes = 4 << 20
)

// ClientOptions configure a Client (and every client of a Resolver). The
// zero value is usable.
type ClientOptions struct {
	// Window is the credit window of each read stream: how many buffers
	// the server may send ahead of the consumer (in flight or queued at the
	// client, not counting the one the consumer holds). Credit is first
	// granted when the consumer first calls Next and grows by one buffer per
	// consumed buffer up to Window (slow start), so a reader that is opened
	// but not read, or read slowly, does not drain the producer's queue.
	// Zero means DefaultWindow; at most MaxWindow.
	Window int
	// Compression is asked for on every read stream.
	Compression Compression
	// ConnectTimeout bounds connecting to the server and opening a stream
	// (and a whole Stat call); past it the partition is reported lost
	// (shuffle.ErrNotExist). Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxBufferBytes bounds the size of one received buffer (after
	// decompression). Zero means DefaultMaxBufferBytes (1 GiB, the largest
	// record Local stores).
	MaxBufferBytes int
	// KeepaliveTime, if positive, is the interval of HTTP/2 keepalive
	// pings while streams are open, so a server that vanished without
	// closing its connections fails the readers within KeepaliveTime + 10s.
	// The server must permit pings that often (NewGRPCServer permits every
	// 5s; a default grpc.Server answers pings more frequent than every 5
	// minutes by closing the connection, which fails every stream on it).
	// Zero disables pings: a vanished server is then detected by TCP
	// keepalive, which the default dialer sets to fail a silent connection
	// after about 30s (idle 15s, then 3 probes 5s apart).
	KeepaliveTime time.Duration
	// DialOptions are appended to the defaults (insecure transport, a
	// dialer with TCP keepalive, bounded connect backoff, HTTP/2 keepalive,
	// buffer sizes), so they override them: pass
	// grpc.WithTransportCredentials for TLS and grpc.WithPerRPCCredentials
	// or interceptors for a token.
	DialOptions []grpc.DialOption
	// Creds, when set, are the transport credentials (e.g. mutual TLS from
	// internal/tlsconfig) instead of the insecure default.
	Creds credentials.TransportCredentials
	// Logger receives debug messages; nil means slog.Default().
	Logger *slog.Logger
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	o.Window = min(o.Window, MaxWindow)
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.MaxBufferBytes <= 0 {
		o.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// dialOptions returns the defaults followed by the caller's options.
func (o ClientOptions) dialOptions() []grpc.DialOption {
	maxDelay := min(o.ConnectTimeout, 5*time.Second)
	// gRPC's own dialer leaves TCP keepalive at the OS defaults (on Linux
	// the first probe after two hours): a server host that vanished would
	// hang readers for that long.
	dialer := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3,
	}}
	creds := o.Creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  min(100*time.Millisecond, maxDelay),
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   maxDelay,
			},
			MinConnectTimeout: o.ConnectTimeout,
		}),
		grpc.WithReadBufferSize(256 << 10),
		grpc.WithWriteBufferSize(64 << 10),
	}
	if o.KeepaliveTime > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    o.KeepaliveTime,
			Timeout: keepaliveTimeout,
		}))
	}
	return append(opts, o.DialOptions...)
}

// ServerOptions configure a Server. The zero value is usable.
type ServerOptions struct {
	// ChunkBytes is the largest payload of one message: larger buffers
	// (after compression) are split into chunks and reassembled by the
	// client. Zero means DefaultChunkBytes; values are clamped to
	// [MinChunkBytes, MaxChunkBytes].
	ChunkBytes int
	// DisableCompression makes the server refuse the compression clients
	// ask for (saving its CPU; buffers then travel uncompressed).
	DisableCompression bool
	// Logger receives debug and warning messages; nil means slog.Default().
	Logger *slog.Logger
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.ChunkBytes == 0 {
		o.ChunkBytes = DefaultChunkBytes
	}
	o.ChunkBytes = min(max(o.ChunkBytes, MinChunkBytes), MaxChunkBytes)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// NewGRPCServer returns a *grpc.Server with the settings remote reads want
// (keepalive pings to clients, enforcement that accepts the clients' pings
// down to every 5s, larger transport buffers), followed by extra, e.g. grpc.Creds for TLS or interceptors that
// check a shared token. Register a Server on it with Server.Register.
func NewGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             5 * time.Second,
			PermitWithoutStream: true,
		}),
		// Ping idle clients, so streams of vanished clients end (and
		// release their local readers) within about 40s.
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    30 * time.Second,
			Timeout: keepaliveTimeout,
		}),
		grpc.ReadBufferSize(64 << 10),
		grpc.WriteBufferSize(256 << 10),
	}
	return grpc.NewServer(append(opts, extra...)...)
}
