package fileio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// writeFile creates path (and its parent dirs) with content.
func writeFile(t testing.TB, path string, content []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// refLines is the brute-force reference splitting of content into lines.
func refLines(content string) []string {
	if content == "" {
		return nil
	}
	lines := strings.Split(content, "\n")
	if strings.HasSuffix(content, "\n") {
		lines = lines[:len(lines)-1]
	}
	for i := range lines[:len(lines)-1] {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if strings.HasSuffix(content, "\n") {
		lines[len(lines)-1] = strings.TrimSuffix(lines[len(lines)-1], "\r")
	}
	return lines
}

// readSource reads every split of src in order, with batches of at most
// max records, and returns all records.
func readSource[T any](t testing.TB, src dag.Source[T], parallelism, max int) ([]T, error) {
	t.Helper()
	ctx := context.Background()
	splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: parallelism})
	if err != nil {
		return nil, err
	}
	var out []T
	for _, sp := range splits {
		vals, err := readSplit(ctx, src, sp, max)
		out = append(out, vals...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func readSplit[T any](ctx context.Context, src dag.Source[T], sp dag.Split, max int) ([]T, error) {
	r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []T
	var b dag.Batch[T]
	for {
		b.Reset()
		n, err := r.ReadBatch(ctx, &b, max)
		if n != b.Len() || len(b.TS) != b.Len() || n > max {
			return out, errors.New("ReadBatch returned a count that does not match the batch")
		}
		out = append(out, b.Vals...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func splitCtx(p int) dag.SplitContext { return dag.SplitContext{Parallelism: p} }

func readerCtx() dag.ReaderContext { return dag.ReaderContext{} }

// readAllFrom drains an open reader.
func readAllFrom[T any](t testing.TB, r dag.SplitReader[T]) ([]T, error) {
	t.Helper()
	var out []T
	var b dag.Batch[T]
	for {
		b.Reset()
		_, err := r.ReadBatch(context.Background(), &b, 100)
		out = append(out, b.Vals...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}
