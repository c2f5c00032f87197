package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// DefaultWebhookTimeout bounds one webhook request, body included (SPEC §6).
const DefaultWebhookTimeout = 10 * time.Second

const (
	maxAcceptBody    = 64 << 10 // bytes of a 2xx body read for providerMessageId
	maxDrain         = 64 << 10 // bytes drained before close so the connection is reused
	maxReasonRead    = 1 << 10  // bytes of an error body read for the reason
	maxReasonBytes   = 200      // bytes of the error body kept in Reason
	maxProviderMsgID = 256      // longer provider ids are cut
)

// WebhookParams configures NewWebhook.
type WebhookParams struct {
	URL   string
	Token string // sent as "Authorization: Bearer <Token>" when set
	// Timeout bounds each request, reading the answer included. Default 10s.
	Timeout time.Duration
	// Client is optional. The default client uses NewTransport and does not
	// follow redirects (a 3xx answer is a permanent failure).
	Client *http.Client
	Log    *zap.Logger
	// Batch is SMS_WEBHOOK_BATCH: with more than 1, NewWebhook returns a
	// BatchProvider posting up to Batch messages a request (SPEC §8).
	Batch int
}

// NewTransport returns an HTTP/1.1 transport tuned for many concurrent
// requests to one host, with keep-alive connections kept for reuse.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   DefaultWebhookTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
}

type webhook struct {
	url     string
	urlErr  error
	auth    string
	timeout time.Duration
	client  *http.Client
	log     *zap.Logger
}

// NewWebhook returns a Provider speaking the webhook protocol of SPEC §6. An
// invalid URL is not reported here (configuration is validated at start) but
// makes every Send fail permanently.
func NewWebhook(p WebhookParams) Provider {
	w := &webhook{url: p.URL, timeout: p.Timeout, client: p.Client, log: p.Log}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	if w.client == nil {
		w.client = &http.Client{
			Transport: NewTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if w.log == nil {
		w.log = zap.NewNop()
	}
	w.log = w.log.Named("sms.webhook")
	if p.Token != "" {
		w.auth = "Bearer " + p.Token
	}
	if u, err := url.Parse(p.URL); err != nil {
		w.urlErr = err
	} else if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		w.urlErr = fmt.Errorf("webhook url must be absolute http(s), got scheme %q", u.Scheme)
	}
	if p.Batch > 1 {
		return &batchWebhook{webhook: w, n: p.Batch}
	}
	return w
}

// wireMessage is the request body of SPEC §6.
type wireMessage struct {
	MessageID     string `json:"messageId"`
	To            string `json:"to"`
	From          string `json:"from"`
	Body          string `json:"body"`
	TemplateID    string `json:"templateId"`
	DLTTemplateID string `json:"dltTemplateId"`
	DLTEntityID   string `json:"dltEntityId"`
	CampaignID    string `json:"campaignId"`
	CustomerID    string `json:"customerId"`
	InitiationID  string `json:"initiationId"`
}

func (w *webhook) Send(ctx context.Context, m Message) (Result, error) {
	if w.urlErr != nil {
		return Result{}, &Error{Reason: "invalid webhook url", Err: w.urlErr}
	}
	if m.ID == "" {
		return Result{}, &Error{Reason: "message has no id"}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	body, err := json.Marshal(wireMessage{
		MessageID: m.ID, To: m.To, From: m.From, Body: m.Body,
		TemplateID: m.TemplateID, DLTTemplateID: m.DLTTemplateID, DLTEntityID: m.DLTEntityID,
		CampaignID: m.CampaignID, CustomerID: m.CustomerID, InitiationID: m.InitiationID,
	})
	if err != nil {
		return Result{}, &Error{Reason: "cannot encode message", Err: err}
	}

	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, &Error{Reason: "invalid webhook url", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", m.ID)
	if w.auth != "" {
		req.Header.Set("Authorization", w.auth)
	}

	start := time.Now()
	resp, err := w.client.Do(req) //nolint:bodyclose // drainClose below closes it after draining
	if err != nil {
		err = classifyNetError(ctx, err)
		w.debug(m, 0, start, err)
		return Result{}, err
	}
	// Runs before cancel: the body is drained while the request is still live.
	defer drainClose(resp.Body)

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Accepted, whatever happens while reading the optional body.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxAcceptBody))
		res := Result{ProviderMessageID: parseProviderMessageID(data), Provider: NameWebhook}
		w.debug(m, resp.StatusCode, start, nil)
		return res, nil
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
	w.debug(m, resp.StatusCode, start, e)
	return Result{}, e
}

func (w *webhook) debug(m Message, status int, start time.Time, err error) {
	if ce := w.log.Check(zap.DebugLevel, "webhook send"); ce != nil {
		ce.Write(zap.String("message_id", m.ID), zap.String("to", MaskPhone(m.To)),
			zap.Int("status", status), zap.Duration("elapsed", time.Since(start)), zap.Error(err))
	}
}

// classifyNetError turns an error of http.Client.Do into the error Send
// returns. parent is the caller's context: when it ended, its error is
// returned (wrapped, not an *Error) so that the caller decides.
func classifyNetError(parent context.Context, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("sms provider: send abandoned: %w", perr)
	}
	e := &Error{Transient: true, Err: err}
	var ne net.Error
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		e.Reason = "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Reason = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		e.Reason = "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		e.Reason = "connection closed without an answer"
	case errors.As(err, &dnsErr):
		e.Reason = "dns lookup failed"
	default:
		e.Reason = "connection error"
	}
	return e
}

func drainClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, maxDrain)
	_ = body.Close()
}

// parseProviderMessageID reads the optional {"providerMessageId": "…"} of a
// 2xx answer; anything else (no body, not JSON) gives "". A number is taken
// as its decimal text.
func parseProviderMessageID(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	var v struct {
		ProviderMessageID json.RawMessage `json:"providerMessageId"`
	}
	if json.Unmarshal(data, &v) != nil || len(v.ProviderMessageID) == 0 {
		return ""
	}
	var id string
	switch raw := v.ProviderMessageID; raw[0] {
	case '"':
		if json.Unmarshal(raw, &id) != nil {
			return ""
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		id = string(raw)
	}
	return truncateUTF8(strings.TrimSpace(id), maxProviderMsgID)
}

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP-date.
// The result is within [0, MaxRetryAfter]; 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if errors.Is(err, strconv.ErrRange) && v[0] != '-' {
		return MaxRetryAfter
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// reasonSnippet makes a client-safe one-line excerpt of an error body: valid
// UTF-8, no control characters, whitespace collapsed, phone-like digit runs
// masked, at most maxReasonBytes bytes.
func reasonSnippet(data []byte) string {
	s := strings.ToValidUTF8(string(data), "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == ' ' ||
			r == '\u2028' || r == '\u2029' || r == '\u00a0'
	}), " ")
	return truncateUTF8(maskPhoneRuns(s), maxReasonBytes)
}

// maskPhoneRuns masks runs of 8 to 15 digits (E.164 lengths, optionally after
// a "+"), so that a provider echoing the number does not put it in our logs.
// Longer runs (such as 19-digit DLT ids) stay readable.
func maskPhoneRuns(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if n := j - i; n >= 8 && n <= 15 {
			start := i
			if start > 0 && s[start-1] == '+' {
				start--
			}
			b.WriteString(s[last:start])
			b.WriteString(MaskPhone(s[start:j]))
			last = j
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 { // do not cut a rune
		n--
	}
	return strings.TrimSpace(s[:n])
}
