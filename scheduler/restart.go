package scheduler

import (
	"fmt"
	"math"
	"time"
)

// RestartKind selects a restart strategy.
type RestartKind int

const (
	// RestartNone fails the job on the first failure.
	RestartNone RestartKind = iota
	// RestartFixedDelay restarts up to MaxAttempts times, waiting Delay
	// before every restart.
	RestartFixedDelay
	// RestartExponentialBackoff restarts up to MaxAttempts times, waiting
	// Delay before the first restart and multiplying the wait by Multiplier
	// for each later one, capped at MaxDelay.
	RestartExponentialBackoff
)

// RestartStrategy decides whether a failover may happen and how long to wait
// before redeploying. Restarts are counted on the job: every failover, however
// many regions it restarts, uses up one attempt. The zero value is
// RestartNone. Build one with NoRestart, FixedDelay or ExponentialBackoff.
type RestartStrategy struct {
	Kind RestartKind
	// MaxAttempts is the number of restarts allowed over the job's life.
	MaxAttempts int
	// Delay is the fixed delay, or the initial one for exponential backoff.
	Delay time.Duration
	// MaxDelay caps the exponential backoff delay (0 means no cap).
	MaxDelay time.Duration
	// Multiplier grows the exponential backoff delay; at least 1.
	Multiplier float64
}

// NoRestart returns the strategy that fails the job on the first failure.
func NoRestart() RestartStrategy { return RestartStrategy{Kind: RestartNone} }

// FixedDelay returns a strategy allowing maxAttempts restarts, each delay
// after the failure.
func FixedDelay(maxAttempts int, delay time.Duration) RestartStrategy {
	return RestartStrategy{Kind: RestartFixedDelay, MaxAttempts: maxAttempts, Delay: delay}
}

// ExponentialBackoff returns a strategy allowing maxAttempts restarts; the
// n-th restart waits initial*multiplier^(n-1), capped at maxDelay.
func ExponentialBackoff(initial, maxDelay time.Duration, multiplier float64, maxAttempts int) RestartStrategy {
	return RestartStrategy{
		Kind:        RestartExponentialBackoff,
		MaxAttempts: maxAttempts,
		Delay:       initial,
		MaxDelay:    maxDelay,
		Multiplier:  multiplier,
	}
}

// String formats the strategy, e.g. "fixed-delay(3, 1s)".
func (r RestartStrategy) String() string {
	switch r.Kind {
	case RestartNone:
		return "none"
	case RestartFixedDelay:
		return fmt.Sprintf("fixed-delay(%d, %s)", r.MaxAttempts, r.Delay)
	case RestartExponentialBackoff:
		return fmt.Sprintf("exponential-backoff(%s, %s, x%g, %d)", r.Delay, r.MaxDelay, r.Multiplier, r.MaxAttempts)
	}
	return fmt.Sprintf("RestartKind(%d)", int(r.Kind))
}

func (r RestartStrategy) validate() error {
	switch r.Kind {
	case RestartNone:
		return nil
	case RestartFixedDelay, RestartExponentialBackoff:
	default:
		return fmt.Errorf("scheduler: unknown restart strategy kind %d", int(r.Kind))
	}
	if r.MaxAttempts < 0 || r.Delay < 0 || r.MaxDelay < 0 {
		return fmt.Errorf("scheduler: restart strategy %s: negative attempts or delay", r)
	}
	if r.Kind == RestartExponentialBackoff && r.Multiplier < 1 {
		return fmt.Errorf("scheduler: restart strategy %s: multiplier must be at least 1", r)
	}
	return nil
}

// allows reports whether restart number n (1-based) is allowed.
func (r RestartStrategy) allows(n int) bool {
	return r.Kind != RestartNone && n <= r.MaxAttempts
}

// delay returns the wait before restart number n (1-based).
func (r RestartStrategy) delay(n int) time.Duration {
	if r.Kind != RestartExponentialBackoff {
		return r.Delay
	}
	d := r.Delay
	for i := 1; i < n; i++ {
		f := float64(d) * r.Multiplier
		if f >= math.MaxInt64 {
			d = math.MaxInt64
		} else {
			d = time.Duration(f)
		}
		if r.MaxDelay > 0 && d >= r.MaxDelay {
			return r.MaxDelay
		}
	}
	if r.MaxDelay > 0 && d > r.MaxDelay {
		return r.MaxDelay
	}
	return d
}

// DefaultSlotWaitTimeout is the SlotWaitTimeout used when Config leaves it
// zero.
const DefaultSlotWaitTimeout = 5 * time.Minute

// Config tunes a Scheduler.
type Config struct {
	// Restart is the restart strategy; the zero value never restarts.
	Restart RestartStrategy
	// SlotWaitTimeout is how long a region whose inputs are ready may wait
	// while the whole cluster has fewer slots than it needs before the job
	// fails. Zero means DefaultSlotWaitTimeout.
	SlotWaitTimeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if err := c.Restart.validate(); err != nil {
		return c, err
	}
	if c.SlotWaitTimeout < 0 {
		return c, fmt.Errorf("scheduler: negative SlotWaitTimeout %s", c.SlotWaitTimeout)
	}
	if c.SlotWaitTimeout == 0 {
		c.SlotWaitTimeout = DefaultSlotWaitTimeout
	}
	return c, nil
}
