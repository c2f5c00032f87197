package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/customer"
)

// upsertCustomer writes one record and moves it between the status and
// language indexes in one step, so a filter never sees a customer in two
// statuses or in none. A known id keeps its place in the insertion order.
//
// KEYS: ids, seq, cust, fields, attr. ARGV: key prefix, id, record JSON,
// status, language (both as indexed, computed in Go so Lua's ASCII-only
// string.lower never decides an index), present field names...
// Returns 1 when the customer was created, 0 when it was updated.
var upsertCustomer = redis.NewScript(`
local prefix, id = ARGV[1], ARGV[2]
local old = redis.call('HGET', KEYS[3], id)
local created = 0
local attr = redis.call('HGET', KEYS[5], id)
if attr then
  local tab = string.find(attr, '\t', 1, true)
  local ps, lang = string.sub(attr, 1, tab - 1), string.sub(attr, tab + 1)
  if ps ~= '' then redis.call('SREM', prefix .. 'ps:' .. ps, id) end
  if lang ~= '' then redis.call('SREM', prefix .. 'lang:' .. lang, id) end
end
if old then
  local ok, rec = pcall(cjson.decode, old)
  if ok and type(rec) == 'table' then
    for k, v in pairs(rec) do
      if v ~= nil and v ~= cjson.null and v ~= '' then
        if redis.call('HINCRBY', KEYS[4], k, -1) <= 0 then redis.call('HDEL', KEYS[4], k) end
      end
    end
  end
else
  local seq = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[1], 'NX', seq, id)
  created = 1
end
redis.call('HSET', KEYS[3], id, ARGV[3])
redis.call('HSET', KEYS[5], id, ARGV[4] .. '\t' .. ARGV[5])
if ARGV[4] ~= '' then redis.call('SADD', prefix .. 'ps:' .. ARGV[4], id) end
if ARGV[5] ~= '' then redis.call('SADD', prefix .. 'lang:' .. ARGV[5], id) end
for i = 6, #ARGV do redis.call('HINCRBY', KEYS[4], ARGV[i], 1) end
return created
`)

// presentFields lists the fields of r that count as present for templates:
// the same rule as the upsert script's (not null, not "").
func presentFields(r customer.Record) []string {
	out := make([]string, 0, len(r))
	for k := range r {
		if v, ok := r.Get(k); ok && v != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// UpsertResult tells, per record, whether it was created or updated.
type UpsertResult struct {
	Created int
	Updated int
}

// UpsertCustomers writes records in one pipeline. Each record is its own
// atomic script run, so a crash midway leaves every record either old or new,
// and a retry of the same request converges.
func (s *Store) UpsertCustomers(ctx context.Context, org, campaign string, recs []customer.Record) (UpsertResult, error) {
	k := ckeys(org, campaign)
	keys := []string{k.ids(), k.seq(), k.cust(), k.fields(), k.attr()}
	if err := upsertCustomer.Load(ctx, s.rdb).Err(); err != nil {
		return UpsertResult{}, fmt.Errorf("load upsert script: %w", err)
	}
	var res UpsertResult
	const chunk = 2000
	for start := 0; start < len(recs); start += chunk {
		end := min(start+chunk, len(recs))
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, 0, end-start)
		for _, r := range recs[start:end] {
			data, err := json.Marshal(r)
			if err != nil {
				return res, fmt.Errorf("encode customer %s: %w", r.ID(), err)
			}
			args := make([]any, 0, 5+len(r))
			args = append(args, k.prefix, r.ID(), data, r.PaymentStatus(), r.Language())
			for _, f := range presentFields(r) {
				args = append(args, f)
			}
			cmds = append(cmds, upsertCustomer.EvalSha(ctx, pipe, keys, args...))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return res, fmt.Errorf("upsert customers: %w", err)
		}
		for _, c := range cmds {
			if n, _ := c.Int(); n == 1 {
				res.Created++
			} else {
				res.Updated++
			}
		}
	}
	return res, nil
}

// CustomerCount returns how many customers the campaign has.
func (s *Store) CustomerCount(ctx context.Context, org, campaign string) (int64, error) {
	n, err := s.rdb.ZCard(ctx, ckeys(org, campaign).ids()).Result()
	if err != nil {
		return 0, fmt.Errorf("count customers: %w", err)
	}
	return n, nil
}

// CustomerIDs returns customer ids in insertion order, from start to stop
// inclusive (stop -1 = to the end).
func (s *Store) CustomerIDs(ctx context.Context, org, campaign string, start, stop int64) ([]string, error) {
	ids, err := s.rdb.ZRange(ctx, ckeys(org, campaign).ids(), start, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("read customer ids: %w", err)
	}
	return ids, nil
}

// InsertionOrder returns the insertion sequence of each id, 0 for an id the
// campaign does not have.
func (s *Store) InsertionOrder(ctx context.Context, org, campaign string, ids []string) ([]float64, error) {
	out := make([]float64, 0, len(ids))
	const chunk = 10000
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.FloatSliceCmd, 0, len(ids)/chunk+1)
	for start := 0; start < len(ids); start += chunk {
		cmds = append(cmds, pipe.ZMScore(ctx, ckeys(org, campaign).ids(), ids[start:min(start+chunk, len(ids))]...))
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, fmt.Errorf("read insertion order: %w", err)
	}
	for _, c := range cmds {
		out = append(out, c.Val()...)
	}
	return out, nil
}

// IndexMembers returns the ids in the status (kind "ps") or language (kind
// "lang") indexes named by values.
func (s *Store) IndexMembers(ctx context.Context, org, campaign, kind string, values []string) (map[string]struct{}, error) {
	k := ckeys(org, campaign)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, 0, len(values))
	for _, v := range values {
		cmds = append(cmds, pipe.SMembers(ctx, k.prefix+kind+":"+v))
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, fmt.Errorf("read %s index: %w", kind, err)
	}
	out := map[string]struct{}{}
	for _, c := range cmds {
		for _, id := range c.Val() {
			out[id] = struct{}{}
		}
	}
	return out, nil
}

// FieldCounts returns, per field name, how many customers have it.
func (s *Store) FieldCounts(ctx context.Context, org, campaign string) (map[string]int64, error) {
	raw, err := s.rdb.HGetAll(ctx, ckeys(org, campaign).fields()).Result()
	if err != nil {
		return nil, fmt.Errorf("read field counts: %w", err)
	}
	out := make(map[string]int64, len(raw))
	for f, v := range raw {
		var n int64
		_, _ = fmt.Sscan(v, &n)
		out[f] = n
	}
	return out, nil
}

// Customers returns the records of ids, nil where a customer does not exist.
func (s *Store) Customers(ctx context.Context, org, campaign string, ids []string) ([]customer.Record, error) {
	out := make([]customer.Record, len(ids))
	const chunk = 1000
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, 0, len(ids)/chunk+1)
	for start := 0; start < len(ids); start += chunk {
		cmds = append(cmds, pipe.HMGet(ctx, ckeys(org, campaign).cust(), ids[start:min(start+chunk, len(ids))]...))
	}
	if len(cmds) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	i := 0
	for _, c := range cmds {
		for _, v := range c.Val() {
			if str, ok := v.(string); ok {
				r, err := customer.Decode([]byte(str))
				if err != nil {
					return nil, fmt.Errorf("decode customer %s: %w", ids[i], err)
				}
				out[i] = r
			}
			i++
		}
	}
	return out, nil
}
