package testkit

import (
	"context"
	"sync"

	"github.com/campaignsms/campaignsms/internal/queue"
)

// Enqueuer is the fake of initiate.Enqueuer: it keeps the batches instead of
// queueing them, so tests run them by hand, as often and as concurrently as
// they like.
type Enqueuer struct {
	mu      sync.Mutex
	batches []queue.Batch
	taken   int
}

// Enqueue keeps b.
func (e *Enqueuer) Enqueue(_ context.Context, b []queue.Batch) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.batches = append(e.batches, b...)
	return nil
}

// Batches returns every batch queued so far.
func (e *Enqueuer) Batches() []queue.Batch {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]queue.Batch(nil), e.batches...)
}

// Take returns the batches queued since the last Take.
func (e *Enqueuer) Take() []queue.Batch {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]queue.Batch(nil), e.batches[e.taken:]...)
	e.taken = len(e.batches)
	return out
}
