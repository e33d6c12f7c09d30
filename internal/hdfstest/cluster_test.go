package hdfstest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

// The tests drive the stand-in with the unmodified client library.

func client(t *testing.T, addrs ...string) *hdfs.Client {
	t.Helper()
	c, err := hdfs.NewClient(hdfs.ClientOptions{Addresses: addrs, User: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeFile(t *testing.T, c *hdfs.Client, name string, data []byte) {
	t.Helper()
	w, err := c.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 { // the client starts a block even for an empty write
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteReadMultiBlock(t *testing.T) {
	cl := StartTest(t, Options{BlockSize: 64 << 10})
	c := client(t, cl.Addr())
	if err := c.MkdirAll("/data/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(300<<10+123, 1) // 5 blocks, the last partial
	writeFile(t, c, "/data/sub/big", data)
	writeFile(t, c, "/data/empty", nil)

	got, err := c.ReadFile("/data/sub/big")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (err %v), want %d", len(got), err, len(data))
	}
	f, err := c.Open("/data/sub/big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range []int64{0, 1, 511, 512, 65535, 65536, 200000, int64(len(data)) - 7} {
		buf := make([]byte, 1000)
		n, err := f.ReadAt(buf, off)
		want := data[off:min(off+1000, int64(len(data)))]
		if !bytes.Equal(buf[:n], want) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d) = %d bytes, %v", off, n, err)
		}
	}
	if st, err := c.Stat("/data/sub/big"); err != nil || st.Size() != int64(len(data)) || st.IsDir() {
		t.Fatalf("Stat = %v, %v", st, err)
	}
	if b, err := c.ReadFile("/data/empty"); err != nil || len(b) != 0 {
		t.Fatalf("empty file: %q, %v", b, err)
	}
	ops := cl.Ops()
	if ops["create"] != 2 || ops["addBlock"] != 5 || ops["complete"] != 2 {
		t.Fatalf("ops = %v", ops)
	}
	if cl.DataPackets() < 5 {
		t.Fatalf("DataPackets = %d", cl.DataPackets())
	}
}

func TestNamespace(t *testing.T) {
	cl := StartTest(t, Options{ListLimit: 3})
	c := client(t, cl.Addr())
	if err := c.MkdirAll("/dir", 0o755); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := 0; i < 10; i++ {
		name := string(rune('j' - i))
		writeFile(t, c, "/dir/"+name, []byte(name))
		want = append(want, name)
	}
	sort.Strings(want)
	entries, err := c.ReadDir("/dir") // 4 getListing pages
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("listing %v, want %v", got, want)
	}
	if n := cl.Ops()["getListing"]; n != 4 {
		t.Fatalf("getListing calls = %d, want 4 pages", n)
	}

	// Rename replaces an existing file (rename2 with overwrite).
	if err := c.Rename("/dir/a", "/dir/b"); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.ReadFile("/dir/b"); string(b) != "a" {
		t.Fatalf("rename did not replace: %q", b)
	}
	if _, err := c.Stat("/dir/a"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("source after rename: %v", err)
	}
	if err := c.Rename("/missing", "/dir/x"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rename missing: %v", err)
	}
	if err := c.Rename("/dir/b", "/nodir/b"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rename into missing dir: %v", err)
	}
	if err := c.Rename("/dir", "/moved"); err != nil {
		t.Fatal(err)
	}
	if b, _ := c.ReadFile("/moved/c"); string(b) != "c" {
		t.Fatalf("after directory rename: %q", b)
	}

	if _, err := c.Create("/moved/c"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("create existing: %v", err)
	}
	if err := c.Remove("/moved"); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove non-empty dir: %v", err)
	}
	if err := c.Remove("/moved/c"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveAll("/moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat("/moved"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after RemoveAll: %v", err)
	}
	if err := c.RemoveAll("/moved"); err != nil {
		t.Fatalf("RemoveAll of a missing path: %v", err)
	}
}

func TestFaults(t *testing.T) {
	cl := StartTest(t, Options{})
	c := client(t, cl.Addr())
	if _, err := c.Create("/nodir/f"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("create in a missing directory: %v", err)
	}
	if err := c.MkdirAll("/secret", 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, c, "/secret/f", []byte("x"))

	cl.DenyPrefix("/secret")
	if _, err := c.Stat("/secret/f"); !errors.Is(err, os.ErrPermission) {
		t.Fatalf("denied stat: %v", err)
	}
	if _, err := c.Stat("/secretive"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("prefix must match whole path elements: %v", err)
	}
	cl.AllowAll()

	cl.SetSafeMode(true)
	err := c.Mkdir("/new", 0o755)
	var remote hdfs.Error
	if !errors.As(err, &remote) || !strings.Contains(remote.Exception(), "SafeModeException") {
		t.Fatalf("mkdir in safe mode: %v", err)
	}
	if _, err := c.Stat("/secret/f"); err != nil {
		t.Fatalf("reads work in safe mode: %v", err)
	}
	cl.SetSafeMode(false)

	// DataNode down: reads fail, come back after a restart.
	cl.StopDataNode()
	if _, err := c.ReadFile("/secret/f"); err == nil {
		t.Fatal("read with the DataNode down succeeded")
	}
	if err := cl.StartDataNode(); err != nil {
		t.Fatal(err)
	}
	if b, err := c.ReadFile("/secret/f"); err != nil || string(b) != "x" {
		t.Fatalf("read after restart: %q, %v", b, err)
	}

	// DataNode killed after 2 packets of a write: Close fails.
	killed := cl.KillDataNodeAfter(2)
	w, err := c.Create("/partial")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := w.Write(randomBytes(400<<10, 2))
	cerr := w.Close()
	if werr == nil && cerr == nil {
		t.Fatal("write to a killed DataNode succeeded")
	}
	select {
	case <-killed:
	case <-time.After(5 * time.Second):
		t.Fatal("kill did not fire")
	}
	if cl.DataNodeRunning() {
		t.Fatal("DataNode still running after the kill")
	}

	// NameNode down: a new client cannot connect; the error names it.
	cl.StopNameNode()
	_, err = hdfs.NewClient(hdfs.ClientOptions{Addresses: []string{cl.Addr()}, User: "u"})
	if err == nil || !strings.Contains(err.Error(), cl.Addr()) {
		t.Fatalf("client of a stopped NameNode: %v", err)
	}
	if err := cl.StartNameNode(); err != nil {
		t.Fatal(err)
	}
	if _, err := client(t, cl.Addr()).Stat("/secret/f"); err != nil {
		t.Fatalf("after NameNode restart: %v", err)
	}
}

func TestHAFailover(t *testing.T) {
	cl := StartTest(t, Options{HA: true})
	nns := cl.NameNodes()
	if cl.Addr() != nns[1] {
		t.Fatalf("active %s, want nn2 %s", cl.Addr(), nns[1])
	}
	c := client(t, nns...) // tries the standby nn1 first
	writeFile(t, c, "/f", []byte("ha"))
	if n := cl.Ops()["standbyRejected"]; n == 0 {
		t.Fatal("the standby NameNode was never asked")
	}
	cl.Failover()
	c2 := client(t, nns...) // nn1 is active now
	if b, err := c2.ReadFile("/f"); err != nil || string(b) != "ha" {
		t.Fatalf("after failover: %q, %v", b, err)
	}
}
