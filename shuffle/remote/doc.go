// Package remote reads shuffle partitions across processes over gRPC.
//
// It owns:
//
//   - Server: exposes the partitions of a worker's local shuffle.Service
//     (usually a *shuffle.Local) on a *grpc.Server the caller owns, through
//     the ShuffleService of package shufflepb: a bidi-streaming Read with
//     credit-based flow control and a unary Stat.
//   - Client: a shuffle.Service for reads (OpenReader, Stat) of one remote
//     Server; writes and Release are not supported remotely.
//   - Resolver: one cached Client per "host:port" location, for the
//     worker's ShuffleResolver.
//
// # Flow control
//
// The client grants credits, one per buffer it can receive; the server
// pulls a buffer from its local reader only when it holds a credit, so a
// consumer that stops reading stops the server pulling and the producer's
// bounded pipelined queue back-pressures the producer, with at most the
// credit window of buffers in flight per stream. README.md describes the
// protocol with a sequence diagram.
//
// # Errors
//
// Errors cross the wire as gRPC status codes with an ErrorDetail naming
// the shuffle sentinels they wrap, so errors.Is(err, shuffle.ErrNotExist),
// ErrCorrupt, ErrAborted and ErrClosed hold on the client (see Error). A
// server that is unreachable within ClientOptions.ConnectTimeout, or whose
// connection breaks, yields shuffle.ErrNotExist: its partitions are lost
// and the scheduler reruns their producers.
//
// # Security
//
// None yet: ClientOptions.DialOptions and the grpc.Server's options (see
// NewGRPCServer) take TLS credentials and token interceptors.
package remote
