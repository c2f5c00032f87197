package app

import (
	"context"
	"io"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/metrics"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
)

// Base is what both programs start with, in this order: the configuration,
// the logger, Redis, the store, the queue client and the metrics.
type Base struct {
	Cfg     config.Config
	Log     *zap.Logger
	Redis   *Redis
	Store   *store.Store
	Queue   *queue.Client
	Metrics *metrics.Metrics
}

// Open reads the configuration of program from getenv and builds the Base.
// A Redis that does not answer yet is logged, not fatal: /readyz tells.
func Open(ctx context.Context, program string, getenv func(string) string, stdout io.Writer) (*Base, error) {
	cfg, err := config.Load(getenv, program)
	if err != nil {
		return nil, err
	}
	log := NewLogger(cfg.LogLevel, stdout)
	RouteRedisLogs(log)
	log.Info("starting "+program, cfg.Fields()...)
	rdb, err := OpenRedis(ctx, cfg)
	if rdb == nil {
		return nil, err
	}
	if err != nil {
		log.Warn("redis", zap.Error(err))
	}
	b := &Base{Cfg: cfg, Log: log, Redis: rdb, Store: store.New(store.Params{Redis: rdb.Client}),
		Queue: queue.NewClient(rdb.Client), Metrics: metrics.New()}
	b.Metrics.Registry.MustRegister(metrics.NewQueueCollector(b.Queue.Inspector()))
	return b, nil
}

// Close releases the queue client and Redis and flushes the log.
func (b *Base) Close() {
	_ = b.Queue.Close()
	_ = b.Redis.Close()
	_ = b.Log.Sync()
}

// StartWorker starts this program's worker on the Base.
func (b *Base) StartWorker(ctx context.Context) (*Worker, error) {
	return StartWorker(ctx, b.Cfg, b.Redis, b.Store, b.Queue, b.Metrics, b.Log)
}
