package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// TestImageLayout builds a static dagctl, writes the image layout, reads
// it back with go-containerregistry and checks the entrypoint, the
// non-root user and the labels; then extracts the root filesystem and
// runs the binary from it (dagctl version).
func TestImageLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dagctl")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dagctl")
	gob := exec.Command("go", "build", "-o", bin, "../dagctl")
	gob.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gob.CombinedOutput(); err != nil {
		t.Fatalf("build dagctl: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "oci")
	if err := build(options{binary: bin, out: out, tag: "dagflow:test", version: "1.2.3", arch: "amd64"}); err != nil {
		t.Fatal(err)
	}
	p, err := layout.FromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "dagflow:test" {
		t.Fatalf("index manifests %+v", im.Manifests)
	}
	img, err := p.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/local/bin/dagctl" {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want a non-root uid", c.User)
	}
	for k, v := range map[string]string{"org.opencontainers.image.title": "dagflow", "org.opencontainers.image.version": "1.2.3",
		"org.opencontainers.image.source": "https://github.com/dagflow/dagflow"} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	// Extract the root filesystem and run the binary from it.
	root := filepath.Join(dir, "rootfs")
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	seen := map[string]int64{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.TrimSuffix(h.Name, "/")] = h.Mode
		path := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	if seen["tmp"] != 0o1777 || seen["data"] == 0 {
		t.Errorf("rootfs lacks a sticky /tmp or /data: %v", seen)
	}
	run := exec.Command(filepath.Join(root, c.Entrypoint[0]), "version")
	run.Env = []string{"HOME=" + dir} // no DAGFLOW_MASTER
	got, err := run.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(got), "client: ") {
		t.Fatalf("dagctl version from the image: %v\n%s", err, got)
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	for _, tt := range []struct {
		o    options
		want string
	}{
		{options{out: filepath.Join(dir, "a")}, "--binary and --out"},
		{options{binary: filepath.Join(dir, "missing"), out: filepath.Join(dir, "b")}, "missing"},
		{options{binary: script, out: filepath.Join(dir, "c")}, "not an ELF"},
		{options{binary: "/bin/sh", out: filepath.Join(dir, "d")}, "dynamically linked"},
	} {
		if err := build(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("build(%+v) = %v, want an error naming %q", tt.o, err, tt.want)
		}
	}
}
