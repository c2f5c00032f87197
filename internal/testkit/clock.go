// Package testkit holds what tests of several packages share: an
// injectable clock, the Enqueuer fake and a campaign-with-customers setup
// on a real Redis with a fake provider. Only tests import it.
package testkit

import (
	"sync/atomic"
	"time"
)

// Clock is an injectable clock that runs with real time from an offset the
// test moves: Advance jumps ahead, Set puts it at an instant. Pass Now
// wherever a rule depends on the time.
type Clock struct{ off atomic.Int64 }

// NewClock returns a Clock at real time, or at the given instant.
func NewClock(at ...time.Time) *Clock {
	c := &Clock{}
	if len(at) > 0 {
		c.Set(at[0])
	}
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the clock d ahead.
func (c *Clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// Set puts the clock at t; it runs on from there.
func (c *Clock) Set(t time.Time) { c.off.Store(int64(time.Until(t))) }
