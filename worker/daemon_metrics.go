package worker

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler serves the daemon's /metrics from a registry of its own:
// Go runtime and process metrics and the daemon's gauges. Task and vertex
// counters are aggregated by the master's /metrics.
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newDaemonCollector(d),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slogPrintln{d.log}, ErrorHandling: promhttp.ContinueOnError}))
	d.healthRoutes(mux)
	return mux
}

// daemonCollector reads the daemon's gauges at scrape time.
type daemonCollector struct {
	d                          *Daemon
	slots, executors, binaries *prometheus.Desc
}

func newDaemonCollector(d *Daemon) *daemonCollector {
	l := prometheus.Labels{"worker": strings.ToValidUTF8(d.cfg.Name, "\uFFFD")}
	return &daemonCollector{d: d,
		slots:     prometheus.NewDesc("dagflow_worker_slots", "Task slots the worker offers.", nil, l),
		executors: prometheus.NewDesc("dagflow_worker_executors", "Running job executor processes.", nil, l),
		binaries:  prometheus.NewDesc("dagflow_worker_binaries_cached", "Job binaries in the worker's cache.", nil, l),
	}
}

// Describe implements prometheus.Collector.
func (c *daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.slots
	ch <- c.executors
	ch <- c.binaries
}

// Collect implements prometheus.Collector.
func (c *daemonCollector) Collect(ch chan<- prometheus.Metric) {
	c.d.mu.Lock()
	execs := len(c.d.executors)
	c.d.mu.Unlock()
	bins := 0
	if es, err := os.ReadDir(filepath.Join(c.d.cfg.Dir, "binaries")); err == nil {
		for _, e := range es {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				bins++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(c.d.cfg.Slots))
	ch <- prometheus.MustNewConstMetric(c.executors, prometheus.GaugeValue, float64(execs))
	ch <- prometheus.MustNewConstMetric(c.binaries, prometheus.GaugeValue, float64(bins))
}

// slogPrintln adapts a slog.Logger to promhttp.Logger.
type slogPrintln struct{ log *slog.Logger }

// Println implements promhttp.Logger.
func (l slogPrintln) Println(v ...any) {
	l.log.Warn("worker: metrics: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
