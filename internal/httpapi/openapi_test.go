package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/redis/go-redis/v9"

	"github.com/campaignsms/campaignsms/internal/httpapi"
	"github.com/campaignsms/campaignsms/internal/initiate"
	"github.com/campaignsms/campaignsms/internal/metrics"
	"github.com/campaignsms/campaignsms/internal/provider"
	"github.com/campaignsms/campaignsms/internal/providertest"
	"github.com/campaignsms/campaignsms/internal/redistest"
	"github.com/campaignsms/campaignsms/internal/store"
	"github.com/campaignsms/campaignsms/internal/worker"
)

// specRoutes is every route of SPEC §4, as "METHOD path-template".
var specRoutes = []string{
	"POST /api/v1/initiate/{campaignId}/sms",
	"GET /api/v1/initiations",
	"GET /api/v1/initiations/{initiationId}",
	"DELETE /api/v1/initiations/{initiationId}",
	"POST /api/v1/campaigns/create",
	"GET /api/v1/campaigns",
	"GET /api/v1/campaigns/{campaignId}",
	"PUT /api/v1/campaigns/update/{campaignId}",
	"PATCH /api/v1/campaigns/pause/{campaignId}",
	"PATCH /api/v1/campaigns/resume/{campaignId}",
	"DELETE /api/v1/campaigns/{campaignId}",
	"GET /api/v1/campaigns/{campaignId}/customers",
	"POST /api/v1/customers/add",
	"POST /api/v1/customers/add/bulk",
	"PUT /api/v1/customer-data",
	"POST /api/v1/templates",
	"GET /api/v1/templates",
	"GET /api/v1/templates/{templateId}",
	"PUT /api/v1/templates/{templateId}",
	"DELETE /api/v1/templates/{templateId}",
	"GET /api/v1/communication/sms/{messageId}",
	"GET /api/v1/logs",
	"POST /api/v1/webhooks/dlr/{provider}",
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
	"GET /api/v1/openapi.json",
}

// unauthenticated are the routes without the API bearer token.
var unauthenticated = map[string]string{
	"POST /api/v1/webhooks/dlr/{provider}": "dlrBearer",
	"GET /healthz":                         "",
	"GET /readyz":                          "",
	"GET /metrics":                         "",
}

func loadOpenAPI(t *testing.T, raw []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

// The embedded document is valid OpenAPI 3.0.3 and describes exactly the
// routes of SPEC §4, with the API token on all but the callbacks and the
// operational routes.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t, httpapi.OpenAPI())
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	var have []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			have = append(have, key)
			if op.OperationID == "" {
				t.Errorf("%s has no operationId", key)
			}
			sec := doc.Security
			if op.Security != nil {
				sec = *op.Security
			}
			want, open := unauthenticated[key]
			if !open {
				want = "bearerAuth"
			}
			switch {
			case want == "" && len(sec) != 0:
				t.Errorf("%s: security %v, want none", key, sec)
			case want != "" && (len(sec) != 1 || len(sec[0]) != 1 || sec[0][want] == nil):
				t.Errorf("%s: security %v, want %s", key, sec, want)
			}
			for code, r := range op.Responses.Map() {
				if code[0] != '2' && code != "503" && r.Value.Content.Get("application/json") == nil {
					t.Errorf("%s: response %s has no JSON body", key, code)
				}
			}
		}
	}
	sort.Strings(have)
	want := slices.Clone(specRoutes)
	sort.Strings(want)
	if !slices.Equal(have, want) {
		t.Fatalf("the document's operations\n%s\nare not the routes of SPEC §4\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
	for _, name := range []string{"Error", "FieldError", "Pagination", "LogsPagination", "InitiateResponse",
		"InitiationStatus", "Campaign", "CustomerRecord", "Template", "Message"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("no schema %s", name)
		}
	}
}

// oaEnv is a real server (real Redis, metrics, a captured queue) whose every
// request and answer is checked against the served OpenAPI document.
type oaEnv struct {
	t      *testing.T
	url    string
	st     *store.Store
	q      *captured
	prov   provider.Provider
	doc    *openapi3.T
	router routers.Router

	mu  sync.Mutex
	hit map[string]bool // operationId -> answered 2xx
}

func newOAEnv(t *testing.T) *oaEnv {
	t.Helper()
	rdb := redistest.Client(t)
	st := store.New(store.Params{Redis: rdb})
	q := &captured{}
	svc := initiate.New(initiate.Params{Store: st, Queue: q, BatchSize: 10})
	api := httpapi.New(httpapi.Params{
		Store: st, Initiate: svc, Tokens: map[string]string{tokA: "a", tokB: "b"},
		DLRToken: dlrTok, Metrics: metrics.New(),
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	fake := providertest.Start(providertest.Options{})
	t.Cleanup(fake.Close)
	e := &oaEnv{
		t: t, url: srv.URL, st: st, q: q, hit: map[string]bool{},
		prov: provider.NewWebhook(provider.WebhookParams{URL: fake.URL, Timeout: 5 * time.Second}),
	}
	// The document under test is the one the server serves.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %v", res.StatusCode, err)
	}
	if !bytes.Equal(raw, httpapi.OpenAPI()) {
		t.Fatal("the served document is not the embedded one")
	}
	e.doc = loadOpenAPI(t, raw)
	if e.router, err = gorillamux.NewRouter(e.doc); err != nil {
		t.Fatal(err)
	}
	return e
}

// reqCheck is what the document must say about a request.
type reqCheck int

const (
	reqValid   reqCheck = iota // the document accepts it
	reqInvalid                 // the document rejects it (schema, header or missing token)
)

type oaCall struct {
	method, path, token string
	body                any // nil, string/[]byte as is, else JSON
	header              map[string]string
	contentType         string // default application/json with a body
	req                 reqCheck
	status              int
}

// bearerPresent is the document's view of security: a bearer token is given.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); !ok || strings.TrimSpace(tok) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// oaReply is an answer with its headers.
type oaReply struct {
	reply
	header http.Header
}

// do sends c, checks the request against the document as c.req says, the
// status, and the answer (status, headers, body) against the document.
func (e *oaEnv) do(c oaCall) oaReply {
	e.t.Helper()
	var raw []byte
	switch b := c.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	build := func() *http.Request {
		var rd io.Reader
		if c.body != nil {
			rd = bytes.NewReader(raw)
		}
		req, err := http.NewRequest(c.method, e.url+c.path, rd)
		if err != nil {
			e.t.Fatal(err)
		}
		if c.body != nil {
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		return req
	}
	what := c.method + " " + c.path

	vreq := build()
	route, params, err := e.router.FindRoute(vreq)
	if err != nil {
		e.t.Fatalf("%s: not in the document: %v", what, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	verr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case c.req == reqValid && verr != nil:
		e.t.Errorf("%s: the document rejects this valid request: %v", what, verr)
	case c.req == reqInvalid && verr == nil:
		e.t.Errorf("%s: the document accepts this invalid request", what)
	}

	res, err := http.DefaultClient.Do(build())
	if err != nil {
		e.t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode != c.status {
		e.t.Errorf("%s: status %d, want %d: %s", what, res.StatusCode, c.status, body)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		e.t.Errorf("%s: the answer %d does not match the document: %v\n%s", what, res.StatusCode, err, body)
	}
	if res.StatusCode < 300 {
		e.mu.Lock()
		e.hit[route.Operation.OperationID] = true
		e.mu.Unlock()
	}
	r := oaReply{reply: reply{status: res.StatusCode, raw: body}, header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(body) > 0 {
		if err := json.Unmarshal(body, &r.body); err != nil {
			e.t.Errorf("%s: not a JSON object: %s", what, body)
		}
	}
	return r
}

// call is do for the common case.
func (e *oaEnv) call(method, path, token string, body any, req reqCheck, status int) oaReply {
	e.t.Helper()
	return e.do(oaCall{method: method, path: path, token: token, body: body, req: req, status: status})
}

// sendUntil runs the captured batches through the fake provider, as they
// come, until it has run one for customer id; it does not call t.Fatal, so
// it may run in its own goroutine.
func (e *oaEnv) sendUntil(id string, d time.Duration) error {
	h := worker.NewHandler(worker.HandlerParams{Store: e.st, Provider: e.prov, PauseCheck: 50 * time.Millisecond})
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		found := false
		for _, b := range e.q.take() {
			if err := h.ProcessBatch(context.Background(), b); err != nil {
				return fmt.Errorf("batch %d of %s: %w", b.Batch, b.InitiationID, err)
			}
			found = found || slices.Contains(b.IDs, id)
		}
		if found {
			return nil
		}
	}
	return fmt.Errorf("no batch for %s within %v", id, d)
}

// Every route of SPEC §4 answers valid requests, and some invalid ones (400,
// 401, 404 …), as the served OpenAPI document describes.
func TestOpenAPIRoutesMatchDocument(t *testing.T) {
	t.Parallel()
	e := newOAEnv(t)
	const (
		V = reqValid
		X = reqInvalid
	)

	// §4.7 operations.
	e.call("GET", "/healthz", "", nil, V, 200)
	e.call("GET", "/readyz", "", nil, V, 200)
	e.call("GET", "/api/v1/openapi.json", tokA, nil, V, 200)
	e.call("GET", "/api/v1/openapi.json", "", nil, X, 401)

	// §4.5 templates.
	tpl := map[string]any{
		"id": "t", "name": "Reminder", "body": "Hi {{first_name}}, pay {{emi_amount}}",
		"bodies":   map[string]any{"hindi": "Namaste {{first_name}}, {{emi_amount}} bhariye"},
		"senderId": "TMPPAY", "dltTemplateId": "1107160000000000001", "dltEntityId": "1101000000000000001",
		"category": "transactional",
	}
	e.call("POST", "/api/v1/templates", tokA, tpl, V, 201)
	e.call("POST", "/api/v1/templates", tokA, tpl, V, 409)
	gen := e.call("POST", "/api/v1/templates", tokA, map[string]any{"name": "Gen", "body": "Hello {{first_name}}"}, V, 201).data()
	if id, _ := gen["id"].(string); len(id) != 15 {
		t.Errorf("generated template id %q is not 15 characters", id)
	}
	e.call("POST", "/api/v1/templates", tokA, map[string]any{"name": "x", "body": "b", "filter": 1}, X, 400)
	e.call("POST", "/api/v1/templates", tokA, map[string]any{"name": "x"}, X, 400)
	e.call("POST", "/api/v1/templates", tokA, map[string]any{"name": "x", "body": "b", "category": "spam"}, X, 400)
	e.call("POST", "/api/v1/templates", "", tpl, X, 401)
	e.call("POST", "/api/v1/templates", "wrong-token", tpl, V, 401)
	e.do(oaCall{method: "POST", path: "/api/v1/templates", token: tokA, body: "name=x", contentType: "text/plain", req: X, status: 415})
	e.call("GET", "/api/v1/templates?page=1&limit=10", tokA, nil, V, 200)
	e.call("GET", "/api/v1/templates?limit=0", tokA, nil, X, 400)
	e.call("GET", "/api/v1/templates/t", tokA, nil, V, 200)
	e.call("GET", "/api/v1/templates/t", tokB, nil, V, 404)
	e.call("GET", "/api/v1/templates/nope", tokA, nil, V, 404)
	e.call("PUT", "/api/v1/templates/t", tokA, map[string]any{"senderId": "NEWSND"}, V, 200)
	e.call("PUT", "/api/v1/templates/t", tokA, map[string]any{}, X, 400)
	e.call("PUT", "/api/v1/templates/nope", tokA, map[string]any{"name": "n"}, V, 404)
	e.call("DELETE", "/api/v1/templates/"+gen["id"].(string), tokA, nil, V, 200)
	e.call("DELETE", "/api/v1/templates/"+gen["id"].(string), tokA, nil, V, 404)

	// §4.3 campaigns.
	recs := make([]any, 0, 5)
	for _, p := range people(0, 5) {
		recs = append(recs, p)
	}
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{
		"id": "c", "name": "EMI reminders", "description": "June EMIs", "campaignType": "emi",
		"startDate": "2025-06-01", "endDate": "2025-06-30", "startTime": "09:00", "endTime": "18:00",
		"timezone": "Asia/Kolkata", "languages": []string{"english", "hindi"}, "region": "west",
		"tags": []string{"emi"}, "jsonData": recs,
	}, V, 201)
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{
		"id": "c2", "name": "Leads",
		"jsonData": []any{map[string]any{"lead_id": 7, "phone_number": "9876543210"}, map[string]any{"lead_id": "bad", "phone_number": "12"}},
	}, V, 207)
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"id": "c", "name": "again"}, V, 409)
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"name": "x", "campaignType": "sms"}, X, 400)
	e.call("POST", "/api/v1/campaigns/create", tokA, map[string]any{"name": "x", "filter": "typo"}, X, 400)
	e.call("POST", "/api/v1/campaigns/create", tokA, `{"name": `, X, 400)
	e.call("POST", "/api/v1/campaigns/create", "", map[string]any{"name": "x"}, X, 401)
	e.call("GET", "/api/v1/campaigns?page=1&limit=10&status=active&campaign_type=emi&search=emi", tokA, nil, V, 200)
	e.call("GET", "/api/v1/campaigns", tokA, nil, V, 200)
	e.call("GET", "/api/v1/campaigns?status=done", tokA, nil, X, 400)
	e.call("GET", "/api/v1/campaigns", "", nil, X, 401)
	e.call("GET", "/api/v1/campaigns/c", tokA, nil, V, 200)
	e.call("GET", "/api/v1/campaigns/c", tokB, nil, V, 404)
	e.call("GET", "/api/v1/campaigns/nope", tokA, nil, V, 404)
	e.call("PUT", "/api/v1/campaigns/update/c", tokA, map[string]any{"description": "June and July", "tags": []string{"emi", "q2"}}, V, 200)
	e.call("PUT", "/api/v1/campaigns/update/c2", tokA, map[string]any{
		"region": "north", "jsonData": []any{map[string]any{"lead_id": "8"}, map[string]any{"lead_id": "9", "phone_number": "12"}},
	}, V, 207)
	e.call("PUT", "/api/v1/campaigns/update/c", tokA, map[string]any{}, X, 400)
	e.call("PUT", "/api/v1/campaigns/update/c", tokA, map[string]any{"startTime": "9am"}, X, 400)
	e.call("PUT", "/api/v1/campaigns/update/nope", tokA, map[string]any{"name": "n"}, V, 404)

	// §4.4 customers.
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": map[string]any{
		"loan_id": "X1", "phone_number": "9876500001", "first_name": "Asha", "emi_amount": 1500,
		"payment_status": "Bounced", "language": "hindi", "branch": "Pune",
	}}, V, 201)
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": map[string]any{"loan_id": "NP1", "first_name": "No", "emi_amount": 1}}, V, 201)
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": map[string]any{"first_name": "no id"}}, X, 400)
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "c", "data": map[string]any{"loan_id": "X2", "phone_number": "12"}}, V, 400)
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaignId": "nope", "data": map[string]any{"loan_id": "X2"}}, V, 404)
	e.call("POST", "/api/v1/customers/add", tokA, map[string]any{"campaign": "c", "data": map[string]any{"loan_id": "X2"}}, X, 400)
	bulk := make([]any, 0, 3)
	for _, p := range people(100, 3) {
		bulk = append(bulk, p)
	}
	e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "c", "records": bulk}, V, 201)
	e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "c", "records": []any{
		map[string]any{"loan_id": "B1", "phone_number": "9876500002"}, map[string]any{"loan_id": "B2", "phone_number": "123"},
	}}, V, 207)
	e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "c", "records": []any{
		map[string]any{"loan_id": "B3", "phone_number": "123"},
	}}, V, 400)
	e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "c", "records": []any{}}, X, 400)
	tooMany := make([]any, 10001)
	for i := range tooMany {
		tooMany[i] = map[string]any{"loan_id": fmt.Sprintf("M%d", i)}
	}
	e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "c", "records": tooMany}, X, 400)
	e.call("POST", "/api/v1/customers/add/bulk", tokA, map[string]any{"campaignId": "nope", "records": bulk}, V, 404)
	e.call("PUT", "/api/v1/customer-data", tokA, map[string]any{"campaignId": "c", "loan_id": "X1", "data": map[string]any{"first_name": "Asha R", "branch": nil}}, V, 200)
	e.call("PUT", "/api/v1/customer-data", tokA, map[string]any{"campaignId": "c", "loan_id": "nobody", "data": map[string]any{"first_name": "N"}}, V, 404)
	e.call("PUT", "/api/v1/customer-data", tokA, map[string]any{"campaignId": "c", "data": map[string]any{"first_name": "N"}}, X, 400)
	e.call("GET", "/api/v1/campaigns/c/customers?page=1&limit=5", tokA, nil, V, 200)
	e.call("GET", "/api/v1/campaigns/c/customers?page=2&limit=5", tokA, nil, V, 200)
	e.call("GET", "/api/v1/campaigns/nope/customers", tokA, nil, V, 404)
	e.call("GET", "/api/v1/campaigns/c/customers?page=0", tokA, nil, X, 400)

	// §4.1 initiate.
	ini := "/api/v1/initiate/c/sms"
	dry := e.call("POST", ini, tokA, map[string]any{"templateId": "t", "dryRun": true, "filters": map[string]any{"exclude_ids": []string{"NP1", "B1"}}}, V, 200)
	if _, ok := dry.body["initiationId"]; ok {
		t.Errorf("a dry run answered an initiationId: %s", dry.raw)
	}
	first := map[string]any{"templateId": "t", "limit": 100, "filters": map[string]any{
		"payment_status": []string{"bounced", "PENDING"}, "language": []string{"english", "Hindi"},
		"custom": map[string]any{"emi_amount": []any{1000, 1001, 1500}},
	}}
	idem := map[string]string{"Idempotency-Key": "order-1"}
	r := e.do(oaCall{method: "POST", path: ini, token: tokA, body: first, header: idem, status: 200})
	iniID, _ := r.body["initiationId"].(string)
	if iniID == "" {
		t.Fatalf("no initiationId: %s", r.raw)
	}
	rep := e.do(oaCall{method: "POST", path: ini, token: tokA, body: first, header: idem, status: 200})
	if rep.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(bytes.TrimSpace(rep.raw), bytes.TrimSpace(r.raw)) {
		t.Errorf("replay: %v %s", rep.header, rep.raw)
	}
	e.do(oaCall{method: "POST", path: ini, token: tokA, body: map[string]any{"templateId": "t", "limit": 1}, header: idem, status: 422})
	e.do(oaCall{method: "POST", path: ini, token: tokA, body: first, header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, req: X, status: 400})
	partial := e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"ids": []string{"L00000", "NP1"}}}, V, 207)
	none := e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"ids": []string{"NP1"}}}, V, 500)
	for _, x := range []oaReply{partial, none} {
		errs, _ := x.object("results")["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["code"] != "missing_phone" {
			t.Errorf("errors: %s", x.raw)
		}
	}
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"ids": []string{}}}, X, 400)
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"payment_status": "overdue"}}, X, 400)
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"language": ""}}, X, 400)
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"custom": map[string]any{"branch": map[string]any{"a": 1}}}}, X, 400)
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filter": map[string]any{"ids": []string{"X1"}}}, X, 400)
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "limit": 0}, X, 400)
	e.call("POST", ini, tokA, map[string]any{"limit": 5}, X, 400)
	e.call("POST", ini, "", map[string]any{"templateId": "t"}, X, 401)
	e.call("POST", ini, tokA, map[string]any{"templateId": "nope"}, V, 404)
	e.call("POST", "/api/v1/initiate/nope/sms", tokA, map[string]any{"templateId": "t"}, V, 404)
	e.call("POST", "/api/v1/initiate/c/sms", tokB, map[string]any{"templateId": "t"}, V, 404)
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"ids": []string{"nobody"}}}, V, 404)
	big := make([]string, 60000)
	for i := range big {
		big[i] = fmt.Sprintf("LOANID-%012d", i)
	}
	e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"ids": big}}, V, 413)
	e.do(oaCall{method: "POST", path: ini, token: tokA, body: `{"templateId":"t"}`, contentType: "text/plain", req: X, status: 415})
	e.call("PATCH", "/api/v1/campaigns/pause/c2", tokA, nil, V, 200)
	e.call("PATCH", "/api/v1/campaigns/pause/c2", tokA, nil, V, 200)
	e.call("POST", "/api/v1/initiate/c2/sms", tokA, map[string]any{"templateId": "t"}, V, 409)
	e.call("PATCH", "/api/v1/campaigns/resume/c2", tokA, nil, V, 200)
	e.call("PATCH", "/api/v1/campaigns/resume/c2", tokA, nil, V, 200)
	e.call("PATCH", "/api/v1/campaigns/pause/nope", tokA, nil, V, 404)
	e.call("PATCH", "/api/v1/campaigns/resume/nope", tokB, nil, V, 404)
	e.call("PATCH", "/api/v1/campaigns/pause/c2", "", nil, X, 401)

	// Prefer: wait=N — 202 while still running (nothing is sent here) …
	running := e.do(oaCall{method: "POST", path: ini, token: tokA, body: map[string]any{"templateId": "t", "filters": map[string]any{"ids": []string{"L00001"}}},
		header: map[string]string{"Prefer": "wait=1"}, status: 202})
	if running.header.Get("Preference-Applied") != "wait=1" || running.body["state"] != "queued" {
		t.Errorf("Prefer wait=1: %v %s", running.header, running.raw)
	}
	// … and 200 with the status body once a worker has sent everything:
	// a worker sends every batch queued so far, the first initiation's
	// included, while the request waits.
	sent := make(chan error, 1)
	go func() { sent <- e.sendUntil("L00002", 20*time.Second) }()
	w := e.do(oaCall{method: "POST", path: ini, token: tokA, body: map[string]any{"templateId": "t", "filters": map[string]any{"ids": []string{"L00002"}}},
		header: map[string]string{"Prefer": "wait=30"}, status: 200})
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if w.body["state"] != "completed" || w.header.Get("Preference-Applied") != "wait=30" {
		t.Errorf("Prefer wait=30: %v %s", w.header, w.raw)
	}

	// §4.2 initiations.
	e.call("GET", "/api/v1/initiations/"+iniID, tokA, nil, V, 200)
	e.call("GET", "/api/v1/initiations/"+iniID, tokB, nil, V, 404)
	e.call("GET", "/api/v1/initiations/ini_nope", tokA, nil, V, 404)
	e.call("GET", "/api/v1/initiations/"+iniID, "", nil, X, 401)
	e.call("GET", "/api/v1/initiations?campaignId=c&page=1&limit=5", tokA, nil, V, 200)
	e.call("GET", "/api/v1/initiations", tokA, nil, V, 200)
	e.call("GET", "/api/v1/initiations?limit=1000", tokA, nil, X, 400)
	cancelMe := e.call("POST", ini, tokA, map[string]any{"templateId": "t", "filters": map[string]any{"ids": []string{"L00003"}}}, V, 200).body["initiationId"].(string)
	if c := e.call("DELETE", "/api/v1/initiations/"+cancelMe, tokA, nil, V, 200); c.body["state"] != "cancelled" {
		t.Errorf("cancel: %s", c.raw)
	}
	e.call("DELETE", "/api/v1/initiations/"+iniID, tokA, nil, V, 200) // finished: unchanged
	e.call("DELETE", "/api/v1/initiations/ini_nope", tokA, nil, V, 404)

	// §4.6 messages and delivery reports.
	msg := store.MessageID(iniID, 0)
	m := e.call("GET", "/api/v1/communication/sms/"+msg, tokA, nil, V, 200).data()
	if m["status"] != "sent" {
		t.Errorf("message after the send: %v", m)
	}
	e.call("GET", "/api/v1/communication/sms/"+msg, tokB, nil, V, 404)
	e.call("GET", "/api/v1/communication/sms/msg_nope_0", tokA, nil, V, 404)
	dlr := "/api/v1/webhooks/dlr/webhook"
	e.call("POST", dlr, dlrTok, map[string]any{"messageId": msg, "status": "delivered"}, V, 200)
	e.call("POST", dlr, dlrTok, map[string]any{"messageId": msg, "status": "delivered"}, V, 200)
	e.call("POST", dlr, dlrTok, map[string]any{"messageId": store.MessageID(iniID, 1), "status": "failed", "error": "DND"}, V, 200)
	e.call("POST", dlr, dlrTok, map[string]any{"messageId": "msg_nope_0", "status": "delivered"}, V, 404)
	e.call("POST", dlr, dlrTok, map[string]any{"messageId": msg, "status": "read"}, X, 400)
	e.call("POST", dlr, dlrTok, map[string]any{"messageId": msg, "status": "delivered", "extra": 1}, X, 400)
	e.call("POST", dlr, tokA, map[string]any{"messageId": msg, "status": "delivered"}, V, 401)
	e.call("POST", dlr, "", map[string]any{"messageId": msg, "status": "delivered"}, X, 401)
	e.call("POST", "/api/v1/webhooks/dlr/nope", dlrTok, map[string]any{"messageId": msg, "status": "delivered"}, V, 404)
	if m := e.call("GET", "/api/v1/communication/sms/"+msg, tokA, nil, V, 200).data(); m["status"] != "delivered" || m["delivered_at"] == nil {
		t.Errorf("message after its delivery report: %v", m)
	}
	e.call("GET", "/api/v1/logs?type=sms&campaign_id=c&initiation_id="+iniID+"&status=sent,delivered,failed&phone=9800000000&page=1&per_page=5", tokA, nil, V, 200)
	e.call("GET", "/api/v1/logs", tokA, nil, V, 200)
	e.call("GET", "/api/v1/logs?per_page=0", tokA, nil, X, 400)
	e.call("GET", "/api/v1/logs?type=email", tokA, nil, X, 400)
	e.call("GET", "/api/v1/logs?status=lost", tokA, nil, V, 400)
	e.call("GET", "/api/v1/logs", "", nil, X, 401)

	// Deleting a campaign; its initiations stay readable.
	e.call("DELETE", "/api/v1/campaigns/c", tokB, nil, V, 404)
	e.call("DELETE", "/api/v1/campaigns/c", tokA, nil, V, 200)
	e.call("DELETE", "/api/v1/campaigns/c", tokA, nil, V, 404)
	e.call("GET", "/api/v1/initiations/"+iniID, tokA, nil, V, 200)
	e.call("GET", "/api/v1/communication/sms/"+msg, tokA, nil, V, 200)

	// Metrics last, so that it has seen the requests above.
	met := e.call("GET", "/metrics", "", nil, V, 200)
	if !bytes.Contains(met.raw, []byte("campaignsms_http_requests_total")) {
		t.Errorf("metrics without HTTP requests:\n%.500s", met.raw)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	for path, item := range e.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !e.hit[op.OperationID] {
				t.Errorf("%s %s (%s) was never answered with a 2xx", method, path, op.OperationID)
			}
		}
	}
}

// errorCheck sends a request outside the documented operations and checks
// that the answer is the Error schema of the document, with status and kind.
func (e *oaEnv) errorCheck(method, path, token string, status int, kind string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var body any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if err := e.doc.Components.Schemas["Error"].Value.VisitJSON(body); err != nil {
		e.t.Errorf("%s %s: not the Error schema: %v", method, path, err)
	}
	if m, _ := body.(map[string]any); res.StatusCode != status || m["error"] != kind {
		e.t.Errorf("%s %s: %d %v, want %d %s", method, path, res.StatusCode, body, status, kind)
	}
}

// Outside the documented routes an unknown route answers the error body of
// SPEC §3; with Redis gone /readyz is a 503 and a route that needs Redis a
// 500, both as documented.
func TestOpenAPIErrorsOutsideTheHappyPath(t *testing.T) {
	t.Parallel()
	e := newOAEnv(t)
	e.errorCheck("GET", "/api/v1/no-such-route", tokA, 404, "NotFound")
	e.errorCheck("GET", "/api/v1/no-such-route", "", 401, "Unauthorized")
	e.errorCheck("POST", "/healthz", "", 405, "MethodNotAllowed")

	// A server whose Redis does not answer.
	dead := store.New(store.Params{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})})
	svc := initiate.New(initiate.Params{Store: dead, Queue: &captured{}, BatchSize: 10})
	srv := httptest.NewServer(httpapi.New(httpapi.Params{Store: dead, Initiate: svc, Tokens: map[string]string{tokA: "a"}}).Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.call("GET", "/readyz", "", nil, reqValid, 503)
	e.call("POST", "/api/v1/initiate/c/sms", tokA, map[string]any{"templateId": "t"}, reqValid, 500)
	e.call("GET", "/api/v1/campaigns", tokA, nil, reqValid, 500)
}

// SPEC §3: a known /api/v1 route called with a method it does not have is a
// 405 MethodNotAllowed (after the token check), as /healthz already is.
func TestOpenAPIWrongMethodIs405(t *testing.T) {
	t.Parallel()
	e := newOAEnv(t)
	e.errorCheck("PATCH", "/api/v1/templates", "", 401, "Unauthorized")
	e.errorCheck("PATCH", "/api/v1/templates", tokA, 405, "MethodNotAllowed")
	e.errorCheck("POST", "/api/v1/campaigns", tokA, 405, "MethodNotAllowed")
	e.errorCheck("DELETE", "/api/v1/logs", tokA, 405, "MethodNotAllowed")
}
