package zktest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HomeEnv names the environment variable that points at a ZooKeeper
// installation (its bin/zkServer.sh); the default is /usr/share/zookeeper.
const HomeEnv = "DAGFLOW_ZOOKEEPER_HOME"

// Ensemble is a running set of ZooKeeper servers.
type Ensemble struct {
	t       testing.TB
	script  string
	dir     string
	servers []*server
}

type server struct {
	mu   sync.Mutex
	id   int
	dir  string
	cfg  string
	port int
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

// Script returns the zkServer.sh to run, or an error saying what is missing.
func Script() (string, error) {
	home := os.Getenv(HomeEnv)
	if home == "" {
		home = "/usr/share/zookeeper"
	}
	script := filepath.Join(home, "bin", "zkServer.sh")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("zktest: no ZooKeeper at %s (install Debian's zookeeper package or set %s): %w", home, HomeEnv, err)
	}
	return script, nil
}

// Start starts n servers (1 for a standalone server, 3 for an ensemble)
// and waits until every one answers. They are stopped when the test ends.
func Start(t testing.TB, n int) *Ensemble {
	t.Helper()
	script, err := Script()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	e := &Ensemble{t: t, script: script, dir: t.TempDir()}
	ports := freePorts(t, 3*n)
	for i := 0; i < n; i++ {
		s := &server{id: i + 1, dir: filepath.Join(e.dir, fmt.Sprintf("zk%d", i+1)), port: ports[3*i]}
		if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		var cfg strings.Builder
		fmt.Fprintf(&cfg, "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=60000\n",
			filepath.Join(s.dir, "data"), s.port)
		if n > 1 {
			for j := 0; j < n; j++ {
				fmt.Fprintf(&cfg, "server.%d=127.0.0.1:%d:%d\n", j+1, ports[3*j+1], ports[3*j+2])
			}
			if err := os.WriteFile(filepath.Join(s.dir, "data", "myid"), []byte(fmt.Sprint(s.id)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s.cfg = filepath.Join(s.dir, "zoo.cfg")
		if err := os.WriteFile(s.cfg, []byte(cfg.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		e.servers = append(e.servers, s)
	}
	for i := range e.servers {
		e.Start(i)
	}
	t.Cleanup(e.Close)
	for i := range e.servers {
		e.WaitServing(i)
	}
	return e
}

// Servers returns the client addresses (HOST:PORT) of all servers.
func (e *Ensemble) Servers() []string {
	out := make([]string, len(e.servers))
	for i, s := range e.servers {
		out[i] = fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	return out
}

// Connect returns the servers as one connect string (HOST:PORT,...).
func (e *Ensemble) Connect() string { return strings.Join(e.Servers(), ",") }

// Start starts server i (0-based) if it is not running.
func (e *Ensemble) Start(i int) {
	s := e.servers[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(e.script, "start-foreground", s.cfg)
	cmd.Env = append(os.Environ(), "ZOO_LOG_DIR="+s.dir, "JVMFLAGS=-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
	s.out = &bytes.Buffer{}
	cmd.Stdout = s.out
	cmd.Stderr = s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("zktest: start server %d: %v", s.id, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
}

// Kill SIGKILLs server i and waits for it to exit.
func (e *Ensemble) Kill(i int) {
	s := e.servers[i]
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Restart kills server i and starts it again on the same port and data.
func (e *Ensemble) Restart(i int) {
	e.Kill(i)
	e.Start(i)
	e.WaitServing(i)
}

// WaitServing waits until server i accepts a client session.
func (e *Ensemble) WaitServing(i int) {
	s := e.servers[i]
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if ruok(fmt.Sprintf("127.0.0.1:%d", s.port)) {
			return
		}
		s.mu.Lock()
		done := s.done
		s.mu.Unlock()
		select {
		case <-done:
			e.t.Fatalf("zktest: server %d exited while starting:\n%s", s.id, s.output())
		case <-time.After(200 * time.Millisecond):
		}
	}
	e.t.Fatalf("zktest: server %d not serving after 90s:\n%s", s.id, s.output())
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Close kills every server.
func (e *Ensemble) Close() {
	for i := range e.servers {
		e.Kill(i)
	}
}

// ruok sends a minimal ConnectRequest and reports whether the server
// answered with a session: the four-letter-word commands are off by
// default, and a serving quorum member is what tests need anyway.
func ruok(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	// ConnectRequest: protocolVersion int32, lastZxidSeen int64, timeOut
	// int32, sessionId int64, passwd (int32 length + bytes), readOnly bool.
	req := make([]byte, 4+4+8+4+8+4+16+1)
	be := func(off int, v uint64, n int) {
		for i := 0; i < n; i++ {
			req[off+n-1-i] = byte(v >> (8 * i))
		}
	}
	be(0, uint64(len(req)-4), 4)
	be(16, 10000, 4)
	be(28, 16, 4)
	if _, err := c.Write(req); err != nil {
		return false
	}
	var hdr [4]byte
	if _, err := readFull(c, hdr[:]); err != nil {
		return false
	}
	n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if n < 16 || n > 1<<16 {
		return false
	}
	resp := make([]byte, n)
	if _, err := readFull(c, resp); err != nil {
		return false
	}
	// protocolVersion, timeOut, sessionId: a zero session id means the
	// server is not serving yet (no quorum).
	sid := uint64(0)
	for _, b := range resp[8:16] {
		sid = sid<<8 | uint64(b)
	}
	return sid != 0
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, n)
	for i := range out {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out[i] = l.Addr().(*net.TCPAddr).Port
	}
	return out
}
