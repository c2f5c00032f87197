package app

import (
	"context"
	"sync"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/maintenance"
	"github.com/campaignsms/campaignsms/internal/metrics"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// Worker is a running worker: the asynq server, the process's liveness
// heartbeat, the reconciler and the rescuer of dead workers' batches.
type Worker struct {
	srv       *worker.Server
	stopMaint context.CancelFunc
	stopBeat  context.CancelFunc
	maint     sync.WaitGroup
	beat      sync.WaitGroup
}

// StartWorker starts sending batches and the maintenance around them.
func StartWorker(ctx context.Context, cfg config.Config, rdb *Redis, st *store.Store, q *queue.Client, m *metrics.Metrics, log *zap.Logger) (*Worker, error) {
	var observe BreakerObserver
	if m != nil {
		observe = m.ProviderBreaker
	}
	prov, err := NewObservedProvider(cfg, log, observe)
	if err != nil {
		return nil, err
	}
	var lim worker.Limiter
	if cfg.SMSRateLimit > 0 {
		lim = newRateLimiter(rdb, cfg.SMSRateLimit)
	}
	hb := worker.NewHeartbeat(worker.HeartbeatParams{Store: st, Log: log.Named("heartbeat")})
	// The first beat comes before any batch runs, so that no run is ever
	// listed under a worker that has no marker yet. A Redis that is not up
	// yet only delays sending: runs wait until the heartbeat works.
	if err := hb.Beat(ctx); err != nil {
		log.Warn("first worker heartbeat failed; sending waits until it works", zap.Error(err))
	}
	ambiguous := worker.AmbiguousResend
	if cfg.AmbiguousSends == config.AmbiguousFail {
		ambiguous = worker.AmbiguousFail
	}
	h := worker.NewHandler(worker.HandlerParams{
		Store: st, Provider: prov, Log: log.Named("worker"), Limiter: lim, Liveness: hb,
		Concurrency: cfg.SendConcurrency, MaxAttempts: cfg.SendMaxAttempts, Metrics: m, Ambiguous: ambiguous,
	})
	srv := worker.NewServer(worker.ServerParams{
		Redis: rdb.Client, Handler: h, Log: log.Named("worker"),
		Concurrency: cfg.WorkerConcurrency, ShutdownTimeout: cfg.ShutdownTimeout,
	})
	if err := srv.Start(); err != nil {
		return nil, err
	}
	w := &Worker{srv: srv}
	bctx, stopBeat := context.WithCancel(context.WithoutCancel(ctx))
	w.stopBeat = stopBeat
	w.beat.Add(1)
	go func() { defer w.beat.Done(); hb.Run(bctx) }()

	mctx, stopMaint := context.WithCancel(ctx)
	w.stopMaint = stopMaint
	rec := maintenance.NewReconciler(maintenance.ReconcilerParams{Store: st, Queue: q, Log: log.Named("reconciler"), Interval: cfg.ReconcileInterval})
	res := maintenance.NewRescuer(maintenance.RescuerParams{Store: st, Queue: q, Log: log.Named("rescuer"), Metrics: m})
	w.maint.Add(2)
	go func() { defer w.maint.Done(); rec.Run(mctx) }()
	go func() { defer w.maint.Done(); res.Run(mctx) }()
	return w, nil
}

// Stop stops taking batches, waits for running ones up to the shutdown
// timeout, stops the maintenance and only then the heartbeat: while a run
// may still be sending, this worker must not look dead to the rescuers of
// other processes.
func (w *Worker) Stop() {
	w.stopMaint()
	w.srv.Shutdown()
	w.maint.Wait()
	w.stopBeat()
	w.beat.Wait()
}
