package provider

// MSG91 delivery reports, as documented at
// msg91.com/help/how-can-i-get-the-delivery-reports-on-my-webhook-url
// (webhook v2: form-encoded, "data" a JSON string [{senderId, requestId,
// report: [{date, number, status, desc, failedReason, clientid}]}]; v3: one
// JSON object {date, number, requestId, status, desc}; status 1 delivered,
// 2 failed, 9 NDNC, 16 and 25 rejected, 17 blocked) and
// msg91.com/help/webhook-new/how-to-receive-sms-delivery-reports-via-webhook-new
// (one JSON event per recipient: requestId, telNum, status, deliveryTime,
// failureReason).

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

type msg91Callbacks struct{}

// msg91Status maps MSG91's report status, a code or (newer webhooks) a word.
func msg91Status(s string) ReportStatus {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "delivered", "delivrd":
		return ReportDelivered
	case "9", "ndnc", "dnd":
		return ReportDND
	case "2", "16", "17", "25", "failed", "rejected", "blocked", "undelivered", "expired":
		return ReportFailed
	}
	return ReportPending
}

func (msg91Callbacks) ParseDLR(r *http.Request) ([]Report, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	var data string
	if c.json {
		var probe struct {
			Data *string `json:"data"`
		}
		if len(c.body) > 0 && c.body[0] == '{' && json.Unmarshal(c.body, &probe) == nil && probe.Data != nil {
			data = *probe.Data // the v2 shape posted as JSON
		} else {
			return msg91Events(c.body)
		}
	} else {
		data = c.form.Get("data")
	}
	if strings.TrimSpace(data) == "" {
		return nil, badf(`msg91 report without "data"`)
	}
	var reqs []struct {
		SenderID  string `json:"senderId"`
		RequestID string `json:"requestId"`
		Report    []struct {
			Date         string `json:"date"`
			Number       string `json:"number"`
			Status       string `json:"status"`
			Desc         string `json:"desc"`
			FailedReason string `json:"failedReason"`
		} `json:"report"`
	}
	if err := json.Unmarshal([]byte(data), &reqs); err != nil {
		return nil, badf(`msg91 "data" is not a JSON array of requests`)
	}
	var out []Report
	for _, q := range reqs {
		for _, rep := range q.Report {
			if len(out) >= MaxReportsPerCallback {
				return nil, badf("more than %d reports in one request", MaxReportsPerCallback)
			}
			if strings.TrimSpace(q.RequestID) == "" || digits(rep.Number) == "" {
				return nil, badf("msg91 report without requestId or number")
			}
			out = append(out, Report{
				ProviderMessageID: MSG91MessageID(q.RequestID, rep.Number),
				Status:            msg91Status(rep.Status), Code: strings.TrimSpace(rep.Status),
				Text:  firstNonEmpty(rep.FailedReason, rep.Desc),
				Phone: e164(rep.Number), At: parseTime(rep.Date, ist),
			})
		}
	}
	return out, nil
}

// msg91Events reads the JSON forms: v3 objects and the new per-recipient
// events, one object or an array.
func msg91Events(body []byte) ([]Report, error) {
	items, err := jsonObjects(body)
	if err != nil {
		return nil, err
	}
	out := make([]Report, 0, len(items))
	for _, v := range items {
		rep, err := msg91Event(v)
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

func msg91Event(v url.Values) (Report, error) {
	req := first(v, "requestId", "request_id")
	num := first(v, "number", "telNum", "mobile")
	if req == "" || digits(num) == "" {
		return Report{}, badf("msg91 report without requestId or number")
	}
	st := first(v, "status")
	return Report{
		ProviderMessageID: MSG91MessageID(req, num), Status: msg91Status(st), Code: st,
		Text:  first(v, "failureReason", "failedReason", "desc", "description"),
		Phone: e164(num), At: parseTime(first(v, "deliveryTime", "date"), ist),
	}, nil
}

// ParseInbound reads MSG91's inbound (long code / keyword) forwards, which
// carry the sender and the text under names that vary with the setup.
func (msg91Callbacks) ParseInbound(r *http.Request) ([]Inbound, error) {
	return parseInbound(r, []string{"sender", "mobile", "from", "number"}, []string{"content", "message", "text", "body"},
		[]string{"inboxId", "requestId", "id"}, []string{"rcvd", "date", "receivedAt"}, ist)
}
