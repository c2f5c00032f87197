package providertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GatewayFaults are the faults a gateway fake injects. Whole-request faults
// apply in this order: Outage (503), Fail5xx (500 to the next N requests),
// TooMany (429 to the next N requests, with Retry-After when RetryAfter is
// set); then each message whose recipient is in Reject is refused for good
// in the provider's own error shape, inside a bulk request too, while the
// other messages of that request are accepted.
type GatewayFaults struct {
	Outage     bool
	Fail5xx    int
	TooMany    int
	RetryAfter time.Duration
	// Reject maps a recipient (its digits, e.g. "919876543210") to the
	// reason it is refused with.
	Reject map[string]string
}

// Accepted is one message a gateway fake accepted, as it read it off the wire.
type Accepted struct {
	// MessageID is our message id when the request carried it (Exotel
	// CustomField, Kaleyra ref, the mid of Twilio's StatusCallback), else "".
	MessageID         string
	ProviderMessageID string
	To                string // as sent
	From              string
	Body              string
	TemplateID        string // DLT or provider template id
	EntityID          string // DLT entity id, where the provider takes one
	Vars              map[string]string
	StatusCallback    string
	Bulk              bool // came in a bulk or multi-recipient request
}

// gatewayFake is what the gateway fakes share: a loopback server, the
// faults, and the record of accepted messages.
type gatewayFake struct {
	hts *httptest.Server

	mu       sync.Mutex
	faults   GatewayFaults
	fail5xx  int
	tooMany  int
	requests int
	bulk     int
	seq      int
	accepted []*Accepted
	byPID    map[string]*Accepted
	byID     map[string]*Accepted
	notify   chan struct{}
}

func (g *gatewayFake) start(h http.HandlerFunc, f GatewayFaults) {
	g.byPID, g.byID = map[string]*Accepted{}, map[string]*Accepted{}
	g.SetFaults(f)
	g.hts = httptest.NewServer(h)
}

// URL is the fake's base URL, the provider's SMS_<PROVIDER>_BASE_URL.
func (g *gatewayFake) URL() string { return g.hts.URL }

// Close shuts the fake down.
func (g *gatewayFake) Close() { g.hts.Close() }

// SetFaults replaces the faults; the counted ones start again from f.
func (g *gatewayFake) SetFaults(f GatewayFaults) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.faults, g.fail5xx, g.tooMany = f, f.Fail5xx, f.TooMany
}

// Requests is the number of requests received (bad ones included).
func (g *gatewayFake) Requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.requests
}

// BulkRequests is the number of accepted bulk (multi-message) requests.
func (g *gatewayFake) BulkRequests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.bulk
}

// Accepted returns copies of the accepted messages, in order.
func (g *gatewayFake) Accepted() []Accepted {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Accepted, len(g.accepted))
	for i, a := range g.accepted {
		out[i] = *a
	}
	return out
}

// ByProviderID finds an accepted message by the id the fake answered.
func (g *gatewayFake) ByProviderID(id string) (Accepted, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.byPID[id]
	if !ok {
		return Accepted{}, false
	}
	return *a, true
}

// ByMessageID finds an accepted message by our message id, where the
// provider's request carries it.
func (g *gatewayFake) ByMessageID(id string) (Accepted, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, ok := g.byID[id]
	if !ok {
		return Accepted{}, false
	}
	return *a, true
}

// WaitAccepted waits until n messages were accepted or ctx ends.
func (g *gatewayFake) WaitAccepted(ctx context.Context, n int) error {
	for {
		g.mu.Lock()
		got := len(g.accepted)
		if got >= n {
			g.mu.Unlock()
			return nil
		}
		if g.notify == nil {
			g.notify = make(chan struct{})
		}
		ch := g.notify
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("providertest: %d of %d messages accepted: %w", got, n, ctx.Err())
		}
	}
}

type gwFault int

const (
	gwNone gwFault = iota
	gwOutage
	gw5xx
	gw429
)

// requestFault counts the request and draws its whole-request fault.
func (g *gatewayFake) requestFault() (gwFault, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	switch {
	case g.faults.Outage:
		return gwOutage, 0
	case g.fail5xx > 0:
		g.fail5xx--
		return gw5xx, 0
	case g.tooMany > 0:
		g.tooMany--
		return gw429, g.faults.RetryAfter
	}
	return gwNone, 0
}

// rejected is the reason a recipient is refused, if it is.
func (g *gatewayFake) rejected(to string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.faults.Reject[digitsOf(to)]
	return r, ok
}

// record stores accepted messages under provider ids made by pid(n), n
// counting from 1 over the fake's life.
func (g *gatewayFake) record(bulk bool, pid func(n int) string, msgs ...Accepted) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if bulk {
		g.bulk++
	}
	ids := make([]string, len(msgs))
	for i := range msgs {
		g.seq++
		a := msgs[i]
		if a.ProviderMessageID == "" {
			a.ProviderMessageID = pid(g.seq)
		}
		a.Bulk = bulk
		g.accepted = append(g.accepted, &a)
		g.byPID[a.ProviderMessageID] = &a
		if a.MessageID != "" {
			g.byID[a.MessageID] = &a
		}
		ids[i] = a.ProviderMessageID
	}
	if g.notify != nil {
		close(g.notify)
		g.notify = nil
	}
	return ids
}

func retryAfterHeader(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}

func write(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body) //nolint:gosec // a fake provider's own answer, not a page
}

// readForm reads a form-encoded POST body (bounded); "" when the request is
// not one.
func readForm(r *http.Request) (url.Values, string) {
	if r.Method != http.MethodPost {
		return nil, "method must be POST"
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil, "content type must be application/x-www-form-urlencoded"
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return nil, "cannot read body"
	}
	f, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, "body is not form-encoded"
	}
	return f, ""
}

func digitsOf(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Outcome is the delivery outcome a fake's callback helper reports.
type Outcome int

const (
	Delivered Outcome = iota
	Failed
	DND // failed: the number is on the do-not-disturb registry
)

// Callback is a delivery report or inbound message as the provider would
// send it, ready to be posted to our API.
type Callback struct {
	Method      string
	ContentType string
	Query       url.Values // added to the target URL's query
	Body        []byte
	// sign, if set, adds the provider's signature for the final URL.
	sign func(fullURL string, body []byte) http.Header
}

// NewRequest builds the callback request to target, e.g.
// "http://127.0.0.1:8080/api/v1/webhooks/dlr/exotel?token=…".
func (c Callback) NewRequest(ctx context.Context, target string) (*http.Request, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	for k, v := range c.Query {
		q[k] = append(q[k], v...)
	}
	u.RawQuery = q.Encode()
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	r, err := http.NewRequestWithContext(ctx, c.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.ContentType != "" {
		r.Header.Set("Content-Type", c.ContentType)
	}
	if c.sign != nil {
		for k, v := range c.sign(u.String(), c.Body) {
			r.Header[k] = v
		}
	}
	return r, nil
}

func formCallback(v url.Values) Callback {
	return Callback{Method: http.MethodPost, ContentType: "application/x-www-form-urlencoded", Body: []byte(v.Encode())}
}
