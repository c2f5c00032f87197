package provider

// Twilio status callbacks and incoming messages, as documented at
// twilio.com/docs/messaging/guides/track-outbound-message-status
// (form-encoded MessageSid, MessageStatus queued | sending | sent |
// delivered | undelivered | failed | read | canceled, ErrorCode, To) and
// twilio.com/docs/messaging/guides/webhook-request (From, To, Body,
// MessageSid), signed as in twilio.com/docs/usage/security.

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio signs with HMAC-SHA1; we only verify
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

type twilioCallbacks struct{}

func twilioStatus(status, code string) ReportStatus {
	if code == strconv.Itoa(TwilioOptedOut) {
		return ReportDND
	}
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "delivered", "read":
		return ReportDelivered
	case "undelivered", "failed", "canceled":
		return ReportFailed
	}
	return ReportPending
}

func (twilioCallbacks) ParseDLR(r *http.Request) ([]Report, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	if c.json {
		return nil, badf("twilio status callbacks are form-encoded")
	}
	v := c.form
	sid, st := first(v, "MessageSid", "SmsSid"), first(v, "MessageStatus", "SmsStatus")
	if sid == "" || st == "" {
		return nil, badf("twilio status callback without MessageSid or MessageStatus")
	}
	code := first(v, "ErrorCode")
	return []Report{{
		MessageID: first(c.query, "mid"), ProviderMessageID: sid,
		Status: twilioStatus(st, code), Code: firstNonEmpty(code, st), Text: first(v, "ErrorMessage"),
		Phone: e164(first(v, "To")),
	}}, nil
}

func (twilioCallbacks) ParseInbound(r *http.Request) ([]Inbound, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	in, ok := inboundFrom(c.form, []string{"From"}, []string{"Body"}, []string{"MessageSid", "SmsSid"}, nil, ist)
	if !ok {
		return nil, badf("twilio incoming message without From")
	}
	return []Inbound{in}, nil
}

// TwilioSignature computes X-Twilio-Signature for a request to fullURL (as
// Twilio called it, query included) with form parameters params:
// Base64(HMAC-SHA1(authToken, fullURL + each parameter's name and value,
// sorted by name)).
func TwilioSignature(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyTwilioRequest checks r's X-Twilio-Signature against fullURL, the URL
// Twilio was given (behind a proxy it differs from what r.URL shows, so the
// caller rebuilds it from the public base URL and r.URL.RequestURI()). The
// body stays readable for ParseDLR and ParseInbound.
func VerifyTwilioRequest(r *http.Request, authToken, fullURL string) bool {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || authToken == "" {
		return false
	}
	c, err := readCallback(r)
	if err != nil {
		return false
	}
	params := url.Values{}
	if !c.json && len(c.body) > 0 {
		if params, err = url.ParseQuery(string(c.body)); err != nil {
			return false
		}
	}
	want := TwilioSignature(authToken, fullURL, params)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.TrimSpace(sig))) == 1
}
