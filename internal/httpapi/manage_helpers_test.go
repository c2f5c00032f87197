package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/httpapi"
	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/queue"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// Tokens of the test server: org "a" and org "b", and the DLR secret.
const (
	tokA   = "token-of-a"
	tokB   = "token-of-b"
	dlrTok = "dlr-secret"
)

// captured is the Enqueuer fake: it keeps batches so tests run them by hand.
type captured struct {
	mu      sync.Mutex
	batches []queue.Batch
}

func (c *captured) Enqueue(_ context.Context, b []queue.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b...)
	return nil
}

// take returns the batches queued since the last take.
func (c *captured) take() []queue.Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.batches
	c.batches = nil
	return out
}

type apiEnv struct {
	t    *testing.T
	rdb  *redis.Client
	st   *store.Store
	url  string
	q    *captured
	fake *providertest.Server
	prov provider.Provider
}

type envOpts struct {
	queue     initiate.Enqueuer // default: a captured queue
	batchSize int               // default 10
	dlrToken  *string           // default dlrTok
}

// newAPI serves the API of orgs "a" and "b" on a real Redis database of its
// own, with a fake SMS provider for the batches tests run.
func newAPI(t *testing.T, o envOpts) *apiEnv {
	t.Helper()
	e := &apiEnv{t: t, rdb: redistest.Client(t), q: &captured{}}
	e.st = store.New(store.Params{Redis: e.rdb})
	if o.queue == nil {
		o.queue = e.q
	}
	if o.batchSize == 0 {
		o.batchSize = 10
	}
	dlr := dlrTok
	if o.dlrToken != nil {
		dlr = *o.dlrToken
	}
	svc := initiate.New(initiate.Params{Store: e.st, Queue: o.queue, BatchSize: o.batchSize})
	api := httpapi.New(httpapi.Params{Store: e.st, Initiate: svc, Tokens: map[string]string{tokA: "a", tokB: "b"}, DLRToken: dlr})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.fake = providertest.Start(providertest.Options{})
	t.Cleanup(e.fake.Close)
	e.prov = provider.NewWebhook(provider.WebhookParams{URL: e.fake.URL, Timeout: 5 * time.Second})
	return e
}

// handler is a worker handler that sends through the fake provider.
func (e *apiEnv) handler(p worker.HandlerParams) *worker.Handler {
	p.Store = e.st
	if p.Provider == nil {
		p.Provider = e.prov
	}
	if p.PauseCheck == 0 {
		p.PauseCheck = 50 * time.Millisecond
	}
	return worker.NewHandler(p)
}

// sendAll runs every captured batch to the end.
func (e *apiEnv) sendAll() {
	e.t.Helper()
	h := e.handler(worker.HandlerParams{})
	for _, b := range e.q.take() {
		if err := h.ProcessBatch(context.Background(), b); err != nil {
			e.t.Fatalf("batch %d: %v", b.Batch, err)
		}
	}
}

type reply struct {
	status int
	raw    []byte
	body   map[string]any
}

// call sends a request; body is nil (none), a string (sent as is) or any
// value (sent as JSON).
func (e *apiEnv) call(method, path, token string, body any) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := reply{status: res.StatusCode, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
		}
	}
	return r
}

// must fails the test unless the answer has status want.
func (r reply) must(t *testing.T, want int) reply {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.raw)
	}
	return r
}

// fails checks a SPEC §3 error answer: status, kind and, when fields are
// given, that the details name each of them.
func (r reply) fails(t *testing.T, status int, kind string, fields ...string) {
	t.Helper()
	r.must(t, status)
	if r.body["success"] != false || r.body["error"] != kind || r.body["message"] == "" {
		t.Fatalf("error body %s, want kind %s", r.raw, kind)
	}
	have := map[string]bool{}
	details, _ := r.body["details"].([]any)
	for _, d := range details {
		have[d.(map[string]any)["field"].(string)] = true
	}
	for _, f := range fields {
		if !have[f] {
			t.Fatalf("details do not name %q: %s", f, r.raw)
		}
	}
}

func (r reply) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (r reply) list() []map[string]any {
	raw, _ := r.body["data"].([]any)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i] = v.(map[string]any)
	}
	return out
}

func (r reply) object(key string) map[string]any {
	o, _ := r.body[key].(map[string]any)
	return o
}

// num reads a JSON number of m as an int.
func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

// people returns n customer records L<from>.. with distinct phone numbers
// and every field the test template uses.
func people(from, n int) []map[string]any {
	statuses := []string{"bounced", "pending", "paid"}
	out := make([]map[string]any, n)
	for i := range out {
		k := from + i
		out[i] = map[string]any{
			"loan_id": fmt.Sprintf("L%05d", k), "phone_number": fmt.Sprintf("98%08d", k),
			"first_name": fmt.Sprintf("N%d", k), "emi_amount": 1000 + k,
			"payment_status": statuses[k%len(statuses)], "language": []string{"english", "hindi"}[k%2],
		}
	}
	return out
}

// seed creates campaign id of the token's org with n customers and template
// "t" ("Hi {{first_name}}, pay {{emi_amount}}").
func (e *apiEnv) seed(token, id string, n int) {
	e.t.Helper()
	e.call("POST", "/api/v1/campaigns/create", token, map[string]any{"id": id, "name": "Campaign " + id, "jsonData": people(0, n)}).must(e.t, 201)
	r := e.call("POST", "/api/v1/templates", token, map[string]any{"id": "t", "name": "T", "body": "Hi {{first_name}}, pay {{emi_amount}}", "senderId": "TMPPAY"})
	if r.status != 201 && r.status != 409 { // a second seed of the org reuses "t"
		e.t.Fatalf("template: %d %s", r.status, r.raw)
	}
}

// initiate starts an SMS initiation and returns its id.
func (e *apiEnv) initiate(token, campaign string, body map[string]any) string {
	e.t.Helper()
	if body == nil {
		body = map[string]any{"templateId": "t"}
	}
	r := e.call("POST", "/api/v1/initiate/"+campaign+"/sms", token, body).must(e.t, 200)
	return r.body["initiationId"].(string)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
