package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/queue"
)

// ServerParams configures a Server. Zero values take defaults.
type ServerParams struct {
	Redis           redis.UniversalClient
	Handler         *Handler
	Log             *zap.Logger
	Concurrency     int           // batches in flight; default 10
	ShutdownTimeout time.Duration // default 10s
}

// Server runs the asynq server that feeds batches to the Handler.
type Server struct {
	srv *asynq.Server
	h   *Handler
}

// NewServer builds the asynq server with retry rules fit for batches: a
// paused campaign or a batch held elsewhere comes back within seconds and
// spends no retry; real errors back off from one second to one minute.
func NewServer(p ServerParams) *Server {
	if p.Concurrency <= 0 {
		p.Concurrency = 10
	}
	if p.ShutdownTimeout <= 0 {
		p.ShutdownTimeout = 10 * time.Second
	}
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	log := p.Log
	srv := asynq.NewServerFromRedisClient(p.Redis, asynq.Config{
		Concurrency:              p.Concurrency,
		Queues:                   map[string]int{queue.Name: 1},
		RetryDelayFunc:           retryDelay,
		IsFailure:                isFailure,
		DelayedTaskCheckInterval: time.Second,
		// An idle worker looks for new batches ten times a second rather
		// than once: a campaign queued just after a poll would otherwise
		// wait up to a second per worker before its first send.
		TaskCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout:   p.ShutdownTimeout,
		Logger:            p.Log.Named("asynq").Sugar(),
		LogLevel:          asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(_ context.Context, t *asynq.Task, err error) {
			if isFailure(err) {
				log.Warn("batch failed; asynq retries it", zap.String("type", t.Type()), zap.Error(err))
			}
		}),
	})
	return &Server{srv: srv, h: p.Handler}
}

// Start begins processing in the background.
func (s *Server) Start() error {
	mux := asynq.NewServeMux()
	mux.Handle(queue.TaskType, s.h)
	if err := s.srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	return nil
}

// Shutdown stops taking batches and waits for running ones up to the
// shutdown timeout; unfinished batches go back to the queue.
func (s *Server) Shutdown() { s.srv.Shutdown() }

func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	switch {
	case errors.Is(err, errPaused):
		return time.Second
	case errors.Is(err, errBusy), errors.Is(err, errStalled):
		return 5 * time.Second
	case errors.Is(err, errUnhealthy):
		return 2 * time.Second
	}
	d := time.Second << min(n, 6)
	return min(d, time.Minute)
}

// isFailure is false for the reasons a batch comes back that say nothing
// about the batch itself: a pause, messages held by another run, a run
// handed back by its watchdog, a worker that lost its heartbeat, shutdown.
func isFailure(err error) bool {
	for _, e := range []error{errPaused, errBusy, errStalled, errUnhealthy, context.Canceled} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}
