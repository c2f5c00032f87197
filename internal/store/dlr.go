package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Results of ReportDelivery.
const (
	DLRApplied   = "applied"   // a sent message became delivered or failed
	DLRStored    = "stored"    // the send is not recorded yet; kept for finishScript
	DLRDuplicate = "duplicate" // an early report was already kept; the first wins
	DLRIgnored   = "ignored"   // the message is final already (or was never sent)
)

// CodeDeliveryFailed is the error code of a message failed by its delivery report.
const CodeDeliveryFailed = "delivery_failed"

// dlrScript applies one delivery report, the counters with it.
//   - S (sent): D with delivered+1, or F with sent-1 and failed+1 and the
//     error listed; the report is kept in rec "<n>:dlr" for the message view.
//   - absent, "p" or "s|…" (not yet sent, or being sent): the report is kept in
//     the dlr hash, the first one only; finishScript applies it when the send
//     is recorded.
//   - any final state (D, F, K, C): nothing changes, so the first final report
//     wins and repeats are no-ops.
//
// KEYS: meta, st, rec, dlr, errs. ARGV: n, kind (D|F), report, error JSON.
var dlrScript = redis.NewScript(`
local meta, st, rec, dlr, errs = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local n, kind, report, e = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', meta) == 0 then return 'missing' end
local cur = redis.call('HGET', st, n)
if cur == 'S' then
  if kind == 'D' then
    redis.call('HSET', st, n, 'D')
    redis.call('HINCRBY', meta, 'delivered', 1)
  else
    redis.call('HSET', st, n, 'F')
    redis.call('HINCRBY', meta, 'sent', -1)
    redis.call('HINCRBY', meta, 'failed', 1)
    if redis.call('LLEN', errs) < 100 then redis.call('RPUSH', errs, e) end
  end
  redis.call('HSET', rec, n .. ':dlr', report)
  return 'applied'
end
if not cur or cur == 'p' or string.sub(cur, 1, 2) == 's|' then
  if redis.call('HSETNX', dlr, n, report) == 1 then
    -- A failed report keeps its error entry for finishScript to list.
    if e ~= '' then redis.call('HSET', dlr, n .. ':e', e) end
    return 'stored'
  end
  return 'duplicate'
end
return 'ignored'
`)

// DeliveryReport is a provider's final word on a message, as kept in the rec
// hash field "<n>:dlr" ("D|<ms>" or "F|<ms>|<error>").
type DeliveryReport struct {
	Delivered bool
	At        time.Time
	Error     string
}

func (r DeliveryReport) encode() string {
	ms := strconv.FormatInt(r.At.UnixMilli(), 10)
	if r.Delivered {
		return "D|" + ms
	}
	return "F|" + ms + "|" + r.Error
}

// parseReport reads an encoded report; ok is false for anything else.
func parseReport(s string) (DeliveryReport, bool) {
	parts := strings.SplitN(s, "|", 3)
	if len(parts) < 2 || (parts[0] != "D" && parts[0] != "F") {
		return DeliveryReport{}, false
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return DeliveryReport{}, false
	}
	r := DeliveryReport{Delivered: parts[0] == "D", At: time.UnixMilli(ms).UTC()}
	if len(parts) == 3 {
		r.Error = parts[2]
	}
	return r, true
}

// ReportDelivery applies a delivery report to message messageID, whatever
// its org: providers call back without one. A message that does not exist is
// NotFound. errText is kept for a failed report.
func (s *Store) ReportDelivery(ctx context.Context, messageID string, delivered bool, errText string) (string, error) {
	iid, n, ok := ParseMessageID(messageID)
	if !ok {
		return "", notFound("Message", messageID)
	}
	ini, err := s.InitiationByID(ctx, iid)
	if err != nil {
		return "", asMessageNotFound(err, messageID)
	}
	if int64(n) >= ini.Initiated || ini.BatchSize <= 0 {
		return "", notFound("Message", messageID)
	}
	ids, err := s.Batch(ctx, iid, n/ini.BatchSize)
	if err != nil {
		return "", asMessageNotFound(err, messageID)
	}
	if n%ini.BatchSize >= len(ids) {
		return "", notFound("Message", messageID)
	}
	rep := DeliveryReport{Delivered: delivered, At: s.Now(), Error: errText}
	kind := "D"
	var e []byte
	if !delivered {
		kind = "F"
		msg := errText
		if msg == "" {
			msg = "The provider reported the message as not delivered."
		}
		e, err = json.Marshal(MessageError{ID: ids[n%ini.BatchSize], Code: CodeDeliveryFailed, Message: msg})
		if err != nil {
			return "", fmt.Errorf("encode delivery error: %w", err)
		}
	}
	k := ikeys(iid)
	res, err := dlrScript.Run(ctx, s.rdb, []string{k.meta(), k.st(), k.rec(), k.dlr(), k.errs()},
		n, kind, rep.encode(), e).Text()
	if err != nil {
		return "", fmt.Errorf("apply delivery report: %w", err)
	}
	if res == "missing" {
		return "", notFound("Message", messageID)
	}
	return res, nil
}
