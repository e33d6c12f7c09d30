package checkpoint_test

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/hdfs"
)

// TestHDFSRoundTrip runs write, complete, subsume, Latest and a savepoint
// on hdfs:// through the in-process NameNode/DataNode stand-in.
func TestHDFSRoundTrip(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{BlockSize: 256 << 10})
	reg := filesystem.NewRegistry()
	hdfs.Register(reg, hdfs.Config{
		User:         "tester",
		Getenv:       func(string) string { return "" },
		RetryBackoff: 5 * time.Millisecond,
		DialTimeout:  2 * time.Second,
		IOTimeout:    10 * time.Second,
	})
	opts := checkpoint.DefaultOptions()
	opts.Retain = 1
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.MergeThreshold = 16 << 10
	s, err := checkpoint.NewStorage(reg, cluster.URL("/ckpt"), "job1", opts)
	if err != nil {
		t.Fatal(err)
	}
	var first *checkpoint.Metadata
	for id := int64(1); id <= 2; id++ {
		md, datas := richCheckpoint(t, s, id)
		if err := s.Complete(bg, md); err != nil {
			t.Fatal(err)
		}
		for i, h := range allHandles(md) {
			b, err := s.Read(bg, h)
			if err != nil || !bytes.Equal(b, datas[i]) {
				t.Fatalf("checkpoint %d handle %d: %v", id, i, err)
			}
		}
		if id == 1 {
			first = md
		}
	}
	// Checkpoint 1 is subsumed and its files are gone.
	fsys, _, _ := reg.Resolve(cluster.URL("/"))
	if _, err := fsys.Stat(bg, s.CheckpointDir(1)); err == nil {
		t.Fatal("subsumed checkpoint 1 still on HDFS")
	}
	if _, err := s.Read(bg, allHandles(first)[2]); err == nil {
		t.Fatal("state of subsumed checkpoint 1 still readable")
	}
	latest, err := s.Latest(bg)
	if err != nil || latest.ID != 2 {
		t.Fatalf("Latest = %v, %v", latest, err)
	}
	sp, err := s.WriteSavepoint(bg, latest, cluster.URL("/savepoints"))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := checkpoint.LoadSavepoint(bg, reg, sp)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range allHandles(loaded) {
		want, err := s.Read(bg, allHandles(latest)[i])
		if err != nil {
			t.Fatal(err)
		}
		if b, err := s.Read(bg, h); err != nil || !bytes.Equal(b, want) {
			t.Fatalf("savepoint handle %d: %v", i, err)
		}
	}
	s2, _ := checkpoint.NewStorage(reg, cluster.URL("/ckpt"), "job1", opts)
	if err := s2.Recover(bg); err != nil {
		t.Fatal(err)
	}
	if c := s2.Completed(); len(c) != 1 || c[0] != 2 {
		t.Fatalf("recovered %v", c)
	}
}
