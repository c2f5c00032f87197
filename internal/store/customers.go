package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/customer"
)

// upsertCustomers writes many records in one call and moves each between the
// status and language indexes in the same step, so a filter never sees a
// customer in two statuses or in none. A known id keeps its place in the
// insertion order. The attr hash remembers, per customer, what it is indexed
// under and which fields it has ("status\tlanguage\tf1\31f2..."), so an update
// needs no JSON decoding in Lua; field counts are summed per call.
//
// KEYS: ids, seq, cust, fields, attr. ARGV: key prefix, then per record: id,
// record JSON, status, language (both as indexed, computed in Go so Lua's
// ASCII-only string.lower never decides an index), present fields joined by
// \31. Returns how many records were new.
var upsertCustomers = redis.NewScript(`
local prefix = ARGV[1]
local created, delta = 0, {}
for i = 2, #ARGV, 5 do
  local id, data, ps, lang, fields = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local attr = redis.call('HGET', KEYS[5], id)
  local oldps, oldlang = '', ''
  if attr then
    local a = string.find(attr, '\t', 1, true)
    local b = string.find(attr, '\t', a + 1, true)
    oldps = string.sub(attr, 1, a - 1)
    oldlang = string.sub(attr, a + 1, (b or 0) - 1)
    if b then
      for f in string.gmatch(string.sub(attr, b + 1), '[^\31]+') do delta[f] = (delta[f] or 0) - 1 end
    end
  else
    redis.call('ZADD', KEYS[1], 'NX', redis.call('INCR', KEYS[2]), id)
    created = created + 1
  end
  if oldps ~= ps then
    if oldps ~= '' then redis.call('SREM', prefix .. 'ps:' .. oldps, id) end
    if ps ~= '' then redis.call('SADD', prefix .. 'ps:' .. ps, id) end
  end
  if oldlang ~= lang then
    if oldlang ~= '' then redis.call('SREM', prefix .. 'lang:' .. oldlang, id) end
    if lang ~= '' then redis.call('SADD', prefix .. 'lang:' .. lang, id) end
  end
  for f in string.gmatch(fields, '[^\31]+') do delta[f] = (delta[f] or 0) + 1 end
  redis.call('HSET', KEYS[3], id, data)
  redis.call('HSET', KEYS[5], id, ps .. '\t' .. lang .. '\t' .. fields)
end
for f, d in pairs(delta) do
  if d ~= 0 and redis.call('HINCRBY', KEYS[4], f, d) <= 0 then redis.call('HDEL', KEYS[4], f) end
end
return created
`)

// fieldSep separates field names in the attr hash; a key holding it is
// never counted (it cannot be a template placeholder either).
const fieldSep = '\x1f'

// presentFields lists the fields of r that count as present for templates:
// the same rule as the upsert script's (not null, not "").
func presentFields(r customer.Record) []string {
	out := make([]string, 0, len(r))
	for k := range r {
		if v, ok := r.Get(k); ok && v != "" && !strings.ContainsRune(k, fieldSep) {
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

// UpsertCustomers writes records, up to 200 per script call, all calls in
// one pipeline. Each call is atomic, so a crash midway leaves every record
// either old or new, and a retry of the same request converges.
func (s *Store) UpsertCustomers(ctx context.Context, org, campaign string, recs []customer.Record) (UpsertResult, error) {
	k := ckeys(org, campaign)
	keys := []string{k.ids(), k.seq(), k.cust(), k.fields(), k.attr()}
	if err := upsertCustomers.Load(ctx, s.rdb).Err(); err != nil {
		return UpsertResult{}, fmt.Errorf("load upsert script: %w", err)
	}
	const perCall = 200
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, 0, len(recs)/perCall+1)
	for start := 0; start < len(recs); start += perCall {
		chunk := recs[start:min(start+perCall, len(recs))]
		args := make([]any, 0, 1+5*len(chunk))
		args = append(args, k.prefix)
		for _, r := range chunk {
			one, err := upsertArgs(k, r)
			if err != nil {
				return UpsertResult{}, err
			}
			args = append(args, one[1:]...)
		}
		cmds = append(cmds, upsertCustomers.EvalSha(ctx, pipe, keys, args...))
	}
	if len(cmds) == 0 {
		return UpsertResult{}, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return UpsertResult{}, fmt.Errorf("upsert customers: %w", err)
	}
	var res UpsertResult
	for _, c := range cmds {
		n, _ := c.Int()
		res.Created += n
	}
	res.Updated = len(recs) - res.Created
	return res, nil
}

// upsertArgs are the upsert script's ARGV for the single record r (see
// upsertCustomers in customers.go; keep the two in step).
func upsertArgs(k campaignKeys, r customer.Record) ([]any, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode customer %s: %w", r.ID(), err)
	}
	return []any{k.prefix, r.ID(), data, r.PaymentStatus(), r.Language(), strings.Join(presentFields(r), string(fieldSep))}, nil
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
