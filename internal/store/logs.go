package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/apperr"
)

// LogQuery selects messages for GET /api/v1/logs.
type LogQuery struct {
	Org          string
	CampaignID   string   // optional
	InitiationID string   // optional
	Statuses     []string // any of these (MessageStatuses); empty: all
	Phone        string   // E.164 recipient; empty: any
	Offset       int64
	Limit        int64
}

// scanChunk is how many messages one pipelined read covers while scanning.
const scanChunk = 1000

type iniCounts struct {
	id string
	c  Counters
}

// Logs returns one page of the org's messages that match q, newest
// initiations first and messages in number order, and how many match.
//
// The work is bounded by the org's initiations. Without a phone filter the
// total comes from each initiation's counters, which count messages by
// status exactly; only the initiations that overlap the page are read, and
// with a status filter only their states are scanned, in pipelined chunks,
// until the page is full. A phone filter has to look at every message's
// recipient, so it scans all messages of the candidate initiations.
func (s *Store) Logs(ctx context.Context, q LogQuery) ([]MessageView, int64, error) {
	cands, err := s.logCandidates(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	want := make(map[string]bool, len(q.Statuses))
	for _, st := range q.Statuses {
		want[st] = true
	}
	matches := func(status string) bool { return len(want) == 0 || want[status] }

	var (
		total int64
		refs  []msgRef
		views []MessageView
	)
	room := func() bool { return int64(len(refs)+len(views)) < q.Limit }
	for _, cand := range cands {
		if q.Phone == "" {
			cnt := countByStatus(cand.c, q.Statuses)
			skip := q.Offset - total
			total += cnt
			if cnt <= 0 || skip >= cnt || !room() {
				continue
			}
			ini, err := s.logInitiation(ctx, q, cand.id)
			if err != nil {
				return nil, 0, err
			}
			if ini == nil {
				continue
			}
			more, err := s.pageRefs(ctx, ini, cand.c.CancelledState, max(skip, 0), q.Limit-int64(len(refs)), want)
			if err != nil {
				return nil, 0, err
			}
			refs = append(refs, more...)
			continue
		}
		ini, err := s.logInitiation(ctx, q, cand.id)
		if err != nil {
			return nil, 0, err
		}
		if ini == nil {
			continue
		}
		for from := 0; int64(from) < ini.Initiated; from += scanChunk {
			chunk := make([]msgRef, 0, scanChunk)
			for n := from; n < from+scanChunk && int64(n) < ini.Initiated; n++ {
				chunk = append(chunk, msgRef{ini: ini, cancelled: cand.c.CancelledState, n: n})
			}
			vs, err := s.messageViews(ctx, chunk)
			if err != nil {
				return nil, 0, err
			}
			for _, v := range vs {
				if v.To != q.Phone || !matches(v.Status) {
					continue
				}
				if total >= q.Offset && room() {
					views = append(views, v)
				}
				total++
			}
		}
	}
	if q.Phone != "" {
		return views, total, nil
	}
	views, err = s.messageViews(ctx, refs)
	if err != nil {
		return nil, 0, err
	}
	return views, total, nil
}

// pageRefs returns up to limit messages of ini whose status is in want (any
// when empty), after skipping skip of them. Without a status filter message
// numbers are the positions; with one, states are read in chunks until the
// page is full.
func (s *Store) pageRefs(ctx context.Context, ini *Initiation, cancelled bool, skip, limit int64, want map[string]bool) ([]msgRef, error) {
	var out []msgRef
	if len(want) == 0 {
		for n := skip; n < ini.Initiated && int64(len(out)) < limit; n++ {
			out = append(out, msgRef{ini: ini, cancelled: cancelled, n: int(n)})
		}
		return out, nil
	}
	var idx int64
	for from := 0; int64(from) < ini.Initiated && int64(len(out)) < limit; from += scanChunk {
		ns := make([]int, 0, scanChunk)
		for n := from; n < from+scanChunk && int64(n) < ini.Initiated; n++ {
			ns = append(ns, n)
		}
		states, err := s.MessageStates(ctx, ini.ID, ns)
		if err != nil {
			return nil, err
		}
		for i, st := range states {
			if !want[st.Status(cancelled)] {
				continue
			}
			if idx >= skip && int64(len(out)) < limit {
				out = append(out, msgRef{ini: ini, cancelled: cancelled, n: ns[i]})
			}
			idx++
		}
	}
	return out, nil
}

// logInitiation reads a candidate's record; nil when it is gone or does not
// belong to the query's org and campaign.
func (s *Store) logInitiation(ctx context.Context, q LogQuery, id string) (*Initiation, error) {
	ini, err := s.Initiation(ctx, q.Org, id)
	if apperr.KindOf(err) == apperr.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if (q.CampaignID != "" && ini.CampaignID != q.CampaignID) || ini.BatchSize <= 0 {
		return nil, nil
	}
	return ini, nil
}

// countByStatus is how many of an initiation's messages have one of the
// statuses, from its counters. Customers that failed at queue time
// (selected - initiated) are counted in failed but have no message.
func countByStatus(c Counters, statuses []string) int64 {
	if len(statuses) == 0 {
		return c.Initiated
	}
	var n int64
	for _, st := range statuses {
		switch st {
		case MsgPending:
			n += c.Pending()
		case MsgSent:
			n += c.Sent - c.Delivered
		case MsgDelivered:
			n += c.Delivered
		case MsgFailed:
			n += c.Failed - (c.Selected - c.Initiated)
		case MsgSkipped:
			n += c.Skipped
		case MsgCancelled:
			n += c.Cancelled
		}
	}
	return n
}

// logCandidates lists the initiations to look at, newest first, with their
// counters read in pipelined chunks.
func (s *Store) logCandidates(ctx context.Context, q LogQuery) ([]iniCounts, error) {
	var ids []string
	switch {
	case q.InitiationID != "":
		// Checked here, before its counters add to any total: another org's
		// initiation must look exactly like a missing one.
		ini, err := s.logInitiation(ctx, q, q.InitiationID)
		if err != nil {
			return nil, err
		}
		if ini != nil {
			ids = []string{ini.ID}
		}
	default:
		key := orgInitiations(q.Org)
		if q.CampaignID != "" {
			key = orgCampaignInitiations(q.Org, q.CampaignID)
		}
		var err error
		if ids, err = s.rdb.ZRevRange(ctx, key, 0, -1).Result(); err != nil {
			return nil, fmt.Errorf("list initiations: %w", err)
		}
	}
	out := make([]iniCounts, 0, len(ids))
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(part))
		for i, id := range part {
			cmds[i] = pipe.HMGet(ctx, ikeys(id).meta(), counterFields...)
		}
		if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
			return nil, fmt.Errorf("read initiation counters: %w", err)
		}
		for i, id := range part {
			v := cmds[i].Val()
			num := func(j int) int64 {
				str, _ := v[j].(string)
				n, _ := strconv.ParseInt(str, 10, 64)
				return n
			}
			if v[0] == nil {
				continue // gone, or an API that died before writing it
			}
			out = append(out, iniCounts{id: id, c: Counters{
				Selected: num(0), Initiated: num(1), Sent: num(2), Delivered: num(3), Failed: num(4),
				Skipped: num(5), Cancelled: num(6), Inflight: num(7), CancelledState: v[9] == "cancelled",
			}})
		}
	}
	return out, nil
}
