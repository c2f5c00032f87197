package provider

// Gupshup Enterprise SMS, as documented at
// docs.gupshup.io/docs/send-message-to-single-number (GatewayAPI/rest with
// method=SendMessage, send_to, msg, msg_type TEXT or Unicode_text, userid,
// password, auth_scheme=plain, v=1.1, format, mask and the DLT fields
// principalEntityId and dltTemplateId) and the Enterprise API document
// (answers "success | <phone> | <id>" or "error | <code> | <text>", as JSON
// {"response": {"status", "id", "phone", "details"}} with format=json; a
// refusal comes with HTTP 200, so the status field decides).

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// DefaultGupshupBaseURL is Gupshup's enterprise SMS host.
const DefaultGupshupBaseURL = "https://enterprise.smsgupshup.com"

// GupshupParams configures NewGupshup.
type GupshupParams struct {
	BaseURL  string // default DefaultGupshupBaseURL
	UserID   string
	Password string
	HTTPParams
}

type gupshup struct {
	gateway
	p GupshupParams
}

// NewGupshup returns Gupshup's SendMessage API. It takes no id of ours:
// delivery reports are matched by the id of the answer (their externalId).
func NewGupshup(p GupshupParams) Provider {
	return &gupshup{gateway: newGateway(NameGupshup, p.BaseURL, DefaultGupshupBaseURL, p.HTTPParams), p: p}
}

func (g *gupshup) Send(ctx context.Context, m Message) (Result, error) {
	if err := mustHave(g.name, "a message id", m.ID, "a sender (mask)", m.From); err != nil {
		return Result{}, err
	}
	if digits(m.To) == "" {
		return Result{}, &Error{Reason: g.name + " needs a recipient number"}
	}
	f := url.Values{}
	f.Set("method", "SendMessage")
	f.Set("send_to", digits(m.To))
	f.Set("msg", m.Body)
	if gsm7(m.Body) {
		f.Set("msg_type", "TEXT")
	} else {
		f.Set("msg_type", "Unicode_text")
	}
	f.Set("userid", g.p.UserID)
	f.Set("password", g.p.Password)
	f.Set("auth_scheme", "plain")
	f.Set("v", "1.1")
	f.Set("format", "json")
	f.Set("mask", m.From)
	setIf(f, "principalEntityId", m.DLTEntityID)
	setIf(f, "dltTemplateId", m.DLTTemplateID)
	h := http.Header{}
	h.Set("Accept", "application/json")
	// POST keeps the password out of URLs (and so out of proxy logs).
	a, err := g.call(ctx, http.MethodPost, g.base+"/GatewayAPI/rest", "application/x-www-form-urlencoded", []byte(f.Encode()), h)
	if err != nil {
		return Result{}, err
	}
	if a.status < 200 || a.status > 299 {
		return Result{}, statusError(g.name, a, "", string(a.body))
	}
	status, id, details, ok := parseGupshupAnswer(a.body)
	switch {
	case !ok:
		return Result{}, malformed(g.name, a, nil)
	case status == "success" && id != "":
		return Result{ProviderMessageID: id, Provider: g.name}, nil
	case status == "success":
		return Result{}, malformed(g.name, a, nil)
	}
	e := statusError(g.name, answer{header: a.header}, id, details)
	if strings.Contains(strings.ToLower(details), "authentication") {
		e.Status = http.StatusUnauthorized
	}
	return Result{}, e
}

// parseGupshupAnswer reads the JSON answer, or the "a | b | c" text one.
func parseGupshupAnswer(b []byte) (status, id, details string, ok bool) {
	var j struct {
		Response struct {
			Status  string          `json:"status"`
			ID      json.RawMessage `json:"id"`
			Phone   string          `json:"phone"`
			Details string          `json:"details"`
		} `json:"response"`
	}
	if json.Unmarshal(b, &j) == nil && j.Response.Status != "" {
		return strings.ToLower(strings.TrimSpace(j.Response.Status)), strings.Trim(string(j.Response.ID), `" `), j.Response.Details, true
	}
	parts := strings.Split(strings.TrimSpace(string(b)), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	switch {
	case len(parts) >= 3 && strings.EqualFold(parts[0], "success"):
		return "success", parts[2], "", true
	case len(parts) >= 3 && strings.EqualFold(parts[0], "error"):
		// "error | <phone> | <code> | <text>" or "error | <code> | <text>".
		if len(parts) >= 4 {
			return "error", parts[2], strings.Join(parts[3:], " | "), true
		}
		return "error", parts[1], parts[2], true
	}
	return "", "", "", false
}
