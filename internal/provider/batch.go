package provider

import (
	"context"
	"errors"
	"time"
)

// BatchResult is the outcome of one message of a batch: Err nil means the
// provider accepted it (Result as for Send); otherwise Err is classified like
// an error of Send (an *Error, or the caller's context error when the caller
// gave up), so IsTransient decides whether it may be retried.
type BatchResult struct {
	Result Result
	Err    error
}

// BatchProvider is a Provider with a bulk request (SPEC §8 "Bulk"). SendBatch
// returns exactly one BatchResult per message, in the order of msgs: one
// message's rejection never fails its neighbours, and a whole request that
// fails transiently gives each of its messages that transient error. Callers
// pass at most MaxBatch messages; an implementation given more splits them.
type BatchProvider interface {
	Provider
	SendBatch(ctx context.Context, msgs []Message) []BatchResult
	// MaxBatch is the most messages one SendBatch call should carry.
	MaxBatch() int
}

// Named is implemented by every provider of this package: the SPEC name
// ("exotel", "webhook", …) recorded as the message's provider.
type Named interface {
	Name() string
}

// RequestRater is implemented by providers with a published request limit.
// RequestRate is in requests per second over the whole account (Exotel: 200
// per minute); 0 means the provider publishes none. SMS_REQUEST_RATE
// overrides it.
type RequestRater interface {
	RequestRate() float64
}

// NameOf is p's Name, or "" when p has none.
func NameOf(p Provider) string {
	if n, ok := p.(Named); ok {
		return n.Name()
	}
	return ""
}

// RequestRateOf is p's published request rate, or 0.
func RequestRateOf(p Provider) float64 {
	if r, ok := p.(RequestRater); ok {
		return r.RequestRate()
	}
	return 0
}

// MaxBatchOf is p's MaxBatch, or 1 for a provider without bulk requests.
func MaxBatchOf(p Provider) int {
	if b, ok := p.(BatchProvider); ok {
		return max(1, b.MaxBatch())
	}
	return 1
}

// SendAll sends msgs through p and returns one result per message, in order:
// in bulk requests of at most MaxBatch messages when p is a BatchProvider,
// else one Send after the other. It stops sending when ctx ends; the messages
// not sent then carry ctx's error.
func SendAll(ctx context.Context, p Provider, msgs []Message) []BatchResult {
	out := make([]BatchResult, 0, len(msgs))
	if bp, ok := p.(BatchProvider); ok {
		n := max(1, bp.MaxBatch())
		for len(msgs) > 0 {
			if err := ctx.Err(); err != nil {
				return appendErr(out, len(msgs), err)
			}
			k := min(n, len(msgs))
			out = append(out, bp.SendBatch(ctx, msgs[:k])...)
			msgs = msgs[k:]
		}
		return out
	}
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			return appendErr(out, len(msgs)-i, err)
		}
		res, err := p.Send(ctx, m)
		out = append(out, BatchResult{Result: res, Err: err})
	}
	return out
}

func appendErr(out []BatchResult, n int, err error) []BatchResult {
	for range n {
		out = append(out, BatchResult{Err: err})
	}
	return out
}

// allErr gives each of n messages the same error.
func allErr(n int, err error) []BatchResult {
	return appendErr(make([]BatchResult, 0, n), n, err)
}

// splitOversize sends a batch larger than limit as consecutive SendBatch
// calls; it returns nil when msgs fits.
func splitOversize(ctx context.Context, bp BatchProvider, msgs []Message, limit int) []BatchResult {
	if len(msgs) <= limit {
		return nil
	}
	return SendAll(ctx, bp, msgs)
}

// accountLevel reports whether a whole-request permanent error concerns the
// account (credentials, permission, balance) rather than the content of the
// request: then every message of it fails the same way and retrying them one
// by one would only repeat the refusal.
func accountLevel(err error) bool {
	var pe *Error
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Status == 401 || pe.Status == 402 || pe.Status == 403
}

// isolate handles a bulk request the provider refused as a whole, for
// providers whose bulk answer has no result per message (MSG91, Kaleyra): a
// transient or account-level refusal is every message's result; any other
// permanent refusal may be caused by one bad message, so each is sent on its
// own and only the bad one fails (one message's rejection never fails its
// neighbours).
func isolate(ctx context.Context, p Provider, msgs []Message, err error) []BatchResult {
	if len(msgs) == 1 || IsTransient(err) || accountLevel(err) || ctx.Err() != nil {
		return allErr(len(msgs), err)
	}
	out := make([]BatchResult, len(msgs))
	for i, m := range msgs {
		res, err := p.Send(ctx, m)
		out[i] = BatchResult{Result: res, Err: err}
	}
	return out
}

// slowDown marks e as a request to send less, keeping a hint already set.
func slowDown(e *Error, hint time.Duration) {
	e.Transient, e.SlowDown = true, true
	if e.RetryAfter == 0 {
		e.RetryAfter = min(max(hint, 0), MaxRetryAfter)
	}
}
