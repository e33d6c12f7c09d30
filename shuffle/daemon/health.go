package daemon

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// healthServer serves the daemon's probes: /healthz answers 200 while the
// process serves HTTP; /readyz answers 200 once the daemon serves gRPC
// and, with a master, is registered with it, and 503 before and while
// closing. A nil *healthServer (no Config.HTTP) does nothing.
type healthServer struct {
	lis   net.Listener
	srv   *http.Server
	ready atomic.Bool
}

func startHealth(addr string) (*healthServer, error) {
	if addr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("shuffle daemon: listen on %s: %w", addr, err)
	}
	h := &healthServer{lis: lis}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, "not ready: not registered with the master", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(lis)
	return h, nil
}

func (h *healthServer) setReady(ok bool) {
	if h != nil {
		h.ready.Store(ok)
	}
}

func (h *healthServer) close() {
	if h != nil {
		h.ready.Store(false)
		h.srv.Close()
	}
}

// HTTPAddr returns the address /healthz and /readyz are served on (""
// without Config.HTTP).
func (d *Daemon) HTTPAddr() string {
	if d.http == nil {
		return ""
	}
	return d.http.lis.Addr().String()
}
