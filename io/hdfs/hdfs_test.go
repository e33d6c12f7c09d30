package hdfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/hdfstest"
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystem/fstest"
	"github.com/dagflow/dagflow/io/hdfs"
)

// testConfig is a configuration independent of the environment with fast
// retries.
func testConfig() hdfs.Config {
	return hdfs.Config{
		User:         "tester",
		Getenv:       func(string) string { return "" },
		RetryBackoff: 5 * time.Millisecond,
		DialTimeout:  2 * time.Second,
		IOTimeout:    10 * time.Second,
	}
}

func newFS(t *testing.T, cfg hdfs.Config) *hdfs.FileSystem {
	t.Helper()
	f, err := hdfs.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func writeFile(t *testing.T, f filesystem.FileSystem, uri string, data []byte) {
	t.Helper()
	w, err := f.Create(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	// Small blocks make the suite's large file span six blocks.
	cluster := hdfstest.StartTest(t, hdfstest.Options{BlockSize: 256 << 10, ListLimit: 4})
	f := newFS(t, testConfig())
	var n atomic.Int32
	fstest.Run(t, func(t *testing.T) (filesystem.FileSystem, string) {
		root := cluster.URL(fmt.Sprintf("/fstest/%d", n.Add(1)))
		if err := f.MkdirAll(context.Background(), root); err != nil {
			t.Fatal(err)
		}
		return f, root
	})
}

// TestConformanceRealCluster runs the suite against a real cluster when
// DAGFLOW_HDFS_TEST_DIR names a scratch directory on it, e.g.
// hdfs://namenode:8020/tmp/dagflow-test. The configuration comes from
// the environment (HADOOP_CONF_DIR, HADOOP_USER_NAME, Kerberos caches).
func TestConformanceRealCluster(t *testing.T) {
	dir := os.Getenv("DAGFLOW_HDFS_TEST_DIR")
	if dir == "" {
		t.Skip("set DAGFLOW_HDFS_TEST_DIR=hdfs://NAMENODE/scratch/dir to run the suite against a real cluster")
	}
	f := newFS(t, hdfs.Config{})
	var n atomic.Int32
	fstest.Run(t, func(t *testing.T) (filesystem.FileSystem, string) {
		root := fmt.Sprintf("%s/fstest-%d-%d", strings.TrimSuffix(dir, "/"), time.Now().UnixNano(), n.Add(1))
		if err := f.MkdirAll(context.Background(), root); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.RemoveAll(context.Background(), root) })
		return f, root
	})
}

func TestURLForms(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	cfg := testConfig()
	cfg.Properties = map[string]string{
		"fs.defaultFS":                        "hdfs://prod",
		"dfs.nameservices":                    "prod",
		"dfs.ha.namenodes.prod":               "nn1",
		"dfs.namenode.rpc-address.prod.nn1":   cluster.Addr(),
		"dfs.namenode.rpc-address.federated":  cluster.Addr(),
		"dfs.client.use.datanode.hostname":    "false",
		"dfs.namenode.kerberos.principal":     "unused",
		"hadoop.security.authentication":      "simple",
		"dfs.client.failover.proxy.provider.": "ignored",
	}
	f := newFS(t, cfg)
	ctx := context.Background()
	writeFile(t, f, "hdfs:///data/a.txt", []byte("a"))
	for _, uri := range []string{
		"hdfs:///data/a.txt", "hdfs://prod/data/a.txt", "hdfs://federated/data/a.txt",
		"hdfs://" + cluster.Addr() + "/data/a.txt", "HDFS://" + cluster.Addr() + "//data/./a.txt",
	} {
		st, err := f.Stat(ctx, uri)
		if err != nil || st.Size != 1 {
			t.Errorf("Stat(%s) = %+v, %v", uri, st, err)
		}
	}
	// Returned paths keep the form they were asked with.
	list, err := f.List(ctx, "hdfs:///data")
	if err != nil || len(list) != 1 || list[0].Path != "hdfs:///data/a.txt" {
		t.Fatalf("List(hdfs:///data) = %+v, %v", list, err)
	}
	g, err := f.Glob(ctx, "hdfs://prod/d*/*.txt")
	if err != nil || len(g) != 1 || g[0].Path != "hdfs://prod/data/a.txt" {
		t.Fatalf("Glob = %+v, %v", g, err)
	}
	st, err := f.Stat(ctx, "hdfs://prod")
	if err != nil || !st.IsDir || st.Path != "hdfs://prod/" {
		t.Fatalf("Stat of the root = %+v, %v", st, err)
	}
	if err := f.RemoveAll(ctx, "hdfs://prod/"); err == nil {
		t.Fatal("RemoveAll of the root succeeded")
	}
	if _, err := f.Stat(ctx, "/data/a.txt"); err == nil || !strings.Contains(err.Error(), "not an hdfs:// URI") {
		t.Fatalf("plain path: %v", err)
	}
	if err := f.Rename(ctx, "hdfs://prod/data/a.txt", "hdfs://other/a.txt"); err == nil || !strings.Contains(err.Error(), "across") {
		t.Fatalf("rename across authorities: %v", err)
	}
	// One connection per authority: server defaults are fetched once per
	// connection, and the cluster was named by three authorities: "prod"
	// (also the default FS), "federated" and its address.
	if n := cluster.Ops()["getServerDefaults"]; n != 3 {
		t.Fatalf("getServerDefaults = %d, want 3", n)
	}
}

func TestOneConnectionPerAuthority(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	f := newFS(t, testConfig())
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Stat(context.Background(), cluster.URL("/")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Each connection fetches the server defaults once.
	if n := cluster.Ops()["getServerDefaults"]; n != 1 {
		t.Fatalf("%d connections for 16 concurrent first calls", n)
	}
}

func TestRegister(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	reg := hdfs.Register(filesystem.NewRegistry(), testConfig())
	fsys, p, err := reg.Resolve(cluster.URL("/x"))
	if err != nil || p != cluster.URL("/x") {
		t.Fatalf("Resolve = %v, %q, %v", fsys, p, err)
	}
	writeFile(t, fsys, cluster.URL("/in/a"), []byte("hello\n"))
	files, err := filesystem.ExpandInputs(context.Background(), reg, []string{cluster.URL("/in")})
	if err != nil || len(files) != 1 || files[0].Size != 6 {
		t.Fatalf("ExpandInputs = %+v, %v", files, err)
	}

	// A configuration error fails hdfs:// calls only.
	bad := testConfig()
	bad.ConfDir = "/nonexistent/hadoop/conf"
	reg = hdfs.Register(filesystem.NewRegistry(), bad)
	fsys, _, _ = reg.Resolve(cluster.URL("/x"))
	if _, err := fsys.Stat(context.Background(), cluster.URL("/x")); err == nil || !strings.Contains(err.Error(), "/nonexistent/hadoop/conf") {
		t.Fatalf("hdfs call with a bad configuration: %v", err)
	}
	if _, _, err := reg.Resolve(t.TempDir()); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	f := newFS(t, testConfig())
	ctx := context.Background()
	secret := cluster.URL("/secret/f")
	writeFile(t, f, secret, []byte("x"))

	cluster.DenyPrefix("/secret")
	_, err := f.Open(ctx, secret)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), secret) {
		t.Errorf("Open of a denied path: %v", err)
	}
	_, err = f.Create(ctx, cluster.URL("/secret/g"))
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Create of a denied path: %v", err)
	}
	if _, err := f.Glob(ctx, cluster.URL("/secret/*")); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Glob over a denied directory: %v", err)
	}
	cluster.AllowAll()

	cluster.SetSafeMode(true)
	for name, err := range map[string]error{
		"Create":    second(f.Create(ctx, cluster.URL("/new"))),
		"MkdirAll":  f.MkdirAll(ctx, cluster.URL("/newdir")),
		"Rename":    f.Rename(ctx, secret, cluster.URL("/secret/g")),
		"Remove":    f.Remove(ctx, secret),
		"RemoveAll": f.RemoveAll(ctx, secret),
	} {
		if !errors.Is(err, hdfs.ErrSafeMode) || !strings.Contains(err.Error(), "safe mode") {
			t.Errorf("%s in safe mode: %v", name, err)
		}
	}
	if _, err := f.Stat(ctx, secret); err != nil {
		t.Errorf("Stat in safe mode: %v", err)
	}
	cluster.SetSafeMode(false)

	if err := f.Remove(ctx, cluster.URL("/secret")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Errorf("Remove of a non-empty directory: %v", err)
	}
	if err := f.Rename(ctx, cluster.URL("/secret"), cluster.URL("/secret/sub")); err == nil {
		t.Error("Rename of a directory into itself succeeded")
	}
}

func second[T any](_ T, err error) error { return err }

func TestUnreachableNameNode(t *testing.T) {
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig()
	cfg.Retries = 3
	f := newFS(t, cfg)
	start := time.Now()
	_, err = f.Stat(context.Background(), "hdfs://"+addr+"/x")
	if !errors.Is(err, hdfs.ErrUnavailable) || !strings.Contains(err.Error(), "NameNode "+addr+" unavailable after 4 attempts") ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Stat with no NameNode: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v", d)
	}

	// Retries are abandoned when the context ends.
	cfg.Retries, cfg.RetryBackoff = 100, 50*time.Millisecond
	f = newFS(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := f.Stat(ctx, "hdfs://"+addr+"/x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat with a deadline: %v", err)
	}
}

func TestNameNodeRestart(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	cfg := testConfig()
	cfg.Retries, cfg.RetryBackoff = 10, 20*time.Millisecond
	f := newFS(t, cfg)
	ctx := context.Background()
	writeFile(t, f, cluster.URL("/a"), []byte("a"))

	// The connection breaks; calls retry until the NameNode is back.
	cluster.StopNameNode()
	done := make(chan error, 1)
	go func() {
		time.Sleep(150 * time.Millisecond)
		done <- cluster.StartNameNode()
	}()
	if st, err := f.Stat(ctx, cluster.URL("/a")); err != nil || st.Size != 1 {
		t.Fatalf("Stat across a NameNode restart: %+v, %v", st, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Non-idempotent calls are retried while the NameNode refuses
	// connections (nothing was sent).
	cluster.StopNameNode()
	go func() {
		time.Sleep(150 * time.Millisecond)
		done <- cluster.StartNameNode()
	}()
	if err := f.Rename(ctx, cluster.URL("/a"), cluster.URL("/b")); err != nil {
		t.Fatalf("Rename across a NameNode restart: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stat(ctx, cluster.URL("/b")); err != nil {
		t.Fatal(err)
	}
}

func TestConnectionResetMidCall(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	f := newFS(t, testConfig())
	ctx := context.Background()
	writeFile(t, f, cluster.URL("/a"), []byte("a"))

	// Idempotent calls are retried on a new connection.
	cluster.ResetAfterCall("getFileInfo", 2)
	if st, err := f.Stat(ctx, cluster.URL("/a")); err != nil || st.Size != 1 {
		t.Fatalf("Stat with two dropped replies: %+v, %v", st, err)
	}
	// A rename whose reply is lost may have happened: not retried.
	cluster.ResetAfterCall("rename2", 1)
	err := f.Rename(ctx, cluster.URL("/a"), cluster.URL("/b"))
	if !errors.Is(err, hdfs.ErrUnavailable) || !strings.Contains(err.Error(), "may have taken effect") {
		t.Fatalf("Rename with a dropped reply: %v", err)
	}
	if _, err := f.Stat(ctx, cluster.URL("/b")); err != nil {
		t.Fatalf("the rename did happen: %v", err)
	}
	if n := cluster.Ops()["rename2"]; n != 1 {
		t.Fatalf("rename2 sent %d times", n)
	}
}

func TestHAFailover(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{HA: true})
	nns := cluster.NameNodes()
	cfg := testConfig()
	cfg.Properties = map[string]string{
		"dfs.nameservices":                    "ha",
		"dfs.ha.namenodes.ha":                 "nn1,nn2",
		"dfs.namenode.rpc-address.ha.nn1":     nns[0],
		"dfs.namenode.rpc-address.ha.nn2":     nns[1],
		"dfs.client.failover.proxy.provider.": "ignored",
	}
	f := newFS(t, cfg)
	ctx := context.Background()
	writeFile(t, f, "hdfs://ha/f", []byte("one")) // nn1 is standby: the client moves to nn2
	if cluster.Ops()["standbyRejected"] == 0 {
		t.Fatal("the standby NameNode was not tried first")
	}
	cluster.Failover() // nn1 active, nn2 standby
	for i := 0; i < 3; i++ {
		if st, err := f.Stat(ctx, "hdfs://ha/f"); err != nil || st.Size != 3 {
			t.Fatalf("Stat #%d after failover: %+v, %v", i, st, err)
		}
	}
	writeFile(t, f, "hdfs://ha/g", []byte("two"))
}

func TestDataNodeFailures(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{BlockSize: 128 << 10})
	f := newFS(t, testConfig())
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB: 10 packets, 5 blocks

	// Killed after 3 packets: a write or Close fails with a clear error.
	killed := cluster.KillDataNodeAfter(3)
	w, err := f.Create(ctx, cluster.URL("/out/part"))
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(data)
	cerr := w.Close()
	err = errors.Join(werr, cerr)
	if cerr == nil || !strings.Contains(err.Error(), "DataNode write pipeline failed") || !strings.Contains(err.Error(), cluster.URL("/out/part")) {
		t.Fatalf("write to a dying DataNode: write %v, close %v", werr, cerr)
	}
	<-killed
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after a failed Close succeeded")
	}
	// The incomplete file can be removed (as sinks do), and writes work
	// once the DataNode is back.
	if err := f.Remove(ctx, cluster.URL("/out/part")); err != nil {
		t.Fatal(err)
	}
	if err := cluster.StartDataNode(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, cluster.URL("/out/part"), data)

	// Reads of a stopped DataNode fail; the error names the file.
	r, err := f.Open(ctx, cluster.URL("/out/part"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cluster.StopDataNode()
	_, err = io.ReadAll(r)
	if err == nil || !strings.Contains(err.Error(), cluster.URL("/out/part")) {
		t.Fatalf("read with the DataNode down: %v", err)
	}
	if err := cluster.StartDataNode(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the DataNode restarted: %d bytes, %v", len(got), err)
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	cluster := hdfstest.StartTest(t, hdfstest.Options{})
	cfg := testConfig()
	cfg.IdleTimeout = 20 * time.Millisecond
	f := newFS(t, cfg)
	writeFile(t, f, cluster.URL("/a"), []byte("a"))
	time.Sleep(100 * time.Millisecond)
	writeFile(t, f, cluster.URL("/b"), []byte("b"))
	// Each connection fetches the server defaults once.
	if n := cluster.Ops()["getServerDefaults"]; n != 2 {
		t.Fatalf("getServerDefaults = %d, want 2 (the idle connection was closed)", n)
	}
	// An open file keeps its connection.
	r, err := f.Open(context.Background(), cluster.URL("/a"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if b, err := io.ReadAll(r); err != nil || string(b) != "a" {
		t.Fatalf("read after idling with the file open: %q, %v", b, err)
	}
	r.Close()

	f.Close()
	if _, err := f.Stat(context.Background(), cluster.URL("/a")); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Stat after Close: %v", err)
	}
}
