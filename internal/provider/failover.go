package provider

import (
	"context"
	"errors"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"
)

// BreakerState is a circuit breaker's state, numbered as the metric
// campaignsms_provider_breaker_state exports it.
type BreakerState int

const (
	BreakerClosed   BreakerState = 0 // requests go to the primary
	BreakerHalfOpen BreakerState = 1 // one trial request goes to the primary
	BreakerOpen     BreakerState = 2 // requests go to the fallback, or fail transiently
)

func (s BreakerState) String() string {
	switch s {
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return "closed"
}

// FailoverParams configures NewFailover.
type FailoverParams struct {
	Primary Provider
	// Fallback takes the messages while Primary's breaker is open; nil: they
	// fail transiently (and are retried later) instead.
	Fallback Provider
	// Failures is the number of consecutive transient failures that opens the
	// breaker. Default 5.
	Failures int
	// OpenFor is how long the breaker stays open before one trial request
	// may go to the primary again. Default 30s.
	OpenFor time.Duration
	// OnStateChange, if set, is called with the primary's name on every
	// change of its breaker (for metrics and logs); it must not block.
	OnStateChange func(provider string, from, to BreakerState)
	Log           *zap.Logger
}

// Failover puts a circuit breaker in front of a provider (SPEC §8
// "Failover"): consecutive transient failures (connection errors, timeouts,
// 408, 429, 5xx) open it; while it is open the messages go to the fallback;
// after OpenFor one trial request goes to the primary, and its success closes
// the breaker again. A permanent refusal counts as the primary answering.
// Every Result names the provider that accepted the message.
type Failover struct {
	primary, fallback   Provider
	primaryName, fbName string
	cb                  *gobreaker.TwoStepCircuitBreaker[struct{}]
	log                 *zap.Logger
}

// NewFailover returns the decorator; it is a BatchProvider whether or not
// the primary is (MaxBatch is the primary's, 1 for a single-send provider).
func NewFailover(p FailoverParams) *Failover {
	f := &Failover{primary: p.Primary, fallback: p.Fallback, primaryName: NameOf(p.Primary), log: p.Log}
	if f.log == nil {
		f.log = zap.NewNop()
	}
	if p.Fallback != nil {
		f.fbName = NameOf(p.Fallback)
	}
	failures := p.Failures
	if failures <= 0 {
		failures = 5
	}
	openFor := p.OpenFor
	if openFor <= 0 {
		openFor = 30 * time.Second
	}
	f.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        f.primaryName,
		MaxRequests: 1,
		Timeout:     openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
		IsSuccessful: func(err error) bool {
			return err == nil || !IsTransient(err)
		},
		IsExcluded: func(err error) bool {
			// The caller gave up: says nothing about the provider.
			var pe *Error
			return err != nil && !errors.As(err, &pe) &&
				(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			f.log.Warn("sms provider circuit breaker", zap.String("provider", name),
				zap.Stringer("from", breakerState(from)), zap.Stringer("to", breakerState(to)))
			if p.OnStateChange != nil {
				p.OnStateChange(name, breakerState(from), breakerState(to))
			}
		},
	})
	return f
}

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}

// State is the primary's breaker state now.
func (f *Failover) State() BreakerState { return breakerState(f.cb.State()) }

// Name is the primary's name.
func (f *Failover) Name() string { return f.primaryName }

// RequestRate is the primary's published request rate.
func (f *Failover) RequestRate() float64 { return RequestRateOf(f.primary) }

// MaxBatch is the primary's MaxBatch.
func (f *Failover) MaxBatch() int { return MaxBatchOf(f.primary) }

func (f *Failover) openError() error {
	return &Error{Transient: true, Reason: f.primaryName + " circuit breaker is open and no fallback is configured"}
}

func (f *Failover) Send(ctx context.Context, m Message) (Result, error) {
	done, err := f.cb.Allow()
	if err != nil {
		if f.fallback == nil {
			return Result{}, f.openError()
		}
		res, err := f.fallback.Send(ctx, m)
		return named(res, err, f.fbName), err
	}
	res, err := f.primary.Send(ctx, m)
	done(err)
	return named(res, err, f.primaryName), err
}

// SendBatch sends through the primary as one breaker request (it counts as
// failed when every message failed transiently), or through the fallback
// while the breaker is open.
func (f *Failover) SendBatch(ctx context.Context, msgs []Message) []BatchResult {
	if len(msgs) == 0 {
		return nil
	}
	done, err := f.cb.Allow()
	if err != nil {
		if f.fallback == nil {
			return allErr(len(msgs), f.openError())
		}
		return namedAll(SendAll(ctx, f.fallback, msgs), f.fbName)
	}
	out := SendAll(ctx, f.primary, msgs)
	done(batchOutcomeErr(out))
	return namedAll(out, f.primaryName)
}

// batchOutcomeErr is nil when the provider answered for at least one message
// (accepted or refused for good), else the first error (a caller's context
// error when there is one, which the breaker ignores).
func batchOutcomeErr(out []BatchResult) error {
	var first error
	for _, r := range out {
		var pe *Error
		switch {
		case r.Err == nil:
			return nil
		case !errors.As(r.Err, &pe) && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)):
			return r.Err
		case !IsTransient(r.Err):
			return nil
		case first == nil:
			first = r.Err
		}
	}
	return first
}

func named(res Result, err error, name string) Result {
	if err == nil && res.Provider == "" {
		res.Provider = name
	}
	return res
}

func namedAll(out []BatchResult, name string) []BatchResult {
	for i := range out {
		out[i].Result = named(out[i].Result, out[i].Err, name)
	}
	return out
}
