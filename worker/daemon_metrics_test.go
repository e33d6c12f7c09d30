package worker_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// TestDaemonMetrics starts a master and a worker daemon whose name needs
// escaping, scrapes the worker's /metrics over HTTP and parses it as
// Prometheus text: the daemon's gauges carry the name exactly, next to the
// Go and process collectors.
func TestDaemonMetrics(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m, err := master.NewServer(master.ServerConfig{Listen: "127.0.0.1:0", Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	name := "w \"1\" \\ \t"
	d, err := worker.StartDaemon(context.Background(), worker.DaemonConfig{Name: name, Master: m.Addr(), Slots: 3,
		Dir: t.TempDir(), HTTP: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	resp, err := http.Get("http://" + d.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v\n%s", resp.Status, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	for _, want := range []struct {
		name  string
		value float64
	}{{"dagflow_worker_slots", 3}, {"dagflow_worker_executors", 0}, {"dagflow_worker_binaries_cached", 0}} {
		ms := fams[want.name].GetMetric()
		if len(ms) != 1 {
			t.Errorf("%s: %d series, want 1", want.name, len(ms))
			continue
		}
		if got := ms[0].GetGauge().GetValue(); got != want.value {
			t.Errorf("%s = %g, want %g", want.name, got, want.value)
		}
		if l := ms[0].GetLabel(); len(l) != 1 || l[0].GetName() != "worker" || l[0].GetValue() != name {
			t.Errorf("%s labels %v, want worker=%q", want.name, l, name)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_open_fds"} {
		if len(fams[name].GetMetric()) == 0 {
			t.Errorf("no %s in the scrape", name)
		}
	}
}
