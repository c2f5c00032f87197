package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

// A lock renewed before its TTL stays with its holder however long the work
// takes; one that is not renewed passes to the next taker, and its old
// holder learns so at its next renewal. miniredis moves time by hand.
func TestLockRenewKeepsItAndExpiryLosesIt(t *testing.T) {
	t.Parallel()
	mr, rdb := redistest.Miniredis(t)
	st := store.New(store.Params{Redis: rdb})
	ctx := context.Background()
	first, err := st.LockAcquire(ctx, "pass", time.Second)
	if err != nil || first == nil {
		t.Fatalf("acquire: %v %v", first, err)
	}
	for range 5 { // five TTLs of work, renewed along the way
		mr.FastForward(700 * time.Millisecond)
		if err := first.Renew(ctx); err != nil {
			t.Fatalf("renew: %v", err)
		}
		if other, err := st.LockAcquire(ctx, "pass", time.Second); err != nil || other != nil {
			t.Fatalf("second holder while renewed: %v %v", other, err)
		}
	}
	mr.FastForward(1100 * time.Millisecond)
	second, err := st.LockAcquire(ctx, "pass", time.Second)
	if err != nil || second == nil {
		t.Fatalf("acquire after expiry: %v %v", second, err)
	}
	if err := first.Renew(ctx); !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("old holder's renew = %v, want ErrLockLost", err)
	}
	first.Release() // not its lock any more: changes nothing
	if other, err := st.LockAcquire(ctx, "pass", time.Second); err != nil || other != nil {
		t.Fatalf("the old holder released the new holder's lock: %v %v", other, err)
	}
	second.Release()
	if again, err := st.LockAcquire(ctx, "pass", time.Second); err != nil || again == nil {
		t.Fatalf("acquire after release: %v %v", again, err)
	}
}
