package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ReportStatus is what a delivery report says about a message.
type ReportStatus int

const (
	// ReportPending is an intermediate report (queued, sent to the
	// operator): nothing to record yet.
	ReportPending ReportStatus = iota
	// ReportDelivered: the handset (or the operator, for providers that
	// report no further) has the message.
	ReportDelivered
	// ReportFailed: the message will not be delivered; Code and Text say why.
	ReportFailed
	// ReportDND: failed because the number is on the do-not-disturb registry
	// or opted out at the provider; the number is to be opted out with
	// reason "dnd" (SPEC §7), and the message failed.
	ReportDND
)

func (s ReportStatus) String() string {
	switch s {
	case ReportDelivered:
		return "delivered"
	case ReportFailed:
		return "failed"
	case ReportDND:
		return "dnd"
	}
	return "pending"
}

// Final reports whether the status ends the message's delivery.
func (s ReportStatus) Final() bool { return s != ReportPending }

// Report is one delivery report. At least one of MessageID and
// ProviderMessageID is set.
type Report struct {
	// MessageID is our message id when the provider echoed it (Exotel
	// CustomField, Kaleyra ref, the "mid" query parameter of the callback
	// URL we gave Twilio and Kaleyra), else "".
	MessageID string
	// ProviderMessageID is the id the provider answered at send time.
	ProviderMessageID string
	Status            ReportStatus
	// Code and Text are the provider's status or error code and its
	// description, for failed messages in particular.
	Code string
	Text string
	// Phone is the recipient in E.164 when the report names it ("" if not):
	// the number a DND report opts out.
	Phone string
	// At is when the provider says it happened; zero when it does not say.
	At time.Time
}

// Inbound is one message a customer sent us.
type Inbound struct {
	From              string // E.164
	Text              string
	ProviderMessageID string
	At                time.Time
}

// CallbackParser reads a provider's delivery reports and inbound messages
// from the HTTP request the provider made. Parsing is pure: it neither
// authenticates the request nor answers it. A malformed request gives an
// error wrapping ErrBadCallback (answer 400); a well-formed one with nothing
// of interest gives an empty slice.
type CallbackParser interface {
	ParseDLR(r *http.Request) ([]Report, error)
	ParseInbound(r *http.Request) ([]Inbound, error)
}

// ErrBadCallback marks a callback request that cannot be read.
var ErrBadCallback = errors.New("malformed callback")

// MaxCallbackBody bounds a callback body (Gupshup batches 20 reports, MSG91
// may batch more).
const MaxCallbackBody = 1 << 20

// MaxReportsPerCallback bounds the reports taken from one request.
const MaxReportsPerCallback = 1000

// Parser returns the CallbackParser of the named provider.
func Parser(name string) (CallbackParser, bool) {
	switch name {
	case NameWebhook:
		return webhookCallbacks{}, true
	case NameMSG91:
		return msg91Callbacks{}, true
	case NameExotel:
		return exotelCallbacks{}, true
	case NameKaleyra:
		return kaleyraCallbacks{}, true
	case NameGupshup:
		return gupshupCallbacks{}, true
	case NameTwilio:
		return twilioCallbacks{}, true
	}
	return nil, false
}

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadCallback, fmt.Sprintf(format, args...))
}

// callback is a request read once: its query, its body and, for a form or
// an empty body, its fields (query and body together).
type callback struct {
	method string
	json   bool
	body   []byte
	query  url.Values
	form   url.Values // query plus form body
}

// readCallback reads r's body (bounded) and puts it back, so that a caller
// that verified a signature first (ParseForm) or parses twice still works.
func readCallback(r *http.Request) (*callback, error) {
	c := &callback{method: r.Method, query: r.URL.Query()}
	if r.Body != nil {
		data, err := io.ReadAll(io.LimitReader(r.Body, MaxCallbackBody+1))
		_ = r.Body.Close()
		if err != nil {
			return nil, badf("cannot read the body")
		}
		if len(data) > MaxCallbackBody {
			return nil, badf("body larger than %d bytes", MaxCallbackBody)
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		c.body = bytes.TrimSpace(data)
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	c.json = ct == "application/json" || strings.HasSuffix(ct, "+json") ||
		(ct == "" || ct == "text/plain") && len(c.body) > 0 && (c.body[0] == '{' || c.body[0] == '[')
	c.form = url.Values{}
	for k, v := range c.query {
		c.form[k] = append([]string(nil), v...)
	}
	if !c.json && len(c.body) > 0 {
		f, err := url.ParseQuery(string(c.body))
		if err != nil {
			return nil, badf("the body is not form-encoded")
		}
		for k, v := range f {
			c.form[k] = append(c.form[k], v...)
		}
	}
	return c, nil
}

// first is the first non-empty value among keys, matched without regard to
// case.
func first(v url.Values, keys ...string) string {
	for _, k := range keys {
		if s := strings.TrimSpace(v.Get(k)); s != "" {
			return s
		}
		for have, vals := range v {
			if strings.EqualFold(have, k) && len(vals) > 0 && strings.TrimSpace(vals[0]) != "" {
				return strings.TrimSpace(vals[0])
			}
		}
	}
	return ""
}

// flatJSON decodes a JSON object into string values (numbers as their text,
// null and nested values skipped), so lenient field lookups work on JSON as on
// forms.
func flatJSON(raw json.RawMessage) (url.Values, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, x := range obj {
		if s, ok := jsonText(x); ok {
			v.Set(k, s)
		}
	}
	return v, nil
}

// jsonText is a JSON string's value or a number's text.
func jsonText(x json.RawMessage) (string, bool) {
	x = bytes.TrimSpace(x)
	if len(x) == 0 {
		return "", false
	}
	switch x[0] {
	case '"':
		var s string
		if json.Unmarshal(x, &s) != nil {
			return "", false
		}
		return s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 't', 'f':
		return string(x), true
	}
	return "", false
}

// jsonObjects reads a JSON object or an array of objects.
func jsonObjects(body []byte) ([]url.Values, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, badf("empty body")
	}
	var raws []json.RawMessage
	if body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, badf("the body is not a JSON array of objects")
		}
	} else {
		raws = []json.RawMessage{body}
	}
	if len(raws) > MaxReportsPerCallback {
		return nil, badf("more than %d events in one request", MaxReportsPerCallback)
	}
	out := make([]url.Values, 0, len(raws))
	for _, r := range raws {
		v, err := flatJSON(r)
		if err != nil {
			return nil, badf("the body is not a JSON object or array of objects")
		}
		out = append(out, v)
	}
	return out, nil
}

// ist is the zone of the Indian providers' local timestamps.
var ist = time.FixedZone("IST", 5*3600+1800)

// parseTime reads a provider timestamp: RFC 3339, "2006-01-02 15:04:05"
// (in loc), or Unix seconds or milliseconds. Zero when absent or unreadable.
func parseTime(s string, loc *time.Location) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if n > 1e12 {
			return time.UnixMilli(n).UTC()
		}
		return time.Unix(n, 0).UTC()
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05-0700", time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006/01/02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// Keyword is what an inbound text asks for (SPEC §7).
type Keyword int

const (
	KeywordNone  Keyword = iota // any other text
	KeywordStop                 // opt the sender out
	KeywordStart                // opt the sender back in
)

func (k Keyword) String() string {
	switch k {
	case KeywordStop:
		return "stop"
	case KeywordStart:
		return "start"
	}
	return "none"
}

// ClassifyKeyword reads an inbound text as a stop keyword (STOP, STOPALL,
// UNSUBSCRIBE, END, QUIT, CANCEL, OPTOUT) or a start keyword (START,
// UNSTOP), ignoring case and spaces ("Stop all" is STOPALL); any other text
// is KeywordNone.
func ClassifyKeyword(text string) Keyword {
	var b strings.Builder
	for _, r := range text {
		if !unicode.IsSpace(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	switch b.String() {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT":
		return KeywordStop
	case "START", "UNSTOP":
		return KeywordStart
	}
	return KeywordNone
}

// inboundFrom builds an Inbound from lenient field names; ok is false when
// it has no sender.
func inboundFrom(v url.Values, fromKeys, textKeys, idKeys, timeKeys []string, loc *time.Location) (Inbound, bool) {
	from := e164(first(v, fromKeys...))
	if from == "" {
		return Inbound{}, false
	}
	return Inbound{
		From: from, Text: first(v, textKeys...), ProviderMessageID: first(v, idKeys...),
		At: parseTime(first(v, timeKeys...), loc),
	}, true
}

// parseInbound reads one inbound message (form, query or JSON object) or a
// JSON array of them.
func parseInbound(r *http.Request, fromKeys, textKeys, idKeys, timeKeys []string, loc *time.Location) ([]Inbound, error) {
	c, err := readCallback(r)
	if err != nil {
		return nil, err
	}
	var items []url.Values
	if c.json {
		if items, err = jsonObjects(c.body); err != nil {
			return nil, err
		}
	} else {
		items = []url.Values{c.form}
	}
	out := make([]Inbound, 0, len(items))
	for _, v := range items {
		in, ok := inboundFrom(v, fromKeys, textKeys, idKeys, timeKeys, loc)
		if !ok {
			return nil, badf("an inbound message without a sender number")
		}
		out = append(out, in)
	}
	return out, nil
}
