package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/store"
)

// HeartbeatParams configures a Heartbeat. Zero values take defaults.
type HeartbeatParams struct {
	Store *store.Store
	Log   *zap.Logger
	// Interval between beats; default 1s.
	Interval time.Duration
	// TTL of the alive marker: a worker that has not beaten for this long
	// is dead to the rescuer; default 7s. It sets how fast a killed
	// worker's batches go on elsewhere (about TTL plus the rescuer's interval).
	TTL time.Duration
}

// Heartbeat keeps this worker process's alive marker fresh in Redis, and
// tells the process's batch runs whether it may be taken for dead: a run
// sends only while the last beat is younger than half the TTL, so a worker
// cut off from Redis stops sending before any rescuer can decide it is dead
// and hand its batches to another worker.
type Heartbeat struct {
	p    HeartbeatParams
	id   string
	last atomic.Int64 // monotonic ns since start of the last successful beat
	t0   time.Time
}

// NewHeartbeat returns a Heartbeat with a fresh worker id and defaults filled in.
func NewHeartbeat(p HeartbeatParams) *Heartbeat {
	if p.Interval <= 0 {
		p.Interval = time.Second
	}
	if p.TTL <= 0 {
		p.TTL = 7 * time.Second
	}
	if p.Log == nil {
		p.Log = zap.NewNop()
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	h := &Heartbeat{p: p, id: "w-" + hex.EncodeToString(b[:]), t0: time.Now()}
	h.last.Store(-int64(time.Hour))
	return h
}

// WorkerID is this process's id in the run registry.
func (h *Heartbeat) WorkerID() string { return h.id }

// Healthy reports whether the last successful beat is younger than TTL/2.
func (h *Heartbeat) Healthy() bool {
	return time.Since(h.t0)-time.Duration(h.last.Load()) < h.p.TTL/2
}

// Beat marks the worker alive once; Start calls it before any batch runs.
func (h *Heartbeat) Beat(ctx context.Context) error {
	began := time.Since(h.t0)
	ctx, cancel := context.WithTimeout(ctx, h.p.TTL/2)
	defer cancel()
	if err := h.p.Store.WorkerHeartbeat(ctx, h.id, h.p.TTL); err != nil {
		return err
	}
	// The marker lives TTL from when Redis ran the SET, which is after
	// began: counting from began is the safe side.
	h.last.Store(int64(began))
	return nil
}

// Run beats every Interval until ctx ends, then removes the marker.
func (h *Heartbeat) Run(ctx context.Context) {
	t := time.NewTicker(h.p.Interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := h.p.Store.WorkerGone(gctx, h.id); err != nil {
				h.p.Log.Warn("remove worker marker", zap.Error(err))
			}
			return
		case <-t.C:
		}
		err := h.Beat(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			h.p.Log.Warn("worker heartbeat failed; sending stops until it works again", zap.String("worker", h.id), zap.Error(err))
			failing = true
		case err == nil && failing:
			h.p.Log.Info("worker heartbeat works again", zap.String("worker", h.id))
			failing = false
		}
	}
}
