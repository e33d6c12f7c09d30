package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/shuffle/daemon"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestHealthEndpoints starts a shuffle daemon before its master: /healthz
// answers at once, /readyz is 503 until it registered, then 200; without
// a master it is ready as soon as it serves.
func TestHealthEndpoints(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	masterAddr, httpAddr := freeAddr(t), freeAddr(t)
	type started struct {
		d   *daemon.Daemon
		err error
	}
	ch := make(chan started, 1)
	go func() {
		d, err := daemon.Start(context.Background(), daemon.Config{Dir: t.TempDir(), Master: masterAddr, HTTP: httpAddr,
			Logger: log, RegisterTimeout: time.Minute})
		ch <- started{d, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, err := httpGet("http://" + httpAddr + "/healthz")
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
	if code, err := httpGet("http://" + httpAddr + "/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before registration: %d %v", code, err)
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
	if code, err := httpGet("http://" + s.d.HTTPAddr() + "/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("/readyz after registration: %d %v", code, err)
	}
	s.d.Close()
	if _, err := httpGet("http://" + httpAddr + "/healthz"); err == nil {
		t.Fatal("/healthz still answers after Close")
	}

	standalone, err := daemon.Start(context.Background(), daemon.Config{Dir: t.TempDir(), HTTP: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer standalone.Close()
	if code, err := httpGet("http://" + standalone.HTTPAddr() + "/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("standalone /readyz: %d %v", code, err)
	}
}
