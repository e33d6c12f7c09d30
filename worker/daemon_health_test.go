package worker_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestDaemonHealthEndpoints starts a worker before its master: /healthz
// answers at once, /readyz is 503 until the worker registered, then 200.
func TestDaemonHealthEndpoints(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	masterAddr, httpAddr := freePort(t), freePort(t)
	type started struct {
		d   *worker.Daemon
		err error
	}
	ch := make(chan started, 1)
	go func() {
		d, err := worker.StartDaemon(context.Background(), worker.DaemonConfig{Name: "w", Master: masterAddr, Slots: 1,
			Dir: t.TempDir(), HTTP: httpAddr, Logger: log, RegisterTimeout: time.Minute})
		ch <- started{d, err}
	}()
	// Wait for the HTTP listener (the daemon is waiting for its master).
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := get("http://" + httpAddr + "/healthz")
		if err == nil {
			if code != http.StatusOK {
				t.Fatalf("/healthz before registration: %d", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body, err := get("http://" + httpAddr + "/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before registration: %d %q %v", code, body, err)
	}
	m, err := master.NewServer(master.ServerConfig{Listen: masterAddr, Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := <-ch
	if s.err != nil {
		t.Fatal(s.err)
	}
	if code, body, err := get("http://" + s.d.HTTPAddr() + "/readyz"); err != nil || code != http.StatusOK || body != "ok\n" {
		t.Fatalf("/readyz after registration: %d %q %v", code, body, err)
	}
	s.d.Close()
	if _, _, err := get("http://" + httpAddr + "/healthz"); err == nil {
		t.Fatal("/healthz still answers after Close")
	}
}
