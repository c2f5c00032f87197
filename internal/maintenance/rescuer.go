package maintenance

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
)

// RescuerParams configures a Rescuer. Zero values take defaults.
type RescuerParams struct {
	Store *store.Store
	Queue *queue.Client
	Log   *zap.Logger
	// Interval between sweeps; default 1s.
	Interval time.Duration
	// Metrics counts rescued runs; nil counts nothing.
	Metrics interface{ RunRescued() }
}

// Rescuer hands the batches of dead worker processes to live ones within
// seconds. Every worker lists its batch runs and keeps an alive marker with
// a short TTL (worker.Heartbeat); a listed run whose worker's marker is gone
// belongs to a process that was killed or cut off. For such a run the
// rescuer expires the leases it held on its messages, queues the batch
// again under a task id of its own, and drops the run from the list.
// Without it a killed worker's batch waits for asynq's task lease (30 s)
// and its recoverer (once a minute).
//
// Each step is safe to repeat after a crash at any point: expiring leases
// twice changes nothing, the rescue task id is fixed per dead run, and the
// list entry goes last.
type Rescuer struct {
	p RescuerParams
}

// NewRescuer returns a Rescuer with defaults filled in.
func NewRescuer(p RescuerParams) *Rescuer {
	if p.Interval <= 0 {
		p.Interval = time.Second
	}
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	return &Rescuer{p: p}
}

// Run sweeps every Interval until ctx ends.
func (r *Rescuer) Run(ctx context.Context) {
	every(ctx, r.p.Interval, func(ctx context.Context) {
		if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.p.Log.Warn("rescue dead workers' batches", zap.Error(err))
		}
	})
}

// Sweep rescues the runs of dead workers once and reports how many.
func (r *Rescuer) Sweep(ctx context.Context) (int, error) {
	rescued := 0
	_, err := withLock(ctx, r.p.Store, r.p.Log, "rescuer", max(10*r.p.Interval, 10*time.Second), func(ctx context.Context) error {
		runs, err := r.p.Store.RunList(ctx)
		if err != nil || len(runs) == 0 {
			return err
		}
		workers := make([]string, 0, len(runs))
		seen := map[string]bool{}
		for _, run := range runs {
			if !seen[run.Worker] {
				seen[run.Worker] = true
				workers = append(workers, run.Worker)
			}
		}
		alive, err := r.p.Store.WorkersAlive(ctx, workers)
		if err != nil {
			return err
		}
		dead := map[string]bool{}
		for i, w := range workers {
			dead[w] = !alive[i]
		}
		for _, run := range runs {
			if !dead[run.Worker] || ctx.Err() != nil {
				continue
			}
			if err := r.rescue(ctx, run); err != nil {
				r.p.Log.Warn("rescue batch run; going on with the others", zap.String("initiation", run.InitiationID),
					zap.Int("batch", run.Batch), zap.String("worker", run.Worker), zap.Error(err))
				continue
			}
			rescued++
		}
		return nil
	})
	return rescued, err
}

func (r *Rescuer) rescue(ctx context.Context, run store.Run) error {
	st := r.p.Store
	ini, err := st.InitiationByID(ctx, run.InitiationID)
	if apperr.KindOf(err) == apperr.NotFound {
		return st.RunUnregister(ctx, run.Owner)
	}
	if err != nil {
		return err
	}
	ids, err := st.Batch(ctx, ini.ID, run.Batch)
	if err != nil {
		return err
	}
	first := run.Batch * ini.BatchSize
	ns := make([]int, len(ids))
	for i := range ns {
		ns[i] = first + i
	}
	expired, err := st.MessagesReleaseOwner(ctx, ini.ID, run.Owner, ns)
	if err != nil {
		return err
	}
	b := queue.Batch{InitiationID: ini.ID, Org: ini.Org, CampaignID: ini.CampaignID, Batch: run.Batch, First: first, IDs: ids}
	if err := r.p.Queue.EnqueueRescue(ctx, b, run.Owner); err != nil {
		return err
	}
	if err := st.RunUnregister(ctx, run.Owner); err != nil {
		return err
	}
	if r.p.Metrics != nil {
		r.p.Metrics.RunRescued()
	}
	r.p.Log.Warn("batch of a dead worker queued again", zap.String("initiation", ini.ID), zap.Int("batch", run.Batch),
		zap.String("worker", run.Worker), zap.Int("leases_expired", expired))
	return nil
}
