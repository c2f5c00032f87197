// Package worker sends the messages of queued batches and keeps every
// initiation moving: the asynq handler, its server and the reconciler.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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
)

// Limiter spaces sends out; Wait blocks until one send may go.
type Limiter interface {
	Wait(ctx context.Context) error
}

// HandlerParams configures a Handler. Zero values take defaults.
type HandlerParams struct {
	Store       *store.Store
	Provider    provider.Provider
	Log         *zap.Logger
	Limiter     Limiter       // nil: no rate limit
	Concurrency int           // concurrent sends per batch; default 50
	MaxAttempts int           // attempts per message; default 5
	Lease       time.Duration // lease of a claimed message; default 30s
	BackoffBase time.Duration // first retry delay; default 150ms
	BackoffMax  time.Duration // default 5s
	PauseCheck  time.Duration // how often a running batch rereads the campaign status; default 500ms
	Metrics     Metrics
}

// Handler processes batch tasks.
type Handler struct {
	p HandlerParams
}

// NewHandler returns a Handler with defaults filled in.
func NewHandler(p HandlerParams) *Handler {
	if p.Concurrency <= 0 {
		p.Concurrency = 50
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.Lease <= 0 {
		p.Lease = 30 * time.Second
	}
	if p.BackoffBase <= 0 {
		p.BackoffBase = 150 * time.Millisecond
	}
	if p.BackoffMax <= 0 {
		p.BackoffMax = 5 * time.Second
	}
	if p.PauseCheck <= 0 {
		p.PauseCheck = 500 * time.Millisecond
	}
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

// batchRun is one run of one batch.
type batchRun struct {
	h       *Handler
	b       queue.Batch
	ini     *store.Initiation
	tpl     *smstemplate.Set
	owner   string
	paused  atomic.Bool
	busy    atomic.Bool // some message is held by another run or was lost to one
	release atomic.Bool // some claimed message was handed back unsent
	sent    atomic.Int64
	failed  atomic.Int64
	fin     *finisher
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
	r := &batchRun{h: h, b: b, ini: ini, tpl: tpl, owner: newOwner()}
	if err := r.checkPaused(ctx); err != nil {
		return err
	}
	if r.paused.Load() {
		return errPaused
	}
	r.fin = newFinisher(h.p.Store, ini.ID, r.owner, h.p.Log)
	runErr := r.run(ctx)
	finErr := r.fin.close()
	h.p.Metrics.BatchDone(time.Since(start))
	h.p.Log.Info("batch finished",
		zap.String("initiation", ini.ID), zap.Int("batch", b.Batch), zap.Int("size", len(b.IDs)),
		zap.Int64("sent", r.sent.Load()), zap.Int64("failed", r.failed.Load()),
		zap.Bool("paused", r.paused.Load()), zap.Duration("duration", time.Since(start)))
	switch {
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
		if s == store.StPending || strings.HasPrefix(s, "s|") {
			if !cancelled {
				c, err := r.h.p.Store.Counters(ctx, r.ini.ID)
				if err != nil {
					return false, err
				}
				cancelled = c.CancelledState
			}
			// Pending messages of a cancelled initiation are counted as
			// cancelled already; a leased one still has to finish.
			if !cancelled || s != store.StPending {
				return false, nil
			}
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

// claimedChunk is one chunk's claim answers.
type claimedChunk struct {
	start int
	ns    []int
	codes []string
}

// run claims the batch's messages chunk by chunk and sends them with at most
// Concurrency in flight. The next chunk is claimed while the current one is
// being sent, so a claim's round trip never leaves the senders idle.
func (r *batchRun) run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go r.watchPause(runCtx)

	recs, err := r.h.p.Store.Customers(ctx, r.b.Org, r.b.CampaignID, r.b.IDs)
	if err != nil {
		return err
	}
	chunks := make(chan claimedChunk, 1)
	claimErr := make(chan error, 1)
	go r.claimAhead(runCtx, chunks, claimErr)

	sem := make(chan struct{}, r.h.p.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for c := range chunks {
		for j, code := range c.codes {
			if code == "busy" {
				r.busy.Store(true)
			}
			attempt, claimed := parseAttempt(code)
			if !claimed {
				continue
			}
			i := c.start + j
			m := msg{n: c.ns[j], id: r.b.IDs[i], rec: recs[i], attempt: attempt}
			if r.paused.Load() || ctx.Err() != nil {
				r.giveBack(m) // claimed ahead but not to be sent now
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				r.handle(ctx, m)
			}()
		}
	}
	select {
	case err := <-claimErr:
		return err
	default:
		return nil
	}
}

// claimAhead claims the batch chunk by chunk into out, one chunk ahead of
// the senders, and stops at a pause, a cancelled context or an error.
func (r *batchRun) claimAhead(ctx context.Context, out chan<- claimedChunk, errc chan<- error) {
	defer close(out)
	chunk := max(1, min(r.h.p.Concurrency, 100))
	for start := 0; start < len(r.b.IDs); start += chunk {
		if r.paused.Load() || ctx.Err() != nil {
			return
		}
		end := min(start+chunk, len(r.b.IDs))
		ns := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			ns = append(ns, r.b.First+i)
		}
		codes, err := r.h.p.Store.Claim(ctx, r.ini.ID, r.owner, r.h.p.Lease, ns)
		if err != nil {
			if ctx.Err() == nil {
				errc <- err
			}
			return
		}
		if len(codes) == 0 { // the initiation is gone
			return
		}
		// The consumer always drains out, so this send cannot block for ever.
		out <- claimedChunk{start: start, ns: ns, codes: codes}
	}
}

// watchPause rereads the campaign status every PauseCheck so that a pause
// stops sending within that time.
func (r *batchRun) watchPause(ctx context.Context) {
	t := time.NewTicker(r.h.p.PauseCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.checkPaused(ctx); err != nil && ctx.Err() == nil {
				r.h.p.Log.Warn("read campaign status", zap.Error(err))
			}
		}
	}
}

func parseAttempt(code string) (int, bool) {
	n := 0
	for _, c := range code {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n > 0
}

func newOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
