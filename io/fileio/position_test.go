package fileio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dagflow/dagflow/dag"
)

// TestPositionResumesExactly reads every split of a file in steps; after
// each step it reopens the split at its Position: the lines read over all
// reopenings are the file's lines, each once.
func TestPositionResumesExactly(t *testing.T) {
	var sb strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&sb, "line-%d-%s\n", i, strings.Repeat("x", i%37))
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "in.txt")
	gz := filepath.Join(dir, "in.txt.gz")
	if err := os.WriteFile(plain, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, gzipBytes(t, []byte(sb.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, path := range []string{plain, gz} {
		for _, step := range []int{1, 7, 300} {
			t.Run(fmt.Sprintf("%s/%d", filepath.Base(path), step), func(t *testing.T) {
				src := Lines(path).With(WithSplitSize(4096))
				splits, err := src.Splits(ctx, dag.SplitContext{Parallelism: 3})
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]int{}
				for _, sp := range splits {
					for {
						r, err := src.OpenSplit(ctx, dag.ReaderContext{}, sp)
						if err != nil {
							t.Fatal(err)
						}
						var b dag.Batch[string]
						_, rerr := r.ReadBatch(ctx, &b, step)
						for _, l := range b.Vals {
							seen[l]++
						}
						if errors.Is(rerr, io.EOF) {
							r.Close()
							break
						}
						if rerr != nil {
							t.Fatal(rerr)
						}
						if sp, err = r.(dag.PositionedReader).Position(); err != nil {
							t.Fatal(err)
						}
						r.Close()
					}
				}
				want := strings.Split(strings.TrimSuffix(sb.String(), "\n"), "\n")
				if len(seen) != len(want) {
					t.Fatalf("read %d distinct lines, want %d", len(seen), len(want))
				}
				for _, l := range want {
					if seen[l] != 1 {
						t.Fatalf("line %q read %d times", l, seen[l])
					}
				}
			})
		}
	}
}
