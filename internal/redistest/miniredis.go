package redistest

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// SlowTimeout bounds one call of a test client. The servers of tests run on
// the same busy machine as the tests; a slow answer there is no failure.
const SlowTimeout = 30 * time.Second

// Miniredis starts an in-memory Redis for t, as the embedded mode of
// cmd/api uses, and returns it with a client; both end with t.
func Miniredis(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: mr.Addr(), DisableIdentity: true, ReadTimeout: SlowTimeout, WriteTimeout: SlowTimeout})
	t.Cleanup(func() { _ = c.Close() })
	return mr, c
}
