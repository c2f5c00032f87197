package providertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Gupshup is a fake of Gupshup's enterprise SMS API
// (docs.gupshup.io/docs/send-message-to-single-number): GET or POST
// /GatewayAPI/rest with method=SendMessage, userid, password,
// auth_scheme=plain, v=1.1, send_to, msg, msg_type, mask and the DLT fields;
// it answers 200 both ways, "success | <phone> | <id>" or "error | <code> |
// <text>", as {"response": {…}} with format=json.
type Gupshup struct {
	gatewayFake
	UserID, Password string
}

// NewGupshup starts a Gupshup fake accepting userID and password.
func NewGupshup(userID, password string, f GatewayFaults) *Gupshup {
	g := &Gupshup{UserID: userID, Password: password}
	g.start(g.serve, f)
	return g
}

func gupshupAnswer(w http.ResponseWriter, asJSON bool, status, id, phone, details string) {
	if asJSON {
		b, _ := json.Marshal(map[string]map[string]string{"response": {"id": id, "phone": phone, "details": details, "status": status}})
		write(w, http.StatusOK, "application/json", string(b))
		return
	}
	if status == "success" {
		write(w, http.StatusOK, "text/plain", "success | "+phone+" | "+id)
		return
	}
	write(w, http.StatusOK, "text/plain", "error | "+id+" | "+details)
}

func (g *Gupshup) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/GatewayAPI/rest" {
		write(w, http.StatusNotFound, "text/plain", "not found")
		return
	}
	v := r.URL.Query()
	if r.Method == http.MethodPost {
		f, bad := readForm(r)
		if bad != "" {
			write(w, http.StatusBadRequest, "text/plain", bad)
			return
		}
		for k, x := range f {
			v[k] = x
		}
	} else if r.Method != http.MethodGet {
		write(w, http.StatusMethodNotAllowed, "text/plain", "GET or POST")
		return
	}
	asJSON := strings.EqualFold(v.Get("format"), "json")
	switch f, ra := g.requestFault(); f {
	case gwOutage:
		write(w, http.StatusServiceUnavailable, "text/plain", "service unavailable")
		return
	case gw5xx:
		write(w, http.StatusInternalServerError, "text/plain", "internal error")
		return
	case gw429:
		retryAfterHeader(w, ra)
		write(w, http.StatusTooManyRequests, "text/plain", "too many requests")
		return
	}
	to := v.Get("send_to")
	switch {
	case v.Get("userid") != g.UserID || v.Get("password") != g.Password:
		gupshupAnswer(w, asJSON, "error", "105", "", "Authentication failed due to invalid userId or password.")
	case !strings.EqualFold(v.Get("method"), "SendMessage"):
		gupshupAnswer(w, asJSON, "error", "101", "", "Invalid method")
	case v.Get("auth_scheme") != "plain" || v.Get("v") != "1.1":
		gupshupAnswer(w, asJSON, "error", "102", "", "auth_scheme must be plain and v 1.1")
	case to == "" || digitsOf(to) != to || v.Get("msg") == "":
		gupshupAnswer(w, asJSON, "error", "100", to, "send_to (digits) and msg are mandatory")
	case v.Get("msg_type") != "TEXT" && v.Get("msg_type") != "Unicode_text":
		gupshupAnswer(w, asJSON, "error", "102", to, "msg_type must be TEXT or Unicode_text")
	default:
		if reason, ok := g.rejected(to); ok {
			gupshupAnswer(w, asJSON, "error", "175", to, reason)
			return
		}
		ids := g.record(false, gupshupID, Accepted{To: to, From: v.Get("mask"), Body: v.Get("msg"),
			TemplateID: v.Get("dltTemplateId"), EntityID: v.Get("principalEntityId")})
		gupshupAnswer(w, asJSON, "success", ids[0], to, "")
	}
}

func gupshupID(n int) string { return fmt.Sprintf("35627074987949%05d-3287361212076%05d", n, n) }

func gupshupEvent(o Outcome) (status, event, cause, code string) {
	switch o {
	case Delivered:
		return "SUCCESS", "DELIVERED", "SUCCESS", "000"
	case DND:
		return "FAILURE", "FAILED", "DND_FAIL", "006"
	}
	return "FAILURE", "FAILED", "UNKNOWN_SUBSCRIBER", "003"
}

// ReportGET is the real-time delivery report as a GET of the configured URL.
func (g *Gupshup) ReportGET(providerID string, o Outcome) Callback {
	a, _ := g.ByProviderID(providerID)
	st, _, cause, code := gupshupEvent(o)
	q := url.Values{}
	q.Set("externalId", providerID)
	q.Set("deliveredTS", strconv.FormatInt(time.Now().UnixMilli(), 10))
	q.Set("status", st)
	q.Set("cause", cause)
	q.Set("phoneNo", a.To)
	q.Set("errCode", code)
	q.Set("noOfFrags", "1")
	q.Set("mask", a.From)
	return Callback{Method: http.MethodGet, Query: q}
}

// ReportPOST is the batched form: a JSON array of up to 20 events.
func (g *Gupshup) ReportPOST(o Outcome, providerIDs ...string) Callback {
	events := make([]map[string]any, 0, len(providerIDs))
	for _, pid := range providerIDs {
		a, _ := g.ByProviderID(pid)
		_, ev, cause, code := gupshupEvent(o)
		events = append(events, map[string]any{
			"externalId": pid, "eventType": ev, "eventTs": time.Now().UnixMilli(), "destAddr": a.To,
			"srcAddr": a.From, "cause": cause, "errCode": code, "channel": "SMS", "noOfFrags": 1,
		})
	}
	b, _ := json.Marshal(events)
	return Callback{Method: http.MethodPost, ContentType: "application/json", Body: b}
}

// Inbound is a customer's SMS as Gupshup forwards it (GET).
func (g *Gupshup) Inbound(from, text string) Callback {
	q := url.Values{}
	q.Set("msisdn", digitsOf(from))
	q.Set("content", text)
	q.Set("keyword", strings.Fields(text + " x")[0])
	q.Set("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	return Callback{Method: http.MethodGet, Query: q}
}
