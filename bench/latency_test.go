package bench

import (
	"testing"
	"time"
)

// TestLatencySmall runs the latency benchmark unpaced and paced at a small
// scale: every record reaches the sink and is measured once.
func TestLatencySmall(t *testing.T) {
	r, err := Latency(t.Context(), LatencyConfig{Parallelism: 2, Records: 20000, BufferTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Records != 20000 || r.Hist.TotalCount() != 20000 {
		t.Fatalf("sink saw %d records, histogram %d, want 20000", r.Records, r.Hist.TotalCount())
	}
	p, err := Latency(t.Context(), LatencyConfig{Parallelism: 2, Rate: 2000, Duration: 200 * time.Millisecond, BufferTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Paced at 2000/s for 0.2 s: about 400 records, each subtask emitting
	// one more than its elapsed share; never more than rate × duration + 2.
	if p.Records == 0 || p.Records > 402 || p.Hist.TotalCount() != p.Records {
		t.Fatalf("paced run: sink saw %d records (histogram %d), want 1..402", p.Records, p.Hist.TotalCount())
	}
	if _, err := Latency(t.Context(), LatencyConfig{Rate: 10}); err == nil {
		t.Errorf("paced run without a duration accepted")
	}
}
