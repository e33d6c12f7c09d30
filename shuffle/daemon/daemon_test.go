package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dagflow/dagflow/internal/rpcpb"
	"github.com/dagflow/dagflow/shuffle"
	"github.com/dagflow/dagflow/shuffle/daemon"
	"github.com/dagflow/dagflow/shuffle/remote"
)

// fixture is a standalone daemon, a producer-side Local writing into its
// staging directory, a control client and a read resolver.
type fixture struct {
	t       *testing.T
	d       *daemon.Daemon
	staging *shuffle.Local
	ctl     rpcpb.ShuffleDaemonClient
	reads   *remote.Resolver
}

func start(t *testing.T, cfg daemon.Config) *fixture {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.ReapInterval == 0 {
		cfg.ReapInterval = -1 // tests call Reap
	}
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	stDir, err := os.MkdirTemp(d.StagingDir(), "producer-")
	if err != nil {
		t.Fatal(err)
	}
	staging, err := shuffle.NewLocal(shuffle.LocalConfig{Dir: stDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { staging.Close() })
	conn, err := grpc.NewClient(d.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	reads := remote.NewResolver(remote.ClientOptions{ConnectTimeout: 2 * time.Second})
	t.Cleanup(func() { reads.Close() })
	return &fixture{t: t, d: d, staging: staging, ctl: rpcpb.NewShuffleDaemonClient(conn), reads: reads}
}

// produce writes and commits a blocking partition in the staging Local and
// returns what each subpartition must read.
func (f *fixture) produce(id shuffle.PartitionID, subs int) [][][]byte {
	f.t.Helper()
	ctx := context.Background()
	w, err := f.staging.CreateWriter(ctx, id, shuffle.WriterOptions{Mode: shuffle.Blocking, Subpartitions: subs})
	if err != nil {
		f.t.Fatal(err)
	}
	want := make([][][]byte, subs)
	for i := 0; i < 50*subs; i++ {
		b := []byte(fmt.Sprintf("%s buffer %d %s", id, i, bytes.Repeat([]byte{'x'}, i%300)))
		if err := w.Write(ctx, i%subs, b); err != nil {
			f.t.Fatal(err)
		}
		want[i%subs] = append(want[i%subs], b)
	}
	if err := w.Commit(ctx); err != nil {
		f.t.Fatal(err)
	}
	return want
}

func pb(id shuffle.PartitionID) *rpcpb.ShufflePartition {
	return &rpcpb.ShufflePartition{Job: id.Job, Result: id.Result, Producer: int32(id.Producer), Attempt: int32(id.Attempt)}
}

func (f *fixture) adopt(id shuffle.PartitionID) error {
	data, index := f.staging.PartitionFiles(id)
	_, err := f.ctl.Adopt(context.Background(), &rpcpb.AdoptRequest{Partition: pb(id), DataPath: data, IndexPath: index})
	return err
}

// read reads every subpartition through the daemon's read service.
func (f *fixture) read(id shuffle.PartitionID, subs int) ([][][]byte, error) {
	svc, err := f.reads.Resolve(f.d.Addr())
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	out := make([][][]byte, subs)
	for s := 0; s < subs; s++ {
		r, err := svc.OpenReader(ctx, id, s, s+1)
		if err != nil {
			return nil, err
		}
		for {
			b, err := r.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				return nil, err
			}
			out[s] = append(out[s], bytes.Clone(b))
		}
		r.Close()
	}
	return out, nil
}

func TestDaemonAdoptServeRelease(t *testing.T) {
	f := start(t, daemon.Config{})
	id := shuffle.PartitionID{Job: "job-1", Result: "e2", Producer: 4, Attempt: 1}
	want := f.produce(id, 3)
	start := time.Now()
	if _, err := f.read(id, 3); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("read before adopt: %v, want ErrNotExist", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("unknown partition took %v to fail", d)
	}
	if err := f.adopt(id); err != nil {
		t.Fatal(err)
	}
	if err := f.adopt(id); err != nil { // idempotent
		t.Fatalf("second adopt: %v", err)
	}
	got, err := f.read(id, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, func(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }) {
		t.Fatal("read data differs from written data")
	}
	st, err := f.ctl.Stat(context.Background(), pb(id))
	if err != nil || st.Files != 2 || st.Subpartitions != 3 {
		t.Fatalf("stat %v %v", st, err)
	}
	jobs, err := f.ctl.ListJobs(context.Background(), &rpcpb.ListJobsRequest{})
	if err != nil || len(jobs.Jobs) != 1 || jobs.Jobs[0].Job != "job-1" || jobs.Jobs[0].Partitions != 1 || jobs.Jobs[0].Bytes != st.Bytes {
		t.Fatalf("list jobs %v %v", jobs, err)
	}
	jobDir := filepath.Join(f.d.StagingDir(), "..", shuffle.DaemonDataDir, "job-1")
	if _, err := os.Stat(jobDir); err != nil {
		t.Fatalf("job directory: %v", err)
	}
	if _, err := f.ctl.ReleaseJob(context.Background(), &rpcpb.JobRef{JobId: "job-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(jobDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("job directory after release: %v", err)
	}
	if _, err := f.read(id, 3); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("read after release: %v", err)
	}
	// A late adoption for the released job is refused and its files go.
	late := shuffle.PartitionID{Job: "job-1", Result: "e2", Producer: 5}
	f.produce(late, 1)
	if err := f.adopt(late); status.Code(err) != codes.NotFound {
		t.Fatalf("late adopt: %v", err)
	}
	data, _ := f.staging.PartitionFiles(late)
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("late staged file: %v", err)
	}
}

func TestDaemonRejectsBadAdoptions(t *testing.T) {
	f := start(t, daemon.Config{})
	ctx := context.Background()
	id := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 0}
	f.produce(id, 2)
	data, index := f.staging.PartitionFiles(id)
	outside := filepath.Join(t.TempDir(), "x.data")
	os.WriteFile(outside, []byte("DFSD"), 0o644)
	for name, req := range map[string]*rpcpb.AdoptRequest{
		"outside staging":  {Partition: pb(id), DataPath: outside, IndexPath: index},
		"relative path":    {Partition: pb(id), DataPath: "staging/x.data", IndexPath: index},
		"escaping path":    {Partition: pb(id), DataPath: filepath.Join(f.d.StagingDir(), "..", "data", "x"), IndexPath: index},
		"no partition":     {DataPath: data, IndexPath: index},
		"negative attempt": {Partition: &rpcpb.ShufflePartition{Job: "j", Result: "e0", Attempt: -1}, DataPath: data, IndexPath: index},
	} {
		if _, err := f.ctl.Adopt(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// A damaged index is DATA_LOSS and leaves nothing visible.
	b, _ := os.ReadFile(index)
	b[len(b)-1] ^= 1
	os.WriteFile(index, b, 0o644)
	if err := f.adopt(id); status.Code(err) != codes.DataLoss {
		t.Fatalf("bad index: %v", err)
	}
	if _, err := f.read(id, 2); !errors.Is(err, shuffle.ErrNotExist) {
		t.Fatalf("read after a refused adoption: %v", err)
	}
}

func TestDaemonCorruptionHookYieldsErrCorrupt(t *testing.T) {
	f := start(t, daemon.Config{CorruptAdoptions: 1})
	a := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 0}
	b := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 1}
	f.produce(a, 1)
	f.produce(b, 1)
	if err := f.adopt(a); err != nil {
		t.Fatal(err)
	}
	if err := f.adopt(b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.read(a, 1); !errors.Is(err, shuffle.ErrCorrupt) {
		t.Fatalf("corrupted partition: %v, want ErrCorrupt", err)
	}
	if _, err := f.read(b, 1); err != nil {
		t.Fatalf("second partition: %v", err)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeMaster answers the reaper.
type fakeMaster struct {
	mu     sync.Mutex
	states map[string]string
	err    error
	calls  int
}

func (m *fakeMaster) JobStates(context.Context) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	return m.states, m.err
}

func (m *fakeMaster) set(states map[string]string, err error) {
	m.mu.Lock()
	m.states, m.err = states, err
	m.mu.Unlock()
}

func TestReaperDeletesOrphansAfterTTL(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	master := &fakeMaster{states: map[string]string{}}
	f := start(t, daemon.Config{TTL: time.Hour, Now: clock.Now, Jobs: master})
	ctx := context.Background()
	ids := map[string]shuffle.PartitionID{}
	for _, job := range []string{"running", "finished", "unknown", "read"} {
		ids[job] = shuffle.PartitionID{Job: job, Result: "e0", Producer: 0}
		f.produce(ids[job], 1)
		if err := f.adopt(ids[job]); err != nil {
			t.Fatal(err)
		}
	}
	reap := func() []string {
		t.Helper()
		deleted, err := f.d.Reap(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return deleted
	}
	clock.Advance(59 * time.Minute)
	if got := reap(); len(got) != 0 || master.calls != 0 {
		t.Fatalf("before the TTL: deleted %v, asked the master %d times", got, master.calls)
	}
	if _, err := f.read(ids["read"], 1); err != nil { // a read touches the job
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	// The master is unreachable: nothing goes.
	master.set(nil, errors.New("connection refused"))
	if got, err := f.d.Reap(ctx); err == nil || len(got) != 0 {
		t.Fatalf("master unreachable: deleted %v, err %v", got, err)
	}
	if n := len(f.d.Jobs()); n != 4 {
		t.Fatalf("%d jobs left, want 4", n)
	}
	master.set(map[string]string{"running": "running", "finished": "finished", "read": "finished"}, nil)
	if got := reap(); !slices.Equal(got, []string{"finished", "unknown"}) {
		t.Fatalf("deleted %v, want finished and unknown", got)
	}
	for _, job := range []string{"finished", "unknown"} {
		if _, err := f.read(ids[job], 1); !errors.Is(err, shuffle.ErrNotExist) {
			t.Fatalf("%s after reaping: %v", job, err)
		}
	}
	// "read" was touched at 59m and goes an hour later; "running" was
	// renewed by the master's answer at 60m and stays while it runs.
	clock.Advance(59 * time.Minute)
	if got := reap(); !slices.Equal(got, []string{"read"}) {
		t.Fatalf("deleted %v, want read", got)
	}
	clock.Advance(10 * time.Hour)
	if got := reap(); len(got) != 0 {
		t.Fatalf("deleted %v while the master says running", got)
	}
	master.set(map[string]string{"running": "canceled"}, nil)
	clock.Advance(time.Hour)
	if got := reap(); !slices.Equal(got, []string{"running"}) {
		t.Fatalf("deleted %v, want running", got)
	}
	if n := len(f.d.Jobs()); n != 0 {
		t.Fatalf("%d jobs left", n)
	}
}

func TestReaperWithoutMasterAndStagedLeftovers(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	f := start(t, daemon.Config{TTL: time.Hour, Now: clock.Now})
	id := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 0}
	f.produce(id, 1)
	if err := f.adopt(id); err != nil {
		t.Fatal(err)
	}
	// A producer that died after writing, before adopting.
	dead := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 1}
	f.produce(dead, 1)
	data, index := f.staging.PartitionFiles(dead)
	fresh := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 2}
	f.produce(fresh, 1)
	freshData, _ := f.staging.PartitionFiles(fresh)
	old := clock.Now().Add(-2 * time.Hour)
	for _, p := range []string{data, index} {
		os.Chtimes(p, old, old)
	}
	if _, err := f.d.Reap(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{data, index} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("abandoned staged file %s: %v", p, err)
		}
	}
	if _, err := os.Stat(freshData); err != nil {
		t.Errorf("fresh staged file deleted: %v", err)
	}
	clock.Advance(time.Hour)
	if got, err := f.d.Reap(context.Background()); err != nil || !slices.Equal(got, []string{"j"}) {
		t.Fatalf("standalone reaper deleted %v (%v), want j", got, err)
	}
}

func TestDaemonRestartStartsEmpty(t *testing.T) {
	dir := t.TempDir()
	f := start(t, daemon.Config{Dir: dir})
	id := shuffle.PartitionID{Job: "j", Result: "e0", Producer: 0}
	f.produce(id, 1)
	if err := f.adopt(id); err != nil {
		t.Fatal(err)
	}
	// A crash leaves the files; the next incarnation deletes them.
	leftover := filepath.Join(dir, shuffle.DaemonDataDir, "j")
	if _, err := os.Stat(leftover); err != nil {
		t.Fatal(err)
	}
	// A second daemon on the same directory is refused (it would delete
	// the first one's partitions).
	if d2, err := daemon.Start(context.Background(), daemon.Config{Dir: dir}); err == nil {
		d2.Close()
		t.Fatal("two daemons share a directory")
	} else if !strings.Contains(err.Error(), "another daemon uses") {
		t.Fatalf("second daemon: %v", err)
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Fatalf("the refused daemon deleted partitions: %v", err)
	}
	f.d.Close()
	os.MkdirAll(leftover, 0o755)
	os.WriteFile(filepath.Join(leftover, "0.0.data"), []byte("old"), 0o644)
	d3, err := daemon.Start(context.Background(), daemon.Config{Dir: dir, ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover of the previous incarnation: %v", err)
	}
	if len(d3.Jobs()) != 0 {
		t.Fatal("restarted daemon lists jobs")
	}
}
