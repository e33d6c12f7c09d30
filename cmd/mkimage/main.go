package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image facts shared with deploy/Dockerfile.
const (
	binaryPath = "/usr/local/bin/dagctl"
	user       = "65532:65532"
	uid        = 65532
)

// options are mkimage's flags.
type options struct {
	binary, out, tag, version, arch string
}

func main() {
	var o options
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.StringVar(&o.binary, "binary", "", "static dagctl binary (CGO_ENABLED=0 go build ./cmd/dagctl)")
	fs.StringVar(&o.out, "out", "", "directory of the OCI image layout to write (created)")
	fs.StringVar(&o.tag, "tag", "dagflow:dev", "reference name annotated on the image")
	fs.StringVar(&o.version, "version", "dev", "org.opencontainers.image.version label")
	fs.StringVar(&o.arch, "arch", runtime.GOARCH, "architecture of the binary")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// labels are the image's labels (the Dockerfile's LABEL).
func labels(version string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "dagflow",
		"org.opencontainers.image.description": "dagflow batch and stream dataflow engine: master, worker and shuffle daemons (dagctl)",
		"org.opencontainers.image.source":      "https://github.com/dagflow/dagflow",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     version,
	}
}

// build writes the image layout.
func build(o options) error {
	if o.binary == "" || o.out == "" {
		return errors.New("mkimage: --binary and --out are required")
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return fmt.Errorf("mkimage: %w", err)
	}
	if err := checkStatic(o.binary); err != nil {
		return err
	}
	if _, err := os.Stat(o.out); err == nil {
		return fmt.Errorf("mkimage: --out %s exists; remove it first", o.out)
	}
	layerTar, err := rootfs(bin)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return fmt.Errorf("mkimage: layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return fmt.Errorf("mkimage: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("mkimage: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint:   []string{binaryPath},
		Cmd:          []string{"--help"},
		User:         user,
		WorkingDir:   "/data",
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:       labels(o.version),
		ExposedPorts: map[string]struct{}{"7070/tcp": {}, "7071/tcp": {}, "7072/tcp": {}, "7080/tcp": {}, "7081/tcp": {}},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("mkimage: %w", err)
	}
	p, err := layout.Write(o.out, empty.Index)
	if err != nil {
		return fmt.Errorf("mkimage: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": o.tag})); err != nil {
		return fmt.Errorf("mkimage: %w", err)
	}
	return nil
}

// checkStatic refuses a dynamically linked binary: the image has no libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("mkimage: --binary %s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("mkimage: --binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// rootfs is the layer: the binary, /data owned by the runtime user, and a
// world-writable sticky /tmp, with fixed times for a reproducible digest.
func rootfs(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Unix(0, 0)
	dirs := []struct {
		name string
		mode int64
		uid  int
	}{{"usr/", 0o755, 0}, {"usr/local/", 0o755, 0}, {"usr/local/bin/", 0o755, 0}, {"data/", 0o750, uid}, {"tmp/", 0o1777, 0}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, Uid: d.uid, Gid: d.uid, ModTime: mod}); err != nil {
			return nil, fmt.Errorf("mkimage: %w", err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: binaryPath[1:], Mode: 0o755, Size: int64(len(bin)), ModTime: mod}); err != nil {
		return nil, fmt.Errorf("mkimage: %w", err)
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, fmt.Errorf("mkimage: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("mkimage: %w", err)
	}
	return buf.Bytes(), nil
}
