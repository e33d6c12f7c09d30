package remote

import (
	"fmt"
	"net"
	"sync"

	"github.com/dagflow/dagflow/shuffle"
)

// Resolver maps partition locations ("host:port" of a worker's Server) to
// Clients, one per address, created on first use and cached. It suits the
// worker's ShuffleResolver interface. Resolve does no I/O: connecting
// happens in the Client's calls, bounded by ConnectTimeout, so an
// unreachable address surfaces as shuffle.ErrNotExist from OpenReader or
// Stat. It is safe for concurrent use.
type Resolver struct {
	opts ClientOptions

	mu      sync.Mutex
	closed  bool
	clients map[string]*Client
}

// NewResolver returns a Resolver whose clients use the first of opts if
// any (the zero ClientOptions otherwise).
func NewResolver(opts ...ClientOptions) *Resolver {
	var o ClientOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	return &Resolver{opts: o, clients: make(map[string]*Client)}
}

// Resolve returns the service at location. The returned service is shared:
// its Close does nothing (Resolver.Close closes it).
func (r *Resolver) Resolve(location string) (shuffle.Service, error) {
	if _, _, err := net.SplitHostPort(location); err != nil {
		return nil, fmt.Errorf("shuffle/remote: invalid location %q: %w", location, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("shuffle/remote: resolve %s: resolver closed: %w", location, shuffle.ErrClosed)
	}
	c := r.clients[location]
	if c == nil {
		var err error
		if c, err = newOwnedClient(location, r.opts); err != nil {
			return nil, err
		}
		r.clients[location] = c
	}
	return sharedClient{c}, nil
}

// Close closes every client: their open readers fail with
// shuffle.ErrClosed, and later Resolve calls fail too.
func (r *Resolver) Close() error {
	r.mu.Lock()
	clients := r.clients
	r.clients, r.closed = nil, true
	r.mu.Unlock()
	var first error
	for _, c := range clients {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// sharedClient is a Client handed out by a Resolver; only the Resolver
// closes it.
type sharedClient struct{ *Client }

// Close does nothing: the Resolver owns the client.
func (sharedClient) Close() error { return nil }
