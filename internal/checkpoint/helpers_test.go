package checkpoint_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/dagflow/dagflow/internal/checkpoint"
	"github.com/dagflow/dagflow/io/filesystem"
)

// env is a storage on a temporary local directory, reached through a
// counting file system and file:// URIs.
type env struct {
	reg  *filesystem.Registry
	cfs  *checkpoint.CountingFS
	dir  string // local base directory
	base string // its URI
	log  *logBuffer
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t testing.TB) *env {
	t.Helper()
	reg := filesystem.NewRegistry()
	cfs := checkpoint.NewCountingFS(filesystem.Local{})
	reg.Register("file", cfs)
	dir := t.TempDir()
	return &env{reg: reg, cfs: cfs, dir: dir, base: "file://" + filepath.ToSlash(dir), log: &logBuffer{}}
}

func (e *env) storage(t testing.TB, opts checkpoint.Options) *checkpoint.Storage {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := checkpoint.NewStorage(e.reg, e.base, "job1", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// local converts a file:// URI of the env to a local path.
func (e *env) local(uri string) string {
	return filepath.FromSlash(strings.TrimPrefix(uri, "file://"))
}

// files returns the regular files under the env's directory, relative
// and slash-separated, sorted.
func (e *env) files(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(e.dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// rel turns a file:// URI of the env into a path relative to its
// directory.
func (e *env) rel(uri string) string {
	return strings.TrimPrefix(uri, e.base+"/")
}

// payload returns n pseudo-random bytes.
func payload(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

// metadataOf builds metadata of one task and operator holding hs as key
// groups and shared as shared files.
func metadataOf(id int64, hs []checkpoint.Handle, shared []checkpoint.Handle) *checkpoint.Metadata {
	op := checkpoint.OperatorState{Vertex: 1}
	for i, h := range hs {
		op.KeyGroups = append(op.KeyGroups, checkpoint.KeyGroupHandle{KeyGroup: i, Handle: h})
	}
	for i, h := range shared {
		op.Shared = append(op.Shared, checkpoint.SharedFile{Name: "f" + string(rune('a'+i%26)), Handle: h, KeyGroupTo: 128})
	}
	return &checkpoint.Metadata{
		ID: id, Kind: "checkpoint", MaxParallelism: 128,
		Parallelism: map[int]int{1: 1}, VertexNames: map[int]string{1: "op"},
		Tasks: []checkpoint.TaskState{{Task: 0, Subtask: 0, Operators: []checkpoint.OperatorState{op}}},
	}
}

// allHandles returns every handle of md.
func allHandles(md *checkpoint.Metadata) []checkpoint.Handle {
	var out []checkpoint.Handle
	for _, t := range md.Tasks {
		for _, op := range t.Operators {
			for _, kg := range op.KeyGroups {
				out = append(out, kg.Handle)
			}
			out = append(out, op.Operator...)
			for _, f := range op.Shared {
				out = append(out, f.Handle)
			}
			for _, f := range op.Private {
				out = append(out, f.Handle)
			}
			out = append(out, op.SinkState...)
		}
	}
	return out
}

func writeLocal(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var bg = context.Background()

func crc(s string) uint32 { return crc32.Checksum([]byte(s), crc32.MakeTable(crc32.Castagnoli)) }
