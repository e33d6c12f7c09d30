package provision

import (
	"slices"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	minute := time.Minute
	tests := []struct {
		name      string
		now       time.Time
		demand    Demand
		pool      Pool
		wantStart int
		wantStop  []string
		wantNext  time.Time
	}{
		{name: "nothing needed", now: t0, demand: Demand{}, pool: Pool{SlotsPerWorker: 2}},
		{name: "round up", now: t0, demand: Demand{Slots: 5}, pool: Pool{SlotsPerWorker: 2}, wantStart: 3},
		{name: "pending counts", now: t0, demand: Demand{Slots: 5}, pool: Pool{SlotsPerWorker: 2, Pending: 2}, wantStart: 1},
		{name: "registered counts", now: t0, demand: Demand{Slots: 4, Workers: []Worker{{Name: "a", Slots: 2, Busy: true}}},
			pool: Pool{SlotsPerWorker: 2}, wantStart: 1},
		{name: "cap", now: t0, demand: Demand{Slots: 10}, pool: Pool{SlotsPerWorker: 1, MaxWorkers: 3, Pending: 1}, wantStart: 2},
		{name: "cap reached", now: t0, demand: Demand{Slots: 10}, pool: Pool{SlotsPerWorker: 1, MaxWorkers: 1, Pending: 1}},
		{name: "idle not yet expired", now: t0.Add(30 * time.Second),
			demand:   Demand{Workers: []Worker{{Name: "a", Slots: 1}}},
			pool:     Pool{SlotsPerWorker: 1, IdleTimeout: minute, IdleSince: map[string]time.Time{"a": t0}},
			wantNext: t0.Add(minute)},
		{name: "idle expired", now: t0.Add(minute),
			demand:   Demand{Workers: []Worker{{Name: "a", Slots: 1}, {Name: "b", Slots: 1, Busy: true}}},
			pool:     Pool{SlotsPerWorker: 1, IdleTimeout: minute, IdleSince: map[string]time.Time{"a": t0, "b": t0}},
			wantStop: []string{"a"}},
		{name: "idle kept for demand", now: t0.Add(2 * minute),
			demand:   Demand{Slots: 1, Workers: []Worker{{Name: "a", Slots: 1}, {Name: "b", Slots: 1}}},
			pool:     Pool{SlotsPerWorker: 1, IdleTimeout: minute, IdleSince: map[string]time.Time{"a": t0, "b": t0.Add(time.Second)}},
			wantStop: []string{"a"}},
		{name: "no timeout keeps idle", now: t0.Add(time.Hour),
			demand: Demand{Workers: []Worker{{Name: "a", Slots: 1}}},
			pool:   Pool{SlotsPerWorker: 1, IdleSince: map[string]time.Time{"a": t0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := tt.pool
			got := Decide(tt.now, tt.demand, &pool)
			if got.Start != tt.wantStart || !slices.Equal(got.Stop, tt.wantStop) || !got.NextCheck.Equal(tt.wantNext) {
				t.Fatalf("Decide = %+v, want start %d stop %v next %v", got, tt.wantStart, tt.wantStop, tt.wantNext)
			}
		})
	}
}

func TestDecideTracksIdle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pool := Pool{SlotsPerWorker: 1, IdleTimeout: time.Minute}
	Decide(t0, Demand{Workers: []Worker{{Name: "a", Slots: 1}}}, &pool)
	if !pool.IdleSince["a"].Equal(t0) {
		t.Fatalf("idle since = %v, want %v", pool.IdleSince["a"], t0)
	}
	// Busy again: forgotten, so a later idle period starts afresh.
	Decide(t0.Add(time.Second), Demand{Workers: []Worker{{Name: "a", Slots: 1, Busy: true}}}, &pool)
	if _, ok := pool.IdleSince["a"]; ok {
		t.Fatal("busy worker still recorded idle")
	}
	// Gone: forgotten.
	Decide(t0.Add(2*time.Second), Demand{Workers: []Worker{{Name: "b", Slots: 1}}}, &pool)
	if _, ok := pool.IdleSince["a"]; ok {
		t.Fatal("lost worker still recorded idle")
	}
}
