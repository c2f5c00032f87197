package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/filter"
)

// MessageError is one customer's failure, as listed in "errors".
type MessageError struct {
	ID      string `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// MaxErrors is how many errors an initiation keeps; counts stay exact.
const MaxErrors = 100

// Initiation is the immutable part of an initiation: what was asked and what
// was selected. Its running totals are Counters.
type Initiation struct {
	ID            string         `json:"id"`
	Org           string         `json:"org"`
	CampaignID    string         `json:"campaignId"`
	TemplateID    string         `json:"templateId"`
	Template      Template       `json:"template"`
	Filters       filter.Filters `json:"filters"`
	Limit         int            `json:"limit,omitempty"`
	BatchSize     int            `json:"batchSize"`
	Batches       int            `json:"batches"`
	TotalMatched  int64          `json:"totalMatched"`
	Selected      int64          `json:"selected"`
	Initiated     int64          `json:"initiated"`
	FailedAtQueue int64          `json:"failedAtQueue"`
	CreatedAt     time.Time      `json:"createdAt"`
}

// Counters are an initiation's running totals, read atomically.
type Counters struct {
	Selected, Initiated, Sent, Delivered, Failed, Skipped, Cancelled, Inflight int64
	BatchesDone                                                                int64
	Started                                                                    bool
	CancelledState                                                             bool
	CompletedAt                                                                *time.Time
}

// Pending is what is neither sent, failed, skipped nor cancelled.
func (c Counters) Pending() int64 {
	return c.Selected - c.Sent - c.Failed - c.Skipped - c.Cancelled
}

var counterFields = []string{"selected", "initiated", "sent", "delivered", "failed", "skipped", "cancelled", "inflight", "started", "state", "completed"}

// MessageID is the fixed id of message n of an initiation ("ini_X" -> "msg_X_n").
func MessageID(initiationID string, n int) string {
	return "msg_" + strings.TrimPrefix(initiationID, "ini_") + "_" + strconv.Itoa(n)
}

// ParseMessageID splits a message id into its initiation id and number.
func ParseMessageID(id string) (initiationID string, n int, ok bool) {
	rest, found := strings.CutPrefix(id, "msg_")
	if !found {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, '_')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(rest[i+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != rest[i+1:] {
		return "", 0, false
	}
	iid := "ini_" + rest[:i]
	if !ValidID(iid) {
		return "", 0, false
	}
	return iid, n, true
}

// createScript writes an initiation's record, counters, batches and
// queue-time errors in one step, unless the initiation exists already: a
// retry of an initiate that crashed after this point, with the same id (the
// Idempotency-Key owns it), must not reset counters that workers move.
// KEYS: meta, batch, errs. ARGV: data, selected, initiated, failed,
// completed ms or "", number of batches, the batches, then the errors.
// Returns 1 when it wrote, 0 when the initiation was there.
var createScript = redis.NewScript(`
local meta, batch, errs = KEYS[1], KEYS[2], KEYS[3]
if redis.call('EXISTS', meta) == 1 then return 0 end
redis.call('HSET', meta, 'data', ARGV[1], 'selected', ARGV[2], 'initiated', ARGV[3],
  'sent', 0, 'delivered', 0, 'failed', ARGV[4], 'skipped', 0, 'cancelled', 0, 'inflight', 0)
if ARGV[5] ~= '' then redis.call('HSET', meta, 'completed', ARGV[5]) end
local nb = tonumber(ARGV[6])
for b = 0, nb - 1 do redis.call('HSET', batch, b, ARGV[7 + b]) end
for i = 7 + nb, #ARGV do redis.call('RPUSH', errs, ARGV[i]) end
return 1
`)

// CreateInitiation stores an initiation, its batches of customer ids and its
// queue-time errors; created is false when an initiation with its id exists
// already (then nothing is written). The initiation is first marked active,
// so that a crash at any later line leaves something the reconciler finds;
// the record itself and its batches are written in one step.
func (s *Store) CreateInitiation(ctx context.Context, ini *Initiation, batches [][]string, errs []MessageError) (created bool, err error) {
	score := unixMs(ini.CreatedAt)
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, activeInitiations, redis.Z{Score: score, Member: ini.ID})
	addNewest(ctx, pipe, orgInitiations(ini.Org), ini.ID, ini.CreatedAt)
	addNewest(ctx, pipe, orgCampaignInitiations(ini.Org, ini.CampaignID), ini.ID, ini.CreatedAt)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("index initiation: %w", err)
	}

	data, err := json.Marshal(ini)
	if err != nil {
		return false, fmt.Errorf("encode initiation: %w", err)
	}
	completed := ""
	if ini.Initiated == 0 {
		completed = strconv.FormatInt(ini.CreatedAt.UnixMilli(), 10)
	}
	nerrs := min(len(errs), MaxErrors)
	args := make([]any, 0, 6+len(batches)+nerrs)
	args = append(args, data, ini.Selected, ini.Initiated, ini.FailedAtQueue, completed, len(batches))
	for _, b := range batches {
		args = append(args, strings.Join(b, "\n"))
	}
	for _, e := range errs[:nerrs] {
		b, _ := json.Marshal(e)
		args = append(args, b)
	}
	k := ikeys(ini.ID)
	n, err := createScript.Run(ctx, s.rdb, []string{k.meta(), k.batch(), k.errs()}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("write initiation: %w", err)
	}
	return n == 1, nil
}

// QueueErrors returns the errors an initiation's answer listed: the first
// of its queue-time failures, as CreateInitiation stored them.
func (s *Store) QueueErrors(ctx context.Context, ini *Initiation) ([]MessageError, error) {
	n := min(ini.FailedAtQueue, MaxErrors)
	if n == 0 {
		return nil, nil
	}
	raw, err := s.rdb.LRange(ctx, ikeys(ini.ID).errs(), 0, n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read initiation errors: %w", err)
	}
	out := make([]MessageError, 0, len(raw))
	for _, r := range raw {
		var e MessageError
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			return nil, fmt.Errorf("decode initiation error: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Initiation returns the initiation record, or NotFound (also for another org's).
func (s *Store) Initiation(ctx context.Context, org, id string) (*Initiation, error) {
	ini, err := s.InitiationByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if ini.Org != org {
		return nil, notFound("Initiation", id)
	}
	return ini, nil
}

// InitiationByID returns the initiation whatever its org; for workers.
func (s *Store) InitiationByID(ctx context.Context, id string) (*Initiation, error) {
	if !ValidID(id) {
		return nil, notFound("Initiation", id)
	}
	data, err := s.rdb.HGet(ctx, ikeys(id).meta(), "data").Bytes()
	if isNil(err) {
		return nil, notFound("Initiation", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read initiation: %w", err)
	}
	var ini Initiation
	if err := json.Unmarshal(data, &ini); err != nil {
		return nil, fmt.Errorf("decode initiation %s: %w", id, err)
	}
	return &ini, nil
}

// Counters reads an initiation's totals in one atomic step.
func (s *Store) Counters(ctx context.Context, id string) (Counters, error) {
	k := ikeys(id)
	tx := s.rdb.TxPipeline()
	vals := tx.HMGet(ctx, k.meta(), counterFields...)
	done := tx.SCard(ctx, k.done())
	if _, err := tx.Exec(ctx); err != nil {
		return Counters{}, fmt.Errorf("read counters: %w", err)
	}
	v := vals.Val()
	num := func(i int) int64 {
		str, _ := v[i].(string)
		n, _ := strconv.ParseInt(str, 10, 64)
		return n
	}
	c := Counters{
		Selected: num(0), Initiated: num(1), Sent: num(2), Delivered: num(3), Failed: num(4),
		Skipped: num(5), Cancelled: num(6), Inflight: num(7), BatchesDone: done.Val(),
	}
	c.Started = num(8) > 0
	c.CancelledState = v[9] == "cancelled"
	if ms := num(10); ms > 0 {
		t := time.UnixMilli(ms).UTC()
		c.CompletedAt = &t
	}
	return c, nil
}

// Errors returns the initiation's first errors.
func (s *Store) Errors(ctx context.Context, id string) ([]MessageError, error) {
	raw, err := s.rdb.LRange(ctx, ikeys(id).errs(), 0, MaxErrors-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read errors: %w", err)
	}
	out := make([]MessageError, 0, len(raw))
	for _, r := range raw {
		var e MessageError
		if json.Unmarshal([]byte(r), &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// Batch returns the customer ids of batch b.
func (s *Store) Batch(ctx context.Context, id string, b int) ([]string, error) {
	v, err := s.rdb.HGet(ctx, ikeys(id).batch(), strconv.Itoa(b)).Result()
	if isNil(err) {
		return nil, notFound("Batch", strconv.Itoa(b))
	}
	if err != nil {
		return nil, fmt.Errorf("read batch: %w", err)
	}
	return strings.Split(v, "\n"), nil
}

// BatchesDone returns the batch numbers whose messages are all final.
func (s *Store) BatchesDone(ctx context.Context, id string) (map[int]bool, error) {
	raw, err := s.rdb.SMembers(ctx, ikeys(id).done()).Result()
	if err != nil {
		return nil, fmt.Errorf("read done batches: %w", err)
	}
	out := make(map[int]bool, len(raw))
	for _, r := range raw {
		if n, err := strconv.Atoi(r); err == nil {
			out[n] = true
		}
	}
	return out, nil
}

// MarkBatchDone records that every message of batch b is final.
func (s *Store) MarkBatchDone(ctx context.Context, id string, b int) error {
	if err := s.rdb.SAdd(ctx, ikeys(id).done(), b).Err(); err != nil {
		return fmt.Errorf("mark batch done: %w", err)
	}
	return nil
}

// ListInitiations returns a page of the org's initiations (of one campaign
// when campaign is set), newest first, and the total.
func (s *Store) ListInitiations(ctx context.Context, org, campaign string, offset, count int64) ([]string, int64, error) {
	key := orgInitiations(org)
	if campaign != "" {
		key = orgCampaignInitiations(org, campaign)
	}
	pipe := s.rdb.Pipeline()
	ids := pipe.ZRevRange(ctx, key, offset, offset+count-1)
	total := pipe.ZCard(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("list initiations: %w", err)
	}
	return ids.Val(), total.Val(), nil
}

// ActiveInitiations returns up to n initiations that may have pending
// messages, oldest first, from position offset on.
func (s *Store) ActiveInitiations(ctx context.Context, offset, n int64) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, activeInitiations, offset, offset+n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list active initiations: %w", err)
	}
	return ids, nil
}

// Deactivate forgets an initiation that has nothing pending.
func (s *Store) Deactivate(ctx context.Context, id string) error {
	if err := s.rdb.ZRem(ctx, activeInitiations, id).Err(); err != nil {
		return fmt.Errorf("deactivate initiation: %w", err)
	}
	return nil
}

// ActiveSince returns when an initiation was marked active.
func (s *Store) ActiveSince(ctx context.Context, id string) (time.Time, error) {
	ms, err := s.rdb.ZScore(ctx, activeInitiations, id).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("read active initiation: %w", err)
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}
