package provider

// MSG91, as documented at control.msg91.com/apidoc/textsms/send-sms-flow.php
// (POST /api/v5/flow with an authkey header; recipients [{mobiles, VAR…}],
// each variable named as in the template; answer {"message": <request id>,
// "type": "success"}, or "type": "error" with the reason in "message") and
// msg91.com/help/how-can-i-get-the-delivery-reports-on-my-webhook-url (the
// delivery report names the request id and the number, so that pair is the
// provider message id of each recipient).

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// DefaultMSG91BaseURL is MSG91's API host.
const DefaultMSG91BaseURL = "https://control.msg91.com"

// MSG91MaxBatch is how many recipients we put in one flow request. MSG91
// publishes no limit; 100 keeps a request small enough to retry cheaply.
const MSG91MaxBatch = 100

// MSG91Params configures NewMSG91.
type MSG91Params struct {
	BaseURL string // default DefaultMSG91BaseURL
	AuthKey string
	HTTPParams
}

type msg91 struct {
	gateway
	authKey string
}

// NewMSG91 returns MSG91's flow API as a BatchProvider. The template sent is
// Message.ProviderTemplateID, else DLTTemplateID (SPEC §8); Message.Vars are
// the recipient's variables. MSG91 takes no id of ours, so delivery reports
// are matched by ProviderMessageID "<request id>:<number>".
func NewMSG91(p MSG91Params) BatchProvider {
	return &msg91{gateway: newGateway(NameMSG91, p.BaseURL, DefaultMSG91BaseURL, p.HTTPParams), authKey: p.AuthKey}
}

func (g *msg91) MaxBatch() int { return MSG91MaxBatch }

// MSG91MessageID is the provider message id of one recipient of a flow
// request, as stored at send time and rebuilt from delivery reports.
func MSG91MessageID(requestID, number string) string {
	return strings.TrimSpace(requestID) + ":" + digits(number)
}

func msg91Template(m Message) string {
	if m.ProviderTemplateID != "" {
		return m.ProviderTemplateID
	}
	return m.DLTTemplateID
}

func (g *msg91) check(m Message) error {
	if err := mustHave(g.name, "a message id", m.ID, "a template id (providerTemplateId or dltTemplateId)", msg91Template(m)); err != nil {
		return err
	}
	if digits(m.To) == "" {
		return &Error{Reason: g.name + " needs a recipient number"}
	}
	return nil
}

func (g *msg91) Send(ctx context.Context, m Message) (Result, error) {
	if err := g.check(m); err != nil {
		return Result{}, err
	}
	res := g.flow(ctx, []Message{m})
	return res[0].Result, res[0].Err
}

// SendBatch sends one flow request per template and sender. MSG91 answers a
// flow request as a whole, so a refused request is retried message by
// message (isolate) to find the one at fault.
func (g *msg91) SendBatch(ctx context.Context, msgs []Message) []BatchResult {
	if out := splitOversize(ctx, g, msgs, MSG91MaxBatch); out != nil {
		return out
	}
	out := make([]BatchResult, len(msgs))
	type key struct{ tpl, from string }
	groups := map[key][]int{}
	var order []key
	for i, m := range msgs {
		if err := g.check(m); err != nil {
			out[i].Err = err
			continue
		}
		k := key{msg91Template(m), m.From}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		idx := groups[k]
		part := make([]Message, len(idx))
		for j, i := range idx {
			part[j] = msgs[i]
		}
		res := g.flow(ctx, part)
		if len(part) > 1 && res[0].Err != nil {
			res = isolate(ctx, g, part, res[0].Err)
		}
		for j, i := range idx {
			out[i] = res[j]
		}
	}
	return out
}

type msg91Answer struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// flow sends msgs (same template and sender) in one request.
func (g *msg91) flow(ctx context.Context, msgs []Message) []BatchResult {
	recipients := make([]map[string]string, len(msgs))
	for i, m := range msgs {
		r := make(map[string]string, len(m.Vars)+1)
		for k, v := range m.Vars {
			r[k] = v
		}
		r["mobiles"] = digits(m.To)
		recipients[i] = r
	}
	body, err := json.Marshal(struct {
		TemplateID string              `json:"template_id"`
		Sender     string              `json:"sender,omitempty"`
		ShortURL   string              `json:"short_url"`
		Recipients []map[string]string `json:"recipients"`
	}{msg91Template(msgs[0]), msgs[0].From, "0", recipients})
	if err != nil {
		return allErr(len(msgs), &Error{Reason: "cannot encode message", Err: err})
	}
	h := http.Header{}
	h.Set("authkey", g.authKey)
	h.Set("Accept", "application/json")
	a, err := g.call(ctx, http.MethodPost, g.base+"/api/v5/flow", "application/json", body, h)
	if err != nil {
		return allErr(len(msgs), err)
	}
	var ans msg91Answer
	jerr := json.Unmarshal(a.body, &ans)
	ok2xx := a.status >= 200 && a.status <= 299
	switch {
	case !ok2xx:
		return allErr(len(msgs), statusError(g.name, a, strings.Trim(string(ans.Code), `"`), firstNonEmpty(ans.Message, string(a.body))))
	case jerr != nil:
		return allErr(len(msgs), malformed(g.name, a, jerr))
	case !strings.EqualFold(ans.Type, "success") || strings.TrimSpace(ans.Message) == "":
		// MSG91 answers some refusals with 200 and "type": "error".
		e := statusError(g.name, answer{header: a.header}, strings.Trim(string(ans.Code), `"`), ans.Message)
		if strings.Contains(strings.ToLower(ans.Message), "auth") {
			e.Status = http.StatusUnauthorized
		}
		return allErr(len(msgs), e)
	}
	out := make([]BatchResult, len(msgs))
	for i, m := range msgs {
		out[i].Result = Result{ProviderMessageID: MSG91MessageID(ans.Message, m.To), Provider: g.name}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
