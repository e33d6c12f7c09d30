package daemon_test

import (
	"bytes"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/netaddr"
	"github.com/dagflow/dagflow/master"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/daemon"
)

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

// repeatedKey returns a key that a slog text line has twice ("" if
// none); quoted values are skipped whole.
func repeatedKey(line string) string {
	seen := map[string]bool{}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		k, rest, ok := strings.Cut(line, "=")
		if !ok {
			return ""
		}
		if seen[k] {
			return k
		}
		seen[k] = true
		if strings.HasPrefix(rest, `"`) {
			i := 1
			for i < len(rest) && rest[i] != '"' {
				if rest[i] == '\\' {
					i++
				}
				i++
			}
			rest = rest[min(i+1, len(rest)):]
		} else if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			rest = rest[sp:]
		} else {
			rest = ""
		}
		line = rest
	}
	return ""
}

// TestDaemonOnWildcardRegistersDialableAddress starts shuffle daemons
// bound to wildcards under a real master: the address registered with the
// master and given to consumers is specific, Advertise is honoured, reads
// through that address work, and no log line repeats a key.
func TestDaemonOnWildcardRegistersDialableAddress(t *testing.T) {
	if repeatedKey(`a=1 b="x a=2" c=3`) != "" || repeatedKey(`a=1 b="x \" a=2" a=3`) != "a" {
		t.Fatal("repeatedKey is wrong")
	}
	for _, tt := range []struct{ listen, advertise string }{
		{"0.0.0.0:0", ""}, {"[::]:0", ""}, {"0.0.0.0:0", "localhost:0"},
	} {
		t.Run(tt.listen+" "+tt.advertise, func(t *testing.T) {
			if lis, err := net.Listen("tcp", tt.listen); err != nil {
				t.Skipf("cannot listen on %s here: %v", tt.listen, err)
			} else {
				lis.Close()
			}
			var mlog, dlog lockedBuffer
			s, err := master.NewServer(master.ServerConfig{Listen: "127.0.0.1:0", Dir: t.TempDir(), FailureTimeout: 2 * time.Second,
				Logger: slog.New(slog.NewTextHandler(&mlog, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			f := start(t, daemon.Config{Listen: tt.listen, Advertise: tt.advertise, Master: s.Addr(), FailureTimeout: 2 * time.Second,
				Logger: slog.New(slog.NewTextHandler(&dlog, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			addr := f.d.Addr()
			if err := netaddr.Dialable(addr); err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(f.d.ListenAddr())
			if tt.advertise != "" && addr != net.JoinHostPort("localhost", port) {
				t.Errorf("Addr() = %s, want localhost:%s", addr, port)
			}
			if !strings.Contains(mlog.String(), `msg="shuffle daemon registered"`) || !strings.Contains(mlog.String(), "addr="+addr) {
				t.Errorf("master log lacks the registration at %s:\n%s", addr, mlog.String())
			}
			id := shuffle.PartitionID{Job: "job-1", Result: "e", Producer: 0}
			want := f.produce(id, 2)
			if err := f.adopt(id); err != nil {
				t.Fatal(err)
			}
			got, err := f.read(id, 2)
			if err != nil {
				t.Fatalf("read through %s: %v", addr, err)
			}
			if !slices.EqualFunc(got, want, func(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }) {
				t.Fatal("read data differs from written data")
			}
			f.d.Close()
			lines := 0
			for _, line := range strings.Split(dlog.String(), "\n") {
				if line == "" {
					continue
				}
				lines++
				if k := repeatedKey(line); k != "" {
					t.Errorf("key %q repeated: %s", k, line)
				}
			}
			if lines == 0 {
				t.Error("the daemon logged nothing")
			}
		})
	}
}
