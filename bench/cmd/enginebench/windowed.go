package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
	"github.com/dagflow/dagflow/examples/windowed/job"
	"github.com/dagflow/dagflow/io/fileio"
)

const (
	winSize = 10 * time.Second
	winOOO  = 2 * time.Second
)

// windowed benchmarks event-time tumbling-window sums over a CSV file of
// out-of-order events against a plain Go program computing the same sums.
func windowed(out io.Writer, dir string, events, par, rounds int) error {
	input := filepath.Join(dir, "events.csv")
	if err := writeEvents(input, events); err != nil {
		return err
	}
	st, err := os.Stat(input)
	if err != nil {
		return err
	}
	if err := warm(input); err != nil {
		return err
	}
	var r runs
	r.add("plain Go, 1 goroutine", func() (int64, string, error) { return baselineWindowed(input) })
	for _, mode := range []dag.ExecutionMode{dag.StreamingMode, dag.BatchMode} {
		outDir := filepath.Join(dir, "win-"+mode.String())
		r.add(fmt.Sprintf("dagflow %s, p=%d", mode, par), func() (int64, string, error) {
			os.RemoveAll(outDir)
			g := dag.New("windowed", dag.Config{Parallelism: par, Mode: mode})
			job.Build(g, job.CSVSource(input), job.Config{Window: winSize, OutOfOrderness: winOOO},
				fileio.TextSink(outDir, job.FormatSum), countOnly[job.Event]{})
			res, err := dagflow.Run(context.Background(), g, dagflow.Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				return 0, "", err
			}
			src, _ := res.Vertex("events")
			sink, _ := res.Vertex("output")
			late, _ := res.Vertex("late")
			return src.RecordsOut, fmt.Sprintf("%d sums, %d late", sink.RecordsIn, late.RecordsIn), nil
		})
	}
	ms, err := r.medians(st.Size(), rounds)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "## windowed: %d events (%.0f MB CSV), 10s tumbling windows, median of %d rounds\n\n%s\n", events, float64(st.Size())/1e6, rounds, header)
	for _, m := range ms {
		fmt.Fprintln(out, m.row(ms[0]))
	}
	fmt.Fprintln(out)
	return nil
}

// writeEvents writes events 10ms apart with up to 1.5s disorder over 1000
// keys, so no event is late.
func writeEvents(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(7, 8))
	var buf []byte
	for i := 0; i < n; i++ {
		e := job.Event{Key: "key" + strconv.Itoa(r.IntN(1000)), TS: 1_700_000_000_000 + int64(i)*10 - int64(r.IntN(1500)), Value: int64(r.IntN(1000))}
		buf = append(job.FormatEvent(buf[:0], e), '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// baselineWindowed parses the CSV and sums per key and window with the
// same late-data rule, then writes the sums.
func baselineWindowed(input string) (int64, string, error) {
	f, err := os.Open(input)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	type wk struct {
		key   string
		start int64
	}
	size, ooo := winSize.Milliseconds(), winOOO.Milliseconds()
	sums := make(map[wk]int64)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var n, late int64
	wm, maxTS := dag.MinTime, dag.MinTime
	for sc.Scan() {
		line := sc.Bytes()
		a := bytes.IndexByte(line, ',')
		b := bytes.LastIndexByte(line, ',')
		if a < 0 || b <= a {
			return 0, "", fmt.Errorf("bad line %q", line)
		}
		ts, err1 := strconv.ParseInt(string(line[a+1:b]), 10, 64)
		v, err2 := strconv.ParseInt(string(line[b+1:]), 10, 64)
		if err1 != nil || err2 != nil {
			return 0, "", fmt.Errorf("bad line %q", line)
		}
		if n > 0 && n%dag.DefaultBatchSize == 0 {
			wm = max(wm, maxTS-ooo-1)
		}
		n++
		maxTS = max(maxTS, ts)
		start := ts - ((ts%size)+size)%size
		if start+size-1 <= wm {
			late++
			continue
		}
		sums[wk{string(line[:a]), start}] += v
	}
	if err := sc.Err(); err != nil {
		return 0, "", err
	}
	w := bufio.NewWriterSize(io.Discard, 1<<18)
	var buf []byte
	for k, v := range sums {
		buf = append(buf[:0], k.key...)
		buf = strconv.AppendInt(append(buf, '\t'), k.start, 10)
		buf = strconv.AppendInt(append(buf, '\t'), v, 10)
		w.Write(append(buf, '\n'))
	}
	return n, fmt.Sprintf("%d sums, %d late", len(sums), late), w.Flush()
}

// countOnly is a sink that drops records; the engine counts them.
type countOnly[T any] struct{}

func (countOnly[T]) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[T], error) {
	return countOnly[T]{}, nil
}
func (countOnly[T]) Committer() dag.Committer                   { return nil }
func (countOnly[T]) Write(context.Context, *dag.Batch[T]) error { return nil }
func (countOnly[T]) Prepare(context.Context) ([][]byte, error)  { return nil, nil }
func (countOnly[T]) Abort(context.Context) error                { return nil }
func (countOnly[T]) Close() error                               { return nil }
