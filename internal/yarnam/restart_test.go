package yarnam

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/ha"
)

// TestMasterFileAndJobStore: the master file and the job store on a local
// state directory (HDFS in YARN, through the same file system registry).
func TestMasterFileAndJobStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "state")
	l := FileLeaders{File: masterFile(dir), Interval: 10 * time.Millisecond}
	wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := l.WaitLeader(wctx, 0); err == nil {
		t.Fatal("a leader without a master file")
	}
	wcancel()
	if err := PublishMaster(ctx, masterFile(dir), ha.Info{Epoch: 1, Address: "h:1"}); err != nil {
		t.Fatal(err)
	}
	if info, err := l.WaitLeader(ctx, 0); err != nil || info.Address != "h:1" || info.Epoch != 1 {
		t.Fatalf("first master: %+v %v", info, err)
	}
	got := make(chan ha.Info, 1)
	go func() { info, _ := l.WaitLeader(ctx, 1); got <- info }()
	if err := PublishMaster(ctx, masterFile(dir), ha.Info{Epoch: 2, Address: "h:2"}); err != nil {
		t.Fatal(err)
	}
	if info := <-got; info.Address != "h:2" || info.Epoch != 2 {
		t.Fatalf("second master: %+v", info)
	}

	s := fileJobStore{dir: dir + "/jobs"}
	if recs, err := s.load(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("empty store: %v %v", recs, err)
	}
	for _, j := range []string{"j1", "j2"} {
		if err := s.Put(j, []byte("rec-"+j)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put("j1", []byte("rec-j1b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("j2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("gone"); err != nil {
		t.Fatalf("deleting an unknown job: %v", err)
	}
	recs, err := s.load(ctx)
	if err != nil || len(recs) != 1 || string(recs["j1"]) != "rec-j1b" {
		t.Fatalf("store: %q %v", recs, err)
	}
}
