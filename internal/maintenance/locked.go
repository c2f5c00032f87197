// Package maintenance holds the background parts that keep initiations
// moving across all worker processes: the reconciler (batches without a
// task), the rescuer (batches of dead workers). Each is a small type with a
// params struct and defaults from zero values, runs on a ticker, takes a
// Redis lock so that one process at a time does the work, and logs a
// failure of one item and carries on with the rest.
package maintenance

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/campaignsms/campaignsms/internal/store"
)

// withLock runs pass while holding lock name, renewing it every ttl/3. If
// the lock is lost (a renewal finds another holder), pass's context is
// cancelled, so two passes never overlap for longer than a step of pass.
// ran is false when another process holds the lock.
func withLock(ctx context.Context, st *store.Store, log *zap.Logger, name string, ttl time.Duration, pass func(ctx context.Context) error) (ran bool, err error) {
	lock, err := st.LockAcquire(ctx, name, ttl)
	if err != nil || lock == nil {
		return false, err
	}
	defer lock.Release()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			if err := lock.Renew(pctx); err != nil && pctx.Err() == nil {
				log.Warn("maintenance lock lost; stopping this pass", zap.String("lock", name), zap.Error(err))
				cancel()
				return
			}
		}
	}()
	err = pass(pctx)
	cancel()
	<-renewed
	return true, err
}

// every runs f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}
