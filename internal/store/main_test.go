package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/customer"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// clock is an injectable clock tests move by hand.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

type testBundle struct {
	st    *store.Store
	rdb   redis.UniversalClient
	clock *clock
}

// backends runs fn against miniredis and against a real Redis, so that
// scripts are checked where they run in production and where they run
// embedded.
func backends(t *testing.T, fn func(t *testing.T, b testBundle)) {
	t.Helper()
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		_, rdb := redistest.Miniredis(t)
		fn(t, newBundle(rdb))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		fn(t, newBundle(redistest.Client(t)))
	})
}

func newBundle(rdb redis.UniversalClient) testBundle {
	c := &clock{}
	return testBundle{st: store.New(store.Params{Redis: rdb, Now: c.now}), rdb: rdb, clock: c}
}

func mustRecord(t *testing.T, raw map[string]any) customer.Record {
	t.Helper()
	r, errs := customer.Normalize(raw)
	if len(errs) > 0 {
		t.Fatalf("normalize %v: %v", raw, errs)
	}
	return r
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
