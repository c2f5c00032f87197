package worker

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
)

// ReconcilerParams configures a Reconciler. Zero values take defaults.
type ReconcilerParams struct {
	Store    *store.Store
	Queue    *queue.Client
	Log      *zap.Logger
	Interval time.Duration // default 30s
	// Grace leaves young initiations to the API that is still queueing them; default 60s.
	Grace time.Duration
	// MaxRequeues is how often one batch is queued again before its
	// unfinished messages fail; default 3.
	MaxRequeues int64
}

// Reconciler makes sure nothing stays pending forever: it finds initiations
// with pending messages whose batches have no live task (a task archived
// after its last retry, or an API that died between writing the initiation
// and queueing every batch) and queues those batches again, or fails their
// messages when requeueing does not help.
type Reconciler struct {
	p ReconcilerParams
}

// NewReconciler returns a Reconciler with defaults filled in.
func NewReconciler(p ReconcilerParams) *Reconciler {
	if p.Interval <= 0 {
		p.Interval = 30 * time.Second
	}
	if p.Grace <= 0 {
		p.Grace = time.Minute
	}
	if p.MaxRequeues <= 0 {
		p.MaxRequeues = 3
	}
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	return &Reconciler{p: p}
}

// Run reconciles every Interval until ctx ends. Several workers may run it:
// a Redis lock lets one pass run at a time.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.p.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Pass(ctx); err != nil && ctx.Err() == nil {
				r.p.Log.Warn("reconcile", zap.Error(err))
			}
		}
	}
}

// Pass reconciles once.
func (r *Reconciler) Pass(ctx context.Context) error {
	unlock, ok, err := r.p.Store.Lock(ctx, "reconciler", r.p.Interval)
	if err != nil || !ok {
		return err
	}
	defer unlock()
	ids, err := r.p.Store.ActiveInitiations(ctx, 1000)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := r.initiation(ctx, id); err != nil {
			return fmt.Errorf("reconcile %s: %w", id, err)
		}
	}
	return nil
}

func (r *Reconciler) initiation(ctx context.Context, id string) error {
	st := r.p.Store
	ini, err := st.InitiationByID(ctx, id)
	if apperr.KindOf(err) == apperr.NotFound {
		// Marked active, but the API died before writing it. Once that is
		// old enough not to be a write in progress, forget it.
		if old, err := st.ActiveSince(ctx, id); err == nil && st.Now().Sub(old) > r.p.Grace {
			return st.Deactivate(ctx, id)
		}
		return nil
	}
	if err != nil {
		return err
	}
	c, err := st.Counters(ctx, id)
	if err != nil {
		return err
	}
	if c.Pending() <= 0 {
		return st.Deactivate(ctx, id)
	}
	if st.Now().Sub(ini.CreatedAt) < r.p.Grace {
		return nil
	}
	done, err := st.BatchesDone(ctx, id)
	if err != nil {
		return err
	}
	for b := range ini.Batches {
		if done[b] {
			continue
		}
		live, err := r.p.Queue.Live(id, b)
		if err != nil {
			return err
		}
		if live {
			continue
		}
		if err := r.revive(ctx, ini, b); err != nil {
			return err
		}
	}
	return nil
}

// revive queues batch b again, or fails its open messages once it has been
// queued again MaxRequeues times.
func (r *Reconciler) revive(ctx context.Context, ini *store.Initiation, b int) error {
	st := r.p.Store
	ids, err := st.Batch(ctx, ini.ID, b)
	if err != nil {
		return err
	}
	n, err := st.RequeueCount(ctx, ini.ID, b)
	if err != nil {
		return err
	}
	first := b * ini.BatchSize
	if n <= r.p.MaxRequeues {
		r.p.Log.Info("batch without a task queued again", zap.String("initiation", ini.ID), zap.Int("batch", b), zap.Int64("time", n))
		return r.p.Queue.Enqueue(ctx, []queue.Batch{{
			InitiationID: ini.ID, Org: ini.Org, CampaignID: ini.CampaignID, Batch: b, First: first, IDs: ids,
		}})
	}
	ns := make([]int, len(ids))
	whys := make([]store.MessageError, len(ids))
	for i, cid := range ids {
		ns[i] = first + i
		whys[i] = store.MessageError{ID: cid, Code: CodeAbandoned, Message: "The batch kept failing and was given up."}
	}
	leased, err := st.Abandon(ctx, ini.ID, ns, whys)
	if err != nil {
		return err
	}
	r.p.Log.Warn("batch given up", zap.String("initiation", ini.ID), zap.Int("batch", b), zap.Int("still_leased", leased))
	if leased == 0 {
		return st.MarkBatchDone(ctx, ini.ID, b)
	}
	return nil
}
