// Package initiate turns "send template T to the customers of campaign C that
// match these filters" into a stored initiation and queued batches, and
// reports and cancels initiations.
package initiate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/smstemplate"
	"github.com/campaignsms/campaignsms/internal/store"
)

// Enqueuer queues batch tasks; queue.Client in production, fakes in tests.
type Enqueuer interface {
	Enqueue(ctx context.Context, batches []queue.Batch) error
}

// Params configures a Service. Zero values take defaults.
type Params struct {
	Store     *store.Store
	Queue     Enqueuer
	Log       *zap.Logger
	BatchSize int // customers per task; default 500
}

// Service initiates, reports and cancels initiations.
type Service struct {
	p Params
}

// New returns a Service with defaults filled in.
func New(p Params) *Service {
	if p.BatchSize <= 0 {
		p.BatchSize = 500
	}
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	return &Service{p: p}
}

// Result is the answer to an initiate call.
type Result struct {
	InitiationID string // empty on a dry run
	TotalMatched int64
	Selected     int64
	Initiated    int64
	Failed       int64
	Batches      int
	Errors       []store.MessageError
}

// Initiate validates the request against the org's data, selects the
// customers, checks each, stores the initiation and queues its batches.
func (s *Service) Initiate(ctx context.Context, org, campaignID string, req Request) (*Result, error) {
	return s.initiate(ctx, NewInitiationID(), false, org, campaignID, req)
}

// NewInitiationID returns a fresh initiation id.
func NewInitiationID() string { return newID("ini_") }

// InitiateAs is Initiate with the initiation id chosen by the caller: an
// Idempotency-Key owns its id before anything is written, so that a retry
// after a crash at any point either finds the initiation the first attempt
// created, and answers from it, or creates it under that same id.
func (s *Service) InitiateAs(ctx context.Context, id, org, campaignID string, req Request) (*Result, error) {
	return s.initiate(ctx, id, true, org, campaignID, req)
}

func (s *Service) initiate(ctx context.Context, id string, mayExist bool, org, campaignID string, req Request) (*Result, error) {
	st := s.p.Store
	if mayExist && !req.DryRun {
		if res, err := s.resume(ctx, id, org); res != nil || err != nil {
			return res, err
		}
	}
	camp, err := st.Campaign(ctx, org, campaignID)
	if err != nil {
		return nil, err
	}
	tpl, err := st.Template(ctx, org, req.TemplateID)
	if err != nil {
		return nil, err
	}
	if camp.Status == store.StatusPaused {
		return nil, apperr.New(apperr.Conflict, "Campaign %q is paused; resume it before initiating.", campaignID)
	}
	set, err := smstemplate.NewSet(tpl.Body, tpl.Bodies)
	if err != nil {
		return nil, apperr.New(apperr.Unprocessable, "Template %q cannot be rendered: %v", tpl.ID, err)
	}
	matched, recs, err := s.match(ctx, org, campaignID, req.Filters)
	if err != nil {
		return nil, err
	}
	if len(matched) == 0 {
		return nil, apperr.New(apperr.NotFound, "No customer of campaign %q matches the filters.", campaignID)
	}
	selected := matched
	if req.Limit > 0 && req.Limit < len(selected) {
		selected = selected[:req.Limit]
	}
	initiated, errs, failed, err := s.check(ctx, org, campaignID, set, selected, recs)
	if err != nil {
		return nil, err
	}
	res := &Result{
		TotalMatched: int64(len(matched)), Selected: int64(len(selected)),
		Initiated: int64(len(initiated)), Failed: failed, Errors: errs,
		Batches: (len(initiated) + s.p.BatchSize - 1) / s.p.BatchSize,
	}
	if req.DryRun {
		return res, nil
	}
	ini := &store.Initiation{
		ID: id, Org: org, CampaignID: campaignID, TemplateID: tpl.ID, Template: *tpl,
		Filters: req.Filters, Limit: req.Limit, BatchSize: s.p.BatchSize, Batches: res.Batches,
		TotalMatched: res.TotalMatched, Selected: res.Selected, Initiated: res.Initiated,
		FailedAtQueue: failed, CreatedAt: st.Now(),
	}
	batches := make([][]string, 0, res.Batches)
	tasks := make([]queue.Batch, 0, res.Batches)
	for b := range res.Batches {
		ids := initiated[b*s.p.BatchSize : min((b+1)*s.p.BatchSize, len(initiated))]
		batches = append(batches, ids)
		tasks = append(tasks, queue.Batch{InitiationID: ini.ID, Org: org, CampaignID: campaignID, Batch: b, First: b * s.p.BatchSize, IDs: ids})
	}
	created, err := st.CreateInitiation(ctx, ini, batches, errs)
	if err != nil {
		return nil, err
	}
	if !created { // a twin attempt with the same id got there first
		return s.resume(ctx, id, org)
	}
	res.InitiationID = ini.ID
	// The initiation is durable now: a batch that fails to queue is queued
	// by the reconciler, so the caller gets its answer rather than a 500
	// that would tempt a second initiation.
	if err := s.p.Queue.Enqueue(ctx, tasks); err != nil {
		s.p.Log.Error("queue batches; the reconciler will queue the rest", zap.String("initiation", ini.ID), zap.Error(err))
	}
	return res, nil
}

// resume answers for an initiation that exists already under id (nil, nil
// when there is none): the same counts the first attempt answered, and its
// batches queued again in case that attempt died before queueing them (a
// batch queued twice runs once; one already done finds nothing to send).
func (s *Service) resume(ctx context.Context, id, org string) (*Result, error) {
	ini, err := s.p.Store.Initiation(ctx, org, id)
	if apperr.KindOf(err) == apperr.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	errs, err := s.p.Store.QueueErrors(ctx, ini)
	if err != nil {
		return nil, err
	}
	done, err := s.p.Store.BatchesDone(ctx, id)
	if err != nil {
		return nil, err
	}
	tasks := make([]queue.Batch, 0, ini.Batches)
	for b := range ini.Batches {
		if done[b] {
			continue
		}
		ids, err := s.p.Store.Batch(ctx, id, b)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, queue.Batch{InitiationID: id, Org: org, CampaignID: ini.CampaignID, Batch: b, First: b * ini.BatchSize, IDs: ids})
	}
	if err := s.p.Queue.Enqueue(ctx, tasks); err != nil {
		s.p.Log.Error("queue batches; the reconciler will queue the rest", zap.String("initiation", id), zap.Error(err))
	}
	return &Result{
		InitiationID: id, TotalMatched: ini.TotalMatched, Selected: ini.Selected, Initiated: ini.Initiated,
		Failed: ini.FailedAtQueue, Batches: ini.Batches, Errors: errs,
	}, nil
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Wait polls the initiation until nothing is pending or d has passed; it
// reports whether nothing is pending.
func (s *Service) Wait(ctx context.Context, id string, d time.Duration) (bool, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := s.p.Store.Counters(ctx, id)
		if err != nil {
			return false, err
		}
		if c.Pending() <= 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("wait for initiation: %w", ctx.Err())
		case <-deadline.C:
			return false, nil
		case <-tick.C:
		}
	}
}
