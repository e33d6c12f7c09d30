package launch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dagflow/dagflow/internal/provision"
)

// Launcher starts and stops workers on a cluster manager.
type Launcher interface {
	// Launch asks for a worker named name that registers with the master
	// under that name. exited is called at most once, from any goroutine,
	// when the worker ends without Stop (its process died, its pod failed,
	// was evicted, OOM-killed or deleted), with a reason for the log.
	Launch(ctx context.Context, name string, exited func(reason string)) error
	// Stop stops the worker named name. Stopping a worker that is already
	// gone is not an error.
	Stop(ctx context.Context, name string) error
}

// Config configures a Provider.
type Config struct {
	// Launcher starts and stops the workers (required).
	Launcher Launcher
	// Prefix starts every worker name: workers are named Prefix-1,
	// Prefix-2, ... (required; unique per master run, and a valid DNS
	// label prefix for Kubernetes).
	Prefix string
	// SlotsPerWorker is the number of slots each launched worker offers.
	SlotsPerWorker int
	// MaxWorkers caps the launched workers (0: no cap).
	MaxWorkers int
	// IdleTimeout is how long a launched worker may stay idle, and not
	// needed by the demand, before it is stopped (0: never).
	IdleTimeout time.Duration
	// OpTimeout bounds one Launch or Stop call (default 30s).
	OpTimeout time.Duration
	// Logger receives what the provider does (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Provider starts workers through a Launcher when the master's demand
// needs slots and stops them when they are idle. It implements
// provision.Provider.
type Provider struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
	done chan struct{}
	exit chan struct{}

	mu       sync.Mutex
	demand   provision.Demand
	ours     map[string]*member
	stopping []string
	seq      int
	pool     provision.Pool
	retryAt  time.Time
	backoff  time.Duration
	closed   bool
	launched int
	replaced int
}

// member is a worker the provider launched.
type member struct {
	// registered is set once the worker appeared in the demand.
	registered bool
}

// Stats counts what a provider did, for logs and tests.
type Stats struct {
	// Launched is the number of workers launched so far.
	Launched int
	// Lost is the number of launched workers that ended without Stop or
	// left the master's worker list.
	Lost int
	// Running names the workers launched and not stopped or lost, sorted.
	Running []string
}

// New checks cfg and starts a Provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Launcher == nil {
		return nil, errors.New("launch: no launcher")
	}
	if cfg.Prefix == "" {
		return nil, errors.New("launch: no worker name prefix")
	}
	if cfg.SlotsPerWorker < 1 {
		return nil, fmt.Errorf("launch: slots per worker %d: must be at least 1", cfg.SlotsPerWorker)
	}
	if cfg.MaxWorkers < 0 || cfg.IdleTimeout < 0 {
		return nil, errors.New("launch: max workers and idle timeout must not be negative")
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Provider{cfg: cfg, log: cfg.Logger.With("provider", cfg.Prefix),
		wake: make(chan struct{}, 1), done: make(chan struct{}), exit: make(chan struct{}),
		ours: make(map[string]*member),
		pool: provision.Pool{SlotsPerWorker: cfg.SlotsPerWorker, MaxWorkers: cfg.MaxWorkers, IdleTimeout: cfg.IdleTimeout}}
	go p.loop()
	return p, nil
}

// Update implements provision.Provider: it records the demand and wakes
// the provider's goroutine. It never blocks.
func (p *Provider) Update(d provision.Demand) {
	d.Workers = append([]provision.Worker(nil), d.Workers...)
	p.mu.Lock()
	p.demand = d
	p.mu.Unlock()
	p.poke()
}

func (p *Provider) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats returns what the provider did so far.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Launched: p.launched, Lost: p.replaced}
	for name := range p.ours {
		s.Running = append(s.Running, name)
	}
	sort.Strings(s.Running)
	return s
}

// Close implements provision.Provider: it stops the provider's goroutine
// and every worker it launched.
func (p *Provider) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.done)
	<-p.exit
	p.mu.Lock()
	names := append([]string(nil), p.stopping...)
	for name := range p.ours {
		names = append(names, name)
	}
	p.ours = map[string]*member{}
	p.stopping = nil
	p.mu.Unlock()
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := p.cfg.Launcher.Stop(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("launch: stop %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// exited is the Launcher's callback for a worker that ended by itself.
func (p *Provider) exited(name, reason string) {
	p.mu.Lock()
	if _, ok := p.ours[name]; ok && !p.closed {
		delete(p.ours, name)
		p.replaced++
		// Remove what is left of it (a failed pod stays until deleted).
		p.stopping = append(p.stopping, name)
		p.log.Warn("launch: worker ended; it will be replaced while the demand needs it", "worker", name, "reason", reason)
	}
	p.mu.Unlock()
	p.poke()
}

func (p *Provider) loop() {
	defer close(p.exit)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		case <-timer.C:
		}
		next := p.reconcile()
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(max(next.Sub(p.cfg.Now()), time.Millisecond))
		}
	}
}

// reconcile compares the demand with the launched workers, launches and
// stops workers, and returns when it wants to run again (zero: only on
// a new demand or exit).
func (p *Provider) reconcile() time.Time {
	now := p.cfg.Now()
	p.mu.Lock()
	d := p.demand
	inDemand := make(map[string]bool, len(d.Workers))
	for _, w := range d.Workers {
		inDemand[w.Name] = true
		if m, ok := p.ours[w.Name]; ok && !m.registered {
			m.registered = true
			p.log.Info("launch: worker registered", "worker", w.Name)
		}
	}
	for name, m := range p.ours {
		if m.registered && !inDemand[name] {
			// The master lost it: make sure it is gone, then replace it.
			delete(p.ours, name)
			p.replaced++
			p.stopping = append(p.stopping, name)
			p.log.Warn("launch: master lost worker; replacing it while the demand needs it", "worker", name)
		}
	}
	// Workers the provider did not launch (or already stops) count for
	// the demand but are never stop candidates: Decide sees them busy.
	view := provision.Demand{Slots: d.Slots, Workers: make([]provision.Worker, 0, len(d.Workers))}
	pending := 0
	for _, m := range p.ours {
		if !m.registered {
			pending++
		}
	}
	for _, w := range d.Workers {
		if _, ok := p.ours[w.Name]; !ok {
			w.Busy = true
		}
		view.Workers = append(view.Workers, w)
	}
	p.pool.Pending = pending
	var dec provision.Decision
	retry := !p.retryAt.IsZero() && now.Before(p.retryAt)
	dec = provision.Decide(now, view, &p.pool)
	if retry {
		dec.Start = 0
	}
	var launches []string
	for range dec.Start {
		p.seq++
		name := fmt.Sprintf("%s-%d", p.cfg.Prefix, p.seq)
		p.ours[name] = &member{}
		launches = append(launches, name)
	}
	for _, name := range dec.Stop {
		if _, ok := p.ours[name]; ok {
			delete(p.ours, name)
			p.stopping = append(p.stopping, name)
			p.log.Info("launch: stopping idle worker", "worker", name, "idleTimeout", p.cfg.IdleTimeout)
		}
	}
	stops := p.stopping
	p.stopping = nil
	p.mu.Unlock()

	for _, name := range stops {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.OpTimeout)
		if err := p.cfg.Launcher.Stop(ctx, name); err != nil {
			p.log.Warn("launch: stop worker", "worker", name, "err", err)
		}
		cancel()
	}
	failed := false
	for _, name := range launches {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.OpTimeout)
		err := p.cfg.Launcher.Launch(ctx, name, func(reason string) { p.exited(name, reason) })
		cancel()
		p.mu.Lock()
		if err != nil {
			delete(p.ours, name)
			failed = true
			p.log.Error("launch: start worker", "worker", name, "err", err)
		} else {
			p.launched++
			p.log.Info("launch: started worker", "worker", name, "slots", p.cfg.SlotsPerWorker, "demand", d.Slots)
		}
		p.mu.Unlock()
	}
	next := dec.NextCheck
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case failed:
		// Back off before launching again: 1s doubling to 30s.
		p.backoff = min(max(2*p.backoff, time.Second), 30*time.Second)
		p.retryAt = now.Add(p.backoff)
	case len(launches) > 0:
		p.backoff, p.retryAt = 0, time.Time{}
	}
	if retry || failed {
		if next.IsZero() || p.retryAt.Before(next) {
			next = p.retryAt
		}
	}
	return next
}
