package provider

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Names of the providers, as SMS_PROVIDER spells them (SPEC §2, §8).
const (
	NameLog     = "log"
	NameWebhook = "webhook"
	NameMSG91   = "msg91"
	NameExotel  = "exotel"
	NameKaleyra = "kaleyra"
	NameGupshup = "gupshup"
	NameTwilio  = "twilio"
)

// maxAnswer bounds the bytes of a gateway answer that are read: a bulk answer
// of 100 messages is a few tens of KiB.
const maxAnswer = 1 << 20

// HTTPParams are the settings every gateway adapter shares.
type HTTPParams struct {
	// Timeout bounds each request, reading the answer included. Default 10s.
	Timeout time.Duration
	// Client is optional; the default uses NewTransport and follows no
	// redirects.
	Client *http.Client
	Log    *zap.Logger
}

// gateway is the HTTP side common to the adapters: one request with a
// deadline, the answer read whole (bounded), network errors classified.
type gateway struct {
	name    string
	base    string // base URL without a trailing slash
	timeout time.Duration
	client  *http.Client
	log     *zap.Logger
}

func newGateway(name, base, defaultBase string, p HTTPParams) gateway {
	g := gateway{name: name, base: strings.TrimRight(base, "/"), timeout: p.Timeout, client: p.Client, log: p.Log}
	if g.base == "" {
		g.base = defaultBase
	}
	if g.timeout <= 0 {
		g.timeout = DefaultWebhookTimeout
	}
	if g.client == nil {
		g.client = &http.Client{
			Transport: NewTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if g.log == nil {
		g.log = zap.NewNop()
	}
	g.log = g.log.Named("sms." + name)
	return g
}

// Name implements Named.
func (g gateway) Name() string { return g.name }

type answer struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request and reads the whole answer. A network error or a
// timeout comes back as a transient *Error; when ctx itself ended, its error
// (wrapped) comes back instead, so that the caller decides.
func (g gateway) call(ctx context.Context, method, u, contentType string, body []byte, header http.Header) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(rctx, method, u, rd)
	if err != nil {
		return answer{}, &Error{Reason: "invalid " + g.name + " base url", Err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	start := time.Now()
	resp, err := g.client.Do(req) //nolint:bodyclose // drainClose below closes it
	if err != nil {
		err = classifyNetError(ctx, err)
		g.debug(method, 0, start, err)
		return answer{}, err
	}
	defer drainClose(resp.Body)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		// An error answer cut short is still an error answer.
		err = nil
	}
	if err != nil {
		// Accepted or not, we cannot tell: the same Idempotency-Key (where the
		// provider has one) makes the retry safe.
		err = classifyNetError(ctx, err)
		g.debug(method, resp.StatusCode, start, err)
		return answer{}, err
	}
	g.debug(method, resp.StatusCode, start, nil)
	return answer{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func (g gateway) debug(method string, status int, start time.Time, err error) {
	if ce := g.log.Check(zap.DebugLevel, "provider request"); ce != nil {
		ce.Write(zap.String("method", method), zap.Int("status", status),
			zap.Duration("elapsed", time.Since(start)), zap.Error(err))
	}
}

// statusError classifies a refused request by its HTTP status (SPEC §5):
// 408, 429 and 5xx are transient, 429 also asks every worker to slow down
// (Retry-After honoured); anything else is permanent. code and text are the
// provider's own, kept in Reason.
func statusError(name string, a answer, code, text string) *Error {
	e := &Error{Status: a.status, Code: code, Reason: reason(name, a.status, code, text)}
	switch {
	case a.status == http.StatusTooManyRequests:
		slowDown(e, parseRetryAfter(a.header.Get("Retry-After"), time.Now()))
	case a.status == http.StatusRequestTimeout, a.status >= 500:
		e.Transient = true
	}
	return e
}

// reason is "<name> answered <status>: <code> <text>", made client-safe.
func reason(name string, status int, code, text string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(" answered ")
	if status != 0 {
		b.WriteString(strconv.Itoa(status))
	} else {
		b.WriteString("an error")
	}
	detail := strings.TrimSpace(strings.TrimSpace(code) + " " + strings.TrimSpace(text))
	if s := reasonSnippet([]byte(detail)); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

// malformed is the error for a 2xx answer we cannot read. It is transient: the
// provider may or may not have taken the message, and a retry carries the
// same message id.
func malformed(name string, a answer, err error) *Error {
	return &Error{Transient: true, Status: a.status, Reason: name + " answered " + strconv.Itoa(a.status) + " with a body we cannot read", Err: err}
}

// withQuery returns u with key=value added to its query; u is returned as is
// when it is empty or does not parse.
func withQuery(u, key, value string) string {
	if u == "" {
		return ""
	}
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := pu.Query()
	q.Set(key, value)
	pu.RawQuery = q.Encode()
	return pu.String()
}

// digits keeps the digits of a phone number: "+91 98765-43210" ->
// "919876543210", the international form without "+" that MSG91 and Gupshup
// want.
func digits(phone string) string {
	var b strings.Builder
	for _, r := range phone {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// e164 turns a provider's phone number ("919876543210", "+91 98765 43210")
// into "+919876543210"; "" when it holds no digits. Numbers without a
// country code cannot be told apart from ones with it, so digits are taken as
// given.
func e164(phone string) string {
	d := digits(phone)
	if d == "" {
		return ""
	}
	return "+" + d
}

// gsm7 reports whether s fits the GSM 03.38 default alphabet (with its
// extension table), i.e. needs no Unicode encoding.
func gsm7(s string) bool {
	const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" + "^{}\\[~]|€\f"
	for _, r := range s {
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ') {
			continue
		}
		if !strings.ContainsRune(basic, r) {
			return false
		}
	}
	return true
}

// basicAuth is the value of an Authorization header for HTTP basic auth.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// mustHave returns a permanent error naming the first empty field.
func mustHave(name string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.TrimSpace(fields[i+1]) == "" {
			return &Error{Reason: fmt.Sprintf("%s needs %s", name, fields[i])}
		}
	}
	return nil
}
