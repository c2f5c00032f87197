package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// IdemRecord is what an Idempotency-Key holds: while the first request runs
// only its fingerprint, afterwards the answer it gave.
type IdemRecord struct {
	Fingerprint string          `json:"fp"`
	Done        bool            `json:"done"`
	Status      int             `json:"status,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
}

// How long a key is remembered, and how long a request may hold it before
// its answer is stored (a process that dies mid-request frees it then).
const (
	IdemTTL      = 24 * time.Hour
	IdemInFlight = 2 * time.Minute
)

func idemKey(org, key string) string {
	sum := sha256.Sum256([]byte(key))
	return "cs:o:" + org + ":idem:" + hex.EncodeToString(sum[:])
}

// TakeIdempotencyKey claims key for a request with fingerprint fp. When the
// key is known already it returns what it holds and taken=false. SET NX
// makes two racing requests, on any number of API processes, agree.
func (s *Store) TakeIdempotencyKey(ctx context.Context, org, key, fp string) (rec *IdemRecord, taken bool, err error) {
	mine, _ := json.Marshal(IdemRecord{Fingerprint: fp})
	k := idemKey(org, key)
	for range 3 {
		ok, err := s.rdb.SetNX(ctx, k, mine, IdemInFlight).Result()
		if err != nil {
			return nil, false, fmt.Errorf("take idempotency key: %w", err)
		}
		if ok {
			return nil, true, nil
		}
		raw, err := s.rdb.Get(ctx, k).Bytes()
		if isNil(err) {
			continue // expired between the two calls
		}
		if err != nil {
			return nil, false, fmt.Errorf("read idempotency key: %w", err)
		}
		var r IdemRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, false, fmt.Errorf("decode idempotency key: %w", err)
		}
		return &r, false, nil
	}
	return nil, false, fmt.Errorf("take idempotency key: %w", redis.TxFailedErr)
}

// StoreIdempotentAnswer keeps the answer under key for IdemTTL.
func (s *Store) StoreIdempotentAnswer(ctx context.Context, org, key, fp string, status int, body []byte) error {
	raw, err := json.Marshal(IdemRecord{Fingerprint: fp, Done: true, Status: status, Body: body})
	if err != nil {
		return fmt.Errorf("encode idempotent answer: %w", err)
	}
	if err := s.rdb.Set(ctx, idemKey(org, key), raw, IdemTTL).Err(); err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

var releaseIdem = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// ReleaseIdempotencyKey frees a key whose request created nothing, if it
// still holds that request's in-flight marker.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, org, key, fp string) error {
	mine, _ := json.Marshal(IdemRecord{Fingerprint: fp})
	if err := releaseIdem.Run(ctx, s.rdb, []string{idemKey(org, key)}, mine).Err(); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
