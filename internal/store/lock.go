package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrLockLost is returned by Lock.Renew when the lock expired and someone
// else may hold it now.
var ErrLockLost = errors.New("lock lost")

// Lock is a named lock in Redis held by one process at a time, for a TTL
// that its holder renews while it works. It is safe against a holder that
// stalls past its TTL only together with Renew: work in steps, renew between
// them, and stop when Renew says the lock is lost.
type Lock struct {
	s     *Store
	key   string
	token string
	ttl   time.Duration
}

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// LockAcquire takes the lock name for ttl. It returns nil, nil when another
// holder has it.
func (s *Store) LockAcquire(ctx context.Context, name string, ttl time.Duration) (*Lock, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	l := &Lock{s: s, key: lockKey(name), token: hex.EncodeToString(b[:]), ttl: ttl}
	ok, err := s.rdb.SetNX(ctx, l.key, l.token, ttl).Result()
	if err != nil {
		return nil, fmt.Errorf("take lock %s: %w", name, err)
	}
	if !ok {
		return nil, nil
	}
	return l, nil
}

// Renew extends the lock by its TTL if it is still ours.
func (l *Lock) Renew(ctx context.Context) error {
	n, err := renewScript.Run(ctx, l.s.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("renew lock: %w", err)
	}
	if n == 0 {
		return ErrLockLost
	}
	return nil
}

// Release frees the lock if it is still ours.
func (l *Lock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = unlockScript.Run(ctx, l.s.rdb, []string{l.key}, l.token).Err()
}
