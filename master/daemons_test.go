package master_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/internal/protocol"
	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/worker"
)

// wordcountBinary builds examples/wordcount once for the tests of this
// file.
var wordcountBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dagflow-master-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "wordcount")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/wordcount").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build wordcount: %v\n%s", err, out)
	}
	return bin, nil
})

// lockedBuffer is a log destination shared by a daemon's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func textLogger(w *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logfmtKeys returns the keys of one slog text line, in order; quoted
// values (which may contain "key=value" text) are skipped whole.
func logfmtKeys(line string) ([]string, error) {
	var keys []string
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i == len(line) {
			break
		}
		eq := strings.IndexByte(line[i:], '=')
		if eq <= 0 {
			return keys, fmt.Errorf("no key=value at offset %d", i)
		}
		keys = append(keys, line[i:i+eq])
		i += eq + 1
		if i < len(line) && line[i] == '"' {
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(line) {
				return keys, fmt.Errorf("unterminated quoted value at offset %d", i)
			}
			i = j + 1
		} else {
			for i < len(line) && line[i] != ' ' {
				i++
			}
		}
	}
	return keys, nil
}

// checkNoRepeatedKeys fails for every slog text line of logs that has a
// key twice, and returns how many lines it checked.
func checkNoRepeatedKeys(t *testing.T, who, logs string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if !strings.HasPrefix(line, "time=") {
			continue // not a slog line (e.g. the job's own output)
		}
		n++
		keys, err := logfmtKeys(line)
		if err != nil {
			t.Errorf("%s: unparsable log line (%v): %s", who, err, line)
			continue
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] {
				t.Errorf("%s: key %q repeated in log line: %s", who, k, line)
			}
			seen[k] = true
		}
	}
	return n
}

func TestLogfmtKeys(t *testing.T) {
	keys, err := logfmtKeys(`time=2026-01-01T00:00:00Z level=WARN msg="executor lost" job=j worker=w reason="x job=j \"q\" worker=w" n=1`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "time,level,msg,job,worker,reason,n" {
		t.Errorf("keys %s", got)
	}
}

type apiWorker struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Slots   int    `json:"slots"`
}

func apiWorkers(t *testing.T, httpAddr string) []apiWorker {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/api/workers")
	if err != nil {
		t.Fatalf("GET /api/workers: %v", err)
	}
	defer resp.Body.Close()
	var ws []apiWorker
	if err := json.NewDecoder(resp.Body).Decode(&ws); err != nil {
		t.Fatalf("decode /api/workers: %v", err)
	}
	return ws
}

// checkDialable fails unless addr is specific and accepts a TCP
// connection.
func checkDialable(t *testing.T, what, addr string) {
	t.Helper()
	if err := netaddr.Dialable(addr); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("%s %s does not accept connections: %v", what, addr, err)
	}
	c.Close()
}

// submitWordcount submits the wordcount binary like dagctl submit does
// and waits for the job to end.
func submitWordcount(t *testing.T, ctx context.Context, masterAddr, bin, input, output string) (string, master.JobStatus) {
	t.Helper()
	args := []string{"--input", input, "--output", output, "--parallelism", "2"}
	var sub rpcpb.Submission
	if err := protocol.Call(ctx, protocol.Process{Path: bin, Args: args}, protocol.RolePlan, nil, &sub); err != nil {
		t.Fatalf("plan mode: %v", err)
	}
	plan, _, err := protocol.DecodeSubmission(&sub)
	if err != nil {
		t.Fatalf("plan mode printed a bad plan: %v", err)
	}
	conn, err := grpc.NewClient(masterAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mc := rpcpb.NewMasterClient(conn)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	ref := &rpcpb.BinaryRef{Sha256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	stream, err := mc.UploadBinary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 1 << 20 {
		c := &rpcpb.BinaryChunk{Data: data[off:min(off+1<<20, len(data))]}
		if off == 0 {
			c.Ref = ref
		}
		if err := stream.Send(c); err != nil {
			t.Fatalf("upload: %v", err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		t.Fatalf("upload: %v", err)
	}
	resp, err := mc.SubmitJob(ctx, &rpcpb.SubmitJobRequest{Name: plan.Job, Binary: ref, Args: args,
		PlanJson: sub.PlanJson, Splits: sub.Splits, MaxRestarts: 0})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	// No push API for job ends: poll the status like dagctl does.
	for {
		doc, err := mc.JobStatus(ctx, &rpcpb.JobRef{JobId: resp.JobId})
		if err != nil {
			t.Fatalf("job status: %v", err)
		}
		st, err := master.JobStatusFromProto(doc)
		if err != nil {
			t.Fatal(err)
		}
		switch st.State {
		case "finished", "failed", "canceled":
			return resp.JobId, st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %s did not end: %v (state %s)", resp.JobId, ctx.Err(), st.State)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestDaemonsOnWildcardAddresses runs a master and a worker daemon bound
// to wildcard addresses and a wordcount job (a real executor process) end
// to end: every address the daemons register, gossip or hand out is
// specific and dialable, an Advertise setting is what the master sees,
// the output is exact, and no log line of the master, the worker or the
// executor repeats a key.
func TestDaemonsOnWildcardAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a job binary and runs executor processes")
	}
	bin, err := wordcountBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Input and expected counts, computed here.
	input := filepath.Join(t.TempDir(), "in.txt")
	var text strings.Builder
	want := map[string]int{}
	for i := 0; i < 3000; i++ {
		w := []string{"alpha", "beta", "gamma", "delta", "epsilon"}[i%5] + strconv.Itoa(i%37)
		fmt.Fprintf(&text, "%s x%d\n", w, i%3)
		want[w]++
		want["x"+strconv.Itoa(i%3)]++
	}
	if err := os.WriteFile(input, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, listen, advertise string
	}{
		{"ipv4 wildcard", "0.0.0.0:0", ""},
		{"ipv6 wildcard", "[::]:0", ""},
		{"empty host", ":0", ""},
		{"advertise name with port 0", "0.0.0.0:0", "localhost:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if lis, err := net.Listen("tcp", tt.listen); err != nil {
				t.Skipf("cannot listen on %s here: %v", tt.listen, err)
			} else {
				lis.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var mlog, wlog lockedBuffer
			s, err := master.NewServer(master.ServerConfig{Listen: tt.listen, Advertise: tt.advertise, HTTP: tt.listen, Dir: t.TempDir(),
				FailureTimeout: 2 * time.Second, Logger: textLogger(&mlog)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkDialable(t, "master address", s.Addr())
			if _, port, _ := net.SplitHostPort(s.ListenAddr()); tt.advertise != "" && s.Addr() != net.JoinHostPort("localhost", port) {
				t.Errorf("master with Advertise %s advertises %s", tt.advertise, s.Addr())
			}
			checkDialable(t, "master REST address", s.HTTPAddr())
			wdir := t.TempDir()
			d, err := worker.StartDaemon(ctx, worker.DaemonConfig{Name: "w0", Listen: tt.listen, Advertise: tt.advertise,
				Master: s.Addr(), Slots: 4, Dir: wdir, FailureTimeout: 2 * time.Second, Logger: textLogger(&wlog)})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			ws := apiWorkers(t, s.HTTPAddr())
			if len(ws) != 1 || ws[0].Name != "w0" {
				t.Fatalf("/api/workers = %+v, want worker w0", ws)
			}
			checkDialable(t, "registered worker address", ws[0].Address)
			if ws[0].Address != d.Addr() {
				t.Errorf("master sees worker at %s, the worker advertises %s", ws[0].Address, d.Addr())
			}
			_, boundPort, _ := net.SplitHostPort(d.ListenAddr())
			if tt.advertise != "" {
				if wantAddr := net.JoinHostPort("localhost", boundPort); ws[0].Address != wantAddr {
					t.Errorf("with Advertise %s the master sees %s, want %s", tt.advertise, ws[0].Address, wantAddr)
				}
			}
			output := filepath.Join(t.TempDir(), "out")
			id, st := submitWordcount(t, ctx, s.Addr(), bin, input, output)
			if st.State != "finished" {
				t.Fatalf("job %s %s: %s\nworker log:\n%s", id, st.State, st.Reason, wlog.String())
			}
			lines, err := fileio.ReadAllLines(ctx, filesystem.Default(), output)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, l := range lines {
				k, v, _ := strings.Cut(l, "\t")
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("output line %q", l)
				}
				got[k] += n
			}
			if len(got) != len(want) {
				t.Errorf("%d distinct words, want %d", len(got), len(want))
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("count of %q = %d, want %d", k, got[k], n)
				}
			}
			d.Close()
			s.Close()
			execLog, err := os.ReadFile(filepath.Join(wdir, "jobs", id, "executor.log"))
			if err != nil {
				t.Fatal(err)
			}
			// The executor's address as handed to the master and to other
			// executors is on the worker's advertised host.
			advHost, _, _ := net.SplitHostPort(d.Addr())
			if !strings.Contains(wlog.String(), `msg="executor started"`) || !strings.Contains(wlog.String(), "job="+id) {
				t.Errorf("worker log lacks the executor start:\n%s", wlog.String())
			}
			for _, line := range strings.Split(wlog.String(), "\n") {
				if strings.Contains(line, `msg="executor started"`) {
					_, rest, _ := strings.Cut(line, " addr=")
					addr, _, _ := strings.Cut(rest, " ")
					if h, _, err := net.SplitHostPort(addr); err != nil || h != advHost {
						t.Errorf("executor address %q is not on the worker's advertised host %s", addr, advHost)
					}
				}
			}
			for who, logs := range map[string]string{"master": mlog.String(), "worker": wlog.String(), "executor": string(execLog)} {
				if n := checkNoRepeatedKeys(t, who, logs); n == 0 {
					t.Errorf("%s wrote no log lines", who)
				}
			}
		})
	}
}
