// Package clock is the control plane's clock: real time plus an offset that
// the admin API can advance ("fast-forward") so tests and demos need not wait
// for provisioning and advertisement delays.
//
// A Clock is safe for concurrent use. Its zero value is not usable; call New.
package clock

import (
	"sync"
	"time"
)

// Clock is wall-clock time shifted by a non-decreasing offset.
type Clock struct {
	now func() time.Time

	mu      sync.Mutex
	offset  time.Duration
	changed chan struct{} // closed and replaced on every FastForward
}

// New returns a Clock on real time. A nil now means time.Now.
func New(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now, changed: make(chan struct{})}
}

// Now returns the current (possibly fast-forwarded) time in UTC, truncated to
// microseconds so that values survive a JSON round trip unchanged.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	return c.now().Add(off).UTC().Truncate(time.Microsecond)
}

// Offset returns how far the clock has been fast-forwarded.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// FastForward advances the clock by d (d <= 0 does nothing) and wakes every
// Sleep in progress so it can re-check its deadline.
func (c *Clock) FastForward(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.offset += d
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Changed returns a channel that is closed the next time the clock is
// fast-forwarded.
func (c *Clock) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// SleepUntil blocks until the clock reaches t, done is closed, or wake is
// closed (whichever comes first), and reports whether t was reached.
func (c *Clock) SleepUntil(t time.Time, done, wake <-chan struct{}) bool {
	for {
		ch := c.Changed()
		d := t.Sub(c.Now())
		if d <= 0 {
			return true
		}
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ch:
			timer.Stop()
		case <-done:
			timer.Stop()
			return false
		case <-wake:
			timer.Stop()
			return false
		}
	}
}
