package provider

// Kaleyra callbacks, as documented at developers.kaleyra.io/docs/sms-callback
// (final statuses Sent, Delivered, Failed, Undelivered, by GET or POST),
// globalmessaging.kaleyra.com/support/solutions/articles/3000068963 (DLR
// statuses DELIVRD, DNDNUMB, BLACKLIST, INV-NUMBER, …) and
// developers.kaleyra.io/docs/create-sms-callback-profile-to-receive-incoming-sms-messages
// (inbound: JSON {source, recipient, message, id, timestamp}). Field names of
// the status callback are taken leniently; our message id comes back as the
// "mid" query parameter we put on the callback URL, or as ref.

import (
	"net/http"
	"strings"
)

type kaleyraCallbacks struct{}

// kaleyraStatus maps a callback status or DLR status word.
func kaleyraStatus(s string) ReportStatus {
	switch u := strings.ToUpper(strings.TrimSpace(s)); u {
	case "DELIVERED", "DELIVRD":
		return ReportDelivered
	case "DNDNUMB", "DND", "NDNC", "NCPR":
		return ReportDND
	case "", "SENT", "SUBMITTED", "QUEUED", "AWAITED-DLR", "ACCEPTED":
		return ReportPending
	default:
		// Failed, Undelivered and every DLR failure word (NO-CREDITS,
		// SERIES-BLOCK, INV-NUMBER, BLACKLIST, EXPIRED, REJECTED, …).
		return ReportFailed
	}
}

func (kaleyraCallbacks) ParseDLR(r *http.Request) ([]Report, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	items := []map[string][]string{c.form}
	if c.json {
		objs, err := jsonObjects(c.body)
		if err != nil {
			return nil, err
		}
		items = items[:0]
		for _, o := range objs {
			items = append(items, o)
		}
	}
	mid := first(c.query, "mid")
	out := make([]Report, 0, len(items))
	for _, v := range items {
		id := first(v, "message_id", "id", "msgid", "sid")
		ours := firstNonEmpty(mid, first(v, "ref", "custom", "mid"))
		st := first(v, "status", "message_status", "dlr_status")
		if id == "" && ours == "" {
			return nil, badf("kaleyra callback without a message id")
		}
		if st == "" {
			return nil, badf("kaleyra callback without status")
		}
		out = append(out, Report{
			MessageID: ours, ProviderMessageID: id, Status: kaleyraStatus(st), Code: st,
			Text:  first(v, "description", "status_trace", "error", "reason"),
			Phone: e164(first(v, "mobile", "recipient", "to", "number")),
			At:    parseTime(first(v, "delivered_time", "delivered_at", "timestamp", "updated_at"), ist),
		})
	}
	return out, nil
}

func (kaleyraCallbacks) ParseInbound(r *http.Request) ([]Inbound, error) {
	return parseInbound(r, []string{"source", "sender", "from", "mobile"}, []string{"message", "body", "text"},
		[]string{"id", "kid"}, []string{"timestamp"}, ist)
}
