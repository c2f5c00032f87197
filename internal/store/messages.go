package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Outcomes passed to Finish.
const (
	OutSent    = "S"
	OutFailed  = "F"
	OutSkipped = "K"
	OutRelease = "R" // give a claimed message back, unsent (pause, shutdown)
	// OutReleaseAmbiguous gives a message back whose provider call was cut
	// off: it may have reached the provider, so the next run that takes it
	// is told it would be a re-send (see Claim.Resend).
	OutReleaseAmbiguous = "A"
)

// luaPrelude holds helpers shared by the state scripts. complete() stamps the
// completion time when nothing is pending any more.
const luaPrelude = `
local function num(v) return tonumber(v) or 0 end
local function complete(meta, now)
  local v = redis.call('HMGET', meta, 'selected', 'sent', 'failed', 'skipped', 'cancelled', 'completed')
  if num(v[1]) - num(v[2]) - num(v[3]) - num(v[4]) - num(v[5]) <= 0 and (not v[6] or v[6] == '') then
    redis.call('HSET', meta, 'completed', now)
  end
end
local function parse(cur)
  local _, _, owner, lease, attempts = string.find(cur, '^s|([^|]*)|(%d+)|(%d+)$')
  return owner, tonumber(lease), tonumber(attempts)
end
`

// claimScript leases pending messages to one run of a batch. Per message it
// answers the attempt number to make ("1", or the run's own attempt when it
// claims again), "r<attempt>" when it takes over another run's expired lease
// (that run may have sent it), "busy" (leased by a live run), "final" or "C"
// (cancelled). Claim turns these into typed values.
// KEYS: meta, st. ARGV: now, leaseMs, owner, n...
var claimScript = redis.NewScript(luaPrelude + `
local meta, st = KEYS[1], KEYS[2]
local now, lease, owner = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if redis.call('EXISTS', meta) == 0 then return {} end
local cancelled = redis.call('HGET', meta, 'state') == 'cancelled'
local ns = {unpack(ARGV, 4)}
local cur = redis.call('HMGET', st, unpack(ns))
local out, set, claimed, converted = {}, {}, 0, 0
for i, n in ipairs(ns) do
  local c = cur[i]
  local res
  if not c or c == 'p' then
    if cancelled then
      set[#set + 1] = n; set[#set + 1] = 'C'; res = 'C'
    else
      set[#set + 1] = n; set[#set + 1] = 's|' .. owner .. '|' .. (now + lease) .. '|1'
      claimed = claimed + 1; res = '1'
    end
  elseif string.sub(c, 1, 2) == 's|' then
    local o, l, a = parse(c)
    if o == owner then
      res = tostring(a)
    elseif l and l > now then
      res = 'busy'
    elseif cancelled then
      set[#set + 1] = n; set[#set + 1] = 'C'
      converted = converted + 1; res = 'C'
    else
      set[#set + 1] = n; set[#set + 1] = 's|' .. owner .. '|' .. (now + lease) .. '|' .. ((a or 0) + 1)
      res = 'r' .. tostring((a or 0) + 1)
    end
  else
    res = 'final'
  end
  out[i] = res
end
if #set > 0 then redis.call('HSET', st, unpack(set)) end
if claimed > 0 then
  redis.call('HINCRBY', meta, 'inflight', claimed)
  redis.call('HSETNX', meta, 'started', now)
end
if converted > 0 then
  redis.call('HINCRBY', meta, 'inflight', -converted)
  redis.call('HINCRBY', meta, 'cancelled', converted)
  complete(meta, now)
end
return out
`)

// extendScript renews the lease of a claimed message before another attempt.
// It answers the new attempt number, "lost" when the run no longer owns the
// message, or "C" when the initiation was cancelled meanwhile.
// KEYS: meta, st. ARGV: now, leaseMs, owner, n.
var extendScript = redis.NewScript(luaPrelude + `
local meta, st = KEYS[1], KEYS[2]
local now, lease, owner, n = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local cur = redis.call('HGET', st, n)
if not cur or string.sub(cur, 1, 2) ~= 's|' then return 'lost' end
local o, _, a = parse(cur)
if o ~= owner then return 'lost' end
if redis.call('HGET', meta, 'state') == 'cancelled' then
  redis.call('HSET', st, n, 'C')
  redis.call('HINCRBY', meta, 'inflight', -1)
  redis.call('HINCRBY', meta, 'cancelled', 1)
  complete(meta, now)
  return 'C'
end
redis.call('HSET', st, n, 's|' .. owner .. '|' .. (now + lease) .. '|' .. (a + 1))
return tostring(a + 1)
`)

// finishScript moves claimed messages to their final state and the counters
// with them, in one step. Callers always claim before they finish. A sent message picks up a delivery report that came in
// before it. A message already final is left alone, so a repeated or
// concurrent run changes nothing.
// KEYS: meta, st, rec, dlr, errs. ARGV: now, owner, then per message:
// n, outcome, record JSON, error JSON.
var finishScript = redis.NewScript(luaPrelude + `
local meta, st, rec, dlr, errs = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, owner = tonumber(ARGV[1]), ARGV[2]
if redis.call('EXISTS', meta) == 0 then return 0 end
local ns = {}
for i = 3, #ARGV, 4 do ns[#ns + 1] = ARGV[i] end
local cur = redis.call('HMGET', st, unpack(ns))
local early = redis.call('HLEN', dlr) > 0
local set, recs, d = {}, {}, {inflight = 0, sent = 0, delivered = 0, failed = 0, skipped = 0}
local applied, nerrs = 0, nil
for j, n in ipairs(ns) do
  local i = 3 + 4 * (j - 1)
  local out, r, e = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local c = cur[j]
  local claimedBy = nil
  if c and string.sub(c, 1, 2) == 's|' then claimedBy = parse(c) end
  if out == 'R' then
    if claimedBy == owner then
      set[#set + 1] = n; set[#set + 1] = 'p'
      d.inflight = d.inflight - 1
    end
  elseif out == 'A' then
    -- Stays leased, with the lease already expired: the next run takes it
    -- over at once and knows it may be a re-send. It stays in flight.
    if claimedBy == owner then
      local _, _, a = parse(c)
      set[#set + 1] = n; set[#set + 1] = 's|' .. owner .. '|0|' .. a
    end
  elseif claimedBy then
    -- Any run's result stands: a run whose lease expired and was taken over
    -- still made a real attempt; the later run then finds the message final.
    d.inflight = d.inflight - 1
    local final = out
    if out == 'S' then
      d.sent = d.sent + 1
      local report = early and redis.call('HGET', dlr, n)
      if report then
        redis.call('HDEL', dlr, n)
        if string.sub(report, 1, 1) == 'D' then
          final = 'D'; d.delivered = d.delivered + 1
        else
          final = 'F'; d.sent = d.sent - 1; d.failed = d.failed + 1
          local ej = redis.call('HGET', dlr, n .. ':e')
          if ej then
            redis.call('HDEL', dlr, n .. ':e')
            nerrs = nerrs or redis.call('LLEN', errs)
            if nerrs < 100 then redis.call('RPUSH', errs, ej); nerrs = nerrs + 1 end
          end
        end
        recs[#recs + 1] = n .. ':dlr'; recs[#recs + 1] = report
      end
    elseif out == 'F' then
      d.failed = d.failed + 1
      if e ~= '' then
        nerrs = nerrs or redis.call('LLEN', errs)
        if nerrs < 100 then redis.call('RPUSH', errs, e); nerrs = nerrs + 1 end
      end
    else
      d.skipped = d.skipped + 1
    end
    set[#set + 1] = n; set[#set + 1] = final
    if r ~= '' then recs[#recs + 1] = n; recs[#recs + 1] = r end
    applied = applied + 1
  end
end
if #set > 0 then redis.call('HSET', st, unpack(set)) end
if #recs > 0 then redis.call('HSET', rec, unpack(recs)) end
for k, v in pairs(d) do
  if v ~= 0 then redis.call('HINCRBY', meta, k, v) end
end
complete(meta, now)
return applied
`)

// cancelScript cancels what is pending and not in flight. In-flight messages
// finish as sent or failed. A finished or cancelled initiation is unchanged.
// KEYS: meta. ARGV: now. Returns the number of messages cancelled.
var cancelScript = redis.NewScript(luaPrelude + `
local meta, now = KEYS[1], tonumber(ARGV[1])
if redis.call('EXISTS', meta) == 0 then return -1 end
if redis.call('HGET', meta, 'state') == 'cancelled' then return 0 end
local v = redis.call('HMGET', meta, 'selected', 'sent', 'failed', 'skipped', 'cancelled', 'inflight')
local pending = num(v[1]) - num(v[2]) - num(v[3]) - num(v[4]) - num(v[5])
if pending <= 0 then return 0 end
local c = pending - num(v[6])
redis.call('HSET', meta, 'state', 'cancelled', 'cancelledAt', now)
redis.call('HINCRBY', meta, 'cancelled', c)
complete(meta, now)
return c
`)

// abandonScript ends messages of a batch that no task will run any more: a
// pending message or one whose lease has expired fails (or is cancelled when
// the initiation was), one still leased is left for its live run.
// KEYS: meta, st, errs. ARGV: now, then per message n, error JSON.
// Returns how many messages are still leased.
var abandonScript = redis.NewScript(luaPrelude + `
local meta, st, errs = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
if redis.call('EXISTS', meta) == 0 then return 0 end
local cancelled = redis.call('HGET', meta, 'state') == 'cancelled'
local leased = 0
for i = 2, #ARGV, 2 do
  local n, e = ARGV[i], ARGV[i + 1]
  local cur = redis.call('HGET', st, n)
  local inflight = false
  local open = not cur or cur == 'p'
  if cur and string.sub(cur, 1, 2) == 's|' then
    local _, l = parse(cur)
    if l and l > now then leased = leased + 1 else open = true; inflight = true end
  end
  if open then
    if inflight then redis.call('HINCRBY', meta, 'inflight', -1) end
    if cancelled then
      redis.call('HSET', st, n, 'C')
      if inflight then redis.call('HINCRBY', meta, 'cancelled', 1) end
    else
      redis.call('HSET', st, n, 'F')
      redis.call('HINCRBY', meta, 'failed', 1)
      if redis.call('LLEN', errs) < 100 then redis.call('RPUSH', errs, e) end
    end
  end
end
complete(meta, now)
return leased
`)

// Abandon fails (or cancels) the unfinished messages that no run holds, with
// their errors; it returns how many are still leased by a run.
func (s *Store) Abandon(ctx context.Context, id string, ns []int, whys []MessageError) (int, error) {
	k := ikeys(id)
	args := make([]any, 0, 1+2*len(ns))
	args = append(args, s.now().UnixMilli())
	for i, n := range ns {
		e, _ := json.Marshal(whys[i])
		args = append(args, n, e)
	}
	n, err := abandonScript.Run(ctx, s.rdb, []string{k.meta(), k.st(), k.errs()}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("abandon messages: %w", err)
	}
	return n, nil
}

// RequeueCount adds one to how often the reconciler queued batch b again.
func (s *Store) RequeueCount(ctx context.Context, id string, b int) (int64, error) {
	n, err := s.rdb.HIncrBy(ctx, ikeys(id).meta(), "requeue:"+strconv.Itoa(b), 1).Result()
	if err != nil {
		return 0, fmt.Errorf("count requeue: %w", err)
	}
	return n, nil
}

// MessageRecord is what the last attempt at a message left.
type MessageRecord struct {
	To                string     `json:"to,omitempty"`
	Body              string     `json:"body,omitempty"`
	Attempts          int        `json:"attempts"`
	ProviderMessageID string     `json:"providerMessageId,omitempty"`
	Code              string     `json:"code,omitempty"`
	Error             string     `json:"error,omitempty"`
	SentAt            *time.Time `json:"sentAt,omitempty"`
	UpdatedAt         time.Time  `json:"updatedAt"`
	// Resent is set when the message was sent again after the run that
	// held it died or lost its lease (it may have reached the provider twice).
	Resent bool `json:"resent,omitempty"`
}

// Outcome is the end of one message, for Finish.
type Outcome struct {
	N       int
	Outcome string // OutSent, OutFailed, OutSkipped or OutRelease
	Record  *MessageRecord
	Err     *MessageError // listed in the initiation's errors when failed
}

// Finish applies outcomes of owner's run in one atomic step and returns how
// many changed a state.
func (s *Store) Finish(ctx context.Context, id, owner string, outs []Outcome) (int, error) {
	if len(outs) == 0 {
		return 0, nil
	}
	k := ikeys(id)
	args := make([]any, 0, 2+4*len(outs))
	args = append(args, s.now().UnixMilli(), owner)
	for _, o := range outs {
		var rec, e []byte
		if o.Record != nil {
			rec = o.Record.appendJSON(make([]byte, 0, 256))
		}
		if o.Err != nil {
			e, _ = json.Marshal(o.Err)
		}
		args = append(args, strconv.Itoa(o.N), o.Outcome, rec, e)
	}
	n, err := finishScript.Run(ctx, s.rdb, []string{k.meta(), k.st(), k.rec(), k.dlr(), k.errs()}, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("finish messages: %w", err)
	}
	return n, nil
}

// Cancel cancels the initiation's pending messages; it returns how many.
func (s *Store) Cancel(ctx context.Context, id string) (int64, error) {
	n, err := cancelScript.Run(ctx, s.rdb, []string{ikeys(id).meta()}, s.now().UnixMilli()).Int64()
	if err != nil {
		return 0, fmt.Errorf("cancel initiation: %w", err)
	}
	if n < 0 {
		return 0, notFound("Initiation", id)
	}
	return n, nil
}

// AllStates returns every recorded message state of an initiation; tests and
// the reconciler use it to check counters against states.
func (s *Store) AllStates(ctx context.Context, id string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, ikeys(id).st()).Result()
	if err != nil {
		return nil, fmt.Errorf("read states: %w", err)
	}
	return m, nil
}
