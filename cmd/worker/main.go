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
	b, err := app.Open(ctx, config.ProgramWorker, getenv, stdout)
	if err != nil {
		return err
	}
	defer b.Close()
	cfg, log := b.Cfg, b.Log
	w, err := b.StartWorker(ctx)
	if err != nil {
		return err
	}
	mctx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	merr := make(chan error, 1)
	go func() {
		merr <- b.Metrics.Serve(mctx, cfg.MetricsAddr, func(addr string) {
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
