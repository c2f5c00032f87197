package provider

import (
	"encoding/json"
	"net/http"
	"strings"
)

// webhookCallbacks reads the webhook provider's callbacks: the delivery
// report of SPEC §4.6 ({"messageId", "status": "delivered" | "failed",
// "error"?}, or an array of them) and inbound messages {"from", "text"}.
type webhookCallbacks struct{}

func (webhookCallbacks) ParseDLR(r *http.Request) ([]Report, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	if !c.json || len(c.body) == 0 {
		return nil, badf("the webhook delivery report is JSON")
	}
	var raws []json.RawMessage
	if c.body[0] == '[' {
		if json.Unmarshal(c.body, &raws) != nil {
			return nil, badf("not a JSON array of reports")
		}
	} else {
		raws = []json.RawMessage{c.body}
	}
	if len(raws) > MaxReportsPerCallback {
		return nil, badf("more than %d reports in one request", MaxReportsPerCallback)
	}
	out := make([]Report, 0, len(raws))
	for _, raw := range raws {
		var w struct {
			MessageID *string `json:"messageId"`
			Status    *string `json:"status"`
			Error     *string `json:"error"`
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if dec.Decode(&w) != nil || w.MessageID == nil || strings.TrimSpace(*w.MessageID) == "" || w.Status == nil {
			return nil, badf(`a report is {"messageId", "status": "delivered" | "failed", "error"?}`)
		}
		rep := Report{MessageID: strings.TrimSpace(*w.MessageID)}
		switch strings.ToLower(strings.TrimSpace(*w.Status)) {
		case "delivered":
			rep.Status = ReportDelivered
		case "failed":
			rep.Status = ReportFailed
		default:
			return nil, badf("status must be delivered or failed")
		}
		if w.Error != nil {
			rep.Text = strings.TrimSpace(*w.Error)
		}
		out = append(out, rep)
	}
	return out, nil
}

func (webhookCallbacks) ParseInbound(r *http.Request) ([]Inbound, error) {
	return parseInbound(r, []string{"from"}, []string{"text", "body"}, []string{"messageId", "id"}, []string{"receivedAt", "timestamp"}, ist)
}
