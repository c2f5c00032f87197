// Command worker sends the messages of queued batches. Run as many as you
// like, on any hosts, against the same REDIS_URL.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/app"
	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/metrics"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv, config.ProgramWorker)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.LogLevel, stdout)
	defer func() { _ = log.Sync() }()
	app.RouteRedisLogs(log)
	log.Info("starting worker", cfg.Fields()...)

	rdb, err := app.OpenRedis(ctx, cfg)
	if rdb == nil {
		return err
	}
	if err != nil {
		log.Warn("redis", zap.Error(err))
	}
	defer func() { _ = rdb.Close() }()
	st := store.New(store.Params{Redis: rdb.Client})
	q := queue.NewClient(rdb.Client)
	defer func() { _ = q.Close() }()

	m := metrics.New()
	m.Registry.MustRegister(metrics.NewQueueCollector(q.Inspector()))
	w, err := app.StartWorker(ctx, cfg, rdb, st, q, m, log)
	if err != nil {
		return err
	}
	mctx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	merr := make(chan error, 1)
	go func() {
		merr <- m.Serve(mctx, cfg.MetricsAddr, func(addr string) {
			log.Info("metrics listening", zap.String("addr", addr))
		})
	}()
	log.Info("worker running")
	select {
	case <-ctx.Done():
	case err := <-merr:
		w.Stop()
		return err
	}
	log.Info("worker stopping")
	w.Stop()
	log.Info("worker stopped")
	return nil
}
