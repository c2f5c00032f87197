package provider

// Twilio, as documented at twilio.com/docs/messaging/api/message-resource
// (POST /2010-04-01/Accounts/{Sid}/Messages.json, basic auth with the account
// sid and auth token, form fields To, From or MessagingServiceSid, Body,
// StatusCallback, ValidityPeriod; answer 201 with the message's sid; errors
// {"code", "message", "more_info", "status"}), twilio.com/docs/api/errors
// (21610 unsubscribed recipient, 21611 too many queued messages for the
// sender, 30001 queue overflow, 20429 too many requests) and
// twilio.com/docs/usage/security (X-Twilio-Signature, see twiliosig.go).
//
// Hand-written rather than github.com/twilio/twilio-go: the official SDK is
// a generated client for every Twilio product (a large module and its
// dependencies) around the one form POST and one HMAC we need, and its retry
// and error types would have to be translated into ours anyway.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTwilioBaseURL is Twilio's REST API host.
const DefaultTwilioBaseURL = "https://api.twilio.com"

// TwilioParams configures NewTwilio.
type TwilioParams struct {
	BaseURL    string // default DefaultTwilioBaseURL
	AccountSID string
	AuthToken  string
	// From is the sender number or alphanumeric id used when a message has
	// no From of its own; MessagingServiceSID, when set, is sent instead of
	// any From.
	From                string
	MessagingServiceSID string
	// StatusCallback is our /api/v1/webhooks/dlr/twilio URL; our message id
	// is added to it as the "mid" query parameter.
	StatusCallback string
	// ValidityPeriod, when set, is how long Twilio may keep the message queued.
	ValidityPeriod time.Duration
	HTTPParams
}

type twilio struct {
	gateway
	p TwilioParams
}

// NewTwilio returns Twilio's Programmable Messaging API.
func NewTwilio(p TwilioParams) Provider {
	return &twilio{gateway: newGateway(NameTwilio, p.BaseURL, DefaultTwilioBaseURL, p.HTTPParams), p: p}
}

// Twilio error codes with a meaning of their own.
const (
	TwilioOptedOut       = 21610 // attempt to send to an unsubscribed recipient
	TwilioQueueFull      = 21611 // the sender has too many queued messages
	TwilioQueueOverflow  = 30001 // queue overflow
	TwilioTooManyRequest = 20429
)

func (t *twilio) Send(ctx context.Context, m Message) (Result, error) {
	if err := mustHave(t.name, "a message id", m.ID, "a recipient", m.To); err != nil {
		return Result{}, err
	}
	f := url.Values{}
	f.Set("To", m.To)
	f.Set("Body", m.Body)
	switch {
	case t.p.MessagingServiceSID != "":
		f.Set("MessagingServiceSid", t.p.MessagingServiceSID)
	case m.From != "":
		f.Set("From", m.From)
	case t.p.From != "":
		f.Set("From", t.p.From)
	default:
		return Result{}, &Error{Reason: t.name + " needs a sender (SMS_TWILIO_FROM or a messaging service)"}
	}
	setIf(f, "StatusCallback", withQuery(t.p.StatusCallback, "mid", m.ID))
	if t.p.ValidityPeriod > 0 {
		f.Set("ValidityPeriod", strconv.Itoa(int(t.p.ValidityPeriod/time.Second)))
	}
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("Authorization", basicAuth(t.p.AccountSID, t.p.AuthToken))
	a, err := t.call(ctx, http.MethodPost, t.base+"/2010-04-01/Accounts/"+url.PathEscape(t.p.AccountSID)+"/Messages.json",
		"application/x-www-form-urlencoded", []byte(f.Encode()), h)
	if err != nil {
		return Result{}, err
	}
	var ans struct {
		Sid     string          `json:"sid"`
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	}
	jerr := json.Unmarshal(a.body, &ans)
	if a.status < 200 || a.status > 299 {
		return Result{}, twilioError(t.name, a, strings.Trim(string(ans.Code), `"`), firstNonEmpty(ans.Message, string(a.body)))
	}
	if jerr != nil || ans.Sid == "" {
		return Result{}, malformed(t.name, a, jerr)
	}
	return Result{ProviderMessageID: ans.Sid, Provider: t.name}, nil
}

// twilioError classifies a refusal by HTTP status, then by Twilio's code.
func twilioError(name string, a answer, code, text string) *Error {
	e := statusError(name, a, code, text)
	n, _ := strconv.Atoi(code)
	switch n {
	case TwilioOptedOut:
		e.Transient, e.OptOut = false, true
	case TwilioQueueFull, TwilioQueueOverflow, TwilioTooManyRequest:
		slowDown(e, time.Second)
	}
	return e
}
