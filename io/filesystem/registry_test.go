package filesystem

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fakeFS is a FileSystem that only records its identity.
type fakeFS struct {
	Local
	name string
}

func TestRegistryResolve(t *testing.T) {
	reg := NewRegistry()
	hdfs := &fakeFS{name: "hdfs"}
	reg.Register("HDFS", hdfs)

	tests := []struct {
		uri      string
		wantFS   FileSystem
		wantPath string
		wantErr  string
	}{
		{uri: "/tmp/x", wantFS: Local{}, wantPath: "/tmp/x"},
		{uri: "rel/dir/file.txt", wantFS: Local{}, wantPath: "rel/dir/file.txt"},
		{uri: "file:///tmp/x", wantFS: Local{}, wantPath: "/tmp/x"},
		{uri: "FILE:///tmp/x", wantFS: Local{}, wantPath: "/tmp/x"},
		{uri: "file://localhost/tmp/x", wantFS: Local{}, wantPath: "/tmp/x"},
		{uri: "file:///tmp/a%20b", wantFS: Local{}, wantPath: "/tmp/a b"},
		{uri: "C://windows/drive", wantFS: Local{}, wantPath: "C://windows/drive"},
		{uri: "odd:name.txt", wantFS: Local{}, wantPath: "odd:name.txt"},
		{uri: "hdfs://nn:8020/data/in", wantFS: hdfs, wantPath: "hdfs://nn:8020/data/in"},
		{uri: "Hdfs://nn/x", wantFS: hdfs, wantPath: "Hdfs://nn/x"},
		{uri: "s3://bucket/key", wantErr: `scheme "s3" in "s3://bucket/key" (registered: file, hdfs)`},
		{uri: "file://otherhost/tmp/x", wantErr: `names host "otherhost"`},
		{uri: "file:///tmp/x?y", wantErr: "query or fragment"},
		{uri: "", wantErr: "empty path"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			fs, p, err := reg.Resolve(tc.uri)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve(%q) error = %v, want containing %q", tc.uri, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tc.uri, err)
			}
			if fs != tc.wantFS || p != tc.wantPath {
				t.Fatalf("Resolve(%q) = (%v, %q), want (%v, %q)", tc.uri, fs, p, tc.wantFS, tc.wantPath)
			}
		})
	}
}

func TestRegistryUnknownSchemeIs(t *testing.T) {
	_, _, err := NewRegistry().Resolve("gs://b/o")
	if !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("error %v does not match ErrUnknownScheme", err)
	}
	if !strings.Contains(err.Error(), `"gs"`) || !strings.Contains(err.Error(), "registered: file") {
		t.Fatalf("error %q should name the scheme and list registered ones", err)
	}
}

func TestRegistryUnregisterAndNil(t *testing.T) {
	reg := Default()
	reg.Register("mem", &fakeFS{name: "mem"})
	if got := strings.Join(reg.Schemes(), ","); got != "file,mem" {
		t.Fatalf("Schemes = %s", got)
	}
	reg.Register("mem", nil)
	if _, _, err := reg.Resolve("mem://x"); !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("after unregistering: %v", err)
	}
	// Registries are independent values.
	if other := Default(); len(other.Schemes()) != 1 {
		t.Fatalf("Default() shares state: %v", other.Schemes())
	}
	var nilReg *Registry
	fs, p, err := nilReg.Resolve("file:///a")
	if err != nil || fs != (Local{}) || p != "/a" {
		t.Fatalf("nil registry Resolve = %v %q %v", fs, p, err)
	}
	if _, _, err := nilReg.Resolve("hdfs://a/b"); !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("nil registry unknown scheme: %v", err)
	}
	// Removing "file" makes plain paths fail clearly.
	reg.Register("file", nil)
	if _, _, err := reg.Resolve("/tmp"); !errors.Is(err, ErrUnknownScheme) {
		t.Fatalf("plain path without file fs: %v", err)
	}
}

func TestSchemeOf(t *testing.T) {
	for in, want := range map[string]string{
		"hdfs://x": "hdfs", "S3A://b": "s3a", "x+y.z-w://q": "x+y.z-w",
		"/abs": "", "c://x": "", "1ab://x": "", "a b://x": "", "://x": "",
	} {
		got, ok := SchemeOf(in)
		if got != want || ok != (want != "") {
			t.Errorf("SchemeOf(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestJoinBaseHidden(t *testing.T) {
	if got := Join("hdfs://nn/out", "part-0"); got != "hdfs://nn/out/part-0" {
		t.Error(got)
	}
	if got := Join("/out/", "x"); got != "/out/x" {
		t.Error(got)
	}
	if got := BaseName("hdfs://nn/out/part-0/"); got != "part-0" {
		t.Error(got)
	}
	for p, want := range map[string]bool{
		"/a/.part-1.inprogress": true, "/a/_SUCCESS": true, "/a/part-1": false, "x": false, "/a/b/": false,
	} {
		if Hidden(p) != want {
			t.Errorf("Hidden(%q) != %v", p, want)
		}
	}
}

func TestResolveThenUse(t *testing.T) {
	// Resolve + a method call through the returned FileSystem works end to end.
	dir := t.TempDir()
	fs, p, err := NewRegistry().Resolve("file://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := fs.Stat(context.Background(), p)
	if err != nil || !st.IsDir {
		t.Fatalf("Stat(%q) = %+v, %v", p, st, err)
	}
}
