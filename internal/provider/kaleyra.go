package provider

// Kaleyra, as documented at developers.kaleyra.io/docs/send-your-first-sms
// (POST /v1/<SID>/messages with an api-key header, form fields to, sender,
// type, body, template_id, ref and a callback object {url, method}),
// developers.kaleyra.io/docs/send-bulk-sms (one body to up to 100
// comma-separated recipients) and developers.kaleyra.io/docs/sms-callback
// (statuses Sent, Delivered, Failed, Undelivered). The answer's per-recipient
// "data" [{message_id, recipient}] and the error body {code, message} are read
// leniently: the pages we could consult do not show them in full.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// DefaultKaleyraBaseURL is Kaleyra's global API host; Indian accounts use
// https://api.in.kaleyra.io.
const DefaultKaleyraBaseURL = "https://api.kaleyra.io"

// KaleyraMaxBatch is the documented recipients per bulk request.
const KaleyraMaxBatch = 100

// KaleyraParams configures NewKaleyra.
type KaleyraParams struct {
	BaseURL string // default DefaultKaleyraBaseURL
	SID     string
	APIKey  string
	// Type is the route type: TXN (default), MKT or DEFAULT.
	Type string
	// StatusCallback is our /api/v1/webhooks/dlr/kaleyra URL (token
	// included); empty sends no callback object.
	StatusCallback string
	HTTPParams
}

type kaleyra struct {
	gateway
	p KaleyraParams
}

// NewKaleyra returns Kaleyra's messages API as a BatchProvider. Our message
// id goes out as ref and as the "mid" query parameter of the callback URL of
// single sends. Messages of a batch that share sender, text and template go
// out as one multi-recipient request.
func NewKaleyra(p KaleyraParams) BatchProvider {
	if p.Type == "" {
		p.Type = "TXN"
	}
	return &kaleyra{gateway: newGateway(NameKaleyra, p.BaseURL, DefaultKaleyraBaseURL, p.HTTPParams), p: p}
}

func (k *kaleyra) MaxBatch() int { return KaleyraMaxBatch }

func (k *kaleyra) check(m Message) error {
	if err := mustHave(k.name, "a message id", m.ID, "a recipient", m.To, "a sender", m.From); err != nil {
		return err
	}
	if strings.Contains(m.To, ",") {
		return &Error{Reason: k.name + " recipient must be one number"}
	}
	return nil
}

func (k *kaleyra) Send(ctx context.Context, m Message) (Result, error) {
	if err := k.check(m); err != nil {
		return Result{}, err
	}
	res := k.post(ctx, []Message{m})
	return res[0].Result, res[0].Err
}

func (k *kaleyra) SendBatch(ctx context.Context, msgs []Message) []BatchResult {
	if out := splitOversize(ctx, k, msgs, KaleyraMaxBatch); out != nil {
		return out
	}
	out := make([]BatchResult, len(msgs))
	type key struct{ from, body, tpl string }
	groups := map[key][]int{}
	var order []key
	for i, m := range msgs {
		if err := k.check(m); err != nil {
			out[i].Err = err
			continue
		}
		g := key{m.From, m.Body, m.DLTTemplateID}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	for _, g := range order {
		idx := groups[g]
		part := make([]Message, len(idx))
		for j, i := range idx {
			part[j] = msgs[i]
		}
		res := k.post(ctx, part)
		if len(part) > 1 && allFailed(res) {
			res = isolate(ctx, k, part, res[0].Err)
		}
		for j, i := range idx {
			out[i] = res[j]
		}
	}
	return out
}

func allFailed(res []BatchResult) bool {
	for _, r := range res {
		if r.Err == nil {
			return false
		}
	}
	return len(res) > 0
}

type kaleyraAnswer struct {
	ID   string `json:"id"`
	Data []struct {
		MessageID string `json:"message_id"`
		Recipient string `json:"recipient"`
	} `json:"data"`
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Error   json.RawMessage `json:"error"`
}

// post sends msgs, which share sender, body and template, in one request.
func (k *kaleyra) post(ctx context.Context, msgs []Message) []BatchResult {
	m := msgs[0]
	to := make([]string, len(msgs))
	for i, x := range msgs {
		to[i] = x.To
	}
	f := url.Values{}
	f.Set("to", strings.Join(to, ","))
	f.Set("sender", m.From)
	f.Set("type", k.p.Type)
	f.Set("body", m.Body)
	setIf(f, "template_id", m.DLTTemplateID)
	if !gsm7(m.Body) {
		f.Set("unicode", "1")
	}
	cb := k.p.StatusCallback
	if len(msgs) == 1 {
		f.Set("ref", m.ID)
		cb = withQuery(cb, "mid", m.ID)
	}
	if cb != "" {
		j, _ := json.Marshal(map[string]string{"url": cb, "method": "POST"})
		f.Set("callback", string(j))
	}
	h := http.Header{}
	h.Set("api-key", k.p.APIKey)
	h.Set("Accept", "application/json")
	a, err := k.call(ctx, http.MethodPost, k.base+"/v1/"+url.PathEscape(k.p.SID)+"/messages",
		"application/x-www-form-urlencoded", []byte(f.Encode()), h)
	if err != nil {
		return allErr(len(msgs), err)
	}
	var ans kaleyraAnswer
	jerr := json.Unmarshal(a.body, &ans)
	if a.status < 200 || a.status > 299 {
		return allErr(len(msgs), statusError(k.name, a, strings.Trim(string(ans.Code), `"`), firstNonEmpty(ans.Message, string(ans.Error), string(a.body))))
	}
	if jerr != nil || (ans.ID == "" && len(ans.Data) == 0) {
		return allErr(len(msgs), malformed(k.name, a, jerr))
	}
	byNumber := make(map[string]string, len(ans.Data))
	for _, d := range ans.Data {
		byNumber[digits(d.Recipient)] = d.MessageID
	}
	out := make([]BatchResult, len(msgs))
	for i, x := range msgs {
		id, ok := byNumber[digits(x.To)]
		switch {
		case ok && id != "":
			out[i].Result = Result{ProviderMessageID: id, Provider: k.name}
		case len(ans.Data) == 0 && len(msgs) == 1:
			out[i].Result = Result{ProviderMessageID: ans.ID, Provider: k.name}
		case len(ans.Data) == 0:
			out[i].Result = Result{ProviderMessageID: ans.ID + ":" + digits(x.To), Provider: k.name}
		default:
			out[i].Err = &Error{Status: a.status, Reason: joinReason(k.name+" did not accept this recipient", kaleyraWhy(ans.Error, x.To))}
		}
	}
	return out
}

// kaleyraWhy finds the reason a recipient was left out of an accepted
// request: the value filed under its number in the answer's "error" object,
// else that object as text.
func kaleyraWhy(raw json.RawMessage, to string) string {
	var walk func(v any) string
	walk = func(v any) string {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		for k, x := range m {
			if s, ok := x.(string); ok && (k == to || digits(k) == digits(to)) {
				return s
			}
			if s := walk(x); s != "" {
				return s
			}
		}
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		if s := walk(v); s != "" {
			return reasonSnippet([]byte(s))
		}
	}
	return reasonSnippet(raw)
}
