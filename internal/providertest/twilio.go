package providertest

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Twilio signs with HMAC-SHA1
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Twilio is a fake of Twilio's Messages resource
// (twilio.com/docs/messaging/api/message-resource): POST
// /2010-04-01/Accounts/<Sid>/Messages.json, basic auth sid:token, form To,
// From or MessagingServiceSid, Body, StatusCallback; 201 with the message,
// errors {"code", "message", "more_info", "status"}. A Reject reason that
// starts with a number is that Twilio error code ("21610 unsubscribed").
// Its callbacks carry X-Twilio-Signature made with the auth token.
type Twilio struct {
	gatewayFake
	AccountSID, AuthToken string
}

// NewTwilio starts a Twilio fake for the account.
func NewTwilio(accountSID, authToken string, f GatewayFaults) *Twilio {
	t := &Twilio{AccountSID: accountSID, AuthToken: authToken}
	t.start(t.serve, f)
	return t
}

func twilioError(w http.ResponseWriter, status, code int, msg string) {
	b, _ := json.Marshal(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
	write(w, status, "application/json", string(b))
}

func (t *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/2010-04-01/Accounts/"+t.AccountSID+"/Messages.json" {
		twilioError(w, http.StatusNotFound, 20404, "The requested resource was not found")
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != t.AccountSID || p != t.AuthToken {
		t.requestFault()
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	switch f, ra := t.requestFault(); f {
	case gwOutage:
		twilioError(w, http.StatusServiceUnavailable, 20503, "Service unavailable")
		return
	case gw5xx:
		twilioError(w, http.StatusInternalServerError, 20500, "Internal server error")
		return
	case gw429:
		retryAfterHeader(w, ra)
		twilioError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
		return
	}
	f, bad := readForm(r)
	if bad != "" {
		twilioError(w, http.StatusBadRequest, 21601, bad)
		return
	}
	to, from, svc, body := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid"), f.Get("Body")
	switch {
	case to == "":
		twilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case from == "" && svc == "":
		twilioError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case body == "":
		twilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}
	if reason, ok := t.rejected(to); ok {
		code, text := 21211, reason
		if n, rest, found := strings.Cut(reason, " "); found {
			if c, err := strconv.Atoi(n); err == nil {
				code, text = c, rest
			}
		}
		twilioError(w, http.StatusBadRequest, code, text)
		return
	}
	mid := ""
	if u, err := url.Parse(f.Get("StatusCallback")); err == nil {
		mid = u.Query().Get("mid")
	}
	ids := t.record(false, twilioSid, Accepted{MessageID: mid, To: to, From: firstSet(from, svc), Body: body, StatusCallback: f.Get("StatusCallback")})
	b, _ := json.Marshal(map[string]any{
		"sid": ids[0], "account_sid": t.AccountSID, "to": to, "from": from, "messaging_service_sid": svc,
		"body": body, "status": "queued", "num_segments": "1", "direction": "outbound-api",
		"api_version": "2010-04-01", "error_code": nil, "error_message": nil,
	})
	write(w, http.StatusCreated, "application/json", string(b))
}

func twilioSid(n int) string { return fmt.Sprintf("SM%032x", 0x7e1e0+n) }

// sign makes X-Twilio-Signature for fullURL and a form body, independently
// of the adapter's implementation.
func (t *Twilio) sign(fullURL string, body []byte) http.Header {
	form, _ := url.ParseQuery(string(body))
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		for _, v := range form[k] {
			s += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(t.AuthToken))
	mac.Write([]byte(s))
	return http.Header{"X-Twilio-Signature": {base64.StdEncoding.EncodeToString(mac.Sum(nil))}}
}

// StatusCallback is the signed status callback for an accepted message. The
// "mid" of the StatusCallback URL the message was sent with is kept.
func (t *Twilio) StatusCallback(sid string, o Outcome) Callback {
	a, _ := t.ByProviderID(sid)
	v := url.Values{}
	v.Set("MessageSid", sid)
	v.Set("SmsSid", sid)
	v.Set("AccountSid", t.AccountSID)
	v.Set("To", a.To)
	v.Set("From", a.From)
	v.Set("ApiVersion", "2010-04-01")
	st := "delivered"
	switch o {
	case Failed:
		st = "undelivered"
		v.Set("ErrorCode", "30003")
	case DND:
		st = "failed"
		v.Set("ErrorCode", "21610")
	}
	v.Set("MessageStatus", st)
	v.Set("SmsStatus", st)
	c := formCallback(v)
	if u, err := url.Parse(a.StatusCallback); err == nil && u.Query().Get("mid") != "" {
		c.Query = url.Values{"mid": {u.Query().Get("mid")}}
	}
	c.sign = t.sign
	return c
}

// Inbound is an incoming SMS webhook, signed.
func (t *Twilio) Inbound(from, to, text string) Callback {
	v := url.Values{}
	v.Set("MessageSid", twilioSid(1<<20))
	v.Set("AccountSid", t.AccountSID)
	v.Set("From", from)
	v.Set("To", to)
	v.Set("Body", text)
	v.Set("NumMedia", "0")
	c := formCallback(v)
	c.sign = t.sign
	return c
}
