package launch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/dagflow/dagflow/internal/provision"
)

// fakeLauncher records launches and stops as events.
type fakeLauncher struct {
	mu     sync.Mutex
	exited map[string]func(string)
	fail   int
	events chan string
}

func newFake() *fakeLauncher {
	return &fakeLauncher{exited: map[string]func(string){}, events: make(chan string, 100)}
}

func (f *fakeLauncher) Launch(_ context.Context, name string, exited func(string)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		f.events <- "fail " + name
		return errors.New("quota exceeded")
	}
	f.exited[name] = exited
	f.events <- "launch " + name
	return nil
}

func (f *fakeLauncher) Stop(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.exited, name)
	f.events <- "stop " + name
	return nil
}

func (f *fakeLauncher) kill(name string) {
	f.mu.Lock()
	fn := f.exited[name]
	delete(f.exited, name)
	f.mu.Unlock()
	fn("killed")
}

func (f *fakeLauncher) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-f.events:
			if got != w {
				t.Fatalf("event %q, want %q", got, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no event, want %q", w)
		}
	}
}

// none checks that no event is waiting.
func (f *fakeLauncher) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-f.events:
		t.Fatalf("unexpected event %q", got)
	default:
	}
}

func workers(busy bool, names ...string) []provision.Worker {
	var ws []provision.Worker
	for _, n := range names {
		ws = append(ws, provision.Worker{Name: n, Slots: 2, Busy: busy})
	}
	return ws
}

func TestProviderLaunchesReplacesAndStops(t *testing.T) {
	f := newFake()
	p, err := New(Config{Launcher: f, Prefix: "w", SlotsPerWorker: 2, IdleTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	// A job needs 3 slots: two workers of 2 slots.
	p.Update(provision.Demand{Slots: 3})
	f.expect(t, "launch w-1", "launch w-2")
	// Still pending: the same demand launches nothing more.
	p.Update(provision.Demand{Slots: 3, Workers: workers(true, "w-1")})
	p.Update(provision.Demand{Slots: 3, Workers: workers(true, "w-1", "w-2")})
	// w-2's process dies: the provider removes it; while the master
	// still lists it nothing is launched; once the master drops it a
	// replacement starts.
	f.kill("w-2")
	f.expect(t, "stop w-2")
	p.Update(provision.Demand{Slots: 3, Workers: workers(true, "w-1")})
	f.expect(t, "launch w-3")
	p.Update(provision.Demand{Slots: 3, Workers: workers(true, "w-1", "w-3")})
	// The master loses w-1 (no exit from the launcher): stopped, replaced.
	p.Update(provision.Demand{Slots: 3, Workers: workers(true, "w-3")})
	f.expect(t, "stop w-1", "launch w-4")
	p.Update(provision.Demand{Slots: 3, Workers: workers(true, "w-3", "w-4")})
	// The job ends: both idle, both stopped after the idle timeout. A
	// worker the provider did not launch is never stopped.
	p.Update(provision.Demand{Workers: append(workers(false, "w-3", "w-4"), provision.Worker{Name: "static", Slots: 4})})
	f.expect(t, "stop w-3", "stop w-4")
	f.none(t)
	if s := p.Stats(); s.Launched != 4 || s.Lost != 2 || len(s.Running) != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestProviderBacksOffAfterLaunchFailure(t *testing.T) {
	f := newFake()
	f.fail = 1
	p, err := New(Config{Launcher: f, Prefix: "w", SlotsPerWorker: 1})
	if err != nil {
		t.Fatal(err)
	}
	p.Update(provision.Demand{Slots: 1})
	f.expect(t, "fail w-1", "launch w-2")
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "stop w-2")
}

func TestProviderRespectsMaxWorkers(t *testing.T) {
	f := newFake()
	p, err := New(Config{Launcher: f, Prefix: "w", SlotsPerWorker: 1, MaxWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	p.Update(provision.Demand{Slots: 5})
	f.expect(t, "launch w-1", "launch w-2")
	p.Update(provision.Demand{Slots: 5, Workers: []provision.Worker{{Name: "w-1", Slots: 1, Busy: true}}})
	p.Update(provision.Demand{Slots: 5, Workers: []provision.Worker{{Name: "w-1", Slots: 1, Busy: true}, {Name: "w-2", Slots: 1, Busy: true}}})
	p.Close(context.Background())
	f.expect(t, "stop w-1", "stop w-2")
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Prefix: "w", SlotsPerWorker: 1},
		{Launcher: newFake(), SlotsPerWorker: 1},
		{Launcher: newFake(), Prefix: "w"},
		{Launcher: newFake(), Prefix: "w", SlotsPerWorker: 1, MaxWorkers: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
