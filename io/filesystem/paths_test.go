package filesystem_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dagflow/dagflow/io/filesystem"
)

func TestAbsolute(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("table uses POSIX paths")
	}
	const base = "/home/u/proj"
	tests := []struct {
		path, want string
		err        bool
	}{
		{path: "README.md", want: "file:///home/u/proj/README.md"},
		{path: "./data/in.txt", want: "file:///home/u/proj/data/in.txt"},
		{path: "../other/x", want: "file:///home/u/other/x"},
		{path: ".", want: "file:///home/u/proj"},
		{path: "out/", want: "file:///home/u/proj/out"},
		{path: "/tmp/a//b/../c", want: "file:///tmp/a/c"},
		{path: "file:///tmp/x", want: "file:///tmp/x"},
		{path: "file://localhost/tmp/x", want: "file:///tmp/x"},
		{path: "FILE:///tmp/x", want: "file:///tmp/x"},
		{path: "file:///tmp/a%20b/c%3Fd", want: "file:///tmp/a b/c%3Fd"},
		{path: "hdfs://nn:8020/data/in", want: "hdfs://nn:8020/data/in"},
		{path: "hdfs://nn:8020/data/../x", want: "hdfs://nn:8020/data/../x"},
		{path: "s3://bucket/key", want: "s3://bucket/key"},
		{path: "logs/*.txt", want: "file:///home/u/proj/logs/*.txt"},
		{path: "/var/log/app-[0-9]?.log", want: "file:///var/log/app-[0-9]%3F.log"},
		{path: "~/x", want: "file:///home/u/proj/~/x"}, // not expanded: a directory named "~"
		{path: "with space/100%.txt", want: "file:///home/u/proj/with space/100%25.txt"},
		{path: "a#b", want: "file:///home/u/proj/a%23b"},
		{path: "c:x", want: "file:///home/u/proj/c:x"}, // not a scheme: no "://"
		{path: "", err: true},
		{path: "file://otherhost/tmp/x", err: true},
		{path: "file:///tmp/x?y", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := filesystem.Absolute(tc.path, base)
			if tc.err {
				if err == nil {
					t.Fatalf("Absolute(%q) = %q, want an error", tc.path, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Absolute(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
			}
			// The URI resolves to the path it names.
			if _, ok := filesystem.SchemeOf(tc.path); ok {
				return
			}
			_, p, err := filesystem.NewRegistry().Resolve(got)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", got, err)
			}
			want := tc.path
			if !filepath.IsAbs(want) {
				want = filepath.Join(base, want)
			}
			if p != filepath.Clean(want) {
				t.Fatalf("Resolve(%q) = %q, want %q", got, p, filepath.Clean(want))
			}
		})
	}
	if _, err := filesystem.Absolute("x", "relative/base"); err == nil {
		t.Error("a relative base was accepted")
	}
	if got, err := filesystem.Absolute("hdfs://nn/x", ""); err != nil || got != "hdfs://nn/x" {
		t.Errorf("remote URI without base: %q, %v", got, err)
	}
}

func TestBaseDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(filesystem.ClientDirEnv, "")
	if got, err := filesystem.BaseDir(); err != nil || got != wd {
		t.Errorf("without %s: %q, %v; want the working directory %q", filesystem.ClientDirEnv, got, err, wd)
	}
	dir := t.TempDir()
	t.Setenv(filesystem.ClientDirEnv, dir)
	if got, err := filesystem.BaseDir(); err != nil || got != dir {
		t.Errorf("with %s=%s: %q, %v", filesystem.ClientDirEnv, dir, got, err)
	}
	t.Setenv(filesystem.ClientDirEnv, "rel/dir")
	if _, err := filesystem.BaseDir(); err == nil {
		t.Error("a relative client directory was accepted")
	}
}

func TestExpandInputsFileURIs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"in/a b.txt", "in/sub/c.txt"} {
		writeFile(t, filepath.Join(dir, n), "x")
	}
	ctx := context.Background()
	reg := filesystem.NewRegistry()
	for _, in := range []string{filesystem.FileURI(filepath.Join(dir, "in")), filesystem.FileURI(filepath.Join(dir, "in", "*"))} {
		got, err := filesystem.ExpandInputs(ctx, reg, []string{in})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{filesystem.FileURI(filepath.Join(dir, "in", "a b.txt")), filesystem.FileURI(filepath.Join(dir, "in", "sub", "c.txt"))}
		if len(got) != 2 || got[0].Path != want[0] || got[1].Path != want[1] {
			t.Fatalf("ExpandInputs(%s) = %+v, want paths %q", in, got, want)
		}
		for _, fi := range got { // resolvable again
			if _, _, err := reg.Resolve(fi.Path); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := filesystem.ExpandInputs(ctx, reg, []string{filesystem.FileURI(filepath.Join(dir, "nope"))})
	var ne *filesystem.InputNotExistError
	if !errors.As(err, &ne) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing input: %v", err)
	}
}
