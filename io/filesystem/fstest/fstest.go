// Package fstest is a conformance suite for implementations of
// filesystem.FileSystem: it checks every method against the contract of
// package filesystem as the local file system (filesystem.Local) honours
// it, including the errors callers match with errors.Is.
//
// Use it from a test of the implementation:
//
//	func TestConformance(t *testing.T) {
//		fstest.Run(t, func(t *testing.T) (filesystem.FileSystem, string) {
//			return myfs, makeEmptyDir(t)
//		})
//	}
package fstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/io/filesystem"
)

// Run runs the suite as subtests of t. newFS is called by every subtest
// and returns the file system under test and root, an existing empty
// directory of it to work in (a local path for Local, a URI such as
// "hdfs://nn:8020/tmp/x" for other schemes). Subtests build paths with
// filesystem.Join(root, ...).
func Run(t *testing.T, newFS func(t *testing.T) (fsys filesystem.FileSystem, root string)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s suite)
	}{
		{"CreateRead", testCreateRead},
		{"EmptyFile", testEmptyFile},
		{"ReadAtSeek", testReadAtSeek},
		{"Stat", testStat},
		{"List", testList},
		{"Glob", testGlob},
		{"MkdirAll", testMkdirAll},
		{"Rename", testRename},
		{"Remove", testRemove},
		{"RemoveAll", testRemoveAll},
		{"CancelledContext", testCancelled},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys, root := newFS(t)
			tc.fn(t, suite{fsys: fsys, root: root, ctx: context.Background()})
		})
	}
}

type suite struct {
	fsys filesystem.FileSystem
	root string
	ctx  context.Context
}

// p joins path elements below the root.
func (s suite) p(elems ...string) string {
	out := s.root
	for _, e := range elems {
		out = filesystem.Join(out, e)
	}
	return out
}

func (s suite) write(t *testing.T, path string, data []byte) {
	t.Helper()
	w, err := s.fsys.Create(s.ctx, path)
	if err != nil {
		t.Fatalf("Create(%s): %v", path, err)
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		t.Fatalf("Write(%s): %v", path, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%s): %v", path, err)
	}
}

func (s suite) read(t *testing.T, path string) []byte {
	t.Helper()
	f, err := s.fsys.Open(s.ctx, path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return b
}

// wantErr checks that err matches target and names path.
func wantErr(t *testing.T, what string, err, target error, path string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want one matching %v", what, err, target)
		return
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("%s: error %q does not name %s", what, err, path)
	}
}

func names(infos []filesystem.FileInfo) []string {
	var out []string
	for _, fi := range infos {
		out = append(out, filesystem.BaseName(fi.Path))
	}
	return out
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testCreateRead(t *testing.T, s suite) {
	p := s.p("a", "b", "f.txt") // parents are made
	s.write(t, p, []byte("hello world"))
	if got := s.read(t, p); string(got) != "hello world" {
		t.Fatalf("read back %q", got)
	}
	_, err := s.fsys.Create(s.ctx, p)
	wantErr(t, "Create of an existing file", err, fs.ErrExist, p)
	if got := s.read(t, p); string(got) != "hello world" {
		t.Fatalf("failed Create changed the file: %q", got)
	}

	f, err := s.fsys.Open(s.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil || st.Size != 11 || st.IsDir || st.Path != p {
		t.Errorf("File.Stat = %+v, %v; want size 11 and path %s", st, err, p)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	missing := s.p("missing.txt")
	_, err = s.fsys.Open(s.ctx, missing)
	wantErr(t, "Open of a missing file", err, fs.ErrNotExist, missing)
	dir := s.p("a")
	_, err = s.fsys.Open(s.ctx, dir)
	wantErr(t, "Open of a directory", err, filesystem.ErrIsDir, dir)

	w, err := s.fsys.Create(s.ctx, s.p("closed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func testEmptyFile(t *testing.T, s suite) {
	p := s.p("empty")
	s.write(t, p, nil)
	st, err := s.fsys.Stat(s.ctx, p)
	if err != nil || st.Size != 0 || st.IsDir {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	f, err := s.fsys.Open(s.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read of an empty file = %d, %v; want 0, EOF", n, err)
	}
	if n, err := f.ReadAt(make([]byte, 10), 0); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt of an empty file = %d, %v; want 0, EOF", n, err)
	}
}

func testReadAtSeek(t *testing.T, s suite) {
	// Large enough to span blocks of a remote store configured with
	// small blocks, and packets of 64 KiB.
	data := randomData(1<<20+300<<10+7, 1)
	p := s.p("big.bin")
	w, err := s.fsys.Create(s.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; { // uneven writes
		n := min(len(rest), 100_003)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := s.fsys.Stat(s.ctx, p); err != nil || st.Size != int64(len(data)) {
		t.Fatalf("Stat = %+v, %v; want size %d", st, err, len(data))
	}
	if got := s.read(t, p); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(data))
	}

	f, err := s.fsys.Open(s.ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(len(data))
	for _, off := range []int64{0, 1, 511, 512, 65535, 65536, 1<<20 - 3, 1 << 20, 700_001, size - 1000} {
		buf := make([]byte, 1000)
		n, err := f.ReadAt(buf, off)
		if n != 1000 || err != nil || !bytes.Equal(buf, data[off:off+1000]) {
			t.Fatalf("ReadAt(1000 bytes at %d) = %d, %v (data equal: %v)", off, n, err, bytes.Equal(buf[:n], data[off:off+int64(n)]))
		}
	}
	buf := make([]byte, 10)
	if n, err := f.ReadAt(buf, size-3); n != 3 || err != io.EOF || !bytes.Equal(buf[:3], data[size-3:]) {
		t.Fatalf("ReadAt across the end = %d, %v; want 3, EOF", n, err)
	}
	if n, err := f.ReadAt(buf, size); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v; want 0, EOF", n, err)
	}
	if n, err := f.ReadAt(buf, size+100); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt past the end = %d, %v; want 0, EOF", n, err)
	}
	if _, err := f.ReadAt(buf, -1); err == nil {
		t.Fatal("ReadAt at a negative offset succeeded")
	}

	// ReadAt leaves the offset of Read alone.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, data[:10]) {
		t.Fatalf("Read = %q, %v", buf, err)
	}
	if _, err := f.ReadAt(make([]byte, 100), 500_000); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(f, buf); err != nil || !bytes.Equal(buf, data[10:20]) {
		t.Fatal("ReadAt moved the offset of Read")
	}

	// Each check seeks, then reads 10 bytes (fewer at the end).
	seek := func(off int64, whence int, want int64) {
		t.Helper()
		got, err := f.Seek(off, whence)
		if err != nil || got != want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", off, whence, got, err, want)
		}
		n, err := io.ReadFull(f, buf)
		if n != int(min(10, size-got)) || !bytes.Equal(buf[:n], data[got:got+int64(n)]) {
			t.Fatalf("Read after Seek to %d = %d bytes, %v", got, n, err)
		}
	}
	seek(100, io.SeekStart, 100)
	seek(50, io.SeekCurrent, 160)
	seek(-20, io.SeekEnd, size-20)
	seek(1<<20-(size-10), io.SeekCurrent, 1<<20)
	seek(-5, io.SeekEnd, size-5)
	if got, err := f.Seek(size+10, io.SeekStart); err != nil || got != size+10 {
		t.Fatalf("Seek past the end = %d, %v", got, err)
	}
	if n, err := f.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read past the end = %d, %v; want 0, EOF", n, err)
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("Seek to a negative offset succeeded")
	}
	if got, err := f.Seek(0, io.SeekStart); err != nil || got != 0 {
		t.Fatalf("Seek back to 0 = %d, %v", got, err)
	}
	rest, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(rest, data) {
		t.Fatalf("ReadAll after seeking back: %d bytes, %v", len(rest), err)
	}
}

func testStat(t *testing.T, s suite) {
	p := s.p("f")
	s.write(t, p, []byte("12345"))
	st, err := s.fsys.Stat(s.ctx, p)
	if err != nil || st.Size != 5 || st.IsDir || st.Path != p {
		t.Fatalf("Stat(file) = %+v, %v", st, err)
	}
	if d := time.Since(st.ModTime); d < -time.Hour || d > time.Hour {
		t.Errorf("ModTime %v is not about now", st.ModTime)
	}
	dir := s.p("d")
	if err := s.fsys.MkdirAll(s.ctx, dir); err != nil {
		t.Fatal(err)
	}
	s.write(t, s.p("d", "inside"), []byte("xyz"))
	st, err = s.fsys.Stat(s.ctx, dir)
	if err != nil || !st.IsDir || st.Size != 0 || st.Path != dir {
		t.Fatalf("Stat(dir) = %+v, %v", st, err)
	}
	missing := s.p("nope")
	_, err = s.fsys.Stat(s.ctx, missing)
	wantErr(t, "Stat of a missing path", err, fs.ErrNotExist, missing)
	below := s.p("f", "below")
	if _, err := s.fsys.Stat(s.ctx, below); err == nil {
		t.Errorf("Stat of a path below a file succeeded")
	}
}

func testList(t *testing.T, s suite) {
	for _, n := range []string{"c", "a", "b.txt", "a.txt"} {
		s.write(t, s.p(n), []byte(n))
	}
	s.write(t, s.p("d", "nested"), []byte("not listed"))
	if err := s.fsys.MkdirAll(s.ctx, s.p("e")); err != nil {
		t.Fatal(err)
	}
	list, err := s.fsys.List(s.ctx, s.root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(list), []string{"a", "a.txt", "b.txt", "c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	for _, fi := range list {
		name := filesystem.BaseName(fi.Path)
		if fi.Path != s.p(name) {
			t.Errorf("List entry path %q, want %q", fi.Path, s.p(name))
		}
		if dir := name == "d" || name == "e"; fi.IsDir != dir {
			t.Errorf("%s: IsDir = %v", name, fi.IsDir)
		}
		if !fi.IsDir && fi.Size != int64(len(name)) {
			t.Errorf("%s: Size = %d, want %d", name, fi.Size, len(name))
		}
	}
	if empty, err := s.fsys.List(s.ctx, s.p("e")); err != nil || len(empty) != 0 {
		t.Errorf("List of an empty directory = %v, %v", empty, err)
	}
	file := s.p("a.txt")
	_, err = s.fsys.List(s.ctx, file)
	wantErr(t, "List of a file", err, filesystem.ErrNotDir, file)
	missing := s.p("missing")
	_, err = s.fsys.List(s.ctx, missing)
	wantErr(t, "List of a missing directory", err, fs.ErrNotExist, missing)
}

func testGlob(t *testing.T, s suite) {
	for _, n := range []string{"x.txt", "y.txt", "z.log", "sub/a.txt", "sub/b.log", "sub2/c.txt", ".hidden.txt"} {
		parts := strings.Split(n, "/")
		s.write(t, s.p(parts...), []byte(n))
	}
	tests := []struct {
		pattern []string
		want    []string
	}{
		{[]string{"*.txt"}, []string{".hidden.txt", "x.txt", "y.txt"}},
		{[]string{"?.log"}, []string{"z.log"}},
		{[]string{"[xz].*"}, []string{"x.txt", "z.log"}},
		{[]string{"sub*", "*.txt"}, []string{"sub/a.txt", "sub2/c.txt"}},
		{[]string{"sub*"}, []string{"sub", "sub2"}},
		{[]string{"sub", "a.txt"}, []string{"sub/a.txt"}}, // no metacharacters
		{[]string{"*", "b.log"}, []string{"sub/b.log"}},
		{[]string{"*.csv"}, nil},
		{[]string{"nodir", "*.txt"}, nil},
		{[]string{"x.txt", "*"}, nil}, // below a file
		{[]string{"missing.txt"}, nil},
	}
	for _, tc := range tests {
		pattern := s.p(tc.pattern...)
		got, err := s.fsys.Glob(s.ctx, pattern)
		if err != nil {
			t.Errorf("Glob(%s): %v", pattern, err)
			continue
		}
		var rel []string
		for _, fi := range got {
			r := strings.TrimPrefix(fi.Path, s.root)
			rel = append(rel, strings.TrimLeft(filepath.ToSlash(r), "/"))
		}
		if !slices.Equal(rel, tc.want) {
			t.Errorf("Glob(%s) = %v, want %v", pattern, rel, tc.want)
		}
		for _, fi := range got {
			if !fi.IsDir && fi.Size != int64(len(strings.TrimLeft(filepath.ToSlash(strings.TrimPrefix(fi.Path, s.root)), "/"))) {
				t.Errorf("Glob(%s): %s has size %d", pattern, fi.Path, fi.Size)
			}
		}
	}
	bad := s.p("[")
	_, err := s.fsys.Glob(s.ctx, bad)
	if !errors.Is(err, filepath.ErrBadPattern) && !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("Glob(%s) error %v, want ErrBadPattern", bad, err)
	}
}

func testMkdirAll(t *testing.T, s suite) {
	dir := s.p("x", "y", "z")
	for i := 0; i < 2; i++ { // idempotent
		if err := s.fsys.MkdirAll(s.ctx, dir); err != nil {
			t.Fatalf("MkdirAll #%d: %v", i+1, err)
		}
	}
	if st, err := s.fsys.Stat(s.ctx, dir); err != nil || !st.IsDir {
		t.Fatalf("Stat after MkdirAll = %+v, %v", st, err)
	}
	s.write(t, s.p("x", "y", "z", "f"), []byte("f"))
	if err := s.fsys.MkdirAll(s.ctx, s.p("x", "y", "z", "f")); err == nil {
		t.Error("MkdirAll over a file succeeded")
	}
	if err := s.fsys.MkdirAll(s.ctx, s.p("x", "y", "z", "f", "g")); err == nil {
		t.Error("MkdirAll below a file succeeded")
	}
	if _, err := s.fsys.Create(s.ctx, s.p("x", "y", "z", "f", "g")); err == nil {
		t.Error("Create below a file succeeded")
	}
}

func testRename(t *testing.T, s suite) {
	a, b := s.p("a"), s.p("b")
	s.write(t, a, []byte("first"))
	if err := s.fsys.Rename(s.ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.fsys.Stat(s.ctx, a); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source after Rename: %v", err)
	}
	if got := s.read(t, b); string(got) != "first" {
		t.Errorf("destination after Rename = %q", got)
	}

	// Rename replaces an existing destination file (the sinks' commit).
	s.write(t, a, []byte("second"))
	if err := s.fsys.Rename(s.ctx, a, b); err != nil {
		t.Fatalf("Rename onto an existing file: %v", err)
	}
	if got := s.read(t, b); string(got) != "second" {
		t.Errorf("Rename did not replace the destination: %q", got)
	}
	if list, _ := s.fsys.List(s.ctx, s.root); !slices.Equal(names(list), []string{"b"}) {
		t.Errorf("after replacing: %v", names(list))
	}
	if err := s.fsys.Rename(s.ctx, b, b); err != nil {
		t.Errorf("Rename onto itself: %v", err)
	}

	missing := s.p("missing")
	err := s.fsys.Rename(s.ctx, missing, s.p("c"))
	wantErr(t, "Rename of a missing file", err, fs.ErrNotExist, missing)
	if err := s.fsys.Rename(s.ctx, b, s.p("nodir", "c")); err == nil {
		t.Error("Rename into a missing directory succeeded")
	}
	if got := s.read(t, b); string(got) != "second" {
		t.Errorf("failed Rename changed the source: %q", got)
	}

	// Directories move with their contents.
	s.write(t, s.p("d1", "sub", "f"), []byte("deep"))
	if err := s.fsys.Rename(s.ctx, s.p("d1"), s.p("d2")); err != nil {
		t.Fatal(err)
	}
	if got := s.read(t, s.p("d2", "sub", "f")); string(got) != "deep" {
		t.Errorf("after renaming a directory: %q", got)
	}
	if _, err := s.fsys.Stat(s.ctx, s.p("d1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old directory after Rename: %v", err)
	}
}

func testRemove(t *testing.T, s suite) {
	f := s.p("f")
	s.write(t, f, []byte("x"))
	if err := s.fsys.Remove(s.ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := s.fsys.Stat(s.ctx, f); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Remove: %v", err)
	}
	err := s.fsys.Remove(s.ctx, f)
	wantErr(t, "Remove of a missing file", err, fs.ErrNotExist, f)

	empty := s.p("empty")
	if err := s.fsys.MkdirAll(s.ctx, empty); err != nil {
		t.Fatal(err)
	}
	if err := s.fsys.Remove(s.ctx, empty); err != nil {
		t.Errorf("Remove of an empty directory: %v", err)
	}
	full := s.p("full")
	s.write(t, s.p("full", "g"), []byte("g"))
	if err := s.fsys.Remove(s.ctx, full); err == nil {
		t.Error("Remove of a non-empty directory succeeded")
	} else if !strings.Contains(err.Error(), full) {
		t.Errorf("Remove of a non-empty directory: error %q does not name %s", err, full)
	}
	if got := s.read(t, s.p("full", "g")); string(got) != "g" {
		t.Errorf("failed Remove changed the directory: %q", got)
	}
}

func testRemoveAll(t *testing.T, s suite) {
	tree := s.p("tree")
	for _, n := range [][]string{{"a"}, {"b", "c"}, {"b", "d", "e"}} {
		s.write(t, s.p(append([]string{"tree"}, n...)...), []byte("x"))
	}
	if err := s.fsys.RemoveAll(s.ctx, tree); err != nil {
		t.Fatal(err)
	}
	if _, err := s.fsys.Stat(s.ctx, tree); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after RemoveAll: %v", err)
	}
	if err := s.fsys.RemoveAll(s.ctx, tree); err != nil {
		t.Errorf("RemoveAll of a missing path: %v", err)
	}
	f := s.p("file")
	s.write(t, f, []byte("x"))
	if err := s.fsys.RemoveAll(s.ctx, f); err != nil {
		t.Errorf("RemoveAll of a file: %v", err)
	}
	if _, err := s.fsys.Stat(s.ctx, f); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file after RemoveAll: %v", err)
	}
}

func testCancelled(t *testing.T, s suite) {
	f := s.p("f")
	s.write(t, f, []byte("x"))
	ctx, cancel := context.WithCancel(s.ctx)
	cancel()
	second := func(_ any, err error) error { return err }
	calls := map[string]error{
		"Open":      second(s.fsys.Open(ctx, f)),
		"Create":    second(s.fsys.Create(ctx, s.p("new"))),
		"Stat":      second(s.fsys.Stat(ctx, f)),
		"List":      second(s.fsys.List(ctx, s.root)),
		"Glob":      second(s.fsys.Glob(ctx, s.p("*"))),
		"MkdirAll":  s.fsys.MkdirAll(ctx, s.p("dir")),
		"Rename":    s.fsys.Rename(ctx, f, s.p("g")),
		"Remove":    s.fsys.Remove(ctx, f),
		"RemoveAll": s.fsys.RemoveAll(ctx, f),
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range calls {
			if !yield(k) {
				return
			}
		}
	}) {
		if !errors.Is(calls[name], context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, calls[name])
		}
	}
	if got := s.read(t, f); string(got) != "x" {
		t.Errorf("cancelled calls changed %s: %q", f, got)
	}
	if _, err := s.fsys.Stat(s.ctx, s.p("new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a cancelled Create made a file: %v", err)
	}
}

func testConcurrent(t *testing.T, s suite) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := s.p(fmt.Sprintf("f%d", i))
			data := randomData(10_000+i, uint64(i))
			w, err := s.fsys.Create(s.ctx, p)
			if err != nil {
				errs <- err
				return
			}
			if _, err := w.Write(data); err != nil {
				w.Close()
				errs <- err
				return
			}
			if err := w.Close(); err != nil {
				errs <- err
				return
			}
			f, err := s.fsys.Open(s.ctx, p)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("%s: read %d bytes, %v", p, len(got), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if list, err := s.fsys.List(s.ctx, s.root); err != nil || len(list) != n {
		t.Errorf("List after concurrent creates: %d entries, %v", len(list), err)
	}
}
