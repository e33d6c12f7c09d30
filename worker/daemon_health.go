package worker

import (
	"io"
	"net/http"
)

// healthRoutes adds the probes of the daemon's HTTP server: /healthz
// answers 200 while the process serves HTTP; /readyz answers 200 while the
// daemon is registered with the master and serving gRPC, 503 before it
// registered and once it is closing.
func (d *Daemon) healthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			http.Error(w, "not ready: not registered with the master", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
}
