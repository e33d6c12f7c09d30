package fileio

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/io/filesystem"
)

// Relative inputs resolve against the submitting directory
// ($DAGFLOW_CLIENT_DIR), not the process's working directory, and splits
// carry absolute file:// URIs that open from any directory.
func TestRelativeInputsResolveAgainstClientDir(t *testing.T) {
	client := t.TempDir()
	writeFile(t, filepath.Join(client, "data", "in.txt"), []byte("a\nb\nc\n"))
	t.Setenv(filesystem.ClientDirEnv, client)
	t.Chdir(t.TempDir()) // the process runs elsewhere, like an executor
	for _, in := range []string{"data/in.txt", "./data", "data/*.txt", filepath.Join(client, "data", "in.txt")} {
		src := Lines(in)
		splits, err := src.Splits(t.Context(), splitCtx(1))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if len(splits) != 1 {
			t.Fatalf("%s: %d splits", in, len(splits))
		}
		var d splitData
		if err := json.Unmarshal(splits[0].Data, &d); err != nil {
			t.Fatal(err)
		}
		if want := filesystem.FileURI(filepath.Join(client, "data", "in.txt")); d.Path != want {
			t.Fatalf("%s: split path %q, want %q", in, d.Path, want)
		}
		got, err := readSplit(t.Context(), dag.Source[string](src), splits[0], 10)
		if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("%s: read %q, %v", in, got, err)
		}
	}
	// WithBaseDir overrides the environment.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "data", "in.txt"), []byte("x\n"))
	got, err := readSource(t, dag.Source[string](Lines("data/in.txt").With(WithBaseDir(other))), 1, 10)
	if err != nil || !slices.Equal(got, []string{"x"}) {
		t.Fatalf("WithBaseDir: %q, %v", got, err)
	}
	if _, err := readSource(t, dag.Source[string](Lines("x").With(WithBaseDir("rel"))), 1, 10); err == nil || !strings.Contains(err.Error(), `"rel" is not an absolute path`) {
		t.Fatalf("relative base dir: %v", err)
	}
}

func TestMissingInputNamesPath(t *testing.T) {
	client := t.TempDir()
	t.Setenv(filesystem.ClientDirEnv, client)
	for _, tc := range []struct{ in, want string }{
		{"missing.txt", `input path "missing.txt" does not exist (looked for ` + filepath.Join(client, "missing.txt") + ")"},
		{"logs/*.log", `input path "logs/*.log" does not exist (pattern matches no file) (looked for ` + filepath.Join(client, "logs", "*.log") + ")"},
		{filepath.Join(client, "abs.txt"), `input path "` + filepath.Join(client, "abs.txt") + `" does not exist`},
	} {
		_, err := Lines(tc.in).Splits(t.Context(), splitCtx(1))
		if err == nil || !errors.Is(err, fs.ErrNotExist) || err.Error() != "fileio: "+tc.want {
			t.Errorf("%s: %v; want %q", tc.in, err, tc.want)
		}
	}
}

// A split whose file this process cannot see fails fatally (no restarts
// can help), naming the file and where paths must live.
func TestUnreadableSplitIsFatal(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "in.txt")
	writeFile(t, p, []byte("a\n"))
	src := Lines(p)
	splits, err := src.Splits(t.Context(), splitCtx(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	_, err = src.OpenSplit(t.Context(), readerCtx(), splits[0])
	if err == nil || !dag.IsFatal(err) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenSplit of a vanished file: %v (fatal %v)", err, dag.IsFatal(err))
	}
	for _, want := range []string{p, "every worker reaches (hdfs:// or a shared mount)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if os.Geteuid() != 0 { // root reads anything
		writeFile(t, p, []byte("a\n"))
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		if _, err = src.OpenSplit(t.Context(), readerCtx(), splits[0]); !dag.IsFatal(err) || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("OpenSplit of an unreadable file: %v", err)
		}
	}
}

// A relative output directory is the one in the submitting directory,
// whatever the writer's working directory; committables hold absolute
// paths, so the committer may run elsewhere too.
func TestRelativeSinkResolvesAgainstClientDir(t *testing.T) {
	client := t.TempDir()
	t.Setenv(filesystem.ClientDirEnv, client)
	t.Chdir(t.TempDir())
	sink := TextSink("out", formatInt)
	w, err := sink.NewWriter(t.Context(), dag.SinkContext{Subtask: 0, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(t.Context(), intBatch(0, 3)); err != nil {
		t.Fatal(err)
	}
	cs, err := w.Prepare(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Chdir(t.TempDir()) // the committer runs elsewhere again
	if err := sink.Committer().Commit(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAllLines(t.Context(), nil, filepath.Join(client, "out"))
	if err != nil || !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Fatalf("output under the client dir: %q, %v", got, err)
	}
}
