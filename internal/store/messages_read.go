package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/apperr"
	"github.com/campaignsms/campaignsms/internal/customer"
)

// Message statuses of SPEC §4.6.
const (
	MsgPending   = "pending"
	MsgSent      = "sent"
	MsgDelivered = "delivered"
	MsgFailed    = "failed"
	MsgSkipped   = "skipped"
	MsgCancelled = "cancelled"
)

// MessageStatuses lists every message status.
var MessageStatuses = []string{MsgPending, MsgSent, MsgDelivered, MsgFailed, MsgSkipped, MsgCancelled}

// MessageView is one message as the API shows it.
type MessageView struct {
	ID           string
	N            int
	InitiationID string
	CampaignID   string
	TemplateID   string
	CustomerID   string
	IDField      string // "loan_id" or "lead_id", as the customer record has it
	Status       string
	To           string          // where it went, else where it would go now
	Record       *MessageRecord  // nil before the first attempt
	Report       *DeliveryReport // nil until a delivery report is applied
	CreatedAt    time.Time       // the initiation's creation
}

// msgRef names message n of an initiation.
type msgRef struct {
	ini       *Initiation
	cancelled bool
	n         int
}

func asMessageNotFound(err error, messageID string) error {
	if apperr.KindOf(err) == apperr.NotFound {
		return notFound("Message", messageID)
	}
	return err
}

// Message returns message messageID of org, or NotFound (also for another
// org's message).
func (s *Store) Message(ctx context.Context, org, messageID string) (*MessageView, error) {
	iid, n, ok := ParseMessageID(messageID)
	if !ok {
		return nil, notFound("Message", messageID)
	}
	ini, err := s.Initiation(ctx, org, iid)
	if err != nil {
		return nil, asMessageNotFound(err, messageID)
	}
	if int64(n) >= ini.Initiated || ini.BatchSize <= 0 {
		return nil, notFound("Message", messageID)
	}
	state, err := s.rdb.HGet(ctx, ikeys(iid).meta(), "state").Result()
	if err != nil && !isNil(err) {
		return nil, fmt.Errorf("read initiation state: %w", err)
	}
	views, err := s.messageViews(ctx, []msgRef{{ini: ini, cancelled: state == "cancelled", n: n}})
	if err != nil {
		return nil, err
	}
	return &views[0], nil
}

// messageViews reads the given messages in two pipelined round trips: their
// batches, states and records, then their customers' records (which tell
// loan_id from lead_id and where a message not yet sent would go).
func (s *Store) messageViews(ctx context.Context, refs []msgRef) ([]MessageView, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	batches := map[string]*redis.StringCmd{}
	states := make([]*redis.StringCmd, len(refs))
	recs := make([]*redis.SliceCmd, len(refs))
	for i, r := range refs {
		k := ikeys(r.ini.ID)
		bk := r.ini.ID + "\n" + strconv.Itoa(r.n/r.ini.BatchSize)
		if _, ok := batches[bk]; !ok {
			batches[bk] = pipe.HGet(ctx, k.batch(), strconv.Itoa(r.n/r.ini.BatchSize))
		}
		n := strconv.Itoa(r.n)
		states[i] = pipe.HGet(ctx, k.st(), n)
		recs[i] = pipe.HMGet(ctx, k.rec(), n, n+":dlr")
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	split := make(map[string][]string, len(batches))
	for bk, c := range batches {
		split[bk] = strings.Split(c.Val(), "\n")
	}

	out := make([]MessageView, len(refs))
	type campaignRef struct{ org, campaign string }
	wanted := map[campaignRef][]int{} // customers to read -> indexes into out
	for i, r := range refs {
		v := &out[i]
		v.ID, v.N = MessageID(r.ini.ID, r.n), r.n
		v.InitiationID, v.CampaignID, v.TemplateID = r.ini.ID, r.ini.CampaignID, r.ini.TemplateID
		v.CreatedAt = r.ini.CreatedAt.UTC()
		v.IDField = customer.FieldLoanID
		v.Status = parseState(states[i].Val()).Status(r.cancelled)
		if ids := split[r.ini.ID+"\n"+strconv.Itoa(r.n/r.ini.BatchSize)]; r.n%r.ini.BatchSize < len(ids) {
			v.CustomerID = ids[r.n%r.ini.BatchSize]
		}
		vals := recs[i].Val()
		if raw, _ := vals[0].(string); raw != "" {
			var rec MessageRecord
			if err := json.Unmarshal([]byte(raw), &rec); err != nil {
				return nil, fmt.Errorf("decode message record %s: %w", v.ID, err)
			}
			v.Record, v.To = &rec, rec.To
		}
		if raw, _ := vals[1].(string); raw != "" {
			if rep, ok := parseReport(raw); ok {
				v.Report = &rep
			}
		}
		if v.CustomerID != "" {
			cr := campaignRef{r.ini.Org, r.ini.CampaignID}
			wanted[cr] = append(wanted[cr], i)
		}
	}

	pipe = s.rdb.Pipeline()
	cmds := make(map[campaignRef]*redis.SliceCmd, len(wanted))
	for cr, idx := range wanted {
		ids := make([]string, len(idx))
		for j, i := range idx {
			ids[j] = out[i].CustomerID
		}
		cmds[cr] = pipe.HMGet(ctx, ckeys(cr.org, cr.campaign).cust(), ids...)
	}
	if len(cmds) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !isNil(err) {
		return nil, fmt.Errorf("read customers of messages: %w", err)
	}
	for cr, c := range cmds {
		for j, val := range c.Val() {
			raw, _ := val.(string)
			if raw == "" {
				continue // deleted: loan_id, and no current phone
			}
			rec, err := customer.Decode([]byte(raw))
			if err != nil {
				return nil, fmt.Errorf("decode customer %s: %w", out[wanted[cr][j]].CustomerID, err)
			}
			v := &out[wanted[cr][j]]
			if f := rec.IDField(); f != "" {
				v.IDField = f
			}
			if v.To == "" {
				v.To = rec.Phone()
			}
		}
	}
	return out, nil
}
