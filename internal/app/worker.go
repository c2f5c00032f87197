package app

import (
	"context"
	"sync"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/metrics"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// Worker is a running worker: the asynq server and the reconciler.
type Worker struct {
	srv    *worker.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartWorker starts sending batches and reconciling initiations.
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
	h := worker.NewHandler(worker.HandlerParams{
		Store: st, Provider: prov, Log: log.Named("worker"), Limiter: lim,
		Concurrency: cfg.SendConcurrency, MaxAttempts: cfg.SendMaxAttempts, Metrics: m,
	})
	srv := worker.NewServer(worker.ServerParams{
		Redis: rdb.Client, Handler: h, Log: log.Named("worker"),
		Concurrency: cfg.WorkerConcurrency, ShutdownTimeout: cfg.ShutdownTimeout,
	})
	if err := srv.Start(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	w := &Worker{srv: srv, cancel: cancel}
	rec := worker.NewReconciler(worker.ReconcilerParams{Store: st, Queue: q, Log: log.Named("reconciler"), Interval: cfg.ReconcileInterval})
	w.wg.Add(1)
	go func() { defer w.wg.Done(); rec.Run(rctx) }()
	return w, nil
}

// Stop stops taking batches, waits for running ones up to the shutdown
// timeout and stops the reconciler.
func (w *Worker) Stop() {
	w.cancel()
	w.srv.Shutdown()
	w.wg.Wait()
}
