package filesystem_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/filesystem/fstest"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLocalRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var l filesystem.Local
	p := filepath.Join(dir, "a", "b", "f.txt")
	w, err := l.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "hello world"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Create(ctx, p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create on existing file: %v, want ErrExist", err)
	}
	f, err := l.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size != 11 || st.Path != p || st.IsDir {
		t.Fatalf("File.Stat = %+v, %v", st, err)
	}
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 6); err != nil || string(buf) != "world" {
		t.Fatalf("ReadAt = %q, %v", buf, err)
	}
	if _, err := f.Seek(6, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(f)
	if string(rest) != "world" {
		t.Fatalf("after Seek read %q", rest)
	}

	list, err := l.List(ctx, filepath.Join(dir, "a"))
	if err != nil || len(list) != 1 || !list[0].IsDir || list[0].Path != filepath.Join(dir, "a", "b") {
		t.Fatalf("List = %+v, %v", list, err)
	}

	to := filepath.Join(dir, "a", "b", "g.txt")
	writeFile(t, to, "old")
	if err := l.Rename(ctx, p, to); err != nil {
		t.Fatalf("Rename onto existing file: %v", err)
	}
	if b, _ := os.ReadFile(to); string(b) != "hello world" {
		t.Fatalf("Rename did not replace destination: %q", b)
	}
	if _, err := l.Stat(ctx, p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("source still there after Rename: %v", err)
	}
	if err := l.Remove(ctx, filepath.Join(dir, "a")); err == nil {
		t.Fatal("Remove of non-empty dir succeeded")
	}
	if err := l.RemoveAll(ctx, filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveAll(ctx, filepath.Join(dir, "a")); err != nil {
		t.Fatalf("RemoveAll of missing path: %v", err)
	}
	if err := l.MkdirAll(ctx, filepath.Join(dir, "x", "y")); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(ctx, filepath.Join(dir, "x", "y")); err != nil {
		t.Fatalf("Remove of empty dir: %v", err)
	}
}

func TestLocalErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var l filesystem.Local
	missing := filepath.Join(dir, "nope")
	file := filepath.Join(dir, "file")
	writeFile(t, file, "x")

	checks := []struct {
		name string
		err  error
		is   error
		path string
	}{
		{"Open missing", second(l.Open(ctx, missing)), fs.ErrNotExist, missing},
		{"Stat missing", second(l.Stat(ctx, missing)), fs.ErrNotExist, missing},
		{"List missing", second(l.List(ctx, missing)), fs.ErrNotExist, missing},
		{"Remove missing", l.Remove(ctx, missing), fs.ErrNotExist, missing},
		{"Rename missing", l.Rename(ctx, missing, file+"2"), fs.ErrNotExist, missing},
		{"List file", second(l.List(ctx, file)), filesystem.ErrNotDir, file},
		{"Open dir", second(l.Open(ctx, dir)), filesystem.ErrIsDir, dir},
		{"Glob bad pattern", second(l.Glob(ctx, dir+"/[")), filepath.ErrBadPattern, dir},
	}
	for _, c := range checks {
		if !errors.Is(c.err, c.is) {
			t.Errorf("%s: error %v does not match %v", c.name, c.err, c.is)
			continue
		}
		if !strings.Contains(c.err.Error(), c.path) {
			t.Errorf("%s: error %q does not name %s", c.name, c.err, c.path)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Open(cctx, file); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled context: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestLocalListGlobSorted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, n := range []string{"c", "a", "b.txt", "a.txt"} {
		writeFile(t, filepath.Join(dir, n), n)
	}
	list, err := filesystem.Local{}.List(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range list {
		names = append(names, filepath.Base(fi.Path))
	}
	if want := []string{"a", "a.txt", "b.txt", "c"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("List order %v, want %v", names, want)
	}
	g, err := filesystem.Local{}.Glob(ctx, filepath.Join(dir, "*.txt"))
	if err != nil || len(g) != 2 || filepath.Base(g[0].Path) != "a.txt" || g[0].Size != 5 {
		t.Fatalf("Glob = %+v, %v", g, err)
	}
}

func TestExpandInputs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	files := map[string]string{
		"in/a.txt":                 "a",
		"in/sub/b.txt":             "bb",
		"in/sub/deeper/c.txt":      "ccc",
		"in/.part-0.inprogress":    "hidden",
		"in/_SUCCESS":              "",
		"in/_tmp/x.txt":            "hidden dir",
		"in/.hidden/y.txt":         "hidden dir",
		"other/z.log":              "z",
		"other/w.txt":              "w",
		"other/_skip.txt":          "s",
		"explicit/_named_file.txt": "n",
	}
	for n, c := range files {
		writeFile(t, filepath.Join(dir, n), c)
	}
	if err := os.MkdirAll(filepath.Join(dir, "in", "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	reg := filesystem.NewRegistry()
	rel := func(fis []filesystem.FileInfo) []string {
		var out []string
		for _, fi := range fis {
			lp, _ := filesystem.LocalPath(fi.Path) // file:// inputs list file:// URIs
			r, _ := filepath.Rel(dir, lp)
			out = append(out, filepath.ToSlash(r))
		}
		return out
	}
	tests := []struct {
		name  string
		paths []string
		want  []string
	}{
		{"dir", []string{filepath.Join(dir, "in")}, []string{"in/a.txt", "in/sub/b.txt", "in/sub/deeper/c.txt"}},
		{"file uri dir", []string{"file://" + filepath.Join(dir, "other")}, []string{"other/w.txt", "other/z.log"}},
		{"glob", []string{filepath.Join(dir, "other", "*.txt")}, []string{"other/w.txt"}},
		{"glob dirs", []string{filepath.Join(dir, "o*")}, []string{"other/w.txt", "other/z.log"}},
		{"explicit hidden file", []string{filepath.Join(dir, "explicit", "_named_file.txt")}, []string{"explicit/_named_file.txt"}},
		{"order and dedupe", []string{filepath.Join(dir, "other", "z.log"), filepath.Join(dir, "other")}, []string{"other/z.log", "other/w.txt"}},
		{"empty dir", []string{filepath.Join(dir, "in", "emptydir")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := filesystem.ExpandInputs(ctx, reg, tc.paths)
			if err != nil {
				t.Fatal(err)
			}
			if r := rel(got); !reflect.DeepEqual(r, tc.want) {
				t.Fatalf("got %v, want %v", r, tc.want)
			}
		})
	}
	got, err := filesystem.ExpandInputs(ctx, reg, []string{filepath.Join(dir, "in", "a.txt")})
	if err != nil || got[0].Size != 1 {
		t.Fatalf("size not reported: %+v %v", got, err)
	}

	missing := filepath.Join(dir, "missing")
	_, err = filesystem.ExpandInputs(ctx, reg, []string{missing})
	if want := `input path "` + missing + `" does not exist`; err == nil || err.Error() != want {
		t.Fatalf("missing path error %v, want %q", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing path error does not match fs.ErrNotExist: %v", err)
	}
	_, err = filesystem.ExpandInputs(ctx, reg, []string{filepath.Join(dir, "*.nothing")})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("empty glob: %v", err)
	}
	_, err = filesystem.ExpandInputs(ctx, reg, []string{"s3://bucket/x"})
	if !errors.Is(err, filesystem.ErrUnknownScheme) {
		t.Fatalf("unknown scheme: %v", err)
	}
}

func TestExpandInputsSymlinkCycle(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "d", "f"), "x")
	if err := os.Symlink(filepath.Join(dir, "d"), filepath.Join(dir, "d", "loop")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	// Expansion must terminate: either the OS stops resolving the ever
	// longer link chain (ELOOP) or the depth guard fails the expansion.
	got, err := filesystem.ExpandInputs(context.Background(), filesystem.NewRegistry(), []string{filepath.Join(dir, "d")})
	if err != nil {
		if !strings.Contains(err.Error(), "nested more than") {
			t.Fatalf("symlink cycle: %v", err)
		}
		return
	}
	if len(got) == 0 || got[0].Path != filepath.Join(dir, "d", "f") {
		t.Fatalf("symlink cycle expansion = %+v", got)
	}
}

func TestLocalConformance(t *testing.T) {
	fstest.Run(t, func(t *testing.T) (filesystem.FileSystem, string) {
		return filesystem.Local{}, t.TempDir()
	})
}
