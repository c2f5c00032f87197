// Package worker sends the messages of queued batches: the asynq handler and
// server (asynq stays in this package and internal/queue), the per-run
// watchdog and the worker process's liveness heartbeat. Maintenance that
// keeps initiations moving across processes (the reconciler, the rescue of
// dead workers' batches) lives in internal/maintenance.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/smstemplate"
	"github.com/campaignsms/campaignsms/internal/store"
)

var (
	// errPaused reschedules a batch of a paused campaign without spending a retry.
	errPaused = errors.New("campaign paused")
	// errBusy reschedules a batch some of whose messages another run holds.
	errBusy = errors.New("messages leased by another run")
	// errStalled ends a run whose progress stopped or that ran past its
	// deadline; its unsent messages were handed back and the batch is
	// retried like a busy one.
	errStalled = errors.New("batch run stalled")
	// errUnhealthy ends a run whose worker could not prove it is alive: the
	// rescuer may be handing the batch to another worker, so this one stops
	// sending rather than race it.
	errUnhealthy = errors.New("worker liveness lost")
)

// Limiter spaces sends out; Wait blocks until one send may go.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Liveness tells a run whether its worker process is known to be alive, so
// that no other worker can be rescuing its batches. Heartbeat implements it.
type Liveness interface {
	WorkerID() string
	Healthy() bool
}

// AmbiguousPolicy says what a run does with a message taken over from a run
// that died or lost its lease after it may have handed it to the provider.
type AmbiguousPolicy uint8

// AMBIGUOUS_SENDS values.
const (
	// AmbiguousResend sends it again with the same Idempotency-Key.
	AmbiguousResend AmbiguousPolicy = iota
	// AmbiguousFail fails it with code ambiguous_after_crash.
	AmbiguousFail
)

// HandlerParams configures a Handler. Zero values take defaults.
type HandlerParams struct {
	Store       *store.Store
	Provider    provider.Provider
	Log         *zap.Logger
	Limiter     Limiter       // nil: no rate limit
	Liveness    Liveness      // nil: no run registry, no liveness fencing
	Concurrency int           // concurrent sends per batch; default 50
	MaxAttempts int           // attempts per message; default 5
	Lease       time.Duration // lease of a claimed message; default 30s
	BackoffBase time.Duration // first retry delay; default 150ms
	BackoffMax  time.Duration // default 5s
	PauseCheck  time.Duration // how often a running batch rereads the campaign status; default 500ms
	// ProviderTimeout bounds every provider call whatever the provider does
	// with its context; default 15s (the webhook's own limit is 10s).
	ProviderTimeout time.Duration
	// StallTimeout ends a run in which nothing moved for this long while
	// nothing waited on a known bound (a backoff, the rate limiter); default 30s.
	StallTimeout time.Duration
	Ambiguous    AmbiguousPolicy
	Metrics      Metrics
}

// Handler processes batch tasks.
type Handler struct {
	p HandlerParams
	// afterSend, when set (by tests only, see export_test.go), runs in the
	// sender right after the provider answered, before anything is recorded.
	afterSend func(messageID string)
}

// NewHandler returns a Handler with defaults filled in.
func NewHandler(p HandlerParams) *Handler {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 50
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	def(&p.Lease, 30*time.Second)
	def(&p.BackoffBase, 150*time.Millisecond)
	def(&p.BackoffMax, 5*time.Second)
	def(&p.PauseCheck, 500*time.Millisecond)
	def(&p.ProviderTimeout, provider.DefaultWebhookTimeout+5*time.Second)
	def(&p.StallTimeout, 30*time.Second)
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	if p.Metrics == nil {
		p.Metrics = nopMetrics{}
	}
	return &Handler{p: p}
}

// ProcessTask implements asynq.Handler.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var b queue.Batch
	if err := json.Unmarshal(t.Payload(), &b); err != nil {
		return fmt.Errorf("decode batch: %v: %w", err, asynq.SkipRetry)
	}
	return h.ProcessBatch(ctx, b)
}

// runDeadline bounds one run of a batch of n messages: every message may
// need every attempt, each a provider timeout plus the longest backoff, with
// Concurrency of them at a time, plus the stall timeout. A run that reaches
// it hands back what is left and the batch goes on in a new run, so the
// bound only has to be finite, not tight. A rate limit shared by all workers
// can make a healthy run slower than this; it then simply continues in the
// next run.
func (h *Handler) runDeadline(n int) time.Duration {
	rounds := time.Duration((n + h.p.Concurrency - 1) / h.p.Concurrency)
	perAttempt := h.p.ProviderTimeout + max(h.p.BackoffMax, provider.MaxRetryAfter)
	return h.p.StallTimeout + rounds*time.Duration(h.p.MaxAttempts)*perAttempt
}

// ProcessBatch sends what is still pending in batch b.
func (h *Handler) ProcessBatch(ctx context.Context, b queue.Batch) error {
	start := time.Now()
	ini, err := h.p.Store.InitiationByID(ctx, b.InitiationID)
	if apperr.KindOf(err) == apperr.NotFound {
		h.p.Log.Warn("batch of unknown initiation dropped", zap.String("initiation", b.InitiationID), zap.Int("batch", b.Batch))
		return nil
	}
	if err != nil {
		return err
	}
	tpl, err := smstemplate.NewSet(ini.Template.Body, ini.Template.Bodies)
	if err != nil {
		return fmt.Errorf("template of %s: %v: %w", ini.ID, err, asynq.SkipRetry)
	}
	r := newRun(h, b, ini, tpl)
	if err := r.checkPaused(ctx); err != nil {
		return err
	}
	if r.paused.Load() {
		return errPaused
	}
	if h.p.Liveness != nil && !h.p.Liveness.Healthy() {
		return errUnhealthy
	}
	unregister := r.register(ctx)
	defer unregister()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel
	deadline := time.AfterFunc(h.runDeadline(len(b.IDs)), func() {
		r.log.Warn("batch run reached its deadline; handing its messages back", r.waitFields()...)
		cancel(errStalled)
	})
	defer deadline.Stop()
	go r.watchdog(runCtx, cancel)

	r.fin = newFinisher(h.p.Store, ini.ID, r.owner, h.p.Log, r.progressed)
	runErr := r.run(runCtx)
	finErr := r.fin.close()
	h.p.Metrics.BatchDone(time.Since(start))
	cause := context.Cause(runCtx)
	r.log.Info("batch finished", zap.Int("size", len(b.IDs)),
		zap.Int64("sent", r.sent.Load()), zap.Int64("failed", r.failed.Load()),
		zap.Bool("paused", r.paused.Load()), zap.Duration("duration", time.Since(start)))
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(cause, errStalled), errors.Is(cause, errUnhealthy):
		return cause
	case runErr != nil:
		return runErr
	case finErr != nil:
		return finErr
	case r.paused.Load():
		return errPaused
	case r.busy.Load() || r.release.Load():
		return errBusy
	}
	// Done only when every message of the batch is final, read back from
	// Redis rather than inferred from this run's bookkeeping.
	final, err := r.allFinal(ctx)
	if err != nil {
		return err
	}
	if !final {
		return errBusy
	}
	if err := h.p.Store.MarkBatchDone(ctx, ini.ID, b.Batch); err != nil {
		return err
	}
	if c, err := h.p.Store.Counters(ctx, ini.ID); err == nil && c.Pending() == 0 {
		_ = h.p.Store.Deactivate(ctx, ini.ID)
	}
	return nil
}

// register lists the run under its worker, so that the rescuer can hand the
// batch to another worker if this process dies. Failing to list it only
// leaves the slower path (asynq's recoverer), so it is logged, not fatal.
func (r *batchRun) register(ctx context.Context) (unregister func()) {
	lv := r.h.p.Liveness
	if lv == nil {
		return func() {}
	}
	run := store.Run{Owner: r.owner, Worker: lv.WorkerID(), InitiationID: r.ini.ID, Batch: r.b.Batch}
	if err := r.h.p.Store.RunRegister(ctx, run); err != nil {
		r.log.Warn("register batch run", zap.Error(err))
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.h.p.Store.RunUnregister(uctx, r.owner); err != nil {
			r.log.Warn("unregister batch run", zap.Error(err))
		}
	}
}

func (r *batchRun) allFinal(ctx context.Context) (bool, error) {
	ns := make([]int, len(r.b.IDs))
	for i := range ns {
		ns[i] = r.b.First + i
	}
	states, err := r.h.p.Store.MessageStates(ctx, r.ini.ID, ns)
	if err != nil {
		return false, err
	}
	cancelled := false
	for _, s := range states {
		if s.Final() {
			continue
		}
		if !cancelled {
			c, err := r.h.p.Store.Counters(ctx, r.ini.ID)
			if err != nil {
				return false, err
			}
			cancelled = c.CancelledState
		}
		// Pending messages of a cancelled initiation are counted as
		// cancelled already; a leased one still has to finish.
		if !cancelled || s != store.StatePending {
			return false, nil
		}
	}
	return true, nil
}

// checkPaused rereads the campaign status; the result lands in r.paused.
func (r *batchRun) checkPaused(ctx context.Context) error {
	st, err := r.h.p.Store.CampaignStatus(ctx, r.b.Org, r.b.CampaignID)
	if err != nil {
		return err
	}
	r.paused.Store(st == store.StatusPaused)
	return nil
}
