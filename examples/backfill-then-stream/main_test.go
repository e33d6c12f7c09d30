package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/examples/backfill-then-stream/job"
	"github.com/dagflow/dagflow/io/fileio"
	"github.com/dagflow/dagflow/io/filesystem"
)

func readLines(t *testing.T, dir string) []string {
	t.Helper()
	lines, err := fileio.ReadAllLines(context.Background(), filesystem.Default(), dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

// TestDemoEqualsBatchOverUnion runs the self-contained demo (generated
// day of history, in-process Kafka whose topic repeats the history's last
// hour, live events produced while the job runs, stop with drain) and
// compares its committed output with a pure batch run of the same window
// totals over history ∪ live events: every window exactly once.
func TestDemoEqualsBatchOverUnion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	for _, par := range []int{2, 3} {
		t.Run(fmt.Sprintf("parallelism %d", par), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "totals")
			const live = 1500
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if code := run(ctx, []string{"--output", out, "--live-events", fmt.Sprint(live), "--parallelism", fmt.Sprint(par)}, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s %s", code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), "phase 1:") {
				t.Errorf("the demo did not report the switch to phase 1:\n%s", stdout.String())
			}
			got := readLines(t, out)

			// The reference: the same events, all from files, in batch mode.
			gen := job.Gen{Start: demoStart.UnixMilli(), Step: demoStep, Keys: 8}
			n := 24*int64(time.Hour/demoStep) + live
			files, err := job.WriteFiles(t.TempDir(), gen.Range(0, n), 10000)
			if err != nil {
				t.Fatal(err)
			}
			ref := filepath.Join(t.TempDir(), "ref")
			if _, err := dagflow.Run(ctx, job.BuildBatch(files, 10*time.Minute, 2, ref), dagflow.Options{}); err != nil {
				t.Fatal(err)
			}
			want := readLines(t, ref)
			if len(want) != 24*6*8+8*(live*2/600) {
				t.Fatalf("reference has %d windows", len(want))
			}
			if !slices.Equal(got, want) {
				for i := range max(len(got), len(want)) {
					if i >= len(got) || i >= len(want) || got[i] != want[i] {
						t.Fatalf("demo output has %d lines, batch reference %d; first difference at line %d", len(got), len(want), i)
					}
				}
			}
		})
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{{"--parallelism", "0"}, {"--keys", "0"}, {"--nope"}, {"--brokers", "127.0.0.1:1"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
