package master

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

type serverMetrics struct {
	jobsSubmitted atomic.Int64
	taskFailures  atomic.Int64
	workersLost   atomic.Int64
	// shuffleDaemonsLost counts external shuffle daemons that died or
	// restarted.
	shuffleDaemonsLost atomic.Int64
}

func newServerMetrics() *serverMetrics { return &serverMetrics{} }

// httpHandler serves the REST API and Prometheus metrics:
//
//	GET /api/jobs        job list (JSON)
//	GET /api/jobs/{id}   job status (JSON)
//	GET /metrics         Prometheus text format
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.listJobs())
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		j, err := s.job(r.PathValue("id"))
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusNotFound)
			return
		}
		writeJSON(w, s.status(j))
	})
	mux.HandleFunc("GET /api/workers", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		type wk struct {
			Name  string `json:"name"`
			Addr  string `json:"address"`
			Slots int    `json:"slots"`
		}
		var out []wk
		for _, n := range sortedStatusNames(s.workers) {
			out = append(out, wk{n, s.workers[n].addr, s.workers[n].slots})
		}
		s.mu.Unlock()
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /metrics", s.serveMetrics)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// serveMetrics writes Prometheus' text exposition format.
func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	var b strings.Builder
	metric := func(name, help, typ string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	s.mu.Lock()
	workers, shuffles := len(s.workers), len(s.shuffles)
	s.mu.Unlock()
	metric("dagflow_workers", "Registered live workers.", "gauge")
	fmt.Fprintf(&b, "dagflow_workers %d\n", workers)
	metric("dagflow_jobs_submitted_total", "Jobs submitted.", "counter")
	fmt.Fprintf(&b, "dagflow_jobs_submitted_total %d\n", s.metrics.jobsSubmitted.Load())
	metric("dagflow_task_failures_total", "Task attempts that failed.", "counter")
	fmt.Fprintf(&b, "dagflow_task_failures_total %d\n", s.metrics.taskFailures.Load())
	metric("dagflow_workers_lost_total", "Workers declared lost.", "counter")
	fmt.Fprintf(&b, "dagflow_workers_lost_total %d\n", s.metrics.workersLost.Load())
	metric("dagflow_shuffle_daemons", "Registered live external shuffle daemons.", "gauge")
	fmt.Fprintf(&b, "dagflow_shuffle_daemons %d\n", shuffles)
	metric("dagflow_shuffle_daemons_lost_total", "External shuffle daemons declared lost (died or restarted).", "counter")
	fmt.Fprintf(&b, "dagflow_shuffle_daemons_lost_total %d\n", s.metrics.shuffleDaemonsLost.Load())
	jobs := s.listJobs()
	metric("dagflow_job_restarts_total", "Region restarts per job.", "counter")
	for _, j := range jobs {
		fmt.Fprintf(&b, "dagflow_job_restarts_total{job=%q,state=%q} %d\n", j.ID, j.State, j.Restarts)
	}
	statuses := make([]JobStatus, 0, len(jobs))
	for _, j := range jobs {
		if jb, err := s.job(j.ID); err == nil {
			statuses = append(statuses, s.status(jb))
		}
	}
	family := func(name, help, typ string, value func(VertexStatus) string) {
		metric(name, help, typ)
		for _, st := range statuses {
			for _, v := range st.Vertices {
				fmt.Fprintf(&b, "%s{job=%q,vertex=%q} %s\n", name, st.ID, v.Name, value(v))
			}
		}
	}
	family("dagflow_vertex_records_in_total", "Records into a vertex.", "counter", func(v VertexStatus) string { return fmt.Sprint(v.RecordsIn) })
	family("dagflow_vertex_records_out_total", "Records out of a vertex.", "counter", func(v VertexStatus) string { return fmt.Sprint(v.RecordsOut) })
	family("dagflow_vertex_bytes_out_total", "Encoded bytes a vertex wrote to network edges.", "counter", func(v VertexStatus) string { return fmt.Sprint(v.BytesOut) })
	family("dagflow_vertex_backpressure_seconds_total", "Time a vertex was blocked on full exchange queues.", "counter",
		func(v VertexStatus) string { return fmt.Sprintf("%g", float64(v.BackPressureNanos)/1e9) })
	metric("dagflow_shuffle_buffers_in_use", "Exchange buffers queued in a worker's pipelined partitions of a job.", "gauge")
	for _, st := range statuses {
		for _, w := range st.Workers {
			fmt.Fprintf(&b, "dagflow_shuffle_buffers_in_use{job=%q,worker=%q} %d\n", st.ID, w.Name, w.BuffersInUse)
		}
	}
	metric("dagflow_shuffle_buffers_in_use_peak", "Peak exchange buffers queued in a worker's pipelined partitions of a job.", "gauge")
	for _, st := range statuses {
		for _, w := range st.Workers {
			fmt.Fprintf(&b, "dagflow_shuffle_buffers_in_use_peak{job=%q,worker=%q} %d\n", st.ID, w.Name, w.PeakBuffersInUse)
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Write([]byte(b.String()))
}
