package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Name implements Named.
func (w *webhook) Name() string { return NameWebhook }

// batchWebhook is the webhook provider with SMS_WEBHOOK_BATCH > 1: up to n
// messages a request as {"messages": [ <SPEC §6 body>, … ]}, answered by
// {"results": [{"messageId", "status": "accepted" | "rejected" | "retry",
// "providerMessageId"?, "error"?}]} (SPEC §8).
type batchWebhook struct {
	*webhook
	n int
}

func (b *batchWebhook) MaxBatch() int { return b.n }

type batchResultWire struct {
	MessageID         string          `json:"messageId"`
	Status            string          `json:"status"`
	ProviderMessageID json.RawMessage `json:"providerMessageId"`
	Error             json.RawMessage `json:"error"`
}

func (b *batchWebhook) SendBatch(ctx context.Context, msgs []Message) []BatchResult {
	if out := splitOversize(ctx, b, msgs, b.n); out != nil {
		return out
	}
	if len(msgs) == 0 {
		return nil
	}
	if b.urlErr != nil {
		return allErr(len(msgs), &Error{Reason: "invalid webhook url", Err: b.urlErr})
	}
	out := make([]BatchResult, len(msgs))
	wire := make([]wireMessage, 0, len(msgs))
	pos := make(map[string]int, len(msgs)) // message id -> index in msgs
	for i, m := range msgs {
		if m.ID == "" {
			out[i].Err = &Error{Reason: "message has no id"}
			continue
		}
		if _, dup := pos[m.ID]; dup {
			out[i].Err = &Error{Reason: "message id repeated in one batch"}
			continue
		}
		pos[m.ID] = i
		wire = append(wire, wireMessage{
			MessageID: m.ID, To: m.To, From: m.From, Body: m.Body,
			TemplateID: m.TemplateID, DLTTemplateID: m.DLTTemplateID, DLTEntityID: m.DLTEntityID,
			CampaignID: m.CampaignID, CustomerID: m.CustomerID, InitiationID: m.InitiationID,
		})
	}
	if len(wire) == 0 {
		return out
	}
	if err := ctx.Err(); err != nil {
		return allErr(len(msgs), err)
	}
	body, err := json.Marshal(struct {
		Messages []wireMessage `json:"messages"`
	}{wire})
	if err != nil {
		return allErr(len(msgs), &Error{Reason: "cannot encode messages", Err: err})
	}
	results, err := b.post(ctx, body)
	fill := func(err error) {
		for _, i := range pos {
			out[i].Err = err
		}
	}
	if err != nil {
		fill(err)
		return out
	}
	seen := make(map[string]bool, len(results))
	for _, r := range results {
		i, ok := pos[r.MessageID]
		if !ok || seen[r.MessageID] {
			continue // not ours, or repeated: the first answer counts
		}
		seen[r.MessageID] = true
		out[i] = batchOutcome(r)
	}
	for id, i := range pos {
		if !seen[id] {
			// Perhaps accepted, perhaps not: retried with the same message id.
			out[i].Err = &Error{Transient: true, Reason: "webhook answered no result for this message"}
		}
	}
	return out
}

func batchOutcome(r batchResultWire) BatchResult {
	text := ""
	if len(r.Error) > 0 && string(r.Error) != "null" {
		var s string
		if json.Unmarshal(r.Error, &s) != nil {
			s = string(r.Error)
		}
		text = reasonSnippet([]byte(s))
	}
	switch strings.ToLower(strings.TrimSpace(r.Status)) {
	case "accepted":
		return BatchResult{Result: Result{ProviderMessageID: parseProviderMessageID(
			append(append([]byte(`{"providerMessageId":`), nonNull(r.ProviderMessageID)...), '}')), Provider: NameWebhook}}
	case "retry":
		return BatchResult{Err: &Error{Transient: true, Code: "retry", Reason: joinReason("webhook asked to retry", text)}}
	case "rejected":
		return BatchResult{Err: &Error{Code: "rejected", Reason: joinReason("webhook rejected the message", text)}}
	}
	return BatchResult{Err: &Error{Transient: true, Reason: "webhook answered an unknown status " + strconv.Quote(reasonSnippet([]byte(r.Status)))}}
}

func nonNull(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("null")
	}
	return raw
}

func joinReason(what, text string) string {
	if text == "" {
		return what
	}
	return what + ": " + text
}

// post sends one batch request and returns its results; a refused request
// is classified exactly as a single send (SPEC §6).
func (b *batchWebhook) post(ctx context.Context, body []byte) ([]batchResultWire, error) {
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Reason: "invalid webhook url", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if b.auth != "" {
		req.Header.Set("Authorization", b.auth)
	}
	resp, err := b.client.Do(req) //nolint:bodyclose // drainClose below closes it after draining
	if err != nil {
		return nil, classifyNetError(ctx, err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var ans struct {
			Results []batchResultWire `json:"results"`
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		if rerr != nil {
			return nil, classifyNetError(ctx, rerr)
		}
		if err := json.Unmarshal(data, &ans); err != nil {
			return nil, &Error{Transient: true, Status: resp.StatusCode, Reason: "webhook answered " + strconv.Itoa(resp.StatusCode) + " without a results list", Err: err}
		}
		return ans.Results, nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxReasonRead))
	e := &Error{Status: resp.StatusCode, Reason: "provider answered " + strconv.Itoa(resp.StatusCode)}
	if s := reasonSnippet(data); s != "" {
		e.Reason += ": " + s
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		slowDown(e, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		e.Transient = true
	}
	return nil, e
}
