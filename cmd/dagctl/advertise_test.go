package main

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestWorkerOnWildcardRegistersRoutableAddress is the regression test of
// a worker started with --listen 0.0.0.0:0 that registered as [::]:PORT,
// an address no other host can dial: real master and worker processes,
// the address read back from the master's REST API.
func TestWorkerOnWildcardRegistersRoutableAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes; skipped under -short")
	}
	dagctl, _, _, _ := binaries(t)
	c := startCluster(t, dagctl, 0, 1)
	c.start("wild", "worker", "--master", c.master, "--name", "wild", "--listen", "0.0.0.0:0", "--insecure",
		"--dir", filepath.Join(c.baseDir, "wild"), "--failure-timeout", "2s")
	c.waitReady("worker wild listening")

	type worker struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	}
	var got []worker
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + c.http + "/api/workers")
		if err == nil {
			got = nil
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
		}
		if err == nil && len(got) == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) != 1 || got[0].Name != "wild" {
		t.Fatalf("workers = %+v, want the one worker %q", got, "wild")
	}
	host, port, err := net.SplitHostPort(got[0].Address)
	if err != nil {
		t.Fatalf("registered address %q: %v", got[0].Address, err)
	}
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) || port == "0" {
		t.Fatalf("worker registered %q: a wildcard address nobody can dial", got[0].Address)
	}
	conn, err := net.DialTimeout("tcp", got[0].Address, 5*time.Second)
	if err != nil {
		t.Fatalf("registered address %q is not dialable: %v", got[0].Address, err)
	}
	conn.Close()
}
