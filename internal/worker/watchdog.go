package worker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// activity is what one sender of a run is doing, for the watchdog and for
// the log line that says what a stalled run waits on.
type activity uint32

const (
	actIdle activity = iota
	actLimiter
	actProvider
	actBackoff
)

func (a activity) String() string {
	switch a {
	case actLimiter:
		return "rate limiter"
	case actProvider:
		return "provider call"
	case actBackoff:
		return "backoff"
	}
	return "idle"
}

// slot is one sender's current activity, written by the sender and read by
// the watchdog without locks.
type slot struct {
	act   atomic.Uint32
	msg   atomic.Int64
	since atomic.Int64 // unix ns
	until atomic.Int64 // unix ns the activity should end by; 0 unbounded
}

func (s *slot) set(a activity, n int, until time.Time) {
	s.msg.Store(int64(n))
	s.since.Store(time.Now().UnixNano())
	if until.IsZero() {
		s.until.Store(0)
	} else {
		s.until.Store(until.UnixNano())
	}
	s.act.Store(uint32(a))
}

// stop ends the run with cause; its senders hand their messages back.
func (r *batchRun) stop(cause error) {
	if r.cancel != nil {
		r.cancel(cause)
	}
}

// watchdog ends the run when nothing has moved for StallTimeout while no
// sender waits on something that ends by itself (a backoff not yet over,
// the rate limiter, which hands out sends at its rate). Every wait in a run
// is bounded already; this is the guarantee for the waits nobody foresaw:
// the run is logged with what each sender waits on, and its unsent messages
// go back to pending for the next run.
func (r *batchRun) watchdog(ctx context.Context, cancel context.CancelCauseFunc) {
	every := max(r.h.p.StallTimeout/6, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idle := time.Since(r.start) - time.Duration(r.progress.Load())
		if idle < r.h.p.StallTimeout || r.waitingOnABound() {
			continue
		}
		r.log.Warn("batch run stalled; handing its messages back",
			append(r.waitFields(), zap.Duration("idle", idle))...)
		r.h.p.Metrics.RunStalled()
		cancel(errStalled)
		return
	}
}

// waitingOnABound reports whether some sender waits on something that ends
// by itself: a backoff whose end is still ahead, or the rate limiter.
func (r *batchRun) waitingOnABound() bool {
	now := time.Now().UnixNano()
	for i := range r.slots {
		s := &r.slots[i]
		switch activity(s.act.Load()) {
		case actLimiter:
			return true
		case actBackoff:
			if s.until.Load() > now {
				return true
			}
		}
	}
	return false
}

// waitFields describes what each busy sender has been doing and for how long.
func (r *batchRun) waitFields() []zap.Field {
	now := time.Now()
	var b strings.Builder
	busy := 0
	for i := range r.slots {
		s := &r.slots[i]
		a := activity(s.act.Load())
		if a == actIdle {
			continue
		}
		if busy < 10 {
			if busy > 0 {
				b.WriteString("; ")
			}
			since := now.Sub(time.Unix(0, s.since.Load())).Round(time.Millisecond)
			fmt.Fprintf(&b, "%s for message %s since %v", a, strconv.FormatInt(s.msg.Load(), 10), since)
		}
		busy++
	}
	return []zap.Field{
		zap.Int("senders_busy", busy), zap.Int("senders", len(r.slots)),
		zap.String("waiting_on", b.String()),
		zap.Duration("running_for", now.Sub(r.start)),
	}
}
