package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/store"
)

// Message error codes.
const (
	CodeMissingPhone     = "missing_phone"
	CodeMissingVariable  = "missing_variable"
	CodeNoLongerMatches  = "no_longer_matches"
	CodeCustomerDeleted  = "customer_deleted"
	CodeProviderRejected = "provider_rejected"
	CodeSendFailed       = "send_failed"
	CodeAbandoned        = "batch_abandoned"
	CodeAmbiguous        = "ambiguous_after_crash"
)

type msg struct {
	n       int
	id      string
	rec     customer.Record
	attempt int
	resend  bool // taken over from a run that may have sent it
}

// handle decides a claimed message: skip, fail, or send it.
func (r *batchRun) handle(ctx context.Context, s *slot, m msg) {
	now := r.h.p.Store.Now()
	rec := &store.MessageRecord{Attempts: m.attempt - 1, UpdatedAt: now}
	finish := func(out, code, text string) {
		o := store.Outcome{N: m.n, Outcome: out, Record: rec}
		if code != "" {
			rec.Code, rec.Error = code, text
			if out == store.OutFailed {
				o.Err = &store.MessageError{ID: m.id, Code: code, Message: text}
			}
		}
		r.h.p.Metrics.Message(outcomeName(out, code))
		r.fin.add(o)
	}
	switch {
	case m.rec == nil:
		finish(store.OutSkipped, CodeCustomerDeleted, "The customer was deleted before the message was sent.")
		return
	case !r.ini.Filters.MatchAttributes(m.rec):
		finish(store.OutSkipped, CodeNoLongerMatches, "The customer no longer matches the initiation's filters.")
		return
	}
	to, ok := m.rec.Get("phone_number")
	if !ok || to == "" {
		r.failed.Add(1)
		finish(store.OutFailed, CodeMissingPhone, "The customer has no phone number.")
		return
	}
	text, missing := r.tpl.For(m.rec.Language()).Render(m.rec.Get)
	if len(missing) > 0 {
		r.failed.Add(1)
		finish(store.OutFailed, CodeMissingVariable, fmt.Sprintf("The customer has no value for %v.", missing))
		return
	}
	rec.To, rec.Body = to, text
	if m.resend {
		if r.h.p.Ambiguous == AmbiguousFail {
			r.failed.Add(1)
			finish(store.OutFailed, CodeAmbiguous, "The worker sending this message stopped after it may have reached the provider; AMBIGUOUS_SENDS=fail forbids sending it again.")
			return
		}
		rec.Resent = true
		r.h.p.Metrics.MessageResent()
	}
	pm := provider.Message{
		ID: store.MessageID(r.ini.ID, m.n), To: to, From: r.ini.Template.SenderID, Body: text,
		TemplateID: r.ini.TemplateID, DLTTemplateID: r.ini.Template.DLTTemplateID,
		DLTEntityID: r.ini.Template.DLTEntityID, CampaignID: r.ini.CampaignID,
		CustomerID: m.id, InitiationID: r.ini.ID,
	}
	r.send(ctx, s, m, pm, rec, finish)
}

// send makes attempts until the provider accepts, refuses for good, or the
// attempts run out. Before every retry the lease is renewed, so a message is
// only ever attempted by the run that holds it.
func (r *batchRun) send(ctx context.Context, s *slot, m msg, pm provider.Message, rec *store.MessageRecord, finish func(out, code, text string)) {
	attempt := m.attempt
	for {
		if r.paused.Load() || ctx.Err() != nil {
			r.giveBack(m)
			return
		}
		if r.h.p.Limiter != nil {
			s.set(actLimiter, m.n, time.Time{})
			if err := r.h.p.Limiter.Wait(ctx); err != nil {
				r.giveBack(m)
				return
			}
		}
		if lv := r.h.p.Liveness; lv != nil && !lv.Healthy() {
			// Another worker may be rescuing this batch right now: hand
			// everything back rather than send beside it.
			r.giveBack(m)
			r.stop(errUnhealthy)
			return
		}
		rec.Attempts = attempt
		began := time.Now()
		s.set(actProvider, m.n, began.Add(r.h.p.ProviderTimeout))
		res, err := r.callProvider(ctx, pm)
		if r.h.afterSend != nil {
			r.h.afterSend(pm.ID)
		}
		r.h.p.Metrics.ProviderLatency(time.Since(began), err)
		r.progressed()
		if err == nil {
			t := r.h.p.Store.Now()
			rec.SentAt, rec.UpdatedAt = &t, t
			rec.ProviderMessageID = res.ProviderMessageID
			r.sent.Add(1)
			finish(store.OutSent, "", "")
			return
		}
		rec.UpdatedAt = r.h.p.Store.Now()
		if ctx.Err() != nil {
			// Cut off mid-call (shutdown, stall): the provider may or may
			// not have taken it. The next run re-sends it with the same
			// Idempotency-Key, or fails it under AMBIGUOUS_SENDS=fail.
			r.giveBackAmbiguous(m)
			return
		}
		var perr *provider.Error
		reason := err.Error()
		if errors.As(err, &perr) && perr.Reason != "" {
			reason = perr.Reason
		}
		if !provider.IsTransient(err) {
			r.failed.Add(1)
			finish(store.OutFailed, CodeProviderRejected, reason)
			return
		}
		if attempt >= r.h.p.MaxAttempts {
			r.failed.Add(1)
			finish(store.OutFailed, CodeSendFailed, fmt.Sprintf("Gave up after %d attempts: %s", attempt, reason))
			return
		}
		wait := r.backoff(attempt, perr)
		ext, err := r.h.p.Store.Extend(ctx, r.ini.ID, r.owner, wait+r.h.p.Lease, m.n)
		if err != nil {
			r.log.Warn("extend lease", zap.String("message", pm.ID), zap.Error(err))
			r.busy.Store(true) // the lease runs out; a later run takes it up
			return
		}
		switch ext.Kind {
		case store.ExtendLost:
			r.busy.Store(true)
			return
		case store.ExtendCancelled: // counted cancelled by Extend
			return
		}
		s.set(actBackoff, m.n, time.Now().Add(wait))
		if !sleep(ctx, wait) {
			r.giveBack(m)
			return
		}
		r.progressed()
		attempt = ext.Attempt
	}
}

// callProvider makes one provider call that returns by ProviderTimeout at
// the latest, whatever the provider does with its context: a provider that
// hangs costs a goroutine until it returns, never the batch.
func (r *batchRun) callProvider(ctx context.Context, pm provider.Message) (provider.Result, error) {
	cctx, cancel := context.WithTimeout(ctx, r.h.p.ProviderTimeout)
	defer cancel()
	type answer struct {
		res provider.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := r.h.p.Provider.Send(cctx, pm)
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		return a.res, a.err
	case <-cctx.Done():
		if err := ctx.Err(); err != nil {
			return provider.Result{}, fmt.Errorf("sms provider: send abandoned: %w", err)
		}
		return provider.Result{}, &provider.Error{Transient: true, Reason: "timeout",
			Err: fmt.Errorf("no answer within %v", r.h.p.ProviderTimeout)}
	}
}

// backoff is exponential with full jitter, or the provider's Retry-After.
func (r *batchRun) backoff(attempt int, perr *provider.Error) time.Duration {
	if perr != nil && perr.RetryAfter > 0 {
		return perr.RetryAfter
	}
	d := r.h.p.BackoffBase << min(attempt-1, 16)
	d = min(d, r.h.p.BackoffMax)
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter needs no cryptographic randomness
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func outcomeName(out, code string) string {
	switch out {
	case store.OutSent:
		return "sent"
	case store.OutSkipped:
		return "skipped"
	case store.OutFailed:
		return "failed_" + code
	}
	return "released"
}
