package providertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MSG91 is a fake of MSG91's flow API (control.msg91.com/apidoc/textsms/
// send-sms-flow.php): POST /api/v5/flow with an authkey header and a JSON
// body {template_id, sender, short_url, recipients: [{mobiles, VAR…}]},
// answered {"message": <request id>, "type": "success"}. MSG91 answers a
// request as a whole: a rejected recipient refuses the request with
// {"message": …, "type": "error"}. Accepted messages get the provider id
// "<request id>:<mobiles>", as the adapter derives it.
type MSG91 struct {
	gatewayFake
	AuthKey string
}

// NewMSG91 starts an MSG91 fake accepting authKey.
func NewMSG91(authKey string, f GatewayFaults) *MSG91 {
	m := &MSG91{AuthKey: authKey}
	m.start(m.serve, f)
	return m
}

func msg91Error(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg, "type": "error"})
	write(w, status, "application/json", string(b))
}

func (m *MSG91) serve(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(r.URL.Path, "/") != "/api/v5/flow" || r.Method != http.MethodPost {
		msg91Error(w, http.StatusNotFound, "Not found")
		return
	}
	if r.Header.Get("authkey") != m.AuthKey {
		m.requestFault()
		msg91Error(w, http.StatusUnauthorized, "Authentication failure")
		return
	}
	switch f, ra := m.requestFault(); f {
	case gwOutage:
		msg91Error(w, http.StatusServiceUnavailable, "Service unavailable")
		return
	case gw5xx:
		msg91Error(w, http.StatusInternalServerError, "Internal server error")
		return
	case gw429:
		retryAfterHeader(w, ra)
		msg91Error(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		msg91Error(w, http.StatusBadRequest, "Content-Type must be application/json")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	var req struct {
		TemplateID string              `json:"template_id"`
		FlowID     string              `json:"flow_id"`
		Sender     string              `json:"sender"`
		Recipients []map[string]string `json:"recipients"`
	}
	if err != nil || json.Unmarshal(data, &req) != nil {
		msg91Error(w, http.StatusBadRequest, "Invalid JSON")
		return
	}
	tpl := firstSet(req.TemplateID, req.FlowID)
	if tpl == "" || len(req.Recipients) == 0 {
		// MSG91 answers validation errors with 200 and "type": "error".
		msg91Error(w, http.StatusOK, "template_id and recipients are required")
		return
	}
	for _, rc := range req.Recipients {
		mob := rc["mobiles"]
		if digitsOf(mob) == "" || digitsOf(mob) != mob {
			msg91Error(w, http.StatusOK, "Invalid mobile number")
			return
		}
		if reason, ok := m.rejected(mob); ok {
			msg91Error(w, http.StatusOK, "Mobile number "+mob+" rejected: "+reason)
			return
		}
	}
	m.mu.Lock()
	m.seq++
	reqID := fmt.Sprintf("%024x", 0x91910000+m.seq)
	m.mu.Unlock()
	acc := make([]Accepted, len(req.Recipients))
	for i, rc := range req.Recipients {
		vars := map[string]string{}
		for k, v := range rc {
			if k != "mobiles" {
				vars[k] = v
			}
		}
		acc[i] = Accepted{ProviderMessageID: reqID + ":" + rc["mobiles"], To: rc["mobiles"], From: req.Sender, TemplateID: tpl, Vars: vars}
	}
	m.record(len(acc) > 1, nil, acc...)
	write(w, http.StatusOK, "application/json", `{"message":"`+reqID+`","type":"success"}`)
}

// msg91Code is the report status of an outcome.
func msg91Code(o Outcome) (status, desc string) {
	switch o {
	case Delivered:
		return "1", "DELIVERED"
	case DND:
		return "9", "NDNC"
	}
	return "2", "FAILED"
}

// DeliveryReport is MSG91's webhook v2 for the given accepted messages
// (provider ids "<request id>:<number>"), all with outcome o: form-encoded,
// "data" a JSON string of the requests and their reports.
func (m *MSG91) DeliveryReport(o Outcome, providerIDs ...string) Callback {
	type report struct {
		Date         string `json:"date"`
		Number       string `json:"number"`
		Status       string `json:"status"`
		Desc         string `json:"desc"`
		FailedReason string `json:"failedReason"`
		ClientID     string `json:"clientid"`
	}
	type request struct {
		SenderID     string   `json:"senderId"`
		RequestID    string   `json:"requestId"`
		Report       []report `json:"report"`
		UserID       string   `json:"userId"`
		CampaignName string   `json:"campaignName"`
	}
	var reqs []*request
	byID := map[string]*request{}
	for _, pid := range providerIDs {
		reqID, number, _ := strings.Cut(pid, ":")
		q := byID[reqID]
		if q == nil {
			a, _ := m.ByProviderID(pid)
			q = &request{SenderID: a.From, RequestID: reqID, UserID: "271828", CampaignName: "API"}
			byID[reqID] = q
			reqs = append(reqs, q)
		}
		st, desc := msg91Code(o)
		rep := report{Date: time.Now().In(istZone).Format("2006-01-02 15:04:05"), Number: number, Status: st, Desc: desc}
		if o != Delivered {
			rep.FailedReason = desc
		}
		q.Report = append(q.Report, rep)
	}
	data, _ := json.Marshal(reqs)
	v := url.Values{}
	v.Set("data", string(data))
	return formCallback(v)
}

// DeliveryReportJSON is the JSON (webhook v3) form: one object per report.
func (m *MSG91) DeliveryReportJSON(providerID string, o Outcome) Callback {
	reqID, number, _ := strings.Cut(providerID, ":")
	a, _ := m.ByProviderID(providerID)
	st, desc := msg91Code(o)
	b, _ := json.Marshal(map[string]string{
		"date": time.Now().In(istZone).Format("2006-01-02 15:04:05"), "number": number, "senderId": a.From,
		"requestId": reqID, "status": st, "desc": desc, "userId": "271828", "campaignName": "API",
	})
	return Callback{Method: http.MethodPost, ContentType: "application/json", Body: b}
}
