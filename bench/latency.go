package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/dagflow/dagflow"
	"github.com/dagflow/dagflow/dag"
)

// LatencyConfig describes one run of the record latency benchmark: a
// streaming job whose source stamps every record with the wall clock when
// it emits it, shuffles the records by key over a pipelined exchange into a
// keyed process function, and whose sink records now - stamp. Source and
// sink run in one process (the embedded runtime), so both read the same
// clock.
type LatencyConfig struct {
	// Parallelism of every operator (default 2).
	Parallelism int
	// Keys is the number of distinct keys (default 1024).
	Keys int
	// BufferTimeout is the job's dag.Config.BufferTimeout.
	BufferTimeout time.Duration
	// Rate is the total target rate in records per second; 0 emits as
	// fast as the job takes them (to measure the maximum throughput).
	Rate float64
	// Duration bounds a paced run (Rate > 0); Records bounds an unpaced
	// one.
	Duration time.Duration
	Records  int64
}

// LatencyResult is what one run measured.
type LatencyResult struct {
	Config LatencyConfig
	// Records is how many records reached the sink; Elapsed is the time
	// from the first emitted record to the last one received;
	// Throughput is Records / Elapsed.
	Records    int64
	Elapsed    time.Duration
	Throughput float64
	// Hist holds the latencies in microseconds.
	Hist *hdrhistogram.Histogram
}

// Percentile returns the latency at percentile q (0..100).
func (r LatencyResult) Percentile(q float64) time.Duration {
	return time.Duration(r.Hist.ValueAtQuantile(q)) * time.Microsecond
}

// latencyRecorder collects what the sink writers measured.
type latencyRecorder struct {
	mu    sync.Mutex
	hist  *hdrhistogram.Histogram
	count int64
	first atomic.Int64 // unix nanos of the first emitted record
	last  int64        // unix nanos of the last received record
}

// Latency runs the benchmark once, embedded.
func Latency(ctx context.Context, c LatencyConfig) (LatencyResult, error) {
	if c.Parallelism == 0 {
		c.Parallelism = 2
	}
	if c.Keys == 0 {
		c.Keys = 1024
	}
	switch {
	case c.Parallelism < 1 || c.Keys < 1:
		return LatencyResult{}, fmt.Errorf("bench: latency: parallelism %d and keys %d must be positive", c.Parallelism, c.Keys)
	case c.Rate < 0:
		return LatencyResult{}, fmt.Errorf("bench: latency: negative rate %g", c.Rate)
	case c.Rate > 0 && c.Duration <= 0:
		return LatencyResult{}, fmt.Errorf("bench: latency: a paced run (rate %g) needs a positive duration", c.Rate)
	case c.Rate == 0 && c.Records <= 0:
		return LatencyResult{}, fmt.Errorf("bench: latency: an unpaced run needs a positive record count")
	}
	rec := &latencyRecorder{hist: hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)}
	g := dag.New("latency", dag.Config{Parallelism: c.Parallelism, Mode: dag.StreamingMode, BufferTimeout: c.BufferTimeout})
	src := dag.FromSource(g, "stamps", &stampSource{cfg: c, rec: rec}, nil)
	keys := int64(c.Keys)
	keyed := dag.KeyBy(src, func(v int64) int64 { return (v / 1000) % keys })
	passed := dag.Process(keyed, dag.ProcessFuncOf(func(ctx *dag.ProcessContext[int64, int64], v int64) error {
		ctx.Emit(v)
		return nil
	}))
	dag.ToSink(passed, "latency", &latencySink{rec: rec})
	if _, err := dagflow.Run(ctx, g, dagflow.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		return LatencyResult{}, fmt.Errorf("bench: latency: %w", err)
	}
	out := LatencyResult{Config: c, Records: rec.count, Hist: rec.hist}
	if rec.count > 0 {
		out.Elapsed = time.Duration(rec.last - rec.first.Load())
		out.Throughput = float64(rec.count) / out.Elapsed.Seconds()
	}
	return out, nil
}

// stampSource emits int64 records holding the Unix nanosecond time at
// which they were emitted, paced at cfg.Rate per second in all.
type stampSource struct {
	cfg LatencyConfig
	rec *latencyRecorder
}

func (s *stampSource) Bounded() bool { return true }

func (s *stampSource) Splits(_ context.Context, sc dag.SplitContext) ([]dag.Split, error) {
	out := make([]dag.Split, sc.Parallelism)
	for i := range out {
		out[i] = dag.Split{ID: fmt.Sprintf("s%d", i)}
	}
	return out, nil
}

func (s *stampSource) OpenSplit(_ context.Context, rc dag.ReaderContext, _ dag.Split) (dag.SplitReader[int64], error) {
	r := &stampReader{src: s, rate: s.cfg.Rate / float64(rc.Parallelism), limit: s.cfg.Records / int64(rc.Parallelism)}
	return r, nil
}

type stampReader struct {
	src     *stampSource
	rate    float64 // per second, 0 = unpaced
	limit   int64   // records, for unpaced runs
	start   time.Time
	emitted int64
}

// ReadBatch emits the records due by now; when none is due it sleeps until
// the next one is (at most 20 ms, so the task keeps polling its control
// messages), rather than returning an empty batch, which would make the
// task flush its outputs early and hide the buffer timeout.
func (r *stampReader) ReadBatch(ctx context.Context, b *dag.Batch[int64], max int) (int, error) {
	now := time.Now()
	if r.start.IsZero() {
		r.start = now
		r.src.rec.first.CompareAndSwap(0, now.UnixNano())
	}
	n := int64(max)
	if r.rate == 0 {
		if r.emitted >= r.limit {
			return 0, io.EOF
		}
		n = min(n, r.limit-r.emitted)
	} else {
		if now.Sub(r.start) >= r.src.cfg.Duration {
			return 0, io.EOF
		}
		due := int64(now.Sub(r.start).Seconds()*r.rate) + 1 - r.emitted
		if due <= 0 {
			next := r.start.Add(time.Duration(float64(r.emitted) / r.rate * float64(time.Second)))
			wait := min(next.Sub(now), 20*time.Millisecond)
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(wait):
			}
			now = time.Now()
			due = int64(now.Sub(r.start).Seconds()*r.rate) + 1 - r.emitted
			if due <= 0 {
				return 0, nil
			}
		}
		// Never more than the run's share: rate × duration, plus the first.
		n = min(n, due, int64(r.src.cfg.Duration.Seconds()*r.rate)+1-r.emitted)
		if n <= 0 {
			return 0, io.EOF
		}
	}
	stamp := now.UnixNano()
	for i := int64(0); i < n; i++ {
		b.Vals = append(b.Vals, stamp)
		b.TS = append(b.TS, stamp/int64(time.Millisecond))
	}
	r.emitted += n
	return int(n), nil
}

func (r *stampReader) Close() error { return nil }

// latencySink records now - stamp of every record.
type latencySink struct{ rec *latencyRecorder }

func (s *latencySink) NewWriter(context.Context, dag.SinkContext) (dag.SinkWriter[int64], error) {
	return &latencyWriter{rec: s.rec}, nil
}

func (s *latencySink) Committer() dag.Committer { return nil }

type latencyWriter struct{ rec *latencyRecorder }

func (w *latencyWriter) Write(_ context.Context, b *dag.Batch[int64]) error {
	now := time.Now().UnixNano()
	w.rec.mu.Lock()
	defer w.rec.mu.Unlock()
	for _, stamp := range b.Vals {
		us := max((now-stamp)/int64(time.Microsecond), 1)
		if err := w.rec.hist.RecordValue(us); err != nil {
			return fmt.Errorf("bench: latency %d µs out of the histogram's range: %w", us, err)
		}
	}
	w.rec.count += int64(len(b.Vals))
	w.rec.last = max(w.rec.last, now)
	return nil
}

func (w *latencyWriter) Prepare(context.Context) ([][]byte, error) { return nil, nil }
func (w *latencyWriter) Abort(context.Context) error               { return nil }
func (w *latencyWriter) Close() error                              { return nil }

// LatencyPoint is one run of LatencySweep: a paced run at Load percent of
// Max, the throughput the unpaced run with the same buffer timeout reached
// (Load is 0 for that unpaced run itself).
type LatencyPoint struct {
	BufferTimeout time.Duration
	Load          float64
	Max           float64
	Result        LatencyResult
}

// LatencySweep measures, for every buffer timeout, the maximum throughput
// (an unpaced run of maxRecords records), then the latency of paced runs
// of duration d at each load (percent of that maximum).
func LatencySweep(ctx context.Context, parallelism int, timeouts []time.Duration, loads []float64, maxRecords int64, d time.Duration, progress func(LatencyPoint)) ([]LatencyPoint, error) {
	var out []LatencyPoint
	for _, bt := range timeouts {
		m, err := Latency(ctx, LatencyConfig{Parallelism: parallelism, BufferTimeout: bt, Records: maxRecords})
		if err != nil {
			return out, err
		}
		pt := LatencyPoint{BufferTimeout: bt, Max: m.Throughput, Result: m}
		out = append(out, pt)
		if progress != nil {
			progress(pt)
		}
		for _, load := range loads {
			r, err := Latency(ctx, LatencyConfig{Parallelism: parallelism, BufferTimeout: bt, Rate: m.Throughput * load / 100, Duration: d})
			if err != nil {
				return out, err
			}
			pt := LatencyPoint{BufferTimeout: bt, Load: load, Max: m.Throughput, Result: r}
			out = append(out, pt)
			if progress != nil {
				progress(pt)
			}
		}
	}
	return out, nil
}

// LatencyTable formats a sweep as a Markdown table.
func LatencyTable(points []LatencyPoint) string {
	var b strings.Builder
	b.WriteString("| buffer timeout | load | target rec/s | achieved rec/s | records | p50 | p99 | p99.9 | max |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range points {
		b.WriteString(LatencyRow(p) + "\n")
	}
	return b.String()
}

// LatencyRow formats one point as a Markdown table row.
func LatencyRow(p LatencyPoint) string {
	r := p.Result
	load, target := "max (unpaced)", "-"
	if p.Load > 0 {
		load, target = fmt.Sprintf("%g%%", p.Load), fmt.Sprintf("%.0f", p.Max*p.Load/100)
	}
	return fmt.Sprintf("| %s | %s | %s | %.0f | %d | %s | %s | %s | %s |", p.BufferTimeout, load, target, r.Throughput, r.Records,
		fmtLatency(r.Percentile(50)), fmtLatency(r.Percentile(99)), fmtLatency(r.Percentile(99.9)), fmtLatency(r.Percentile(100)))
}

// LatencyHistogram formats r's latency distribution as HDR-style
// percentile buckets: each row gives the latency at a percentile and the
// share of records at or below it.
func LatencyHistogram(r LatencyResult) string {
	var b strings.Builder
	b.WriteString("| percentile | latency | records at or below |\n|---:|---:|---:|\n")
	bars := r.Hist.Distribution()
	for _, q := range []float64{10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 100} {
		v := r.Hist.ValueAtQuantile(q)
		n := int64(0)
		for _, bar := range bars {
			if bar.From <= v {
				n += bar.Count
			}
		}
		b.WriteString(fmt.Sprintf("| %g | %s | %d |\n", q, fmtLatency(time.Duration(v)*time.Microsecond), n))
	}
	return b.String()
}

func fmtLatency(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
