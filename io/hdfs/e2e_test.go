package hdfs_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/wordcount/job"
	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystems"
	"github.com/dagflow/dagflow/io/hdfs"
	"github.com/dagflow/dagflow/scheduler"
)

// The wordcount example job, unmodified, reads and writes hdfs:// URIs
// through fileio's default registry.

// isolateEnv keeps the Hadoop configuration of the machine out of the
// default registry the job uses.
func isolateEnv(t *testing.T) {
	t.Setenv("HADOOP_CONF_DIR", "")
	t.Setenv("HADOOP_HOME", "")
	t.Setenv("HADOOP_USER_NAME", "dagflow")
}

// sampleInput writes the wordcount input locally and copies it to the
// cluster under /in; it returns the local directory.
func sampleInput(t *testing.T, cluster *hdfstest.Cluster, lines int) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := job.WriteSample(filepath.Join(in, "a.txt"), lines, 1); err != nil {
		t.Fatal(err)
	}
	odd := "héllo\u00a0wörld  tab\there\r\nagain  héllo\n\n\u2003x\u3000y\nlast"
	if err := os.WriteFile(filepath.Join(in, "b.txt"), []byte(odd), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, testConfig())
	for _, name := range []string{"a.txt", "b.txt"} {
		data, err := os.ReadFile(filepath.Join(in, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, f, cluster.URL("/in/"+name), data)
	}
	return in
}

func runWordCount(t *testing.T, in, out string, restart *scheduler.RestartStrategy) (*dagflow.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	g := job.Build(in, out, dag.Config{Parallelism: 2, Mode: dag.BatchMode})
	return dagflow.Run(ctx, g, dagflow.Options{Progress: io.Discard, Restart: restart})
}

func wordCounts(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	lines, err := fileio.ReadAllLines(context.Background(), filesystems.Default(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]int64, len(lines))
	for _, l := range lines {
		w, c, _ := strings.Cut(l, "\t")
		n, err := strconv.ParseInt(c, 10, 64)
		if _, dup := m[w]; dup || err != nil {
			t.Fatalf("bad or duplicate output line %q", l)
		}
		m[w] = n
	}
	return m
}

func TestWordCountOnHDFS(t *testing.T) {
	isolateEnv(t)
	cluster := hdfstest.StartTest(t, hdfstest.Options{BlockSize: 256 << 10}) // multi-block input
	in := sampleInput(t, cluster, 20000)
	localOut := filepath.Join(t.TempDir(), "out")
	if _, err := runWordCount(t, in, localOut, nil); err != nil {
		t.Fatal(err)
	}
	want := wordCounts(t, localOut)

	before := cluster.Ops()
	res, err := runWordCount(t, cluster.URL("/in"), cluster.URL("/out"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ops := cluster.Ops().Sub(before)
	got := wordCounts(t, cluster.URL("/out"))
	if !maps.Equal(got, want) {
		t.Fatalf("HDFS run counted %d words, the local run %d", len(got), len(want))
	}
	parts, err := filesystem.ExpandInputs(context.Background(), filesystems.Default(), []string{cluster.URL("/out")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("NameNode calls of one wordcount run (%d part files, %d restarts): %v", len(parts), res.Restarts, ops)
	// Each part file: create, rename to pending, rename to final. The
	// source and the sink (each with its registry) connect once each.
	if n := int64(len(parts)); ops["create"] != n || ops["rename2"] != 2*n || ops["complete"] != n || ops["delete"] != 0 ||
		ops["getServerDefaults"] != 2 {
		t.Errorf("NameNode calls %v for %d part files", ops, n)
	}
}

func TestWordCountDataNodeKilledMidWrite(t *testing.T) {
	isolateEnv(t)
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	in := sampleInput(t, cluster, 20000)
	localOut := filepath.Join(t.TempDir(), "out")
	if _, err := runWordCount(t, in, localOut, nil); err != nil {
		t.Fatal(err)
	}
	want := wordCounts(t, localOut)

	// The DataNode dies at the second packet of output (the job writes
	// nothing else) and is back soon after; the sink's task fails, the
	// job restarts it and commits complete files only.
	killed := cluster.KillDataNodeAfter(2)
	restarted := make(chan error, 1)
	go func() {
		select {
		case <-killed:
			restarted <- cluster.StartDataNode()
		case <-time.After(40 * time.Second):
			restarted <- errors.New("the DataNode was never killed")
		}
	}()
	restart := scheduler.FixedDelay(3, 100*time.Millisecond)
	res, err := runWordCount(t, cluster.URL("/in"), cluster.URL("/out"), &restart)
	if rerr := <-restarted; rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Restarts < 1 {
		t.Errorf("the job did not restart (restarts = %d)", res.Restarts)
	}
	if got := wordCounts(t, cluster.URL("/out")); !maps.Equal(got, want) {
		t.Fatalf("after the DataNode failure %d words, want %d", len(got), len(want))
	}
}

func TestWordCountNameNodeDown(t *testing.T) {
	isolateEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	_, err = runWordCount(t, "hdfs://"+addr+"/in", filepath.Join(t.TempDir(), "out"), nil)
	if err == nil || !strings.Contains(err.Error(), "NameNode "+addr+" unavailable") {
		t.Fatalf("job with the NameNode down: %v", err)
	}
	if !errors.Is(err, hdfs.ErrUnavailable) {
		t.Logf("note: the job error does not wrap hdfs.ErrUnavailable: %v", err)
	}
	t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
