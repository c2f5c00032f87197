package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// IdemRecord is what an Idempotency-Key holds: from the first moment the
// request's fingerprint and the id of the initiation it creates, and once
// the request has answered, the answer it gave.
type IdemRecord struct {
	Fingerprint  string          `json:"fp"`
	InitiationID string          `json:"ini,omitempty"`
	Done         bool            `json:"done"`
	Status       int             `json:"status,omitempty"`
	Body         json.RawMessage `json:"body,omitempty"`
	// HeldUntil (unix ms) is when a request that has not answered yet is
	// taken for dead, so that a retry may finish its work.
	HeldUntil int64 `json:"until,omitempty"`
}

// How long a key is remembered, and how long a request may hold it before
// a retry takes over its work (a process that dies mid-request).
const (
	IdemTTL      = 24 * time.Hour
	IdemInFlight = 2 * time.Minute
)

// takeIdemScript claims an Idempotency-Key. KEYS: the key. ARGV: now ms,
// in-flight ms, ttl ms, fingerprint, a fresh initiation id. It answers
// {"taken", id} when the caller is to run the request as initiation id,
// else {"held", record}: a different request, one still running, or a
// stored answer. A request that held the key and died (its hold is over,
// no answer stored) is taken over with the initiation id it owned, so its
// retry finishes that initiation instead of creating a second one.
var takeIdemScript = redis.NewScript(`
local now, hold, ttl, fp, fresh = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, rec = pcall(cjson.decode, cur)
  if not ok or type(rec) ~= 'table' then return {'held', cur} end
  if rec.fp ~= fp or rec.done or (tonumber(rec['until']) or 0) > now then
    return {'held', cur}
  end
  fresh = (type(rec.ini) == 'string' and rec.ini ~= '') and rec.ini or fresh
end
local mine = cjson.encode({fp = fp, ini = fresh, done = false, ['until'] = now + hold})
redis.call('SET', KEYS[1], mine, 'PX', ttl)
return {'taken', fresh}
`)

// TakeIdempotencyKey claims key for a request with fingerprint fp that
// would create initiation freshID. taken=true means the caller runs the
// request as initiation id (freshID, or the id of an earlier attempt that
// died). Otherwise rec says what the key holds. One script makes racing
// requests, on any number of API processes, agree.
func (s *Store) TakeIdempotencyKey(ctx context.Context, org, key, fp, freshID string) (rec *IdemRecord, id string, taken bool, err error) {
	res, err := takeIdemScript.Run(ctx, s.rdb, []string{idemKey(org, key)},
		s.now().UnixMilli(), IdemInFlight.Milliseconds(), IdemTTL.Milliseconds(), fp, freshID).StringSlice()
	if err != nil || len(res) != 2 {
		return nil, "", false, fmt.Errorf("take idempotency key: %w", err)
	}
	if res[0] == "taken" {
		return nil, res[1], true, nil
	}
	var r IdemRecord
	if err := json.Unmarshal([]byte(res[1]), &r); err != nil {
		return nil, "", false, fmt.Errorf("decode idempotency key: %w", err)
	}
	return &r, "", false, nil
}

// StoreIdempotentAnswer keeps the answer under key for IdemTTL.
func (s *Store) StoreIdempotentAnswer(ctx context.Context, org, key, fp, initiationID string, status int, body []byte) error {
	raw, err := json.Marshal(IdemRecord{Fingerprint: fp, InitiationID: initiationID, Done: true, Status: status, Body: body})
	if err != nil {
		return fmt.Errorf("encode idempotent answer: %w", err)
	}
	if err := s.rdb.Set(ctx, idemKey(org, key), raw, IdemTTL).Err(); err != nil {
		return fmt.Errorf("store idempotent answer: %w", err)
	}
	return nil
}

// releaseIdemScript deletes a key that a request holds without an answer.
// KEYS: the key. ARGV: fingerprint, initiation id.
var releaseIdemScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, rec = pcall(cjson.decode, cur)
if ok and type(rec) == 'table' and not rec.done and rec.fp == ARGV[1] and rec.ini == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// ReleaseIdempotencyKey frees a key whose request created nothing, if it
// still holds that request's in-flight record.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, org, key, fp, initiationID string) error {
	if err := releaseIdemScript.Run(ctx, s.rdb, []string{idemKey(org, key)}, fp, initiationID).Err(); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
