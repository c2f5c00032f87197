package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/customer"
)

// maxTxAttempts bounds the retries of an optimistic (WATCH) transaction that
// keeps losing to concurrent writers.
const maxTxAttempts = 50

var errContention = errors.New("too many concurrent writes; try again")

// retryTx runs fn, a WATCH transaction, again while it loses to a concurrent
// write, with a short jittered pause so that contenders spread out.
func retryTx(ctx context.Context, what string, fn func() error) error {
	for attempt := range maxTxAttempts {
		err := fn()
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
		d := time.Duration(1+rand.IntN(1+min(attempt, 10))) * time.Millisecond //nolint:gosec // jitter
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(d):
		}
	}
	return fmt.Errorf("%s: %w", what, errContention)
}

// UpdateCampaign applies change to the stored campaign and writes it back,
// data and status together. It runs as a WATCH transaction on the meta key,
// so a concurrent update, pause or delete is never overwritten with stale
// data: a delete in between makes it NotFound instead of resurrecting the
// campaign. change reports whether anything changed; false writes nothing.
func (s *Store) UpdateCampaign(ctx context.Context, org, id string, change func(c *Campaign) (bool, error)) (*Campaign, error) {
	if !ValidID(id) {
		return nil, notFound("Campaign", id)
	}
	k := ckeys(org, id)
	var out *Campaign
	err := retryTx(ctx, "update campaign", func() error {
		return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			vals, err := tx.HMGet(ctx, k.meta(), "data", "status").Result()
			if err != nil {
				return fmt.Errorf("read campaign: %w", err)
			}
			data, _ := vals[0].(string)
			if data == "" {
				return notFound("Campaign", id)
			}
			var c Campaign
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				return fmt.Errorf("decode campaign %s: %w", id, err)
			}
			c.Org = org
			if st, _ := vals[1].(string); st != "" {
				c.Status = st
			}
			changed, err := change(&c)
			if err != nil {
				return err
			}
			out = &c
			if !changed {
				return nil
			}
			c.UpdatedAt = s.Now()
			enc, err := json.Marshal(&c)
			if err != nil {
				return fmt.Errorf("encode campaign: %w", err)
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, k.meta(), "data", enc, "status", c.Status)
				return nil
			})
			return err
		}, k.meta())
	})
	if err != nil {
		return nil, err
	}
	n, err := s.rdb.ZCard(ctx, k.ids()).Result()
	if err != nil {
		return nil, fmt.Errorf("count customers: %w", err)
	}
	out.RowsLen = n
	return out, nil
}

// PauseCampaign and ResumeCampaign set the status; both are idempotent and
// keep pausedAt of the first pause. Workers see the status field within their
// PauseCheck interval.
func (s *Store) PauseCampaign(ctx context.Context, org, id string) (*Campaign, error) {
	return s.setStatus(ctx, org, id, StatusPaused)
}

// ResumeCampaign is PauseCampaign's inverse.
func (s *Store) ResumeCampaign(ctx context.Context, org, id string) (*Campaign, error) {
	return s.setStatus(ctx, org, id, StatusActive)
}

func (s *Store) setStatus(ctx context.Context, org, id, status string) (*Campaign, error) {
	return s.UpdateCampaign(ctx, org, id, func(c *Campaign) (bool, error) {
		if c.Status == status {
			return false, nil
		}
		c.Status = status
		if status == StatusPaused {
			now := s.Now()
			c.PausedAt = &now
		} else {
			c.PausedAt = nil
		}
		return true, nil
	})
}

// AllCampaigns returns every campaign of an org, newest first, reading them
// in pipelined chunks rather than one round trip each.
func (s *Store) AllCampaigns(ctx context.Context, org string) ([]*Campaign, error) {
	ids, err := s.rdb.ZRevRange(ctx, orgCampaigns(org), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	out := make([]*Campaign, 0, len(ids))
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		pipe := s.rdb.Pipeline()
		metas := make([]*redis.SliceCmd, len(part))
		rows := make([]*redis.IntCmd, len(part))
		for i, id := range part {
			k := ckeys(org, id)
			metas[i] = pipe.HMGet(ctx, k.meta(), "data", "status")
			rows[i] = pipe.ZCard(ctx, k.ids())
		}
		if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
			return nil, fmt.Errorf("read campaigns: %w", err)
		}
		for i, id := range part {
			vals := metas[i].Val()
			data, _ := vals[0].(string)
			if data == "" {
				continue // deleted between the listing and this read
			}
			var c Campaign
			if err := json.Unmarshal([]byte(data), &c); err != nil {
				return nil, fmt.Errorf("decode campaign %s: %w", id, err)
			}
			c.Org = org
			if st, _ := vals[1].(string); st != "" {
				c.Status = st
			}
			c.RowsLen = rows[i].Val()
			out = append(out, &c)
		}
	}
	return out, nil
}

// CampaignDeletion is what DeleteCampaign did.
type CampaignDeletion struct {
	Initiations int   // initiations of the campaign
	Cancelled   int64 // messages cancelled
}

// DeleteCampaign cancels the campaign's initiations, removes its customers
// and indexes, unlists it and finally removes its metadata. The order makes
// it crash-safe: until the last step the campaign is still readable, so a
// retried DELETE finishes the job; nothing is sent to customers of a deleted
// campaign, because their initiations were cancelled first. Initiations and
// their message records stay readable.
func (s *Store) DeleteCampaign(ctx context.Context, org, id string) (CampaignDeletion, error) {
	var res CampaignDeletion
	if !ValidID(id) {
		return res, notFound("Campaign", id)
	}
	k := ckeys(org, id)
	ok, err := s.rdb.HExists(ctx, k.meta(), "data").Result()
	if err != nil {
		return res, fmt.Errorf("read campaign: %w", err)
	}
	if !ok {
		return res, notFound("Campaign", id)
	}
	n, c, err := s.cancelCampaignInitiations(ctx, org, id)
	if err != nil {
		return res, err
	}
	res.Initiations, res.Cancelled = n, c
	if err := s.dropCampaignKeys(ctx, org, id, dropData); err != nil {
		return res, err
	}
	if err := s.rdb.ZRem(ctx, orgCampaigns(org), id).Err(); err != nil {
		return res, fmt.Errorf("unlist campaign: %w", err)
	}
	// dropAll also takes customers a concurrent add wrote meanwhile.
	if err := s.dropCampaignKeys(ctx, org, id, dropAll); err != nil {
		return res, err
	}
	// An initiate that read the campaign before it went may have stored an
	// initiation since: cancel it too.
	n, c, err = s.cancelCampaignInitiations(ctx, org, id)
	if err != nil {
		return res, err
	}
	res.Initiations = max(res.Initiations, n)
	res.Cancelled += c
	return res, nil
}

// cancelCampaignInitiations cancels every initiation of the campaign in
// pipelined script calls; it returns how many there are and how many messages
// were cancelled.
func (s *Store) cancelCampaignInitiations(ctx context.Context, org, campaign string) (int, int64, error) {
	ids, err := s.rdb.ZRange(ctx, orgCampaignInitiations(org, campaign), 0, -1).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("list initiations: %w", err)
	}
	if len(ids) == 0 {
		return 0, 0, nil
	}
	if err := cancelScript.Load(ctx, s.rdb).Err(); err != nil {
		return 0, 0, fmt.Errorf("load cancel script: %w", err)
	}
	var total int64
	now := s.now().UnixMilli()
	const chunk = 200
	for start := 0; start < len(ids); start += chunk {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, 0, chunk)
		for _, iid := range ids[start:min(start+chunk, len(ids))] {
			cmds = append(cmds, cancelScript.EvalSha(ctx, pipe, []string{ikeys(iid).meta()}, now))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, 0, fmt.Errorf("cancel initiations: %w", err)
		}
		for _, c := range cmds {
			if n, _ := c.Int64(); n > 0 { // -1: the initiation is gone
				total += n
			}
		}
	}
	return len(ids), total, nil
}

// Modes of dropKeysScript.
const (
	dropData    = "data"    // every key of the campaign but meta
	dropAll     = "all"     // every key, meta included
	dropOrphans = "orphans" // every key, only when there is no meta
)

// dropKeysScript unlinks a campaign's keys in one atomic step. The index sets
// are named by the caller, who scanned the attr hash for them: scanning in
// Lua would block Redis for the whole hash.
// KEYS: meta. ARGV: key prefix, mode, index set names ("ps:x", "lang:y")...
// Returns the number of keys removed, -1 when mode is orphans and meta exists.
var dropKeysScript = redis.NewScript(`
local prefix, mode = ARGV[1], ARGV[2]
if mode == 'orphans' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local keys = {prefix .. 'ids', prefix .. 'seq', prefix .. 'cust', prefix .. 'fields', prefix .. 'attr'}
for i = 3, #ARGV do keys[#keys + 1] = prefix .. ARGV[i] end
if mode ~= 'data' then keys[#keys + 1] = KEYS[1] end
local n = 0
for i = 1, #keys, 1000 do n = n + redis.call('UNLINK', unpack(keys, i, math.min(i + 999, #keys))) end
return n
`)

// dropCampaignKeys removes the campaign's keys (see the modes). The index
// sets are those of every payment status and of every language the attr
// hash names, read with HSCAN so that Redis is never blocked for long.
func (s *Store) dropCampaignKeys(ctx context.Context, org, id, mode string) error {
	k := ckeys(org, id)
	names := map[string]struct{}{}
	for _, ps := range customer.PaymentStatuses {
		names["ps:"+ps] = struct{}{}
	}
	iter := s.rdb.HScan(ctx, k.attr(), 0, "", 1000).Iterator()
	for i := 0; iter.Next(ctx); i++ {
		if i%2 == 0 {
			continue // field: the customer id
		}
		ps, lang := indexedAs(iter.Val())
		if ps != "" {
			names["ps:"+ps] = struct{}{}
		}
		if lang != "" {
			names["lang:"+lang] = struct{}{}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan campaign indexes: %w", err)
	}
	args := make([]any, 0, 2+len(names))
	args = append(args, k.prefix, mode)
	for n := range names {
		args = append(args, n)
	}
	if err := dropKeysScript.Run(ctx, s.rdb, []string{k.meta()}, args...).Err(); err != nil {
		return fmt.Errorf("delete campaign keys: %w", err)
	}
	return nil
}

// cutTab splits an attr value "status\tlanguage\tfields" into status and language.
// indexedAs reads the status and language an attr value names: its first
// two tab-separated fields (more may follow).
func indexedAs(attr string) (status, language string) {
	status, rest, _ := strings.Cut(attr, "\t")
	language, _, _ = strings.Cut(rest, "\t")
	return status, language
}

// DropOrphanCustomers removes customer keys left behind by a campaign that no
// longer exists (a customer write that raced a delete), so that a campaign
// created again under the same id starts empty. It does nothing when the
// campaign exists.
func (s *Store) DropOrphanCustomers(ctx context.Context, org, id string) error {
	if !ValidID(id) {
		return nil
	}
	return s.dropCampaignKeys(ctx, org, id, dropOrphans)
}

// campaignExists reports whether the campaign's metadata is there.
func (s *Store) campaignExists(ctx context.Context, org, id string) (bool, error) {
	ok, err := s.rdb.HExists(ctx, ckeys(org, id).meta(), "data").Result()
	if err != nil {
		return false, fmt.Errorf("read campaign: %w", err)
	}
	return ok, nil
}

// CreateCampaignWithCustomers creates c and then adds recs. Leftovers of an
// earlier campaign with the same id are dropped first. Records are written
// after the campaign exists, so a create that conflicts never touches the
// existing campaign's customers.
func (s *Store) CreateCampaignWithCustomers(ctx context.Context, c *Campaign, recs []customer.Record, chunk int) (UpsertResult, int, error) {
	if err := s.DropOrphanCustomers(ctx, c.Org, c.ID); err != nil {
		return UpsertResult{}, 0, err
	}
	if err := s.CreateCampaign(ctx, c); err != nil {
		return UpsertResult{}, 0, err
	}
	if len(recs) == 0 {
		return UpsertResult{}, 0, nil
	}
	return s.AddCustomers(ctx, c.Org, c.ID, recs, chunk)
}
