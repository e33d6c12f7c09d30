package master

import "time"

// Clock is the job master's source of time and timers. The default is the
// system clock; tests inject a fake one to drive the job loop without
// sleeping.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that delivers the time on its channel once
	// d has passed.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock. After Reset or Stop no value of an
// earlier expiry is delivered.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time   { return t.t.C }
func (t sysTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t sysTimer) Stop()                 { t.t.Stop() }
