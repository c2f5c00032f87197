package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kaleyra is a fake of Kaleyra's messages API
// (developers.kaleyra.io/docs/send-your-first-sms, /send-bulk-sms): POST
// /v1/<SID>/messages with an api-key header, form fields to (up to 100
// comma-separated numbers), sender, type, body, template_id, ref and
// callback {url, method}. The answer lists each accepted recipient in "data"
// [{message_id, recipient}]; rejected recipients are left out and named in
// "error", and a request with none accepted is a 400 {code, message}. (The
// codes E101/E413/E429/E500 are this fake's: the public pages do not list
// Kaleyra's.)
type Kaleyra struct {
	gatewayFake
	SID, APIKey string
}

// NewKaleyra starts a Kaleyra fake for account sid accepting apiKey.
func NewKaleyra(sid, apiKey string, f GatewayFaults) *Kaleyra {
	k := &Kaleyra{SID: sid, APIKey: apiKey}
	k.start(k.serve, f)
	return k
}

func kaleyraError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(map[string]any{"code": code, "message": msg, "data": []any{}, "error": map[string]string{"message": msg}})
	write(w, status, "application/json", string(b))
}

func (k *Kaleyra) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/"+k.SID+"/messages" {
		kaleyraError(w, http.StatusNotFound, "E404", "Not found")
		return
	}
	if r.Header.Get("api-key") != k.APIKey {
		k.requestFault()
		kaleyraError(w, http.StatusUnauthorized, "E101", "Invalid API key")
		return
	}
	switch f, ra := k.requestFault(); f {
	case gwOutage:
		kaleyraError(w, http.StatusServiceUnavailable, "E503", "Service unavailable")
		return
	case gw5xx:
		kaleyraError(w, http.StatusInternalServerError, "E500", "Internal server error")
		return
	case gw429:
		retryAfterHeader(w, ra)
		kaleyraError(w, http.StatusTooManyRequests, "E429", "Rate limit exceeded")
		return
	}
	f, bad := readForm(r)
	if bad != "" {
		kaleyraError(w, http.StatusBadRequest, "E400", bad)
		return
	}
	to := strings.Split(f.Get("to"), ",")
	switch {
	case f.Get("to") == "" || f.Get("sender") == "" || f.Get("body") == "":
		kaleyraError(w, http.StatusBadRequest, "E400", "to, sender and body are mandatory")
		return
	case len(to) > 100:
		kaleyraError(w, http.StatusBadRequest, "E400", "at most 100 recipients per request")
		return
	}
	var cb struct {
		URL string `json:"url"`
	}
	if c := f.Get("callback"); c != "" && json.Unmarshal([]byte(c), &cb) != nil {
		kaleyraError(w, http.StatusBadRequest, "E400", "callback must be a JSON object")
		return
	}
	k.mu.Lock()
	k.seq++
	reqID := fmt.Sprintf("%08x-kal0-4000-8000-%012x", 0x4b000000+k.seq, k.seq)
	k.mu.Unlock()
	type item struct {
		MessageID string `json:"message_id"`
		Recipient string `json:"recipient"`
	}
	var data []item
	var acc []Accepted
	rejected := map[string]string{}
	for i, n := range to {
		n = strings.TrimSpace(n)
		if reason, ok := k.rejected(n); ok || digitsOf(n) == "" {
			rejected[n] = firstSet(reason, "invalid number")
			continue
		}
		pid := fmt.Sprintf("%s:%d", reqID, i+1)
		data = append(data, item{pid, n})
		a := Accepted{ProviderMessageID: pid, To: n, From: f.Get("sender"), Body: f.Get("body"),
			TemplateID: f.Get("template_id"), StatusCallback: cb.URL}
		if len(to) == 1 {
			a.MessageID = f.Get("ref")
		}
		acc = append(acc, a)
	}
	if len(acc) == 0 {
		msg := "Invalid number"
		for _, reason := range rejected {
			msg += ": " + reason
			break
		}
		kaleyraError(w, http.StatusBadRequest, "E413", msg)
		return
	}
	k.record(len(to) > 1, nil, acc...)
	errs := map[string]any{}
	if len(rejected) > 0 {
		errs["to"] = rejected
	}
	b, _ := json.Marshal(map[string]any{
		"id": reqID, "sender": f.Get("sender"), "type": f.Get("type"), "body": f.Get("body"),
		"createdDateTime": time.Now().UTC().Format("2006-01-02 15:04:05+00:00"),
		"totalCount":      len(data), "data": data, "error": errs,
	})
	write(w, http.StatusAccepted, "application/json", string(b))
}

// Callback is the status callback Kaleyra posts (JSON) to the callback URL
// of an accepted message; the URL's own query (our "mid") comes along.
func (k *Kaleyra) Callback(providerID string, o Outcome) Callback {
	a, _ := k.ByProviderID(providerID)
	status, desc := "DELIVRD", "Delivered"
	switch o {
	case Failed:
		status, desc = "ABSENT-SUB", "Mobile Subscriber not reachable"
	case DND:
		status, desc = "DNDNUMB", "DND registered number"
	}
	b, _ := json.Marshal(map[string]string{
		"id": providerID, "status": status, "description": desc, "mobile": a.To,
		"ref": a.MessageID, "delivered_time": time.Now().UTC().Format(time.RFC3339),
	})
	c := Callback{Method: http.MethodPost, ContentType: "application/json", Body: b}
	if u, err := url.Parse(a.StatusCallback); err == nil && u.Query().Get("mid") != "" {
		c.Query = url.Values{"mid": {u.Query().Get("mid")}}
	}
	return c
}

// Inbound is an incoming SMS as a Kaleyra callback profile posts it.
func (k *Kaleyra) Inbound(from, to, text string) Callback {
	b, _ := json.Marshal(map[string]string{
		"source": digitsOf(from), "recipient": to, "message": text, "status": "SENT",
		"id": "90e0bca1-8865-4a96-85b6-4d0000000048", "timestamp": time.Now().In(istZone).Format("2006-01-02 15:04:05"),
	})
	return Callback{Method: http.MethodPost, ContentType: "application/json", Body: b}
}
