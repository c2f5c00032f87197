// Command api serves the HTTP API. Without REDIS_URL it also starts an
// embedded in-memory Redis, an in-process worker and the demo data: the
// one-command local run.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/app"
	"github.com/campaignsms/campaignsms/internal/config"
	"github.com/campaignsms/campaignsms/internal/demo"
	"github.com/campaignsms/campaignsms/internal/httpapi"
	"github.com/campaignsms/campaignsms/internal/initiate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run starts the API and blocks until ctx ends. ready, when set, is told the
// address the API listens on (tests listen on port 0).
func run(ctx context.Context, getenv func(string) string, stdout io.Writer, ready func(addr string)) error {
	b, err := app.Open(ctx, config.ProgramAPI, getenv, stdout)
	if err != nil {
		return err
	}
	defer b.Close()
	cfg, log, st, q, m := b.Cfg, b.Log, b.Store, b.Queue, b.Metrics

	if cfg.DemoData {
		loaded, err := demo.Load(ctx, st)
		if err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
		log.Info("demo data", zap.Bool("loaded", loaded), zap.String("campaign", demo.CampaignID), zap.String("template", demo.TemplateID))
	}
	if cfg.Embedded() {
		w, err := b.StartWorker(ctx)
		if err != nil {
			return err
		}
		defer w.Stop()
	}

	mon, closeMon, err := monitoring(cfg, b.Redis)
	if err != nil {
		return err
	}
	defer func() { _ = closeMon() }()
	svc := initiate.New(initiate.Params{Store: st, Queue: q, Log: log.Named("initiate"), BatchSize: cfg.BatchSize})
	api := httpapi.New(httpapi.Params{Store: st, Initiate: svc, Tokens: cfg.Tokens, DLRToken: cfg.DLRToken, Log: log.Named("http"), Metrics: m, Monitoring: mon})
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	addr := l.Addr().String()
	log.Info("api listening", zap.String("addr", addr))
	if cfg.TokensFromDefault {
		// SPEC 2 wants the development token announced; it is no secret.
		log.Info("no API_TOKENS: using the development token", zap.String("token", config.DefaultToken), zap.String("org", config.DefaultOrg))
		banner(stdout, addr)
	}
	if ready != nil {
		ready(addr)
	}
	return api.Serve(ctx, l)
}

// monitoring builds the asynq dashboard: open on the embedded Redis, behind
// basic auth when credentials are set, and absent (404) on a real Redis
// without them. It opens its own Redis clients, closed on shutdown.
func monitoring(cfg config.Config, rdb *app.Redis) (httpapi.Monitoring, func() error, error) {
	nop := func() error { return nil }
	if !cfg.Embedded() && cfg.MonitoringUser == "" {
		return httpapi.Monitoring{}, nop, nil
	}
	var opt asynq.RedisConnOpt
	if rdb.Embedded != nil {
		opt = asynq.RedisClientOpt{Addr: rdb.Embedded.Addr()}
	} else {
		opts, err := cfg.RedisOptions()
		if err != nil {
			return httpapi.Monitoring{}, nop, err
		}
		opt = config.NewAsynqRedisOpt(opts)
	}
	h := asynqmon.New(asynqmon.Options{RootPath: "/monitoring", RedisConnOpt: opt, ReadOnly: cfg.MonitoringReadOnly})
	return httpapi.Monitoring{Handler: h, User: cfg.MonitoringUser, Password: cfg.MonitoringPassword}, h.Close, nil
}

// banner prints a ready-to-paste example for the one-command local run.
func banner(w io.Writer, addr string) {
	fmt.Fprintf(w, `
  Campaign SMS is running on an embedded in-memory Redis with demo data.
  API token: %[2]s (org %[3]s). Try:

    curl -s -X POST http://%[1]s/api/v1/initiate/demo/sms \
      -H 'Authorization: Bearer %[2]s' -H 'Content-Type: application/json' \
      -d '{"templateId": "%[4]s", "limit": 250}'

  then follow the statusUrl it returns:
    curl -s http://%[1]s/api/v1/initiations/<initiationId> -H 'Authorization: Bearer %[2]s'

`, addr, config.DefaultToken, config.DefaultOrg, demo.TemplateID)
}
