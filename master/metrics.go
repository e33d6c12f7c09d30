package master

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serverMetrics is one master daemon's Prometheus registry and the
// counters its RPC handlers bump. Values that live in job status
// snapshots are read at scrape time by a jobCollector.
type serverMetrics struct {
	reg           *prometheus.Registry
	jobsSubmitted prometheus.Counter
	taskFailures  prometheus.Counter
	workersLost   prometheus.Counter
	// shuffleDaemonsLost counts external shuffle daemons that died or
	// restarted.
	shuffleDaemonsLost prometheus.Counter
	// jobsRecovered and jobsNotRecovered count jobs a new HA leader
	// restarted, or could not, after a leader change.
	jobsRecovered, jobsNotRecovered prometheus.Counter
	// reconcileFallbacks counts recovered jobs whose running tasks the new
	// leader could not adopt: they restarted from their latest checkpoint.
	reconcileFallbacks prometheus.Counter
	// jobs holds the per-job histograms and checkpoint counters.
	jobs *JobMetrics
}

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{
		reg: prometheus.NewRegistry(),
		jobsSubmitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "dagflow_jobs_submitted_total",
			Help: "Jobs submitted to the master."}),
		taskFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "dagflow_task_failures_total",
			Help: "Task attempts that failed (cancellations are not failures)."}),
		workersLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "dagflow_workers_lost_total",
			Help: "Workers declared lost (stopped gossiping or re-registered after a restart)."}),
		shuffleDaemonsLost: prometheus.NewCounter(prometheus.CounterOpts{Name: "dagflow_shuffle_daemons_lost_total",
			Help: "External shuffle daemons declared lost (died or restarted)."}),
		jobsRecovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "dagflow_jobs_recovered_total",
			Help: "Jobs this master restarted after it became the HA leader."}),
		jobsNotRecovered: prometheus.NewCounter(prometheus.CounterOpts{Name: "dagflow_jobs_not_recovered_total",
			Help: "Jobs this master could not restart after it became the HA leader."}),
		reconcileFallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "dagflow_jobs_reconcile_fallbacks_total",
			Help: "Recovered jobs whose running tasks this HA leader could not adopt: they restarted from their latest checkpoint."}),
		jobs: NewJobMetrics(),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.jobsSubmitted, m.taskFailures, m.workersLost, m.shuffleDaemonsLost,
		m.jobsRecovered, m.jobsNotRecovered, m.reconcileFallbacks,
		m.jobs,
		newJobCollector(s),
	)
	return m
}

// httpHandler serves the REST API and Prometheus metrics:
//
//	GET /api/jobs        job list (JSON)
//	GET /api/jobs/{id}   job status (JSON)
//	GET /api/workers     registered workers (JSON)
//	GET /metrics         Prometheus exposition formats
func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.listJobs())
	})
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.forgetJobs()
		j, err := s.job(r.PathValue("id"))
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
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
	s.registerUI(mux)
	metrics := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slogPrintln{s.log}, ErrorHandling: promhttp.ContinueOnError})
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.forgetJobs()
		metrics.ServeHTTP(w, r)
	}))
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// slogPrintln adapts a slog.Logger to promhttp.Logger.
type slogPrintln struct{ log *slog.Logger }

// Println implements promhttp.Logger.
func (l slogPrintln) Println(v ...any) {
	l.log.Warn("metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// JobObserver receives the events of one job that metrics count. The job
// master calls it from its own goroutine; implementations must not block.
type JobObserver interface {
	// CheckpointFinished is called once per checkpoint or savepoint that
	// completed or was aborted (declined and expired ones included).
	CheckpointFinished(st CheckpointStats)
	// TaskDeployed is called when a worker accepted a task attempt, with
	// the time since the scheduler decided to deploy it.
	TaskDeployed(latency time.Duration)
}

// Checkpoint results of dagflow_checkpoints_total.
const (
	CheckpointCompleted = "completed"
	CheckpointAborted   = "aborted"
	CheckpointDeclined  = "declined"
	CheckpointExpired   = "expired"
)

// CheckpointResult classifies a finished checkpoint for
// dagflow_checkpoints_total: completed, declined (a task refused it),
// expired (timed out) or aborted (any other reason).
func CheckpointResult(st CheckpointStats) string {
	switch {
	case st.Status == "completed":
		return CheckpointCompleted
	case strings.Contains(st.Reason, " declined: "):
		return CheckpointDeclined
	case strings.HasPrefix(st.Reason, "timed out after "):
		return CheckpointExpired
	default:
		return CheckpointAborted
	}
}

// JobMetrics holds the event-driven metrics of jobs: checkpoint durations
// and results, and task deployment latency, each labelled by job. It is a
// prometheus.Collector; Forget removes a job's series.
type JobMetrics struct {
	ckptDuration *prometheus.HistogramVec
	ckpts        *prometheus.CounterVec
	deploy       *prometheus.HistogramVec
}

// NewJobMetrics returns empty job metrics; register them with a
// prometheus.Registerer and hand Observer(job) to each job's JobConfig.
func NewJobMetrics() *JobMetrics {
	return &JobMetrics{
		ckptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dagflow_checkpoint_duration_seconds",
			Help:    "Time from triggering a checkpoint (or savepoint) to its completion, for completed ones.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16), // 10ms .. ~5.5min
		}, []string{"job"}),
		ckpts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dagflow_checkpoints_total",
			Help: "Checkpoints and savepoints that ended, by result: completed, aborted, declined (a task refused it), expired (timed out).",
		}, []string{"job", "result"}),
		deploy: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dagflow_task_deployment_seconds",
			Help:    "Time from the scheduler's decision to deploy a task attempt until a worker accepted it and it runs (includes preparing the worker for the job).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. ~4.4min
		}, []string{"job"}),
	}
}

// Describe implements prometheus.Collector.
func (m *JobMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.ckptDuration.Describe(ch)
	m.ckpts.Describe(ch)
	m.deploy.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *JobMetrics) Collect(ch chan<- prometheus.Metric) {
	m.ckptDuration.Collect(ch)
	m.ckpts.Collect(ch)
	m.deploy.Collect(ch)
}

// Observer returns the observer of a job. Its checkpoint counters start at
// zero for every result, so that rates exist before the first failure.
func (m *JobMetrics) Observer(job string) JobObserver {
	job = labelValue(job)
	for _, r := range []string{CheckpointCompleted, CheckpointAborted, CheckpointDeclined, CheckpointExpired} {
		m.ckpts.WithLabelValues(job, r)
	}
	return &jobObserver{m: m, job: job,
		ckptDuration: m.ckptDuration.WithLabelValues(job), deploy: m.deploy.WithLabelValues(job)}
}

// Forget deletes every series of a job.
func (m *JobMetrics) Forget(job string) {
	l := prometheus.Labels{"job": labelValue(job)}
	m.ckptDuration.DeletePartialMatch(l)
	m.ckpts.DeletePartialMatch(l)
	m.deploy.DeletePartialMatch(l)
}

type jobObserver struct {
	m            *JobMetrics
	job          string
	ckptDuration prometheus.Observer
	deploy       prometheus.Observer
}

func (o *jobObserver) CheckpointFinished(st CheckpointStats) {
	r := CheckpointResult(st)
	o.m.ckpts.WithLabelValues(o.job, r).Inc()
	if r == CheckpointCompleted {
		o.ckptDuration.Observe(st.Duration.Seconds())
	}
}

func (o *jobObserver) TaskDeployed(latency time.Duration) { o.deploy.Observe(latency.Seconds()) }

// observeCheckpoint hands a finished checkpoint to the job's observer.
func (jm *JobMaster) observeCheckpoint(st CheckpointStats) {
	if jm.cfg.Observer != nil && st.Status != "in_progress" {
		jm.cfg.Observer.CheckpointFinished(st)
	}
}

// observeDeploy hands a deployment's latency to the job's observer.
func (jm *JobMaster) observeDeploy(decided time.Time) {
	if jm.cfg.Observer != nil {
		jm.cfg.Observer.TaskDeployed(jm.clock.Now().Sub(decided))
	}
}

// labelValue makes s a valid label value (Prometheus requires UTF-8).
func labelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// jobCollector reports the master's cluster view and the per-job values of
// the current job status snapshots at scrape time: a job the master forgot
// has no series.
type jobCollector struct {
	s *Server

	workers, slots, shuffleDaemons, jobs                               *prometheus.Desc
	jobInfo, jobElapsed, jobRestarts, jobFailovers, splits, splitsDone *prometheus.Desc
	recordsIn, recordsOut, bytesOut, lateDropped, backPressure, par    *prometheus.Desc
	buffers, buffersPeak, ckptSize, ckptIncr, ckptAlign                *prometheus.Desc
}

func newJobCollector(s *Server) *jobCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &jobCollector{s: s,
		workers:        d("dagflow_workers", "Registered live workers."),
		slots:          d("dagflow_slots", "Task slots offered by the registered live workers."),
		shuffleDaemons: d("dagflow_shuffle_daemons", "Registered live external shuffle daemons."),
		jobs:           d("dagflow_jobs", "Jobs the master knows (running and kept in its history), by state.", "state"),
		jobInfo:        d("dagflow_job_info", "Always 1: a job's name and state.", "job", "name", "state"),
		jobElapsed:     d("dagflow_job_elapsed_seconds", "Time a job has run (until it ended).", "job"),
		jobRestarts:    d("dagflow_job_restarts_total", "Region restarts of a job.", "job"),
		jobFailovers:   d("dagflow_job_failovers_total", "Failovers of a job (each restarts one or more regions).", "job"),
		splits:         d("dagflow_job_splits", "Splits of a job's bounded sources.", "job"),
		splitsDone:     d("dagflow_job_splits_finished", "Splits of a job's bounded sources that were read to the end.", "job"),
		recordsIn:      d("dagflow_vertex_records_in_total", "Records into a vertex, summed over its subtasks.", "job", "vertex"),
		recordsOut:     d("dagflow_vertex_records_out_total", "Records out of a vertex, summed over its subtasks.", "job", "vertex"),
		bytesOut:       d("dagflow_vertex_bytes_out_total", "Encoded bytes a vertex wrote to network edges.", "job", "vertex"),
		lateDropped:    d("dagflow_vertex_late_records_dropped_total", "Records a vertex dropped because they were later than the watermark allowed.", "job", "vertex"),
		backPressure:   d("dagflow_vertex_backpressure_seconds_total", "Time a vertex's subtasks were blocked on full exchange queues, summed over subtasks.", "job", "vertex"),
		par:            d("dagflow_vertex_parallelism", "Subtasks of a vertex.", "job", "vertex"),
		buffers:        d("dagflow_shuffle_buffers_in_use", "Exchange buffers queued in a worker's pipelined partitions of a job.", "job", "worker"),
		buffersPeak:    d("dagflow_shuffle_buffers_in_use_peak", "Peak exchange buffers queued in a worker's pipelined partitions of a job.", "job", "worker"),
		ckptSize:       d("dagflow_checkpoint_last_size_bytes", "State size of a job's last completed checkpoint.", "job"),
		ckptIncr:       d("dagflow_checkpoint_last_incremental_bytes", "Bytes a job's last completed checkpoint uploaded.", "job"),
		ckptAlign:      d("dagflow_checkpoint_last_alignment_seconds", "Longest barrier alignment of any task in a job's last completed checkpoint.", "job"),
	}
}

// Describe implements prometheus.Collector.
func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.workers, c.slots, c.shuffleDaemons, c.jobs, c.jobInfo, c.jobElapsed,
		c.jobRestarts, c.jobFailovers, c.splits, c.splitsDone, c.recordsIn, c.recordsOut, c.bytesOut, c.lateDropped,
		c.backPressure, c.par, c.buffers, c.buffersPeak, c.ckptSize, c.ckptIncr, c.ckptAlign} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	workers, shuffles, slots := len(s.workers), len(s.shuffles), 0
	for _, w := range s.workers {
		slots += w.slots
	}
	s.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.workers, float64(workers))
	gauge(c.slots, float64(slots))
	gauge(c.shuffleDaemons, float64(shuffles))
	byState := map[string]int{}
	for _, st := range s.statuses() {
		byState[st.State]++
		job := labelValue(st.ID)
		gauge(c.jobInfo, 1, job, labelValue(st.Name), st.State)
		gauge(c.jobElapsed, st.Elapsed.Seconds(), job)
		counter(c.jobRestarts, float64(st.Restarts), job)
		counter(c.jobFailovers, float64(len(st.Failovers)), job)
		gauge(c.splits, float64(st.Splits.Total), job)
		gauge(c.splitsDone, float64(st.Splits.Done), job)
		for _, v := range vertexLabels(st.Vertices) {
			counter(c.recordsIn, float64(v.RecordsIn), job, v.label)
			counter(c.recordsOut, float64(v.RecordsOut), job, v.label)
			counter(c.bytesOut, float64(v.BytesOut), job, v.label)
			counter(c.lateDropped, float64(v.LateDropped), job, v.label)
			counter(c.backPressure, float64(v.BackPressureNanos)/1e9, job, v.label)
			gauge(c.par, float64(v.Parallelism), job, v.label)
		}
		seen := map[string]bool{}
		for _, w := range st.Workers {
			if seen[w.Name] {
				continue
			}
			seen[w.Name] = true
			gauge(c.buffers, float64(w.BuffersInUse), job, labelValue(w.Name))
			gauge(c.buffersPeak, float64(w.PeakBuffersInUse), job, labelValue(w.Name))
		}
		for i := len(st.Checkpoints) - 1; i >= 0; i-- {
			if cp := st.Checkpoints[i]; cp.Status == "completed" {
				gauge(c.ckptSize, float64(cp.Size), job)
				gauge(c.ckptIncr, float64(cp.Incremental), job)
				gauge(c.ckptAlign, cp.Alignment.Seconds(), job)
				break
			}
		}
	}
	for state, n := range byState {
		gauge(c.jobs, float64(n), state)
	}
}

// labelledVertex is a vertex and its vertex label value.
type labelledVertex struct {
	VertexStatus
	label string
}

// vertexLabels gives each vertex its name as label value; a name that
// repeats within the job gets "#<vertex id>" appended to its later
// occurrences so that every series stays unique.
func vertexLabels(vs []VertexStatus) []labelledVertex {
	out := make([]labelledVertex, 0, len(vs))
	seen := make(map[string]bool, len(vs))
	for _, v := range vs {
		l := labelValue(v.Name)
		if seen[l] {
			l += "#" + strconv.Itoa(v.ID)
		}
		seen[l] = true
		out = append(out, labelledVertex{v, l})
	}
	return out
}
