package maintenance

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
)

// CodeAbandoned is the error code of messages whose batch was given up.
const CodeAbandoned = "batch_abandoned"

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
	// Page is how many active initiations are read per step; default 200.
	Page int64
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
	if p.Page <= 0 {
		p.Page = 200
	}
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	return &Reconciler{p: p}
}

// Run reconciles every Interval until ctx ends. Several workers may run it:
// a renewed Redis lock lets one pass run at a time.
func (r *Reconciler) Run(ctx context.Context) {
	every(ctx, r.p.Interval, func(ctx context.Context) {
		if err := r.Pass(ctx); err != nil && ctx.Err() == nil {
			r.p.Log.Warn("reconcile", zap.Error(err))
		}
	})
}

// Pass reconciles once, every active initiation, page by page. One
// initiation that cannot be reconciled is logged and skipped; only an error
// that stops the whole walk (the list itself unreadable, the lock lost) is
// returned.
func (r *Reconciler) Pass(ctx context.Context) error {
	_, err := withLock(ctx, r.p.Store, r.p.Log, "reconciler", max(r.p.Interval, 10*time.Second), func(ctx context.Context) error {
		paused := map[string]bool{} // org/campaign -> paused, read once per pass
		for offset := int64(0); ; offset += r.p.Page {
			ids, err := r.p.Store.ActiveInitiations(ctx, offset, r.p.Page)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				removed, err := r.initiation(ctx, id, paused)
				if err != nil {
					r.p.Log.Warn("reconcile initiation; going on with the others", zap.String("initiation", id), zap.Error(err))
				}
				if removed {
					offset-- // the list shrank under the cursor
				}
			}
			if int64(len(ids)) < r.p.Page {
				return nil
			}
		}
	})
	return err
}

// initiation reconciles one initiation; removed says it left the active list.
func (r *Reconciler) initiation(ctx context.Context, id string, paused map[string]bool) (removed bool, err error) {
	st := r.p.Store
	ini, err := st.InitiationByID(ctx, id)
	if apperr.KindOf(err) == apperr.NotFound {
		// Marked active, but the API died before writing it. Once that is
		// old enough not to be a write in progress, forget it.
		if old, err := st.ActiveSince(ctx, id); err == nil && st.Now().Sub(old) > r.p.Grace {
			return true, st.Deactivate(ctx, id)
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c, err := st.Counters(ctx, id)
	if err != nil {
		return false, err
	}
	if c.Pending() <= 0 {
		return true, st.Deactivate(ctx, id)
	}
	if st.Now().Sub(ini.CreatedAt) < r.p.Grace {
		return false, nil
	}
	// A paused campaign's batches wait on purpose (asynq retries them every
	// second without spending retries); they need nothing from here.
	pk := ini.Org + "/" + ini.CampaignID
	p, ok := paused[pk]
	if !ok {
		status, err := st.CampaignStatus(ctx, ini.Org, ini.CampaignID)
		if err != nil {
			return false, err
		}
		p = status == store.StatusPaused
		paused[pk] = p
	}
	if p {
		return false, nil
	}
	done, err := st.BatchesDone(ctx, id)
	if err != nil {
		return false, err
	}
	for b := range ini.Batches {
		if done[b] {
			continue
		}
		state, err := r.p.Queue.TaskStateOf(id, b)
		if err != nil {
			return false, err
		}
		switch state {
		case queue.TaskLive:
			continue
		case queue.TaskFinished:
			// Out of retries (or finished while messages stay open): its id
			// blocks a new enqueue until it is deleted.
			if err := r.p.Queue.DeleteTask(id, b); err != nil {
				return false, err
			}
		}
		if err := r.revive(ctx, ini, b); err != nil {
			return false, err
		}
	}
	return false, nil
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
